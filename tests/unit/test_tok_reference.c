/* test_tok_reference.c — the tokenizer against transformers' own output: for every test
 * string of every fixture's reference.json, encode without and with special tokens and
 * decode, and compare with `ids`, `ids_with_special` and `decoded` (read at run time). */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fu_util.h"
#include "tokenizer.h"

static const char *const fixtures[] = {
    "tests/fixtures/demo",
    "tests/fixtures/dev/qwen2-bl-bf16",
    "tests/fixtures/dev/llama-sp-f32",
};

static cJSON *load_reference(const char *dir)
{
    char path[512];
    char *txt;
    size_t len;
    snprintf(path, sizeof path, "%s/reference.json", dir);
    ck_assert_msg(fu_read_file(path, 64u << 20, &txt, &len) == 0, "cannot read %s", path);
    cJSON *j = cJSON_ParseWithLength(txt, len);
    free(txt);
    ck_assert_msg(j != NULL, "bad JSON in %s", path);
    return j;
}

/* Compare ids with a JSON array of numbers; reports the first difference. */
static void check_ids(const char *dir, const char *what, const char *text, const int32_t *ids,
                      size_t n, const cJSON *want)
{
    ck_assert_msg(cJSON_IsArray(want), "%s: reference lacks %s", dir, what);
    size_t wn = (size_t)cJSON_GetArraySize(want);
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, want) {
        ck_assert_msg(i < n, "%s %s for \"%s\": got %zu ids, want %zu", dir, what, text, n, wn);
        ck_assert_msg(ids[i] == (int32_t)e->valuedouble,
                      "%s %s for \"%s\": id %zu is %d, want %d", dir, what, text, i, ids[i],
                      (int)e->valuedouble);
        i++;
    }
    ck_assert_msg(n == wn, "%s %s for \"%s\": got %zu ids, want %zu", dir, what, text, n, wn);
}

START_TEST(reference_strings)
{
    const char *dir = fixtures[_i];
    char err[256] = "";
    tk_tokenizer_t *tk;
    int rc = tk_load(dir, &tk, err, sizeof err);
    ck_assert_msg(rc == 0, "%s: tk_load: %s", dir, err);
    cJSON *ref = load_reference(dir);
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(ref, "tokenizer"), *c;
    ck_assert_int_gt(cJSON_GetArraySize(cases), 0);
    cJSON_ArrayForEach(c, cases) {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(c, "text");
        const cJSON *decoded = cJSON_GetObjectItemCaseSensitive(c, "decoded");
        ck_assert(cJSON_IsString(text) && cJSON_IsString(decoded));
        const char *t = text->valuestring;
        int32_t *ids;
        size_t n;
        ck_assert_int_eq(tk_encode(tk, t, strlen(t), 0, &ids, &n), 0);
        check_ids(dir, "ids", t, ids, n, cJSON_GetObjectItemCaseSensitive(c, "ids"));
        char *out;
        size_t olen;
        ck_assert_int_eq(tk_decode(tk, ids, n, &out, &olen), 0);
        ck_assert_msg(olen == strlen(decoded->valuestring) && strcmp(out, decoded->valuestring) == 0,
                      "%s decode of \"%s\": got \"%s\", want \"%s\"", dir, t, out, decoded->valuestring);
        free(out);
        free(ids);
        ck_assert_int_eq(tk_encode(tk, t, strlen(t), 1, &ids, &n), 0);
        check_ids(dir, "ids_with_special", t, ids, n,
                  cJSON_GetObjectItemCaseSensitive(c, "ids_with_special"));
        free(ids);
    }
    cJSON_Delete(ref);
    tk_free(tk);
}
END_TEST

/* The prompts of reference.json are encoded with BOS: check those too. */
START_TEST(reference_prompts)
{
    const char *dir = fixtures[_i];
    char err[256] = "";
    tk_tokenizer_t *tk;
    ck_assert_msg(tk_load(dir, &tk, err, sizeof err) == 0, "%s: %s", dir, err);
    cJSON *ref = load_reference(dir);
    const cJSON *prompts = cJSON_GetObjectItemCaseSensitive(ref, "prompts"), *p;
    cJSON_ArrayForEach(p, prompts) {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(p, "prompt");
        if (!cJSON_IsString(text))
            text = cJSON_GetObjectItemCaseSensitive(p, "text");
        ck_assert_msg(cJSON_IsString(text), "%s: prompt without text", dir);
        int32_t *ids;
        size_t n;
        ck_assert_int_eq(tk_encode(tk, text->valuestring, strlen(text->valuestring), 1, &ids, &n), 0);
        check_ids(dir, "prompt ids", text->valuestring, ids, n, cJSON_GetObjectItemCaseSensitive(p, "ids"));
        free(ids);
    }
    cJSON_Delete(ref);
    tk_free(tk);
}
END_TEST

Suite *tok_reference_suite(void)
{
    Suite *s = suite_create("tok_reference");
    TCase *tc = tcase_create("reference");
    tcase_set_timeout(tc, 60);
    int n = (int)(sizeof fixtures / sizeof fixtures[0]);
    tcase_add_loop_test(tc, reference_strings, 0, n);
    tcase_add_loop_test(tc, reference_prompts, 0, n);
    suite_add_tcase(s, tc);
    return s;
}
