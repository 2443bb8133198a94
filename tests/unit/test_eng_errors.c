/* test_eng_errors.c — bad model folders and bad input give clear errors naming the file or
 * field, never a crash: missing or truncated shard, wrong tensor shape or dtype, config
 * without a required field, unknown model_type, sliding-window Mistral, bad token ids,
 * context overflow, non-UTF-8 prompts. Broken models are built in temp dirs. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eng_gen.h"
#include "eng_model.h"
#include "eng_testutil.h"
#include "fu_util.h"

#define DEMO "tests/fixtures/demo"
#define LLAMA "tests/fixtures/dev/llama-sp-f32"

/* em_open must fail with rc and an error containing every given substring. */
static void expect_open_error(const char *dir, int capacity, const char *want1, const char *want2)
{
    em_opts_t o = { .n_threads = 1, .capacity = capacity };
    em_model_t *m = NULL;
    char err[1024] = "";
    int rc = em_open(&m, dir, &o, err, sizeof err);
    ck_assert_msg(rc < 0, "em_open of a broken model succeeded");
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err, want1) != NULL, "error '%s' does not mention '%s'", err, want1);
    if (want2)
        ck_assert_msg(strstr(err, want2) != NULL, "error '%s' does not mention '%s'", err, want2);
}

/* Replace the first occurrence of `from` with `to` (same length) in file path. */
static void patch_file(const char *dir, const char *name, const char *from, const char *to)
{
    char path[1024], *data = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ck_assert_int_eq(fu_read_file(path, 1u << 30, &data, &len), 0);
    char *at = memmem(data, len, from, strlen(from));
    ck_assert_msg(at != NULL, "'%s' not in %s", from, name);
    size_t fl = strlen(from), tl = strlen(to);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fwrite(data, 1, (size_t)(at - data), f);
    fwrite(to, 1, tl, f);
    fwrite(at + fl, 1, len - (size_t)(at - data) - fl, f);
    fclose(f);
    free(data);
}

START_TEST(missing_shard)
{
    char *d = etu_copy_model(DEMO);
    char p[1024];
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", d);
    ck_assert_int_eq(unlink(p), 0);
    expect_open_error(d, 16, "model-00002-of-00002.safetensors", NULL);
    etu_rm_model(d);
}
END_TEST

START_TEST(truncated_shard)
{
    char *d = etu_copy_model(DEMO);
    char p[1024];
    snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", d);
    ck_assert_int_eq(truncate(p, 1000000), 0);
    expect_open_error(d, 16, "model-00001-of-00002.safetensors", NULL);
    ck_assert_int_eq(truncate(p, 5), 0);
    expect_open_error(d, 16, "model-00001-of-00002.safetensors", NULL);
    etu_rm_model(d);
}
END_TEST

START_TEST(no_weights)
{
    char *d = etu_copy_model(LLAMA);
    char p[1024];
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    ck_assert_int_eq(unlink(p), 0);
    expect_open_error(d, 16, "model.safetensors", NULL);
    etu_rm_model(d);
}
END_TEST

START_TEST(wrong_shape)
{
    char *d = etu_copy_model(LLAMA);
    /* Same byte count, transposed shape. */
    patch_file(d, "model.safetensors", "gate_proj.weight\":{\"dtype\":\"F32\",\"shape\":[160,64]",
               "gate_proj.weight\":{\"dtype\":\"F32\",\"shape\":[64,160]");
    expect_open_error(d, 16, "model.layers.0.mlp.gate_proj.weight", "shape [64, 160], expected [160, 64]");
    etu_rm_model(d);
}
END_TEST

START_TEST(wrong_dtype)
{
    char *d = etu_copy_model(LLAMA);
    patch_file(d, "model.safetensors", "gate_proj.weight\":{\"dtype\":\"F32\"",
               "gate_proj.weight\":{\"dtype\":\"I32\"");
    expect_open_error(d, 16, "model.layers.0.mlp.gate_proj.weight", "I32");
    etu_rm_model(d);
}
END_TEST

START_TEST(missing_tensor)
{
    char *d = etu_copy_model(LLAMA);
    patch_file(d, "model.safetensors", "model.layers.1.mlp.up_proj.weight", "model.layers.1.mlp.up_proj.weighz");
    expect_open_error(d, 16, "model.layers.1.mlp.up_proj.weight", "not found");
    etu_rm_model(d);
}
END_TEST

START_TEST(config_missing_field)
{
    char *d = etu_copy_model(LLAMA);
    patch_file(d, "config.json", "\"hidden_size\"", "\"hidden_sizz\"");
    expect_open_error(d, 16, "hidden_size", "config.json");
    etu_rm_model(d);
}
END_TEST

/* Regression (issue 13 item 6): heads x head_dim overflowing int used to pass the per-field
 * 2^24 bounds, wrap to a small q_proj row count and crash in the attention (SIGSEGV). */
START_TEST(config_heads_overflow)
{
    char *d = etu_copy_model(LLAMA);
    patch_file(d, "config.json", "\"head_dim\": 16", "\"head_dim\": 1048576");
    patch_file(d, "config.json", "\"num_attention_heads\": 4", "\"num_attention_heads\": 4096");
    expect_open_error(d, 16, "config.json: num_attention_heads x head_dim = 4294967296 is out of range (1 to 16777216)",
                      NULL);
    etu_rm_model(d);
    d = etu_copy_model(LLAMA);
    patch_file(d, "config.json", "\"head_dim\": 16", "\"head_dim\": 8388608");
    patch_file(d, "config.json", "\"num_key_value_heads\": 2", "\"num_key_value_heads\": 4");
    expect_open_error(d, 16, "num_attention_heads x head_dim = 33554432 is out of range", NULL);
    etu_rm_model(d);
}
END_TEST

START_TEST(config_unknown_type)
{
    char *d = etu_copy_model(LLAMA);
    patch_file(d, "config.json", "\"model_type\": \"llama\"", "\"model_type\": \"gpt2x\"");
    expect_open_error(d, 16, "gpt2x", "llama, mistral, qwen2");
    etu_rm_model(d);
}
END_TEST

START_TEST(mistral_sliding)
{
    char *d = etu_copy_model(LLAMA);
    patch_file(d, "config.json", "\"model_type\": \"llama\",", "\"model_type\": \"mistral\", \"sliding_window\": 8,");
    expect_open_error(d, 16, "sliding_window", "config.json");
    /* A window no smaller than the context never slides: accepted. */
    em_opts_t o = { .n_threads = 1, .capacity = 8 };
    em_model_t *m = NULL;
    char err[512];
    ck_assert_msg(em_open(&m, d, &o, err, sizeof err) == 0, "%s", err);
    em_close(m);
    etu_rm_model(d);
}
END_TEST

START_TEST(bad_ids_and_context)
{
    em_opts_t o = { .n_threads = 2, .capacity = 4 };
    em_model_t *m = NULL;
    char err[512];
    ck_assert_msg(em_open(&m, LLAMA, &o, err, sizeof err) == 0, "%s", err);
    const float *lg;
    int32_t bad[2] = { 1, 100000 };
    ck_assert_int_eq(em_forward(m, bad, 2, 0, &lg, err, sizeof err), -EINVAL);
    ck_assert(strstr(err, "100000") != NULL);
    int32_t neg = -1;
    ck_assert_int_eq(em_forward(m, &neg, 1, 0, &lg, err, sizeof err), -EINVAL);
    int32_t ok[5] = { 1, 2, 3, 4, 5 };
    ck_assert_int_eq(em_forward(m, ok, 5, 0, &lg, err, sizeof err), -ENOSPC);
    ck_assert_int_eq(em_forward(m, ok, 4, 0, &lg, err, sizeof err), 0);
    ck_assert_int_eq(em_pos(m), 4);
    ck_assert_int_eq(em_forward(m, ok, 1, 0, &lg, err, sizeof err), -ENOSPC);
    em_reset(m);
    ck_assert_int_eq(em_forward(m, ok, 1, 0, &lg, err, sizeof err), 0);
    em_close(m);
}
END_TEST

START_TEST(ram_too_small)
{
    em_opts_t o = { .n_threads = 1, .capacity = 8, .mode = EM_STREAM, .ram = 4096 };
    em_model_t *m = NULL;
    char err[512] = "";
    ck_assert_int_eq(em_open(&m, DEMO, &o, err, sizeof err), -ENOMEM);
    ck_assert(strstr(err, "--ram") != NULL);
}
END_TEST

START_TEST(utf8)
{
    size_t off = 99;
    ck_assert(eg_utf8_valid("And God said", 12, &off));
    ck_assert(eg_utf8_valid("h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 12, &off));
    ck_assert(!eg_utf8_valid("ab\xff", 3, &off));
    ck_assert_uint_eq(off, 2);
    ck_assert(!eg_utf8_valid("\xc3", 1, &off));            /* truncated */
    ck_assert(!eg_utf8_valid("\xc0\xaf", 2, &off));        /* overlong */
    ck_assert(!eg_utf8_valid("\xed\xa0\x80", 3, &off));    /* surrogate */
    ck_assert(!eg_utf8_valid("\xf4\x90\x80\x80", 4, &off)); /* > U+10FFFF */
    ck_assert(!eg_utf8_valid("a\x80", 2, &off));
    ck_assert_uint_eq(off, 1);
}
END_TEST

Suite *eng_errors_suite(void)
{
    Suite *s = suite_create("eng_errors");
    TCase *tc = tcase_create("errors");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, missing_shard);
    tcase_add_test(tc, truncated_shard);
    tcase_add_test(tc, no_weights);
    tcase_add_test(tc, wrong_shape);
    tcase_add_test(tc, wrong_dtype);
    tcase_add_test(tc, missing_tensor);
    tcase_add_test(tc, config_missing_field);
    tcase_add_test(tc, config_unknown_type);
    tcase_add_test(tc, config_heads_overflow);
    tcase_add_test(tc, mistral_sliding);
    tcase_add_test(tc, bad_ids_and_context);
    tcase_add_test(tc, ram_too_small);
    tcase_add_test(tc, utf8);
    suite_add_tcase(s, tc);
    return s;
}
