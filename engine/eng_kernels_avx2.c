/* eng_kernels_avx2.c — AVX2 + FMA + F16C kernels (selected at run time by ek_init).
 *
 * Matrix product micro-kernel: R weight rows x C tokens of 8-wide partial sums
 * (R*C accumulators, at most 4 x 3 = 12 of the 16 ymm registers). Each step widens
 * 8 weights per row to f32 (bf16: zero-extend to 32 bits and shift left 16; f16:
 * vcvtph2ps) and does R*C fused multiply-adds against the tokens' inputs, which the
 * compiler folds in as memory operands. Horizontal sums at the end of a row. Tokens are
 * walked in tiles small enough to stay in L2 while a thread sweeps its rows. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "eng_kernels_isa.h"

#define TGT __attribute__((target("avx2,fma,f16c")))
#define INL static inline __attribute__((always_inline, target("avx2,fma,f16c")))

INL __m256 av_load(const void *p, ek_dtype_t dt)
{
    switch (dt) {
    case EK_F16:
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    case EK_BF16:
        return _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
    default:
        return _mm256_loadu_ps((const float *)p);
    }
}

INL float av_hsum(__m256 v)
{
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    __m128 sh = _mm_movehdup_ps(lo);
    lo = _mm_add_ps(lo, sh);
    sh = _mm_movehl_ps(sh, lo);
    return _mm_cvtss_f32(_mm_add_ss(lo, sh));
}

INL float av_scalar(const void *row, ek_dtype_t dt, int k)
{
    switch (dt) {
    case EK_F16: return ek_f16_to_f32(((const uint16_t *)row)[k]);
    case EK_BF16: return ek_bf16_to_f32(((const uint16_t *)row)[k]);
    default: return ((const float *)row)[k];
    }
}

/* R rows starting at `row` (stride rb bytes) x C tokens starting at x (stride K). */
INL void av_block(ek_dtype_t dt, int R, int C, const char *row, size_t rb, const float *x,
                  int K, const float *bias, float *out, int ldo, int accumulate)
{
    const size_t es = dt == EK_F32 ? 4 : 2;
    __m256 acc[4][3];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            acc[r][c] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        for (int r = 0; r < R; r++) {
            __m256 w = av_load(row + r * rb + (size_t)k * es, dt);
            for (int c = 0; c < C; c++)
                acc[r][c] = _mm256_fmadd_ps(w, _mm256_loadu_ps(x + (size_t)c * K + k), acc[r][c]);
        }
    }
    for (int r = 0; r < R; r++) {
        for (int c = 0; c < C; c++) {
            float s = av_hsum(acc[r][c]);
            for (int kk = k; kk < K; kk++)
                s += av_scalar(row + r * rb, dt, kk) * x[(size_t)c * K + kk];
            if (bias)
                s += bias[r];
            float *o = out + (size_t)c * ldo + r;
            *o = accumulate ? *o + s : s;
        }
    }
}

/* One specialisation per dtype so that av_block's loops are fully unrolled. */
#define AV_MM_ROWS(NAME, DT)                                                                 \
    static TGT void NAME(const ek_mat_t *w, const float *bias, const float *x, int T,        \
                         float *out, int ldo, int accumulate, int r0, int r1)                \
    {                                                                                        \
        const int K = w->cols;                                                               \
        const size_t rb = (size_t)K * (DT == EK_F32 ? 4 : 2);                                \
        int tile = (int)((256u * 1024u) / ((size_t)K * 4u));                                 \
        tile = tile < 3 ? 3 : tile - tile % 3;                                               \
        for (int t0 = 0; t0 < T; t0 += tile) {                                               \
            int t1 = t0 + tile < T ? t0 + tile : T;                                          \
            int r = r0;                                                                      \
            for (; r < r1; r += 4) {                                                         \
                int R = r1 - r < 4 ? r1 - r : 4;                                             \
                const char *row = (const char *)w->data + (size_t)r * rb;                    \
                const float *b = bias ? bias + r : NULL;                                     \
                for (int t = t0; t < t1;) {                                                  \
                    int C = t1 - t < 3 ? t1 - t : 3;                                         \
                    const float *xt = x + (size_t)t * K;                                     \
                    float *ot = out + (size_t)t * ldo + r;                                   \
                    if (R == 4) {                                                            \
                        if (C == 3) av_block(DT, 4, 3, row, rb, xt, K, b, ot, ldo, accumulate); \
                        else if (C == 2) av_block(DT, 4, 2, row, rb, xt, K, b, ot, ldo, accumulate); \
                        else av_block(DT, 4, 1, row, rb, xt, K, b, ot, ldo, accumulate);     \
                    } else {                                                                 \
                        for (int rr = 0; rr < R; rr++)                                       \
                            for (int c = 0; c < C; c++)                                      \
                                av_block(DT, 1, 1, row + rr * rb, rb, xt + (size_t)c * K, K, \
                                         b ? b + rr : NULL, ot + (size_t)c * ldo + rr, ldo,  \
                                         accumulate);                                        \
                    }                                                                        \
                    t += C;                                                                  \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    }

AV_MM_ROWS(av_mm_f32, EK_F32)
AV_MM_ROWS(av_mm_f16, EK_F16)
AV_MM_ROWS(av_mm_bf16, EK_BF16)

static void av_mm_rows(const ek_mat_t *w, const float *bias, const float *x, int T, float *out,
                       int ldo, int accumulate, int r0, int r1)
{
    switch (w->dt) {
    case EK_F16: av_mm_f16(w, bias, x, T, out, ldo, accumulate, r0, r1); break;
    case EK_BF16: av_mm_bf16(w, bias, x, T, out, ldo, accumulate, r0, r1); break;
    default: av_mm_f32(w, bias, x, T, out, ldo, accumulate, r0, r1); break;
    }
}

/* ---- attention helpers: dot and axpy against f32 or f16 rows ---------------------- */

static TGT float av_dot(const float *a, const void *b, ek_dtype_t dt, int n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    const size_t es = dt == EK_F32 ? 4 : 2;
    const char *bb = b;
    int k = 0;
    if (dt == EK_F16) {
        for (; k + 16 <= n; k += 16) {
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), av_load(bb + k * es, EK_F16), s0);
            s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8), av_load(bb + (k + 8) * es, EK_F16), s1);
        }
        for (; k + 8 <= n; k += 8)
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), av_load(bb + k * es, EK_F16), s0);
    } else {
        for (; k + 16 <= n; k += 16) {
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), av_load(bb + k * es, dt), s0);
            s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8), av_load(bb + (k + 8) * es, dt), s1);
        }
        for (; k + 8 <= n; k += 8)
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), av_load(bb + k * es, dt), s0);
    }
    float s = av_hsum(_mm256_add_ps(s0, s1));
    for (; k < n; k++)
        s += a[k] * av_scalar(b, dt, k);
    return s;
}

static TGT void av_axpy(float *y, float a, const void *x, ek_dtype_t dt, int n)
{
    const size_t es = dt == EK_F32 ? 4 : 2;
    const char *xb = x;
    __m256 va = _mm256_set1_ps(a);
    int i = 0;
    if (dt == EK_F16) {
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, av_load(xb + i * es, EK_F16),
                                                    _mm256_loadu_ps(y + i)));
    } else {
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, av_load(xb + i * es, dt),
                                                    _mm256_loadu_ps(y + i)));
    }
    for (; i < n; i++)
        y[i] += a * av_scalar(x, dt, i);
}

/* q8 KV groups: 8 codes sign-extended to 32 bits and converted to f32 per step. */
INL __m256 av_q8(const int8_t *q)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)q)));
}

static TGT float av_dot_q8(const float *a, const int8_t *q, int n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int k = 0;
    for (; k + 16 <= n; k += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), av_q8(q + k), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8), av_q8(q + k + 8), s1);
    }
    for (; k + 8 <= n; k += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), av_q8(q + k), s0);
    float s = av_hsum(_mm256_add_ps(s0, s1));
    for (; k < n; k++)
        s += a[k] * (float)q[k];
    return s;
}

static TGT void av_axpy_q8(float *y, float a, const int8_t *q, int n)
{
    __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, av_q8(q + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * (float)q[i];
}

const ek_isa_t ek_isa_avx2 = { "avx2", av_mm_rows, av_dot, av_axpy, av_dot_q8, av_axpy_q8 };

#else
typedef int ek_avx2_unused;
#endif
