/* hf_config.c — read a Hugging Face config.json (transformers 4 and 5 forms).
 *
 * transformers 4:  "rope_theta": 500000.0,
 *                  "rope_scaling": {"rope_type"|"type": "llama3", "factor": 8.0,
 *                                   "low_freq_factor": 1.0, "high_freq_factor": 4.0,
 *                                   "original_max_position_embeddings": 8192} | null,
 *                  "torch_dtype": "bfloat16"
 * transformers 5:  "rope_parameters": {"rope_theta": 500000.0, "rope_type": "llama3", ...same keys},
 *                  "dtype": "bfloat16"
 * Required: model_type, hidden_size, intermediate_size, num_hidden_layers,
 * num_attention_heads, vocab_size, rms_norm_eps. Everything else has a documented default. */
#include "hf_config.h"
#include "fu_util.h"
#include "json_util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HC_MAX_FILE (16u * 1024 * 1024) /* a config.json is a few KiB */

/* ------------------------------------------------------------- helpers --- */

/* Copy the string field `key` of obj into dst (size n). Absent or null: leave dst
 * (the default) and return 0. Wrong type or too long: -EINVAL naming the field. */
static int get_str(const cJSON *obj, const char *key, char *dst, size_t n, char *err, size_t errlen)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!j || cJSON_IsNull(j))
        return 0;
    if (!cJSON_IsString(j) || !j->valuestring)
        return fu_err(err, errlen, -EINVAL, "config.json: field '%s' is not a string", key);
    size_t l = strlen(j->valuestring);
    if (l >= n)
        return fu_err(err, errlen, -EINVAL, "config.json: field '%s' is too long (%zu bytes)", key, l);
    memcpy(dst, j->valuestring, l + 1);
    return 0;
}

/* Integer field in [lo, hi]. required: absent/null is an error; else *v keeps its default. */
static int get_int(const cJSON *obj, const char *key, int required, int lo, int hi, int *v,
                   char *err, size_t errlen)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!j || cJSON_IsNull(j)) {
        if (required)
            return fu_err(err, errlen, -EINVAL, "config.json: missing required field '%s'", key);
        return 0;
    }
    if (!js_get_int(j, lo, hi, v))
        return fu_err(err, errlen, -EINVAL, "config.json: field '%s' is not an integer in [%d, %d]",
                      key, lo, hi);
    return 0;
}

/* Finite number field > 0 (or >= 0 when allow_zero). */
static int get_num(const cJSON *obj, const char *key, int required, int allow_zero, double *v,
                   char *err, size_t errlen)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!j || cJSON_IsNull(j)) {
        if (required)
            return fu_err(err, errlen, -EINVAL, "config.json: missing required field '%s'", key);
        return 0;
    }
    if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble) || j->valuedouble < 0 ||
        (!allow_zero && j->valuedouble == 0))
        return fu_err(err, errlen, -EINVAL, "config.json: field '%s' is not a %s number", key,
                      allow_zero ? "non-negative" : "positive");
    *v = j->valuedouble;
    return 0;
}

/* Boolean field (true/false, also 0/1). */
static int get_bool(const cJSON *obj, const char *key, int *v, char *err, size_t errlen)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!j || cJSON_IsNull(j))
        return 0;
    if (cJSON_IsBool(j)) {
        *v = cJSON_IsTrue(j) ? 1 : 0;
        return 0;
    }
    if (js_get_int(j, 0, 1, v))
        return 0;
    return fu_err(err, errlen, -EINVAL, "config.json: field '%s' is not a boolean", key);
}

/* ---------------------------------------------------------------- rope --- */

/* Read the rope keys shared by rope_scaling (v4) and rope_parameters (v5). */
static int get_rope(const cJSON *r, const char *what, hc_config_t *c, char *err, size_t errlen)
{
    if (!cJSON_IsObject(r))
        return fu_err(err, errlen, -EINVAL, "config.json: field '%s' is not an object", what);
    int rc;
    /* "rope_type" is the current key, "type" the older one. */
    if (cJSON_GetObjectItemCaseSensitive(r, "rope_type"))
        rc = get_str(r, "rope_type", c->rope_type, sizeof c->rope_type, err, errlen);
    else
        rc = get_str(r, "type", c->rope_type, sizeof c->rope_type, err, errlen);
    if (!rc)
        rc = get_num(r, "rope_theta", 0, 0, &c->rope_theta, err, errlen);
    if (!rc)
        rc = get_num(r, "factor", 0, 0, &c->rope_factor, err, errlen);
    if (!rc)
        rc = get_num(r, "low_freq_factor", 0, 0, &c->rope_low_freq_factor, err, errlen);
    if (!rc)
        rc = get_num(r, "high_freq_factor", 0, 0, &c->rope_high_freq_factor, err, errlen);
    if (!rc)
        rc = get_int(r, "original_max_position_embeddings", 0, 1, INT_MAX, &c->rope_original_max_pos,
                     err, errlen);
    return rc;
}

/* ----------------------------------------------------------------- EOS --- */

/* eos_token_id: an int, a list of ints, or null. */
static int get_eos(const cJSON *root, hc_config_t *c, char *err, size_t errlen)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, "eos_token_id");
    c->n_eos = 0;
    if (!j || cJSON_IsNull(j))
        return 0;
    if (cJSON_IsNumber(j)) {
        if (!js_get_int(j, 0, INT_MAX, &c->eos_token_ids[0]))
            return fu_err(err, errlen, -EINVAL, "config.json: field 'eos_token_id' is not a token id");
        c->n_eos = 1;
        return 0;
    }
    if (!cJSON_IsArray(j))
        return fu_err(err, errlen, -EINVAL, "config.json: field 'eos_token_id' is not an int or a list");
    const cJSON *e;
    cJSON_ArrayForEach(e, j) {
        if (c->n_eos >= HC_MAX_EOS)
            return fu_err(err, errlen, -EINVAL, "config.json: more than %d eos_token_id entries", HC_MAX_EOS);
        if (!js_get_int(e, 0, INT_MAX, &c->eos_token_ids[c->n_eos]))
            return fu_err(err, errlen, -EINVAL, "config.json: eos_token_id[%d] is not a token id", c->n_eos);
        c->n_eos++;
    }
    return 0;
}

/* --------------------------------------------------------------- parse --- */

static int parse_root(const cJSON *root, hc_config_t *c, char *err, size_t errlen)
{
    if (!cJSON_IsObject(root))
        return fu_err(err, errlen, -EINVAL, "config.json: top level is not an object");
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (!mt || cJSON_IsNull(mt))
        return fu_err(err, errlen, -EINVAL, "config.json: missing required field 'model_type'");
    int rc = get_str(root, "model_type", c->model_type, sizeof c->model_type, err, errlen);
    /* v5 "dtype" wins over v4 "torch_dtype" when both are present. */
    if (!rc)
        rc = get_str(root, "torch_dtype", c->dtype, sizeof c->dtype, err, errlen);
    if (!rc)
        rc = get_str(root, "dtype", c->dtype, sizeof c->dtype, err, errlen);
    if (!rc)
        rc = get_int(root, "hidden_size", 1, 1, INT_MAX, &c->hidden_size, err, errlen);
    if (!rc)
        rc = get_int(root, "intermediate_size", 1, 1, INT_MAX, &c->intermediate_size, err, errlen);
    if (!rc)
        rc = get_int(root, "num_hidden_layers", 1, 1, INT_MAX, &c->num_hidden_layers, err, errlen);
    if (!rc)
        rc = get_int(root, "num_attention_heads", 1, 1, INT_MAX, &c->num_attention_heads, err, errlen);
    if (!rc)
        rc = get_int(root, "vocab_size", 1, 1, INT_MAX, &c->vocab_size, err, errlen);
    if (!rc)
        rc = get_num(root, "rms_norm_eps", 1, 0, &c->rms_norm_eps, err, errlen);
    if (rc)
        return rc;

    c->num_key_value_heads = c->num_attention_heads;
    c->head_dim = 0;
    rc = get_int(root, "num_key_value_heads", 0, 1, INT_MAX, &c->num_key_value_heads, err, errlen);
    if (!rc)
        rc = get_int(root, "head_dim", 0, 1, INT_MAX, &c->head_dim, err, errlen);
    if (!rc)
        rc = get_int(root, "max_position_embeddings", 0, 1, INT_MAX, &c->max_position_embeddings, err, errlen);
    if (!rc)
        rc = get_bool(root, "tie_word_embeddings", &c->tie_word_embeddings, err, errlen);
    if (!rc)
        rc = get_bool(root, "attention_bias", &c->attention_bias, err, errlen);
    if (!rc)
        rc = get_bool(root, "mlp_bias", &c->mlp_bias, err, errlen);
    if (!rc)
        rc = get_str(root, "hidden_act", c->hidden_act, sizeof c->hidden_act, err, errlen);
    if (!rc)
        rc = get_int(root, "sliding_window", 0, 0, INT_MAX, &c->sliding_window, err, errlen);
    if (!rc)
        rc = get_bool(root, "use_sliding_window", &c->use_sliding_window, err, errlen);
    if (!rc)
        rc = get_int(root, "bos_token_id", 0, 0, INT_MAX, &c->bos_token_id, err, errlen);
    if (!rc)
        rc = get_eos(root, c, err, errlen);
    if (rc)
        return rc;

    /* Rope: v4 top-level rope_theta + rope_scaling, then v5 rope_parameters on top. */
    rc = get_num(root, "rope_theta", 0, 0, &c->rope_theta, err, errlen);
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    if (!rc && rs && !cJSON_IsNull(rs))
        rc = get_rope(rs, "rope_scaling", c, err, errlen);
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(root, "rope_parameters");
    if (!rc && rp && !cJSON_IsNull(rp))
        rc = get_rope(rp, "rope_parameters", c, err, errlen);
    if (rc)
        return rc;

    /* llama3 rope needs all of its parameters (transformers refuses it otherwise). */
    if (strcmp(c->rope_type, "llama3") == 0) {
        const char *miss = c->rope_factor <= 0 ? "factor"
                         : c->rope_low_freq_factor <= 0 ? "low_freq_factor"
                         : c->rope_high_freq_factor <= 0 ? "high_freq_factor"
                         : c->rope_original_max_pos <= 0 ? "original_max_position_embeddings" : NULL;
        if (miss)
            return fu_err(err, errlen, -EINVAL, "config.json: llama3 rope without '%s'", miss);
    }

    /* Qwen2 attention always has q/k/v biases (no config key for it). */
    if (strcmp(c->model_type, "qwen2") == 0)
        c->attention_bias = 1;

    /* Consistency of the attention shape. */
    if (c->head_dim == 0) {
        if (c->hidden_size % c->num_attention_heads)
            return fu_err(err, errlen, -EINVAL,
                          "config.json: hidden_size %d not divisible by num_attention_heads %d "
                          "and no head_dim", c->hidden_size, c->num_attention_heads);
        c->head_dim = c->hidden_size / c->num_attention_heads;
    }
    if (c->num_attention_heads % c->num_key_value_heads)
        return fu_err(err, errlen, -EINVAL,
                      "config.json: num_attention_heads %d not a multiple of num_key_value_heads %d",
                      c->num_attention_heads, c->num_key_value_heads);
    return hc_check_shapes(c, err, errlen);
}

int hc_check_shapes(const hc_config_t *c, char *err, size_t errlen)
{
    /* every dimension a tensor or an activation row gets, computed in 64 bits */
    const struct { const char *name; int64_t v; } dims[] = {
        { "hidden_size", c->hidden_size },
        { "intermediate_size", c->intermediate_size },
        { "vocab_size", c->vocab_size },
        { "head_dim", c->head_dim },
        { "num_attention_heads", c->num_attention_heads },
        { "num_key_value_heads", c->num_key_value_heads },
        { "num_attention_heads x head_dim", (int64_t)c->num_attention_heads * c->head_dim },
        { "num_key_value_heads x head_dim", (int64_t)c->num_key_value_heads * c->head_dim },
    };
    for (size_t i = 0; i < sizeof dims / sizeof *dims; i++)
        if (dims[i].v <= 0 || dims[i].v > HC_MAX_DIM)
            return fu_err(err, errlen, -EINVAL, "config.json: %s = %lld is out of range (1 to %d)", dims[i].name,
                          (long long)dims[i].v, HC_MAX_DIM);
    if (c->num_hidden_layers <= 0 || c->num_hidden_layers > HC_MAX_LAYERS)
        return fu_err(err, errlen, -EINVAL, "config.json: num_hidden_layers = %d is out of range (1 to %d)",
                      c->num_hidden_layers, HC_MAX_LAYERS);
    return 0;
}

int hc_parse(const char *json, size_t len, hc_config_t *out, char *err, size_t errlen)
{
    hc_config_t c;
    memset(&c, 0, sizeof c);
    c.rope_theta = 10000.0;
    strcpy(c.rope_type, "default");
    strcpy(c.hidden_act, "silu");
    c.rope_factor = 1.0;
    c.use_sliding_window = -1;
    c.bos_token_id = -1;

    cJSON *root = NULL;
    int rc = js_parse(json, len, 0, "config.json", &root, err, errlen);
    if (rc)
        return rc;
    rc = parse_root(root, &c, err, errlen);
    cJSON_Delete(root);
    if (rc)
        return rc;
    *out = c;
    return 0;
}

int hc_load(const char *path, hc_config_t *out, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc = fu_read_file(path, HC_MAX_FILE, &text, &len);
    if (rc)
        return fu_err(err, errlen, rc, "%s: cannot read (%s)", path, strerror(-rc));
    rc = hc_parse(text, len, out, err, errlen);
    free(text);
    return rc;
}
