/* it_kv.c — flashgen's KV cache options from the command line (issue 18):
 *   - a bad --kv (q9, Q8, empty) or --kv-window is a usage error (exit status 1, one line naming
 *     the option and the value) for flashgen, flashgen chat and flashgen serve;
 *   - --kv q8 gives the demo model's greedy text of f32, and --stats shows the KV cache's bytes
 *     in RAM with its precision and window. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Run flashgen with args after the program name (NULL-terminated, at most 20). */
static void run_fg(const char *const *args, it_run_t *r)
{
    char prog[1024];
    it_build_path("flashgen", prog, sizeof prog);
    const char *argv[24] = { prog };
    int n = 1;
    for (; args[n - 1] && n < 22; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    ck_assert_int_eq(it_run(argv, 120000, r), 0);
}

static void expect_usage(const char *const *args, const char *want)
{
    it_run_t r;
    run_fg(args, &r);
    ck_assert_msg(r.status == 1, "status %d, stderr %s", r.status, r.err);
    ck_assert_msg(!strcmp(r.err, want), "stderr '%s', want '%s'", r.err, want);
    ck_assert_uint_eq(r.out_len, 0);
    it_run_free(&r);
}

START_TEST(bad_kv)
{
    const char *m = "tests/fixtures/demo";
    expect_usage((const char *[]){ "-m", m, "-p", "hi", "--kv", "q9", NULL }, "flashgen: bad value for --kv: 'q9'\n");
    expect_usage((const char *[]){ "-m", m, "-p", "hi", "--kv", "Q8", NULL }, "flashgen: bad value for --kv: 'Q8'\n");
    expect_usage((const char *[]){ "-m", m, "-p", "hi", "--kv", "", NULL }, "flashgen: bad value for --kv: ''\n");
    expect_usage((const char *[]){ "-m", m, "-p", "hi", "--kv", "q8", "--kv-window", "-1", NULL },
                 "flashgen: bad value for --kv-window: '-1'\n");
    expect_usage((const char *[]){ "-m", m, "-p", "hi", "--kv-window", "12x", NULL },
                 "flashgen: bad value for --kv-window: '12x'\n");
    expect_usage((const char *[]){ "chat", "-m", m, "--kv", "q9", NULL }, "flashgen chat: bad value for --kv: 'q9'\n");
    expect_usage((const char *[]){ "serve", "-m", m, "--kv", "q9", NULL },
                 "flashgen serve: bad value for --kv: 'q9'\n");
}
END_TEST

/* flashgen on the demo model, greedy, 20 tokens, with extra options; returns stdout and the
 * kv_cache line of --stats (malloc'd). */
static char *gen(const char *kv, const char *window, char **kv_line)
{
    it_run_t r;
    run_fg((const char *[]){ "-m", "tests/fixtures/demo", "-p", "Once upon a time", "-n", "20", "--greedy",
                             "-t", "2", "--stats", "--kv", kv, "--kv-window", window, NULL },
           &r);
    ck_assert_msg(r.status == 0, "--kv %s: status %d, %s", kv, r.status, r.err);
    const char *l = strstr(r.err, "  kv_cache:");
    ck_assert_msg(l, "no kv_cache line in %s", r.err);
    *kv_line = strndup(l, strcspn(l, "\n"));
    char *out = strdup(r.out);
    ck_assert(out && *kv_line);
    it_run_free(&r);
    return out;
}

START_TEST(q8_text_and_stats)
{
    char *l32, *l16, *lq, *lw;
    char *t32 = gen("f32", "128", &l32), *t16 = gen("f16", "128", &l16);
    char *tq = gen("q8", "0", &lq), *tw = gen("q8", "128", &lw);
    ck_assert_msg(strlen(t32) > 20, "%s", t32);
    ck_assert_str_eq(tq, t32);
    ck_assert_str_eq(tw, t32);
    ck_assert_str_eq(t16, t32);
    /* demo: 6 layers, 4 kv heads x head_dim 32 (kv_dim 128); the prompt is 6 tokens, so 26
     * positions. Per position and layer, keys + values: f32 2 x 128 x 4 = 1024 bytes,
     * f16 512, q8 2 x (128 + 4 x 4 scale bytes) = 288; x 6 x 26. With the default window
     * (128, more than 26 positions) q8 holds only the f16 ring: the f16 size. */
    ck_assert_str_eq(l32, "  kv_cache:      159744 (156.00 KiB) in RAM, f32, 26 positions");
    ck_assert_str_eq(l16, "  kv_cache:      79872 (78.00 KiB) in RAM, f16, 26 positions");
    ck_assert_str_eq(lq, "  kv_cache:      44928 (43.88 KiB) in RAM, q8 (no f16 window), 26 positions");
    ck_assert_str_eq(lw, "  kv_cache:      79872 (78.00 KiB) in RAM, q8 (f16 window: the last 26 positions), "
                         "26 positions");
    free(t32), free(t16), free(tq), free(tw), free(l32), free(l16), free(lq), free(lw);
}
END_TEST

Suite *it_kv_suite(void)
{
    Suite *s = suite_create("it_kv");
    TCase *tc = tcase_create("kv");
    tcase_set_timeout(tc, IT_TCASE_TIMEOUT);
    tcase_add_test(tc, bad_kv);
    tcase_add_test(tc, q8_text_and_stats);
    suite_add_tcase(s, tc);
    return s;
}
