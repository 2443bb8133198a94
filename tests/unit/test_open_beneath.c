/* test_open_beneath.c — unit tests of fs/util_open.c (fu_open_beneath, its component-walk
 * fallback, fu_reopen_regular) and of src_open_beneath (fs/source.c): no link is followed
 * in any component, nothing outside the root is reached, a FIFO is never opened. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fu_util.h"
#include "source.h"

static char root[64];
static int rootfd = -1;

static void mk(const char *rel, const char *text)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* root/ a.txt d/ d/b.txt lnk->a.txt dlnk->d esc->/etc/passwd fifo outside->.. */
static void setup(void)
{
    snprintf(root, sizeof root, "/tmp/ffs-beneath-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
    char p[256];
    mk("a.txt", "aaa");
    snprintf(p, sizeof p, "%s/d", root);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    mk("d/b.txt", "bbbb");
    snprintf(p, sizeof p, "%s/lnk", root);
    ck_assert_int_eq(symlink("a.txt", p), 0);
    snprintf(p, sizeof p, "%s/dlnk", root);
    ck_assert_int_eq(symlink("d", p), 0);
    snprintf(p, sizeof p, "%s/esc", root);
    ck_assert_int_eq(symlink("/etc/passwd", p), 0);
    snprintf(p, sizeof p, "%s/outside", root);
    ck_assert_int_eq(symlink("..", p), 0);
    snprintf(p, sizeof p, "%s/fifo", root);
    ck_assert_int_eq(mkfifo(p, 0644), 0);
    rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(rootfd, 0);
}

static void teardown(void)
{
    static const char *const rels[] = { "d/b.txt", "a.txt", "lnk", "dlnk", "esc", "outside", "fifo" };
    char p[256];
    for (size_t i = 0; i < sizeof rels / sizeof rels[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", root, rels[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/d", root);
    rmdir(p);
    rmdir(root);
    close(rootfd);
}

/* fstat type of what open_fn gives for rel, or the negative errno. */
static int kind(int (*open_fn)(int, const char *), const char *rel)
{
    int fd = open_fn(rootfd, rel);
    if (fd < 0)
        return fd;
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    /* O_PATH: reading must fail, nothing was opened for reading */
    char c;
    ck_assert_int_eq(read(fd, &c, 1), -1);
    ck_assert_int_eq(errno, EBADF);
    close(fd);
    return (int)(st.st_mode & S_IFMT);
}

static void check_open_fn(int (*open_fn)(int, const char *))
{
    ck_assert_int_eq(kind(open_fn, "a.txt"), S_IFREG);
    ck_assert_int_eq(kind(open_fn, "d/b.txt"), S_IFREG);
    ck_assert_int_eq(kind(open_fn, "d"), S_IFDIR);
    /* a trailing link: the link itself, not its target */
    ck_assert_int_eq(kind(open_fn, "lnk"), S_IFLNK);
    ck_assert_int_eq(kind(open_fn, "esc"), S_IFLNK);
    /* a link as a directory component, even one inside the root */
    ck_assert_int_eq(kind(open_fn, "dlnk/b.txt"), -ELOOP);
    ck_assert_int_eq(kind(open_fn, "outside/a.txt"), -ELOOP);
    /* escapes */
    ck_assert_int_eq(kind(open_fn, "../a.txt"), -EXDEV);
    ck_assert_int_eq(kind(open_fn, "/etc/passwd"), -EXDEV);
    ck_assert_int_eq(kind(open_fn, ""), -EXDEV);
    ck_assert_int_eq(kind(open_fn, "missing"), -ENOENT);
    /* a FIFO is looked at, not opened: this does not block */
    ck_assert_int_eq(kind(open_fn, "fifo"), S_IFIFO);
}

START_TEST(beneath_openat2)
{
    check_open_fn(fu_open_beneath);
}
END_TEST

START_TEST(beneath_walk_fallback)
{
    check_open_fn(fu_open_beneath_walk);
    ck_assert_int_eq(kind(fu_open_beneath_walk, "d/../a.txt"), -EXDEV);
    ck_assert_int_eq(kind(fu_open_beneath_walk, "d//b.txt"), -EXDEV);
}
END_TEST

START_TEST(reopen_regular_only)
{
    int pa = fu_open_beneath(rootfd, "a.txt"), pb = fu_open_beneath(rootfd, "d/b.txt");
    int pf = fu_open_beneath(rootfd, "fifo");
    ck_assert(pa >= 0 && pb >= 0 && pf >= 0);
    struct stat sa, sb, sf;
    ck_assert(fstat(pa, &sa) == 0 && fstat(pb, &sb) == 0 && fstat(pf, &sf) == 0);
    int fd = fu_reopen_regular(pa, &sa);
    ck_assert_int_ge(fd, 0);
    char buf[8] = "";
    ck_assert_int_eq(read(fd, buf, sizeof buf), 3);
    ck_assert(memcmp(buf, "aaa", 3) == 0);
    close(fd);
    /* another inode than the one checked */
    ck_assert_int_eq(fu_reopen_regular(pa, &sb), -ESTALE);
    /* not a regular file: never opened */
    ck_assert_int_eq(fu_reopen_regular(pf, &sf), -EINVAL);
    close(pa);
    close(pb);
    close(pf);
}
END_TEST

START_TEST(src_open_beneath_refuses)
{
    src_t *s = NULL;
    char err[256];
    ck_assert_int_eq(src_open_beneath(rootfd, "d/b.txt", &s, err, sizeof err), 0);
    ck_assert_uint_eq(s->size, 4);
    char buf[4];
    ck_assert_int_eq(src_read(s, buf, 4, 0), 0);
    ck_assert(memcmp(buf, "bbbb", 4) == 0);
    src_close(s);
    s = NULL;
    ck_assert_int_eq(src_open_beneath(rootfd, "lnk", &s, err, sizeof err), -ELOOP);
    ck_assert_int_eq(src_open_beneath(rootfd, "esc", &s, err, sizeof err), -ELOOP);
    ck_assert_int_eq(src_open_beneath(rootfd, "dlnk/b.txt", &s, err, sizeof err), -ELOOP);
    ck_assert_int_eq(src_open_beneath(rootfd, "fifo", &s, err, sizeof err), -EINVAL);
    ck_assert_int_eq(src_open_beneath(rootfd, "d", &s, err, sizeof err), -EINVAL);
    ck_assert_ptr_null(s);
    /* the tools' src_open follows links but still never blocks on a FIFO */
    char p[256];
    snprintf(p, sizeof p, "%s/fifo", root);
    ck_assert_int_eq(src_open(AT_FDCWD, p, &s, err, sizeof err), -EINVAL);
    ck_assert_ptr_null(s);
}
END_TEST

Suite *open_beneath_suite(void)
{
    Suite *s = suite_create("open_beneath");
    TCase *t = tcase_create("open_beneath");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, beneath_openat2);
    tcase_add_test(t, beneath_walk_fallback);
    tcase_add_test(t, reopen_regular_only);
    tcase_add_test(t, src_open_beneath_refuses);
    suite_add_tcase(s, t);
    return s;
}
