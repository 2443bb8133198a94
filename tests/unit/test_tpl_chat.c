/* test_tpl_chat.c — where a model's chat template comes from and what apply_chat_template's
 * variables are: tokenizer_config.json chat_template (string, named list with "default"),
 * chat_template.jinja over it, chat_template.json, a GGUF's tokenizer.chat_template with its
 * BOS/EOS token texts, the special tokens (plain or AddedToken objects), tools, extra
 * variables, and the errors (no template, no default, syntax error with the line). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fu_util.h"
#include "gguf_writer.h"
#include "template.h"

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/tpl_chat_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void put(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
}

/* Render the loaded template for one user message "hi" (add_generation_prompt on). */
static char *render_hi(const char *model, const char *tools_json, const char *extra_json)
{
    char err[512] = "", *out = NULL;
    size_t len;
    tpl_chat_t *c = NULL;
    int rc = tpl_chat_load(model, &c, err, sizeof err);
    ck_assert_msg(rc == 0, "load: %d %s", rc, err);
    cJSON *m = cJSON_Parse("[{\"role\": \"user\", \"content\": \"hi\"}]");
    cJSON *t = tools_json ? cJSON_Parse(tools_json) : NULL, *x = extra_json ? cJSON_Parse(extra_json) : NULL;
    rc = tpl_chat_render(c, m, t, 1, x, &out, &len, err, sizeof err);
    ck_assert_msg(rc == 0, "render: %s", err);
    cJSON_Delete(m);
    cJSON_Delete(t);
    cJSON_Delete(x);
    tpl_chat_free(c);
    return out;
}

static int load_err(char *err, size_t errlen)
{
    tpl_chat_t *c = NULL;
    int rc = tpl_chat_load(dir, &c, err, errlen);
    ck_assert_ptr_null(c);
    return rc;
}

START_TEST(config_string_and_tokens)
{
    put("tokenizer_config.json",
        "{\"bos_token\": {\"content\": \"<B>\", \"special\": true}, \"eos_token\": \"<E>\", \"pad_token\": null,"
        " \"chat_template\": \"{{ bos_token }}{% for m in messages %}{{ m.role }}:{{ m.content }}{{ eos_token }}"
        "{% endfor %}{{ pad_token is defined }}{{ tools is none }}{% if add_generation_prompt %}>{% endif %}\"}");
    char *out = render_hi(dir, NULL, NULL);
    ck_assert_str_eq(out, "<B>user:hi<E>FalseTrue>");
    free(out);
}
END_TEST

START_TEST(named_list_default)
{
    put("tokenizer_config.json",
        "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"}, {\"name\": \"default\", \"template\": \"D{{ messages|length }}\"}]}");
    char *out = render_hi(dir, NULL, NULL);
    ck_assert_str_eq(out, "D1");
    free(out);
    put("tokenizer_config.json", "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"}]}");
    char err[256] = "";
    ck_assert_int_eq(load_err(err, sizeof err), -ENOENT);
    ck_assert_str_eq(err, "tokenizer_config.json: chat_template lists no template named \"default\"");
}
END_TEST

START_TEST(jinja_file_wins)
{
    put("tokenizer_config.json", "{\"eos_token\": \"<E>\", \"chat_template\": \"config\"}");
    put("chat_template.jinja", "file {{ messages[0].content }}{{ eos_token }}\n");
    char *out = render_hi(dir, NULL, NULL);
    ck_assert_str_eq(out, "file hi<E>"); /* the final newline is dropped, as Jinja does */
    free(out);
}
END_TEST

START_TEST(template_json_fallback)
{
    put("chat_template.json", "{\"chat_template\": \"json {{ add_generation_prompt }}\"}");
    char *out = render_hi(dir, NULL, NULL);
    ck_assert_str_eq(out, "json True");
    free(out);
}
END_TEST

START_TEST(tools_and_extra)
{
    put("tokenizer_config.json", "{\"chat_template\": \"{% if tools %}{{ tools|tojson }}{% endif %}"
                                 "{{ enable_thinking }}{{ add_generation_prompt }}\"}");
    char *out = render_hi(dir, "[{\"name\": \"f\", \"x\": 1.5}]", "{\"enable_thinking\": false, \"add_generation_prompt\": false}");
    /* extra variables win over the call's own, as template kwargs do in transformers */
    ck_assert_str_eq(out, "[{\"name\": \"f\", \"x\": 1.5}]FalseFalse");
    free(out);
}
END_TEST

START_TEST(errors)
{
    char err[512] = "";
    ck_assert_int_eq(load_err(err, sizeof err), -ENOENT);
    ck_assert_ptr_nonnull(strstr(err, "has no chat template"));
    put("tokenizer_config.json", "{\"bos_token\": \"<s>\"}");
    ck_assert_int_eq(load_err(err, sizeof err), -ENOENT);
    put("tokenizer_config.json", "{\"chat_template\": \"ok\\n{% for x in y %}\\n{{ x }\"}");
    ck_assert_int_eq(load_err(err, sizeof err), -EINVAL);
    ck_assert_str_eq(err, "tokenizer_config.json chat_template: template line 3: tag not closed (missing '}}')");
    put("tokenizer_config.json", "{\"chat_template\": ");
    ck_assert_int_eq(load_err(err, sizeof err), -EINVAL);
    /* a render error names the line; raise_exception carries the template's message */
    put("tokenizer_config.json", "{\"chat_template\": \"{% if messages[0].role != 'system' %}\\n"
                                 "{{ raise_exception('System message required') }}{% endif %}\"}");
    tpl_chat_t *c;
    ck_assert_int_eq(tpl_chat_load(dir, &c, err, sizeof err), 0);
    cJSON *m = cJSON_Parse("[{\"role\": \"user\", \"content\": \"hi\"}]");
    char *out = NULL;
    size_t len;
    ck_assert_int_eq(tpl_chat_render(c, m, NULL, 1, NULL, &out, &len, err, sizeof err), -EINVAL);
    ck_assert_str_eq(err, "template line 2: raise_exception: System message required");
    ck_assert_ptr_null(out);
    cJSON_Delete(m);
    tpl_chat_free(c);
}
END_TEST

static void write_gguf(const char *path, int with_template)
{
    gw_t *g = gw_new(32);
    static const char *const toks[] = { "<unk>", "<|begin|>", "<|end|>", "a" };
    ck_assert_ptr_nonnull(g);
    gw_kv_str(g, "general.architecture", "llama");
    if (with_template)
        gw_kv_str(g, "tokenizer.chat_template", "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}");
    gw_kv_arr_str(g, "tokenizer.ggml.tokens", toks, 4);
    gw_kv_u32(g, "tokenizer.ggml.bos_token_id", 1);
    gw_kv_u32(g, "tokenizer.ggml.eos_token_id", 2);
    uint8_t *hdr;
    size_t len;
    ck_assert_int_eq(gw_header(g, &hdr, &len), 0);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(hdr, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    free(hdr);
    gw_free(g);
}

START_TEST(gguf_template)
{
    char path[128], err[256] = "";
    snprintf(path, sizeof path, "%s/m.gguf", dir);
    write_gguf(path, 1);
    char *out = render_hi(path, NULL, NULL);
    ck_assert_str_eq(out, "<|begin|>hi<|end|>");
    free(out);
    write_gguf(path, 0);
    tpl_chat_t *c = NULL;
    ck_assert_int_eq(tpl_chat_load(path, &c, err, sizeof err), -ENOENT);
    ck_assert_ptr_nonnull(strstr(err, "has no tokenizer.chat_template"));
}
END_TEST

Suite *tpl_chat_suite(void)
{
    Suite *s = suite_create("tpl_chat");
    TCase *tc = tcase_create("chat");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, config_string_and_tokens);
    tcase_add_test(tc, named_list_default);
    tcase_add_test(tc, jinja_file_wins);
    tcase_add_test(tc, template_json_fallback);
    tcase_add_test(tc, tools_and_extra);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, gguf_template);
    suite_add_tcase(s, tc);
    return s;
}
