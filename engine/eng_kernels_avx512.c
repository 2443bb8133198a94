/* eng_kernels_avx512.c — AVX-512F matrix product (selected at run time by ek_init when the
 * CPU has AVX-512F; the f32/f16 attention helpers stay AVX2, the q8 ones are AVX-512).
 *
 * Same scheme as the AVX2 kernel with 16-wide vectors and twice the registers: a micro-
 * kernel of 4 weight rows x 6 tokens (24 accumulators of the 32 zmm registers), so each
 * widened weight vector feeds 6 fused multiply-adds. */
#if defined(__x86_64__)
#include <immintrin.h>

#include "eng_kernels_isa.h"

#define TGT __attribute__((target("avx512f,avx2,fma,f16c")))
#define INL static inline __attribute__((always_inline, target("avx512f,avx2,fma,f16c")))

INL __m512 z_load(const void *p, ek_dtype_t dt)
{
    switch (dt) {
    case EK_F16:
        return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
    case EK_BF16:
        return _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
    default:
        return _mm512_loadu_ps((const float *)p);
    }
}

INL float z_scalar(const void *row, ek_dtype_t dt, int k)
{
    switch (dt) {
    case EK_F16: return ek_f16_to_f32(((const uint16_t *)row)[k]);
    case EK_BF16: return ek_bf16_to_f32(((const uint16_t *)row)[k]);
    default: return ((const float *)row)[k];
    }
}

/* R rows starting at `row` (stride rb bytes) x C tokens starting at x (stride K). */
INL void z_block(ek_dtype_t dt, int R, int C, const char *row, size_t rb, const float *x, int K,
                 const float *bias, float *out, int ldo, int accumulate)
{
    const size_t es = dt == EK_F32 ? 4 : 2;
    __m512 acc[4][6];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            acc[r][c] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 16 <= K; k += 16) {
        for (int r = 0; r < R; r++) {
            __m512 w = z_load(row + r * rb + (size_t)k * es, dt);
            for (int c = 0; c < C; c++)
                acc[r][c] = _mm512_fmadd_ps(w, _mm512_loadu_ps(x + (size_t)c * K + k), acc[r][c]);
        }
    }
    for (int r = 0; r < R; r++) {
        for (int c = 0; c < C; c++) {
            float s = _mm512_reduce_add_ps(acc[r][c]);
            for (int kk = k; kk < K; kk++)
                s += z_scalar(row + r * rb, dt, kk) * x[(size_t)c * K + kk];
            if (bias)
                s += bias[r];
            float *o = out + (size_t)c * ldo + r;
            *o = accumulate ? *o + s : s;
        }
    }
}

#define Z_CASE(DT, R, C) z_block(DT, R, C, row, rb, xt, K, b, ot, ldo, accumulate)

#define Z_MM_ROWS(NAME, DT)                                                                  \
    static TGT void NAME(const ek_mat_t *w, const float *bias, const float *x, int T,        \
                         float *out, int ldo, int accumulate, int r0, int r1)                \
    {                                                                                        \
        const int K = w->cols;                                                               \
        const size_t rb = (size_t)K * (DT == EK_F32 ? 4 : 2);                                \
        int tile = (int)((384u * 1024u) / ((size_t)K * 4u));                                 \
        tile = tile < 6 ? 6 : tile - tile % 6;                                               \
        for (int t0 = 0; t0 < T; t0 += tile) {                                               \
            int t1 = t0 + tile < T ? t0 + tile : T;                                          \
            for (int r = r0; r < r1; r += 4) {                                               \
                int R = r1 - r < 4 ? r1 - r : 4;                                             \
                const char *row0 = (const char *)w->data + (size_t)r * rb;                   \
                for (int t = t0; t < t1;) {                                                  \
                    int C = t1 - t < 6 ? t1 - t : 6;                                         \
                    const float *xt = x + (size_t)t * K;                                     \
                    for (int rr = 0; rr < R; rr += (R == 4 ? 4 : 1)) {                       \
                        const char *row = row0 + rr * rb;                                    \
                        const float *b = bias ? bias + r + rr : NULL;                        \
                        float *ot = out + (size_t)t * ldo + r + rr;                          \
                        if (R == 4) {                                                        \
                            switch (C) {                                                     \
                            case 6: Z_CASE(DT, 4, 6); break;                                 \
                            case 5: Z_CASE(DT, 4, 5); break;                                 \
                            case 4: Z_CASE(DT, 4, 4); break;                                 \
                            case 3: Z_CASE(DT, 4, 3); break;                                 \
                            case 2: Z_CASE(DT, 4, 2); break;                                 \
                            default: Z_CASE(DT, 4, 1); break;                                \
                            }                                                                \
                        } else {                                                             \
                            for (int c = 0; c < C; c++) {                                    \
                                const float *xc = xt + (size_t)c * K;                        \
                                float *oc = ot + (size_t)c * ldo;                            \
                                z_block(DT, 1, 1, row, rb, xc, K, b, oc, ldo, accumulate);   \
                            }                                                                \
                        }                                                                    \
                    }                                                                        \
                    t += C;                                                                  \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    }

Z_MM_ROWS(z_mm_f32, EK_F32)
Z_MM_ROWS(z_mm_f16, EK_F16)
Z_MM_ROWS(z_mm_bf16, EK_BF16)

static void z_mm_rows(const ek_mat_t *w, const float *bias, const float *x, int T, float *out,
                      int ldo, int accumulate, int r0, int r1)
{
    switch (w->dt) {
    case EK_F16: z_mm_f16(w, bias, x, T, out, ldo, accumulate, r0, r1); break;
    case EK_BF16: z_mm_bf16(w, bias, x, T, out, ldo, accumulate, r0, r1); break;
    default: z_mm_f32(w, bias, x, T, out, ldo, accumulate, r0, r1); break;
    }
}

/* q8 KV groups, 16 codes per step (head_dim 64 / 128: 4 / 8 steps, no tail); shorter
 * groups and tails go to the AVX2 kernels. */
INL __m512 z_q8(const int8_t *q)
{
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)q)));
}

static TGT float z_dot_q8(const float *a, const int8_t *q, int n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int k = 0;
    for (; k + 32 <= n; k += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), z_q8(q + k), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k + 16), z_q8(q + k + 16), s1);
    }
    for (; k + 16 <= n; k += 16)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), z_q8(q + k), s0);
    float s = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
    if (k < n)
        s += ek_isa_avx2.dot_q8(a + k, q + k, n - k);
    return s;
}

static TGT void z_axpy_q8(float *y, float a, const int8_t *q, int n)
{
    __m512 va = _mm512_set1_ps(a);
    int i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, z_q8(q + i), _mm512_loadu_ps(y + i)));
    if (i < n)
        ek_isa_avx2.axpy_q8(y + i, a, q + i, n - i);
}

/* Matrix product and the q8 attention helpers in AVX-512; the f32/f16 dot/axpy (short
 * attention rows) from the AVX2 table. */
const ek_isa_t *ek_isa_avx512_make(void)
{
    static ek_isa_t t;
    t.name = "avx512";
    t.mm_rows = z_mm_rows;
    t.dot = ek_isa_avx2.dot;
    t.axpy = ek_isa_avx2.axpy;
    t.dot_q8 = z_dot_q8;
    t.axpy_q8 = z_axpy_q8;
    return &t;
}

#else
typedef int ek_avx512_unused;
#endif
