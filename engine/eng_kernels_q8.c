/* eng_kernels_q8.c — GGUF Q8_0 weights (ggml's block_q8_0): dequantization and the
 * portable matrix product.
 *
 * A block is 34 bytes: an IEEE f16 scale d, then 32 int8 codes q; element j of the block is
 * d * q[j]. A row of `cols` elements (cols % 32 == 0) is cols/32 consecutive blocks. The
 * product dequantizes one block of a row to f32 and dots it with up to EK8_T tokens at a
 * time, so each block is decoded once per EK8_T tokens. */
#include <string.h>

#include "eng_kernels.h"

#define EK8_BLOCK 32
#define EK8_BYTES 34
#define EK8_T 16

size_t ek_row_bytes(ek_dtype_t dt, size_t cols)
{
    if (dt == EK_Q8_0)
        return cols / EK8_BLOCK * EK8_BYTES;
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

static void ek8_task(void *ctx, int i, int n, int tid)
{
    ek8_job_t *j = ctx;
    long lo, hi;
    (void)tid;
    ep_range(j->w->rows, i, n, 16, &lo, &hi);
    if (lo < hi)
        ek8_rows(j, lo, hi);
}

void ek_q8_matmul(ep_pool_t *pool, const ek_mat_t *w, const float *bias, const float *x, int T,
                  float *out, int ldo, int accumulate)
{
    ek8_job_t j = { w, bias, x, T, out, ldo, accumulate };
    long blocks = (w->rows + 15) / 16, chunks = 8l * ep_threads(pool);
    if ((long)w->rows * w->cols * T < 32768)
        chunks = 1;
    ep_run(pool, (int)(blocks < chunks ? blocks : chunks), ek8_task, &j);
}
