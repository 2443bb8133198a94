/* safetensors.c — parse the header of a safetensors file and check it against the file.
 *
 *   offset 0      u64 LE  N = header length
 *   offset 8      N bytes JSON (UTF-8), may be padded with spaces
 *   offset 8 + N  data section; tensor t occupies [8+N+begin, 8+N+end)
 *
 * Checks, each with an error naming the field or file offset:
 *   N <= ST_MAX_HEADER (-EFBIG), 8 + N <= file size, valid UTF-8, nesting depth,
 *   every tensor has a known dtype, 0..ST_MAX_DIMS integer dims, data_offsets
 *   [begin, end] with begin <= end <= data size, end - begin == prod(shape) * dtype size
 *   (overflow-checked), no duplicate names and no two tensors overlapping. */
#include "safetensors.h"
#include "json_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* -------------------------------------------------------------- dtypes --- */

static const struct { const char *name; size_t size; } st_dtypes[ST_DT_COUNT] = {
    [ST_DT_UNKNOWN] = { "UNKNOWN", 0 },
    [ST_DT_BOOL] = { "BOOL", 1 },   [ST_DT_U8] = { "U8", 1 },     [ST_DT_I8] = { "I8", 1 },
    [ST_DT_I16] = { "I16", 2 },     [ST_DT_U16] = { "U16", 2 },   [ST_DT_F16] = { "F16", 2 },
    [ST_DT_BF16] = { "BF16", 2 },   [ST_DT_I32] = { "I32", 4 },   [ST_DT_U32] = { "U32", 4 },
    [ST_DT_F32] = { "F32", 4 },     [ST_DT_I64] = { "I64", 8 },   [ST_DT_U64] = { "U64", 8 },
    [ST_DT_F64] = { "F64", 8 },     [ST_DT_F8_E4M3] = { "F8_E4M3", 1 },
    [ST_DT_F8_E5M2] = { "F8_E5M2", 1 },
};

st_dtype_t st_dtype_from_name(const char *s)
{
    if (!s)
        return ST_DT_UNKNOWN;
    for (int i = 1; i < ST_DT_COUNT; i++)
        if (strcmp(s, st_dtypes[i].name) == 0)
            return (st_dtype_t)i;
    return ST_DT_UNKNOWN;
}

const char *st_dtype_name(st_dtype_t t)
{
    return (t > ST_DT_UNKNOWN && t < ST_DT_COUNT) ? st_dtypes[t].name : "UNKNOWN";
}

size_t st_dtype_size(st_dtype_t t)
{
    return (t > ST_DT_UNKNOWN && t < ST_DT_COUNT) ? st_dtypes[t].size : 0;
}

/* ------------------------------------------------------------- helpers --- */

void st_free(st_file_t *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_tensors; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    memset(f, 0, sizeof *f);
}

const st_tensor_t *st_find(const st_file_t *f, const char *name)
{
    for (size_t i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

static int cmp_offset(const void *a, const void *b)
{
    const st_tensor_t *x = a, *y = b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    if (x->length != y->length)
        return x->length < y->length ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_name_ptr(const void *a, const void *b)
{
    const st_tensor_t *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* ------------------------------------------------------ one tensor entry --- */

/* Fill t from the JSON object j (key name). data_size = file bytes after the header. */
static int parse_tensor(const cJSON *j, uint64_t data_start, uint64_t data_size, st_tensor_t *t,
                        char *err, size_t errlen)
{
    const char *name = j->string;
    if (!cJSON_IsObject(j))
        return fu_err(err, errlen, -EINVAL, "tensor '%s': entry is not an object", name);
    if (name[0] == '\0')
        return fu_err(err, errlen, -EINVAL, "tensor with an empty name");

    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(j, "dtype");
    if (!cJSON_IsString(dt) || !dt->valuestring)
        return fu_err(err, errlen, -EINVAL, "tensor '%s': missing or non-string 'dtype'", name);
    t->dtype = st_dtype_from_name(dt->valuestring);
    if (t->dtype == ST_DT_UNKNOWN)
        return fu_err(err, errlen, -EINVAL, "tensor '%s': unknown dtype '%.32s'", name, dt->valuestring);

    /* shape: 0..ST_MAX_DIMS non-negative integers; element count overflow-checked. */
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(j, "shape");
    if (!cJSON_IsArray(sh))
        return fu_err(err, errlen, -EINVAL, "tensor '%s': missing or non-array 'shape'", name);
    int nd = cJSON_GetArraySize(sh);
    if (nd > ST_MAX_DIMS)
        return fu_err(err, errlen, -EINVAL, "tensor '%s': %d dims in 'shape' (max %d)", name, nd, ST_MAX_DIMS);
    uint64_t elems = 1;
    int d = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, sh) {
        if (!js_get_u64(e, &t->shape[d]))
            return fu_err(err, errlen, -EINVAL, "tensor '%s': shape[%d] is not a non-negative integer", name, d);
        if (fu_mul_u64(elems, t->shape[d], &elems))
            return fu_err(err, errlen, -EINVAL, "tensor '%s': shape element count overflows", name);
        d++;
    }
    t->ndim = nd;
    uint64_t want;
    if (fu_mul_u64(elems, st_dtype_size(t->dtype), &want))
        return fu_err(err, errlen, -EINVAL, "tensor '%s': byte size of shape overflows", name);

    /* data_offsets: [begin, end] relative to data_start, inside the file. */
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(j, "data_offsets");
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return fu_err(err, errlen, -EINVAL, "tensor '%s': 'data_offsets' is not [begin, end]", name);
    uint64_t b, en;
    if (!js_get_u64(off->child, &b) || !js_get_u64(off->child->next, &en))
        return fu_err(err, errlen, -EINVAL, "tensor '%s': 'data_offsets' are not non-negative integers", name);
    if (b > en)
        return fu_err(err, errlen, -EINVAL, "tensor '%s': data_offsets begin %llu > end %llu", name,
                      (unsigned long long)b, (unsigned long long)en);
    if (en > data_size)
        return fu_err(err, errlen, -EINVAL,
                      "tensor '%s': data_offsets end %llu (file offset %llu) is past the end of the file",
                      name, (unsigned long long)en, (unsigned long long)(data_start + en));
    if (en - b != want)
        return fu_err(err, errlen, -EINVAL,
                      "tensor '%s': data_offsets span %llu bytes but shape x %s needs %llu", name,
                      (unsigned long long)(en - b), st_dtype_name(t->dtype), (unsigned long long)want);
    t->offset = data_start + b;
    t->length = en - b;
    t->name = strdup(name);
    if (!t->name)
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    return 0;
}

/* ------------------------------------------------------ whole-file checks --- */

/* Sorted by offset: no tensor may start before the previous one ends; names unique. */
static int check_overlaps_and_names(st_file_t *f, char *err, size_t errlen)
{
    if (f->n_tensors < 2)
        return 0;
    qsort(f->tensors, f->n_tensors, sizeof *f->tensors, cmp_offset);
    for (size_t i = 1; i < f->n_tensors; i++) {
        const st_tensor_t *p = &f->tensors[i - 1], *t = &f->tensors[i];
        if (t->offset < p->offset + p->length)
            return fu_err(err, errlen, -EINVAL,
                          "tensors '%s' and '%s' overlap at file offset %llu", p->name, t->name,
                          (unsigned long long)t->offset);
    }
    const st_tensor_t **by_name = malloc(f->n_tensors * sizeof *by_name);
    if (!by_name)
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    for (size_t i = 0; i < f->n_tensors; i++)
        by_name[i] = &f->tensors[i];
    qsort(by_name, f->n_tensors, sizeof *by_name, cmp_name_ptr);
    int rc = 0;
    for (size_t i = 1; i < f->n_tensors && !rc; i++)
        if (strcmp(by_name[i - 1]->name, by_name[i]->name) == 0)
            rc = fu_err(err, errlen, -EINVAL, "duplicate tensor name '%s'", by_name[i]->name);
    free(by_name);
    return rc;
}

static int parse_header_json(const char *text, uint64_t n, st_file_t *f, char *err, size_t errlen)
{
    cJSON *root = NULL;
    int rc = js_parse(text, (size_t)n, 8, "safetensors header", &root, err, errlen);
    if (rc)
        return rc;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fu_err(err, errlen, -EINVAL, "safetensors header at offset 8 is not a JSON object");
    }
    size_t count = 0;
    const cJSON *j;
    cJSON_ArrayForEach(j, root)
        if (strcmp(j->string, "__metadata__") != 0)
            count++;
    /* count is bounded by the header we already hold in memory (each entry > 30 bytes). */
    f->tensors = count ? calloc(count, sizeof *f->tensors) : NULL;
    if (count && !f->tensors) {
        cJSON_Delete(root);
        return fu_err(err, errlen, -ENOMEM, "out of memory for %zu tensors", count);
    }
    uint64_t data_size = f->file_size - f->data_start;
    cJSON_ArrayForEach(j, root) {
        if (strcmp(j->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(j) && !cJSON_IsNull(j)) {
                rc = fu_err(err, errlen, -EINVAL, "'__metadata__' is not an object");
                break;
            }
            continue;
        }
        rc = parse_tensor(j, f->data_start, data_size, &f->tensors[f->n_tensors], err, errlen);
        if (rc)
            break;
        f->n_tensors++;
    }
    cJSON_Delete(root);
    if (!rc)
        rc = check_overlaps_and_names(f, err, errlen);
    return rc;
}

/* ---------------------------------------------------------------- entry --- */

int st_parse(fu_read_fn rd, void *ctx, uint64_t file_size, st_file_t *out, char *err, size_t errlen)
{
    st_file_t f;
    memset(&f, 0, sizeof f);
    memset(out, 0, sizeof *out);
    f.file_size = file_size;
    if (file_size < 8)
        return fu_err(err, errlen, -EINVAL, "file of %llu bytes is shorter than the 8-byte header length",
                      (unsigned long long)file_size);
    unsigned char lenb[8];
    int rc = rd(ctx, lenb, 8, 0);
    if (rc)
        return fu_err(err, errlen, rc, "cannot read the header length at offset 0");
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | lenb[i];
    if (n > ST_MAX_HEADER)
        return fu_err(err, errlen, -EFBIG, "header length %llu at offset 0 exceeds the limit of %u bytes",
                      (unsigned long long)n, ST_MAX_HEADER);
    if (n > file_size - 8)
        return fu_err(err, errlen, -EINVAL, "header length %llu at offset 0 exceeds the file size %llu",
                      (unsigned long long)n, (unsigned long long)file_size);
    if (n < 2)
        return fu_err(err, errlen, -EINVAL, "header length %llu at offset 0 is too small for JSON",
                      (unsigned long long)n);
    f.header_len = n;
    f.data_start = 8 + n;

    char *text = malloc((size_t)n + 1);
    if (!text)
        return fu_err(err, errlen, -ENOMEM, "out of memory for a %llu-byte header", (unsigned long long)n);
    rc = rd(ctx, text, (size_t)n, 8);
    if (rc) {
        free(text);
        return fu_err(err, errlen, rc, "cannot read the %llu-byte header at offset 8", (unsigned long long)n);
    }
    text[n] = '\0';
    rc = parse_header_json(text, n, &f, err, errlen);
    free(text);
    if (rc) {
        st_free(&f);
        return rc;
    }
    *out = f;
    return 0;
}

int st_parse_path(const char *path, st_file_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int fd;
    uint64_t size;
    int rc = fu_open_sized(path, &fd, &size, err, errlen);
    if (rc < 0)
        return rc;
    rc = st_parse(fu_fd_read, (void *)(intptr_t)fd, size, out, err, errlen);
    close(fd);
    return rc;
}
