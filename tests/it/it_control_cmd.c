/* it_control_cmd.c — `.flashfs/control` on a real mount (issue 13 items 8 and 10):
 * commands are newline-terminated lines accumulated per open file (split writes, writes
 * the kernel splits at max_write, a last line without newline executed at close), lines
 * longer than 4096 bytes are refused, last_error clears after a successful command and is
 * escaped, sizes are decimal with units and above physical RAM only with `force`; and
 * many threads writing pin/unpin/ram/prefetch commands while others read leave a
 * consistent state (run it under ASan: FLASHFS_BUILD=build-asan). */
#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fu_util.h"
#include "harness.h"

#define DEMO "tests/fixtures/demo"

static it_mount_t m;

static void setup(void)
{
    char err[2048];
    const char *args[] = { "--ram", "8M", NULL };
    ck_assert_msg(it_mount_start(&m, DEMO, args, err, sizeof err) == 0, "%s", err);
}

static void teardown(void)
{
    ck_assert_int_eq(it_mount_stop(&m), 0);
}

static int open_ctl(void)
{
    char p[PATH_MAX + 64];
    int fd = open(it_mpath(&m, ".flashfs/control", p, sizeof p), O_WRONLY | O_CLOEXEC);
    ck_assert_msg(fd >= 0, "open control: %s", strerror(errno));
    return fd;
}

/* write() of s on fd: 0 or the errno. */
static int wr(int fd, const char *s, size_t n)
{
    ssize_t w = write(fd, s, n);
    if (w < 0)
        return errno;
    ck_assert_uint_eq((size_t)w, n);
    return 0;
}

static char *last_error(void)
{
    char *t;
    size_t l;
    ck_assert_int_eq(it_ctl_read(&m, "last_error", &t, &l), 0);
    return t;
}

static cJSON *stats(void)
{
    char *t;
    size_t l;
    ck_assert_int_eq(it_ctl_read(&m, "stats", &t, &l), 0);
    cJSON *j = cJSON_Parse(t);
    free(t);
    ck_assert_ptr_nonnull(j);
    return j;
}

static uint64_t stat_num(const char *a, const char *b)
{
    cJSON *j = stats();
    cJSON *o = cJSON_GetObjectItemCaseSensitive(j, a);
    if (b)
        o = cJSON_GetObjectItemCaseSensitive(o, b);
    ck_assert_msg(cJSON_IsNumber(o), "stats %s.%s missing", a, b ? b : "");
    uint64_t v = (uint64_t)o->valuedouble;
    cJSON_Delete(j);
    return v;
}

/* A command split over two write() calls is one command; a last line without newline
 * runs when the file is closed, and its error is close()'s. */
START_TEST(split_writes_and_last_line)
{
    int fd = open_ctl();
    ck_assert_int_eq(wr(fd, "ram 1", 5), 0);
    ck_assert_int_eq(wr(fd, "2M\nprefetch-de", 14), 0);
    ck_assert_uint_eq(stat_num("budget_bytes", NULL), 12ull << 20);
    ck_assert_int_eq(wr(fd, "pth 3", 5), 0);
    ck_assert_uint_eq(stat_num("prefetch", "depth"), 1); /* not yet: no newline */
    int rc = close(fd);
    ck_assert_msg(rc == 0, "close: %s; last_error %s", strerror(errno), last_error());
    ck_assert_uint_eq(stat_num("prefetch", "depth"), 3);

    fd = open_ctl();
    ck_assert_int_eq(wr(fd, "frobnicate", 10), 0);
    errno = 0;
    ck_assert_int_eq(close(fd), -1);
    ck_assert_int_eq(errno, EINVAL);
    char *le = last_error();
    ck_assert_str_eq(le, "unknown command 'frobnicate' (known: ram, drop, pin, unpin, prefetch, prefetch-depth)\n");
    free(le);
}
END_TEST

/* A 2 MiB write of comment lines with a command across the kernel's max_write boundary
 * (the write reaches the daemon as several WRITE requests) runs the command whole. */
START_TEST(kernel_split_write)
{
    uint64_t mw = stat_num("kernel", "max_write");
    ck_assert_uint_gt(mw, 4096);
    size_t n = 2u << 20;
    char *buf = malloc(n);
    ck_assert_ptr_nonnull(buf);
    /* comment lines of 1000 bytes; "ram 20M\n" straddles mw; "prefetch-depth 5\n" ends it */
    for (size_t i = 0; i < n; i += 1000) {
        memset(buf + i, '#', n - i < 1000 ? n - i : 1000);
        if (i + 999 < n)
            buf[i + 999] = '\n';
    }
    const char cmd[] = "\nram 20M\n";
    memcpy(buf + mw - 4, cmd, sizeof cmd - 1);
    const char tail[] = "\nprefetch-depth 5\n";
    memcpy(buf + n - (sizeof tail - 1), tail, sizeof tail - 1);
    int fd = open_ctl();
    ck_assert_int_eq(wr(fd, buf, n), 0);
    ck_assert_int_eq(close(fd), 0);
    free(buf);
    ck_assert_uint_eq(stat_num("budget_bytes", NULL), 20ull << 20);
    ck_assert_uint_eq(stat_num("prefetch", "depth"), 5);
    char *le = last_error();
    ck_assert_str_eq(le, "");
    free(le);
}
END_TEST

/* A line longer than 4096 bytes is refused (EINVAL) and skipped to its newline; the same
 * descriptor then takes the next command. */
START_TEST(overlong_line)
{
    char big[6000];
    memset(big, 'a', sizeof big);
    int fd = open_ctl();
    ck_assert_int_eq(wr(fd, big, sizeof big), EINVAL);
    char *le = last_error();
    ck_assert_str_eq(le, "command too long (more than 4096 bytes)\n");
    free(le);
    ck_assert_int_eq(wr(fd, "aaaa\nram 12M\n", 13), 0);
    ck_assert_int_eq(close(fd), 0);
    ck_assert_uint_eq(stat_num("budget_bytes", NULL), 12ull << 20);
    le = last_error();
    ck_assert_str_eq(le, "");
    free(le);
}
END_TEST

/* last_error: set by a failing command, escaped, cleared by the next successful one;
 * comments and blank lines leave it alone. */
START_TEST(last_error_clears_and_escapes)
{
    ck_assert_int_eq(it_ctl_write(&m, "frob\xff\xfe\x01"), -EINVAL);
    char *le = last_error();
    ck_assert_str_eq(le, "control characters in command\n");
    free(le);
    ck_assert_int_eq(it_ctl_write(&m, "frob\xff\xfe"), -EINVAL);
    le = last_error();
    ck_assert_str_eq(le, "unknown command 'frob\\xff\\xfe' (known: ram, drop, pin, unpin, prefetch, prefetch-depth)\n");
    free(le);
    ck_assert_int_eq(it_ctl_write(&m, "# a comment"), 0);
    le = last_error();
    ck_assert_ptr_nonnull(strstr(le, "frob"));
    free(le);
    ck_assert_int_eq(it_ctl_write(&m, "drop"), 0);
    le = last_error();
    ck_assert_str_eq(le, "");
    free(le);
}
END_TEST

/* Sizes: decimal with units; above physical RAM only with `force`. */
START_TEST(ram_sizes)
{
    const char *bad[] = { "ram 1e19", "ram 0x40M", "ram 99999999999T force" };
    for (size_t i = 0; i < 3; i++)
        ck_assert_msg(it_ctl_write(&m, bad[i]) == -EINVAL, "'%s' accepted", bad[i]);
    char *le = last_error();
    ck_assert_str_eq(le, "ram: 99999999999T is too large\n");
    free(le);
    char cmd[96];
    unsigned long long k = (unsigned long long)(fu_phys_ram() / 1024 + 1);
    snprintf(cmd, sizeof cmd, "ram %lluK", k);
    ck_assert_int_eq(it_ctl_write(&m, cmd), -EINVAL);
    le = last_error();
    ck_assert_ptr_nonnull(strstr(le, "is more than the physical RAM"));
    free(le);
    ck_assert_uint_eq(stat_num("budget_bytes", NULL), 8ull << 20);
    strcat(cmd, " force");
    ck_assert_int_eq(it_ctl_write(&m, cmd), 0);
    ck_assert_uint_eq(stat_num("budget_bytes", NULL), k * 1024);
    ck_assert_int_eq(it_ctl_write(&m, "ram 8M"), 0);
}
END_TEST

/* ---- concurrent commands (item 10) -------------------------------------------------- */

typedef struct {
    int id;
    volatile int *stop;
    int fails;
    char err[160];
} worker_t;

static void *cmd_worker(void *arg)
{
    worker_t *w = arg;
    static const char *const cmds[] = { "pin layer.0 layer.1", "unpin", "pin norm embed", "unpin layer.0",
                                        "ram 6M", "ram 12M", "prefetch off", "prefetch on", "prefetch-depth 2",
                                        "pin head", "drop", "ram 8M" };
    unsigned seed = (unsigned)w->id * 7919u + 1;
    while (!*w->stop) {
        seed = seed * 1103515245u + 12345u;
        const char *c = cmds[(seed >> 16) % (sizeof cmds / sizeof *cmds)];
        int rc = it_ctl_write(&m, c);
        if (rc != 0 && !w->fails++)
            snprintf(w->err, sizeof w->err, "'%s': %s", c, strerror(-rc));
    }
    return NULL;
}

static void *read_worker(void *arg)
{
    worker_t *w = arg;
    char p[PATH_MAX + 64], buf[1 << 16];
    it_mpath(&m, "model-00001-of-00002.safetensors", p, sizeof p);
    while (!*w->stop) {
        int fd = open(p, O_RDONLY);
        if (fd < 0) {
            w->fails++;
            continue;
        }
        while (read(fd, buf, sizeof buf) > 0)
            ;
        close(fd);
        char *t;
        size_t l;
        if (it_ctl_read(&m, w->id & 1 ? "stats" : "metrics", &t, &l) != 0) {
            w->fails++;
            continue;
        }
        free(t);
    }
    return NULL;
}

START_TEST(concurrent_commands_and_readers)
{
    enum { NC = 8, NR = 4 };
    volatile int stop = 0;
    worker_t w[NC + NR];
    pthread_t t[NC + NR];
    for (int i = 0; i < NC + NR; i++) {
        w[i] = (worker_t){ .id = i, .stop = &stop };
        ck_assert_int_eq(pthread_create(&t[i], NULL, i < NC ? cmd_worker : read_worker, &w[i]), 0);
    }
    it_sleep_ms(4000);
    stop = 1;
    for (int i = 0; i < NC + NR; i++) {
        pthread_join(t[i], NULL);
        ck_assert_msg(w[i].fails == 0, "worker %d: %d failures, first %s", i, w[i].fails, w[i].err);
    }
    /* a known final state: nothing pinned, the budget kept after an eviction round */
    ck_assert_int_eq(it_ctl_write(&m, "unpin\nram 8M\nprefetch on\ndrop"), 0);
    cJSON *j = stats();
    cJSON *pinned = cJSON_GetObjectItemCaseSensitive(j, "pinned");
    ck_assert(cJSON_IsArray(pinned));
    ck_assert_int_eq(cJSON_GetArraySize(pinned), 0);
    ck_assert_uint_eq((uint64_t)cJSON_GetObjectItemCaseSensitive(j, "budget_bytes")->valuedouble, 8ull << 20);
    cJSON *rb = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "resident_bytes"), "total");
    ck_assert_uint_le((uint64_t)rb->valuedouble, 8ull << 20);
    cJSON_Delete(j);
    char *le = last_error();
    ck_assert_str_eq(le, "");
    free(le);
}
END_TEST

Suite *it_control_cmd_suite(void)
{
    Suite *s = suite_create("it_control_cmd");
    TCase *tc = tcase_create("lines");
    tcase_set_timeout(tc, IT_TCASE_TIMEOUT);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, split_writes_and_last_line);
    tcase_add_test(tc, kernel_split_write);
    tcase_add_test(tc, overlong_line);
    tcase_add_test(tc, last_error_clears_and_escapes);
    tcase_add_test(tc, ram_sizes);
    tcase_add_test(tc, concurrent_commands_and_readers);
    suite_add_tcase(s, tc);
    return s;
}
