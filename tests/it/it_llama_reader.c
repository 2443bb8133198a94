/* it_llama_reader.c — a llama.cpp-like reader through a real mount under a budget.
 *
 * llama.cpp maps a GGUF file (MAP_SHARED), sweeps it once at load (MADV_WILLNEED and
 * touching it), then computes every token layer by layer on 2 threads that fault two
 * row ranges of each tensor at once (docs/design.md, "How llama.cpp reads"). The bench
 * reader does the same (`--mode mmap --threads-per-tensor 2 --sweep`) on a synthetic
 * 8-layer GGUF model about 2.8x the budget. After warm-up:
 *   - backing bytes per cycle (from .flashfs/stats) <= 1.10 x (model tensor bytes - budget):
 *     the resident set holds against two cursors and the sweep;
 *   - daemon RSS + mount page cache + backing page cache <= budget + 32 MiB at every
 *     50 ms sample (build/tests/memsample --limit). */
#include <check.h>
#include <fcntl.h>
#include <unistd.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define BUDGET_MIB UINT64_C(96)

/* key=value in a line of pairs, as a signed integer; -1 when absent. */
static int64_t kv(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *p = strstr(line, pat);
    return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

START_TEST(llama_like_two_threads_per_tensor)
{
    char dir[512], model[600], err[1024], prog[512], reader[512], msample[512];
    ck_assert_int_eq(it_tmpdir(dir, sizeof dir), 0);
    snprintf(model, sizeof model, "%s/model", dir);
    it_build_path("flashfs-mkmodel", prog, sizeof prog);
    /* 8 layers of 32 MiB (ffn tensors of 8 MiB), embeddings of the demo vocabulary */
    const char *mk[] = { prog, model, "--hidden", "1024", "--layers", "8", "--heads", "8", "--ffn", "4096",
                         "--format", "gguf", "--quiet", NULL };
    it_run_t r;
    ck_assert_int_eq(it_run(mk, 120000, &r), 0);
    ck_assert_msg(r.status == 0, "mkmodel: %s", r.err);
    it_run_free(&r);
    /* the model was just written: its page cache would count as backing page cache */
    char file[700];
    snprintf(file, sizeof file, "%s/model.gguf", model);
    int fd = open(file, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fdatasync(fd), 0);
    ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    close(fd);

    it_mount_t m;
    const char *args[] = { "--ram", "96M", NULL };
    ck_assert_msg(it_mount_start(&m, model, args, err, sizeof err) == 0, "%s", err);
    it_build_path("flashfs-bench-reader", reader, sizeof reader);
    it_build_path("tests/memsample", msample, sizeof msample);
    char plan_cmd[PATH_MAX * 2 + 64];
    snprintf(plan_cmd, sizeof plan_cmd, "%s %s --plan", reader, m.mnt);
    const char *pl[] = { "sh", "-c", plan_cmd, NULL };
    ck_assert_int_eq(it_run(pl, 60000, &r), 0);
    ck_assert_msg(r.status == 0, "plan: %s", r.err);
    char line[1024];
    snprintf(line, sizeof line, " %s", r.out); /* kv() wants a space before each key */
    int64_t model_bytes = kv(line, "bytes_per_cycle");
    it_run_free(&r);
    uint64_t budget = BUDGET_MIB << 20;
    ck_assert_msg(model_bytes > (int64_t)(2 * budget), "model %" PRId64 " bytes: too small for the test",
                  model_bytes);

    /* memsample in the background over the whole run, then the reader */
    char cmd[PATH_MAX * 8 + 512];
    snprintf(cmd, sizeof cmd,
             "%s --pid %d --mount %s --backing %s --interval-ms 50 --limit %" PRIu64 " --limit-pc %" PRIu64
             " --quiet > %s/ms.out 2>&1 &"
             " MS=$!; %s %s --mode mmap --threads-per-tensor 2 --sweep --warmup 2 --cycles 3"
             " --stats %s/.flashfs/stats; R=$?; kill $MS; wait $MS; echo \" reader_rc=$R ms_rc=$?\"; cat %s/ms.out",
             msample, (int)m.pid, m.mnt, model, budget + it_mem_allowance(m.pid, UINT64_C(32) << 20),
             budget + (UINT64_C(32) << 20), dir, reader, m.mnt, m.mnt, dir);
    const char *run[] = { "sh", "-c", cmd, NULL };
    ck_assert_int_eq(it_run(run, 240000, &r), 0);
    char *out = calloc(1, r.out_len + 2);
    ck_assert_ptr_nonnull(out);
    out[0] = ' ';
    memcpy(out + 1, r.out, r.out_len);
    fprintf(stderr, "it_llama_reader: %s\n", r.out);
    ck_assert_msg(kv(out, "reader_rc") == 0, "reader failed: %s %s", r.out, r.err);
    /* memsample exits 1 when a sample exceeded the limit, 143 when killed normally */
    ck_assert_msg(kv(out, "over_limit") == 0, "daemon RSS + page caches over budget + 32 MiB: %s", r.out);
    ck_assert_msg(kv(out, "over_limit_pc") == 0, "mount page cache over budget + 32 MiB: %s", r.out);
    int64_t per_cycle = kv(out, "stats_backing_per_cycle");
    ck_assert_int_gt(per_cycle, 0);
    double optimum = (double)model_bytes - (double)budget;
    ck_assert_msg((double)per_cycle <= 1.10 * optimum, "backing bytes per cycle %" PRId64 " > 1.10 x %.0f",
                  per_cycle, optimum);
    free(out);
    it_run_free(&r);
    ck_assert_int_eq(it_mount_stop(&m), 0);
    it_rm_rf(dir);
}
END_TEST

Suite *it_llama_reader_suite(void)
{
    Suite *s = suite_create("it_llama_reader");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, IT_TCASE_TIMEOUT);
    tcase_add_test(tc, llama_like_two_threads_per_tensor);
    suite_add_tcase(s, tc);
    return s;
}
