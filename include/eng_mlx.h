/* eng_mlx.h — MLX affine-quantized (mlx-community) matrices in a model folder (prefix ew_q_).
 *
 * A quantized Linear or Embedding P is stored as P.weight (U32 [out, in*bits/32]), P.scales
 * and P.biases (f32, f16 or bf16, [out, in/group]); it is quantized exactly when P.scales
 * exists. bits and group come from config.json's quantization section (hf_quant.h) and must
 * match the shapes exactly. */
#ifndef ENG_MLX_H
#define ENG_MLX_H

#include "eng_weights.h"

/* Fill t for the U32 tensor s (in file f) as the MLX-quantized weight of logical shape
 * [rows, cols], finding and checking its .scales and .biases. 0, -EINVAL (shapes, config),
 * -ENOENT (missing scales/biases) or -ENOTSUP; err names the tensor. */
int ew_q_find(ew_model_t *m, int f, const st_tensor_t *s, ew_tensor_t *t, int rows, int cols,
              char *err, size_t errlen);

/* For an unquantized weight called name ("P.weight"): -EINVAL when P.scales exists. */
int ew_q_check_plain(ew_model_t *m, const char *name, char *err, size_t errlen);

/* Rows [row, row + n) of a quantized tensor, dequantized to f32 into dst (n*cols floats). */
int ew_q_read_rows(ew_model_t *m, const ew_tensor_t *t, int row, int n, float *dst, char *err,
                   size_t errlen);

/* Bytes of a matrix as read by the loader: the tensor plus, when quantized, its scales and
 * biases. */
uint64_t ew_q_bytes(const ew_tensor_t *t);

#endif
