/* it_control.c — integration tests of the control directory `.flashfs/` on a real mount
 * of the demo model: stats JSON, Prometheus metrics, the `ram`, `drop` and bad commands,
 * last_error, and the budget accounting after reading the whole model. */
#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fu_util.h"

#define MODEL "tests/fixtures/demo"

static char mnt[256];
static pid_t daemon_pid = -1;

/* ---- mount helpers ------------------------------------------------------------------ */

static void mount_demo(const char *ram)
{
    const char *build = getenv("FLASHFS_BUILD") ? getenv("FLASHFS_BUILD") : "build";
    char bin[512];
    snprintf(bin, sizeof bin, "%s/flashfs", build);
    snprintf(mnt, sizeof mnt, "/tmp/ffs-itctl.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(mnt));
    daemon_pid = fork();
    ck_assert_int_ge(daemon_pid, 0);
    if (daemon_pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, 2);
        execl(bin, "flashfs", "-f", "--ram", ram, MODEL, mnt, (char *)NULL);
        _exit(127);
    }
    char probe[512];
    snprintf(probe, sizeof probe, "%s/.flashfs/stats", mnt);
    struct stat st;
    for (int i = 0; i < 300 && stat(probe, &st) != 0; i++) {
        int status;
        ck_assert_msg(waitpid(daemon_pid, &status, WNOHANG) == 0, "flashfs exited before mounting");
        usleep(20000);
    }
    ck_assert_msg(stat(probe, &st) == 0, "mount did not come up at %s", mnt);
}

static void unmount_demo(void)
{
    if (daemon_pid > 0) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "fusermount3 -u %s 2>/dev/null", mnt);
        if (system(cmd) != 0)
            kill(daemon_pid, SIGTERM);
        int status = 0;
        waitpid(daemon_pid, &status, 0);
        daemon_pid = -1;
    }
    rmdir(mnt);
}

static char *read_ctl(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/.flashfs/%s", mnt, name);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    for (;;) {
        if (len + 4096 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        ck_assert_int_ge(n, 0);
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return buf;
}

/* Write one command; returns 0 or the errno of the failed write. */
static int write_ctl(const char *cmd)
{
    char path[512];
    snprintf(path, sizeof path, "%s/.flashfs/control", mnt);
    int fd = open(path, O_WRONLY | O_TRUNC);
    if (fd < 0)
        return errno;
    ssize_t n = write(fd, cmd, strlen(cmd));
    int e = n < 0 ? errno : 0;
    close(fd);
    return e;
}

static cJSON *stats(void)
{
    char *t = read_ctl("stats");
    cJSON *j = cJSON_Parse(t);
    ck_assert_msg(j != NULL, "stats is not JSON: %.200s", t);
    free(t);
    return j;
}

static double num(cJSON *o, const char *a, const char *b)
{
    cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    ck_assert_msg(x != NULL, "stats has no \"%s\"", a);
    if (b) {
        x = cJSON_GetObjectItemCaseSensitive(x, b);
        ck_assert_msg(x != NULL, "stats has no \"%s\".\"%s\"", a, b);
    }
    ck_assert_msg(cJSON_IsNumber(x), "stats \"%s\" is not a number", a);
    return x->valuedouble;
}

/* Read every regular file of the model through the mount; returns the bytes read. */
static uint64_t read_all(void)
{
    const char *names[] = { "config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                            "model.safetensors.index.json", "tokenizer.json" };
    uint64_t total = 0;
    char *buf = malloc(1 << 20);
    ck_assert_ptr_nonnull(buf);
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", mnt, names[i]);
        int fd = open(p, O_RDONLY);
        ck_assert_int_ge(fd, 0);
        ssize_t n;
        while ((n = read(fd, buf, 1 << 20)) > 0)
            total += (uint64_t)n;
        ck_assert_int_eq(n, 0);
        close(fd);
    }
    free(buf);
    return total;
}

static void setup(void)
{
    mount_demo("8M");
}

/* ---- tests ------------------------------------------------------------------------ */

START_TEST(stats_keys_and_budget)
{
    uint64_t bytes = read_all();
    ck_assert_uint_gt(bytes, 8ull << 20); /* the demo model is larger than the budget */
    /* `ram` waits for the evictor, so afterwards the total is within the budget. */
    ck_assert_int_eq(write_ctl("ram 8M\n"), 0);
    cJSON *j = stats();
    ck_assert_uint_eq((uint64_t)num(j, "budget_bytes", NULL), 8ull << 20);
    double total = num(j, "resident_bytes", "total");
    ck_assert_double_le(total, 8.0 * 1024 * 1024);
    ck_assert_double_eq(total, num(j, "resident_bytes", "daemon") + num(j, "resident_bytes", "page_cache"));
    ck_assert_double_ge(num(j, "backing_bytes_read", NULL), (double)bytes);
    ck_assert_double_gt(num(j, "evictions", NULL), 0);
    ck_assert_double_gt(num(j, "misses", NULL), 0);
    ck_assert_double_ge(num(j, "hits", NULL), 0);
    ck_assert_double_ge(num(j, "prefetch", "issued"), 0);
    ck_assert_double_ge(num(j, "prefetch", "used"), 0);
    ck_assert_double_ge(num(j, "prefetch", "wasted"), 0);
    ck_assert_double_ge(num(j, "prefetch", "late"), 0);
    ck_assert_double_ge(num(j, "uptime_s", NULL), 0);
    ck_assert_double_eq(num(j, "errors", NULL), 0);
    /* every READ is counted in exactly one size bucket */
    double sum = 0;
    const char *b[] = { "4K", "64K", "256K", "1M", ">1M" };
    for (int i = 0; i < 5; i++)
        sum += num(j, "read_sizes", b[i]);
    ck_assert_double_eq(sum, num(j, "read_requests", NULL));
    ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(j, "files"),
                                                           "model-00001-of-00002.safetensors"));
    ck_assert(cJSON_IsObject(cJSON_GetObjectItem(j, "groups")));
    cJSON_Delete(j);
}
END_TEST

START_TEST(ram_and_drop_commands)
{
    ck_assert_int_eq(write_ctl("ram 16M\n"), 0);
    cJSON *j = stats();
    ck_assert_uint_eq((uint64_t)num(j, "budget_bytes", NULL), 16ull << 20);
    cJSON_Delete(j);
    read_all();
    j = stats();
    ck_assert_double_gt(num(j, "resident_bytes", "page_cache"), 0);
    cJSON_Delete(j);
    ck_assert_int_eq(write_ctl("drop\n"), 0);
    j = stats();
    ck_assert_double_eq(num(j, "resident_bytes", "page_cache"), 0);
    cJSON_Delete(j);
    /* several commands in one write, comments and blank lines allowed */
    ck_assert_int_eq(write_ctl("# set\nram 12M\n\nprefetch off\nprefetch-depth 3\n"), 0);
    j = stats();
    ck_assert_uint_eq((uint64_t)num(j, "budget_bytes", NULL), 12ull << 20);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "prefetch"), "enabled")));
    ck_assert_double_eq(num(j, "prefetch", "depth"), 3);
    cJSON_Delete(j);
}
END_TEST

START_TEST(bad_command_einval_last_error)
{
    char *le = read_ctl("last_error");
    ck_assert_str_eq(le, "");
    free(le);
    ck_assert_int_eq(write_ctl("frobnicate 3\n"), EINVAL);
    le = read_ctl("last_error");
    ck_assert_ptr_nonnull(strstr(le, "frobnicate"));
    free(le);
    ck_assert_int_eq(write_ctl("ram lots\n"), EINVAL);
    le = read_ctl("last_error");
    ck_assert_ptr_nonnull(strstr(le, "lots"));
    free(le);
    ck_assert_int_eq(write_ctl("pin no.such.group\n"), EINVAL);
    /* a rejected `ram` left the budget alone */
    cJSON *j = stats();
    ck_assert_uint_eq((uint64_t)num(j, "budget_bytes", NULL), 8ull << 20);
    cJSON_Delete(j);
    /* the read-only control files refuse writes */
    char p[512];
    snprintf(p, sizeof p, "%s/.flashfs/stats", mnt);
    ck_assert_int_lt(open(p, O_WRONLY), 0);
}
END_TEST

/* Names in the stats "pinned" array, joined with spaces (malloc'd). */
static char *pinned_names(void)
{
    cJSON *j = stats();
    cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "pinned");
    ck_assert(cJSON_IsArray(p));
    char *out = calloc(1, 1024);
    ck_assert_ptr_nonnull(out);
    cJSON *e;
    cJSON_ArrayForEach(e, p) {
        ck_assert(cJSON_IsString(e));
        strncat(out, e->valuestring, 1000 - strlen(out));
        strcat(out, " ");
    }
    cJSON_Delete(j);
    return out;
}

START_TEST(pin_unpin_groups)
{
    char *n = pinned_names();
    ck_assert_str_eq(n, "");
    free(n);
    ck_assert_int_eq(write_ctl("pin norm layer.0\n"), 0);
    n = pinned_names();
    ck_assert_ptr_nonnull(strstr(n, "norm "));
    ck_assert_ptr_nonnull(strstr(n, "layer.0 "));
    free(n);
    /* a pinned group stays resident through budget pressure, but not through drop */
    read_all();
    ck_assert_int_eq(write_ctl("ram 4M\n"), 0);
    cJSON *j = stats();
    double g0 = num(j, "groups", "layer.0");
    ck_assert_double_gt(g0, 0);
    cJSON_Delete(j);
    ck_assert_int_eq(write_ctl("unpin layer.0\n"), 0);
    n = pinned_names();
    ck_assert_str_eq(n, "norm ");
    free(n);
    ck_assert_int_eq(write_ctl("unpin\n"), 0);
    n = pinned_names();
    ck_assert_str_eq(n, "");
    free(n);
    ck_assert_int_eq(write_ctl("drop\n"), 0);
    j = stats();
    ck_assert_double_eq(num(j, "groups", "layer.0"), 0);
    cJSON_Delete(j);
}
END_TEST

START_TEST(metrics_prometheus_text)
{
    read_all();
    char *m = read_ctl("metrics");
    int samples = 0;
    char *save = NULL;
    for (char *line = strtok_r(m, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') {
            ck_assert_msg(!strncmp(line, "# HELP flashfs_", 15) || !strncmp(line, "# TYPE flashfs_", 15),
                          "bad comment line: %s", line);
            if (!strncmp(line, "# TYPE", 6)) {
                const char *t = strrchr(line, ' ') + 1;
                ck_assert_msg(!strcmp(t, "gauge") || !strcmp(t, "counter"), "bad type: %s", line);
            }
            continue;
        }
        ck_assert_msg(!strncmp(line, "flashfs_", 8), "sample without prefix: %s", line);
        const char *v = strrchr(line, ' ');
        ck_assert_ptr_nonnull(v);
        char *end;
        strtod(v + 1, &end);
        ck_assert_msg(*end == '\0', "bad sample value: %s", line);
        samples++;
    }
    ck_assert_int_gt(samples, 10);
    free(m);
}
END_TEST

Suite *it_control_suite(void)
{
    Suite *s = suite_create("it_control");
    TCase *t = tcase_create("control");
    tcase_set_timeout(t, 60);
    tcase_add_checked_fixture(t, setup, unmount_demo);
    tcase_add_test(t, stats_keys_and_budget);
    tcase_add_test(t, ram_and_drop_commands);
    tcase_add_test(t, bad_command_einval_last_error);
    tcase_add_test(t, metrics_prometheus_text);
    tcase_add_test(t, pin_unpin_groups);
    suite_add_tcase(s, t);
    return s;
}
