/* it_lifecycle.c — integration tests: the mount's life when things go wrong around it.
 *
 *   kill_mid_read      the daemon is SIGKILLed while a reader is blocked inside a READ
 *                      (held there by a stall injected at the backing store): that reader
 *                      and every later access get ENOTCONN; `flashfs` on the same
 *                      mountpoint refuses with FFS_EXIT_MNT_STALE and a message telling
 *                      to run `fusermount3 -u`; after that command a remount on the same
 *                      mountpoint serves exact bytes again.
 *   backing_replaced   a backing file replaced (rename of a new file over it) while mounted
 *   backing_truncated  a backing file truncated in place while mounted
 *                      -> detected (identity: inode, size, mtime), logged, its cached pages
 *                      dropped: readers (also through a descriptor opened before the
 *                      change, and a new MAP_SHARED mapping) see exactly the new bytes and
 *                      size, never a stale byte or one past the new end. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "faultenv.h"
#include "ffs_exit.h"
#include "fu_util.h"
#include "harness.h"

#define MODEL "tests/fixtures/demo"
#define FILE_NAME "model-00002-of-00002.safetensors"
#define PAGE 4096u

/* ---- SIGKILL of the daemon in the middle of a read ------------------------------------ */

typedef struct {
    char path[PATH_MAX];
    int fd;
    int err;                    /* errno of the blocked pread, 0 if it succeeded */
    _Atomic int done;
} blocked_reader_t;

static void *blocked_read(void *arg)
{
    blocked_reader_t *r = arg;
    char buf[PAGE];
    ssize_t n = pread(r->fd, buf, PAGE, 1u << 20);
    r->err = n < 0 ? errno : 0;
    atomic_store(&r->done, 1);
    return NULL;
}

START_TEST(kill_mid_read)
{
    fe_t fe;
    it_mount_t m;
    char err[2048];
    ck_assert_int_eq(fe_init(&fe), 0);
    ck_assert_int_eq(fe_gate(&fe, 1), 0);
    char rules[800];
    snprintf(rules, sizeof rules, "stall %s %u 1 gate=%s\n", FILE_NAME, 1u << 20, fe.gate);
    ck_assert_int_eq(fe_set_rules(&fe, rules), 0);
    const char *args[] = { "--ram", "64M", NULL };
    ck_assert_msg(fe_mount_start(&fe, &m, MODEL, args, err, sizeof err) == 0, "%s", err);

    static blocked_reader_t r;
    memset(&r, 0, sizeof r);
    it_mpath(&m, FILE_NAME, r.path, sizeof r.path);
    r.fd = open(r.path, O_RDONLY);
    ck_assert_int_ge(r.fd, 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, blocked_read, &r), 0);
    ck_assert_msg(fe_wait_fired(&fe, "stall", 10000), "the reader never reached the backing store");
    ck_assert_int_eq(atomic_load(&r.done), 0);

    /* SIGKILL: no cleanup at all in the daemon */
    ck_assert_int_eq(kill(m.pid, SIGKILL), 0);
    ck_assert_int_eq(it_mount_reap(&m, 10000), 128 + SIGKILL);
    pthread_join(th, NULL);
    ck_assert_msg(r.err == ENOTCONN, "blocked reader got %s, want ENOTCONN", strerror(r.err));

    /* every later access: ENOTCONN */
    char buf[PAGE];
    errno = 0;
    ck_assert_int_eq(pread(r.fd, buf, PAGE, 0), -1);
    ck_assert_msg(errno == ENOTCONN, "pread after the kill: %s", strerror(errno));
    close(r.fd);
    errno = 0;
    ck_assert_int_eq(open(r.path, O_RDONLY), -1);
    ck_assert_msg(errno == ENOTCONN, "open after the kill: %s", strerror(errno));
    struct statvfs sv;
    errno = 0;
    ck_assert_int_eq(statvfs(m.mnt, &sv), -1);
    ck_assert_int_eq(errno, ENOTCONN);

    /* flashfs on the stale mountpoint says what to do */
    char bin[PATH_MAX];
    it_build_path("flashfs", bin, sizeof bin);
    const char *argv[] = { bin, MODEL, m.mnt, NULL };
    it_run_t run;
    ck_assert_int_eq(it_run(argv, 30000, &run), 0);
    ck_assert_msg(run.status == FFS_EXIT_MNT_STALE, "flashfs on a stale mount: status %d, stderr: %s",
                  run.status, run.err);
    ck_assert_msg(strstr(run.err, "fusermount3 -u") && strstr(run.err, m.mnt), "stderr: %s", run.err);
    ck_assert_int_eq(it_count_lines(run.err), 1);
    it_run_free(&run);

    /* ... which works, and then a remount on the same mountpoint serves exact bytes */
    const char *um[] = { "fusermount3", "-u", m.mnt, NULL };
    ck_assert_int_eq(it_run(um, 30000, &run), 0);
    ck_assert_msg(run.status == 0, "fusermount3 -u: %s", run.err);
    it_run_free(&run);
    ck_assert_int_eq(it_is_mountpoint(m.mnt), 0);
    ck_assert_int_eq(fe_set_rules(&fe, "# no fault\n"), 0);
    ck_assert_msg(fe_mount_launch(&fe, &m, args, err, sizeof err) == 0, "remount: %s", err);
    char back[PATH_MAX], sum_m[65], sum_b[65];
    snprintf(back, sizeof back, "%s/%s", MODEL, FILE_NAME);
    ck_assert_int_eq(it_sha256_file(r.path, 1u << 20, sum_m), 0);
    ck_assert_int_eq(it_sha256_file(back, 1u << 20, sum_b), 0);
    ck_assert_str_eq(sum_m, sum_b);
    ck_assert_int_eq(it_mount_stop(&m), 0);
    fe_gate(&fe, 0);
    fe_free(&fe);
}
END_TEST

/* ---- a backing file changes under the mount ----------------------------------------- */

/* Count lines of the daemon log naming file that report a change. */
static int change_lines(const it_mount_t *m, const char *file)
{
    char *txt;
    size_t len;
    if (it_slurp(m->log, &txt, &len) != 0)
        return 0;
    int n = 0;
    for (char *l = txt; l && *l;) {
        char *nl = strchr(l, '\n');
        if (nl)
            *nl = '\0';
        if (strstr(l, file) && strstr(l, "changed"))
            n++;
        l = nl ? nl + 1 : NULL;
    }
    free(txt);
    return n;
}

/* Wait (bounded) until the daemon has logged `want` changes of file. */
static void wait_changes(const it_mount_t *m, const char *file, int want)
{
    uint64_t end = it_now_ms() + 20000;
    while (change_lines(m, file) < want && it_now_ms() < end)
        it_sleep_ms(20);
    if (change_lines(m, file) < want)
        it_mount_dump_log(m);
    ck_assert_msg(change_lines(m, file) >= want, "the change of %s was not detected", file);
}

/* Everything readable through fd (an old descriptor) and through a fresh open + mmap is
 * exactly want[0..n), and nothing past n. */
static void expect_content(const char *mpath, int old_fd, const unsigned char *want, size_t n)
{
    struct stat st;
    ck_assert_int_eq(stat(mpath, &st), 0);
    ck_assert_uint_eq((uint64_t)st.st_size, n);
    unsigned char *buf = malloc(n + PAGE);
    ck_assert_ptr_nonnull(buf);
    int fds[2] = { old_fd, open(mpath, O_RDONLY) };
    ck_assert_int_ge(fds[1], 0);
    for (int k = 0; k < 2; k++) {
        size_t got = 0;
        ssize_t r;
        while ((r = pread(fds[k], buf + got, n + PAGE - got, (off_t)got)) > 0)
            got += (size_t)r;
        ck_assert_int_eq(r, 0);
        ck_assert_msg(got == n, "%s descriptor: read %zu bytes, want %zu", k ? "new" : "old", got, n);
        ck_assert_msg(memcmp(buf, want, n) == 0, "%s descriptor: stale bytes", k ? "new" : "old");
    }
    unsigned char *map = mmap(NULL, n, PROT_READ, MAP_SHARED, fds[1], 0);
    ck_assert_ptr_ne(map, MAP_FAILED);
    ck_assert_msg(memcmp(map, want, n) == 0, "mmap: stale bytes");
    munmap(map, n);
    close(fds[1]);
    free(buf);
}

START_TEST(backing_replaced_and_truncated)
{
    /* a private copy of the demo model that the test may change */
    char dir[512], model[600], err[2048];
    ck_assert_int_eq(it_tmpdir(dir, sizeof dir), 0);
    snprintf(model, sizeof model, "%s/model", dir);
    ck_assert_int_eq(mkdir(model, 0755), 0);
    static const char *const files[] = { "config.json", "model.safetensors.index.json",
                                         "model-00001-of-00002.safetensors", FILE_NAME };
    char from[PATH_MAX], to[PATH_MAX];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(from, sizeof from, "%s/%s", MODEL, files[i]);
        snprintf(to, sizeof to, "%s/%s", model, files[i]);
        ck_assert_int_eq(fu_copy_file(from, to), 0);
    }
    char back[PATH_MAX];
    snprintf(back, sizeof back, "%s/%s", model, FILE_NAME);
    char *orig;
    size_t n;
    ck_assert_int_eq(it_slurp(back, &orig, &n), 0);

    it_mount_t m;
    const char *args[] = { "--ram", "64M", NULL };
    ck_assert_msg(it_mount_start(&m, model, args, err, sizeof err) == 0, "%s", err);
    char mpath[PATH_MAX];
    it_mpath(&m, FILE_NAME, mpath, sizeof mpath);
    int old_fd = open(mpath, O_RDONLY);
    ck_assert_int_ge(old_fd, 0);
    expect_content(mpath, old_fd, (unsigned char *)orig, n);   /* now in the page cache */

    /* 1. replaced: a new file (other bytes, other size) renamed over it */
    size_t n2 = n - 3 * PAGE - 1000;
    unsigned char *repl = malloc(n2);
    ck_assert_ptr_nonnull(repl);
    for (size_t i = 0; i < n2; i++)
        repl[i] = (unsigned char)(orig[i] ^ 0x5a);
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/.new", model);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, repl, n2), (ssize_t)n2);
    close(fd);
    ck_assert_int_eq(rename(tmp, back), 0);
    wait_changes(&m, FILE_NAME, 1);
    expect_content(mpath, old_fd, repl, n2);

    /* 2. truncated in place (same inode) */
    size_t n3 = (1u << 20) + 123;
    ck_assert_int_eq(truncate(back, (off_t)n3), 0);
    wait_changes(&m, FILE_NAME, 2);
    expect_content(mpath, old_fd, repl, n3);

    close(old_fd);
    ck_assert_int_eq(it_mount_stop(&m), 0);
    free(repl);
    free(orig);
    it_rm_rf(dir);
}
END_TEST

Suite *it_lifecycle_suite(void)
{
    Suite *s = suite_create("it_lifecycle");
    TCase *tc = tcase_create("lifecycle");
    tcase_set_timeout(tc, IT_TCASE_TIMEOUT);
    tcase_add_test(tc, kill_mid_read);
    tcase_add_test(tc, backing_replaced_and_truncated);
    suite_add_tcase(s, tc);
    return s;
}
