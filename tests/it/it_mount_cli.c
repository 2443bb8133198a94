/* it_mount_cli.c — the flashfs command line: every bad invocation gives one line on
 * stderr and its exit code from include/ffs_exit.h (and leaves no mount), --help and
 * --version; clean shutdown on SIGTERM, SIGINT and `fusermount3 -u`, in foreground and
 * daemon mode; and the harness's guardian cleans up after a test that dies mounted. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ffs_exit.h"
#include "harness.h"

#define RUN_TIMEOUT_MS 20000

/* Run `flashfs -f ARGS...` (NULL-terminated) and check: exit code `code`, exactly one
 * non-empty line on stderr containing `needle` (if not NULL), and no mount at mnt. */
static void expect_fail(int code, const char *needle, const char *mnt, const char *a0, ...)
{
    const char *argv[32];
    char bin[4096];
    it_build_path("flashfs", bin, sizeof bin);
    int k = 0;
    argv[k++] = bin;
    argv[k++] = "-f";
    va_list ap;
    va_start(ap, a0);
    for (const char *a = a0; a && k < 31; a = va_arg(ap, const char *))
        argv[k++] = a;
    va_end(ap);
    argv[k] = NULL;
    it_run_t r;
    ck_assert_int_eq(it_run(argv, RUN_TIMEOUT_MS, &r), 0);
    char cmd[1024] = "";
    for (int i = 2; i < k; i++) {
        strncat(cmd, " ", sizeof cmd - strlen(cmd) - 1);
        strncat(cmd, argv[i], sizeof cmd - strlen(cmd) - 1);
    }
    ck_assert_msg(!r.timed_out, "flashfs -f%s did not exit (it mounted?)", cmd);
    ck_assert_msg(r.status == code, "flashfs -f%s: exit %d, expected %d; stderr: %s", cmd, r.status, code, r.err);
    ck_assert_msg(it_count_lines(r.err) == 1, "flashfs -f%s: %d lines on stderr, expected one:\n%s", cmd,
                  it_count_lines(r.err), r.err);
    if (needle)
        ck_assert_msg(strstr(r.err, needle) != NULL, "flashfs -f%s: stderr lacks \"%s\": %s", cmd, needle, r.err);
    if (mnt)
        ck_assert_msg(it_is_mountpoint(mnt) != 1, "flashfs -f%s left a mount at %s", cmd, mnt);
    it_run_free(&r);
}

#define DEMO "tests/fixtures/demo"

START_TEST(bad_model_dir)
{
    it_mount_t m;
    char err[2048];
    ck_assert_int_eq(it_mount_prepare(&m, DEMO, err, sizeof err), 0);
    expect_fail(FFS_EXIT_MODEL_DIR, NULL, m.mnt, "/nonexistent/flashfs-model", m.mnt, NULL);
    expect_fail(FFS_EXIT_MODEL_DIR, NULL, m.mnt, DEMO "/config.json", m.mnt, NULL);
    it_mount_cleanup(&m);
}
END_TEST

START_TEST(bad_mountpoint)
{
    it_mount_t m;
    char err[2048], p[4200];
    ck_assert_int_eq(it_mount_prepare(&m, DEMO, err, sizeof err), 0);
    snprintf(p, sizeof p, "%s/missing", m.dir);
    expect_fail(FFS_EXIT_MNT_MISSING, NULL, NULL, DEMO, p, NULL);
    snprintf(p, sizeof p, "%s/daemon.log", m.dir); /* a file, not a directory */
    int fd = open(p, O_WRONLY | O_CREAT, 0644);
    ck_assert_int_ge(fd, 0);
    close(fd);
    expect_fail(FFS_EXIT_MNT_MISSING, NULL, NULL, DEMO, p, NULL);
    snprintf(p, sizeof p, "%s/mnt/occupied", m.dir);
    fd = open(p, O_WRONLY | O_CREAT, 0644);
    ck_assert_int_ge(fd, 0);
    close(fd);
    expect_fail(FFS_EXIT_MNT_NOT_EMPTY, NULL, m.mnt, DEMO, m.mnt, NULL);
    it_mount_cleanup(&m);
}
END_TEST

START_TEST(already_mounted)
{
    it_mount_t m;
    char err[2048];
    ck_assert_msg(it_mount_start(&m, DEMO, NULL, err, sizeof err) == 0, "%s", err);
    const char *argv[] = { NULL, "-f", DEMO, m.mnt, NULL };
    char bin[4096];
    it_build_path("flashfs", bin, sizeof bin);
    argv[0] = bin;
    it_run_t r;
    ck_assert_int_eq(it_run(argv, RUN_TIMEOUT_MS, &r), 0);
    ck_assert_msg(r.status == FFS_EXIT_MNT_BUSY, "second mount: exit %d, expected %d; stderr: %s", r.status,
                  FFS_EXIT_MNT_BUSY, r.err);
    ck_assert_int_eq(it_count_lines(r.err), 1);
    it_run_free(&r);
    /* the first mount is unharmed */
    char *txt = NULL;
    size_t len = 0;
    ck_assert_int_eq(it_ctl_read(&m, "stats", &txt, &len), 0);
    free(txt);
    ck_assert_int_eq(it_mount_stop(&m), 0);
}
END_TEST

START_TEST(stale_mount)
{
    it_mount_t m;
    char err[2048];
    ck_assert_msg(it_mount_start(&m, DEMO, NULL, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(kill(m.pid, SIGKILL), 0);
    ck_assert_int_eq(it_mount_reap(&m, 30000), 128 + SIGKILL);
    /* stat() of the root may still be answered from cached attributes; opening the
     * directory reaches the dead connection */
    struct stat st;
    errno = 0;
    int dfd = open(m.mnt, O_RDONLY | O_DIRECTORY);
    ck_assert_msg(dfd < 0 && errno == ENOTCONN, "opening the killed daemon's mountpoint: fd %d, %s", dfd,
                  strerror(errno));
    expect_fail(FFS_EXIT_MNT_STALE, "fusermount3 -u", NULL, DEMO, m.mnt, NULL);
    /* following the advice clears it */
    const char *u[] = { "fusermount3", "-u", m.mnt, NULL };
    it_run_t r;
    ck_assert_int_eq(it_run(u, 10000, &r), 0);
    ck_assert_msg(r.status == 0, "fusermount3 -u on the stale mount: %s", r.err);
    it_run_free(&r);
    ck_assert_int_eq(it_is_mountpoint(m.mnt), 0);
    ck_assert_int_eq(stat(m.mnt, &st), 0);
    it_mount_cleanup(&m);
}
END_TEST

/* /dev/fuse unavailable, simulated in a private mount namespace (unshare -m; its
 * mounts do not propagate to the host): an empty tmpfs over /dev hides /dev/fuse. */
START_TEST(no_dev_fuse)
{
    it_mount_t m;
    char err[2048], bin[4096], script[16384];
    ck_assert_int_eq(it_mount_prepare(&m, DEMO, err, sizeof err), 0);
    it_build_path("flashfs", bin, sizeof bin);
    snprintf(script, sizeof script, "mount -t tmpfs -o size=1M flashfs-test-nodev /dev && exec '%s' -f '%s' '%s'",
             bin, DEMO, m.mnt);
    const char *argv[] = { "unshare", "-m", "--propagation", "private", "sh", "-c", script, NULL };
    it_run_t r;
    ck_assert_int_eq(it_run(argv, RUN_TIMEOUT_MS, &r), 0);
    ck_assert_msg(!r.timed_out, "flashfs without /dev/fuse did not exit");
    ck_assert_msg(r.status == FFS_EXIT_NO_FUSE, "no /dev/fuse: exit %d, expected %d; stderr: %s", r.status,
                  FFS_EXIT_NO_FUSE, r.err);
    ck_assert_msg(it_count_lines(r.err) == 1, "no /dev/fuse: stderr should be one line:\n%s", r.err);
    ck_assert_msg(strstr(r.err, "/dev/fuse") != NULL, "stderr does not name /dev/fuse: %s", r.err);
    it_run_free(&r);
    /* /dev/fuse replaced by /dev/null: opening works, mounting cannot */
    snprintf(script, sizeof script, "mount --bind /dev/null /dev/fuse && exec '%s' -f '%s' '%s'", bin, DEMO, m.mnt);
    const char *argv2[] = { "unshare", "-m", "--propagation", "private", "sh", "-c", script, NULL };
    ck_assert_int_eq(it_run(argv2, RUN_TIMEOUT_MS, &r), 0);
    ck_assert_msg(!r.timed_out, "flashfs with /dev/null as /dev/fuse did not exit");
    ck_assert_msg(r.status == FFS_EXIT_NO_FUSE || r.status == FFS_EXIT_MOUNT_FAILED,
                  "/dev/fuse is /dev/null: exit %d, expected %d or %d; stderr: %s", r.status, FFS_EXIT_NO_FUSE,
                  FFS_EXIT_MOUNT_FAILED, r.err);
    ck_assert_msg(it_count_lines(r.err) == 1, "/dev/fuse is /dev/null: stderr should be one line:\n%s", r.err);
    it_run_free(&r);
    ck_assert_int_eq(it_is_mountpoint(m.mnt), 0);
    it_mount_cleanup(&m);
}
END_TEST

START_TEST(bad_options)
{
    it_mount_t m;
    char err[2048];
    ck_assert_int_eq(it_mount_prepare(&m, DEMO, err, sizeof err), 0);
    expect_fail(FFS_EXIT_USAGE, NULL, m.mnt, "--ram", "lots", DEMO, m.mnt, NULL);
    expect_fail(FFS_EXIT_USAGE, NULL, m.mnt, "--ram", "-5G", DEMO, m.mnt, NULL);
    expect_fail(FFS_EXIT_USAGE, NULL, m.mnt, "--ram", "99999999999999999999G", DEMO, m.mnt, NULL);
    expect_fail(FFS_EXIT_USAGE, NULL, m.mnt, "-o", "ram=12Q", DEMO, m.mnt, NULL);
    expect_fail(FFS_EXIT_USAGE, NULL, m.mnt, "--no-such-option", DEMO, m.mnt, NULL);
    expect_fail(FFS_EXIT_USAGE, NULL, m.mnt, DEMO, NULL);
    expect_fail(FFS_EXIT_USAGE, NULL, m.mnt, DEMO, m.mnt, "extra-argument", NULL);
    it_mount_cleanup(&m);
}
END_TEST

START_TEST(help_and_version)
{
    char bin[4096];
    it_build_path("flashfs", bin, sizeof bin);
    const char *h[] = { bin, "--help", NULL };
    it_run_t r;
    ck_assert_int_eq(it_run(h, RUN_TIMEOUT_MS, &r), 0);
    ck_assert_int_eq(r.status, 0);
    ck_assert_msg(strstr(r.out, "--ram") || strstr(r.err, "--ram"), "--help does not mention --ram: %s%s", r.out,
                  r.err);
    it_run_free(&r);
    const char *v[] = { bin, "--version", NULL };
    ck_assert_int_eq(it_run(v, RUN_TIMEOUT_MS, &r), 0);
    ck_assert_int_eq(r.status, 0);
    ck_assert_msg(strstr(r.out, "flashfs") != NULL, "--version prints: %s%s", r.out, r.err);
    /* a version number: some digit.digit */
    const char *d = r.out;
    int found = 0;
    for (; *d && !found; d++)
        found = d[0] >= '0' && d[0] <= '9' && d[1] == '.' && d[2] >= '0' && d[2] <= '9';
    ck_assert_msg(found, "--version has no version number: %s", r.out);
    it_run_free(&r);
}
END_TEST

/* ---- shutdown ----------------------------------------------------------------------- */

static void signal_shutdown(int sig)
{
    it_mount_t m;
    char err[2048];
    ck_assert_msg(it_mount_start(&m, DEMO, NULL, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(kill(m.pid, sig), 0);
    int st = it_mount_reap(&m, 15000);
    if (st != 0)
        it_mount_dump_log(&m);
    ck_assert_msg(st == 0, "flashfs after signal %d: status %d, expected exit 0", sig, st);
    ck_assert_msg(it_is_mountpoint(m.mnt) == 0, "still mounted after signal %d", sig);
    it_mount_cleanup(&m);
}

START_TEST(sigterm_unmounts)
{
    signal_shutdown(SIGTERM);
}
END_TEST

START_TEST(sigint_unmounts)
{
    signal_shutdown(SIGINT);
}
END_TEST

START_TEST(fusermount_ends_daemon)
{
    it_mount_t m;
    char err[2048];
    ck_assert_msg(it_mount_start(&m, DEMO, NULL, err, sizeof err) == 0, "%s", err);
    char mnt[4096];
    snprintf(mnt, sizeof mnt, "%s", m.mnt);
    ck_assert_int_eq(it_mount_stop(&m), 0); /* fusermount3 -u, then the daemon's exit status */
    ck_assert_int_ne(it_is_mountpoint(mnt), 1);
}
END_TEST

/* daemon mode (no -f): flashfs returns once mounted; fusermount3 -u ends the daemon */
START_TEST(daemon_mode)
{
    it_mount_t m;
    char err[2048];
    ck_assert_msg(it_mount_start_daemon(&m, DEMO, NULL, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(m.pid > 0, "no flashfs process found for %s", m.mnt);
    pid_t pid = m.pid;
    char want[65], got[65], p[4200];
    ck_assert_int_eq(it_sha256_file(DEMO "/model.safetensors.index.json", 4096, want), 0);
    ck_assert_int_eq(it_sha256_file(it_mpath(&m, "model.safetensors.index.json", p, sizeof p), 4096, got), 0);
    ck_assert_str_eq(got, want);
    ck_assert_int_eq(it_mount_stop(&m), 0);
    ck_assert_msg(kill(pid, 0) == -1 && errno == ESRCH, "daemon %d still running after fusermount3 -u", (int)pid);
}
END_TEST

/* A test that dies while mounted leaves nothing behind (the harness's guardian). */
START_TEST(guardian_cleans_up)
{
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t c = fork();
    ck_assert_int_ge(c, 0);
    if (c == 0) {
        close(pfd[0]);
        it_mount_t m;
        char err[2048];
        if (it_mount_start(&m, DEMO, NULL, err, sizeof err) != 0)
            _exit(3);
        char buf[2 * 4096 + 2];
        int n = snprintf(buf, sizeof buf, "%s\n%s\n", m.dir, m.mnt);
        if (write(pfd[1], buf, (size_t)n) != n)
            _exit(4);
        _exit(1); /* like a failed ck_assert: no cleanup */
    }
    close(pfd[1]);
    char buf[2 * 4096 + 2] = "";
    ssize_t n = read(pfd[0], buf, sizeof buf - 1);
    close(pfd[0]);
    int st;
    ck_assert_int_eq(waitpid(c, &st, 0), c);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "child status %d", st);
    ck_assert_int_gt(n, 0);
    buf[n] = 0;
    char *nl = strchr(buf, '\n');
    ck_assert_ptr_nonnull(nl);
    *nl = 0;
    const char *dir = buf, *mnt = nl + 1;
    nl = strchr(mnt, '\n');
    ck_assert_ptr_nonnull(nl);
    *nl = 0;
    struct stat sb;
    int gone = 0;
    for (int i = 0; i < 500 && !gone; i++) {
        gone = it_is_mountpoint(mnt) == 0 && stat(dir, &sb) < 0;
        if (!gone)
            it_sleep_ms(20);
    }
    ck_assert_msg(gone, "mount %s (dir %s) still there 10 s after its test died", mnt, dir);
}
END_TEST

Suite *it_mount_cli_suite(void)
{
    Suite *s = suite_create("it_mount_cli");
    TCase *tc = tcase_create("invocation");
    tcase_set_timeout(tc, IT_TCASE_TIMEOUT);
    tcase_add_test(tc, bad_model_dir);
    tcase_add_test(tc, bad_mountpoint);
    tcase_add_test(tc, already_mounted);
    tcase_add_test(tc, stale_mount);
    tcase_add_test(tc, no_dev_fuse);
    tcase_add_test(tc, bad_options);
    tcase_add_test(tc, help_and_version);
    suite_add_tcase(s, tc);
    TCase *ts = tcase_create("shutdown");
    tcase_set_timeout(ts, IT_TCASE_TIMEOUT);
    tcase_add_test(ts, sigterm_unmounts);
    tcase_add_test(ts, sigint_unmounts);
    tcase_add_test(ts, fusermount_ends_daemon);
    tcase_add_test(ts, daemon_mode);
    tcase_add_test(ts, guardian_cleans_up);
    suite_add_tcase(s, ts);
    return s;
}
