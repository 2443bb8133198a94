/* eng_kernels_q.c — MLX affine-quantized weights: dequantization, the portable matrix
 * product, and the dispatch to the AVX2 kernels (eng_kernels_q_avx2.c).
 *
 * Format (mlx/backend/cpu/quantized.cpp): a row of `cols` codes of `bits` bits is packed
 * LSB first into cols*bits/8 bytes — for 2, 4 and 8 bits, element k of a 32-bit word sits at
 * bits [k*bits, (k+1)*bits); for 3 and 5 bits, 8 elements fill 3 or 5 bytes, for 6 bits 4
 * elements fill 3 bytes; in every case element k is at bit k*bits of the little-endian byte
 * stream. w = scale * q + bias with one (scale, bias) per group of `group` elements.
 *
 * The portable product dequantizes a row tile of up to EKQ_TILE elements to f32 and dots it
 * with every token. The AVX2 product (bits 2, 4, 8) works on x permuted to the order the
 * codes come out of a byte: for each block of 8 bytes (8*per elements, per = 8/bits),
 * xp[ph*8 + j] = x[j*per + ph], so that one zero-extension of 8 bytes to 8 lanes and a shift
 * by ph*bits give the codes of phase ph in lane order. Decode (one token) is fused:
 * sum_k x_k w_k = sum_groups scale * (sum x_k q_k) + bias * (sum x_k). */
#include <stdlib.h>
#include <string.h>

#include "eng_kernels.h"
#include "eng_kernels_isa.h"

#define EKQ_TILE 1024           /* a multiple of every group size */

int ek_q_supported(int bits, int group)
{
    return (bits == 2 || bits == 3 || bits == 4 || bits == 5 || bits == 6 || bits == 8) &&
           (group == 32 || group == 64 || group == 128);
}

static inline float ekq_sb(const void *p, ek_dtype_t dt, size_t i)
{
    switch (dt) {
    case EK_F16: return ek_f16_to_f32(((const uint16_t *)p)[i]);
    case EK_BF16: return ek_bf16_to_f32(((const uint16_t *)p)[i]);
    default: return ((const float *)p)[i];
    }
}

/* Code k of a packed row of rb bytes. */
static inline uint32_t ekq_code(const uint8_t *row, size_t rb, int bits, long k)
{
    uint64_t bit = (uint64_t)k * (uint64_t)bits;
    size_t i = (size_t)(bit >> 3);
    unsigned sh = (unsigned)(bit & 7);
    uint32_t v = row[i];
    if (sh + (unsigned)bits > 8 && i + 1 < rb)
        v |= (uint32_t)row[i + 1] << 8;
    return (v >> sh) & ((1u << bits) - 1);
}

void ek_q_dequant(float *dst, const ek_mat_t *w, int r, int k0, int n)
{
    const int G = w->group, ng = w->cols / G;
    const size_t rb = (size_t)w->cols * (size_t)w->bits / 8;
    const uint8_t *row = (const uint8_t *)w->data + (size_t)r * rb;
    for (int g = k0 / G; g < (k0 + n) / G; g++) {
        float s = ekq_sb(w->scales, w->sdt, (size_t)r * ng + g);
        float b = ekq_sb(w->biases, w->sdt, (size_t)r * ng + g);
        for (int j = 0; j < G; j++) {
            long k = (long)g * G + j;
            dst[k - k0] = s * (float)ekq_code(row, rb, w->bits, k) + b;
        }
    }
}

static float ekq_dot(const float *a, const float *b, int n)
{
    float s[4] = { 0, 0, 0, 0 };
    int k = 0;
    for (; k + 4 <= n; k += 4)
        for (int j = 0; j < 4; j++)
            s[j] += a[k + j] * b[k + j];
    for (; k < n; k++)
        s[0] += a[k] * b[k];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

static void ekq_rows_portable(const ek_mat_t *w, const float *bias, const float *x, int T, float *out,
                              int ldo, int accumulate, int r0, int r1, float *tile)
{
    const int K = w->cols;
    for (int r = r0; r < r1; r++) {
        for (int t = 0; t < T; t++)
            if (!accumulate)
                out[(size_t)t * ldo + r] = 0.0f;
        for (int k0 = 0; k0 < K; k0 += EKQ_TILE) {
            int kn = K - k0 < EKQ_TILE ? K - k0 : EKQ_TILE;
            ek_q_dequant(tile, w, r, k0, kn);
            for (int t = 0; t < T; t++)
                out[(size_t)t * ldo + r] += ekq_dot(x + (size_t)t * K + k0, tile, kn);
        }
        if (bias)
            for (int t = 0; t < T; t++)
                out[(size_t)t * ldo + r] += bias[r];
    }
}

typedef struct {
    const ek_mat_t *w;
    const float *bias, *x, *xp, *xs;
    int T;
    float *out;
    int ldo, accumulate, simd;
    int wide;                   /* xp is permuted per 16-byte block: the AVX-512 decode kernel */
} ekq_job_t;

static void ekq_task(void *ctx, int i, int n, int tid)
{
    ekq_job_t *j = ctx;
    long lo, hi;
    float tile[EKQ_TILE] __attribute__((aligned(32)));
    (void)tid;
    ep_range(j->w->rows, i, n, 16, &lo, &hi);
    if (lo >= hi)
        return;
#if defined(__x86_64__)
    if (j->wide) {
        ek_q_rows_avx512(j->w, j->bias, j->xp, j->xs, j->out, j->accumulate, (int)lo, (int)hi);
        return;
    }
    if (j->simd) {
        ek_q_rows_avx2(j->w, j->bias, j->x, j->xp, j->xs, j->T, j->out, j->ldo, j->accumulate, (int)lo,
                       (int)hi, tile);
        return;
    }
#endif
    ekq_rows_portable(j->w, j->bias, j->x, j->T, j->out, j->ldo, j->accumulate, (int)lo, (int)hi, tile);
}

/* x permuted per block of vb (8 or 16) bytes of codes (see the file comment), and the sums
 * of x over each group; NULL when out of memory (the kernels then take the unpermuted path). */
static float *ekq_prepare(const ek_mat_t *w, const float *x, int T, int vb, float **xs_out)
{
    const int K = w->cols, G = w->group, ng = K / G, per = 8 / w->bits, blk = vb * per;
    *xs_out = NULL;
    float *xp = malloc(((size_t)T * K + (size_t)T * ng) * sizeof(float));
    if (!xp)
        return NULL;
    float *xs = xp + (size_t)T * K;
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * K;
        float *pt = xp + (size_t)t * K;
        for (int b0 = 0; b0 < K; b0 += blk)
            for (int ph = 0; ph < per; ph++)
                for (int j = 0; j < vb; j++)
                    pt[b0 + ph * vb + j] = xt[b0 + j * per + ph];
        for (int g = 0; g < ng; g++) {
            float s = 0;
            for (int k = 0; k < G; k++)
                s += xt[(size_t)g * G + k];
            xs[(size_t)t * ng + g] = s;
        }
    }
    *xs_out = xs;
    return xp;
}

/* Decode on an AVX-512 CPU with a (bits, group) its kernel handles: the wide layout. */
static void ekq_plan(ekq_job_t *j)
{
#if defined(__x86_64__)
    j->wide = j->simd == 2 && j->T == 1 && ek_q_avx512_ok(j->w->bits, j->w->group);
#else
    j->wide = 0;
#endif
}

typedef struct {
    int n;
    ekq_job_t part[4];
    int first[5];               /* chunk index where product i starts */
} ekq_njob_t;

static void ekq_ntask(void *ctx, int c, int nc, int tid)
{
    ekq_njob_t *j = ctx;
    (void)nc;
    int i = 0;
    while (c >= j->first[i + 1])
        i++;
    ekq_task(&j->part[i], c - j->first[i], j->first[i + 1] - j->first[i], tid);
}

void ek_q_matmul_n(ep_pool_t *pool, int n, const ek_mat_t *const *w, const float *const *bias,
                   const float *x, int T, float *const *out, const int *ldo, int simd)
{
    ekq_njob_t j;
    float *xp[4] = { NULL, NULL, NULL, NULL };
    j.n = n < 4 ? n : 4;
    j.first[0] = 0;
    long per = 8l * ep_threads(pool);
    for (int i = 0; i < j.n; i++) {
        ekq_job_t p = { w[i], bias ? bias[i] : NULL, x, NULL, NULL, T, out[i], ldo[i], 0, simd, 0 };
        float *xs = NULL;
        ekq_plan(&p);
        if (simd && (w[i]->bits == 2 || w[i]->bits == 4 || w[i]->bits == 8))
            xp[i] = ekq_prepare(w[i], x, T, p.wide ? 16 : 8, &xs);
        if (!xp[i])
            p.wide = 0;
        p.xp = xp[i];
        p.xs = xs;
        j.part[i] = p;
        long blocks = (w[i]->rows + 15) / 16;
        j.first[i + 1] = j.first[i] + (int)(blocks < per ? blocks : per);
    }
    ep_run(pool, j.first[j.n], ekq_ntask, &j);
    for (int i = 0; i < j.n; i++)
        free(xp[i]);
}

void ek_q_matmul(ep_pool_t *pool, const ek_mat_t *w, const float *bias, const float *x, int T,
                 float *out, int ldo, int accumulate, int simd)
{
    ekq_job_t j = { w, bias, x, NULL, NULL, T, out, ldo, accumulate, simd, 0 };
    float *xp = NULL, *xs = NULL;
    ekq_plan(&j);
    if (simd && (w->bits == 2 || w->bits == 4 || w->bits == 8))
        xp = ekq_prepare(w, x, T, j.wide ? 16 : 8, &xs);
    if (!xp)
        j.wide = 0;
    j.xp = xp;
    j.xs = xs;
    long blocks = (w->rows + 15) / 16, chunks = 8l * ep_threads(pool);
    if ((long)w->rows * w->cols * T < 32768)
        chunks = 1;
    ep_run(pool, (int)(blocks < chunks ? blocks : chunks), ekq_task, &j);
    free(xp);
}
