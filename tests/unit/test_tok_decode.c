/* test_tok_decode.c — decoders (Replace, ByteFallback, Fuse, Strip, Metaspace, ByteLevel,
 * none) on small vocabularies, and the streaming decoder: pushing ids one at a time
 * must produce exactly tk_decode() of all of them (every reference string of every
 * fixture, and runs of raw byte tokens). */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fu_util.h"
#include "tok_testutil.h"

#define M "\xE2\x96\x81"
#define SP_VOCAB                                                                              \
    "`vocab`:{`" M "Hello`:0,`<0xC3>`:1,`<0xA9>`:2,`" M "x`:3,`<0xE6>`:4,`<0x97>`:5,`" M M "a`:6,"  \
    "`<s>`:7},`merges`:[]"
#define SP_DECODER                                                                            \
    "`decoder`:{`type`:`Sequence`,`decoders`:[{`type`:`Replace`,`pattern`:{`String`:`" M "`},"      \
    "`content`:` `},{`type`:`ByteFallback`},{`type`:`Fuse`},{`type`:`Strip`,`content`:` `,"      \
    "`start`:1,`stop`:0}]}"

static void dec(const tk_tokenizer_t *tk, const int32_t *ids, size_t n, const char *want)
{
    char *t = tt_decode(tk, ids, n);
    ck_assert_msg(strcmp(t, want) == 0, "decoded \"%s\", want \"%s\"", t, want);
    free(t);
}

START_TEST(sentencepiece_chain)
{
    tk_tokenizer_t *tk = tt_load("{`model`:{`type`:`BPE`," SP_VOCAB "}," SP_DECODER "}");
    dec(tk, (int32_t[]){0, 1, 2, 3}, 4, "Hello\xC3\xA9 x");
    /* an invalid byte run: one U+FFFD per byte (not per maximal subpart) */
    dec(tk, (int32_t[]){0, 4, 5, 3}, 4, "Hello\xEF\xBF\xBD\xEF\xBF\xBD x");
    dec(tk, (int32_t[]){1}, 1, "\xEF\xBF\xBD");
    /* Strip removes one leading space only; special tokens pass through */
    dec(tk, (int32_t[]){6}, 1, " a");
    dec(tk, (int32_t[]){7, 0}, 2, "<s> Hello");
    dec(tk, (int32_t[]){99, 0}, 2, "Hello"); /* unknown ids are skipped */
    dec(tk, NULL, 0, "");
    tk_free(tk);
}
END_TEST

START_TEST(metaspace_decoder)
{
    const char *fmt = "{`model`:{`type`:`BPE`," SP_VOCAB "},`decoder`:{`type`:`Metaspace`,"
                      "`replacement`:`" M "`,`prepend_scheme`:`%s`,`split`:true}}";
    char json[1024];
    snprintf(json, sizeof json, fmt, "always");
    tk_tokenizer_t *tk = tt_load(json);
    dec(tk, (int32_t[]){0, 3}, 2, "Hello x");
    dec(tk, (int32_t[]){6, 3}, 2, "a x"); /* every mark of the first token goes */
    tk_free(tk);
    snprintf(json, sizeof json, fmt, "never");
    tk = tt_load(json);
    dec(tk, (int32_t[]){0, 3}, 2, " Hello x");
    tk_free(tk);
}
END_TEST

START_TEST(bytelevel_decoder)
{
    /* U+0120 is ' ', U+010A '\n', U+00E6 0xE6, U+0139 0x97, U+00A5 0xA5; a token with
     * characters outside the map keeps its bytes */
    tk_tokenizer_t *tk = tt_load("{`model`:{`type`:`BPE`,`vocab`:{`\xC4\xA0hi`:0,`\xC4\x8A`:1,"
                                 "`\xE6\x97\xA5`:2,`\xC3\xA6`:3,`\xC4\xB9`:4,`\xC2\xA5`:5},`merges`:[]},"
                                 "`decoder`:{`type`:`ByteLevel`}}");
    dec(tk, (int32_t[]){0, 1, 2}, 3, " hi\n\xE6\x97\xA5");
    dec(tk, (int32_t[]){3, 4, 5}, 3, "\xE6\x97\xA5");        /* bytes E6 97 A5 */
    dec(tk, (int32_t[]){3, 4, 0}, 3, "\xEF\xBF\xBD hi");       /* truncated: one U+FFFD */
    tk_free(tk);
    /* no decoder: tokens joined by spaces */
    tk = tt_load("{`model`:{`type`:`BPE`,`vocab`:{`a`:0,`b`:1},`merges`:[]}}");
    dec(tk, (int32_t[]){0, 1, 0}, 3, "a b a");
    tk_free(tk);
}
END_TEST

/* Stream ids one by one; the concatenation must equal tk_decode(ids). */
static void stream_equals_decode(const tk_tokenizer_t *tk, const int32_t *ids, size_t n)
{
    tk_stream_t *st = tk_stream_new(tk);
    ck_assert_ptr_nonnull(st);
    size_t cap = 1024, len = 0;
    char *acc = malloc(cap);
    const char *t;
    size_t l;
    for (size_t i = 0; i <= n; i++) {
        int rc = i < n ? tk_stream_push(st, ids[i], &t, &l) : tk_stream_flush(st, &t, &l);
        ck_assert_int_eq(rc, 0);
        while (len + l + 1 > cap)
            acc = realloc(acc, cap *= 2);
        memcpy(acc + len, t, l);
        len += l;
    }
    acc[len] = 0;
    char *full = tt_decode(tk, ids, n);
    ck_assert_msg(strcmp(acc, full) == 0, "stream \"%s\" != decode \"%s\"", acc, full);
    free(full);
    free(acc);
    tk_stream_free(st);
}

static const char *const fixtures[] = {
    "tests/fixtures/demo",
    "tests/fixtures/dev/qwen2-bl-bf16",
    "tests/fixtures/dev/llama-sp-f32",
};

START_TEST(stream_reference)
{
    char err[256] = "", path[256];
    tk_tokenizer_t *tk;
    ck_assert_msg(tk_load(fixtures[_i], &tk, err, sizeof err) == 0, "%s", err);
    snprintf(path, sizeof path, "%s/reference.json", fixtures[_i]);
    char *txt;
    size_t len;
    ck_assert_int_eq(fu_read_file(path, 64u << 20, &txt, &len), 0);
    cJSON *ref = cJSON_ParseWithLength(txt, len);
    free(txt);
    ck_assert_ptr_nonnull(ref);
    const cJSON *c;
    size_t count = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(ref, "tokenizer")) {
        const char *s = cJSON_GetObjectItemCaseSensitive(c, "text")->valuestring;
        int32_t *ids;
        size_t n;
        ck_assert_int_eq(tk_encode(tk, s, strlen(s), 1, &ids, &n), 0);
        stream_equals_decode(tk, ids, n);
        free(ids);
        count++;
    }
    /* generated ids of the reference prompts (random models emit odd byte tokens) */
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(ref, "prompts")) {
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(c, "greedy"), *e;
        int32_t ids[4096];
        size_t n = 0;
        cJSON_ArrayForEach(e, g) if (n < 4096) ids[n++] = (int32_t)e->valuedouble;
        stream_equals_decode(tk, ids, n);
        count++;
    }
    ck_assert_uint_gt(count, 0);
    cJSON_Delete(ref);
    tk_free(tk);
}
END_TEST

/* Every byte token in sequence (incl. invalid UTF-8 runs) through the SP fixture. */
START_TEST(stream_byte_tokens)
{
    char err[256] = "";
    tk_tokenizer_t *tk;
    ck_assert_msg(tk_load("tests/fixtures/dev/llama-sp-f32", &tk, err, sizeof err) == 0, "%s", err);
    int32_t ids[300];
    size_t n = 0;
    const char *text = "\xE6\x97\xA5 a \xF0\x9F\x99\x82";
    int32_t *enc;
    size_t ne;
    ck_assert_int_eq(tk_encode(tk, text, strlen(text), 0, &enc, &ne), 0);
    for (size_t i = 0; i < ne && n < 100; i++)
        ids[n++] = enc[i];
    free(enc);
    for (int b = 0x80; b < 0x100 && n < 300; b += 3) { /* lone continuation/lead bytes */
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        ck_assert_int_eq(tk_encode(tk, name, 6, 0, &enc, &ne), 0);
        free(enc);
        for (int32_t id = 0; id < (int32_t)tk_vocab_size(tk); id++) {
            const char *t = tk_token_text(tk, id);
            if (t && strcmp(t, name) == 0) {
                ids[n++] = id;
                break;
            }
        }
    }
    stream_equals_decode(tk, ids, n);
    tk_free(tk);
}
END_TEST

/* A window that never completes (a run of invalid bytes) is emitted after a bounded
 * number of ids (TK_STREAM_HOLD in tok_stream.c) instead of growing with the text; the
 * fuzz target's inputs (fuzz-max-len 512) are too short to get there. */
START_TEST(stream_hold_bound)
{
    char err[256] = "";
    tk_tokenizer_t *tk;
    ck_assert_msg(tk_load("tests/fixtures/dev/llama-sp-f32", &tk, err, sizeof err) == 0, "%s", err);
    int32_t ff = -1;
    for (int32_t id = 0; id < (int32_t)tk_vocab_size(tk) && ff < 0; id++) {
        const char *t = tk_token_text(tk, id);
        if (t && strcmp(t, "<0xFF>") == 0)
            ff = id;
    }
    ck_assert_int_ge(ff, 0);
    tk_stream_t *st = tk_stream_new(tk);
    ck_assert_ptr_nonnull(st);
    size_t first = 0, total = 0;
    for (size_t i = 1; i <= 3000; i++) {
        const char *t;
        size_t l;
        ck_assert_int_eq(tk_stream_push(st, ff, &t, &l), 0);
        for (size_t k = 0; k + 3 <= l; k += 3)  /* U+FFFD per byte */
            ck_assert(memcmp(t + k, "\xEF\xBF\xBD", 3) == 0);
        ck_assert_uint_eq(l % 3, 0);
        if (l && !first)
            first = i;
        total += l;
    }
    ck_assert_msg(first > 1 && first <= 1100, "first text after %zu ids", first);
    const char *t;
    size_t l;
    ck_assert_int_eq(tk_stream_flush(st, &t, &l), 0);
    total += l;
    ck_assert_uint_eq(total, 3 * 3000);
    tk_stream_free(st);
    tk_free(tk);
}
END_TEST

Suite *tok_decode_suite(void)
{
    Suite *s = suite_create("tok_decode");
    TCase *tc = tcase_create("decode");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, sentencepiece_chain);
    tcase_add_test(tc, metaspace_decoder);
    tcase_add_test(tc, bytelevel_decoder);
    tcase_add_loop_test(tc, stream_reference, 0, 3);
    tcase_add_test(tc, stream_byte_tokens);
    tcase_add_test(tc, stream_hold_bound);
    suite_add_tcase(s, tc);
    return s;
}
