/* test_tok_edge.c — edge cases on the real fixtures: empty text, only spaces, long runs
 * of one character, every byte value 0..255, invalid UTF-8 (defined result, no crash),
 * BOS/EOS from the model files, and the `tokenize` CLI (tk_cli_main). */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fu_util.h"
#include "tok_testutil.h"
#include "tok_util.h"

static const char *const fixtures[] = {
    "tests/fixtures/demo",
    "tests/fixtures/dev/qwen2-bl-bf16",
    "tests/fixtures/dev/llama-sp-f32",
};
#define N_FIX 3

static tk_tokenizer_t *load(int i)
{
    char err[256] = "";
    tk_tokenizer_t *tk;
    ck_assert_msg(tk_load(fixtures[i], &tk, err, sizeof err) == 0, "%s: %s", fixtures[i], err);
    return tk;
}

/* decode(encode(s)) for s[0..n) (malloc'd), and the id count in *nids. */
static char *roundtrip(const tk_tokenizer_t *tk, const char *s, size_t n, size_t *nids)
{
    int32_t *ids;
    ck_assert_int_eq(tk_encode(tk, s, n, 0, &ids, nids), 0);
    char *d = tt_decode(tk, ids, *nids);
    free(ids);
    return d;
}

START_TEST(empty_and_spaces)
{
    tk_tokenizer_t *tk = load(_i);
    size_t n;
    char *d = roundtrip(tk, "", 0, &n);
    ck_assert_uint_eq(n, 0);
    ck_assert_str_eq(d, "");
    free(d);
    /* with special tokens: only what the post-processor adds (BOS here) */
    char want[32];
    snprintf(want, sizeof want, "%d", tk_bos_id(tk));
    ck_assert_str_eq(tt_ids(tk, "", 1), want);
    const char *sp[] = {" ", "     ", "\n", " \n \t ", "\r\n\r\n"};
    for (size_t k = 0; k < sizeof sp / sizeof sp[0]; k++) {
        d = roundtrip(tk, sp[k], strlen(sp[k]), &n);
        ck_assert_uint_gt(n, 0);
        ck_assert_str_eq(d, sp[k]);
        free(d);
    }
    tk_free(tk);
}
END_TEST

/* 100k copies of one character (ASCII letter, space, newline, a CJK character). */
START_TEST(long_runs)
{
    tk_tokenizer_t *tk = load(_i);
    const char *unit[] = {"a", " ", "\n", "\xE6\x97\xA5", "ab "};
    for (size_t k = 0; k < sizeof unit / sizeof unit[0]; k++) {
        size_t ul = strlen(unit[k]), reps = 100000, n = ul * reps;
        char *s = malloc(n + 1);
        for (size_t r = 0; r < reps; r++)
            memcpy(s + r * ul, unit[k], ul);
        s[n] = 0;
        size_t nids;
        char *d = roundtrip(tk, s, n, &nids);
        ck_assert_uint_gt(nids, 0);
        ck_assert_uint_le(nids, n + 1); /* + the SentencePiece word mark */
        ck_assert_msg(strcmp(d, s) == 0, "%s: round trip of 100k x \"%s\"", fixtures[_i], unit[k]);
        free(d);
        free(s);
    }
    tk_free(tk);
}
END_TEST

/* Every byte value: printable ASCII (and all of 1..127) round-trips exactly; the whole
 * 0..255 string encodes without error, deterministically, and decodes to valid UTF-8 —
 * for byte-level tokenizers exactly the lossy UTF-8 reading of the input. */
START_TEST(every_byte)
{
    tk_tokenizer_t *tk = load(_i);
    char all[256];
    for (int b = 0; b < 256; b++)
        all[b] = (char)b;
    size_t n;
    char *d = roundtrip(tk, all + 1, 127, &n);
    ck_assert_uint_eq(strlen(d), 127);
    ck_assert(memcmp(d, all + 1, 127) == 0);
    free(d);
    int32_t *a, *b;
    size_t na, nb;
    ck_assert_int_eq(tk_encode(tk, all, 256, 0, &a, &na), 0);
    ck_assert_int_eq(tk_encode(tk, all, 256, 0, &b, &nb), 0);
    ck_assert_uint_eq(na, nb);
    ck_assert(memcmp(a, b, na * sizeof *a) == 0);
    char *text;
    size_t len;
    ck_assert_int_eq(tk_decode(tk, a, na, &text, &len), 0);
    tk_buf_t chk = {0};
    ck_assert_int_eq(tk_utf8_lossy(&chk, (const uint8_t *)text, len), 0);
    ck_assert_uint_eq(chk.len, len); /* valid UTF-8 */
    ck_assert(memcmp(chk.p, text, len) == 0);
    if (_i < 2) { /* byte-level: decode(encode(x)) is lossy(x) */
        chk.len = 0;
        ck_assert_int_eq(tk_utf8_lossy(&chk, (const uint8_t *)all, 256), 0);
        ck_assert_uint_eq(chk.len, len);
        ck_assert(memcmp(chk.p, text, len) == 0);
    }
    tk_buf_free(&chk);
    free(text);
    free(a);
    free(b);
    tk_free(tk);
}
END_TEST

START_TEST(invalid_utf8)
{
    tk_tokenizer_t *tk = load(_i);
    const char *bad[] = {"\xFF", "a\xC3", "\xE6\x97", "x\xED\xA0\x80y", "\xF4\x90\x80\x80",
                         "\xC0\xAF", "ok \x80\x80 ok", "\xF0\x9F\x99"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        size_t n;
        char *d = roundtrip(tk, bad[k], strlen(bad[k]), &n);
        ck_assert_uint_gt(n, 0);
        tk_buf_t chk = {0};
        ck_assert_int_eq(tk_utf8_lossy(&chk, (const uint8_t *)bad[k], strlen(bad[k])), 0);
        if (_i < 2) /* byte-level: maximal ill-formed parts become one U+FFFD each */
            ck_assert_str_eq(d, chk.p);
        else        /* byte fallback: the valid parts survive */
            ck_assert_ptr_nonnull(strstr(d, "\xEF\xBF\xBD"));
        tk_buf_free(&chk);
        free(d);
    }
    tk_free(tk);
}
END_TEST

/* BOS/EOS and vocabulary size agree with the model's config.json (read at run time). */
START_TEST(special_ids)
{
    tk_tokenizer_t *tk = load(_i);
    char path[256], *txt;
    size_t len;
    snprintf(path, sizeof path, "%s/config.json", fixtures[_i]);
    ck_assert_int_eq(fu_read_file(path, 1 << 20, &txt, &len), 0);
    cJSON *cfg = cJSON_ParseWithLength(txt, len);
    free(txt);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_int_eq(tk_bos_id(tk), (int)cJSON_GetObjectItem(cfg, "bos_token_id")->valuedouble);
    int32_t eos[8];
    size_t ne = tk_eos_ids(tk, eos, 8);
    ck_assert_uint_ge(ne, 1);
    ck_assert_int_eq(eos[0], (int)cJSON_GetObjectItem(cfg, "eos_token_id")->valuedouble);
    ck_assert_uint_eq(tk_vocab_size(tk), (size_t)cJSON_GetObjectItem(cfg, "vocab_size")->valuedouble);
    ck_assert_ptr_null(tk_token_text(tk, -1));
    ck_assert_ptr_null(tk_token_text(tk, (int32_t)tk_vocab_size(tk)));
    cJSON_Delete(cfg);
    tk_free(tk);
}
END_TEST

/* Run tk_cli_main with stdout and stderr captured into a buffer. Returns the exit status. */
static int run_cli(char **argv, int argc, char *out, size_t outlen)
{
    fflush(stdout);
    FILE *tmp = tmpfile();
    ck_assert_ptr_nonnull(tmp);
    int saved = dup(1), saved_err = dup(2);
    dup2(fileno(tmp), 1);
    dup2(fileno(tmp), 2); /* error messages go to the same capture */
    int rc = tk_cli_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved, 1);
    dup2(saved_err, 2);
    close(saved);
    close(saved_err);
    rewind(tmp);
    size_t n = fread(out, 1, outlen - 1, tmp);
    out[n] = 0;
    fclose(tmp);
    return rc;
}

START_TEST(cli)
{
    char out[4096], want[4096];
    tk_tokenizer_t *tk = load(_i);
    char *enc[] = {"tokenize", "-m", (char *)fixtures[_i], "--special", "Hello world"};
    ck_assert_int_eq(run_cli(enc, 5, out, sizeof out), 0);
    snprintf(want, sizeof want, "%s\n", tt_ids(tk, "Hello world", 1));
    ck_assert_str_eq(out, want);
    char ids[1024];
    snprintf(ids, sizeof ids, "[%s]", tt_ids(tk, "Hello world", 0));
    for (char *p = ids; *p; p++)
        if (*p == ' ')
            *p = ',';
    char *dec[] = {"tokenize", "-m", (char *)fixtures[_i], "--decode", ids};
    ck_assert_int_eq(run_cli(dec, 5, out, sizeof out), 0);
    ck_assert_str_eq(out, "Hello world\n");
    char *bad[] = {"tokenize", "--bogus"};
    ck_assert_int_ne(run_cli(bad, 2, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "usage"));
    char *missing[] = {"tokenize", "-m", "/nonexistent/model", "x"};
    ck_assert_int_ne(run_cli(missing, 4, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "tokenizer.json"));
    tk_free(tk);
}
END_TEST

Suite *tok_edge_suite(void)
{
    Suite *s = suite_create("tok_edge");
    TCase *tc = tcase_create("edge");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, empty_and_spaces, 0, N_FIX);
    tcase_add_loop_test(tc, long_runs, 0, N_FIX);
    tcase_add_loop_test(tc, every_byte, 0, N_FIX);
    tcase_add_loop_test(tc, invalid_utf8, 0, N_FIX);
    tcase_add_loop_test(tc, special_ids, 0, N_FIX);
    tcase_add_loop_test(tc, cli, 0, N_FIX);
    suite_add_tcase(s, tc);
    return s;
}
