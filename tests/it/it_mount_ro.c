/* it_mount_ro.c — the mount is read-only: every kind of write fails with EROFS and
 * changes nothing, neither through the mount nor in the backing directory. The tests
 * run on a private copy of model files (a bug must never damage the fixtures).
 * Issue 13 item 9: `-o ro` (ro in /proc/mounts, ST_RDONLY, O_TMPFILE EROFS, no control
 * commands), `truncate .flashfs/control` fails with EPERM, and the control files are
 * owner-only so that other users (allow_other) cannot list a 0700 directory's files. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <grp.h>
#include <unistd.h>

#include "fu_util.h"
#include "harness.h"
#include "tree_check.h"

/* The operation returned -1 with errno EROFS. */
#define EXPECT_EROFS(expr)                                                                                           \
    do {                                                                                                             \
        errno = 0;                                                                                                   \
        long r_ = (long)(expr);                                                                                      \
        int e_ = errno;                                                                                              \
        ck_assert_msg(r_ == -1 && e_ == EROFS, "%s: returned %ld, errno %d (%s); expected EROFS", #expr, r_, e_,   \
                      strerror(e_));                                                                                 \
    } while (0)

/* Opening for writing must fail with EROFS; if it does not, try to write through the
 * descriptor (that must fail too) before failing the test. */
static void expect_open_erofs(const char *path, int flags)
{
    errno = 0;
    int fd = open(path, flags, 0644);
    int e = errno;
    if (fd >= 0) {
        ssize_t w = write(fd, "X", 1);
        int we = errno;
        close(fd);
        ck_abort_msg("open(%s, 0%o) succeeded; write through it returned %zd (%s)", path, (unsigned)flags, w,
                     w < 0 ? strerror(we) : "written!");
    }
    ck_assert_msg(e == EROFS, "open(%s, 0%o): errno %d (%s), expected EROFS", path, (unsigned)flags, e,
                  strerror(e));
}

/* A temp model directory: two model files, a config, a subdirectory with a file and an
 * empty subdirectory. */
static void make_model(char *dir, size_t len)
{
    char p[4200];
    ck_assert_int_eq(it_tmpdir(dir, len), 0);
    snprintf(p, sizeof p, "%s/config.json", dir);
    ck_assert_int_eq(fu_copy_file("tests/fixtures/demo/config.json", p), 0);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    ck_assert_int_eq(fu_copy_file("tests/fixtures/dev/qwen2-bl-bf16/model.safetensors", p), 0);
    snprintf(p, sizeof p, "%s/sub", dir);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/sub/tokenizer.json", dir);
    ck_assert_int_eq(fu_copy_file("tests/fixtures/dev/qwen2-bl-bf16/tokenizer.json", p), 0);
    snprintf(p, sizeof p, "%s/empty", dir);
    ck_assert_int_eq(mkdir(p, 0755), 0);
}

START_TEST(every_write_fails_with_erofs)
{
    char model[2048], before[65], after[65];
    make_model(model, sizeof model);
    ck_assert_int_eq(tc_tree_digest(model, before), 0);

    it_mount_t m;
    char err[2048];
    ck_assert_msg(it_mount_start(&m, model, NULL, err, sizeof err) == 0, "%s", err);
    char f[4200], f2[4200], sub[4200], subf[4200], empty[4200], nw[4200], ctl[4200];
    it_mpath(&m, "model.safetensors", f, sizeof f);
    it_mpath(&m, "config.json", f2, sizeof f2);
    it_mpath(&m, "sub", sub, sizeof sub);
    it_mpath(&m, "sub/tokenizer.json", subf, sizeof subf);
    it_mpath(&m, "empty", empty, sizeof empty);
    it_mpath(&m, "new-entry", nw, sizeof nw);
    struct stat st0;
    ck_assert_int_eq(stat(f, &st0), 0);

    /* opens that could write */
    expect_open_erofs(f, O_WRONLY);
    expect_open_erofs(f, O_RDWR);
    expect_open_erofs(f, O_WRONLY | O_APPEND);
    expect_open_erofs(f, O_WRONLY | O_TRUNC);
    expect_open_erofs(f, O_RDWR | O_TRUNC);
    expect_open_erofs(f, O_RDONLY | O_TRUNC);
    expect_open_erofs(nw, O_WRONLY | O_CREAT);
    expect_open_erofs(nw, O_RDONLY | O_CREAT | O_EXCL);
    expect_open_erofs(f, O_WRONLY | O_CREAT);
    EXPECT_EROFS(creat(nw, 0644));

    /* size, attributes, times */
    EXPECT_EROFS(truncate(f, 0));
    EXPECT_EROFS(truncate(f, st0.st_size + 4096));
    EXPECT_EROFS(chmod(f, 0600));
    EXPECT_EROFS(chmod(sub, 0700));
    EXPECT_EROFS(chmod(m.mnt, 0700));
    EXPECT_EROFS(chown(f, 1234, 1234));
    EXPECT_EROFS(lchown(f, 0, 1234));
    struct timespec ts[2] = { { 1, 0 }, { 2, 0 } };
    EXPECT_EROFS(utimensat(AT_FDCWD, f, ts, 0));
    EXPECT_EROFS(utimensat(AT_FDCWD, f, NULL, 0));
    EXPECT_EROFS(utimensat(AT_FDCWD, m.mnt, ts, 0));
    int fd = open(f, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    EXPECT_EROFS(fchmod(fd, 0600));
    EXPECT_EROFS(fchown(fd, 1234, 1234));
    EXPECT_EROFS(futimens(fd, ts));
    errno = 0;
    ck_assert_msg(ftruncate(fd, 0) == -1, "ftruncate on a read-only descriptor succeeded");
    EXPECT_EROFS(fsetxattr(fd, "user.flashfs-test", "v", 1, 0));
    /* a private writable mapping may be written: it must not reach the file */
    void *map = mmap(NULL, (size_t)st0.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    ck_assert_ptr_ne(map, MAP_FAILED);
    memset(map, 0xA5, (size_t)st0.st_size);
    ck_assert_int_eq(munmap(map, (size_t)st0.st_size), 0);
    close(fd);

    /* namespace changes */
    char tgt[4200];
    EXPECT_EROFS(rename(f, it_mpath(&m, "renamed", tgt, sizeof tgt)));
    EXPECT_EROFS(rename(f, f2));
    EXPECT_EROFS(rename(f, it_mpath(&m, "sub/moved", tgt, sizeof tgt)));
    EXPECT_EROFS(rename(sub, it_mpath(&m, "sub2", tgt, sizeof tgt)));
    EXPECT_EROFS(unlink(f));
    EXPECT_EROFS(unlink(subf));
    EXPECT_EROFS(mkdir(nw, 0755));
    EXPECT_EROFS(mkdir(it_mpath(&m, "sub/newdir", tgt, sizeof tgt), 0755));
    EXPECT_EROFS(rmdir(empty));
    EXPECT_EROFS(rmdir(sub));
    EXPECT_EROFS(symlink("config.json", nw));
    EXPECT_EROFS(link(f, nw));
    EXPECT_EROFS(mknod(nw, S_IFIFO | 0644, 0));
    EXPECT_EROFS(mknod(nw, S_IFREG | 0644, 0));
    EXPECT_EROFS(mkfifo(nw, 0644));
    EXPECT_EROFS(setxattr(f, "user.flashfs-test", "v", 1, 0));
    EXPECT_EROFS(lsetxattr(sub, "user.flashfs-test", "v", 1, 0));
    EXPECT_EROFS(removexattr(f, "user.flashfs-test"));

    /* the control directory: nothing but `control` may be written */
    EXPECT_EROFS(unlink(it_mpath(&m, ".flashfs/stats", ctl, sizeof ctl)));
    EXPECT_EROFS(mkdir(it_mpath(&m, ".flashfs/newdir", ctl, sizeof ctl), 0755));
    EXPECT_EROFS(rename(it_mpath(&m, ".flashfs", ctl, sizeof ctl), it_mpath(&m, "ctl2", tgt, sizeof tgt)));
    errno = 0;
    fd = open(it_mpath(&m, ".flashfs/stats", ctl, sizeof ctl), O_WRONLY);
    ck_assert_msg(fd < 0, "opening .flashfs/stats for writing succeeded");

    /* nothing appeared, nothing changed */
    struct stat st;
    ck_assert_int_eq(lstat(nw, &st), -1);
    ck_assert_int_eq(errno, ENOENT);
    tc_stats_t ts2 = { 0 };
    int rc = tc_compare_tree(model, model, m.mnt, 1, 1 << 20, &ts2, err, sizeof err);
    ck_assert_msg(rc == 0, "after the writes: %s", err);
    ck_assert_int_eq(it_mount_stop(&m), 0);
    ck_assert_int_eq(tc_tree_digest(model, after), 0);
    ck_assert_str_eq(before, after);
    it_rm_rf(model);
}
END_TEST

/* The options field of m's line in /proc/self/mounts, into out. */
static void mount_opts(const it_mount_t *m, char *out, size_t len)
{
    FILE *f = fopen("/proc/self/mounts", "r");
    ck_assert_ptr_nonnull(f);
    char line[8192], dev[4096], dir[4096], type[256], opts[4096];
    out[0] = '\0';
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%4095s %4095s %255s %4095s", dev, dir, type, opts) == 4 && !strcmp(dir, m->mnt))
            snprintf(out, len, "%s", opts);
    fclose(f);
    ck_assert_msg(out[0], "%s not in /proc/self/mounts", m->mnt);
}

/* Default mount: rw to the kernel only so that `control` takes commands; O_TMPFILE fails
 * with EROFS (answered by ffs_io.c: libfuse 3.14 has no tmpfile operation and its ENOSYS
 * became EOPNOTSUPP); truncating `control` fails with EPERM while `>` (O_TRUNC) still
 * writes commands. */
START_TEST(default_mount_truncate_tmpfile)
{
    it_mount_t m;
    char err[2048], p[4200], o[4096];
    ck_assert_msg(it_mount_start(&m, "tests/fixtures/demo", NULL, err, sizeof err) == 0, "%s", err);
    mount_opts(&m, o, sizeof o);
    ck_assert_msg(!strncmp(o, "rw,", 3), "options %s", o);
    EXPECT_EROFS(open(m.mnt, O_TMPFILE | O_RDWR, 0600));
    EXPECT_EROFS(open(m.mnt, O_TMPFILE | O_RDWR, 0600)); /* not turned into EOPNOTSUPP later */
    EXPECT_EROFS(open(m.mnt, O_TMPFILE | O_WRONLY | O_EXCL, 0600));
    it_mpath(&m, ".flashfs/control", p, sizeof p);
    errno = 0;
    ck_assert_int_eq(truncate(p, 0), -1);
    ck_assert_int_eq(errno, EPERM);
    errno = 0;
    ck_assert_int_eq(truncate(p, 100), -1);
    ck_assert_int_eq(errno, EPERM);
    EXPECT_EROFS(truncate(it_mpath(&m, "config.json", p, sizeof p), 0));
    it_mpath(&m, ".flashfs/control", p, sizeof p);
    int fd = open(p, O_WRONLY | O_TRUNC | O_CREAT, 0644); /* what a shell's `>` does */
    ck_assert_int_ge(fd, 0);
    errno = 0;
    ck_assert_int_eq(ftruncate(fd, 0), -1);
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(write(fd, "ram 12M\n", 8), 8);
    ck_assert_int_eq(close(fd), 0);
    char *t;
    size_t l;
    ck_assert_int_eq(it_ctl_read(&m, "stats", &t, &l), 0);
    ck_assert_ptr_nonnull(strstr(t, "\"budget_bytes\":\t12582912"));
    free(t);
    ck_assert_int_eq(it_mount_stop(&m), 0);
}
END_TEST

/* -o ro: read-only to the kernel too; control files readable, commands refused. */
START_TEST(ro_option)
{
    it_mount_t m;
    char err[2048], p[4200], o[4096];
    const char *args[] = { "-o", "ro", NULL };
    ck_assert_msg(it_mount_start(&m, "tests/fixtures/demo", args, err, sizeof err) == 0, "%s", err);
    mount_opts(&m, o, sizeof o);
    ck_assert_msg(!strncmp(o, "ro,", 3), "options %s", o);
    struct statvfs sv;
    ck_assert_int_eq(statvfs(m.mnt, &sv), 0);
    ck_assert_uint_eq(sv.f_flag & ST_RDONLY, ST_RDONLY);
    EXPECT_EROFS(open(m.mnt, O_TMPFILE | O_RDWR, 0600));
    EXPECT_EROFS(open(it_mpath(&m, ".flashfs/control", p, sizeof p), O_WRONLY));
    EXPECT_EROFS(truncate(p, 0));
    ck_assert_int_eq(it_ctl_write(&m, "ram 12M"), -EROFS);
    char *t;
    size_t l;
    ck_assert_int_eq(it_ctl_read(&m, "stats", &t, &l), 0);
    ck_assert_ptr_nonnull(strstr(t, "\"budget_bytes\""));
    free(t);
    char a[65], b[65];
    ck_assert_int_eq(it_sha256_file("tests/fixtures/demo/config.json", 4096, a), 0);
    ck_assert_int_eq(it_sha256_file(it_mpath(&m, "config.json", p, sizeof p), 4096, b), 0);
    ck_assert_str_eq(a, b);
    ck_assert_int_eq(it_mount_stop(&m), 0);
}
END_TEST

/* With allow_other, a 0700 directory's file names must not reach other users through
 * stats/metrics/layout: those files are owner-only (0400, owned by the mounting uid). */
START_TEST(control_files_owner_only)
{
    char model[2048], p[4200];
    make_model(model, sizeof model);
    ck_assert_int_eq(chmod(model, 0755), 0); /* the mount root mirrors it */
    snprintf(p, sizeof p, "%s/private", model);
    ck_assert_int_eq(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/private/secret-name.safetensors", model);
    ck_assert_int_eq(fu_copy_file("tests/fixtures/dev/qwen2-bl-bf16/model.safetensors", p), 0);
    it_mount_t m;
    char err[2048];
    const char *args[] = { "-o", "allow_other", NULL };
    ck_assert_msg(it_mount_start(&m, model, args, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(chmod(m.dir, 0755), 0); /* let uid 65534 reach the mountpoint */
    char *t;
    size_t l;
    ck_assert_int_eq(it_ctl_read(&m, "stats", &t, &l), 0);
    ck_assert_ptr_nonnull(strstr(t, "secret-name")); /* the owner sees everything */
    free(t);
    const char *names[] = { "stats", "metrics", "layout", "last_error" };
    for (int i = 0; i < 4; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, ".flashfs/%s", names[i]);
        struct stat st;
        ck_assert_int_eq(stat(it_mpath(&m, rel, p, sizeof p), &st), 0);
        ck_assert_uint_eq(st.st_mode & 07777, 0400);
        ck_assert_uint_eq(st.st_uid, getuid());
        ck_assert_msg(it_open_errno_as(65534, p, O_RDONLY) == EACCES, "uid 65534 could open %s", rel);
    }
    struct stat st;
    ck_assert_int_eq(stat(it_mpath(&m, ".flashfs/control", p, sizeof p), &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    ck_assert_int_eq(it_open_errno_as(65534, p, O_WRONLY), EACCES);
    ck_assert_int_eq(it_open_errno_as(65534, p, O_RDONLY), EACCES);
    /* what the mirror itself shows follows the backing modes: the file in private/ is
     * out of reach, the public one is readable */
    ck_assert_int_eq(it_open_errno_as(65534, it_mpath(&m, "private/secret-name.safetensors", p, sizeof p), O_RDONLY),
                     EACCES);
    ck_assert_int_eq(it_open_errno_as(65534, it_mpath(&m, "config.json", p, sizeof p), O_RDONLY), 0);
    ck_assert_int_eq(it_mount_stop(&m), 0);
    it_rm_rf(model);
}
END_TEST

Suite *it_mount_ro_suite(void)
{
    Suite *s = suite_create("it_mount_ro");
    TCase *tc = tcase_create("erofs");
    tcase_set_timeout(tc, IT_TCASE_TIMEOUT);
    tcase_add_test(tc, every_write_fails_with_erofs);
    tcase_add_test(tc, default_mount_truncate_tmpfile);
    tcase_add_test(tc, ro_option);
    tcase_add_test(tc, control_files_owner_only);
    suite_add_tcase(s, tc);
    return s;
}
