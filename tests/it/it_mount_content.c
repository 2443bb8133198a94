/* it_mount_content.c — the mount is an exact mirror of MODEL_DIR: names (plus .flashfs),
 * types, modes, sizes and the sha256 of every file, for every bundled fixture; and big
 * sequential read() calls reach the daemon as 1 MiB READ requests. */
#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "tree_check.h"

/* Mount dir, compare the whole tree with read() calls of bufsize bytes, unmount cleanly. */
static void check_mirror(const char *dir, size_t bufsize, size_t min_files)
{
    it_mount_t m;
    char err[2048];
    ck_assert_msg(it_mount_start(&m, dir, NULL, err, sizeof err) == 0, "mount %s: %s", dir, err);
    tc_stats_t st = { 0 };
    int rc = tc_compare_tree(dir, dir, m.mnt, 1, bufsize, &st, err, sizeof err);
    if (rc)
        it_mount_dump_log(&m);
    ck_assert_msg(rc == 0, "%s: %s", dir, err);
    ck_assert_msg(st.files >= min_files, "%s: only %zu files compared", dir, st.files);
    ck_assert_int_eq(it_mount_stop(&m), 0);
}

START_TEST(mirror_demo)
{
    check_mirror("tests/fixtures/demo", 1 << 20, 9);
}
END_TEST

/* the dev fixtures: each model folder, and their parent (subdirectories mirrored) */
START_TEST(mirror_dev)
{
    check_mirror("tests/fixtures/dev/llama-sp-f32", 1 << 20, 6);
    check_mirror("tests/fixtures/dev/qwen2-bl-bf16", 1 << 20, 6);
    check_mirror("tests/fixtures/dev", 1 << 20, 12);
}
END_TEST

START_TEST(mirror_gguf)
{
    check_mirror("tests/fixtures/gguf", 1 << 20, 2);
}
END_TEST

/* odd-sized and tiny read() calls give the same bytes */
START_TEST(mirror_small_reads)
{
    check_mirror("tests/fixtures/dev/qwen2-bl-bf16", 4093, 6);
    check_mirror("tests/fixtures/dev/qwen2-bl-bf16", 1, 6);
}
END_TEST

/* The root of the mount itself mirrors MODEL_DIR's directory mode; .flashfs is a directory. */
START_TEST(root_and_ctl_dir)
{
    it_mount_t m;
    char err[2048], p[4200];
    ck_assert_msg(it_mount_start(&m, "tests/fixtures/demo", NULL, err, sizeof err) == 0, "%s", err);
    struct stat ms, bs;
    ck_assert_int_eq(stat(m.mnt, &ms), 0);
    ck_assert_int_eq(stat("tests/fixtures/demo", &bs), 0);
    ck_assert(S_ISDIR(ms.st_mode));
    ck_assert_uint_eq(ms.st_mode & 07777, bs.st_mode & 07777);
    ck_assert_int_eq(stat(it_mpath(&m, ".flashfs", p, sizeof p), &ms), 0);
    ck_assert(S_ISDIR(ms.st_mode));
    ck_assert_int_eq(stat(it_mpath(&m, "no-such-file", p, sizeof p), &ms), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(it_mount_stop(&m), 0);
}
END_TEST

/* ---- large reads -------------------------------------------------------------------- */

/* Count of a read_sizes bucket of .flashfs/stats, -1 when absent. */
static double rs_bucket(const cJSON *stats, const char *name)
{
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(stats, "read_sizes");
    const cJSON *b = rs ? cJSON_GetObjectItemCaseSensitive(rs, name) : NULL;
    return cJSON_IsNumber(b) ? b->valuedouble : -1;
}

START_TEST(large_sequential_reads)
{
    const char *dir = "tests/fixtures/gguf", *name = "demo-bf16.gguf";
    it_mount_t m;
    char err[2048], p[4200];
    ck_assert_msg(it_mount_start(&m, dir, NULL, err, sizeof err) == 0, "%s", err);
    /* one sequential pass with 4 MiB read() calls over a file the kernel has never cached */
    int fd = open(it_mpath(&m, name, p, sizeof p), O_RDONLY);
    ck_assert_int_ge(fd, 0);
    char *buf = malloc(4 << 20);
    ck_assert_ptr_nonnull(buf);
    long long total = 0;
    ssize_t n;
    while ((n = read(fd, buf, 4 << 20)) > 0)
        total += n;
    ck_assert_int_eq(n, 0);
    close(fd);
    free(buf);
    struct stat bs;
    ck_assert_int_eq(stat("tests/fixtures/gguf/demo-bf16.gguf", &bs), 0);
    ck_assert_int_eq(total, (long long)bs.st_size);

    char *txt = NULL;
    size_t len = 0;
    ck_assert_int_eq(it_ctl_read(&m, "stats", &txt, &len), 0);
    cJSON *js = cJSON_Parse(txt);
    ck_assert_msg(js != NULL, "stats is not JSON:\n%s", txt);
    /* buckets (<=4K, <=64K, <=256K, <=1M, >1M): the kernel must have sent READs above
     * 256 KiB (the 1 MiB requests of a max_pages=256 connection) and none above 1 MiB */
    double big = rs_bucket(js, "1M"), huge = rs_bucket(js, ">1M");
    ck_assert_msg(big > 0, "no READ request in (256K, 1M] after a sequential read of %lld bytes:\n%s", total, txt);
    ck_assert_msg(huge == 0 || huge == -1, "READ requests above 1 MiB:\n%s", txt);
    /* and they were 1 MiB indeed: bytes per request of the big bucket cannot be
     * separated, so check the mean over the whole pass is above 512 KiB */
    const cJSON *rq = cJSON_GetObjectItemCaseSensitive(js, "read_requests");
    const cJSON *rb = cJSON_GetObjectItemCaseSensitive(js, "read_bytes");
    if (cJSON_IsNumber(rq) && cJSON_IsNumber(rb) && rq->valuedouble > 0)
        ck_assert_msg(rb->valuedouble / rq->valuedouble > 512.0 * 1024,
                      "mean READ request %.0f bytes (%.0f requests for %.0f bytes):\n%s",
                      rb->valuedouble / rq->valuedouble, rq->valuedouble, rb->valuedouble, txt);
    cJSON_Delete(js);
    free(txt);
    ck_assert_int_eq(it_mount_stop(&m), 0);
}
END_TEST

Suite *it_mount_content_suite(void)
{
    Suite *s = suite_create("it_mount_content");
    TCase *tc = tcase_create("mirror");
    tcase_set_timeout(tc, IT_TCASE_TIMEOUT);
    tcase_add_test(tc, mirror_demo);
    tcase_add_test(tc, mirror_dev);
    tcase_add_test(tc, mirror_gguf);
    tcase_add_test(tc, mirror_small_reads);
    tcase_add_test(tc, root_and_ctl_dir);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("large_reads");
    tcase_set_timeout(tl, IT_TCASE_TIMEOUT);
    tcase_add_test(tl, large_sequential_reads);
    suite_add_tcase(s, tl);
    return s;
}
