/* it_harness.c — self-tests of the integration-test harness and the test sha256
 * (no mount needed; the mount-dependent parts are exercised by it_mount_*.c). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fu_util.h"
#include "harness.h"
#include "sha256.h"

/* ---- sha256: FIPS 180-4 / NIST example vectors ----------------------------------- */

START_TEST(sha256_known_answers)
{
    char hex[65];
    sha256_hex("abc", 3, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha256_hex("", 0, hex);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_hex(two, strlen(two), hex);
    ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* one million 'a', fed in uneven pieces to exercise the partial-block path */
    char *a = malloc(1000000);
    ck_assert_ptr_nonnull(a);
    memset(a, 'a', 1000000);
    sha256_ctx_t c;
    uint8_t d[32];
    sha256_init(&c);
    size_t off = 0, step = 1;
    while (off < 1000000) {
        size_t k = 1000000 - off < step ? 1000000 - off : step;
        sha256_update(&c, a + off, k);
        off += k;
        step = step * 3 % 1000 + 1;
    }
    sha256_final(&c, d);
    sha256_to_hex(d, hex);
    ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}
END_TEST

/* Streaming in any chunking equals one-shot, for lengths around the 55/56/64 padding edges. */
START_TEST(sha256_chunking)
{
    uint8_t data[300];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 37 + 11);
    for (size_t len = 0; len <= sizeof data; len++) {
        char one[65], two[65];
        sha256_hex(data, len, one);
        sha256_ctx_t c;
        uint8_t d[32];
        sha256_init(&c);
        for (size_t off = 0; off < len; off += 7)
            sha256_update(&c, data + off, len - off < 7 ? len - off : 7);
        sha256_final(&c, d);
        sha256_to_hex(d, two);
        ck_assert_str_eq(one, two);
    }
}
END_TEST

/* ---- it_run ------------------------------------------------------------------------- */

START_TEST(run_captures_output_and_status)
{
    it_run_t r;
    const char *argv[] = { "sh", "-c", "echo out; echo err1 >&2; echo err2 >&2; exit 7", NULL };
    ck_assert_int_eq(it_run(argv, 10000, &r), 0);
    ck_assert_int_eq(r.status, 7);
    ck_assert_int_eq(r.timed_out, 0);
    ck_assert_str_eq(r.out, "out\n");
    ck_assert_str_eq(r.err, "err1\nerr2\n");
    ck_assert_int_eq(it_count_lines(r.err), 2);
    it_run_free(&r);

    const char *sig[] = { "sh", "-c", "kill -TERM $$", NULL };
    ck_assert_int_eq(it_run(sig, 10000, &r), 0);
    ck_assert_int_eq(r.status, 128 + 15);
    it_run_free(&r);

    const char *missing[] = { "/nonexistent/program", NULL };
    ck_assert_int_eq(it_run(missing, 10000, &r), 0);
    ck_assert_int_eq(r.status, 127);
    it_run_free(&r);
}
END_TEST

START_TEST(run_timeout_kills)
{
    it_run_t r;
    const char *argv[] = { "sleep", "30", NULL };
    ck_assert_int_eq(it_run(argv, 300, &r), 0);
    ck_assert_int_eq(r.timed_out, 1);
    ck_assert_int_eq(r.status, 128 + 9);
    it_run_free(&r);
}
END_TEST

/* A background grandchild that keeps stdout open must not make it_run hang. */
START_TEST(run_grandchild_keeps_pipe)
{
    it_run_t r;
    const char *argv[] = { "sh", "-c", "sleep 20 & echo started", NULL };
    ck_assert_int_eq(it_run(argv, 15000, &r), 0);
    ck_assert_int_eq(r.timed_out, 0);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "started\n");
    it_run_free(&r);
}
END_TEST

/* ---- paths, mountinfo, files -------------------------------------------------------- */

START_TEST(tmpdir_rm_rf_mountpoint)
{
    char d[4096], p[4200];
    ck_assert_int_eq(it_tmpdir(d, sizeof d), 0);
    snprintf(p, sizeof p, "%s/a", d);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/a/b", d);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/a/b/f", d);
    ck_assert_int_eq(fu_copy_file("tests/fixtures/demo/config.json", p), 0);
    char h1[65], h2[65];
    ck_assert_int_eq(it_sha256_file(p, 100, h1), 0);
    ck_assert_int_eq(it_sha256_file("tests/fixtures/demo/config.json", 1 << 20, h2), 0);
    ck_assert_str_eq(h1, h2);
    snprintf(p, sizeof p, "%s/link", d);
    ck_assert_int_eq(symlink("/etc", p), 0); /* rm_rf must not follow it */

    ck_assert_int_eq(it_is_mountpoint("/"), 1);
    ck_assert_int_eq(it_is_mountpoint("/proc"), 1);
    ck_assert_int_eq(it_is_mountpoint(d), 0);

    ck_assert_int_eq(it_rm_rf(d), 0);
    struct stat st;
    ck_assert_int_eq(stat(d, &st), -1);
    ck_assert_int_eq(stat("/etc/passwd", &st), 0);
}
END_TEST

START_TEST(build_path_honours_env)
{
    char p[4096];
    setenv("FLASHFS_BUILD", "build-x", 1);
    it_build_path("flashfs", p, sizeof p);
    ck_assert_str_eq(p, "build-x/flashfs");
    unsetenv("FLASHFS_BUILD");
    it_build_path("tests/randread", p, sizeof p);
    ck_assert_str_eq(p, "build/tests/randread");
}
END_TEST

Suite *it_harness_suite(void)
{
    Suite *s = suite_create("it_harness");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, sha256_known_answers);
    tcase_add_test(tc, sha256_chunking);
    tcase_add_test(tc, run_captures_output_and_status);
    tcase_add_test(tc, run_timeout_kills);
    tcase_add_test(tc, run_grandchild_keeps_pipe);
    tcase_add_test(tc, tmpdir_rm_rf_mountpoint);
    tcase_add_test(tc, build_path_honours_env);
    suite_add_tcase(s, tc);
    return s;
}
