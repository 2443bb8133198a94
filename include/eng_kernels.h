/* eng_kernels.h — the engine's numeric kernels (prefix ek_).
 *
 * Everything computes in f32. Weights stay in their stored dtype (f32, f16 or bf16) and
 * are widened to f32 on the fly inside the kernels. Hot kernels have an AVX2/FMA/F16C
 * version chosen at run time (__builtin_cpu_supports) and a portable C version. */
#ifndef ENG_KERNELS_H
#define ENG_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "eng_pool.h"

/* EK_QAFF: MLX affine-quantized weights (see eng_kernels_q.c), only in ek_mat_t.
 * EK_Q8_0: GGUF Q8_0 (eng_kernels_q8.c), only in ek_mat_t: a row is cols/32 blocks of 34
 * bytes, an f16 scale d then 32 int8 q, w = d * q. EK_Q4_0, EK_Q4_K, EK_Q6_K: GGUF block types
 * (eng_kernels_gq.c), only in ek_mat_t, dequantized to f32 by row. */
typedef enum { EK_F32 = 0, EK_F16 = 1, EK_BF16 = 2, EK_QAFF = 3, EK_Q8_0 = 4, EK_Q4_0 = 5, EK_Q4_K = 6,
               EK_Q6_K = 7 } ek_dtype_t;

/* A row-major weight matrix [rows][cols] in its stored dtype. For EK_QAFF, row r is
 * cols*bits/8 bytes of `bits`-bit codes q packed LSB first (element k at bits
 * [k*bits, (k+1)*bits) of the row's little-endian byte stream), and scales / biases are
 * [rows][cols/group] in sdt (f32, f16 or bf16): w[r][k] = scale*q + bias of k's group. */
typedef struct {
    const void *data;
    ek_dtype_t dt;
    int rows;
    int cols;
    const void *scales, *biases;   /* EK_QAFF only */
    ek_dtype_t sdt;
    int bits, group;
} ek_mat_t;

/* Pick the kernel set: the best the CPU supports, or portable C when portable != 0.
 * Called implicitly on first use; call again to switch (tests compare both). */
void ek_init(int portable);

/* Name of the kernel set in use: "avx2" or "portable". */
const char *ek_isa(void);

/* Bytes per element of a dtype. */
size_t ek_dtype_size(ek_dtype_t dt);

/* Scalar conversions (exact widening; f32->f16 rounds to nearest even). */
float ek_bf16_to_f32(uint16_t h);
float ek_f16_to_f32(uint16_t h);
uint16_t ek_f32_to_f16(float f);

/* Widen n elements of dtype dt at src into dst. */
void ek_to_f32(float *dst, const void *src, ek_dtype_t dt, size_t n);

/* Matrix product on the pool: for t < T, r < w->rows:
 *   y = sum_k W[r][k] * x[t*cols + k] (+ bias[r] when bias != NULL)
 *   out[t*ldo + r] = y, or += y when accumulate != 0.
 * T == 1 is the decode matrix-vector product. */
void ek_matmul(ep_pool_t *pool, const ek_mat_t *w, const float *bias, const float *x, int T,
               float *out, int ldo, int accumulate);

/* n (<= 4) products of the same input in one pool job (fewer barriers in decode):
 * out[i][t*ldo[i] + r] = x W_i^T (+ bias[i]); bias may be NULL or hold NULLs. */
void ek_matmul_n(ep_pool_t *pool, int n, const ek_mat_t *const *w, const float *const *bias,
                 const float *x, int T, float *const *out, const int *ldo);

/* 1 when (bits, group) is an MLX affine combination the kernels handle: bits in
 * {2, 3, 4, 5, 6, 8}, group in {32, 64, 128}. */
int ek_q_supported(int bits, int group);

/* Dequantize elements [k0, k0 + n) of row r of an EK_QAFF matrix into dst (k0 and n
 * multiples of w->group, in range): dst[i] = scale * q + bias, in f32. */
void ek_q_dequant(float *dst, const ek_mat_t *w, int r, int k0, int n);

/* Bytes of one row of cols elements of dt (block types: cols a multiple of the block). */
size_t ek_row_bytes(ek_dtype_t dt, size_t cols);

/* Dequantize n Q8_0 elements (n a multiple of 32) from src into dst. */
void ek_q8_dequant(float *dst, const void *src, size_t n);

/* ek_matmul for an EK_Q8_0 matrix (called by ek_matmul). */
void ek_q8_matmul(ep_pool_t *pool, const ek_mat_t *w, const float *bias, const float *x, int T,
                  float *out, int ldo, int accumulate);

/* Elements and bytes per block of a GGUF block type (Q8_0, Q4_0, Q4_K, Q6_K): 1, else 0. */
int ek_gq_block(ek_dtype_t dt, int *elems, int *bytes);

/* Dequantize n elements (whole blocks) of GGUF block type dt from src into dst. */
void ek_gq_dequant(ek_dtype_t dt, float *dst, const void *src, size_t n);

/* ek_matmul for an EK_Q4_0 / EK_Q4_K / EK_Q6_K matrix: rows dequantized, f32 products. */
void ek_gq_matmul(ep_pool_t *pool, const ek_mat_t *w, const float *bias, const float *x, int T,
                  float *out, int ldo, int accumulate);

/* Dot product of a (f32) and b (f32 or f16 per dt) over n elements. */
float ek_dot(const float *a, const void *b, ek_dtype_t dt, int n);

/* y[i] += a * x[i] for x in f32 or f16 (per dt). */
void ek_axpy(float *y, float a, const void *x, ek_dtype_t dt, int n);

/* 8-bit KV cache (--kv q8): one group of n values as int8 codes q and one f32 scale,
 * x ~= scale * q. scale = max|x| / 127 (0 for an all-zero group), q = round-to-nearest-even
 * of x / scale clamped to [-127, 127]. A group with a non-finite value gets q 0 and a NaN
 * scale (the NaN reaches the logits as it would in f32). Returns the scale. */
float ek_q8_quant(int8_t *q, const float *x, int n);

/* Dot product of a (f32) and the codes q of a q8 group over n elements: sum a[i] * q[i]
 * (the caller multiplies by the group's scale). */
float ek_dot_q8(const float *a, const int8_t *q, int n);

/* y[i] += a * q[i] over n codes of a q8 group (the caller folds the scale into a). */
void ek_axpy_q8(float *y, float a, const int8_t *q, int n);

/* RMSNorm as in transformers: out = x * rsqrt(mean(x^2) + eps) * w (in place allowed). */
void ek_rmsnorm(float *out, const float *x, const float *w, int n, float eps);

/* Softmax in place over n values (max-subtracted). */
void ek_softmax(float *x, int n);

/* g[i] = silu(g[i]) * u[i], silu(v) = v / (1 + exp(-v)). */
void ek_silu_mul(float *g, const float *u, size_t n);

/* Rotary embedding, rotate-half layout, on n_heads heads of head_dim (even) values:
 * for i < d/2: (x_i, x_{i+d/2}) <- (x_i c_i - x_{i+d/2} s_i, x_{i+d/2} c_i + x_i s_i). */
void ek_rope(float *x, int n_heads, int head_dim, const float *cos_, const float *sin_);

#endif
