/* hf_quant.h — the MLX quantization settings of a config.json (prefix hc_, with hf_config.h).
 *
 * mlx-lm writes "quantization": {"group_size": 64, "bits": 4, "mode": "affine", ...} (and the
 * same object as "quantization_config"), where extra keys are module paths overriding the
 * default: "model.layers.0.mlp.down_proj": {"group_size": 64, "bits": 6}, or false for a
 * module left unquantized. Only the affine mode is supported: bits in {2, 3, 4, 5, 6, 8},
 * group_size in {32, 64, 128}; mxfp4, mxfp8, nvfp4 and other methods (a "quant_method" key,
 * as GPTQ/AWQ write) are refused with a one-line reason. */
#ifndef HF_QUANT_H
#define HF_QUANT_H

#include <stddef.h>

typedef struct {
    char *module;               /* module path, e.g. "model.layers.0.mlp.down_proj" */
    int quantized;              /* 0: the override is false */
    int bits, group;
} hc_qover_t;

typedef struct {
    int present;                /* the config has a quantization section */
    int bits, group;            /* defaults */
    int n_over;
    hc_qover_t *over;           /* per-module overrides (malloc'd) */
} hc_quant_t;

/* Parse the quantization section of config.json text (absent: present = 0). 0, -EINVAL
 * (bad value), -ENOTSUP (a mode or method other than affine) or -ENOMEM; err names the key.
 * Free with hc_quant_free. */
int hc_quant_parse(const char *json, size_t len, hc_quant_t *q, char *err, size_t errlen);

/* Read and hc_quant_parse a config.json file. */
int hc_quant_load(const char *path, hc_quant_t *q, char *err, size_t errlen);

/* Bits and group size the config gives module (a path without ".weight"): 1 when the
 * module is to be quantized, 0 when not (no section, or an override of false). */
int hc_quant_for(const hc_quant_t *q, const char *module, int *bits, int *group);

/* Free the overrides (safe on a zeroed or failed hc_quant_t). */
void hc_quant_free(hc_quant_t *q);

#endif
