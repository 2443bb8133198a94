/* test_tok_pretok.c — Split behaviours on a literal, the Metaspace pre-tokenizer
 * (prepend_scheme always/first/never, split on/off) and the classic SentencePiece
 * normalizer form (Prepend + Replace) applied per text segment. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tok_testutil.h"

#define MODEL "`model`:{`type`:`BPE`,`vocab`:{`a`:0},`merges`:[]}"
#define SPLIT_LIT(behavior, invert)                                                            \
    "{" MODEL ",`pre_tokenizer`:{`type`:`Split`,`pattern`:{`String`:`-`},`behavior`:`" behavior \
    "`,`invert`:" invert "}}"

static void expect(const char *json, const char *in, const char *want)
{
    tk_tokenizer_t *tk = tt_load(json);
    const char *got = tt_pieces(tk, in);
    ck_assert_msg(strcmp(got, want) == 0, "pieces of \"%s\": got \"%s\", want \"%s\"", in, got, want);
    tk_free(tk);
}

START_TEST(split_behaviors)
{
    const char *in = "a-b--c-";
    expect(SPLIT_LIT("Removed", "false"), in, "a|b|c");
    expect(SPLIT_LIT("Isolated", "false"), in, "a|-|b|-|-|c|-");
    expect(SPLIT_LIT("MergedWithPrevious", "false"), in, "a-|b-|-|c-");
    expect(SPLIT_LIT("MergedWithNext", "false"), in, "a|-b|-|-c|-");
    expect(SPLIT_LIT("Contiguous", "false"), in, "a|-|b|--|c|-");
    expect(SPLIT_LIT("Removed", "true"), in, "-|-|-|-");
}
END_TEST

#define META(scheme, split)                                                                  \
    "{`model`:{`type`:`BPE`,`vocab`:{`\xE2\x96\x81`:0,`H`:1,`e`:2,`y`:3,`<x>`:4},`merges`:[]},"   \
    "`added_tokens`:[{`id`:4,`content`:`<x>`,`special`:true,`normalized`:false}],"            \
    "`pre_tokenizer`:{`type`:`Metaspace`,`replacement`:`\xE2\x96\x81`,`prepend_scheme`:`"      \
    scheme "`,`split`:" split "}}"
#define M "\xE2\x96\x81"

START_TEST(metaspace)
{
    expect(META("always", "true"), "Hey Hey", M "Hey|" M "Hey");
    expect(META("always", "false"), "Hey Hey", M "Hey" M "Hey");
    expect(META("always", "true"), "  Hey", M "|" M "Hey");
    expect(META("never", "true"), "Hey Hey", "Hey|" M "Hey");
    /* "first" prepends only to the text at offset 0 of the input */
    tk_tokenizer_t *tk = tt_load(META("first", "true"));
    ck_assert_str_eq(tt_ids(tk, "Hey<x>Hey", 0), "0 1 2 3 4 1 2 3");
    tk_free(tk);
    tk = tt_load(META("always", "true"));
    ck_assert_str_eq(tt_ids(tk, "Hey<x>Hey", 0), "0 1 2 3 4 0 1 2 3");
    tk_free(tk);
    tk = tt_load(META("never", "true"));
    ck_assert_str_eq(tt_ids(tk, "Hey<x>Hey", 0), "1 2 3 4 1 2 3");
    tk_free(tk);
    /* older form: add_prefix_space instead of prepend_scheme */
    tk = tt_load("{`model`:{`type`:`BPE`,`vocab`:{`\xE2\x96\x81`:0,`a`:1},`merges`:[]},"
                 "`pre_tokenizer`:{`type`:`Metaspace`,`replacement`:`\xE2\x96\x81`,"
                 "`add_prefix_space`:true}}");
    ck_assert_str_eq(tt_ids(tk, "a a", 0), "0 1 0 1");
    tk_free(tk);
}
END_TEST

/* Classic Llama form: the normalizer prepends to each segment between added tokens. */
START_TEST(sp_classic_normalizer)
{
    tk_tokenizer_t *tk = tt_load(
        "{`model`:{`type`:`BPE`,`vocab`:{`\xE2\x96\x81`:0,`a`:1,`<x>`:2},`merges`:[]},"
        "`added_tokens`:[{`id`:2,`content`:`<x>`,`special`:true,`normalized`:false}],"
        "`normalizer`:{`type`:`Sequence`,`normalizers`:[{`type`:`Prepend`,`prepend`:`\xE2\x96\x81`},"
        "{`type`:`Replace`,`pattern`:{`String`:` `},`content`:`\xE2\x96\x81`}]}}");
    ck_assert_str_eq(tt_ids(tk, "a a", 0), "0 1 0 1");
    ck_assert_str_eq(tt_ids(tk, "a<x>a", 0), "0 1 2 0 1");
    ck_assert_str_eq(tt_ids(tk, "<x>", 0), "2");
    ck_assert_str_eq(tt_ids(tk, "", 0), "");
    tk_free(tk);
}
END_TEST

Suite *tok_pretok_suite(void)
{
    Suite *s = suite_create("tok_pretok");
    TCase *tc = tcase_create("pretok");
    tcase_add_test(tc, split_behaviors);
    tcase_add_test(tc, metaspace);
    tcase_add_test(tc, sp_classic_normalizer);
    suite_add_tcase(s, tc);
    return s;
}
