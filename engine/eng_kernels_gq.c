/* eng_kernels_gq.c — GGUF block-quantized weights other than Q8_0: Q4_0, Q4_K and Q6_K,
 * dequantized to f32 (the reference path: a row is dequantized, then dotted with every token
 * in f32; no activation quantization).
 *
 * Block layouts (ggml-common.h, little-endian, f16 = IEEE half):
 *   Q4_0  32 elements, 18 bytes: f16 d, 16 bytes qs; x[j] = (lo4(qs[j]) - 8) d,
 *         x[j + 16] = (hi4(qs[j]) - 8) d.
 *   Q4_K  256 elements, 144 bytes: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins (8 of
 *         each), 128 bytes qs; sub-block s of 32: x = d sc[s] q - dmin m[s], q the low nibbles
 *         of qs[32 (s/2) ..] for even s, the high nibbles for odd s.
 *   Q6_K  256 elements, 210 bytes: ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16],
 *         f16 d; x = d scale[l/16] (q - 32) for 6-bit q. */
#include <stdlib.h>
#include <string.h>

#include "eng_kernels.h"

static float gq_h(const unsigned char *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return ek_f16_to_f32(h);
}

static void gq_q4_0(float *y, const unsigned char *b)
{
    const float d = gq_h(b);
    for (int j = 0; j < 16; j++) {
        y[j] = (float)((b[2 + j] & 0x0F) - 8) * d;
        y[j + 16] = (float)((b[2 + j] >> 4) - 8) * d;
    }
}

/* 6-bit scale and min of sub-block j of a Q4_K block's 12 scale bytes. */
static void gq_k4_scale(int j, const unsigned char *q, int *sc, int *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

static void gq_q4_k(float *y, const unsigned char *b)
{
    const float d = gq_h(b), dmin = gq_h(b + 2);
    const unsigned char *scales = b + 4, *q = b + 16;
    for (int j = 0, is = 0; j < 256; j += 64, is += 2, q += 32) {
        int sc, m;
        gq_k4_scale(is, scales, &sc, &m);
        const float d1 = d * (float)sc, m1 = dmin * (float)m;
        gq_k4_scale(is + 1, scales, &sc, &m);
        const float d2 = d * (float)sc, m2 = dmin * (float)m;
        for (int l = 0; l < 32; l++)
            *y++ = d1 * (float)(q[l] & 0xF) - m1;
        for (int l = 0; l < 32; l++)
            *y++ = d2 * (float)(q[l] >> 4) - m2;
    }
}

static void gq_q6_k(float *y, const unsigned char *b)
{
    const unsigned char *ql = b, *qh = b + 128;
    const signed char *sc = (const signed char *)(b + 192);
    const float d = gq_h(b + 208);
    for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8)
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = (int)((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
            int q2 = (int)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            int q3 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * (float)sc[is] * (float)q1;
            y[l + 32] = d * (float)sc[is + 2] * (float)q2;
            y[l + 64] = d * (float)sc[is + 4] * (float)q3;
            y[l + 96] = d * (float)sc[is + 6] * (float)q4;
        }
}

int ek_gq_block(ek_dtype_t dt, int *elems, int *bytes)
{
    switch (dt) {
    case EK_Q8_0: *elems = 32; *bytes = 34; return 1;
    case EK_Q4_0: *elems = 32; *bytes = 18; return 1;
    case EK_Q4_K: *elems = 256; *bytes = 144; return 1;
    case EK_Q6_K: *elems = 256; *bytes = 210; return 1;
    default: return 0;
    }
}

void ek_gq_dequant(ek_dtype_t dt, float *dst, const void *src, size_t n)
{
    int e, nb;
    if (dt == EK_Q8_0) {
        ek_q8_dequant(dst, src, n);
        return;
    }
    if (!ek_gq_block(dt, &e, &nb))
        return;
    const unsigned char *b = src;
    for (size_t i = 0; i < n / (size_t)e; i++, b += nb, dst += e) {
        if (dt == EK_Q4_0)
            gq_q4_0(dst, b);
        else if (dt == EK_Q4_K)
            gq_q4_k(dst, b);
        else
            gq_q6_k(dst, b);
    }
}

typedef struct {
    const ek_mat_t *w;
    const float *bias;
    const float *x;
    int T;
    float *out;
    int ldo;
    int accumulate;
} gq_job_t;

static void gq_task(void *ctx, int i, int n, int tid)
{
    gq_job_t *j = ctx;
    long lo, hi;
    (void)tid;
    ep_range(j->w->rows, i, n, 16, &lo, &hi);
    if (lo >= hi)
        return;
    const int K = j->w->cols;
    const size_t rb = ek_row_bytes(j->w->dt, (size_t)K);
    float *row = malloc((size_t)K * sizeof(float));
    for (long r = lo; r < hi; r++) {
        if (row)
            ek_gq_dequant(j->w->dt, row, (const unsigned char *)j->w->data + (size_t)r * rb, (size_t)K);
        for (int t = 0; t < j->T; t++) {
            float y = 0;
            if (row) {
                const float *xv = j->x + (size_t)t * K;
                for (int k = 0; k < K; k++)
                    y += row[k] * xv[k];
            } else {
                y = __builtin_nanf("");     /* out of memory: the logits say so, no crash */
            }
            y += j->bias ? j->bias[r] : 0.0f;
            float *o = j->out + (size_t)t * j->ldo + r;
            *o = j->accumulate ? *o + y : y;
        }
    }
    free(row);
}

void ek_gq_matmul(ep_pool_t *pool, const ek_mat_t *w, const float *bias, const float *x, int T, float *out,
                  int ldo, int accumulate)
{
    gq_job_t j = { w, bias, x, T, out, ldo, accumulate };
    long blocks = (w->rows + 15) / 16, chunks = 8l * ep_threads(pool);
    if ((long)w->rows * w->cols * T < 32768)
        chunks = 1;
    ep_run(pool, (int)(blocks < chunks ? blocks : chunks), gq_task, &j);
}
