/* eng_kernels_q_avx512.c — AVX-512F decode (one token) of MLX affine-quantized rows, bits 2,
 * 4, 8 (dispatched by eng_kernels_q.c on AVX-512 CPUs unless FLASHGEN_ISA=avx2).
 *
 * Same scheme as the AVX2 kernel with 16 lanes: x is permuted per block of 16 bytes of codes
 * (xp[ph*16 + j] = x[j*per + ph], per = 8/bits), one zero-extension of 16 bytes gives 16
 * lanes, phase ph is (lanes >> ph*bits) & mask. A step takes 32 codes (2-bit: 64) into
 * independent accumulators; per group acc += scale * dot, plus bias * sum(x over the group). */
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "eng_kernels_isa.h"

#define TGT __attribute__((target("avx512f,avx2,fma,f16c")))
#define INL static inline __attribute__((always_inline, target("avx512f,avx2,fma,f16c")))

INL float qz_sb(const void *p, ek_dtype_t dt, size_t i)
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

INL __m512 qz_phase(__m512i v, int B, int ph)
{
    __m512i q = _mm512_srli_epi32(v, (unsigned)(ph * B));
    if ((ph + 1) * B < 8)
        q = _mm512_and_si512(q, _mm512_set1_epi32((1 << B) - 1));
    return _mm512_cvtepi32_ps(q);
}

#define QZ_V(off) _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + (off))))

INL void qz_fused(const ek_mat_t *w, const float *bias, const float *xp, const float *xs, float *out,
                  int accumulate, int r0, int r1, const int B, const int G)
{
    const int K = w->cols, ng = K / G, per = 8 / B;
    const int S = B == 2 ? 64 : 32;            /* codes per step */
    const size_t rb = (size_t)K * B / 8;
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = (const uint8_t *)w->data + (size_t)r * rb;
        const size_t sb0 = (size_t)r * ng;
        __m512 acc = _mm512_setzero_ps();
        float bsum = 0;
        for (int g = 0; g < ng; g++) {
            __m512 d0 = _mm512_setzero_ps(), d1 = _mm512_setzero_ps();
            __m512 d2 = _mm512_setzero_ps(), d3 = _mm512_setzero_ps();
            for (int st = 0; st < G / S; st++) {
                const uint8_t *p = row + (size_t)g * (G * B / 8) + (size_t)st * (S * B / 8);
                const float *x = xp + (size_t)g * G + st * S;
                if (per == 1) {         /* 8 bits: two blocks of 16 codes */
                    d0 = _mm512_fmadd_ps(qz_phase(QZ_V(0), B, 0), _mm512_loadu_ps(x), d0);
                    d1 = _mm512_fmadd_ps(qz_phase(QZ_V(16), B, 0), _mm512_loadu_ps(x + 16), d1);
                } else if (per == 2) {  /* 4 bits: one block, two phases */
                    __m512i v = QZ_V(0);
                    d0 = _mm512_fmadd_ps(qz_phase(v, B, 0), _mm512_loadu_ps(x), d0);
                    d1 = _mm512_fmadd_ps(qz_phase(v, B, 1 % per), _mm512_loadu_ps(x + 16), d1);
                } else {                /* 2 bits: one block, four phases */
                    __m512i v = QZ_V(0);
                    d0 = _mm512_fmadd_ps(qz_phase(v, B, 0), _mm512_loadu_ps(x), d0);
                    d1 = _mm512_fmadd_ps(qz_phase(v, B, 1 % per), _mm512_loadu_ps(x + 16), d1);
                    d2 = _mm512_fmadd_ps(qz_phase(v, B, 2 % per), _mm512_loadu_ps(x + 32), d2);
                    d3 = _mm512_fmadd_ps(qz_phase(v, B, 3 % per), _mm512_loadu_ps(x + 48), d3);
                }
            }
            __m512 dd = _mm512_add_ps(_mm512_add_ps(d0, d1), _mm512_add_ps(d2, d3));
            acc = _mm512_fmadd_ps(_mm512_set1_ps(qz_sb(w->scales, w->sdt, sb0 + g)), dd, acc);
            bsum += qz_sb(w->biases, w->sdt, sb0 + g) * xs[g];
        }
        float y = _mm512_reduce_add_ps(acc) + bsum + (bias ? bias[r] : 0.0f);
        out[r] = accumulate ? out[r] + y : y;
    }
}

#define QZ_FUSED(B, G)                                                                          \
    static TGT void qz_fused_##B##_##G(const ek_mat_t *w, const float *bias, const float *xp,    \
                                       const float *xs, float *out, int acc, int r0, int r1)    \
    {                                                                                           \
        qz_fused(w, bias, xp, xs, out, acc, r0, r1, B, G);                                      \
    }
QZ_FUSED(2, 64) QZ_FUSED(2, 128)
QZ_FUSED(4, 32) QZ_FUSED(4, 64) QZ_FUSED(4, 128)
QZ_FUSED(8, 32) QZ_FUSED(8, 64) QZ_FUSED(8, 128)

int ek_q_avx512_ok(int bits, int group)
{
    return bits == 4 || bits == 8 || (bits == 2 && group >= 64);
}

void ek_q_rows_avx512(const ek_mat_t *w, const float *bias, const float *xp, const float *xs,
                      float *out, int accumulate, int r0, int r1)
{
    const int gi = w->group == 32 ? 0 : w->group == 64 ? 1 : 2;
    switch (w->bits) {
    case 2:
        (gi == 1 ? qz_fused_2_64 : qz_fused_2_128)(w, bias, xp, xs, out, accumulate, r0, r1);
        break;
    case 4:
        (gi == 0 ? qz_fused_4_32 : gi == 1 ? qz_fused_4_64 : qz_fused_4_128)(w, bias, xp, xs, out, accumulate,
                                                                           r0, r1);
        break;
    default:
        (gi == 0 ? qz_fused_8_32 : gi == 1 ? qz_fused_8_64 : qz_fused_8_128)(w, bias, xp, xs, out, accumulate,
                                                                           r0, r1);
        break;
    }
}

#else
typedef int ek_q_avx512_unused;
#endif
