/* eng_model.h — the decoder-only transformer forward pass (prefix em_).
 *
 * Llama / Mistral / Qwen2 exactly as Hugging Face transformers computes them in f32:
 *   x = embed[token]
 *   per layer:  h = RMSNorm(x) ; q,k,v = h Wq^T (+bq), h Wk^T (+bk), h Wv^T (+bv)
 *               RoPE(q, k) (rotate-half) ; KV cache append
 *               a = softmax(q k^T / sqrt(head_dim) + causal mask) v   (GQA: heads share kv)
 *               x += a Wo^T (+bo)
 *               h = RMSNorm(x) ; x += (silu(h Wg^T) * (h Wu^T)) Wd^T
 *   logits = RMSNorm(x) Whead^T
 * Weights come through eng_loader (resident or streamed); the KV cache holds f32, f16 or q8
 * (int8 codes with one f32 scale per (position, kv head) group of head_dim values, see
 * ek_q8_quant; attention reads the codes directly; the last kv_window positions a token
 * attends to are read from an f16 ring instead). */
#ifndef ENG_MODEL_H
#define ENG_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "hf_config.h"

typedef struct em_model em_model_t;

typedef enum { EM_AUTO = 0, EM_RESIDENT, EM_STREAM } em_mode_t;

/* KV cache precision (--kv f32|f16|q8). */
#define EM_KV_WINDOW 128
typedef enum { EM_KV_F32 = 0, EM_KV_F16, EM_KV_Q8 } em_kv_t;

typedef struct {
    int n_threads;              /* compute threads (default 2 when 0) */
    int capacity;               /* KV cache positions (prompt + generated); required */
    em_kv_t kv;                 /* KV cache precision (default f32) */
    int kv_window;              /* q8: the most recent positions also kept in f16 and used
                                 * in that precision (0: EM_KV_WINDOW, < 0: none) */
    em_mode_t mode;             /* AUTO: resident unless ram is given and too small */
    uint64_t ram;               /* memory budget in bytes (0: none) */
    int max_batch;              /* prefill tokens per batch (default 128) */
    int portable;               /* force the portable C kernels */
    int hint;                   /* streaming from a flashfs mount: tell it each next layer */
} em_opts_t;

typedef struct {
    uint64_t load_ns;           /* em_open wall time */
    uint64_t model_bytes;       /* all units (weights the forward pass reads) */
    uint64_t resident_bytes;    /* units kept in memory */
    uint64_t fixed_bytes;       /* KV cache + activations + norms */
    uint64_t kv_bytes;          /* the KV cache (all layers, capacity positions, in RAM) */
    const char *kv;             /* its precision: "f32", "f16" or "q8" */
    int kv_window;              /* q8: positions read from the f16 window (0: none) */
    uint64_t slot_bytes;        /* the two stream buffers (twice the largest unit) */
    int n_units, n_resident;    /* units: layers + head */
    int streaming;
    const char *isa;            /* kernel set */
    int hinting;                /* hints go to a flashfs mount (.flashfs/hint) */
    unsigned long hints_sent;   /* hints written so far */
} em_info_t;

/* Parse a --kv value ("f32", "f16", "q8"): 0, or -EINVAL for anything else. */
int em_kv_parse(const char *s, em_kv_t *kv);

/* Bytes of KV cache per position and layer for the precision (keys and values):
 * f32 8 * kv_dim, f16 4 * kv_dim, q8 2 * (kv_dim + 4 * n_kv_heads) (q8 adds its f16 ring:
 * 4 * kv_dim bytes per layer for each of min(window + batch - 1, capacity) rows). */
uint64_t em_kv_row_bytes(em_kv_t kv, int n_kv_heads, int head_dim);

/* Open a model folder (config, weights, loader) with KV room for opts->capacity positions.
 * 0 or -errno; err names the file or field at fault. */
int em_open(em_model_t **out, const char *dir, const em_opts_t *opts, char *err, size_t errlen);

/* The model's config. */
const hc_config_t *em_config(const em_model_t *m);

/* Feed T tokens at the current position (advancing it). Logits: with all_logits, of every
 * token ([T][vocab]); else of the last one only. *logits points into the model (valid until
 * the next call). 0 or -errno (-ENOSPC: past capacity, -EINVAL: bad id, read errors). */
int em_forward(em_model_t *m, const int32_t *ids, int T, int all_logits, const float **logits,
               char *err, size_t errlen);

/* Current position (tokens in the KV cache). */
int em_pos(const em_model_t *m);

/* Forget the KV cache (position 0). */
void em_reset(em_model_t *m);

/* Forget the KV cache past pos (kept when 0 <= pos <= em_pos; the next token goes at pos). */
void em_truncate(em_model_t *m, int pos);

/* Bytes read from the model files so far (weights and embedding rows). */
uint64_t em_bytes_read(const em_model_t *m);

/* Sizes and mode. */
void em_info(const em_model_t *m, em_info_t *info);

/* Free everything (NULL-safe). */
void em_close(em_model_t *m);

#endif
