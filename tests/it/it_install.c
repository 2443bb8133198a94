/* it_install.c — `make install` (issue 13, fstab / mount -t fuse.flashfs):
 *   - DESTDIR=T/dest PREFIX=/usr/local installs the programs, the demo tokenizer under
 *     PREFIX/share/flashfs/demo, the docs under PREFIX/share/doc/flashfs, man pages that
 *     point there, and /sbin/mount.fuse.flashfs with PREFIX/bin first in PATH; no test
 *     binary; the installed flashfs-mkmodel, run from /, finds its tokenizer there;
 *   - a dry run into an empty build directory builds no test (install does not need them);
 *   - PREFIX=T/prefix MOUNT_HELPER_DIR=T/prefix/sbin: the helper, run the way mount(8) runs
 *     it (MODEL_DIR MOUNTPOINT -o OPTIONS, fstab-only options included, PATH without flashfs),
 *     mounts the demo with T/prefix/bin/flashfs through mount.fuse3. */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fu_util.h"
#include "harness.h"
#include "sha256.h"

/* Run a shell command line; its exit status (0..255). */
static int sh(const char *cmd, char **out)
{
    const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    it_run_t r;
    ck_assert_int_eq(it_run(argv, 600000, &r), 0);
    int st = r.status;
    if (st != 0)
        fprintf(stderr, "%s: status %d\nstdout: %s\nstderr: %s\n", cmd, st, r.out, r.err);
    if (out)
        *out = strdup(r.out);
    it_run_free(&r);
    return st;
}

static void expect_file(const char *root, const char *rel, mode_t mode)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s%s", root, rel);
    struct stat st;
    ck_assert_msg(stat(p, &st) == 0, "%s not installed: %s", p, strerror(errno));
    ck_assert_msg(S_ISREG(st.st_mode) && (st.st_mode & 07777) == mode, "%s: mode 0%o, expected 0%o", p,
                  (unsigned)(st.st_mode & 07777), (unsigned)mode);
}

static char *slurp(const char *root, const char *rel)
{
    char p[PATH_MAX], *text = NULL;
    size_t len = 0;
    snprintf(p, sizeof p, "%s%s", root, rel);
    ck_assert_msg(fu_read_file(p, 1 << 22, &text, &len) == 0, "cannot read %s", p);
    return text;
}

START_TEST(install_destdir)
{
    char top[1024], dest[1100], cmd[4096], *out = NULL;
    ck_assert_int_eq(it_tmpdir(top, sizeof top), 0);
    snprintf(dest, sizeof dest, "%s/dest", top);
    snprintf(cmd, sizeof cmd, "make -s install BUILD=%s DESTDIR=%s PREFIX=/usr/local", it_build_dir(), dest);
    ck_assert_int_eq(sh(cmd, NULL), 0);

    const char *progs[] = { "flashfs", "flashgen", "flashfs-mkmodel", "flashfs-pack" };
    for (size_t i = 0; i < 4; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "/usr/local/bin/%s", progs[i]);
        expect_file(dest, rel, 0755);
    }
    expect_file(dest, "/usr/local/share/flashfs/demo/tokenizer.json", 0644);
    expect_file(dest, "/usr/local/share/flashfs/demo/tokenizer_config.json", 0644);
    expect_file(dest, "/usr/local/share/doc/flashfs/control.md", 0644);
    expect_file(dest, "/usr/local/share/doc/flashfs/README.md", 0644);
    expect_file(dest, "/sbin/mount.fuse.flashfs", 0755);
    const char *mans[] = { "flashfs.1", "flashgen.1", "flashfs-mkmodel.1", "flashfs-pack.1" };
    for (size_t i = 0; i < 4; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "/usr/local/share/man/man1/%s", mans[i]);
        expect_file(dest, rel, 0644);
        char *man = slurp(dest, rel);
        if (i != 2) /* mkmodel's page names the installed tokenizer instead */
            ck_assert_msg(strstr(man, "/usr/local/share/doc/flashfs/") != NULL, "%s names no installed doc", rel);
        ck_assert_msg(!strstr(man, "docs/") || strstr(man, "(docs/"), "%s points at the source tree's docs/", rel);
        free(man);
    }
    char *helper = slurp(dest, "/sbin/mount.fuse.flashfs");
    ck_assert_ptr_nonnull(strstr(helper, "PATH=\"/usr/local/bin:"));
    ck_assert_ptr_nonnull(strstr(helper, "exec mount.fuse3 \"$@\" -t fuse.flashfs"));
    free(helper);
    /* nothing but the programs in bin/, no test binary anywhere */
    snprintf(cmd, sizeof cmd, "cd %s && find . -path '*tests*' -o -name unit -o -name integration", dest);
    ck_assert_int_eq(sh(cmd, &out), 0);
    ck_assert_msg(out[0] == '\0', "test files installed: %s", out);
    free(out);

    /* the installed flashfs-mkmodel, run from /, takes the installed demo tokenizer */
    snprintf(cmd, sizeof cmd, "cd / && %s/usr/local/bin/flashfs-mkmodel --preset tiny --quiet %s/tiny", dest, top);
    ck_assert_int_eq(sh(cmd, NULL), 0);
    char a[PATH_MAX], want[65], got[65];
    snprintf(a, sizeof a, "%s/tiny/tokenizer.json", top);
    ck_assert_int_eq(it_sha256_file("tests/fixtures/demo/tokenizer.json", 1 << 20, want), 0);
    ck_assert_int_eq(it_sha256_file(a, 1 << 20, got), 0);
    ck_assert_str_eq(got, want);
    /* without it, the message says where it was looked for */
    snprintf(cmd, sizeof cmd, "rm -r %s/usr/local/share/flashfs && cd / && %s/usr/local/bin/flashfs-mkmodel "
             "--preset tiny --quiet %s/tiny2 2>&1; test $? = 1", dest, dest, top);
    ck_assert_int_eq(sh(cmd, &out), 0);
    ck_assert_msg(strstr(out, "share/flashfs/demo") != NULL, "mkmodel: %s", out);
    free(out);

    /* install builds no test: a dry run into an empty build directory */
    snprintf(cmd, sizeof cmd, "make -n install BUILD=%s/emptybuild DESTDIR=%s/dest2", top, top);
    ck_assert_int_eq(sh(cmd, &out), 0);
    ck_assert_msg(strstr(out, "flashfs") != NULL, "dry run: %s", out);
    ck_assert_msg(!strstr(out, "tests/unit") && !strstr(out, "tests/it") && !strstr(out, "libcheck") &&
                  !strstr(out, "|| true"), "make install would build tests or hide failures:\n%s", out);
    free(out);
    it_rm_rf(top);
}
END_TEST

START_TEST(install_mount_helper)
{
    it_mount_t m;
    char err[2048], cmd[4 * PATH_MAX], prefix[PATH_MAX], demo[PATH_MAX];
    ck_assert_ptr_nonnull(realpath("tests/fixtures/demo", demo));
    ck_assert_msg(it_mount_prepare(&m, demo, err, sizeof err) == 0, "%s", err);
    snprintf(prefix, sizeof prefix, "%.2000s/prefix", m.dir);
    snprintf(cmd, sizeof cmd, "make -s install BUILD=%s PREFIX=%s MOUNT_HELPER_DIR=%s/sbin", it_build_dir(), prefix,
             prefix);
    ck_assert_int_eq(sh(cmd, NULL), 0);
    /* as mount(8) runs it, with a PATH that has no flashfs */
    snprintf(cmd, sizeof cmd, "env -i PATH=/usr/bin:/bin %s/sbin/mount.fuse.flashfs %s %s -o ram=64M,nofail,_netdev",
             prefix, demo, m.mnt);
    ck_assert_int_eq(sh(cmd, NULL), 0);
    ck_assert_int_eq(it_is_mountpoint(m.mnt), 1);
    char p[2 * PATH_MAX], want[65], got[65];
    snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", m.mnt);
    ck_assert_int_eq(it_sha256_file("tests/fixtures/demo/model-00001-of-00002.safetensors", 1 << 20, want), 0);
    ck_assert_int_eq(it_sha256_file(p, 1 << 20, got), 0);
    ck_assert_str_eq(got, want);
    /* the daemon is the installed flashfs */
    char want_line[PATH_MAX * 3], line[PATH_MAX * 3];
    snprintf(want_line, sizeof want_line, "%s %s fuse.flashfs ", demo, m.mnt);
    FILE *f = fopen("/proc/self/mounts", "re");
    ck_assert_ptr_nonnull(f);
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = !strncmp(line, want_line, strlen(want_line));
    fclose(f);
    ck_assert_msg(found, "no '%s' in /proc/self/mounts", want_line);
    snprintf(cmd, sizeof cmd, "for p in $(pgrep -x flashfs); do readlink /proc/$p/exe; done | grep -qx %s/bin/flashfs",
             prefix);
    ck_assert_int_eq(sh(cmd, NULL), 0);
    snprintf(cmd, sizeof cmd, "fusermount3 -u %s", m.mnt);
    ck_assert_int_eq(sh(cmd, NULL), 0);
    it_mount_cleanup(&m);
}
END_TEST

Suite *it_install_suite(void)
{
    Suite *s = suite_create("it_install");
    TCase *tc = tcase_create("install");
    tcase_set_timeout(tc, IT_TCASE_TIMEOUT);
    tcase_add_test(tc, install_destdir);
    tcase_add_test(tc, install_mount_helper);
    suite_add_tcase(s, tc);
    return s;
}
