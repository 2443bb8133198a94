/* test_tok_bpe.c — the BPE model on small in-memory vocabularies: merge priority by rank,
 * both merge forms, ignore_merges, byte fallback, unk and fuse_unk, long runs (heap),
 * load errors. With no pre-tokenizer the whole text is one word. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "tok_testutil.h"

#define VOCAB_ABC "{`a`:0,`b`:1,`c`:2,`ab`:3,`bc`:4,`abc`:5}"

START_TEST(rank_order)
{
    tk_tokenizer_t *t1 = tt_load("{`model`:{`type`:`BPE`,`vocab`:" VOCAB_ABC ",`merges`:[`a b`,`b c`]}}");
    tk_tokenizer_t *t2 = tt_load("{`model`:{`type`:`BPE`,`vocab`:" VOCAB_ABC ",`merges`:[`b c`,`a b`]}}");
    ck_assert_str_eq(tt_ids(t1, "abc", 0), "3 2"); /* ab first, then no (ab, c) merge */
    ck_assert_str_eq(tt_ids(t2, "abc", 0), "0 4"); /* bc first */
    ck_assert_str_eq(tt_ids(t1, "ababc", 0), "3 3 2");
    tk_free(t1);
    tk_free(t2);
}
END_TEST

START_TEST(merge_forms)
{
    const char *texts[] = {"abc", "cab", "aabbcc", "abcabcab", "c"};
    tk_tokenizer_t *s = tt_load("{`model`:{`type`:`BPE`,`vocab`:" VOCAB_ABC
                                ",`merges`:[`a b`,`ab c`,`b c`]}}");
    tk_tokenizer_t *p = tt_load("{`model`:{`type`:`BPE`,`vocab`:" VOCAB_ABC
                                ",`merges`:[[`a`,`b`],[`ab`,`c`],[`b`,`c`]]}}");
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char a[256];
        strcpy(a, tt_ids(s, texts[i], 0));
        ck_assert_str_eq(a, tt_ids(p, texts[i], 0));
    }
    ck_assert_str_eq(tt_ids(p, "abc", 0), "5");
    /* the pair form allows tokens containing spaces */
    tk_tokenizer_t *sp = tt_load("{`model`:{`type`:`BPE`,`vocab`:{`a`:0,` `:1,`a `:2,`a a`:3},"
                                 "`merges`:[[`a`,` `],[`a `,`a`]]}}");
    ck_assert_str_eq(tt_ids(sp, "a a", 0), "3");
    tk_free(s);
    tk_free(p);
    tk_free(sp);
}
END_TEST

START_TEST(ignore_merges)
{
    tk_tokenizer_t *on = tt_load("{`model`:{`type`:`BPE`,`ignore_merges`:true,`vocab`:" VOCAB_ABC
                                 ",`merges`:[`a b`]}}");
    tk_tokenizer_t *off = tt_load("{`model`:{`type`:`BPE`,`ignore_merges`:false,`vocab`:" VOCAB_ABC
                                  ",`merges`:[`a b`]}}");
    ck_assert_str_eq(tt_ids(on, "abc", 0), "5");
    ck_assert_str_eq(tt_ids(off, "abc", 0), "3 2");
    ck_assert_str_eq(tt_ids(on, "abca", 0), "3 2 0");
    tk_free(on);
    tk_free(off);
}
END_TEST

START_TEST(byte_fallback_unk)
{
    /* é = C3 A9; ß = C3 9F (no <0x9F>) */
    tk_tokenizer_t *tk = tt_load("{`model`:{`type`:`BPE`,`byte_fallback`:true,`fuse_unk`:true,"
                                 "`unk_token`:`<unk>`,`vocab`:{`<unk>`:0,`a`:1,`<0xC3>`:2,`<0xA9>`:3},"
                                 "`merges`:[]}}");
    ck_assert_str_eq(tt_ids(tk, "a\xC3\xA9" "a", 0), "1 2 3 1");
    ck_assert_str_eq(tt_ids(tk, "a\xC3\x9F\xC3\x9F" "a", 0), "1 0 1"); /* fused unk */
    tk_free(tk);
    tk = tt_load("{`model`:{`type`:`BPE`,`fuse_unk`:false,`unk_token`:`<unk>`,"
                 "`vocab`:{`<unk>`:0,`a`:1},`merges`:[]}}");
    ck_assert_str_eq(tt_ids(tk, "a\xC3\x9F\xC3\x9F" "a", 0), "1 0 0 1");
    tk_free(tk);
    /* no unk token: unknown characters vanish */
    tk = tt_load("{`model`:{`type`:`BPE`,`vocab`:{`a`:0},`merges`:[]}}");
    ck_assert_str_eq(tt_ids(tk, "xax", 0), "0");
    tk_free(tk);
}
END_TEST

/* 100k identical characters: merged by the heap in O(n log n). */
START_TEST(long_run)
{
    tk_tokenizer_t *tk = tt_load("{`model`:{`type`:`BPE`,`vocab`:{`a`:0,`aa`:1,`aaaa`:2},"
                                 "`merges`:[`a a`,`aa aa`]}}");
    size_t n = 100001;
    char *s = malloc(n + 1);
    memset(s, 'a', n);
    s[n] = 0;
    int32_t *ids;
    size_t k;
    ck_assert_int_eq(tk_encode(tk, s, n, 0, &ids, &k), 0);
    ck_assert_uint_eq(k, n / 4 + 1);
    for (size_t i = 0; i + 1 < k; i++)
        ck_assert_int_eq(ids[i], 2);
    ck_assert_int_eq(ids[k - 1], 0);
    free(ids);
    free(s);
    tk_free(tk);
}
END_TEST

START_TEST(load_errors)
{
    char err[256];
    ck_assert_int_eq(tt_try_load("{`model`:{`type`:`BPE`,`vocab`:{`a`:0},`merges`:[`a z`]}}", err,
                                 sizeof err), -EINVAL);
    ck_assert_int_eq(tt_try_load("{`model`:{`type`:`BPE`,`vocab`:{`a`:0},`merges`:[`a`]}}", err,
                                 sizeof err), -EINVAL);
    ck_assert_int_eq(tt_try_load("{`model`:{`type`:`WordPiece`,`vocab`:{`a`:0}}}", err, sizeof err),
                     -ENOTSUP);
    ck_assert_ptr_nonnull(strstr(err, "WordPiece"));
    ck_assert_int_eq(tt_try_load("{`model`:{`type`:`Unigram`,`vocab`:[[`a`,0.0]]}}", err, sizeof err),
                     -ENOTSUP);
    ck_assert_ptr_nonnull(strstr(err, "Unigram"));
    ck_assert_int_eq(tt_try_load("{`model`:{`type`:`BPE`,`vocab`:{`a`:0},`merges`:[]},"
                                 "`normalizer`:{`type`:`NFKC`}}", err, sizeof err), -ENOTSUP);
    ck_assert_ptr_nonnull(strstr(err, "NFKC"));
    ck_assert_int_eq(tt_try_load("{`model`:{`type`:`BPE`,`vocab`:{`a`:0},`merges`:[]},"
                                 "`decoder`:{`type`:`WordPiece`}}", err, sizeof err), -ENOTSUP);
    ck_assert_int_eq(tt_try_load("not json", err, sizeof err), -EINVAL);
    /* a post-processor id outside the vocabulary would be emitted by every encoding
     * (found by fuzz_tokenizer; tests/fuzz/regress/fuzz_tokenizer/postproc-id-outside-vocab) */
    const char *pp = "{`model`:{`type`:`BPE`,`vocab`:{`a`:0,`b`:1},`merges`:[]},"
                     "`post_processor`:{`type`:`TemplateProcessing`,`single`:[{`SpecialToken`:{`id`:`<s>`}},"
                     "{`Sequence`:{`id`:`A`}}],`special_tokens`:{`<s>`:{`ids`:[%d]}}}}";
    char json[512];
    snprintf(json, sizeof json, pp, 2);
    ck_assert_int_eq(tt_try_load(json, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "outside the vocabulary"));
    snprintf(json, sizeof json, pp, 1);
    tk_tokenizer_t *tk = tt_load(json);
    ck_assert_str_eq(tt_ids(tk, "a", 1), "1 0");
    tk_free(tk);
    ck_assert_int_eq(tt_try_load("{`model`:{`type`:`BPE`,`vocab`:{`a`:0},`merges`:[]},`post_processor`:"
                                 "{`type`:`BertProcessing`,`cls`:[`[CLS]`,5],`sep`:[`[SEP]`,0]}}",
                                 err, sizeof err), -EINVAL);
    /* an added token id far beyond the vocabulary would size the id table in gigabytes
     * (found by fuzz_tokenizer; regression input added-id-far-beyond-vocab) */
    const char *add = "{`model`:{`type`:`BPE`,`vocab`:{`a`:0},`merges`:[]},"
                      "`added_tokens`:[{`id`:%d,`content`:`<x>`,`special`:true}]}";
    snprintf(json, sizeof json, add, 300000000);
    ck_assert_int_eq(tt_try_load(json, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "far beyond"));
    snprintf(json, sizeof json, add, 1000);  /* a gap after the vocabulary is fine */
    tk = tt_load(json);
    ck_assert_uint_eq(tk_vocab_size(tk), 1001);
    ck_assert_str_eq(tt_ids(tk, "a<x>", 0), "0 1000");
    tk_free(tk);
}
END_TEST

Suite *tok_bpe_suite(void)
{
    Suite *s = suite_create("tok_bpe");
    TCase *tc = tcase_create("bpe");
    tcase_add_test(tc, rank_order);
    tcase_add_test(tc, merge_forms);
    tcase_add_test(tc, ignore_merges);
    tcase_add_test(tc, byte_fallback_unk);
    tcase_add_test(tc, long_run);
    tcase_add_test(tc, load_errors);
    suite_add_tcase(s, tc);
    return s;
}
