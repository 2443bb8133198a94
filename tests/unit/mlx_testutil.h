/* mlx_testutil.h — an independent MLX affine quantizer for the tests: random codes, scales
 * and biases packed the way mlx writes them, and tiny model folders (quantized with any
 * per-module bits/group, plus their dequantized f32 twin). */
#ifndef MLX_TESTUTIL_H
#define MLX_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "eng_kernels.h"

/* A random quantized matrix [rows][cols]: codes q, packed bytes, scales/biases stored in
 * sdt (values exactly representable), and the dequantized f32 weights w = s*q + b. */
typedef struct {
    int rows, cols, bits, group;
    ek_dtype_t sdt;
    uint8_t *q;                 /* [rows*cols] codes */
    uint8_t *packed;            /* rows * cols*bits/8 bytes */
    void *scales, *biases;      /* [rows][cols/group] in sdt */
    float *w;                   /* [rows*cols] dequantized */
} mtu_qmat_t;

/* Fill m with random content (seeded); fails the test on allocation errors. */
void mtu_qmat_make(mtu_qmat_t *m, int rows, int cols, int bits, int group, ek_dtype_t sdt,
                   uint64_t seed);

/* Free a mtu_qmat_t. */
void mtu_qmat_free(mtu_qmat_t *m);

/* Pack codes q[0..n) of `bits` bits the way mlx does (2/4/8: element k of a u32 word at
 * bits [k*bits, (k+1)*bits); 3/5: 8 elements in 3/5 bytes; 6: 4 elements in 3 bytes). */
void mtu_pack(const uint8_t *q, size_t n, int bits, uint8_t *out);

/* A module's quantization in a tiny model: bits 0 = not quantized (f32 weight). */
typedef struct {
    const char *module;         /* e.g. "model.layers.0.mlp.down_proj" */
    int bits, group;
    ek_dtype_t sdt;
} mtu_qspec_t;

/* Write a tiny random llama model (hidden 128, ffn 256, 4 heads / 2 kv of 32, 2 layers,
 * vocab 256) twice: qdir quantized as specs say (every other matrix and the embedding
 * default_bits/default_group, bf16), with config.json's quantization section listing the
 * specs as per-module overrides, and fdir holding the same dequantized weights as f32. */
void mtu_write_models(const char *qdir, const char *fdir, int default_bits, int default_group,
                      const mtu_qspec_t *specs, int n_specs, uint64_t seed);

#endif
