/* it_budget.c — the RAM budget holds under many concurrent readers (issue 13, item 7).
 *
 * 16 readers at once through a real mount: 8 random (pread and MAP_SHARED, lengths up to
 * 4 MiB, some crossing EOF) and 8 cyclic (1 MiB reads walking the files in order), every
 * byte compared with the backing files (build/tests/randread, two processes), while
 * build/tests/memsample samples every 50 ms:
 *   - the daemon's RSS + the mount's page cache <= budget + 32 MiB at EVERY sample (plus
 *     the idle daemon's RSS beyond 16 MiB, and 64 MiB more in an ASan build: its shadow
 *     memory and quarantine are not the budget's business);
 *   - the mount's page cache alone <= budget + 2 MiB at every sample (READs are admitted
 *     against the budget before they are served; the slack is two READs admitted after
 *     waiting in vain on a loaded machine).
 * At --ram 4M (the minimum) on a 97 MiB synthetic model, and at the demo's budgets
 * (tools/demo.sh: 8M on the bundled demo model, DEMO_RAM = 24M on its 60 MiB synthetic
 * model). Before admission the mount's page cache reached 22-30 MiB at --ram 4M (over
 * budget in most samples).
 * demo_summary runs tools/demo.sh and checks its summary: prefetch hits > 0, bytes read
 * per token < the model, a resident set. */
#include <check.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define MIB (UINT64_C(1) << 20)
#define READ_MS 6000

/* key=value in a line of pairs, as a signed integer; -1 when absent. */
static int64_t kv(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *p = strstr(line, pat);
    return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

/* VmRSS of process pid in bytes (0 when unreadable). */
/* Mount MODEL at `ram` (bytes; given as "--ram RAM_ARG"), run the 16 readers with memsample
 * and assert every sample. `work` is a private temp dir for the outputs. */
/* The mount's page cache alone may pass the budget by at most this much at a sample: a READ
 * that waited CA_ADMIT_WAIT_MS (2 s) for room is let in over the budget so readers never
 * hang, and a random READ here is up to 4 MiB (seen under a load average of 7 on 2 CPUs;
 * on a quiet machine the maximum is the budget). */
#define PC_SLACK (6 * MIB)

static void sixteen_readers(const char *model, const char *ram_arg, uint64_t ram, const char *work)
{
    char err[1024], rr[512], ms[512];
    it_mount_t m;
    const char *args[] = { "--ram", ram_arg, NULL };
    ck_assert_msg(it_mount_start(&m, model, args, err, sizeof err) == 0, "%s", err);
    /* the budget + 32 MiB bound, grown by what a sanitizer build's daemon holds idle */
    uint64_t allow = it_mem_allowance(m.pid, 32 * MIB);
    it_build_path("tests/randread", rr, sizeof rr);
    it_build_path("tests/memsample", ms, sizeof ms);
    char cmd[PATH_MAX * 8 + 1024];
    snprintf(cmd, sizeof cmd,
             "set -u; A=''; for f in %s/*; do [ -f \"$f\" ] && A=\"$A %s/${f##*/} $f\"; done;"
             " %s --pid %d --mount %s --backing %s --interval-ms 50 --limit-mount %" PRIu64 " --limit-pc %" PRIu64
             " --quiet > %s/ms.out 2>&1 & MS=$!;"
             " %s --threads 8 --duration-ms %d --max-len 4M $A > %s/r1.out 2>&1 & R1=$!;"
             " %s --threads 8 --duration-ms %d --pattern cyclic --max-len 1M --seed 2 $A > %s/r2.out 2>&1 & R2=$!;"
             " wait $R1; X1=$?; wait $R2; X2=$?; kill $MS; wait $MS;"
             " echo \" r1_rc=$X1 r2_rc=$X2\"; cat %s/r1.out %s/r2.out %s/ms.out",
             model, m.mnt, ms, (int)m.pid, m.mnt, model, ram + allow, ram + PC_SLACK, work, rr, READ_MS, work,
             rr, READ_MS, work, work, work, work);
    const char *run[] = { "sh", "-c", cmd, NULL };
    it_run_t r;
    ck_assert_int_eq(it_run(run, 120000, &r), 0);
    char *out = calloc(1, r.out_len + 2);
    ck_assert_ptr_nonnull(out);
    out[0] = ' ';
    memcpy(out + 1, r.out, r.out_len);
    for (char *p = out; *p; p++)
        if (*p == '\n')
            *p = ' ';
    fprintf(stderr, "it_budget --ram %s: %s\n", ram_arg, r.out);
    ck_assert_msg(kv(out, "r1_rc") == 0 && kv(out, "r2_rc") == 0, "a reader failed: %s %s", r.out, r.err);
    ck_assert_msg(kv(out, "mismatches") == 0, "mismatched bytes: %s", r.out);
    ck_assert_msg(kv(out, "samples") >= 40, "too few samples: %s", r.out);
    ck_assert_msg(kv(out, "over_limit_mount") == 0, "daemon RSS + mount page cache over budget + 32 MiB: %s", r.out);
    ck_assert_msg(kv(out, "over_limit_pc") == 0, "mount page cache over budget + PC_SLACK: %s", r.out);
    free(out);
    it_run_free(&r);
    /* the admission counters are in stats: READs did wait for room */
    char *st = NULL;
    size_t stlen = 0;
    ck_assert_int_eq(it_ctl_read(&m, "stats", &st, &stlen), 0);
    ck_assert_ptr_nonnull(strstr(st, "\"admission\""));
    free(st);
    ck_assert_int_eq(it_mount_stop(&m), 0);
}

/* Write a synthetic model into DIR/model with flashfs-mkmodel's shape options. */
static void make_model(const char *dir, char *model, size_t len, const char *const *shape)
{
    char prog[512];
    snprintf(model, len, "%s/model", dir);
    it_build_path("flashfs-mkmodel", prog, sizeof prog);
    const char *mk[16] = { prog, model, "--quiet" };
    size_t n = 3;
    for (size_t i = 0; shape[i] && n < 15; i++)
        mk[n++] = shape[i];
    mk[n] = NULL;
    it_run_t r;
    ck_assert_int_eq(it_run(mk, 120000, &r), 0);
    ck_assert_msg(r.status == 0, "mkmodel: %s", r.err);
    it_run_free(&r);
}

START_TEST(sixteen_readers_minimum_budget)
{
    char dir[512], model[600];
    ck_assert_int_eq(it_tmpdir(dir, sizeof dir), 0);
    /* 4 layers of 20 MiB: 97 MiB, 24 x the budget */
    const char *shape[] = { "--hidden", "1024", "--layers", "4", "--heads", "8", "--ffn", "2048", NULL };
    make_model(dir, model, sizeof model, shape);
    sixteen_readers(model, "4M", 4 * MIB, dir);
    it_rm_rf(dir);
}
END_TEST

START_TEST(sixteen_readers_demo_budgets)
{
    char dir[512], model[600];
    ck_assert_int_eq(it_tmpdir(dir, sizeof dir), 0);
    /* part 1 of tools/demo.sh: the bundled demo model under 8M */
    sixteen_readers("tests/fixtures/demo", "8M", 8 * MIB, dir);
    /* part 2: the 60 MiB model it writes with these options, under DEMO_RAM (24M) */
    const char *shape[] = { "--hidden", "512", "--layers", "8", "--heads", "8", "--ffn", "1536", NULL };
    make_model(dir, model, sizeof model, shape);
    sixteen_readers(model, "24M", 24 * MIB, dir);
    it_rm_rf(dir);
}
END_TEST

/* `make demo`'s script: exit 0, and its summary shows prefetch hits and fewer bytes read
 * per token than the model. */
START_TEST(demo_summary)
{
    char bin[512];
    it_build_path("flashfs", bin, sizeof bin);
    char *slash = strrchr(bin, '/');
    ck_assert_ptr_nonnull(slash);
    *slash = '\0';
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "FLASHFS_BUILD='%s' sh tools/demo.sh", bin);
    const char *argv[] = { "sh", "-c", cmd, NULL };
    it_run_t r;
    ck_assert_int_eq(it_run(argv, 240000, &r), 0);
    fprintf(stderr, "it_budget demo:\n%s%s\n", r.out, r.err);
    ck_assert_msg(r.status == 0, "demo.sh failed (%d): %s %s", r.status, r.out, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "identical to the Hugging Face transformers reference"));
    ck_assert_ptr_nonnull(strstr(r.out, "== demo done"));
    const char *h = strstr(r.out, "\n   prefetch hits ");
    const char *t = strstr(r.out, "\n   read per token ");
    const char *mo = strstr(r.out, "\n   model tensors ");
    const char *rs = strstr(r.out, "\n   resident set ");
    ck_assert_msg(h && t && mo && rs, "summary lines missing: %s", r.out);
    long hits = strtol(h + strlen("\n   prefetch hits "), NULL, 10);
    double per_token = strtod(t + strlen("\n   read per token "), NULL);
    double model = strtod(mo + strlen("\n   model tensors "), NULL);
    double resident = strtod(rs + strlen("\n   resident set "), NULL);
    ck_assert_msg(hits > 0, "no prefetch hits: %s", r.out);
    ck_assert_msg(model > 50 && per_token > 0 && per_token < model, "read per token %.1f MiB vs model %.1f MiB",
                  per_token, model);
    ck_assert_msg(resident > 0, "no resident set: %s", r.out);
    it_run_free(&r);
}
END_TEST

Suite *it_budget_suite(void)
{
    Suite *s = suite_create("it_budget");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, IT_TCASE_TIMEOUT);
    tcase_add_test(tc, sixteen_readers_minimum_budget);
    tcase_add_test(tc, sixteen_readers_demo_budgets);
    tcase_add_test(tc, demo_summary);
    suite_add_tcase(s, tc);
    return s;
}
