/* hf_config.h — a Hugging Face config.json, as the engine and the layout need it (prefix hc_).
 *
 * Both the transformers 4 form (rope_theta, rope_scaling, torch_dtype) and the 5 form
 * (rope_parameters {rope_theta, rope_type, ...}, dtype) are read. Required fields:
 * model_type, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
 * vocab_size, rms_norm_eps; others default as noted. The text is checked for valid UTF-8
 * and a bounded nesting depth before cJSON parses it. */
#ifndef HF_CONFIG_H
#define HF_CONFIG_H

#include <stddef.h>

#define HC_MAX_EOS 16

/* One bound for every shape derived from a config: each dimension (hidden_size,
 * intermediate_size, vocab_size, head_dim, heads, and the products num_attention_heads x
 * head_dim and num_key_value_heads x head_dim, computed in 64 bits) is at most 2^24, so a
 * dimension always fits an int and a batch row count times a dimension fits 64 bits. */
#define HC_MAX_DIM (1 << 24)
#define HC_MAX_LAYERS 4096

typedef struct {
    char model_type[32];        /* "llama", "mistral", "qwen2", ... */
    char dtype[16];             /* "bfloat16", "float16", "float32" or "" */
    int hidden_size;
    int intermediate_size;
    int num_hidden_layers;
    int num_attention_heads;
    int num_key_value_heads;    /* defaults to num_attention_heads */
    int head_dim;               /* defaults to hidden_size / num_attention_heads */
    int vocab_size;
    int max_position_embeddings; /* 0 when absent */
    double rms_norm_eps;
    double rope_theta;          /* default 10000 */
    char rope_type[16];         /* "default", "llama3", "linear", ... */
    double rope_factor;         /* rope scaling factor (llama3/linear), 1 if none */
    double rope_low_freq_factor, rope_high_freq_factor; /* llama3 rope; 0 when absent */
    int rope_original_max_pos;  /* original_max_position_embeddings; 0 when absent */
    int tie_word_embeddings;
    int attention_bias;         /* q/k/v bias (qwen2 always has it) */
    int mlp_bias;
    char hidden_act[16];        /* "silu" */
    int sliding_window;         /* 0 when null/absent */
    int use_sliding_window;     /* -1 when absent */
    int bos_token_id;           /* -1 when absent */
    int eos_token_ids[HC_MAX_EOS];
    int n_eos;
} hc_config_t;

/* Parse config.json text. 0 or -EINVAL with err naming the missing or bad field. */
int hc_parse(const char *json, size_t len, hc_config_t *out, char *err, size_t errlen);

/* Check the shape bounds above on a filled config (hc_parse does it). 0 or -EINVAL with
 * err naming the field or product, e.g. "num_attention_heads x head_dim = 4294967296". */
int hc_check_shapes(const hc_config_t *c, char *err, size_t errlen);

/* Read and parse a config.json file. */
int hc_load(const char *path, hc_config_t *out, char *err, size_t errlen);

#endif
