/* eng_gguf.h — GGUF model files in the engine's weights view (prefix ew_gguf_).
 *
 * Architectures llama and qwen2; weight types F32, F16, BF16, Q8_0 (EK_Q8_0), Q4_0, Q4_K, Q6_K. See
 * eng_gguf.c for the tensor names and the llama q/k row order. */
#ifndef ENG_GGUF_H
#define ENG_GGUF_H

#include "eng_weights.h"

/* Fill m (zeroed, m->dir already the path) from the GGUF file path: metadata, tensors. 0 or
 * -errno with err naming the file and key or tensor; the caller closes m on failure. */
int ew_gguf_open(ew_model_t *m, const char *path, char *err, size_t errlen);

/* The config checks of eng_weights.c (shapes, heads, eps, rope); path names the source. */
int ew_check_config(const hc_config_t *c, const char *path, char *err, size_t errlen);

/* The config of the -m argument model: a GGUF model's metadata (path gets the .gguf path),
 * else model/config.json by hc_load (path gets that path). 0 or -errno with err. */
int ew_load_config(const char *model, hc_config_t *cfg, char *path, size_t pathlen, char *err, size_t errlen);

#endif
