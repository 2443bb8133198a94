/* test_tok_added.c — added tokens: leftmost-longest matching, lstrip/rstrip/single_word,
 * normalized vs raw matching, special-token strings inside fixture texts, and the
 * post-processor template (prefix and suffix ids). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok_testutil.h"

/* One id per character (no merges, no pre-tokenizer): a b c t ' ' x y z. */
#define CHARS "`vocab`:{`a`:0,`b`:1,`c`:2,`t`:3,` `:4,`x`:5,`y`:6,`z`:7},`merges`:[]"

#define ADDED(content, id, extra)                                                            \
    "{`id`:" #id ",`content`:`" content "`,`special`:false,`normalized`:false" extra "}"

START_TEST(flags)
{
    tk_tokenizer_t *tk = tt_load(
        "{`model`:{`type`:`BPE`," CHARS "},`added_tokens`:["
        ADDED("<l>", 10, ",`lstrip`:true") "," ADDED("<r>", 11, ",`rstrip`:true") ","
        ADDED("cat", 12, ",`single_word`:true") "," ADDED("ab", 13, "") "," ADDED("abc", 14, "") "]}");
    ck_assert_str_eq(tt_ids(tk, "a  <l>b", 0), "0 10 1");
    ck_assert_str_eq(tt_ids(tk, "a<r>  b", 0), "0 11 1");
    ck_assert_str_eq(tt_ids(tk, "a <l> <r> b", 0), "0 10 4 11 1"); /* <r> has no lstrip */
    /* single_word: only when not inside a word */
    ck_assert_str_eq(tt_ids(tk, "cat bcat cat", 0), "12 4 1 2 0 3 4 12");
    ck_assert_str_eq(tt_ids(tk, "cats", 0), "2 0 3"); /* 's' is not in the vocabulary */
    /* leftmost-longest */
    ck_assert_str_eq(tt_ids(tk, "xabcab", 0), "5 14 13");
    tk_free(tk);
}
END_TEST

/* normalized tokens match the normalized text (their own content normalized too);
 * raw tokens match the original text first. */
START_TEST(normalized_tokens)
{
    tk_tokenizer_t *tk = tt_load(
        "{`model`:{`type`:`BPE`," CHARS "},"
        "`normalizer`:{`type`:`Replace`,`pattern`:{`String`:`x`},`content`:`y`},"
        "`added_tokens`:[{`id`:20,`content`:`xx`,`normalized`:true,`special`:false},"
        "{`id`:21,`content`:`xz`,`normalized`:false,`special`:false}]}");
    ck_assert_str_eq(tt_ids(tk, "xxxz", 0), "20 21");
    ck_assert_str_eq(tt_ids(tk, "yx", 0), "20");
    ck_assert_str_eq(tt_ids(tk, "xa", 0), "6 0");
    int32_t ids[] = {20, 21, 0};
    char *t = tt_decode(tk, ids, 3);
    ck_assert_str_eq(t, "xx xz a"); /* no decoder: tokens joined by spaces */
    free(t);
    tk_free(tk);
}
END_TEST

START_TEST(template_suffix)
{
    tk_tokenizer_t *tk = tt_load(
        "{`model`:{`type`:`BPE`," CHARS "},`added_tokens`:["
        "{`id`:30,`content`:`<s>`,`special`:true},{`id`:31,`content`:`</s>`,`special`:true}],"
        "`post_processor`:{`type`:`TemplateProcessing`,`single`:[{`SpecialToken`:{`id`:`<s>`}},"
        "{`Sequence`:{`id`:`A`}},{`SpecialToken`:{`id`:`</s>`}}],`special_tokens`:{"
        "`<s>`:{`id`:`<s>`,`ids`:[30],`tokens`:[`<s>`]},`</s>`:{`id`:`</s>`,`ids`:[31],`tokens`:[`</s>`]}}}}");
    ck_assert_str_eq(tt_ids(tk, "ab", 1), "30 0 1 31");
    ck_assert_str_eq(tt_ids(tk, "ab", 0), "0 1");
    ck_assert_str_eq(tt_ids(tk, "", 1), "30 31");
    ck_assert_int_eq(tk_bos_id(tk), 30);
    ck_assert_uint_eq(tk_vocab_size(tk), 32);
    tk_free(tk);
}
END_TEST

static const char *const fixtures[] = {
    "tests/fixtures/demo",
    "tests/fixtures/dev/qwen2-bl-bf16",
    "tests/fixtures/dev/llama-sp-f32",
};

/* For BOS and EOS of each fixture: "A" + special + "B" encodes as encode("A"), the special id, encode("B") for every
 * special token string of each fixture (text pieces around added tokens are separate). */
START_TEST(fixture_special_strings)
{
    char err[256] = "";
    tk_tokenizer_t *tk;
    ck_assert_msg(tk_load(fixtures[_i], &tk, err, sizeof err) == 0, "%s", err);
    const char *a = "Hello world", *b = " and more text";
    int32_t specials[9];
    size_t ns = tk_eos_ids(tk, specials, 8);
    ck_assert_uint_gt(ns, 0);
    ck_assert_int_ge(tk_bos_id(tk), 0);
    specials[ns++] = tk_bos_id(tk);
    for (size_t k = 0; k < ns; k++) {
        int32_t id = specials[k];
        const char *sp = tk_token_text(tk, id);
        ck_assert_ptr_nonnull(sp);
        char text[256], want[1024];
        snprintf(text, sizeof text, "%s%s%s", a, sp, b);
        snprintf(want, sizeof want, "%s", tt_ids(tk, a, 0));
        snprintf(want + strlen(want), sizeof want - strlen(want), " %d ", id);
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s", tt_ids(tk, b, 0));
        ck_assert_str_eq(tt_ids(tk, text, 0), want);
        /* and decoding keeps the special token text */
        int32_t *ids;
        size_t n;
        ck_assert_int_eq(tk_encode(tk, text, strlen(text), 0, &ids, &n), 0);
        char *d = tt_decode(tk, ids, n);
        ck_assert_ptr_nonnull(strstr(d, sp));
        free(d);
        free(ids);
    }
    tk_free(tk);
}
END_TEST

Suite *tok_added_suite(void)
{
    Suite *s = suite_create("tok_added");
    TCase *tc = tcase_create("added");
    tcase_add_test(tc, flags);
    tcase_add_test(tc, normalized_tokens);
    tcase_add_test(tc, template_suffix);
    tcase_add_loop_test(tc, fixture_special_strings, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}
