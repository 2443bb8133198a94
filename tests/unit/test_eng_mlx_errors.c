/* test_eng_mlx_errors.c — bad MLX-quantized folders and quantization sections: one-line
 * errors naming the file and tensor or key (bits 7, group 48, mxfp4, scales/biases shapes
 * that do not match the config, a missing .biases, U32 weights without a quantization
 * section), and hc_quant_parse on its own (overrides, false, defaults, other methods). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eng_model.h"
#include "eng_testutil.h"
#include "fu_util.h"
#include "hf_quant.h"

#define QWEN "tests/fixtures/mlx/qwen2-mlx-4bit-tied"

/* em_open of dir fails with rc and exactly the message fmt (one %s: dir). */
static void expect_error(const char *dir, int rc_want, const char *fmt)
{
    em_opts_t o = { .n_threads = 1, .capacity = 16 };
    em_model_t *m = NULL;
    char err[1024] = "", want[1024];
    int rc = em_open(&m, dir, &o, err, sizeof err);
    ck_assert_int_eq(rc, rc_want);
    ck_assert_ptr_null(m);
    snprintf(want, sizeof want, fmt, dir);
    ck_assert_str_eq(err, want);
    ck_assert_ptr_null(strchr(err, '\n'));
}

/* Replace the first occurrence of `from` with `to` in dir/name. */
static void patch(const char *dir, const char *name, const char *from, const char *to)
{
    char path[1024], *data = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ck_assert_int_eq(fu_read_file(path, 1u << 30, &data, &len), 0);
    char *at = memmem(data, len, from, strlen(from));
    ck_assert_msg(at != NULL, "'%s' not in %s", from, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fwrite(data, 1, (size_t)(at - data), f);
    fwrite(to, 1, strlen(to), f);
    fwrite(at + strlen(from), 1, len - (size_t)(at - data) - strlen(from), f);
    fclose(f);
    free(data);
}

START_TEST(bits_7)
{
    char *d = etu_copy_model(QWEN);
    patch(d, "config.json", "\"bits\": 4", "\"bits\": 7");
    expect_error(d, -EINVAL, "%s/config.json: quantization bits 7 is not supported (2, 3, 4, 5, 6 or 8)");
    etu_rm_model(d);
}
END_TEST

START_TEST(group_48)
{
    char *d = etu_copy_model(QWEN);
    patch(d, "config.json", "\"group_size\": 64", "\"group_size\": 48");
    expect_error(d, -EINVAL, "%s/config.json: quantization group_size 48 is not supported (32, 64 or 128)");
    etu_rm_model(d);
}
END_TEST

START_TEST(mode_mxfp4)
{
    char *d = etu_copy_model(QWEN);
    patch(d, "config.json", "\"mode\": \"affine\"", "\"mode\": \"mxfp4\"");
    expect_error(d, -ENOTSUP,
                 "%s/config.json: quantization mode \"mxfp4\" is not supported (only affine: mxfp4, mxfp8 "
                 "and nvfp4 are not)");
    etu_rm_model(d);
}
END_TEST

START_TEST(scales_shape)
{
    char *d = etu_copy_model(QWEN);
    /* same byte count, another shape */
    patch(d, "model.safetensors", "q_proj.scales\":{\"dtype\":\"BF16\",\"shape\":[64,1]",
          "q_proj.scales\":{\"dtype\":\"BF16\",\"shape\":[32,2]");
    expect_error(d, -EINVAL,
                 "%s/model.safetensors: tensor model.layers.0.self_attn.q_proj.scales has shape [32, 2], "
                 "expected [64, 1] (group_size from config.json)");
    etu_rm_model(d);
}
END_TEST

START_TEST(biases_shape)
{
    char *d = etu_copy_model(QWEN);
    patch(d, "model.safetensors", "up_proj.biases\":{\"dtype\":\"BF16\",\"shape\":[176,1]",
          "up_proj.biases\":{\"dtype\":\"BF16\",\"shape\":[88,2] ");
    expect_error(d, -EINVAL,
                 "%s/model.safetensors: tensor model.layers.0.mlp.up_proj.biases has shape [88, 2], "
                 "expected [176, 1] (group_size from config.json)");
    etu_rm_model(d);
}
END_TEST

START_TEST(group_mismatch)
{
    /* config says group 32, the file has group 64: the scales do not match. */
    char *d = etu_copy_model(QWEN);
    patch(d, "config.json", "\"group_size\": 64", "\"group_size\": 32");
    expect_error(d, -EINVAL,
                 "%s/model.safetensors: tensor model.embed_tokens.scales has shape [512, 1], expected "
                 "[512, 2] (group_size from config.json)");
    etu_rm_model(d);
}
END_TEST

START_TEST(bits_mismatch)
{
    char *d = etu_copy_model(QWEN);
    patch(d, "config.json", "\"bits\": 4", "\"bits\": 8");
    expect_error(d, -EINVAL,
                 "%s/model.safetensors: tensor model.embed_tokens.weight has shape [512, 8], expected "
                 "[512, 16] (8-bit MLX codes of [512, 64])");
    etu_rm_model(d);
}
END_TEST

START_TEST(missing_biases)
{
    char *d = etu_copy_model(QWEN);
    patch(d, "model.safetensors", "model.layers.1.mlp.up_proj.biases", "model.layers.1.mlp.up_proj.biasez");
    expect_error(d, -ENOENT,
                 "%s: tensor model.layers.1.mlp.up_proj.biases not found (the weight "
                 "model.layers.1.mlp.up_proj.weight is MLX-quantized, mode affine)");
    etu_rm_model(d);
}
END_TEST

START_TEST(missing_scales)
{
    char *d = etu_copy_model(QWEN);
    patch(d, "model.safetensors", "model.layers.1.mlp.up_proj.scales", "model.layers.1.mlp.up_proj.scalez");
    expect_error(d, -ENOENT,
                 "%s: tensor model.layers.1.mlp.up_proj.scales not found (the weight "
                 "model.layers.1.mlp.up_proj.weight is MLX-quantized, mode affine)");
    etu_rm_model(d);
}
END_TEST

START_TEST(no_quant_section)
{
    char *d = etu_copy_model(QWEN);
    patch(d, "config.json", "\"quantization\"", "\"quantizatioX\"");
    patch(d, "config.json", "\"quantization_config\"", "\"quantization_confiX\"");
    expect_error(d, -EINVAL,
                 "%s/model.safetensors: tensor model.embed_tokens.weight is U32 (MLX-quantized) but "
                 "config.json has no quantization section");
    etu_rm_model(d);
}
END_TEST

/* ---- hc_quant_parse ---------------------------------------------------------------- */

static void parse_ok(const char *json, hc_quant_t *q)
{
    char err[256] = "";
    int rc = hc_quant_parse(json, strlen(json), q, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
}

static void parse_err(const char *json, int rc_want, const char *want)
{
    hc_quant_t q;
    char err[256] = "";
    ck_assert_int_eq(hc_quant_parse(json, strlen(json), &q, err, sizeof err), rc_want);
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(q.n_over, 0);
    ck_assert_ptr_null(q.over);
}

START_TEST(parse_overrides)
{
    hc_quant_t q;
    parse_ok("{\"model_type\": \"llama\", \"quantization\": {\"group_size\": 64, \"bits\": 4, "
             "\"model.layers.0.mlp.down_proj\": {\"group_size\": 32, \"bits\": 6}, "
             "\"model.layers.1.mlp.down_proj\": {\"bits\": 8}, "
             "\"lm_head\": false}, "
             "\"quantization_config\": {\"group_size\": 128, \"bits\": 2}}", &q);
    int b = 0, g = 0;
    ck_assert_int_eq(q.present, 1);
    ck_assert_int_eq(q.n_over, 3);
    ck_assert_int_eq(hc_quant_for(&q, "model.layers.0.mlp.down_proj", &b, &g), 1);
    ck_assert_int_eq(b, 6);
    ck_assert_int_eq(g, 32);
    ck_assert_int_eq(hc_quant_for(&q, "model.layers.1.mlp.down_proj", &b, &g), 1);
    ck_assert_int_eq(b, 8);
    ck_assert_int_eq(g, 64);        /* inherited */
    ck_assert_int_eq(hc_quant_for(&q, "lm_head", &b, &g), 0);
    ck_assert_int_eq(hc_quant_for(&q, "model.layers.2.mlp.down_proj", &b, &g), 1);
    ck_assert_int_eq(b, 4);         /* "quantization" wins over "quantization_config" */
    ck_assert_int_eq(g, 64);
    hc_quant_free(&q);

    parse_ok("{\"quantization_config\": {\"group_size\": 128, \"bits\": 2, \"mode\": \"affine\"}}", &q);
    ck_assert_int_eq(hc_quant_for(&q, "x", &b, &g), 1);
    ck_assert_int_eq(b, 2);
    ck_assert_int_eq(g, 128);
    hc_quant_free(&q);

    parse_ok("{\"model_type\": \"llama\", \"quantization\": null}", &q);
    ck_assert_int_eq(q.present, 0);
    ck_assert_int_eq(hc_quant_for(&q, "x", &b, &g), 0);
    hc_quant_free(&q);
}
END_TEST

START_TEST(parse_errors)
{
    parse_err("{\"quantization\": {\"group_size\": 64, \"bits\": 4, \"model.layers.0.mlp.down_proj\": "
              "{\"group_size\": 64, \"bits\": 7}}}",
              -EINVAL, "config.json: model.layers.0.mlp.down_proj bits 7 is not supported (2, 3, 4, 5, 6 or 8)");
    parse_err("{\"quantization\": {\"group_size\": 16, \"bits\": 4}}", -EINVAL,
              "config.json: quantization group_size 16 is not supported (32, 64 or 128)");
    parse_err("{\"quantization\": {\"group_size\": 32, \"bits\": 4, \"mode\": \"nvfp4\"}}", -ENOTSUP,
              "config.json: quantization mode \"nvfp4\" is not supported (only affine: mxfp4, mxfp8 and "
              "nvfp4 are not)");
    parse_err("{\"quantization_config\": {\"quant_method\": \"gptq\", \"bits\": 4, \"group_size\": 128}}",
              -ENOTSUP, "config.json: quantization_config.quant_method \"gptq\" is not supported (only MLX "
                        "affine quantization)");
    parse_err("{\"quantization\": {\"bits\": 4}}", -EINVAL, "config.json: quantization needs bits and group_size");
    parse_err("{\"quantization\": {\"group_size\": 64, \"bits\": 4.5}}", -EINVAL,
              "config.json: quantization.bits is not a small integer");
    parse_err("{\"quantization\": [4]}", -EINVAL, "config.json: quantization is not an object");
}
END_TEST

Suite *eng_mlx_errors_suite(void)
{
    Suite *s = suite_create("eng_mlx_errors");
    TCase *tc = tcase_create("errors");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bits_7);
    tcase_add_test(tc, group_48);
    tcase_add_test(tc, mode_mxfp4);
    tcase_add_test(tc, scales_shape);
    tcase_add_test(tc, biases_shape);
    tcase_add_test(tc, group_mismatch);
    tcase_add_test(tc, bits_mismatch);
    tcase_add_test(tc, missing_biases);
    tcase_add_test(tc, missing_scales);
    tcase_add_test(tc, no_quant_section);
    tcase_add_test(tc, parse_overrides);
    tcase_add_test(tc, parse_errors);
    suite_add_tcase(s, tc);
    return s;
}
