/* eng_kernels_q_avx2.c — AVX2/FMA rows of the MLX affine-quantized product (dispatched by
 * eng_kernels_q.c, whose comment describes the permuted input xp).
 *
 * Bits 2, 4, 8 with xp: each 8 bytes of codes are zero-extended to 8 lanes once; phase ph's
 * codes are (lanes >> ph*bits) & mask, converted to f32. One token (decode): fused per
 * group, acc += scale * sum(xp * q), plus bias * sum(x over the group) at the end. Several
 * tokens (prefill): a tile of the row is dequantized (scale * q + bias, permuted order) and
 * dotted with each token's xp. Bits 3, 5, 6 (or no xp): portable dequantization of a tile,
 * AVX2 dots in natural order. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "eng_kernels_isa.h"

#define TGT __attribute__((target("avx2,fma,f16c")))
#define INL static inline __attribute__((always_inline, target("avx2,fma,f16c")))

#define EKQ_TILE 1024

INL float qa_hsum(__m256 v)
{
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    __m128 sh = _mm_movehdup_ps(lo);
    lo = _mm_add_ps(lo, sh);
    sh = _mm_movehl_ps(sh, lo);
    return _mm_cvtss_f32(_mm_add_ss(lo, sh));
}

INL float qa_sb(const void *p, ek_dtype_t dt, size_t i)
{
    switch (dt) {
    case EK_F16: return ek_f16_to_f32(((const uint16_t *)p)[i]);
    case EK_BF16: return ek_bf16_to_f32(((const uint16_t *)p)[i]);
    default: return ((const float *)p)[i];
    }
}

INL float qa_dot(const float *a, const float *b, int n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int k = 0;
    for (; k + 16 <= n; k += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8), _mm256_loadu_ps(b + k + 8), s1);
    }
    for (; k + 8 <= n; k += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), s0);
    float s = qa_hsum(_mm256_add_ps(s0, s1));
    for (; k < n; k++)
        s += a[k] * b[k];
    return s;
}

/* Codes of phase ph of one zero-extended 8-byte block, as f32. */
INL __m256 qa_phase(__m256i v, int B, int ph)
{
    __m256i q = _mm256_srli_epi32(v, ph * B);
    if ((ph + 1) * B < 8)
        q = _mm256_and_si256(q, _mm256_set1_epi32((1 << B) - 1));
    return _mm256_cvtepi32_ps(q);
}

/* One token: rows [r0, r1), B bits, G group (compile-time constants after inlining). */
INL void qa_fused(const ek_mat_t *w, const float *bias, const float *xp, const float *xs, float *out,
                  int accumulate, int r0, int r1, const int B, const int G)
{
    const int K = w->cols, ng = K / G, per = 8 / B;
    const int gbytes = G * B / 8, nblk = gbytes / 8;
    const size_t rb = (size_t)K * B / 8;
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)w->data + (size_t)r * rb;
        const size_t sb0 = (size_t)r * ng;
        __m256 acc = _mm256_setzero_ps();
        float bsum = 0;
        for (int g = 0; g < ng; g++) {
            const uint8_t *p = row + (size_t)g * gbytes;
            const float *xg = xp + (size_t)g * G;
            __m256 d0 = _mm256_setzero_ps(), d1 = _mm256_setzero_ps();
            for (int b = 0; b < nblk; b++) {
                __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 8 * b)));
                for (int ph = 0; ph < per; ph++) {
                    __m256 q = qa_phase(v, B, ph);
                    __m256 xv = _mm256_loadu_ps(xg + b * 8 * per + ph * 8);
                    if ((b * per + ph) & 1)
                        d1 = _mm256_fmadd_ps(q, xv, d1);
                    else
                        d0 = _mm256_fmadd_ps(q, xv, d0);
                }
            }
            acc = _mm256_fmadd_ps(_mm256_set1_ps(qa_sb(w->scales, w->sdt, sb0 + g)), _mm256_add_ps(d0, d1),
                                  acc);
            bsum += qa_sb(w->biases, w->sdt, sb0 + g) * xs[g];
        }
        float y = qa_hsum(acc) + bsum + (bias ? bias[r] : 0.0f);
        out[r] = accumulate ? out[r] + y : y;
    }
}

/* Dequantize elements [k0, k0 + n) of row r into tile, permuted like xp. */
INL void qa_dequant_perm(const ek_mat_t *w, int r, int k0, int n, float *tile, const int B)
{
    const int G = w->group, ng = w->cols / G, per = 8 / B;
    const size_t rb = (size_t)w->cols * B / 8;
    const uint8_t *row = (const uint8_t *)w->data + (size_t)r * rb;
    for (int k = k0; k < k0 + n; k += 8 * per) {
        int g = k / G;
        __m256 s = _mm256_set1_ps(qa_sb(w->scales, w->sdt, (size_t)r * ng + g));
        __m256 b = _mm256_set1_ps(qa_sb(w->biases, w->sdt, (size_t)r * ng + g));
        __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(row + (size_t)k * B / 8)));
        for (int ph = 0; ph < per; ph++)
            _mm256_storeu_ps(tile + (k - k0) + ph * 8, _mm256_fmadd_ps(s, qa_phase(v, B, ph), b));
    }
}

INL void qa_tiled(const ek_mat_t *w, const float *bias, const float *x, int T, float *out, int ldo,
                  int accumulate, int r0, int r1, float *tile, const int B)
{
    const int K = w->cols;
    for (int r = r0; r < r1; r++) {
        for (int t = 0; t < T; t++)
            if (!accumulate)
                out[(size_t)t * ldo + r] = 0.0f;
        for (int k0 = 0; k0 < K; k0 += EKQ_TILE) {
            int kn = K - k0 < EKQ_TILE ? K - k0 : EKQ_TILE;
            if (B)
                qa_dequant_perm(w, r, k0, kn, tile, B);
            else
                ek_q_dequant(tile, w, r, k0, kn);
            for (int t = 0; t < T; t++)
                out[(size_t)t * ldo + r] += qa_dot(x + (size_t)t * K + k0, tile, kn);
        }
        if (bias)
            for (int t = 0; t < T; t++)
                out[(size_t)t * ldo + r] += bias[r];
    }
}

#define QA_FUSED(B, G)                                                                          \
    static TGT void qa_fused_##B##_##G(const ek_mat_t *w, const float *bias, const float *xp,    \
                                       const float *xs, float *out, int acc, int r0, int r1)    \
    {                                                                                           \
        qa_fused(w, bias, xp, xs, out, acc, r0, r1, B, G);                                      \
    }
QA_FUSED(2, 32) QA_FUSED(2, 64) QA_FUSED(2, 128)
QA_FUSED(4, 32) QA_FUSED(4, 64) QA_FUSED(4, 128)
QA_FUSED(8, 32) QA_FUSED(8, 64) QA_FUSED(8, 128)

#define QA_TILED(B)                                                                             \
    static TGT void qa_tiled_##B(const ek_mat_t *w, const float *bias, const float *x, int T,    \
                                 float *out, int ldo, int acc, int r0, int r1, float *tile)      \
    {                                                                                           \
        qa_tiled(w, bias, x, T, out, ldo, acc, r0, r1, tile, B);                                \
    }
QA_TILED(0) QA_TILED(2) QA_TILED(4) QA_TILED(8)

typedef void (*qa_fused_fn)(const ek_mat_t *, const float *, const float *, const float *, float *, int,
                            int, int);

void ek_q_rows_avx2(const ek_mat_t *w, const float *bias, const float *x, const float *xp,
                    const float *xs, int T, float *out, int ldo, int accumulate, int r0, int r1,
                    float *tile)
{
    static const qa_fused_fn fused[3][3] = {
        { qa_fused_2_32, qa_fused_2_64, qa_fused_2_128 },
        { qa_fused_4_32, qa_fused_4_64, qa_fused_4_128 },
        { qa_fused_8_32, qa_fused_8_64, qa_fused_8_128 },
    };
    int bi = w->bits == 2 ? 0 : w->bits == 4 ? 1 : w->bits == 8 ? 2 : -1;
    int gi = w->group == 32 ? 0 : w->group == 64 ? 1 : 2;
    if (!xp || bi < 0) {
        qa_tiled_0(w, bias, x, T, out, ldo, accumulate, r0, r1, tile);
    } else if (T == 1) {
        fused[bi][gi](w, bias, xp, xs, out, accumulate, r0, r1);
    } else if (bi == 0) {
        qa_tiled_2(w, bias, xp, T, out, ldo, accumulate, r0, r1, tile);
    } else if (bi == 1) {
        qa_tiled_4(w, bias, xp, T, out, ldo, accumulate, r0, r1, tile);
    } else {
        qa_tiled_8(w, bias, xp, T, out, ldo, accumulate, r0, r1, tile);
    }
}

#else
typedef int ek_q_avx2_unused;
#endif
