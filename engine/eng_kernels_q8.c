/* eng_kernels_q8.c — GGUF Q8_0 weights (ggml's block_q8_0): dequantization and the
 * matrix product.
 *
 * A block is 34 bytes: an IEEE f16 scale d, then 32 int8 codes q; element j of the block is
 * d * q[j]. A row of `cols` elements (cols % 32 == 0) is cols/32 consecutive blocks.
 *
 * The product computes as llama.cpp's CPU backend does (ggml_vec_dot_q8_0_q8_0), so that
 * greedy decoding gives llama.cpp's text: each token's activations are quantized to Q8_0
 * blocks too (d_x = max|x| / 127 rounded to f16, q_x = round(x / d_x)), and a block
 * contributes (sum_j q_w[j] q_x[j]) * (d_w * d_x) in f32. When the scratch memory for the
 * quantized activations cannot be allocated, the product falls back to f32 activations. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eng_kernels.h"

#define EK8_BLOCK 32
#define EK8_BYTES 34
#define EK8_T 16

size_t ek_row_bytes(ek_dtype_t dt, size_t cols)
{
    int e, b;
    if (ek_gq_block(dt, &e, &b))
        return cols / (size_t)e * (size_t)b;
    return cols * ek_dtype_size(dt);
}

static inline void ek8_block(float *dst, const unsigned char *b)
{
    uint16_t h;
    memcpy(&h, b, 2);
    float d = ek_f16_to_f32(h);
    const signed char *q = (const signed char *)(b + 2);
    for (int j = 0; j < EK8_BLOCK; j++)
        dst[j] = d * (float)q[j];
}

void ek_q8_dequant(float *dst, const void *src, size_t n)
{
    const unsigned char *b = src;
    for (size_t i = 0; i < n / EK8_BLOCK; i++)
        ek8_block(dst + i * EK8_BLOCK, b + i * EK8_BYTES);
}

typedef struct {
    const ek_mat_t *w;
    const signed char *xq;      /* [T][cols] quantized activations, or NULL */
    const float *xd;            /* [T][cols/32] their scales */
    const float *bias;
    const float *x;
    int T;
    float *out;
    int ldo;
    int accumulate;
} ek8_job_t;

static void ek8_rows(const ek8_job_t *j, long lo, long hi)
{
    const int K = j->w->cols, nb = K / EK8_BLOCK;
    const size_t rb = ek_row_bytes(EK_Q8_0, (size_t)K);
    float blk[EK8_BLOCK];
    for (long r = lo; r < hi; r++) {
        const unsigned char *row = (const unsigned char *)j->w->data + (size_t)r * rb;
        for (int t0 = 0; t0 < j->T; t0 += EK8_T) {
            int tn = j->T - t0 < EK8_T ? j->T - t0 : EK8_T;
            float acc[EK8_T] = { 0 };
            for (int b = 0; b < nb; b++) {
                ek8_block(blk, row + (size_t)b * EK8_BYTES);
                for (int t = 0; t < tn; t++) {
                    const float *xv = j->x + (size_t)(t0 + t) * K + (size_t)b * EK8_BLOCK;
                    float s = 0;
                    for (int k = 0; k < EK8_BLOCK; k++)
                        s += blk[k] * xv[k];
                    acc[t] += s;
                }
            }
            for (int t = 0; t < tn; t++) {
                float y = acc[t] + (j->bias ? j->bias[r] : 0.0f);
                float *o = j->out + (size_t)(t0 + t) * j->ldo + r;
                *o = j->accumulate ? *o + y : y;
            }
        }
    }
}

/* Rows [lo, hi) against quantized activations: integer block dots. */
static void ek8_rows_q(const ek8_job_t *j, long lo, long hi)
{
    const int K = j->w->cols, nb = K / EK8_BLOCK;
    const size_t rb = ek_row_bytes(EK_Q8_0, (size_t)K);
    for (long r = lo; r < hi; r++) {
        const unsigned char *row = (const unsigned char *)j->w->data + (size_t)r * rb;
        for (int t = 0; t < j->T; t++) {
            const signed char *xq = j->xq + (size_t)t * K;
            const float *xd = j->xd + (size_t)t * nb;
            float acc = 0;
            for (int b = 0; b < nb; b++) {
                const unsigned char *blk = row + (size_t)b * EK8_BYTES;
                uint16_t h;
                memcpy(&h, blk, 2);
                const signed char *q = (const signed char *)(blk + 2), *qx = xq + (size_t)b * EK8_BLOCK;
                int32_t s = 0;
                for (int k = 0; k < EK8_BLOCK; k++)
                    s += (int32_t)q[k] * (int32_t)qx[k];
                acc += (float)s * (ek_f16_to_f32(h) * xd[b]);
            }
            float y = acc + (j->bias ? j->bias[r] : 0.0f);
            float *o = j->out + (size_t)t * j->ldo + r;
            *o = j->accumulate ? *o + y : y;
        }
    }
}

static void ek8_task(void *ctx, int i, int n, int tid)
{
    ek8_job_t *j = ctx;
    long lo, hi;
    (void)tid;
    ep_range(j->w->rows, i, n, 16, &lo, &hi);
    if (lo < hi && j->xq)
        ek8_rows_q(j, lo, hi);
    else if (lo < hi)
        ek8_rows(j, lo, hi);
}

/* Quantize n activations (n % 32 == 0) to Q8_0 as ggml's quantize_row_q8_0_ref does. */
static void ek8_quantize(signed char *q, float *d, const float *x, int n)
{
    for (int b = 0; b < n / EK8_BLOCK; b++) {
        const float *v = x + (size_t)b * EK8_BLOCK;
        float amax = 0;
        for (int k = 0; k < EK8_BLOCK; k++)
            amax = fmaxf(amax, fabsf(v[k]));
        float s = amax / 127.0f, id = s != 0.0f ? 1.0f / s : 0.0f;
        d[b] = ek_f16_to_f32(ek_f32_to_f16(s));
        for (int k = 0; k < EK8_BLOCK; k++)
            q[(size_t)b * EK8_BLOCK + k] = (signed char)roundf(v[k] * id);
    }
}

void ek_q8_matmul(ep_pool_t *pool, const ek_mat_t *w, const float *bias, const float *x, int T,
                  float *out, int ldo, int accumulate)
{
    const int K = w->cols, nb = K / EK8_BLOCK;
    signed char *xq = malloc((size_t)T * (size_t)K);
    float *xd = malloc((size_t)T * (size_t)nb * sizeof(float) + 1);
    if (xq && xd) {
        for (int t = 0; t < T; t++)
            ek8_quantize(xq + (size_t)t * K, xd + (size_t)t * nb, x + (size_t)t * K, K);
    } else {
        free(xq);
        xq = NULL;
    }
    ek8_job_t j = { w, xq, xd, bias, x, T, out, ldo, accumulate };
    long blocks = (w->rows + 15) / 16, chunks = 8l * ep_threads(pool);
    if ((long)w->rows * w->cols * T < 32768)
        chunks = 1;
    ep_run(pool, (int)(blocks < chunks ? blocks : chunks), ek8_task, &j);
    free(xq);
    free(xd);
}
