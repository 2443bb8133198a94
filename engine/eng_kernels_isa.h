/* eng_kernels_isa.h — internal: the per-ISA kernel table behind eng_kernels.h. */
#ifndef ENG_KERNELS_ISA_H
#define ENG_KERNELS_ISA_H

#include "eng_kernels.h"

/* One block of the matrix product: rows [r0, r1) of w for tokens [0, T), see ek_matmul. */
typedef void (*ek_mm_rows_fn)(const ek_mat_t *w, const float *bias, const float *x, int T,
                              float *out, int ldo, int accumulate, int r0, int r1);

typedef struct {
    const char *name;
    ek_mm_rows_fn mm_rows;
    float (*dot)(const float *a, const void *b, ek_dtype_t dt, int n);
    void (*axpy)(float *y, float a, const void *x, ek_dtype_t dt, int n);
    float (*dot_q8)(const float *a, const int8_t *q, int n);
    void (*axpy_q8)(float *y, float a, const int8_t *q, int n);
} ek_isa_t;

/* The AVX2/FMA/F16C kernels (eng_kernels_avx2.c); only call when the CPU has them. */
extern const ek_isa_t ek_isa_avx2;

/* The AVX-512F table (matrix product in AVX-512, the rest AVX2); only call on such CPUs. */
const ek_isa_t *ek_isa_avx512_make(void);

/* The quantized product (eng_kernels_q.c): ek_matmul for an EK_QAFF matrix; simd 0:
 * portable C, 1: the AVX2/FMA kernels, 2: AVX-512F for decode (only call on such CPUs). */
void ek_q_matmul(ep_pool_t *pool, const ek_mat_t *w, const float *bias, const float *x, int T,
                 float *out, int ldo, int accumulate, int simd);

/* ek_matmul_n when every product is EK_QAFF: one pool job for all (n <= 4). */
void ek_q_matmul_n(ep_pool_t *pool, int n, const ek_mat_t *const *w, const float *const *bias,
                   const float *x, int T, float *const *out, const int *ldo, int simd);

/* 1 when the AVX-512 decode kernel handles (bits, group): 4 and 8 bits, 2 bits with
 * groups of 64 or more. */
int ek_q_avx512_ok(int bits, int group);

/* AVX-512 rows of a one-token quantized product on x permuted per 16-byte block
 * (eng_kernels_q_avx512.c); only call on AVX-512F CPUs. */
void ek_q_rows_avx512(const ek_mat_t *w, const float *bias, const float *xp, const float *xs,
                      float *out, int accumulate, int r0, int r1);

/* AVX2 rows of a quantized product (eng_kernels_q_avx2.c), see eng_kernels_q.c. */
void ek_q_rows_avx2(const ek_mat_t *w, const float *bias, const float *x, const float *xp,
                    const float *xs, int T, float *out, int ldo, int accumulate, int r0, int r1,
                    float *tile);

#endif
