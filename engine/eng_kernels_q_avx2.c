/* eng_kernels_q_avx2.c — AVX2/FMA rows of the MLX affine-quantized product (dispatched by
 * eng_kernels_q.c, whose comment describes the permuted input xp).
 *
 * Bits 2, 4, 8 with xp: each 8 bytes of codes are zero-extended to 8 lanes once; phase ph's
 * codes are (lanes >> ph*bits) & mask, converted to f32. One token (decode): fused per
 * group, acc += scale * sum(xp * q), plus bias * sum(x over the group) at the end. Several
 * tokens (prefill): a tile of the row is dequantized (scale * q + bias, permuted order) and
 * dotted with each token's xp. Bits 3, 5, 6: a tile dequantized 8 codes at a time (two
 * broadcast words and a variable shift), AVX2 dots in natural order. No xp (out of memory):
 * portable dequantization of a tile. */
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

/* A scale or bias as f32, inline (a call here would spill the accumulators every group). */
INL float qa_sb(const void *p, ek_dtype_t dt, size_t i)
{
    switch (dt) {
    case EK_F16: return _cvtsh_ss(((const uint16_t *)p)[i]);
    case EK_BF16: {
        uint32_t u = (uint32_t)((const uint16_t *)p)[i] << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    default: return ((const float *)p)[i];
    }
}

/* Codes of phase ph of one zero-extended 8-byte block, as f32. */
INL __m256 qa_phase(__m256i v, int B, int ph)
{
    __m256i q = _mm256_srli_epi32(v, ph * B);
    if ((ph + 1) * B < 8)
        q = _mm256_and_si256(q, _mm256_set1_epi32((1 << B) - 1));
    return _mm256_cvtepi32_ps(q);
}

/* Codes u (0..3) of a step of 32: block u / per of the step's 8-byte blocks, phase u % per. */
#define QA_V(u) _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 8 * ((u) / per))))

/* One token: rows [r0, r1), B bits, G group (compile-time constants after inlining). A step
 * takes 32 codes (4 bytes per bit) into four independent accumulators. */
INL void qa_fused(const ek_mat_t *w, const float *bias, const float *xp, const float *xs, float *out,
                  int accumulate, int r0, int r1, const int B, const int G)
{
    const int K = w->cols, ng = K / G, per = 8 / B;
    const size_t rb = (size_t)K * B / 8;
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)w->data + (size_t)r * rb;
        const size_t sb0 = (size_t)r * ng;
        __m256 acc = _mm256_setzero_ps();
        float bsum = 0;
        for (int g = 0; g < ng; g++) {
            __m256 d0 = _mm256_setzero_ps(), d1 = _mm256_setzero_ps();
            __m256 d2 = _mm256_setzero_ps(), d3 = _mm256_setzero_ps();
            for (int st = 0; st < G / 32; st++) {
                const uint8_t *p = row + (size_t)g * (G * B / 8) + (size_t)st * 4 * B;
                const float *xs8 = xp + (size_t)g * G + st * 32;
                __m256i v0 = QA_V(0), v1 = per >= 2 ? v0 : QA_V(1);
                __m256i v2 = per >= 4 ? v0 : per == 2 ? QA_V(2) : QA_V(2);
                __m256i v3 = per >= 4 ? v0 : per == 2 ? v2 : QA_V(3);
                d0 = _mm256_fmadd_ps(qa_phase(v0, B, 0 % per), _mm256_loadu_ps(xs8), d0);
                d1 = _mm256_fmadd_ps(qa_phase(v1, B, 1 % per), _mm256_loadu_ps(xs8 + 8), d1);
                d2 = _mm256_fmadd_ps(qa_phase(v2, B, 2 % per), _mm256_loadu_ps(xs8 + 16), d2);
                d3 = _mm256_fmadd_ps(qa_phase(v3, B, 3 % per), _mm256_loadu_ps(xs8 + 24), d3);
            }
            __m256 dd = _mm256_add_ps(_mm256_add_ps(d0, d1), _mm256_add_ps(d2, d3));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(qa_sb(w->scales, w->sdt, sb0 + g)), dd, acc);
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

/* out[t] (+)= dot(x_t, tile) for NT tokens at once (x stride K). */
INL void qa_dot_n(const float *x, int K, const float *tile, int n, float *out, int ldo, const int NT)
{
    __m256 s0[4], s1[4];
    for (int t = 0; t < NT; t++)
        s0[t] = s1[t] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 16 <= n; k += 16) {
        __m256 w0 = _mm256_loadu_ps(tile + k), w1 = _mm256_loadu_ps(tile + k + 8);
        for (int t = 0; t < NT; t++) {
            s0[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + (size_t)t * K + k), s0[t]);
            s1[t] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + (size_t)t * K + k + 8), s1[t]);
        }
    }
    for (; k + 8 <= n; k += 8) {
        __m256 w0 = _mm256_loadu_ps(tile + k);
        for (int t = 0; t < NT; t++)
            s0[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + (size_t)t * K + k), s0[t]);
    }
    for (int t = 0; t < NT; t++) {
        float s = qa_hsum(_mm256_add_ps(s0[t], s1[t]));
        for (int kk = k; kk < n; kk++)
            s += x[(size_t)t * K + kk] * tile[kk];
        out[(size_t)t * ldo] += s;
    }
}

/* Dequantize elements [k0, k0 + n) of row r into tile in natural order, for 3, 5, 6 bits:
 * 8 codes are B bytes; codes 0-3 sit in the low 4*B <= 24 bits, codes 4-7 in the next 4*B, so
 * two broadcast 32-bit words and one variable shift give the 8 codes in lane order. */
INL void qa_dequant_odd(const ek_mat_t *w, int r, int k0, int n, float *tile, const int B)
{
    const int G = w->group, ng = w->cols / G;
    const size_t rb = (size_t)w->cols * B / 8;
    const uint8_t *row = (const uint8_t *)w->data + (size_t)r * rb;
    const __m256i sh = _mm256_setr_epi32(0, B, 2 * B, 3 * B, 0, B, 2 * B, 3 * B);
    const __m256i mask = _mm256_set1_epi32((1 << B) - 1);
    for (int g = k0 / G; g < (k0 + n) / G; g++) {
        __m256 s = _mm256_set1_ps(qa_sb(w->scales, w->sdt, (size_t)r * ng + g));
        __m256 b = _mm256_set1_ps(qa_sb(w->biases, w->sdt, (size_t)r * ng + g));
        for (int k = g * G; k < (g + 1) * G; k += 8) {
            const uint8_t *pb = row + (size_t)k / 8 * B;
            uint32_t lo, hi;
            if (k + 8 < w->cols) {      /* two 4-byte loads (may read 2 bytes past the codes) */
                memcpy(&lo, pb, 4);
                memcpy(&hi, pb + 4 * B / 8, 4);
                hi >>= (4 * B) % 8;
            } else {                    /* the row's last 8 codes: exactly B bytes */
                uint64_t v = 0;
                for (int i = 0; i < B; i++)
                    v |= (uint64_t)pb[i] << (8 * i);
                lo = (uint32_t)v;
                hi = (uint32_t)(v >> (4 * B));
            }
            __m256i q = _mm256_set_m128i(_mm_set1_epi32((int)hi), _mm_set1_epi32((int)lo));
            q = _mm256_and_si256(_mm256_srlv_epi32(q, sh), mask);
            _mm256_storeu_ps(tile + (k - k0), _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(q), b));
        }
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
            if (B == 3 || B == 5 || B == 6)
                qa_dequant_odd(w, r, k0, kn, tile, B);
            else if (B)
                qa_dequant_perm(w, r, k0, kn, tile, B);
            else
                ek_q_dequant(tile, w, r, k0, kn);
            int t = 0;
            for (; t + 4 <= T; t += 4)
                qa_dot_n(x + (size_t)t * K + k0, K, tile, kn, out + (size_t)t * ldo + r, ldo, 4);
            for (; t < T; t++)
                qa_dot_n(x + (size_t)t * K + k0, K, tile, kn, out + (size_t)t * ldo + r, ldo, 1);
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
QA_TILED(0) QA_TILED(2) QA_TILED(3) QA_TILED(4) QA_TILED(5) QA_TILED(6) QA_TILED(8)

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
    if (w->bits == 3 || w->bits == 5 || w->bits == 6) {
        if (w->bits == 3)
            qa_tiled_3(w, bias, x, T, out, ldo, accumulate, r0, r1, tile);
        else if (w->bits == 5)
            qa_tiled_5(w, bias, x, T, out, ldo, accumulate, r0, r1, tile);
        else
            qa_tiled_6(w, bias, x, T, out, ldo, accumulate, r0, r1, tile);
    } else if (!xp || bi < 0) {
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
