/* test_tok_nfc.c — the NFC normalizer (Qwen2-style tokenizer.json "normalizer": NFC):
 * composition, Hangul, canonical reordering, singleton and composition exclusions,
 * invalid bytes, and the normalizer inside a tokenizer. (tools/gen_nfc_tables.py's
 * output was also checked against the whole Unicode NormalizationTest.txt.) */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tok_nfc.h"
#include "tok_testutil.h"

static void nfc_is(const char *in, const char *want)
{
    tk_buf_t b = {0};
    ck_assert_int_eq(tk_nfc(&b, in, strlen(in)), 0);
    ck_assert_msg(b.len == strlen(want) && memcmp(b.p, want, b.len) == 0, "NFC of \"%s\" is \"%s\"",
                  in, b.p);
    tk_buf_free(&b);
}

START_TEST(nfc_cases)
{
    nfc_is("plain ascii", "plain ascii");
    nfc_is("e\xCC\x81", "\xC3\xA9");                                 /* e + acute -> é */
    nfc_is("\xC3\xA9", "\xC3\xA9");                                  /* already composed */
    nfc_is("\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB", "\xED\x95\x9C");  /* jamo -> 한 */
    nfc_is("\xED\x95\x9C", "\xED\x95\x9C");
    nfc_is("a\xCC\x87\xCC\xA3", "\xE1\xBA\xA1\xCC\x87");             /* reorder, then ạ + dot */
    nfc_is("\xE2\x84\xAB", "\xC3\x85");                              /* Angstrom sign -> Å */
    nfc_is("\xE0\xA5\x98", "\xE0\xA4\x95\xE0\xA4\xBC");              /* excluded: stays split */
    nfc_is("e\xFF\xCC\x81", "e\xFF\xCC\x81");                        /* invalid byte blocks */
    nfc_is("\xCC\x81" "e", "\xCC\x81" "e");                          /* leading non-starter */
    nfc_is("", "");
}
END_TEST

START_TEST(nfc_normalizer)
{
    tk_tokenizer_t *tk = tt_load("{`model`:{`type`:`BPE`,`vocab`:{`\xC3\xA9`:0,`e`:1,`\xCC\x81`:2},"
                                 "`merges`:[]},`normalizer`:{`type`:`NFC`}}");
    ck_assert_str_eq(tt_ids(tk, "e\xCC\x81" "e", 0), "0 1");
    tk_free(tk);
}
END_TEST

Suite *tok_nfc_suite(void)
{
    Suite *s = suite_create("tok_nfc");
    TCase *tc = tcase_create("nfc");
    tcase_add_test(tc, nfc_cases);
    tcase_add_test(tc, nfc_normalizer);
    suite_add_tcase(s, tc);
    return s;
}
