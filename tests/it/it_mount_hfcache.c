/* it_mount_hfcache.c — the real Hugging Face cache layout mounts as the model it holds:
 *
 *   T/hub/models--test--demo/blobs/<sha256>              copies of the demo model's files
 *   T/hub/models--test--demo/refs/main                   "<rev>"
 *   T/hub/models--test--demo/snapshots/<rev>/<name>      -> ../../blobs/<sha256>
 *   T/hub/models--test--demo/snapshots/<rev>/alias.json  -> config.json       (a chain of links)
 *   T/hub/models--test--demo/snapshots/<rev>/passwd      -> /etc/passwd       (escapes)
 *   T/hub/models--test--demo/snapshots/<rev>/secret.txt  -> ../../../outside/secret (escapes the repo)
 *   T/hub/models--test--demo/snapshots/<rev>/dangling    -> ../../blobs/missing (dangling)
 *   T/hub/outside/secret
 *
 * Mounted from the snapshot, from the repository directory (refs/main) and as test/demo with
 * HF_HOME=T: the mount shows exactly the snapshot's model files (and alias.json), each
 * byte-identical to tests/fixtures/demo; the links that escape the repository are hidden.
 * A repository without refs/main, or whose refs/main names no snapshot, is refused. */
#include <check.h>
#include <limits.h>
#include <dirent.h>
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
    char repo[2200];            /* T/hub/models--test--demo */
    char snap[2400];            /* T/hub/models--test--demo/snapshots/<rev> */
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
    snprintf(p, sizeof p, "%s/hub", h->top);
    mkdir_ok(p);
    snprintf(h->repo, sizeof h->repo, "%s/hub/models--test--demo", h->top);
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
    snprintf(p, sizeof p, "%s/hub/outside", h->top);
    mkdir_ok(p);
    snprintf(p, sizeof p, "%s/hub/outside/secret", h->top);
    f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs("secret bytes that must not be served by the mount\n", f);
    fclose(f);
    snprintf(q, sizeof q, "%s/secret.txt", h->snap);
    symlink_ok("../../../outside/secret", q);
    snprintf(q, sizeof q, "%s/dangling", h->snap);
    symlink_ok("../../blobs/missing", q);
}

/* The mount m of the snapshot h->snap (however it was named) shows the demo model. */
static void expect_demo_snapshot(const hf_t *h, it_mount_t *m)
{
    char err[2048], p[4200], q[4200];
    /* the whole tree against the snapshot, with the containment root = the repository */
    tc_stats_t st = { 0 };
    int rc = tc_compare_tree(h->repo, h->snap, m->mnt, 1, 1 << 20, &st, err, sizeof err);
    if (rc)
        it_mount_dump_log(m);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(st.files, N_MODEL + 1);   /* + alias.json */
    ck_assert_uint_eq(st.escaping, 3);          /* passwd, secret.txt, dangling */

    /* exactly the model's names (and alias.json, .flashfs) are listed */
    const char *want_names[N_MODEL + 2];
    for (size_t i = 0; i < N_MODEL; i++)
        want_names[i] = model_files[i];
    want_names[N_MODEL] = "alias.json";
    want_names[N_MODEL + 1] = ".flashfs";
    size_t n_listed = 0;
    DIR *d = opendir(m->mnt);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        int known = 0;
        for (size_t i = 0; i < N_MODEL + 2; i++)
            known |= !strcmp(e->d_name, want_names[i]);
        ck_assert_msg(known, "the mount lists %s, which is not a model file of the snapshot", e->d_name);
        n_listed++;
    }
    closedir(d);
    ck_assert_uint_eq(n_listed, N_MODEL + 2);

    /* each name is a regular file byte-identical to the demo model */
    for (size_t i = 0; i < N_MODEL; i++) {
        char want[65], got[65];
        snprintf(q, sizeof q, "tests/fixtures/demo/%s", model_files[i]);
        snprintf(p, sizeof p, "%s/%s", m->mnt, model_files[i]);
        struct stat ms, bs;
        ck_assert_int_eq(lstat(p, &ms), 0);
        ck_assert_int_eq(stat(q, &bs), 0);
        ck_assert_msg(S_ISREG(ms.st_mode), "%s is not shown as a regular file (mode 0%o)", p, (unsigned)ms.st_mode);
        ck_assert_int_eq(ms.st_size, bs.st_size);
        ck_assert_int_eq(it_sha256_file(q, 1 << 20, want), 0);
        ck_assert_int_eq(it_sha256_file(p, 1 << 20, got), 0);
        ck_assert_str_eq(got, want);
    }
    /* the chain alias.json -> config.json -> ../../blobs/sha: the same inode as config.json */
    struct stat a, c;
    snprintf(p, sizeof p, "%s/alias.json", m->mnt);
    snprintf(q, sizeof q, "%s/config.json", m->mnt);
    ck_assert_int_eq(stat(p, &a), 0);
    ck_assert_int_eq(stat(q, &c), 0);
    ck_assert_uint_eq(a.st_ino, c.st_ino);

    /* the escaping links are hidden */
    snprintf(p, sizeof p, "%s/passwd", m->mnt);
    ck_assert_int_eq(lstat(p, &a), -1);
    ck_assert_int_eq(errno, ENOENT);
    snprintf(p, sizeof p, "%s/secret.txt", m->mnt);
    ck_assert_int_eq(lstat(p, &a), -1);
    ck_assert_int_eq(errno, ENOENT);
    snprintf(p, sizeof p, "%s/dangling", m->mnt);
    ck_assert_int_eq(lstat(p, &a), -1);
    ck_assert_int_eq(errno, ENOENT);

    /* the layout knows the tensors under their snapshot names */
    char *txt = NULL;
    size_t len = 0;
    ck_assert_int_eq(it_ctl_read(m, "layout", &txt, &len), 0);
    ck_assert_msg(strstr(txt, "model-00001-of-00002.safetensors") != NULL, "layout: %.300s", txt);
    free(txt);
}

START_TEST(hf_mount_snapshot)
{
    hf_t h;
    make_hf_cache(&h);
    it_mount_t m;
    char err[2048];
    ck_assert_msg(it_mount_start(&m, h.snap, NULL, err, sizeof err) == 0, "%s", err);
    expect_demo_snapshot(&h, &m);
    ck_assert_int_eq(it_mount_stop(&m), 0);
    it_rm_rf(h.top);
}
END_TEST

START_TEST(hf_mount_repository_dir)
{
    hf_t h;
    make_hf_cache(&h);
    it_mount_t m;
    char err[2048];
    ck_assert_msg(it_mount_start(&m, h.repo, NULL, err, sizeof err) == 0, "%s", err);
    expect_demo_snapshot(&h, &m);
    ck_assert_int_eq(it_mount_stop(&m), 0);
    it_rm_rf(h.top);
}
END_TEST

START_TEST(hf_mount_repo_id_with_hf_home)
{
    hf_t h;
    make_hf_cache(&h);
    ck_assert_int_eq(access("test/demo", F_OK), -1); /* not a path relative to the test's cwd */
    ck_assert_int_eq(setenv("HF_HOME", h.top, 1), 0);
    unsetenv("HF_HUB_CACHE");
    unsetenv("HUGGINGFACE_HUB_CACHE");
    it_mount_t m;
    char err[2048];
    ck_assert_msg(it_mount_start(&m, "test/demo", NULL, err, sizeof err) == 0, "%s", err);
    expect_demo_snapshot(&h, &m);
    ck_assert_int_eq(it_mount_stop(&m), 0);

    /* HF_HUB_CACHE wins over HF_HOME, as in huggingface_hub */
    char hub[2100];
    snprintf(hub, sizeof hub, "%s/hub", h.top);
    ck_assert_int_eq(setenv("HF_HOME", "/nonexistent-hf-home", 1), 0);
    ck_assert_int_eq(setenv("HF_HUB_CACHE", hub, 1), 0);
    ck_assert_msg(it_mount_start(&m, "test/demo", NULL, err, sizeof err) == 0, "%s", err);
    expect_demo_snapshot(&h, &m);
    ck_assert_int_eq(it_mount_stop(&m), 0);
    it_rm_rf(h.top);
}
END_TEST

/* flashfs ARGS... on a fresh mountpoint: exit status 2 and msg in stderr, nothing mounted. */
static void expect_model_dir_error(const char *model_dir, const char *msg)
{
    it_mount_t m;
    char err[2048], prog[PATH_MAX];
    ck_assert_msg(it_mount_prepare(&m, model_dir, err, sizeof err) == 0, "%s", err);
    it_build_path("flashfs", prog, sizeof prog);
    const char *argv[] = { prog, "-f", model_dir, m.mnt, NULL };
    it_run_t r;
    ck_assert_int_eq(it_run(argv, 30000, &r), 0);
    ck_assert_msg(r.status == 2, "flashfs %s: status %d, stderr: %s", model_dir, r.status, r.err);
    ck_assert_msg(strstr(r.err, msg) != NULL, "flashfs %s: stderr lacks \"%s\": %s", model_dir, msg, r.err);
    ck_assert_int_eq(it_is_mountpoint(m.mnt), 0);
    it_run_free(&r);
    it_mount_cleanup(&m);
}

START_TEST(hf_repository_errors)
{
    hf_t h;
    make_hf_cache(&h);
    char p[4200], want[4200];
    /* refs/main names a revision without a snapshot */
    snprintf(p, sizeof p, "%s/refs/main", h.repo);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs("feedfeedfeedfeedfeedfeedfeedfeedfeedfeed\n", f);
    fclose(f);
    expect_model_dir_error(h.repo, "refs/main names revision feedfeedfeedfeedfeedfeedfeedfeedfeedfeed, which has no "
                                   "snapshot");
    /* no refs/main at all */
    ck_assert_int_eq(unlink(p), 0);
    snprintf(want, sizeof want, "model directory '%s' is a Hugging Face cache repository without a readable refs/main",
             h.repo);
    expect_model_dir_error(h.repo, want);
    /* ORG/NAME absent from the cache */
    ck_assert_int_eq(setenv("HF_HOME", h.top, 1), 0);
    unsetenv("HF_HUB_CACHE");
    unsetenv("HUGGINGFACE_HUB_CACHE");
    snprintf(want, sizeof want, "model directory 'test/absent' does not exist, nor does the Hugging Face cache "
             "repository %s/hub/models--test--absent", h.top);
    expect_model_dir_error("test/absent", want);
    it_rm_rf(h.top);
}
END_TEST

/* stdout of flashgen -m model --greedy -n 4 (status 0 asserted). */
static char *flashgen_out(const char *model)
{
    char prog[PATH_MAX];
    it_build_path("flashgen", prog, sizeof prog);
    const char *argv[] = { prog, "-m", model, "-p", "Once upon a time", "-n", "4", "--greedy", "--ignore-eos",
                           "-t", "1", NULL };
    it_run_t r;
    ck_assert_int_eq(it_run(argv, 120000, &r), 0);
    ck_assert_msg(r.status == 0, "flashgen -m %s: status %d: %s", model, r.status, r.err);
    char *out = strdup(r.out);
    it_run_free(&r);
    return out;
}

/* flashgen takes the same folder forms as the mount: the repository and ORG/NAME. */
START_TEST(flashgen_reads_hf_cache)
{
    hf_t h;
    make_hf_cache(&h);
    char *want = flashgen_out("tests/fixtures/demo");
    ck_assert_uint_gt(strlen(want), 1);
    char *got = flashgen_out(h.snap);
    ck_assert_str_eq(got, want);
    free(got);
    got = flashgen_out(h.repo);
    ck_assert_str_eq(got, want);
    free(got);
    ck_assert_int_eq(setenv("HF_HOME", h.top, 1), 0);
    unsetenv("HF_HUB_CACHE");
    unsetenv("HUGGINGFACE_HUB_CACHE");
    got = flashgen_out("test/demo");
    ck_assert_str_eq(got, want);
    free(got);
    free(want);
    /* flashgen tokenize too */
    char prog[PATH_MAX];
    it_build_path("flashgen", prog, sizeof prog);
    const char *a1[] = { prog, "tokenize", "-m", "tests/fixtures/demo", "In the beginning", NULL };
    const char *a2[] = { prog, "tokenize", "-m", "test/demo", "In the beginning", NULL };
    it_run_t r1, r2;
    ck_assert_int_eq(it_run(a1, 60000, &r1), 0);
    ck_assert_int_eq(it_run(a2, 60000, &r2), 0);
    ck_assert_msg(r1.status == 0 && r2.status == 0, "tokenize: %s / %s", r1.err, r2.err);
    ck_assert_uint_gt(strlen(r1.out), 1);
    ck_assert_str_eq(r2.out, r1.out);
    it_run_free(&r1);
    it_run_free(&r2);
    it_rm_rf(h.top);
}
END_TEST

Suite *it_mount_hfcache_suite(void)
{
    Suite *s = suite_create("it_mount_hfcache");
    TCase *tc = tcase_create("hfcache");
    tcase_set_timeout(tc, IT_TCASE_TIMEOUT);
    tcase_add_test(tc, hf_mount_snapshot);
    tcase_add_test(tc, hf_mount_repository_dir);
    tcase_add_test(tc, hf_mount_repo_id_with_hf_home);
    tcase_add_test(tc, hf_repository_errors);
    tcase_add_test(tc, flashgen_reads_hf_cache);
    suite_add_tcase(s, tc);
    return s;
}
