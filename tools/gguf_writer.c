/* gguf_writer.c — GGUF v3 header writer (see include/gguf_writer.h). */
#include "gguf_writer.h"
#include "fu_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* GGUF KV value types (gguf.h of llama.cpp). */
enum { GW_U32 = 4, GW_I32 = 5, GW_F32 = 6, GW_BOOL = 7, GW_STR = 8, GW_ARR = 9 };

typedef struct {
    uint8_t *p;
    size_t len, cap;
} bb_t;

struct gw {
    uint32_t alignment;
    bb_t kv, ti;                /* serialized KV pairs and tensor infos */
    uint64_t n_kv, n_tensors;
    uint64_t data_size;         /* aligned end of the last tensor */
    int err;
};

/* ---- little-endian byte buffer ----------------------------------------------- */

static void bb_put(gw_t *g, bb_t *b, const void *s, size_t n)
{
    if (g->err || n == 0)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            g->err = -ENOMEM;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void bb_u32(gw_t *g, bb_t *b, uint32_t v)
{
    uint8_t x[4];
    for (int i = 0; i < 4; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    bb_put(g, b, x, 4);
}

static void bb_u64(gw_t *g, bb_t *b, uint64_t v)
{
    uint8_t x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    bb_put(g, b, x, 8);
}

/* A GGUF string: u64 byte length, then the bytes (no terminator). */
static void bb_str(gw_t *g, bb_t *b, const char *s)
{
    size_t n = strlen(s);
    bb_u64(g, b, n);
    bb_put(g, b, s, n);
}

static void kv_key(gw_t *g, const char *key, uint32_t type)
{
    bb_str(g, &g->kv, key);
    bb_u32(g, &g->kv, type);
    g->n_kv++;
}

static uint64_t align_up(uint64_t v, uint32_t a)
{
    return (v + a - 1) / a * a;
}

/* ---- API -------------------------------------------------------------------------- */

gw_t *gw_new(uint32_t alignment)
{
    gw_t *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->alignment = alignment;
    if (alignment == 0 || (alignment & (alignment - 1)))
        g->err = -EINVAL;
    return g;
}

void gw_kv_str(gw_t *g, const char *key, const char *val)
{
    kv_key(g, key, GW_STR);
    bb_str(g, &g->kv, val);
}

void gw_kv_u32(gw_t *g, const char *key, uint32_t val)
{
    kv_key(g, key, GW_U32);
    bb_u32(g, &g->kv, val);
}

void gw_kv_i32(gw_t *g, const char *key, int32_t val)
{
    kv_key(g, key, GW_I32);
    bb_u32(g, &g->kv, (uint32_t)val);
}

void gw_kv_f32(gw_t *g, const char *key, float val)
{
    uint32_t u;
    memcpy(&u, &val, 4);
    kv_key(g, key, GW_F32);
    bb_u32(g, &g->kv, u);
}

void gw_kv_bool(gw_t *g, const char *key, int val)
{
    uint8_t v = val ? 1 : 0;
    kv_key(g, key, GW_BOOL);
    bb_put(g, &g->kv, &v, 1);
}

void gw_kv_arr_str(gw_t *g, const char *key, const char *const *vals, size_t n)
{
    kv_key(g, key, GW_ARR);
    bb_u32(g, &g->kv, GW_STR);
    bb_u64(g, &g->kv, n);
    for (size_t i = 0; i < n; i++)
        bb_str(g, &g->kv, vals[i]);
}

void gw_kv_arr_i32(gw_t *g, const char *key, const int32_t *vals, size_t n)
{
    kv_key(g, key, GW_ARR);
    bb_u32(g, &g->kv, GW_I32);
    bb_u64(g, &g->kv, n);
    for (size_t i = 0; i < n; i++)
        bb_u32(g, &g->kv, (uint32_t)vals[i]);
}

uint64_t gw_add_tensor(gw_t *g, const char *name, uint32_t n_dims, const uint64_t *ne,
                       uint32_t type, uint64_t nbytes)
{
    if (n_dims == 0 || n_dims > 4) {
        g->err = g->err ? g->err : -EINVAL;
        return 0;
    }
    uint64_t off = g->data_size, end;
    bb_str(g, &g->ti, name);
    bb_u32(g, &g->ti, n_dims);
    for (uint32_t d = 0; d < n_dims; d++)
        bb_u64(g, &g->ti, ne[d]);
    bb_u32(g, &g->ti, type);
    bb_u64(g, &g->ti, off);
    if (fu_add_u64(off, nbytes, &end) || end > UINT64_MAX - g->alignment)
        g->err = g->err ? g->err : -EINVAL;
    else
        g->data_size = align_up(end, g->alignment);
    g->n_tensors++;
    return off;
}

uint64_t gw_pad_after(const gw_t *g, uint64_t nbytes)
{
    return align_up(nbytes, g->alignment) - nbytes;
}

uint64_t gw_data_size(const gw_t *g)
{
    return g->data_size;
}

int gw_header(gw_t *g, uint8_t **out, size_t *len)
{
    if (g->err)
        return g->err;
    bb_t h = { 0 };
    bb_put(g, &h, "GGUF", 4);
    bb_u32(g, &h, 3);
    bb_u64(g, &h, g->n_tensors);
    bb_u64(g, &h, g->n_kv);
    bb_put(g, &h, g->kv.p, g->kv.len);
    bb_put(g, &h, g->ti.p, g->ti.len);
    static const uint8_t zeros[64];
    size_t pad = (size_t)(align_up(h.len, g->alignment) - h.len);
    while (pad > 0) {
        size_t k = pad < sizeof zeros ? pad : sizeof zeros;
        bb_put(g, &h, zeros, k);
        pad -= k;
    }
    if (g->err) {
        free(h.p);
        return g->err;
    }
    *out = h.p;
    *len = h.len;
    return 0;
}

void gw_free(gw_t *g)
{
    if (!g)
        return;
    free(g->kv.p);
    free(g->ti.p);
    free(g);
}
