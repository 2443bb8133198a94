/* it_unwind.c — the daemon's serve() unwinds every step on a failure (issue 13 item 10): when the
 * prefetcher's thread cannot be created (the fault shim fails the 2nd pthread_create, the
 * evictor being the 1st), the daemon logs why, stops the evictor before the session goes,
 * unmounts and exits 9. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultenv.h"
#include "harness.h"

#define DEMO "tests/fixtures/demo"

START_TEST(prefetcher_thread_fails)
{
    fe_t fe;
    ck_assert_int_eq(fe_init(&fe), 0);
    it_mount_t m;
    char err[2048];
    ck_assert_msg(it_mount_prepare(&m, DEMO, err, sizeof err) == 0, "%s", err);
    char bin[PATH_MAX];
    it_build_path("flashfs", bin, sizeof bin);
    const char *argv[] = { bin, "-f", "--ram", "8M", DEMO, m.mnt, NULL };
    fe_env(&fe, 1);
    setenv("FFS_FAULT_THREAD_FAIL", "2", 1);
    it_run_t r;
    int rc = it_run(argv, 20000, &r);
    unsetenv("FFS_FAULT_THREAD_FAIL");
    fe_env(&fe, 0);
    ck_assert_int_eq(rc, 0);
    ck_assert_msg(r.status == 9 && !r.timed_out, "exit %d (timed out %d), stderr: %s", r.status, r.timed_out, r.err);
    ck_assert_ptr_nonnull(strstr(r.err, "flashfs: error: cannot start the prefetcher: Resource temporarily unavailable"));
    ck_assert_int_eq(fe_fired(&fe, "thread"), 1);
    ck_assert_int_eq(it_is_mountpoint(m.mnt), 0);
    it_run_free(&r);
    it_mount_cleanup(&m);
    fe_free(&fe);
}
END_TEST

Suite *it_unwind_suite(void)
{
    Suite *s = suite_create("it_unwind");
    TCase *tc = tcase_create("unwind");
    tcase_set_timeout(tc, IT_TCASE_TIMEOUT);
    tcase_add_test(tc, prefetcher_thread_fails);
    suite_add_tcase(s, tc);
    return s;
}
