/* pack_plan.c — regions of a model file for the packer: the header, one region per
 * tensor with the transform of its dtype, and the gaps between (prefix pk_).
 *
 *   safetensors  [0, 8 + N) header; tensors by offset; BF16 -> PK_T_BF16, F16 -> PK_T_G2,
 *                F32 -> PK_T_G4, other dtypes as is
 *   GGUF         [0, data_start) metadata + tensor infos + padding; tensors by offset;
 *                ggml F32 (0) -> PK_T_G4, F16 (1) -> PK_T_G2, BF16 (30) -> PK_T_BF16,
 *                quantized types as is (their blocks mix scales and quants)
 *   other        one region as is, with a warning (packed, but without grouping)
 * Bytes between tensors (alignment padding) and after the last tensor are regions of
 * their own, so the regions always cover the whole file in order. */
#include "pack.h"
#include "gguf.h"
#include "safetensors.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    pk_region_t *r;
    size_t n, cap;
    uint64_t pos;
} plan_t;

static int add(plan_t *p, uint64_t off, uint64_t len, uint8_t t, uint8_t k)
{
    if (len == 0)
        return 0;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        pk_region_t *r = realloc(p->r, cap * sizeof *r);
        if (!r)
            return -ENOMEM;
        p->r = r;
        p->cap = cap;
    }
    p->r[p->n++] = (pk_region_t){ off, len, t, k };
    p->pos = off + len;
    return 0;
}

/* A tensor at [off, off+len): a gap region first if needed. -EINVAL if it overlaps. */
static int add_tensor(plan_t *p, uint64_t off, uint64_t len, uint64_t file_size, uint8_t t, uint8_t k)
{
    if (off < p->pos || off > file_size || len > file_size - off)
        return -EINVAL;
    int rc = add(p, p->pos, off - p->pos, PK_T_NONE, PK_K_OTHER);
    return rc ? rc : add(p, off, len, t, k);
}

static void st_kind(st_dtype_t d, uint8_t *t, uint8_t *k)
{
    switch (d) {
    case ST_DT_BF16: *t = PK_T_BF16; *k = PK_K_BF16; break;
    case ST_DT_F16:  *t = PK_T_G2;   *k = PK_K_F16;  break;
    case ST_DT_F32:  *t = PK_T_G4;   *k = PK_K_F32;  break;
    default:         *t = PK_T_NONE; *k = PK_K_OTHER; break;
    }
}

static void gg_kind(uint32_t type, uint8_t *t, uint8_t *k)
{
    switch (type) {
    case 0:  *t = PK_T_G4;   *k = PK_K_F32;  break;
    case 1:  *t = PK_T_G2;   *k = PK_K_F16;  break;
    case 30: *t = PK_T_BF16; *k = PK_K_BF16; break;
    default: *t = PK_T_NONE; *k = PK_K_QUANT; break;
    }
}

static int cmp_gg_off(const void *a, const void *b)
{
    const gg_tensor_t *x = *(const gg_tensor_t *const *)a, *y = *(const gg_tensor_t *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int plan_st(fu_read_fn rd, void *ctx, uint64_t size, plan_t *p, char *why, size_t wl)
{
    st_file_t f;
    int rc = st_parse(rd, ctx, size, &f, why, wl);
    if (rc < 0)
        return rc;
    rc = add(p, 0, f.data_start, PK_T_NONE, PK_K_HEADER);
    for (size_t i = 0; rc == 0 && i < f.n_tensors; i++) {
        uint8_t t, k;
        st_kind(f.tensors[i].dtype, &t, &k);
        rc = add_tensor(p, f.tensors[i].offset, f.tensors[i].length, size, t, k);
        if (rc == -EINVAL)
            fu_err(why, wl, rc, "tensor '%s' overlaps or leaves the file", f.tensors[i].name);
    }
    st_free(&f);
    return rc;
}

static int plan_gg(fu_read_fn rd, void *ctx, uint64_t size, plan_t *p, char *why, size_t wl)
{
    gg_file_t f;
    int rc = gg_parse(rd, ctx, size, &f, why, wl);
    if (rc < 0)
        return rc;
    const gg_tensor_t **ord = f.n_tensors ? malloc(f.n_tensors * sizeof *ord) : NULL;
    if (f.n_tensors && !ord) {
        gg_free(&f);
        return -ENOMEM;
    }
    for (uint64_t i = 0; i < f.n_tensors; i++)
        ord[i] = &f.tensors[i];
    if (f.n_tensors)
        qsort(ord, f.n_tensors, sizeof *ord, cmp_gg_off);
    rc = add(p, 0, f.data_start, PK_T_NONE, PK_K_HEADER);
    for (uint64_t i = 0; rc == 0 && i < f.n_tensors; i++) {
        uint8_t t, k;
        gg_kind(ord[i]->type, &t, &k);
        rc = add_tensor(p, ord[i]->offset, ord[i]->length, size, t, k);
        if (rc == -EINVAL)
            fu_err(why, wl, rc, "tensor '%s' overlaps or leaves the file", ord[i]->name);
    }
    free(ord);
    gg_free(&f);
    return rc;
}

int pk_plan(fu_read_fn rd, void *ctx, uint64_t file_size, const char *name,
            pk_region_t **out, size_t *n_out, int *warned, char *err, size_t errlen)
{
    plan_t p = { 0 };
    char why[256] = "";
    uint8_t magic[4] = { 0 };
    int rc = 0;
    *warned = 0;
    if (file_size >= 4 && (rc = rd(ctx, magic, 4, 0)) < 0)
        return fu_err(err, errlen, rc, "%s: read error: %s", name, strerror(-rc));
    if (memcmp(magic, "GGUF", 4) == 0)
        rc = plan_gg(rd, ctx, file_size, &p, why, sizeof why);
    else
        rc = plan_st(rd, ctx, file_size, &p, why, sizeof why);
    if (rc == 0)
        rc = add(&p, p.pos, file_size - p.pos, PK_T_NONE, PK_K_OTHER);
    if (rc == -ENOMEM) {
        free(p.r);
        return fu_err(err, errlen, rc, "%s: out of memory", name);
    }
    if (rc < 0) {
        /* Not a model file we understand: pack it as plain frames, say why. */
        fu_err(err, errlen, 0, "%s: not parsable as %s (%s); packed without grouping", name,
               memcmp(magic, "GGUF", 4) == 0 ? "GGUF" : "safetensors", why);
        *warned = 1;
        p.n = 0;
        p.pos = 0;
        if (add(&p, 0, file_size, PK_T_NONE, PK_K_OTHER) < 0) {
            free(p.r);
            return fu_err(err, errlen, -ENOMEM, "%s: out of memory", name);
        }
    }
    *out = p.r;
    *n_out = p.n;
    return 0;
}
