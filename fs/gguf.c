/* gguf.c — parse the header of a GGUF v2/v3 file (llama.cpp's model container).
 *
 *   u32 magic "GGUF"  u32 version (2|3)  u64 n_tensors  u64 n_kv
 *   n_kv   x { string key, u32 value type, value }
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset }
 *   padding to general.alignment (u32, default 32, a power of two)
 *   data section: tensor i at data_start + offset_i (offset_i a multiple of the alignment)
 * A string is u64 length + bytes (no NUL). An array value is u32 element type, u64 count,
 * then the elements. Everything is little-endian; integers are assembled byte by byte.
 *
 * Nothing is allocated from an unchecked count: counts and lengths are first compared
 * against the bytes left in the file (each element has a minimum encoded size), and the
 * KV and tensor arrays grow as entries are actually parsed. */
#include "gguf.h"
#include "json_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GG_MAGIC 0x46554747u           /* "GGUF" read as a little-endian u32 */
#define GG_MAX_NAME 1024               /* longest key / tensor name accepted */
#define GG_MAX_STR (256u << 20)        /* longest string value kept in memory */
#define GG_MAX_ARRAY_DEPTH 4           /* arrays of arrays of ... */
#define GG_DEFAULT_ALIGN 32
#define GG_BUF 65536

/* ------------------------------------------------------------ ggml types --- */

/* Elements per block and bytes per block of every ggml type id (0 = unknown/removed). */
static const struct { const char *name; uint32_t blck; uint32_t size; } gg_types[] = {
    [0] = { "F32", 1, 4 },        [1] = { "F16", 1, 2 },
    [2] = { "Q4_0", 32, 18 },     [3] = { "Q4_1", 32, 20 },
    [6] = { "Q5_0", 32, 22 },     [7] = { "Q5_1", 32, 24 },
    [8] = { "Q8_0", 32, 34 },     [9] = { "Q8_1", 32, 36 },
    [10] = { "Q2_K", 256, 84 },   [11] = { "Q3_K", 256, 110 },
    [12] = { "Q4_K", 256, 144 },  [13] = { "Q5_K", 256, 176 },
    [14] = { "Q6_K", 256, 210 },  [15] = { "Q8_K", 256, 292 },
    [16] = { "IQ2_XXS", 256, 66 }, [17] = { "IQ2_XS", 256, 74 },
    [18] = { "IQ3_XXS", 256, 98 }, [19] = { "IQ1_S", 256, 50 },
    [20] = { "IQ4_NL", 32, 18 },  [21] = { "IQ3_S", 256, 110 },
    [22] = { "IQ2_S", 256, 82 },  [23] = { "IQ4_XS", 256, 136 },
    [24] = { "I8", 1, 1 },        [25] = { "I16", 1, 2 },
    [26] = { "I32", 1, 4 },       [27] = { "I64", 1, 8 },
    [28] = { "F64", 1, 8 },       [29] = { "IQ1_M", 256, 56 },
    [30] = { "BF16", 1, 2 },      [34] = { "TQ1_0", 256, 54 },
    [35] = { "TQ2_0", 256, 66 },  [39] = { "MXFP4", 32, 17 },
};
#define GG_N_TYPES (sizeof gg_types / sizeof *gg_types)

const char *gg_type_name(uint32_t type)
{
    return (type < GG_N_TYPES && gg_types[type].name) ? gg_types[type].name : "UNKNOWN";
}

uint64_t gg_type_nbytes(uint32_t type, uint64_t n, int *ok)
{
    *ok = 0;
    if (type >= GG_N_TYPES || !gg_types[type].name)
        return 0;
    if (n % gg_types[type].blck)
        return 0;
    uint64_t r;
    if (fu_mul_u64(n / gg_types[type].blck, gg_types[type].size, &r))
        return 0;
    *ok = 1;
    return r;
}

/* Encoded size of a scalar KV type, 0 for string/array/unknown. */
static uint32_t kv_scalar_size(uint32_t t)
{
    switch (t) {
    case GG_T_UINT8: case GG_T_INT8: case GG_T_BOOL: return 1;
    case GG_T_UINT16: case GG_T_INT16: return 2;
    case GG_T_UINT32: case GG_T_INT32: case GG_T_FLOAT32: return 4;
    case GG_T_UINT64: case GG_T_INT64: case GG_T_FLOAT64: return 8;
    default: return 0;
    }
}

/* ---------------------------------------------------------- the cursor --- */

/* A buffered forward reader over rd with a bounds check against the file size. */
typedef struct {
    fu_read_fn rd;
    void *ctx;
    uint64_t size, pos;
    uint64_t buf_off;
    size_t buf_len;
    unsigned char *buf;
    char *err;
    size_t errlen;
} cur_t;

static int cur_need(cur_t *c, uint64_t n, const char *what)
{
    if (n > c->size - c->pos)
        return fu_err(c->err, c->errlen, -EINVAL, "truncated: %s at offset %llu needs %llu bytes, file has %llu",
                      what, (unsigned long long)c->pos, (unsigned long long)n,
                      (unsigned long long)(c->size - c->pos));
    return 0;
}

static int cur_read(cur_t *c, void *dst, size_t n, const char *what)
{
    int rc = cur_need(c, n, what);
    if (rc)
        return rc;
    if (c->pos >= c->buf_off && c->pos - c->buf_off <= c->buf_len && n <= c->buf_len - (c->pos - c->buf_off)) {
        memcpy(dst, c->buf + (c->pos - c->buf_off), n);
    } else if (n > GG_BUF) {
        rc = c->rd(c->ctx, dst, n, c->pos);
        if (rc)
            return fu_err(c->err, c->errlen, rc, "read error at offset %llu (%s)",
                          (unsigned long long)c->pos, what);
    } else {
        uint64_t left = c->size - c->pos;
        size_t want = left < GG_BUF ? (size_t)left : GG_BUF;
        rc = c->rd(c->ctx, c->buf, want, c->pos);
        if (rc) {
            c->buf_len = 0;
            return fu_err(c->err, c->errlen, rc, "read error at offset %llu (%s)",
                          (unsigned long long)c->pos, what);
        }
        c->buf_off = c->pos;
        c->buf_len = want;
        memcpy(dst, c->buf, n);
    }
    c->pos += n;
    return 0;
}

static int cur_skip(cur_t *c, uint64_t n, const char *what)
{
    int rc = cur_need(c, n, what);
    if (!rc)
        c->pos += n;
    return rc;
}

static uint64_t le(const unsigned char *b, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | b[i];
    return v;
}

static int cur_u32(cur_t *c, uint32_t *v, const char *what)
{
    unsigned char b[4];
    int rc = cur_read(c, b, 4, what);
    if (!rc)
        *v = (uint32_t)le(b, 4);
    return rc;
}

static int cur_u64(cur_t *c, uint64_t *v, const char *what)
{
    unsigned char b[8];
    int rc = cur_read(c, b, 8, what);
    if (!rc)
        *v = le(b, 8);
    return rc;
}

/* A string into a malloc'd NUL-terminated buffer. strict: a name (max GG_MAX_NAME,
 * non-empty, valid UTF-8 without NUL); else a value (max GG_MAX_STR, bytes as stored). */
static int cur_str(cur_t *c, char **out, int strict, const char *what)
{
    *out = NULL;
    uint64_t at = c->pos, len;
    int rc = cur_u64(c, &len, what);
    if (rc)
        return rc;
    uint64_t max = strict ? GG_MAX_NAME : GG_MAX_STR;
    if (len > c->size - c->pos)
        return fu_err(c->err, c->errlen, -EINVAL, "%s: string length %llu at offset %llu exceeds the file",
                      what, (unsigned long long)len, (unsigned long long)at);
    if (len > max || (strict && len == 0))
        return fu_err(c->err, c->errlen, -EINVAL, "%s: string length %llu at offset %llu is out of range",
                      what, (unsigned long long)len, (unsigned long long)at);
    char *s = malloc((size_t)len + 1);
    if (!s)
        return fu_err(c->err, c->errlen, -ENOMEM, "out of memory");
    rc = cur_read(c, s, (size_t)len, what);
    if (rc) {
        free(s);
        return rc;
    }
    s[len] = '\0';
    if (strict && !js_utf8_valid(s, (size_t)len)) {
        free(s);
        return fu_err(c->err, c->errlen, -EINVAL, "%s at offset %llu is not valid UTF-8", what,
                      (unsigned long long)at);
    }
    *out = s;
    return 0;
}

/* ------------------------------------------------------------ KV values --- */

/* Skip the elements of an array value (type t, n elements) after checking that
 * n elements of at least their minimum encoded size fit in the rest of the file. */
static int skip_array(cur_t *c, uint32_t t, uint64_t n, int depth, const char *key)
{
    uint64_t at = c->pos;
    uint64_t min = t == GG_T_STRING ? 8 : t == GG_T_ARRAY ? 12 : kv_scalar_size(t);
    if (min == 0)
        return fu_err(c->err, c->errlen, -EINVAL, "key '%s': unknown array element type %u at offset %llu",
                      key, t, (unsigned long long)at);
    uint64_t bytes;
    if (fu_mul_u64(n, min, &bytes) || bytes > c->size - c->pos)
        return fu_err(c->err, c->errlen, -EINVAL,
                      "key '%s': array of %llu elements at offset %llu exceeds the file", key,
                      (unsigned long long)n, (unsigned long long)at);
    if (t != GG_T_STRING && t != GG_T_ARRAY)
        return cur_skip(c, bytes, key);
    for (uint64_t i = 0; i < n; i++) {
        int rc;
        if (t == GG_T_STRING) {
            uint64_t len;
            rc = cur_u64(c, &len, key);
            if (!rc)
                rc = cur_skip(c, len, key);
        } else {
            if (depth >= GG_MAX_ARRAY_DEPTH)
                return fu_err(c->err, c->errlen, -EINVAL, "key '%s': arrays nested deeper than %d at offset %llu",
                              key, GG_MAX_ARRAY_DEPTH, (unsigned long long)c->pos);
            uint32_t et;
            uint64_t en;
            rc = cur_u32(c, &et, key);
            if (!rc)
                rc = cur_u64(c, &en, key);
            if (!rc)
                rc = skip_array(c, et, en, depth + 1, key);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int read_kv(cur_t *c, gg_kv_t *kv)
{
    int rc = cur_str(c, &kv->key, 1, "KV key");
    if (rc)
        return rc;
    uint64_t at = c->pos;
    rc = cur_u32(c, &kv->type, kv->key);
    if (rc)
        return rc;
    kv->value_offset = c->pos;
    if (kv->type == GG_T_STRING)
        return cur_str(c, &kv->str, 0, kv->key);
    if (kv->type == GG_T_ARRAY) {
        rc = cur_u32(c, &kv->arr_type, kv->key);
        if (!rc)
            rc = cur_u64(c, &kv->arr_len, kv->key);
        kv->value_offset = c->pos;
        if (!rc)
            rc = skip_array(c, kv->arr_type, kv->arr_len, 1, kv->key);
        return rc;
    }
    uint32_t sz = kv_scalar_size(kv->type);
    if (sz == 0)
        return fu_err(c->err, c->errlen, -EINVAL, "key '%s': unknown value type %u at offset %llu", kv->key,
                      kv->type, (unsigned long long)at);
    unsigned char b[8];
    rc = cur_read(c, b, sz, kv->key);
    if (rc)
        return rc;
    uint64_t u = le(b, (int)sz);
    switch (kv->type) {
    case GG_T_INT8: kv->num.i = (int8_t)u; break;
    case GG_T_INT16: kv->num.i = (int16_t)u; break;
    case GG_T_INT32: kv->num.i = (int32_t)u; break;
    case GG_T_INT64: memcpy(&kv->num.i, &u, 8); break;
    case GG_T_FLOAT32: { uint32_t w = (uint32_t)u; float f; memcpy(&f, &w, 4); kv->num.f = f; break; }
    case GG_T_FLOAT64: memcpy(&kv->num.f, &u, 8); break;
    default: kv->num.u = u; break;
    }
    return 0;
}

/* ---------------------------------------------------------- tensor infos --- */

static int read_tensor_info(cur_t *c, gg_tensor_t *t)
{
    int rc = cur_str(c, &t->name, 1, "tensor name");
    if (rc)
        return rc;
    uint64_t at = c->pos;
    rc = cur_u32(c, &t->n_dims, t->name);
    if (rc)
        return rc;
    if (t->n_dims > GG_MAX_DIMS)
        return fu_err(c->err, c->errlen, -EINVAL, "tensor '%s': %u dims at offset %llu (max %d)", t->name,
                      t->n_dims, (unsigned long long)at, GG_MAX_DIMS);
    uint64_t elems = 1;
    for (uint32_t d = 0; d < GG_MAX_DIMS; d++)
        t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        at = c->pos;
        rc = cur_u64(c, &t->ne[d], t->name);
        if (rc)
            return rc;
        if (t->ne[d] > (uint64_t)INT64_MAX || fu_mul_u64(elems, t->ne[d], &elems) || elems > (uint64_t)INT64_MAX)
            return fu_err(c->err, c->errlen, -EINVAL, "tensor '%s': dimension ne[%u] at offset %llu overflows",
                          t->name, d, (unsigned long long)at);
    }
    at = c->pos;
    rc = cur_u32(c, &t->type, t->name);
    if (rc)
        return rc;
    if (t->type >= GG_N_TYPES || !gg_types[t->type].name)
        return fu_err(c->err, c->errlen, -EINVAL, "tensor '%s': unknown ggml type %u at offset %llu", t->name,
                      t->type, (unsigned long long)at);
    if (t->ne[0] % gg_types[t->type].blck)
        return fu_err(c->err, c->errlen, -EINVAL, "tensor '%s': row of %llu elements is not a whole number "
                      "of %s blocks (%u)", t->name, (unsigned long long)t->ne[0], gg_type_name(t->type),
                      gg_types[t->type].blck);
    int ok;
    t->length = gg_type_nbytes(t->type, elems, &ok);
    if (!ok)
        return fu_err(c->err, c->errlen, -EINVAL, "tensor '%s': byte size overflows", t->name);
    return cur_u64(c, &t->offset, t->name); /* relative for now */
}

/* ---------------------------------------------------------- whole file --- */

void gg_free(gg_file_t *f)
{
    if (!f)
        return;
    if (f->kv)
        for (uint64_t i = 0; i < f->n_kv; i++) {
            free(f->kv[i].key);
            free(f->kv[i].str);
        }
    if (f->tensors)
        for (uint64_t i = 0; i < f->n_tensors; i++)
            free(f->tensors[i].name);
    free(f->kv);
    free(f->tensors);
    memset(f, 0, sizeof *f);
}

const gg_kv_t *gg_find_kv(const gg_file_t *f, const char *key)
{
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (strcmp(f->kv[i].key, key) == 0)
            return &f->kv[i];
    return NULL;
}

/* Grow *arr (elements of size es) so that index i fits; doubles the capacity. */
static int grow(void **arr, uint64_t *cap, uint64_t i, size_t es)
{
    if (i < *cap)
        return 0;
    uint64_t nc = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, (size_t)nc * es);
    if (!p)
        return -ENOMEM;
    memset((char *)p + (size_t)*cap * es, 0, (size_t)(nc - *cap) * es);
    *arr = p;
    *cap = nc;
    return 0;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Reject duplicate names among n strings (keys or tensor names). */
static int check_unique(const char **names, uint64_t n, const char *what, char *err, size_t errlen)
{
    if (n < 2)
        return 0;
    qsort(names, (size_t)n, sizeof *names, cmp_str_ptr);
    for (uint64_t i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            return fu_err(err, errlen, -EINVAL, "duplicate %s '%s'", what, names[i]);
    return 0;
}

static int cmp_tensor_ptr(const void *a, const void *b)
{
    const gg_tensor_t *x = *(const gg_tensor_t *const *)a, *y = *(const gg_tensor_t *const *)b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return x->length < y->length ? -1 : x->length > y->length;
}

/* Alignment, absolute offsets, bounds, overlaps and unique names. */
static int finish_layout(gg_file_t *f, uint64_t header_end, char *err, size_t errlen)
{
    f->alignment = GG_DEFAULT_ALIGN;
    const gg_kv_t *al = gg_find_kv(f, "general.alignment");
    if (al) {
        if (al->type != GG_T_UINT32 || al->num.u == 0 || (al->num.u & (al->num.u - 1)))
            return fu_err(err, errlen, -EINVAL, "general.alignment at offset %llu must be a u32 power of two",
                          (unsigned long long)al->value_offset);
        f->alignment = (uint32_t)al->num.u;
    }
    /* data_start = header_end rounded up to the alignment */
    uint64_t pad = (f->alignment - header_end % f->alignment) % f->alignment;
    if (fu_add_u64(header_end, pad, &f->data_start))
        return fu_err(err, errlen, -EINVAL, "data section start overflows");
    /* Writers pad after the tensor infos even when there are no tensors. */
    if (f->data_start > f->file_size)
        return fu_err(err, errlen, -EINVAL, "data section at offset %llu is past the end of the file (%llu)",
                      (unsigned long long)f->data_start, (unsigned long long)f->file_size);
    if (f->n_tensors == 0)
        return 0;
    const void **tmp = malloc((size_t)f->n_tensors * sizeof *tmp);
    if (!tmp)
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    int rc = 0;
    for (uint64_t i = 0; i < f->n_tensors && !rc; i++) {
        gg_tensor_t *t = &f->tensors[i];
        uint64_t end;
        if (t->offset % f->alignment)
            rc = fu_err(err, errlen, -EINVAL, "tensor '%s': offset %llu is not a multiple of the alignment %u",
                        t->name, (unsigned long long)t->offset, f->alignment);
        else if (fu_add_u64(f->data_start, t->offset, &t->offset) || fu_add_u64(t->offset, t->length, &end) ||
                 end > f->file_size)
            rc = fu_err(err, errlen, -EINVAL, "tensor '%s': data of %llu bytes at data offset %llu is past the "
                        "end of the file (%llu)", t->name, (unsigned long long)t->length,
                        (unsigned long long)(t->offset - f->data_start), (unsigned long long)f->file_size);
        tmp[i] = t;
    }
    if (!rc) {
        qsort(tmp, (size_t)f->n_tensors, sizeof *tmp, cmp_tensor_ptr);
        for (uint64_t i = 1; i < f->n_tensors && !rc; i++) {
            const gg_tensor_t *p = tmp[i - 1], *t = tmp[i];
            if (t->offset < p->offset + p->length)
                rc = fu_err(err, errlen, -EINVAL, "tensors '%s' and '%s' overlap at file offset %llu", p->name,
                            t->name, (unsigned long long)t->offset);
        }
    }
    if (!rc) {
        for (uint64_t i = 0; i < f->n_tensors; i++)
            tmp[i] = f->tensors[i].name;
        rc = check_unique((const char **)tmp, f->n_tensors, "tensor name", err, errlen);
    }
    free(tmp);
    return rc;
}

static int parse_body(cur_t *c, gg_file_t *f, uint64_t n_kv, uint64_t n_tensors)
{
    uint64_t cap = 0;
    for (uint64_t i = 0; i < n_kv; i++) {
        if (grow((void **)&f->kv, &cap, i, sizeof *f->kv))
            return fu_err(c->err, c->errlen, -ENOMEM, "out of memory");
        f->n_kv = i + 1;
        int rc = read_kv(c, &f->kv[i]);
        if (rc)
            return rc;
    }
    if (f->n_kv) {
        const char **keys = malloc((size_t)f->n_kv * sizeof *keys);
        if (!keys)
            return fu_err(c->err, c->errlen, -ENOMEM, "out of memory");
        for (uint64_t i = 0; i < f->n_kv; i++)
            keys[i] = f->kv[i].key;
        int rc = check_unique(keys, f->n_kv, "KV key", c->err, c->errlen);
        free(keys);
        if (rc)
            return rc;
    }
    cap = 0;
    for (uint64_t i = 0; i < n_tensors; i++) {
        if (grow((void **)&f->tensors, &cap, i, sizeof *f->tensors))
            return fu_err(c->err, c->errlen, -ENOMEM, "out of memory");
        f->n_tensors = i + 1;
        int rc = read_tensor_info(c, &f->tensors[i]);
        if (rc)
            return rc;
    }
    return finish_layout(f, c->pos, c->err, c->errlen);
}

int gg_parse(fu_read_fn rd, void *ctx, uint64_t file_size, gg_file_t *out, char *err, size_t errlen)
{
    gg_file_t f;
    memset(&f, 0, sizeof f);
    memset(out, 0, sizeof *out);
    f.file_size = file_size;
    cur_t c = { .rd = rd, .ctx = ctx, .size = file_size, .err = err, .errlen = errlen };
    c.buf = malloc(GG_BUF);
    if (!c.buf)
        return fu_err(err, errlen, -ENOMEM, "out of memory");

    uint32_t magic = 0;
    uint64_t n_tensors = 0, n_kv = 0;
    int rc = cur_u32(&c, &magic, "magic");
    if (!rc && magic != GG_MAGIC)
        rc = fu_err(err, errlen, -EINVAL, "bad magic at offset 0 (not a GGUF file)");
    if (!rc)
        rc = cur_u32(&c, &f.version, "version");
    if (!rc && (f.version & 0xFFFF) == 0 && f.version != 0)
        rc = fu_err(err, errlen, -EINVAL, "version at offset 4 looks byte-swapped: big-endian GGUF is not supported");
    else if (!rc && f.version != 2 && f.version != 3)
        rc = fu_err(err, errlen, -EINVAL, "unsupported GGUF version %u at offset 4 (need 2 or 3)", f.version);
    if (!rc)
        rc = cur_u64(&c, &n_tensors, "tensor count");
    if (!rc)
        rc = cur_u64(&c, &n_kv, "KV count");
    /* Minimum encoded sizes: a KV is a key length (8), a type (4) and a 1-byte value;
     * a tensor info is a name length (8), n_dims (4), a type (4) and an offset (8). */
    if (!rc && n_kv > (file_size - c.pos) / 13)
        rc = fu_err(err, errlen, -EINVAL, "KV count %llu at offset 16 exceeds what the file can hold",
                    (unsigned long long)n_kv);
    if (!rc && n_tensors > (file_size - c.pos) / 24)
        rc = fu_err(err, errlen, -EINVAL, "tensor count %llu at offset 8 exceeds what the file can hold",
                    (unsigned long long)n_tensors);
    if (!rc)
        rc = parse_body(&c, &f, n_kv, n_tensors);
    free(c.buf);
    if (rc) {
        gg_free(&f);
        return rc;
    }
    *out = f;
    return 0;
}

int gg_parse_path(const char *path, gg_file_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int fd;
    uint64_t size;
    int rc = fu_open_sized(path, &fd, &size, err, errlen);
    if (rc < 0)
        return rc;
    rc = gg_parse(fu_fd_read, (void *)(intptr_t)fd, size, out, err, errlen);
    close(fd);
    return rc;
}
