/* it_control_mem.c — open control files cannot grow the daemon without bound (issue 13
 * item 5): 8 processes each try to hold 5000 opens of `layout` and `stats` (commands in
 * between change the stats so that opens cannot all share one snapshot). At most
 * CTL_MAX_HANDLES (4096) opens succeed, the rest fail with ENFILE, and the daemon's VmRSS
 * grows by less than 64 MiB (before the fix: every open rendered its own copy, 639 MB).
 * And a model passing the tensor limit over its files is refused at mount time. */
#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control.h"
#include "layout.h"
#include "harness.h"

#define DEMO "tests/fixtures/demo"
#define NPROC 8
#define OPENS 5000
#define RSS_BOUND_KB (64 * 1024)

/* VmRSS of pid in KiB. */
static long rss_kb(pid_t pid)
{
    char p[64], line[256];
    snprintf(p, sizeof p, "/proc/%d/status", (int)pid);
    FILE *f = fopen(p, "r");
    ck_assert_ptr_nonnull(f);
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    ck_assert_int_gt(kb, 0);
    return kb;
}

/* Child: open layout/stats OPENS times (holding them), report {opened, enfile, other}
 * on out, wait for the parent to close `go`. */
static void holder(const it_mount_t *m, int id, int out, int go)
{
    struct rlimit rl = { OPENS + 64, OPENS + 64 };
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        _exit(3);
    char lay[PATH_MAX + 64], st[PATH_MAX + 64];
    it_mpath(m, ".flashfs/layout", lay, sizeof lay);
    it_mpath(m, ".flashfs/stats", st, sizeof st);
    int counts[3] = { 0, 0, 0 };
    for (int i = 0; i < OPENS; i++) {
        /* a command needs a handle too: ENFILE once the handles are taken */
        int w = i % 16 ? 0 : it_ctl_write(m, id & 1 ? "prefetch-depth 2" : "prefetch-depth 1");
        if (w != 0 && w != -ENFILE)
            counts[2]++;
        int fd = open((i + id) & 1 ? lay : st, O_RDONLY);
        if (fd >= 0)
            counts[0]++;
        else if (errno == ENFILE)
            counts[1]++;
        else
            counts[2]++;
    }
    if (write(out, counts, sizeof counts) != (ssize_t)sizeof counts)
        _exit(2);
    char c;
    while (read(go, &c, 1) > 0)
        ;
    _exit(0);
}

START_TEST(many_opens_bounded)
{
    it_mount_t m;
    char err[2048];
    const char *args[] = { "--ram", "8M", NULL };
    /* an ASan daemon (FLASHFS_BUILD=build-asan) keeps freed memory in quarantine (256 MB by
     * default), which would count as growth here: keep it small */
    const char *asan = getenv("ASAN_OPTIONS");
    char *saved = asan ? strdup(asan) : NULL;
    char opts[1024];
    snprintf(opts, sizeof opts, "%s%squarantine_size_mb=4", asan ? asan : "", asan && *asan ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
    int rc = it_mount_start(&m, DEMO, args, err, sizeof err);
    if (saved)
        setenv("ASAN_OPTIONS", saved, 1);
    else
        unsetenv("ASAN_OPTIONS");
    free(saved);
    ck_assert_msg(rc == 0, "%s", err);
    char *t;
    size_t l;
    ck_assert_int_eq(it_ctl_read(&m, "layout", &t, &l), 0);
    free(t);
    long base = rss_kb(m.pid);
    int res[2], go[2];
    ck_assert_int_eq(pipe(res), 0);
    ck_assert_int_eq(pipe(go), 0);
    pid_t kids[NPROC];
    for (int i = 0; i < NPROC; i++) {
        kids[i] = fork();
        ck_assert_int_ge(kids[i], 0);
        if (kids[i] == 0) {
            close(res[0]);
            close(go[1]);
            holder(&m, i, res[1], go[0]);
        }
    }
    close(res[1]);
    close(go[0]);
    long opened = 0, enfile = 0, other = 0;
    for (int i = 0; i < NPROC; i++) {
        int c[3];
        ck_assert_int_eq(read(res[0], c, sizeof c), (ssize_t)sizeof c);
        opened += c[0];
        enfile += c[1];
        other += c[2];
    }
    long peak = rss_kb(m.pid);
    close(go[1]); /* the children exit, closing everything */
    for (int i = 0; i < NPROC; i++) {
        int st;
        ck_assert_int_eq(waitpid(kids[i], &st, 0), kids[i]);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "holder %d: status 0x%x", i, st);
    }
    close(res[0]);
    fprintf(stderr, "it_control_mem: %ld opened, %ld ENFILE, RSS %ld -> %ld KiB\n", opened, enfile, base, peak);
    ck_assert_int_eq(other, 0);
    ck_assert_int_eq(opened, CTL_MAX_HANDLES);
    ck_assert_int_eq(enfile, (long)NPROC * OPENS - CTL_MAX_HANDLES);
    ck_assert_msg(peak - base < RSS_BOUND_KB, "daemon RSS grew by %ld KiB (bound %d)", peak - base, RSS_BOUND_KB);
    /* everything is given back once the kernel's RELEASEs arrive (the snapshot of this
     * stats read is rendered before its own handle counts) */
    double nopen = -1, nbytes = -1;
    for (int tries = 0; tries < 100 && nopen != 0; tries++) {
        if (tries)
            it_sleep_ms(50);
        ck_assert_int_eq(it_ctl_read(&m, "stats", &t, &l), 0);
        cJSON *j = cJSON_Parse(t);
        free(t);
        ck_assert_ptr_nonnull(j);
        cJSON *cf = cJSON_GetObjectItemCaseSensitive(j, "control_files");
        ck_assert_ptr_nonnull(cf);
        nopen = cJSON_GetObjectItemCaseSensitive(cf, "open")->valuedouble;
        nbytes = cJSON_GetObjectItemCaseSensitive(cf, "snapshot_bytes")->valuedouble;
        cJSON_Delete(j);
    }
    ck_assert_double_eq(nopen, 0);
    ck_assert_double_le(nbytes, 1 << 20);
    ck_assert_int_eq(it_mount_stop(&m), 0);
}
END_TEST

/* 1000 opens of `layout` held at once share one snapshot: the live snapshot bytes stay
 * below the size of one layout plus one stats document. */
START_TEST(layout_opens_share_one_snapshot)
{
    it_mount_t m;
    char err[2048];
    const char *args[] = { "--ram", "8M", NULL };
    ck_assert_msg(it_mount_start(&m, DEMO, args, err, sizeof err) == 0, "%s", err);
    char *lay, *t;
    size_t llen, l;
    ck_assert_int_eq(it_ctl_read(&m, "layout", &lay, &llen), 0);
    ck_assert_int_eq(it_ctl_read(&m, "stats", &t, &l), 0);
    free(t);
    size_t slen = l;
    struct rlimit rl = { 2048, 2048 };
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    char p[PATH_MAX + 64];
    it_mpath(&m, ".flashfs/layout", p, sizeof p);
    int fds[1000];
    for (int i = 0; i < 1000; i++) {
        fds[i] = open(p, O_RDONLY);
        ck_assert_msg(fds[i] >= 0, "open %d: %s", i, strerror(errno));
    }
    /* the last one reads the same text */
    char buf[4096];
    ssize_t n = read(fds[999], buf, sizeof buf);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(memcmp(buf, lay, (size_t)n), 0);
    ck_assert_int_eq(it_ctl_read(&m, "stats", &t, &l), 0);
    cJSON *j = cJSON_Parse(t);
    free(t);
    ck_assert_ptr_nonnull(j);
    cJSON *cf = cJSON_GetObjectItemCaseSensitive(j, "control_files");
    ck_assert_ptr_nonnull(cf);
    ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(cf, "open")->valuedouble, 1000);
    double bytes = cJSON_GetObjectItemCaseSensitive(cf, "snapshot_bytes")->valuedouble;
    ck_assert_msg(bytes <= (double)(llen + 2 * slen), "%.0f snapshot bytes for 1000 layout opens (layout %zu)", bytes,
                  llen);
    cJSON_Delete(j);
    for (int i = 0; i < 1000; i++)
        close(fds[i]);
    free(lay);
    ck_assert_int_eq(it_mount_stop(&m), 0);
}
END_TEST

/* A model whose files together announce more than LY_MAX_TENSORS tensors is refused at
 * mount time with exit status 2 and one line naming the limit. */
START_TEST(tensor_limit_refused_at_mount)
{
    char dir[1024], p[1200];
    ck_assert_int_eq(it_tmpdir(dir, sizeof dir), 0);
    unsigned char gg[64] = { 'G', 'G', 'U', 'F', 3, 0, 0, 0 };
    uint64_t nt = LY_MAX_TENSORS + 1ull;
    memcpy(gg + 8, &nt, 8);
    snprintf(p, sizeof p, "%s/m.gguf", dir);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(gg, 1, sizeof gg, f), sizeof gg);
    ck_assert_int_eq(fclose(f), 0);
    it_mount_t m;
    char err[2048];
    ck_assert_msg(it_mount_prepare(&m, dir, err, sizeof err) == 0, "%s", err);
    char bin[PATH_MAX];
    it_build_path("flashfs", bin, sizeof bin);
    const char *argv[] = { bin, "-f", "--ram", "8M", dir, m.mnt, NULL };
    it_run_t r;
    ck_assert_int_eq(it_run(argv, 20000, &r), 0);
    ck_assert_int_eq(r.status, 2);
    ck_assert_str_eq(r.err, "flashfs: layout: m.gguf: the model has more than 262144 tensors (LY_MAX_TENSORS)\n");
    it_run_free(&r);
    it_mount_cleanup(&m);
    it_rm_rf(dir);
}
END_TEST

Suite *it_control_mem_suite(void)
{
    Suite *s = suite_create("it_control_mem");
    TCase *tc = tcase_create("bound");
    tcase_set_timeout(tc, IT_TCASE_TIMEOUT);
    tcase_add_test(tc, many_opens_bounded);
    tcase_add_test(tc, tensor_limit_refused_at_mount);
    tcase_add_test(tc, layout_opens_share_one_snapshot);
    suite_add_tcase(s, tc);
    return s;
}
