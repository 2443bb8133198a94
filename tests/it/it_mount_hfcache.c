/* it_mount_hfcache.c — a Hugging Face cache layout mounts and reads correctly:
 *
 *   T/models--x/blobs/<sha256>                  copies of the demo model's files
 *   T/models--x/refs/main                       "<rev>"
 *   T/models--x/snapshots/<rev>/<name>          -> ../../blobs/<sha256>     (inside models--x)
 *   T/models--x/snapshots/<rev>/alias.json      -> config.json              (a chain of links)
 *   T/models--x/snapshots/<rev>/passwd          -> /etc/passwd              (escapes)
 *   T/models--x/snapshots/<rev>/secret.txt      -> ../../../outside/secret  (escapes)
 *   T/models--x/snapshots/<rev>/dangling        -> ../../blobs/missing      (dangling)
 *   T/models--x/latest                          -> snapshots/<rev>          (directory link, inside)
 *   T/outside/secret
 *
 * Mounting models--x: the snapshot's links into ../../blobs stay inside MODEL_DIR and are
 * followed (shown as the files, same bytes); the escaping and dangling links are not.
 * Mounting snapshots/<rev> itself: now every blob link escapes MODEL_DIR, so none of the
 * model files may be readable through the mount. */
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
#include "tree_check.h"

static const char *const model_files[] = {
    "config.json", "generation_config.json", "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors", "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json",
};
#define N_MODEL (sizeof model_files / sizeof model_files[0])
#define REV "0123456789abcdef0123456789abcdef01234567"

typedef struct {
    char top[2048];             /* T */
    char repo[2200];            /* T/models--x */
    char snap[2400];            /* T/models--x/snapshots/<rev> */
} hf_t;

static void mkdir_ok(const char *p)
{
    ck_assert_msg(mkdir(p, 0755) == 0, "mkdir %s: %s", p, strerror(errno));
}

static void symlink_ok(const char *target, const char *p)
{
    ck_assert_msg(symlink(target, p) == 0, "symlink %s: %s", p, strerror(errno));
}

static void make_hf_cache(hf_t *h)
{
    char p[4200], q[4200];
    ck_assert_int_eq(it_tmpdir(h->top, sizeof h->top), 0);
    snprintf(h->repo, sizeof h->repo, "%s/models--x", h->top);
    mkdir_ok(h->repo);
    snprintf(p, sizeof p, "%s/blobs", h->repo);
    mkdir_ok(p);
    snprintf(p, sizeof p, "%s/refs", h->repo);
    mkdir_ok(p);
    snprintf(p, sizeof p, "%s/snapshots", h->repo);
    mkdir_ok(p);
    snprintf(h->snap, sizeof h->snap, "%s/snapshots/" REV, h->repo);
    mkdir_ok(h->snap);
    snprintf(p, sizeof p, "%s/refs/main", h->repo);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(REV, f);
    fclose(f);
    for (size_t i = 0; i < N_MODEL; i++) {
        char src[4200], sha[65];
        snprintf(src, sizeof src, "tests/fixtures/demo/%s", model_files[i]);
        ck_assert_int_eq(it_sha256_file(src, 1 << 20, sha), 0);
        snprintf(p, sizeof p, "%s/blobs/%s", h->repo, sha);
        ck_assert_int_eq(fu_copy_file(src, p), 0);
        snprintf(q, sizeof q, "%s/%s", h->snap, model_files[i]);
        snprintf(p, sizeof p, "../../blobs/%s", sha);
        symlink_ok(p, q);
    }
    snprintf(q, sizeof q, "%s/alias.json", h->snap);
    symlink_ok("config.json", q);
    snprintf(q, sizeof q, "%s/passwd", h->snap);
    symlink_ok("/etc/passwd", q);
    snprintf(p, sizeof p, "%s/outside", h->top);
    mkdir_ok(p);
    snprintf(p, sizeof p, "%s/outside/secret", h->top);
    f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs("secret bytes that must not be served by the mount\n", f);
    fclose(f);
    snprintf(q, sizeof q, "%s/secret.txt", h->snap);
    symlink_ok("../../../outside/secret", q);
    snprintf(q, sizeof q, "%s/dangling", h->snap);
    symlink_ok("../../blobs/missing", q);
    snprintf(q, sizeof q, "%s/latest", h->repo);
    symlink_ok("snapshots/" REV, q);
}

/* open() of a path in the mount either fails or does not return the content of target. */
static void expect_not_served(const char *mpath, const char *target)
{
    char want[65], got[65];
    ck_assert_int_eq(it_sha256_file(target, 1 << 16, want), 0);
    int rc = it_sha256_file(mpath, 1 << 16, got);
    ck_assert_msg(rc != 0 || strcmp(want, got) != 0, "%s serves the content of %s (a link escaping MODEL_DIR)",
                  mpath, target);
}

START_TEST(hf_repo_root_follows_inside_links)
{
    hf_t h;
    make_hf_cache(&h);
    it_mount_t m;
    char err[2048], p[4200], q[4200];
    ck_assert_msg(it_mount_start(&m, h.repo, NULL, err, sizeof err) == 0, "%s", err);

    /* the whole tree, with the rule "inside links followed, others not" */
    tc_stats_t st = { 0 };
    int rc = tc_compare_tree(h.repo, h.repo, m.mnt, 1, 1 << 20, &st, err, sizeof err);
    if (rc)
        it_mount_dump_log(&m);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(st.escaping, 2 * 3); /* passwd, secret.txt, dangling; again under latest/ */

    /* each snapshot name is a regular file with the original bytes */
    for (size_t i = 0; i < N_MODEL; i++) {
        char want[65], got[65];
        snprintf(q, sizeof q, "tests/fixtures/demo/%s", model_files[i]);
        snprintf(p, sizeof p, "%s/snapshots/" REV "/%s", m.mnt, model_files[i]);
        struct stat ms, bs;
        ck_assert_int_eq(lstat(p, &ms), 0);
        ck_assert_int_eq(stat(q, &bs), 0);
        ck_assert_msg(S_ISREG(ms.st_mode), "%s is not shown as a regular file (mode 0%o)", p, (unsigned)ms.st_mode);
        ck_assert_int_eq(ms.st_size, bs.st_size);
        ck_assert_int_eq(it_sha256_file(q, 1 << 20, want), 0);
        ck_assert_int_eq(it_sha256_file(p, 1 << 20, got), 0);
        ck_assert_str_eq(got, want);
    }
    /* the chain alias.json -> config.json -> ../../blobs/sha */
    char want[65], got[65];
    ck_assert_int_eq(it_sha256_file("tests/fixtures/demo/config.json", 4096, want), 0);
    snprintf(p, sizeof p, "%s/snapshots/" REV "/alias.json", m.mnt);
    ck_assert_int_eq(it_sha256_file(p, 4096, got), 0);
    ck_assert_str_eq(got, want);
    /* the directory link `latest` */
    snprintf(p, sizeof p, "%s/latest/config.json", m.mnt);
    ck_assert_int_eq(it_sha256_file(p, 4096, got), 0);
    ck_assert_str_eq(got, want);

    /* escaping links are not followed */
    snprintf(p, sizeof p, "%s/snapshots/" REV "/passwd", m.mnt);
    expect_not_served(p, "/etc/passwd");
    snprintf(p, sizeof p, "%s/snapshots/" REV "/secret.txt", m.mnt);
    snprintf(q, sizeof q, "%s/outside/secret", h.top);
    expect_not_served(p, q);

    ck_assert_int_eq(it_mount_stop(&m), 0);
    it_rm_rf(h.top);
}
END_TEST

START_TEST(hf_snapshot_dir_links_escape)
{
    hf_t h;
    make_hf_cache(&h);
    it_mount_t m;
    char err[2048], p[4200], q[4200];
    ck_assert_msg(it_mount_start(&m, h.snap, NULL, err, sizeof err) == 0, "%s", err);
    tc_stats_t st = { 0 };
    int rc = tc_compare_tree(h.snap, h.snap, m.mnt, 1, 1 << 20, &st, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(st.files, 0);
    ck_assert_uint_eq(st.escaping, N_MODEL + 4);
    for (size_t i = 0; i < N_MODEL; i++) {
        snprintf(p, sizeof p, "%s/%s", m.mnt, model_files[i]);
        snprintf(q, sizeof q, "tests/fixtures/demo/%s", model_files[i]);
        expect_not_served(p, q);
    }
    snprintf(p, sizeof p, "%s/alias.json", m.mnt);
    expect_not_served(p, "tests/fixtures/demo/config.json");
    snprintf(p, sizeof p, "%s/passwd", m.mnt);
    expect_not_served(p, "/etc/passwd");
    ck_assert_int_eq(it_mount_stop(&m), 0);
    it_rm_rf(h.top);
}
END_TEST

Suite *it_mount_hfcache_suite(void)
{
    Suite *s = suite_create("it_mount_hfcache");
    TCase *tc = tcase_create("hfcache");
    tcase_set_timeout(tc, IT_TCASE_TIMEOUT);
    tcase_add_test(tc, hf_repo_root_follows_inside_links);
    tcase_add_test(tc, hf_snapshot_dir_links_escape);
    suite_add_tcase(s, tc);
    return s;
}
