/* test_hf_config.c — config.json parsing: both transformers forms, defaults, errors,
 * and the fixtures' configs cross-checked against their weights. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hf_config.h"
#include "safetensors.h"

static int parse(const char *json, hc_config_t *c, char *err, size_t errlen)
{
    return hc_parse(json, strlen(json), c, err, errlen);
}

#define BASE "\"model_type\":\"llama\",\"hidden_size\":64,\"intermediate_size\":160," \
             "\"num_hidden_layers\":3,\"num_attention_heads\":4,\"vocab_size\":512,\"rms_norm_eps\":1e-5"

START_TEST(v4_form)
{
    const char *j = "{" BASE ",\"rope_theta\":500000.0,\"torch_dtype\":\"bfloat16\","
                    "\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8.0,\"low_freq_factor\":1.0,"
                    "\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8192},"
                    "\"eos_token_id\":[128001,128008,128009],\"bos_token_id\":128000,"
                    "\"num_key_value_heads\":2,\"tie_word_embeddings\":true}";
    hc_config_t c;
    char err[256] = "";
    ck_assert_int_eq(parse(j, &c, err, sizeof err), 0);
    ck_assert_str_eq(c.model_type, "llama");
    ck_assert_str_eq(c.dtype, "bfloat16");
    ck_assert_double_eq(c.rope_theta, 500000.0);
    ck_assert_str_eq(c.rope_type, "llama3");
    ck_assert_double_eq(c.rope_factor, 8.0);
    ck_assert_double_eq(c.rope_low_freq_factor, 1.0);
    ck_assert_double_eq(c.rope_high_freq_factor, 4.0);
    ck_assert_int_eq(c.rope_original_max_pos, 8192);
    ck_assert_int_eq(c.n_eos, 3);
    ck_assert_int_eq(c.eos_token_ids[0], 128001);
    ck_assert_int_eq(c.eos_token_ids[2], 128009);
    ck_assert_int_eq(c.bos_token_id, 128000);
    ck_assert_int_eq(c.num_key_value_heads, 2);
    ck_assert_int_eq(c.head_dim, 16);
    ck_assert_int_eq(c.tie_word_embeddings, 1);
    ck_assert_int_eq(c.attention_bias, 0);
}
END_TEST

START_TEST(v5_form)
{
    const char *j = "{" BASE ",\"dtype\":\"float16\",\"rope_parameters\":{\"rope_theta\":1000000.0,"
                    "\"type\":\"linear\",\"factor\":2.0},\"eos_token_id\":7,\"head_dim\":32}";
    hc_config_t c;
    char err[256] = "";
    ck_assert_int_eq(parse(j, &c, err, sizeof err), 0);
    ck_assert_str_eq(c.dtype, "float16");
    ck_assert_double_eq(c.rope_theta, 1000000.0);
    ck_assert_str_eq(c.rope_type, "linear");
    ck_assert_double_eq(c.rope_factor, 2.0);
    ck_assert_int_eq(c.n_eos, 1);
    ck_assert_int_eq(c.eos_token_ids[0], 7);
    ck_assert_int_eq(c.head_dim, 32);
}
END_TEST

START_TEST(defaults)
{
    hc_config_t c;
    char err[256] = "";
    ck_assert_int_eq(parse("{" BASE ",\"rope_scaling\":null,\"sliding_window\":null}", &c, err, sizeof err), 0);
    ck_assert_double_eq(c.rope_theta, 10000.0);
    ck_assert_str_eq(c.rope_type, "default");
    ck_assert_double_eq(c.rope_factor, 1.0);
    ck_assert_int_eq(c.num_key_value_heads, 4);
    ck_assert_int_eq(c.head_dim, 64 / 4);
    ck_assert_int_eq(c.bos_token_id, -1);
    ck_assert_int_eq(c.n_eos, 0);
    ck_assert_int_eq(c.use_sliding_window, -1);
    ck_assert_int_eq(c.sliding_window, 0);
    ck_assert_str_eq(c.hidden_act, "silu");
    ck_assert_str_eq(c.dtype, "");
    /* qwen2 always has q/k/v biases */
    ck_assert_int_eq(parse("{\"model_type\":\"qwen2\",\"hidden_size\":64,\"intermediate_size\":160,"
                           "\"num_hidden_layers\":3,\"num_attention_heads\":4,\"vocab_size\":512,"
                           "\"rms_norm_eps\":1e-6}", &c, err, sizeof err), 0);
    ck_assert_int_eq(c.attention_bias, 1);
}
END_TEST

START_TEST(missing_required)
{
    const char *fields[] = { "model_type", "hidden_size", "intermediate_size", "num_hidden_layers",
                             "num_attention_heads", "vocab_size", "rms_norm_eps" };
    char full[] = "{" BASE "}";
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        /* Rename the field in a copy so it is missing. */
        char buf[512];
        snprintf(buf, sizeof buf, "%s", full);
        char key[64];
        snprintf(key, sizeof key, "\"%s\"", fields[i]);
        char *p = strstr(buf, key);
        ck_assert_ptr_nonnull(p);
        p[1] = 'X';
        hc_config_t c;
        char err[256] = "";
        ck_assert_int_eq(parse(buf, &c, err, sizeof err), -EINVAL);
        ck_assert_msg(strstr(err, fields[i]) != NULL, "error '%s' does not name '%s'", err, fields[i]);
    }
}
END_TEST

START_TEST(bad_values)
{
    struct { const char *json; const char *field; } cases[] = {
        { "{" BASE ",\"hidden_size\":\"64\"}", "hidden_size" },      /* duplicate key; cJSON takes the first */
        { "{\"model_type\":\"llama\",\"hidden_size\":-1,\"intermediate_size\":1,\"num_hidden_layers\":1,"
          "\"num_attention_heads\":1,\"vocab_size\":1,\"rms_norm_eps\":1e-5}", "hidden_size" },
        { "{\"model_type\":\"llama\",\"hidden_size\":1.5,\"intermediate_size\":1,\"num_hidden_layers\":1,"
          "\"num_attention_heads\":1,\"vocab_size\":1,\"rms_norm_eps\":1e-5}", "hidden_size" },
        { "{\"model_type\":\"llama\",\"hidden_size\":1e20,\"intermediate_size\":1,\"num_hidden_layers\":1,"
          "\"num_attention_heads\":1,\"vocab_size\":1,\"rms_norm_eps\":1e-5}", "hidden_size" },
        { "{" BASE ",\"eos_token_id\":\"x\"}", "eos_token_id" },
        { "{" BASE ",\"eos_token_id\":[1,-2]}", "eos_token_id" },
        { "{" BASE ",\"rope_scaling\":5}", "rope_scaling" },
        { "{" BASE ",\"rope_parameters\":{\"rope_theta\":-1}}", "rope_theta" },
        { "{" BASE ",\"rope_parameters\":{\"rope_type\":\"llama3\",\"factor\":8}}", "low_freq_factor" },
        { "{" BASE ",\"num_key_value_heads\":3}", "num_key_value_heads" },
        { "{" BASE ",\"hidden_act\":\"a-very-long-activation-name\"}", "hidden_act" },
        { "{" BASE ",\"tie_word_embeddings\":\"yes\"}", "tie_word_embeddings" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        hc_config_t c;
        char err[256] = "";
        int rc = parse(cases[i].json, &c, err, sizeof err);
        if (i == 0) {
            /* duplicate keys: the first wins, so this one is valid */
            ck_assert_int_eq(rc, 0);
            continue;
        }
        ck_assert_msg(rc == -EINVAL, "case %zu accepted", i);
        ck_assert_msg(strstr(err, cases[i].field) != NULL, "case %zu: '%s' does not name '%s'", i, err,
                      cases[i].field);
    }
}
END_TEST

START_TEST(bad_json)
{
    hc_config_t c;
    char err[256];
    ck_assert_int_eq(parse("", &c, err, sizeof err), -EINVAL);
    ck_assert_int_eq(parse("[1,2]", &c, err, sizeof err), -EINVAL);
    ck_assert_int_eq(parse("{" BASE, &c, err, sizeof err), -EINVAL);
    ck_assert_int_eq(parse("{" BASE "} x", &c, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "trailing"));
    /* invalid UTF-8 (overlong '/', lone continuation, surrogate) in a string value */
    const char *bad_utf8[] = { "{" BASE ",\"x\":\"\xc0\xaf\"}", "{" BASE ",\"x\":\"\x80\"}",
                               "{" BASE ",\"x\":\"\xed\xa0\x80\"}", "{" BASE ",\"x\":\"\xf4\x90\x80\x80\"}",
                               "{" BASE ",\"x\":\"\xe2\x82\"}" };
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof *bad_utf8; i++) {
        ck_assert_int_eq(parse(bad_utf8[i], &c, err, sizeof err), -EINVAL);
        ck_assert_msg(strstr(err, "UTF-8") != NULL, "case %zu: %s", i, err);
    }
    /* valid multi-byte UTF-8 is fine */
    ck_assert_int_eq(parse("{" BASE ",\"x\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}", &c, err, sizeof err), 0);
    /* a NUL byte inside the text, and an escaped NUL */
    const char nul[] = "{\"a\":\"x\0y\"}";
    ck_assert_int_eq(hc_parse(nul, sizeof nul - 1, &c, err, sizeof err), -EINVAL);
    ck_assert_int_eq(parse("{" BASE ",\"x\":\"a\\u0000b\"}", &c, err, sizeof err), -EINVAL);
}
END_TEST

START_TEST(deep_json)
{
    /* Deeper than both our limit and cJSON's own recursion limit: an error, not a crash. */
    size_t depth = 100000;
    char *j = malloc(2 * depth + 16);
    ck_assert_ptr_nonnull(j);
    size_t n = 0;
    j[n++] = '{';
    memcpy(j + n, "\"a\":", 4);
    n += 4;
    for (size_t i = 0; i < depth; i++)
        j[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        j[n++] = ']';
    j[n++] = '}';
    hc_config_t c;
    char err[256] = "";
    ck_assert_int_eq(hc_parse(j, n, &c, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "nested"));
    free(j);
}
END_TEST

/* The fixtures' configs parse, and their shapes agree with their weights. */
static void check_fixture(const char *dir, const char *weights, int whole_model)
{
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    hc_config_t c;
    char err[256] = "";
    ck_assert_msg(hc_load(path, &c, err, sizeof err) == 0, "%s: %s", path, err);
    ck_assert_str_ne(c.dtype, "");
    ck_assert_int_ge(c.n_eos, 1);
    ck_assert_int_ge(c.bos_token_id, 0);
    ck_assert_double_gt(c.rope_theta, 0);

    snprintf(path, sizeof path, "%s/%s", dir, weights);
    st_file_t f;
    ck_assert_msg(st_parse_path(path, &f, err, sizeof err) == 0, "%s: %s", path, err);
    const st_tensor_t *emb = st_find(&f, "model.embed_tokens.weight");
    ck_assert_ptr_nonnull(emb);
    ck_assert_int_eq(emb->ndim, 2);
    ck_assert_uint_eq(emb->shape[0], (uint64_t)c.vocab_size);
    ck_assert_uint_eq(emb->shape[1], (uint64_t)c.hidden_size);
    const st_tensor_t *q = st_find(&f, "model.layers.0.self_attn.q_proj.weight");
    if (q) {
        ck_assert_uint_eq(q->shape[0], (uint64_t)(c.num_attention_heads * c.head_dim));
        const st_tensor_t *k = st_find(&f, "model.layers.0.self_attn.k_proj.weight");
        ck_assert_ptr_nonnull(k);
        ck_assert_uint_eq(k->shape[0], (uint64_t)(c.num_key_value_heads * c.head_dim));
        ck_assert_int_eq(st_find(&f, "model.layers.0.self_attn.q_proj.bias") != NULL, c.attention_bias);
    }
    const st_tensor_t *up = st_find(&f, "model.layers.0.mlp.up_proj.weight");
    if (up)
        ck_assert_uint_eq(up->shape[0], (uint64_t)c.intermediate_size);
    char name[64];
    snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", c.num_hidden_layers);
    ck_assert_ptr_null(st_find(&f, name));
    if (whole_model)
        ck_assert_int_eq(st_find(&f, "lm_head.weight") == NULL, c.tie_word_embeddings);
    const char *want_dtype = strcmp(c.dtype, "float32") == 0 ? "F32" : "BF16";
    ck_assert_str_eq(st_dtype_name(emb->dtype), want_dtype);
    st_free(&f);
}

START_TEST(fixtures)
{
    check_fixture("tests/fixtures/dev/llama-sp-f32", "model.safetensors", 1);
    check_fixture("tests/fixtures/dev/qwen2-bl-bf16", "model.safetensors", 1);
    check_fixture("tests/fixtures/demo", "model-00001-of-00002.safetensors", 0);
    hc_config_t c;
    char err[256] = "";
    ck_assert_int_eq(hc_load("tests/fixtures/demo/nonexistent.json", &c, err, sizeof err), -ENOENT);
}
END_TEST

/* Every derived shape is checked in 64 bits against HC_MAX_DIM (issue 13 item 6). */
START_TEST(shape_bounds)
{
    hc_config_t c;
    char err[256] = "";
    /* 4096 x 2^20 = 2^32 wraps an int to 0 */
#define HEADS(nh) "{\"model_type\":\"llama\",\"hidden_size\":64,\"intermediate_size\":160,\"num_hidden_layers\":3," \
                  "\"vocab_size\":512,\"rms_norm_eps\":1e-5,\"num_attention_heads\":" nh
    ck_assert_int_eq(parse(HEADS("4096") ",\"head_dim\":1048576}", &c, err, sizeof err), -EINVAL);
    ck_assert_str_eq(err, "config.json: num_attention_heads x head_dim = 4294967296 is out of range (1 to 16777216)");
    /* 2^24 heads x 2 = 2^25: over the bound without wrapping */
    ck_assert_int_eq(parse(HEADS("16777216") ",\"head_dim\":2,\"num_key_value_heads\":4}", &c, err, sizeof err),
                     -EINVAL);
    ck_assert_str_eq(err, "config.json: num_attention_heads x head_dim = 33554432 is out of range (1 to 16777216)");
    ck_assert_int_eq(parse("{\"model_type\":\"llama\",\"hidden_size\":64,\"intermediate_size\":16777217,"
                           "\"num_hidden_layers\":3,\"num_attention_heads\":4,\"vocab_size\":512,\"rms_norm_eps\":1e-5}",
                           &c, err, sizeof err), -EINVAL);
    ck_assert_str_eq(err, "config.json: intermediate_size = 16777217 is out of range (1 to 16777216)");
    ck_assert_int_eq(parse("{\"model_type\":\"llama\",\"hidden_size\":64,\"intermediate_size\":160,"
                           "\"num_hidden_layers\":4097,\"num_attention_heads\":4,\"vocab_size\":512,\"rms_norm_eps\":1e-5}",
                           &c, err, sizeof err), -EINVAL);
    ck_assert_str_eq(err, "config.json: num_hidden_layers = 4097 is out of range (1 to 4096)");
    /* at the bound: accepted */
    ck_assert_int_eq(parse("{" BASE ",\"head_dim\":4194304,\"num_key_value_heads\":4}", &c, err, sizeof err), 0);
    ck_assert_int_eq(c.num_attention_heads * c.head_dim, HC_MAX_DIM);
}
END_TEST

Suite *hf_config_suite(void)
{
    Suite *s = suite_create("hf_config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, v4_form);
    tcase_add_test(tc, v5_form);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, missing_required);
    tcase_add_test(tc, bad_values);
    tcase_add_test(tc, bad_json);
    tcase_add_test(tc, deep_json);
    tcase_add_test(tc, fixtures);
    tcase_add_test(tc, shape_bounds);
    suite_add_tcase(s, tc);
    return s;
}
