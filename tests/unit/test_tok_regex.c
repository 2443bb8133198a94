/* test_tok_regex.c — the hand-written GPT-2 / Llama 3 / Qwen2 pre-tokenizer regexes:
 * pieces of tricky strings (contractions, case-insensitivity, spaces before digits and
 * punctuation, \s*[\r\n]+, \s+(?!\S), Unicode letters/numbers, invalid UTF-8), following
 * the regex semantics alternative by alternative. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"
#include "tok_testutil.h"

/* The patterns as they appear in tokenizer.json (JSON-escaped). */
#define P_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\\\p{L}+| ?\\\\p{N}+| ?[^\\\\s\\\\p{L}\\\\p{N}]+|\\\\s+(?!\\\\S)|\\\\s+"
#define P_L3_HEAD "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|"
#define P_L3_TAIL "| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+"
#define P_LLAMA3 P_L3_HEAD "\\\\p{N}{1,3}" P_L3_TAIL
#define P_QWEN2 P_L3_HEAD "\\\\p{N}" P_L3_TAIL

#define SPLIT_TK(pat)                                                                          \
    "{`model`:{`type`:`BPE`,`vocab`:{`a`:0},`merges`:[]},"                                   \
    "`pre_tokenizer`:{`type`:`Split`,`pattern`:{`Regex`:`" pat "`},`behavior`:`Isolated`,"   \
    "`invert`:false}}"

static void expect(const tk_tokenizer_t *tk, const char *in, const char *want)
{
    const char *got = tt_pieces(tk, in);
    ck_assert_msg(strcmp(got, want) == 0, "pieces of \"%s\": got \"%s\", want \"%s\"", in, got, want);
}

START_TEST(llama3_pieces)
{
    tk_tokenizer_t *tk = tt_load(SPLIT_TK(P_LLAMA3));
    expect(tk, "Hello world's  123456\n\n  x", "Hello| world|'s| | |123|456|\n\n| | x");
    expect(tk, "DON'T 'Re", "DON|'T| '|Re");
    expect(tk, "I'm sure they'll've", "I|'m| sure| they|'ll|'ve");
    expect(tk, "it'\xC5\xBF", "it|'\xC5\xBF"); /* U+017F folds to 's' */
    expect(tk, "a...b!?\r\nc", "a|...|b|!?\r\n|c");
    expect(tk, "x1234567y", "x|123|456|7|y");
    expect(tk, "na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC", "na\xC3\xAFve| \xE6\x97\xA5\xE6\x9C\xAC");
    expect(tk, "hi  ", "hi|  ");
    expect(tk, "hi \t x", "hi| \t| x");
    expect(tk, "a\xF0\x9F\x99\x82\xF0\x9F\x9A\x80!", "a|\xF0\x9F\x99\x82\xF0\x9F\x9A\x80!");
    expect(tk, "a\xFF\xFE" "b", "a|\xFF\xFE|b");
    expect(tk, "\t\tfoo", "\t|\tfoo");
    expect(tk, " \n \n x", " \n \n| x");
    expect(tk, "$5", "$|5");
    expect(tk, "", "");
    tk_free(tk);
}
END_TEST

START_TEST(qwen2_pieces)
{
    tk_tokenizer_t *tk = tt_load(SPLIT_TK(P_QWEN2));
    expect(tk, "x1234y", "x|1|2|3|4|y");
    expect(tk, "Hello world's  12", "Hello| world|'s| | |1|2");
    expect(tk, "DON'T", "DON|'T");
    tk_free(tk);
}
END_TEST

START_TEST(gpt2_pieces)
{
    tk_tokenizer_t *tk = tt_load(SPLIT_TK(P_GPT2));
    expect(tk, "Hello world's  123456\n\n  x", "Hello| world|'s| | 123456|\n\n | x");
    expect(tk, "DON'T 'Re", "DON|'|T| '|Re");
    expect(tk, "a...b!?\r\nc", "a|...|b|!?|\r|\n|c");
    expect(tk, "I'm  ", "I|'m|  ");
    tk_free(tk);
}
END_TEST

/* ByteLevel with use_regex applies the GPT-2 pattern, then maps bytes. */
START_TEST(bytelevel_regex)
{
    tk_tokenizer_t *tk = tt_load("{`model`:{`type`:`BPE`,`vocab`:{`a`:0},`merges`:[]},"
                                 "`pre_tokenizer`:{`type`:`ByteLevel`,`add_prefix_space`:true,"
                                 "`use_regex`:true}}");
    /* ' ' is U+0120 (C4 A0) and '\n' U+010A (C4 8A) in the byte map */
    expect(tk, "Hi you\n", "\xC4\xA0Hi|\xC4\xA0you|\xC4\x8A");
    expect(tk, " x", "\xC4\xA0x");
    tk_free(tk);
}
END_TEST

START_TEST(unknown_regex)
{
    char err[256] = "";
    ck_assert_int_eq(tt_try_load(SPLIT_TK("\\\\d+"), err, sizeof err), -ENOTSUP);
    ck_assert_ptr_nonnull(strstr(err, "\\d+"));
}
END_TEST

Suite *tok_regex_suite(void)
{
    Suite *s = suite_create("tok_regex");
    TCase *tc = tcase_create("regex");
    tcase_add_test(tc, llama3_pieces);
    tcase_add_test(tc, qwen2_pieces);
    tcase_add_test(tc, gpt2_pieces);
    tcase_add_test(tc, bytelevel_regex);
    tcase_add_test(tc, unknown_regex);
    suite_add_tcase(s, tc);
    return s;
}
