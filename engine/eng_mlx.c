/* eng_mlx.c — MLX affine-quantized matrices: finding P.weight / P.scales / P.biases, checking
 * them against config.json, and reading quantized rows (embedding lookups). The products
 * themselves are in eng_kernels_q*.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eng_mlx.h"

static void ewq_shape(const st_tensor_t *s, char *buf, size_t n)
{
    char *p = buf;
    buf[0] = 0;
    for (int d = 0; d < s->ndim && p < buf + n - 24; d++)
        p += sprintf(p, "%s%llu", d ? ", " : "", (unsigned long long)s->shape[d]);
}

/* Module path of "P.weight" into mod; 0 or -EINVAL. */
static int ewq_module(const char *name, char *mod, size_t n)
{
    size_t l = strlen(name);
    if (l < 8 || strcmp(name + l - 7, ".weight") || l - 7 >= n)
        return -EINVAL;
    memcpy(mod, name, l - 7);
    mod[l - 7] = 0;
    return 0;
}

/* Check one of P.scales / P.biases: dtype, shape [rows, ng], bounds. */
static int ewq_part(ew_model_t *m, const char *mod, const char *what, int rows, int ng, ew_tensor_t *t,
                    char *err, size_t errlen)
{
    char name[256];
    snprintf(name, sizeof name, "%s.%s", mod, what);
    int f = 0;
    const st_tensor_t *s = ew_lookup(m, name, &f);
    if (!s)
        return fu_err(err, errlen, -ENOENT,
                      "%s: tensor %s not found (the weight %s.weight is MLX-quantized, mode affine)",
                      m->dir, name, mod);
    ek_dtype_t dt;
    switch (s->dtype) {
    case ST_DT_F32: dt = EK_F32; break;
    case ST_DT_F16: dt = EK_F16; break;
    case ST_DT_BF16: dt = EK_BF16; break;
    default:
        return fu_err(err, errlen, -ENOTSUP, "%s: tensor %s has dtype %s (supported: F32, F16, BF16)",
                      m->files[f].path, name, st_dtype_name(s->dtype));
    }
    if (s->ndim != 2 || s->shape[0] != (uint64_t)rows || s->shape[1] != (uint64_t)ng) {
        char got[128];
        ewq_shape(s, got, sizeof got);
        return fu_err(err, errlen, -EINVAL,
                      "%s: tensor %s has shape [%s], expected [%d, %d] (group_size from config.json)",
                      m->files[f].path, name, got, rows, ng);
    }
    uint64_t need = (uint64_t)rows * (uint64_t)ng * ek_dtype_size(dt), end;
    if (s->length != need || fu_add_u64(s->offset, s->length, &end) || end > m->files[f].size)
        return fu_err(err, errlen, -EINVAL, "%s: tensor %s: data out of bounds", m->files[f].path, name);
    memset(t, 0, sizeof *t);
    t->present = 1;
    t->file = f;
    t->offset = s->offset;
    t->length = s->length;
    t->dt = dt;
    t->rows = rows;
    t->cols = ng;
    t->name = s->name;
    return 0;
}

int ew_q_find(ew_model_t *m, int f, const st_tensor_t *s, ew_tensor_t *t, int rows, int cols,
              char *err, size_t errlen)
{
    char mod[224];
    const char *path = m->files[f].path;
    if (ewq_module(s->name, mod, sizeof mod))
        return fu_err(err, errlen, -ENOTSUP, "%s: tensor %s has dtype U32", path, s->name);
    int bits = 0, group = 0;
    if (!m->quant.present)
        return fu_err(err, errlen, -EINVAL,
                      "%s: tensor %s is U32 (MLX-quantized) but config.json has no quantization section",
                      path, s->name);
    if (!hc_quant_for(&m->quant, mod, &bits, &group))
        return fu_err(err, errlen, -EINVAL,
                      "%s: tensor %s is U32 (MLX-quantized) but config.json's quantization leaves %s "
                      "unquantized", path, s->name, mod);
    if (!ek_q_supported(bits, group))     /* hc_quant already refuses these */
        return fu_err(err, errlen, -EINVAL, "%s: %d bits, group %d not supported", mod, bits, group);
    if (cols % group)
        return fu_err(err, errlen, -EINVAL,
                      "%s: tensor %s: input size %d is not a multiple of group_size %d", path, s->name,
                      cols, group);
    uint64_t packed = (uint64_t)cols * (uint64_t)bits / 32;
    if (s->ndim != 2 || s->shape[0] != (uint64_t)rows || s->shape[1] != packed) {
        char got[128];
        ewq_shape(s, got, sizeof got);
        return fu_err(err, errlen, -EINVAL,
                      "%s: tensor %s has shape [%s], expected [%d, %llu] (%d-bit MLX codes of [%d, %d])",
                      path, s->name, got, rows, (unsigned long long)packed, bits, rows, cols);
    }
    uint64_t need = (uint64_t)rows * packed * 4, end;
    if (s->length != need || fu_add_u64(s->offset, s->length, &end) || end > m->files[f].size)
        return fu_err(err, errlen, -EINVAL, "%s: tensor %s: data out of bounds", path, s->name);
    if (m->n_qparts + 2 > m->cap_qparts)
        return fu_err(err, errlen, -EINVAL, "%s: too many quantized tensors", path);
    ew_tensor_t *qs = &m->qparts[m->n_qparts], *qb = &m->qparts[m->n_qparts + 1];
    int rc;
    if ((rc = ewq_part(m, mod, "scales", rows, cols / group, qs, err, errlen)) ||
        (rc = ewq_part(m, mod, "biases", rows, cols / group, qb, err, errlen)))
        return rc;
    if (qs->dt != qb->dt)
        return fu_err(err, errlen, -EINVAL, "%s: %s.scales and %s.biases have different dtypes", path, mod,
                      mod);
    m->n_qparts += 2;
    memset(t, 0, sizeof *t);
    t->present = 1;
    t->file = f;
    t->offset = s->offset;
    t->length = s->length;
    t->dt = EK_QAFF;
    t->rows = rows;
    t->cols = cols;
    t->name = s->name;
    t->qbits = bits;
    t->qgroup = group;
    t->qs = qs;
    t->qb = qb;
    return 0;
}

int ew_q_check_plain(ew_model_t *m, const char *name, char *err, size_t errlen)
{
    char mod[224], sc[256];
    if (ewq_module(name, mod, sizeof mod))
        return 0;
    snprintf(sc, sizeof sc, "%s.scales", mod);
    int f;
    if (ew_lookup(m, sc, &f))
        return fu_err(err, errlen, -EINVAL,
                      "%s: tensor %s exists but %s is not U32 (MLX-quantized weights are U32)",
                      m->files[f].path, sc, name);
    return 0;
}

int ew_q_read_rows(ew_model_t *m, const ew_tensor_t *t, int row, int n, float *dst, char *err,
                   size_t errlen)
{
    const int ng = t->cols / t->qgroup;
    const size_t rb = (size_t)t->cols * (size_t)t->qbits / 8;
    const size_t sb = (size_t)ng * ek_dtype_size(t->qs->dt);
    char *buf = malloc(rb + 2 * sb);
    if (!buf)
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    ek_mat_t w = { buf, EK_QAFF, 1, t->cols, buf + rb, buf + rb + sb, t->qs->dt, t->qbits, t->qgroup };
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        uint64_t r = (uint64_t)(row + i);
        if (!(rc = ew_pread(m, t->file, buf, rb, t->offset + r * rb, err, errlen)) &&
            !(rc = ew_pread(m, t->qs->file, buf + rb, sb, t->qs->offset + r * sb, err, errlen)) &&
            !(rc = ew_pread(m, t->qb->file, buf + rb + sb, sb, t->qb->offset + r * sb, err, errlen)))
            ek_q_dequant(dst + (size_t)i * t->cols, &w, 0, 0, t->cols);
    }
    free(buf);
    return rc;
}

uint64_t ew_q_bytes(const ew_tensor_t *t)
{
    return t->length + (t->qs ? t->qs->length + t->qb->length : 0);
}
