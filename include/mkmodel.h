/* mkmodel.h — synthetic models with real shapes for flashfs-mkmodel (prefix mm_).
 *
 * A model is described by an mm_spec_t (a preset or explicit shapes), expanded into a
 * list of tensors (mm_tensor_t) with their Hugging Face and GGUF names and shapes, and
 * written either as a Hugging Face folder (config.json, safetensors shards, index,
 * tokenizer files) or as one GGUF v3 file with llama-style metadata.
 *
 * Weights are synthetic and deterministic: element e of a tensor is a function of
 * (seed, hash of the tensor's Hugging Face name, e) only — a counter-based generator —
 * so any range of any tensor, shard or file can be produced independently, in any
 * order, by any thread, and the same seed gives the same bytes in both formats (GGUF
 * q/k rows are permuted the way llama.cpp's converter permutes them). */
#ifndef MKMODEL_H
#define MKMODEL_H

#include <stddef.h>
#include <stdint.h>

/* ---- model description ------------------------------------------------------ */

typedef struct {
    char name[32];              /* preset name, or "custom" */
    char model_type[16];        /* "llama", "mistral", "qwen2" */
    int hidden, layers, heads, kv_heads, head_dim, ffn, vocab;
    int max_pos;                /* max_position_embeddings */
    double rope_theta, rms_eps;
    char rope_type[16];         /* "default" or "llama3" */
    double rope_factor, rope_low_freq, rope_high_freq;
    int rope_orig_max_pos;
    int tie;                    /* tie_word_embeddings */
    int qkv_bias;               /* q/k/v projections have biases (qwen2) */
    int sliding_window;         /* qwen2/mistral config value, 0 = null */
    int real_vocab;             /* vocabulary of the real model (information only) */
} mm_spec_t;

/* Element types written (a subset of safetensors / ggml). */
typedef enum { MM_F32 = 0, MM_F16 = 1, MM_BF16 = 2 } mm_dtype_t;

/* How a tensor's values are drawn. */
typedef enum {
    MM_INIT_WEIGHT = 0,         /* N(0, 0.02) */
    MM_INIT_BIAS,               /* N(0, 0.02) */
    MM_INIT_NORM,               /* 1 + N(0, 0.02) */
    MM_INIT_ROPE_FREQS          /* llama3 rope scaling factors (GGUF rope_freqs.weight) */
} mm_init_t;

typedef struct {
    char hf_name[96];           /* "model.layers.3.self_attn.q_proj.weight" ("" for GGUF-only) */
    char gg_name[64];           /* "blk.3.attn_q.weight" */
    int ndim;                   /* 1 or 2 */
    uint64_t rows, cols;        /* HF shape [rows, cols] (ndim 1: [cols], rows = 1) */
    mm_init_t init;
    int permute_heads;          /* GGUF rows permuted for rope (q: heads, k: kv heads), 0 none */
    int layer;                  /* layer index, -1 otherwise */
    uint64_t id;                /* stream key: FNV-1a of hf_name (or gg_name) */
} mm_tensor_t;

/* Names of the presets, NULL-terminated. */
extern const char *const mm_preset_names[];

/* Fill *s with a preset's shapes. vocab is left 0 (= the tokenizer's vocabulary, set
 * by the caller); the real model's vocabulary is in real_vocab. 0, or -ENOENT. */
int mm_preset(const char *name, mm_spec_t *s);

/* Complete a spec after options: head_dim default, kv_heads default, consistency checks.
 * 0 or -EINVAL with err naming the bad field. */
int mm_spec_check(mm_spec_t *s, char *err, size_t errlen);

/* The model's tensors in execution order (embed, layers, norm, head; GGUF adds
 * rope_freqs for llama3 rope when gguf != 0 and drops nothing else). *out is malloc'd.
 * 0 or -ENOMEM. */
int mm_tensors(const mm_spec_t *s, int gguf, mm_tensor_t **out, size_t *n);

/* Number of elements of a tensor. */
uint64_t mm_numel(const mm_tensor_t *t);

/* Bytes per element of a dtype. */
size_t mm_dtype_size(mm_dtype_t d);

/* Parse "bf16" / "f16" / "f32" (also "bfloat16", "float16", "float32"). -1 if unknown. */
int mm_dtype_parse(const char *s);

/* ---- values -------------------------------------------------------------------- */

/* One-time table setup of the normal generator (thread-safe, idempotent). */
void mm_gen_init(void);

/* Fill out with n elements of tensor t in the ON-DISK element order of the format
 * (gguf != 0 applies the q/k row permutation) starting at element first, converted to
 * dtype. rope: the spec, used by MM_INIT_ROPE_FREQS. */
void mm_fill(const mm_spec_t *s, uint64_t seed, const mm_tensor_t *t, int gguf,
             mm_dtype_t dtype, uint64_t first, size_t n, void *out);

/* The float value of element e (HF order) of tensor t; what mm_fill converts. */
float mm_value(uint64_t seed, const mm_tensor_t *t, uint64_t e);

/* Round a float to bf16 / f16 bits (round to nearest even). */
uint16_t mm_f32_to_bf16(float f);
uint16_t mm_f32_to_f16(float f);

/* ---- tokenizer --------------------------------------------------------------- */

/* The tokenizer of a folder as GGUF needs it (tokenizer.ggml.*). */
typedef struct {
    size_t n_tokens;            /* vocabulary size of the tokenizer (max id + 1) */
    char **tokens;              /* [n_tokens], never NULL after load (holes get "[PADn]") */
    int32_t *types;             /* 1 normal, 3 control, 4 user defined, 5 unused */
    size_t n_merges;
    char **merges;              /* "a b" */
    int bos, eos;               /* -1 when unknown */
    int byte_level;             /* a ByteLevel pre-tokenizer: GGUF "gpt2" model possible */
    char pre[32];               /* tokenizer.ggml.pre: "llama-bpe", "qwen2", "default" */
} mm_vocab_t;

/* Read tokenizer.json (+ tokenizer_config.json) of dir. BPE models only (-ENOTSUP
 * otherwise); byte_level tells whether GGUF metadata can be written from it.
 * 0 or -errno with err set. */
int mm_vocab_load(const char *dir, mm_vocab_t *v, char *err, size_t errlen);

/* Grow the vocabulary to n entries ("[PADi]", type unused) for a model vocab larger than
 * the tokenizer's. 0 or -ENOMEM. */
int mm_vocab_pad(mm_vocab_t *v, size_t n);

/* Release (safe on a zeroed struct). */
void mm_vocab_free(mm_vocab_t *v);

/* Copy the tokenizer files of src (tokenizer*, special_tokens_map.json, vocab.json,
 * merges.txt, added_tokens.json, generation_config.json, chat_template.jinja) into dst.
 * *copied gets the count. 0 or -errno. */
int mm_copy_tokenizer(const char *src, const char *dst, int *copied, char *err, size_t errlen);

/* ---- writing -------------------------------------------------------------------- */

typedef struct {
    mm_spec_t spec;
    mm_dtype_t dtype;
    uint64_t seed;
    uint64_t shard_size;        /* max bytes of tensor data per safetensors shard */
    const char *tokenizer_dir;  /* NULL: none */
    int threads;                /* generator threads (>= 1) */
    int progress;               /* draw a progress bar on stderr */
    int bos, eos;               /* token ids for config.json (-1 unknown) */
} mm_opts_t;

/* Write a Hugging Face folder into dir (created if needed). 0 or -errno. */
int mm_write_hf(const mm_opts_t *o, const char *dir, char *err, size_t errlen);

/* Write one GGUF file at path. vocab: tokenizer metadata (required). 0 or -errno. */
int mm_write_gguf(const mm_opts_t *o, const mm_vocab_t *vocab, const char *path,
                  char *err, size_t errlen);

/* config.json text for a spec (transformers 5 form, keys sorted). malloc'd or NULL. */
char *mm_config_json(const mm_opts_t *o);

/* Quantize the Hugging Face folder dir in place the MLX affine way (mkmodel_mlx.c): bits
 * in {2, 3, 4, 5, 6, 8}, group in {32, 64, 128}. 0 or -errno with err. */
int mm_quantize_mlx(const char *dir, int bits, int group, char *err, size_t errlen);

/* ---- streaming data ------------------------------------------------------------ */

/* Streams the bytes of tensors to a file descriptor: generation in chunks on
 * o->threads threads, a progress bar, memory bounded by the chunk size. */
typedef struct mm_stream mm_stream_t;

/* New stream for total bytes of tensor data (for the progress bar). NULL on ENOMEM. */
mm_stream_t *mm_stream_new(const mm_opts_t *o, uint64_t total);

/* Write the on-disk bytes of tensor t (format gguf or not, element type dtype) to fd.
 * 0 or -errno. */
int mm_stream_tensor(mm_stream_t *st, int fd, const mm_tensor_t *t, int gguf, mm_dtype_t dtype);

/* Finish the progress bar and free (NULL-safe). */
void mm_stream_free(mm_stream_t *st);

#endif
