/* it_mount_diff.c — differential reads through the mount: build/tests/randread runs
 * 8 threads of random (offset, length) reads, lengths log-uniform in 1 B .. 4 MiB, some
 * crossing EOF, half with pread() and half through a MAP_SHARED mapping, over the demo
 * shards and the GGUF files, and compares every byte with the backing files. Once with
 * a RAM budget smaller than a single file (constant eviction), once with a large one.
 * The large-budget run makes 100000 reads; the small-budget run 10000, because there
 * nearly every read is a miss served from the disk with O_DIRECT (~23 GB of random reads
 * per 100000 reads would take minutes). Scale both with IT_DIFF_SCALE=F (e.g. 0.1 for a
 * quick run, 4 for a soak); the default is 1, or 0.25 when FLASHFS_BUILD names a
 * sanitizer build (`make check-asan`: the daemon is several times slower there). */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"


static const char *const rel_files[] = {
    "demo/model-00001-of-00002.safetensors",
    "demo/model-00002-of-00002.safetensors",
    "gguf/demo-bf16.gguf",
    "gguf/demo-q8_0.gguf",
};
#define N_FILES (sizeof rel_files / sizeof rel_files[0])

/* Value of "key=N" in randread's summary line, -1 when absent. */
static long long summary_num(const char *out, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *p = strstr(out, pat);
    return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

/* Mount tests/fixtures with --ram ram and run randread with mode/extra args; check the
 * summary. */
static void run_diff(const char *ram, const char *mode, long long reads)
{
    it_mount_t m;
    char err[2048];
    const char *margs[] = { "--ram", ram, NULL };
    ck_assert_msg(it_mount_start(&m, "tests/fixtures", margs, err, sizeof err) == 0, "%s", err);

    char bin[4096], nreads[32], mp[N_FILES][4200], bp[N_FILES][4200];
    it_build_path("tests/randread", bin, sizeof bin);
    snprintf(nreads, sizeof nreads, "%lld", reads);
    const char *argv[8 + 2 * N_FILES + 8];
    int k = 0;
    argv[k++] = bin;
    argv[k++] = "--reads"; argv[k++] = nreads;
    argv[k++] = "--threads"; argv[k++] = "8";
    argv[k++] = "--max-len"; argv[k++] = "4M";
    argv[k++] = "--mode"; argv[k++] = mode;
    argv[k++] = "--eof-pct"; argv[k++] = "5";
    for (size_t i = 0; i < N_FILES; i++) {
        it_mpath(&m, rel_files[i], mp[i], sizeof mp[i]);
        snprintf(bp[i], sizeof bp[i], "tests/fixtures/%s", rel_files[i]);
        argv[k++] = mp[i];
        argv[k++] = bp[i];
    }
    argv[k] = NULL;
    it_run_t r;
    ck_assert_int_eq(it_run(argv, 1000 * (IT_TCASE_TIMEOUT - 20), &r), 0);
    if (r.status != 0) {
        it_mount_dump_log(&m);
        fprintf(stderr, "randread stderr:\n%s\n", r.err);
    }
    ck_assert_msg(r.status == 0, "randread (--ram %s, %s) exit %d%s: %s%s", ram, mode, r.status,
                  r.timed_out ? " (timed out)" : "", r.out, r.err);
    ck_assert_int_eq(summary_num(r.out, "mismatches"), 0);
    ck_assert_int_ge(summary_num(r.out, "reads"), reads);
    ck_assert_int_gt(summary_num(r.out, "eof"), 0);
    if (!strcmp(mode, "both")) {
        ck_assert_int_gt(summary_num(r.out, "pread"), reads / 4);
        ck_assert_int_gt(summary_num(r.out, "mmap"), reads / 4);
    }
    fprintf(stderr, "it_mount_diff --ram %s %s: %s", ram, mode, r.out);
    it_run_free(&r);

    /* the daemon counted no failed READ */
    char *txt = NULL;
    size_t len = 0;
    ck_assert_int_eq(it_ctl_read(&m, "stats", &txt, &len), 0);
    cJSON *js = cJSON_Parse(txt);
    ck_assert_msg(js != NULL, "stats is not JSON: %s", txt);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(js, "errors");
    ck_assert_msg(cJSON_IsNumber(e) && e->valuedouble == 0, "stats errors != 0:\n%s", txt);
    cJSON_Delete(js);
    free(txt);
    ck_assert_int_eq(it_mount_stop(&m), 0);
}

/* base reads scaled by $IT_DIFF_SCALE (default 1) */
static long long n_reads(long long base)
{
    const char *s = getenv("IT_DIFF_SCALE");
    double f = s ? strtod(s, NULL) : strstr(it_build_dir(), "asan") ? 0.25 : 1.0;
    long long n = (long long)((double)base * (f > 0 ? f : 1.0));
    return n > 0 ? n : 1;
}

/* 8 MiB: smaller than three of the four files, a quarter of their total */
START_TEST(diff_small_budget)
{
    run_diff("8M", "both", n_reads(10000));
}
END_TEST

START_TEST(diff_large_budget)
{
    run_diff("1G", "both", n_reads(100000));
}
END_TEST

Suite *it_mount_diff_suite(void)
{
    Suite *s = suite_create("it_mount_diff");
    TCase *tc = tcase_create("randread");
    tcase_set_timeout(tc, IT_TCASE_TIMEOUT);
    tcase_add_test(tc, diff_small_budget);
    tcase_add_test(tc, diff_large_budget);
    suite_add_tcase(s, tc);
    return s;
}
