/* test_control_fh.c — unit tests of the open control files (fs/control_fh.c) on a mount
 * state built from the demo fixture without FUSE: command lines accumulated per handle,
 * the handle cap and the cap on superseded snapshots (issue 13 items 5 and 8). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "ffs.h"
#include "source.h"

static ffs_t *fs;

static void setup(void)
{
    ffs_opts_t o;
    memset(&o, 0, sizeof o);
    o.model_dir = strdup("tests/fixtures/demo");
    o.budget = 8ull << 20;
    o.prefetch = 1;
    fs = calloc(1, sizeof *fs);
    ck_assert_ptr_nonnull(fs);
    char err[256] = "";
    ck_assert_msg(ffs_build(fs, &o, err, sizeof err) == 0, "%s", err);
    free(o.model_dir);
}

static void teardown(void)
{
    ffs_destroy(fs);
    free(fs);
}

static char *last_error(void)
{
    uint64_t fh;
    ck_assert_int_eq(ctl_fh_open(fs, CTL_LAST_ERROR, 1, 0, &fh), 0);
    char *s = NULL;
    size_t n = 0;
    int rc = ctl_render(fs, CTL_LAST_ERROR, &s, &n);
    ck_assert_int_eq(rc, 0);
    ctl_fh_release(fs, fh);
    return s;
}

START_TEST(lines_across_writes)
{
    uint64_t fh;
    ck_assert_int_eq(ctl_fh_open(fs, CTL_CONTROL, 0, 1, &fh), 0);
    ck_assert_int_eq(ctl_fh_write(fs, fh, "ram 1", 5), 0);
    ck_assert_uint_eq(atomic_load(&fs->ca.budget), 8ull << 20);
    ck_assert_int_eq(ctl_fh_write(fs, fh, "2M\nprefetch-depth", 17), 0);
    ck_assert_uint_eq(atomic_load(&fs->ca.budget), 12ull << 20);
    ck_assert_int_eq(ctl_fh_write(fs, fh, " 4", 2), 0);
    ck_assert_int_eq(atomic_load(&fs->prefetch_depth), 1);
    ck_assert_int_eq(ctl_fh_flush(fs, fh), 0);
    ck_assert_int_eq(atomic_load(&fs->prefetch_depth), 4);
    ck_assert_int_eq(ctl_fh_flush(fs, fh), 0); /* nothing pending: nothing runs */
    /* the first bad line fails the write; the rest of that write is dropped */
    ck_assert_int_eq(ctl_fh_write(fs, fh, "ram 16M\nbogus\nram 20M\n", 22), -EINVAL);
    ck_assert_uint_eq(atomic_load(&fs->ca.budget), 16ull << 20);
    char *le = last_error();
    ck_assert_str_eq(le, "unknown command 'bogus' (known: ram, drop, pin, unpin, prefetch, prefetch-depth)\n");
    free(le);
    ck_assert_int_eq(ctl_fh_write(fs, fh, "# note\n\n", 8), 0);
    le = last_error();
    ck_assert_ptr_nonnull(strstr(le, "bogus"));
    free(le);
    /* a pending line runs at release too (no flush): its error only goes to last_error */
    ck_assert_int_eq(ctl_fh_write(fs, fh, "ram 24M", 7), 0);
    ctl_fh_release(fs, fh);
    ck_assert_uint_eq(atomic_load(&fs->ca.budget), 24ull << 20);
    le = last_error();
    ck_assert_str_eq(le, "");
    free(le);
    ck_assert_int_eq(ctl_fh_write(fs, fh, "drop\n", 5), -EBADF); /* released */
}
END_TEST

START_TEST(overlong_line)
{
    uint64_t fh;
    ck_assert_int_eq(ctl_fh_open(fs, CTL_CONTROL, 0, 1, &fh), 0);
    char buf[CTL_MAX_LINE + 1];
    memset(buf, 'x', sizeof buf);
    ck_assert_int_eq(ctl_fh_write(fs, fh, buf, CTL_MAX_LINE), 0); /* exactly the limit: pending */
    ck_assert_int_eq(ctl_fh_write(fs, fh, "x", 1), -EINVAL);
    ck_assert_int_eq(ctl_fh_write(fs, fh, buf, sizeof buf), 0); /* still the refused line */
    ck_assert_int_eq(ctl_fh_write(fs, fh, "xx\nram 12M\n", 11), 0);
    ck_assert_uint_eq(atomic_load(&fs->ca.budget), 12ull << 20);
    ctl_fh_release(fs, fh);
}
END_TEST

START_TEST(handle_cap)
{
    static uint64_t fh[CTL_MAX_HANDLES];
    for (int i = 0; i < CTL_MAX_HANDLES; i++)
        ck_assert_int_eq(ctl_fh_open(fs, CTL_CONTROL, 0, 1, &fh[i]), 0);
    uint64_t x;
    ck_assert_int_eq(ctl_fh_open(fs, CTL_STATS, 1, 0, &x), -ENFILE);
    ctl_fh_release(fs, fh[7]);
    ck_assert_int_eq(ctl_fh_open(fs, CTL_STATS, 1, 0, &x), 0);
    ck_assert_uint_ne(x, fh[7]); /* a reused slot gets a new number */
    ck_assert_int_eq(ctl_fh_write(fs, fh[7], "drop\n", 5), -EBADF);
    ctl_fh_release(fs, x);
    for (int i = 0; i < CTL_MAX_HANDLES; i++)
        if (i != 7)
            ctl_fh_release(fs, fh[i]);
    uint64_t n, b;
    ctl_reg_usage(fs->ctl, &n, &b);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(b, 0);
}
END_TEST

static void reply_len(void *ctx, const char *data, size_t len)
{
    (void)data;
    *(size_t *)ctx = len;
}

/* Superseded snapshots that handles still hold are capped at CTL_STALE_CAP bytes: when
 * every open needs a new layout (a backing file's source changed in between), opens fail
 * with ENFILE once the held ones reach the cap; an open that can share still works. */
START_TEST(stale_snapshot_cap)
{
    ffs_node_t *a = NULL, *b = NULL;
    for (size_t i = 1; i <= fs->tree.n_nodes && !b; i++) {
        ffs_node_t *n = ffs_tree_node(&fs->tree, i);
        if (n->kind == FFS_N_FILE && n->src)
            *(a ? &b : &a) = n;
    }
    ck_assert_ptr_nonnull(b);
    src_t *sa = a->src, *sb = b->src;
    enum { MAXH = CTL_MAX_HANDLES };
    static uint64_t fh[MAXH];
    int n = 0, rc = 0;
    size_t len = 0;
    while (n < MAXH) {
        a->src = n & 1 ? sb : sa; /* what the watcher does when a file is replaced */
        b->src = n & 1 ? sa : sb;
        rc = ctl_fh_open(fs, CTL_LAYOUT, 1, 0, &fh[n]);
        if (rc < 0)
            break;
        if (!n)
            ck_assert_int_eq(ctl_fh_read(fs, fh[0], 1u << 20, 0, reply_len, &len), 0);
        n++;
    }
    ck_assert_int_eq(rc, -ENFILE);
    ck_assert_uint_gt(len, 4096);
    uint64_t nopen, bytes;
    ctl_reg_usage(fs->ctl, &nopen, &bytes);
    ck_assert_uint_eq(nopen, (uint64_t)n);
    ck_assert_uint_le(bytes, CTL_STALE_CAP + len);
    ck_assert_uint_gt(bytes, CTL_STALE_CAP - 2 * len);
    /* nothing changed since the last open: it shares the current snapshot */
    a->src = (n - 1) & 1 ? sb : sa;
    b->src = (n - 1) & 1 ? sa : sb;
    ck_assert_int_eq(ctl_fh_open(fs, CTL_LAYOUT, 1, 0, &fh[n]), 0);
    uint64_t bytes2;
    ctl_reg_usage(fs->ctl, &nopen, &bytes2);
    ck_assert_uint_eq(bytes2, bytes);
    for (int i = 0; i <= n; i++)
        ctl_fh_release(fs, fh[i]);
    ctl_reg_usage(fs->ctl, &nopen, &bytes);
    ck_assert_uint_eq(nopen, 0);
    ck_assert_uint_eq(bytes, 0);
    a->src = sa;
    b->src = sb;
}
END_TEST

Suite *control_fh_suite(void)
{
    Suite *s = suite_create("control_fh");
    TCase *t = tcase_create("core");
    tcase_set_timeout(t, 120);
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, lines_across_writes);
    tcase_add_test(t, overlong_line);
    tcase_add_test(t, handle_cap);
    tcase_add_test(t, stale_snapshot_cap);
    suite_add_tcase(s, t);
    return s;
}
