/* test_hf_cache.c — the Hugging Face cache layout (hf_cache.h) and the scan of a snapshot
 * (ffs_tree.h): containment root = the models--* repository, canonical relpaths, opens
 * beneath the root that refuse symlink components. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ffs_tree.h"
#include "fu_util.h"
#include "hf_cache.h"

#define REV "0123456789abcdef0123456789abcdef01234567"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

/* top/hub/models--org--name/{blobs/aaa, refs/main, snapshots/REV/{config.json -> ../../blobs/aaa,
 * local.txt (a plain file), out -> ../../../outside}} and top/outside. Returns the repo path. */
static void make_repo(char *top, size_t n, char *repo, size_t rn)
{
    snprintf(top, n, "/tmp/test-hfc-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(top));
    char p[1024];
    snprintf(p, sizeof p, "%s/hub", top);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    snprintf(repo, rn, "%s/hub/models--org--name", top);
    ck_assert_int_eq(mkdir(repo, 0755), 0);
    static const char snapdir[] = "snapshots/" REV;
    const char *dirs[] = { "blobs", "refs", "snapshots", snapdir };
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", repo, dirs[i]);
        ck_assert_int_eq(mkdir(p, 0755), 0);
    }
    snprintf(p, sizeof p, "%s/blobs/aaa", repo);
    write_file(p, "{\"model_type\":\"llama\"}");
    snprintf(p, sizeof p, "%s/refs/main", repo);
    write_file(p, REV "\n");
    snprintf(p, sizeof p, "%s/snapshots/" REV "/config.json", repo);
    ck_assert_int_eq(symlink("../../blobs/aaa", p), 0);
    snprintf(p, sizeof p, "%s/snapshots/" REV "/local.txt", repo);
    write_file(p, "x");
    snprintf(p, sizeof p, "%s/outside", top);
    write_file(p, "secret");
    snprintf(p, sizeof p, "%s/snapshots/" REV "/out", repo);
    ck_assert_int_eq(symlink("../../../outside", p), 0);
}

static void rm_tree(const char *top)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(snapshot_repo_len)
{
    ck_assert_uint_eq(hfc_snapshot_repo_len("/c/hub/models--a--b/snapshots/abc"), strlen("/c/hub/models--a--b"));
    ck_assert_uint_eq(hfc_snapshot_repo_len("/models--x/snapshots/r"), strlen("/models--x"));
    ck_assert_uint_eq(hfc_snapshot_repo_len("/c/hub/models--a--b/snapshots"), 0);
    ck_assert_uint_eq(hfc_snapshot_repo_len("/c/hub/models--a--b/snapshots/abc/sub"), 0);
    ck_assert_uint_eq(hfc_snapshot_repo_len("/c/hub/models--/snapshots/abc"), 0);
    ck_assert_uint_eq(hfc_snapshot_repo_len("/c/hub/datasets--a--b/snapshots/abc"), 0);
    ck_assert_uint_eq(hfc_snapshot_repo_len("/c/models--a/snapshot/abc"), 0);
    ck_assert_uint_eq(hfc_snapshot_repo_len("snapshots/abc"), 0);
    ck_assert_uint_eq(hfc_snapshot_repo_len("/"), 0);
}
END_TEST

START_TEST(hub_dir_env)
{
    char out[256];
    unsetenv("HF_HUB_CACHE");
    unsetenv("HUGGINGFACE_HUB_CACHE");
    unsetenv("HF_HOME");
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", "/home/u", 1);
    ck_assert_int_eq(hfc_hub_dir(out, sizeof out), 0);
    ck_assert_str_eq(out, "/home/u/.cache/huggingface/hub");
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    ck_assert_int_eq(hfc_hub_dir(out, sizeof out), 0);
    ck_assert_str_eq(out, "/xdg/huggingface/hub");
    setenv("HF_HOME", "/hfh", 1);
    ck_assert_int_eq(hfc_hub_dir(out, sizeof out), 0);
    ck_assert_str_eq(out, "/hfh/hub");
    setenv("HUGGINGFACE_HUB_CACHE", "/legacy", 1);
    ck_assert_int_eq(hfc_hub_dir(out, sizeof out), 0);
    ck_assert_str_eq(out, "/legacy");
    setenv("HF_HUB_CACHE", "/hubc", 1);
    ck_assert_int_eq(hfc_hub_dir(out, sizeof out), 0);
    ck_assert_str_eq(out, "/hubc");
    char tiny[4];
    ck_assert_int_eq(hfc_hub_dir(tiny, sizeof tiny), -ENAMETOOLONG);
}
END_TEST

START_TEST(resolve_forms)
{
    char top[64], repo[512], note[1024], err[1024], p[1024], want[1024];
    make_repo(top, sizeof top, repo, sizeof repo);
    char *out = NULL;
    /* the repository directory -> its refs/main snapshot */
    ck_assert_int_eq(hfc_resolve(repo, &out, note, sizeof note, err, sizeof err), 0);
    snprintf(want, sizeof want, "%s/snapshots/" REV, repo);
    ck_assert_str_eq(out, want);
    ck_assert_ptr_nonnull(strstr(note, "Hugging Face cache repository"));
    free(out);
    /* a snapshot, or any other directory: itself, no note */
    ck_assert_int_eq(hfc_resolve(want, &out, note, sizeof note, err, sizeof err), 0);
    ck_assert_str_eq(out, want);
    ck_assert_str_eq(note, "");
    free(out);
    /* ORG/NAME through HF_HOME */
    unsetenv("HF_HUB_CACHE");
    unsetenv("HUGGINGFACE_HUB_CACHE");
    setenv("HF_HOME", top, 1);
    ck_assert_int_eq(hfc_resolve("org/name", &out, note, sizeof note, err, sizeof err), 0);
    char real[1024];
    ck_assert_ptr_nonnull(realpath(want, real));
    ck_assert_str_eq(out, real);
    free(out);
    /* a missing ORG/NAME */
    ck_assert_int_eq(hfc_resolve("org/other", &out, note, sizeof note, err, sizeof err), -ENOENT);
    ck_assert_ptr_null(out);
    snprintf(want, sizeof want, "model directory 'org/other' does not exist, nor does the Hugging Face cache "
             "repository %s/hub/models--org--other", top);
    ck_assert_str_eq(err, want);
    /* not a repository id: returned as is (the caller reports it missing) */
    ck_assert_int_eq(hfc_resolve("a/b/c", &out, note, sizeof note, err, sizeof err), 0);
    ck_assert_str_eq(out, "a/b/c");
    free(out);
    /* refs/main naming a revision without a snapshot, then a bad revision, then none */
    snprintf(p, sizeof p, "%s/refs/main", repo);
    write_file(p, "beef\n");
    ck_assert_int_eq(hfc_resolve(repo, &out, note, sizeof note, err, sizeof err), -ENOENT);
    snprintf(want, sizeof want, "model directory '%s': refs/main names revision beef, which has no snapshot "
             "(snapshots/beef is missing)", repo);
    ck_assert_str_eq(err, want);
    write_file(p, "../../x\n");
    ck_assert_int_eq(hfc_resolve(repo, &out, note, sizeof note, err, sizeof err), -ENOENT);
    snprintf(want, sizeof want, "model directory '%s': refs/main does not name a revision", repo);
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(unlink(p), 0);
    ck_assert_int_eq(hfc_resolve(repo, &out, note, sizeof note, err, sizeof err), -ENOENT);
    snprintf(want, sizeof want, "model directory '%s' is a Hugging Face cache repository without a readable "
             "refs/main (No such file or directory): give one of its snapshots/REV directories", repo);
    ck_assert_str_eq(err, want);
    rm_tree(top);
}
END_TEST

START_TEST(scan_snapshot_contract)
{
    char top[64], repo[512], snap[600], err[512] = "", real_repo[1024];
    make_repo(top, sizeof top, repo, sizeof repo);
    snprintf(snap, sizeof snap, "%s/snapshots/" REV, repo);
    ck_assert_ptr_nonnull(realpath(repo, real_repo));
    fu_log_init("test", FU_LOG_ERR);
    ffs_tree_t t;
    ck_assert_msg(ffs_tree_scan(&t, snap, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(t.root_real, real_repo);
    ck_assert_str_eq(t.model_rel, "snapshots/" REV);
    ck_assert_uint_eq(t.n_files, 2);
    ck_assert_uint_eq(t.n_hidden, 1);
    ck_assert_uint_eq(t.n_hidden_link, 1);
    const ffs_node_t *root = ffs_tree_node(&t, 1);
    ck_assert_uint_eq(ffs_tree_lookup(&t, root, "out"), 0);
    const ffs_node_t *cfg = ffs_tree_node(&t, ffs_tree_lookup(&t, root, "config.json"));
    const ffs_node_t *loc = ffs_tree_node(&t, ffs_tree_lookup(&t, root, "local.txt"));
    ck_assert_ptr_nonnull(cfg);
    ck_assert_ptr_nonnull(loc);
    ck_assert_str_eq(cfg->relpath, "blobs/aaa");
    ck_assert_str_eq(cfg->display, "config.json");
    ck_assert_str_eq(loc->relpath, "snapshots/" REV "/local.txt");
    /* rootfd is the repository; opens beneath it refuse symlink components and escapes */
    struct stat a, b;
    ck_assert_int_eq(fstat(t.rootfd, &a), 0);
    ck_assert_int_eq(stat(repo, &b), 0);
    ck_assert_uint_eq(a.st_ino, b.st_ino);
    int fd = ffs_tree_open_beneath(&t, cfg->relpath, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fstat(fd, &a), 0);
    ck_assert_uint_eq(a.st_ino, cfg->bino);
    close(fd);
    ck_assert_int_eq(ffs_tree_open_beneath(&t, "snapshots/" REV "/config.json", O_RDONLY), -ELOOP);
    ck_assert_int_eq(ffs_tree_open_beneath(&t, "../outside", O_RDONLY), -EXDEV);
    char p[1024];
    snprintf(p, sizeof p, "%s/blobs", repo);
    char moved[1100];
    snprintf(moved, sizeof moved, "%s/blobs.old", repo);
    ck_assert_int_eq(rename(p, moved), 0);
    ck_assert_int_eq(symlink("/etc", p), 0);      /* a directory swapped for a link */
    ck_assert_int_eq(ffs_tree_open_beneath(&t, "blobs/passwd", O_RDONLY), -ELOOP);
    ffs_tree_free(&t);

    /* a plain directory is its own containment root: the snapshot's blob link escapes it */
    char copy[700];
    snprintf(copy, sizeof copy, "%s/copy", top);
    ck_assert_int_eq(mkdir(copy, 0755), 0);
    snprintf(p, sizeof p, "%s/config.json", copy);
    ck_assert_int_eq(symlink("../hub/models--org--name/blobs.old/aaa", p), 0);
    ck_assert_msg(ffs_tree_scan(&t, copy, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(t.model_rel, "");
    ck_assert_uint_eq(t.n_files, 0);
    ck_assert_uint_eq(t.n_hidden_link, 1);
    ffs_tree_free(&t);
    rm_tree(top);
}
END_TEST

Suite *hf_cache_suite(void)
{
    Suite *s = suite_create("hf_cache");
    TCase *tc = tcase_create("hf_cache");
    tcase_add_test(tc, snapshot_repo_len);
    tcase_add_test(tc, hub_dir_env);
    tcase_add_test(tc, resolve_forms);
    tcase_add_test(tc, scan_snapshot_contract);
    suite_add_tcase(s, tc);
    return s;
}
