/* it_hint.c — the engine→mount hint channel `.flashfs/hint` on real mounts: accepted hints
 * move the prefetcher before any READ, bad hints fail the write with a clear last_error and
 * never hurt the daemon, the file is the mounting user's only, and flashgen streaming from
 * a mount hints every streamed layer (and not with --no-hint) with unchanged output. */
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

static const char *const demo = "tests/fixtures/demo";

/* Write text to MNT/.flashfs/hint in one write(): 0 or -errno of the open/write. */
static int hint_write(const it_mount_t *m, const char *text)
{
    char p[4200];
    int fd = open(it_mpath(m, ".flashfs/hint", p, sizeof p), O_WRONLY);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, text, strlen(text));
    int e = n < 0 ? -errno : 0;
    close(fd);
    return e;
}

/* A number from the stats JSON: stats[obj][key] (obj NULL: top level). */
static double stat_num(const it_mount_t *m, const char *obj, const char *key)
{
    char *t = NULL;
    size_t l = 0;
    ck_assert_int_eq(it_ctl_read(m, "stats", &t, &l), 0);
    cJSON *js = cJSON_ParseWithLength(t, l);
    free(t);
    ck_assert_ptr_nonnull(js);
    const cJSON *o = obj ? cJSON_GetObjectItemCaseSensitive(js, obj) : js;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsNumber(v), "stats %s.%s missing", obj ? obj : "", key);
    double d = v->valuedouble;
    cJSON_Delete(js);
    return d;
}

static char *last_error(const it_mount_t *m)
{
    char *t = NULL;
    size_t l = 0;
    ck_assert_int_eq(it_ctl_read(m, "last_error", &t, &l), 0);
    return t;
}

START_TEST(hint_steers_prefetch)
{
    it_mount_t m;
    char err[1024];
    const char *args[] = { "--ram", "64M", NULL };
    ck_assert_msg(it_mount_start(&m, demo, args, err, sizeof err) == 0, "%s", err);
    /* no READ of the model yet: nothing to guess from, nothing prefetched */
    ck_assert_int_eq((int)stat_num(&m, "prefetch", "issued"), 0);
    ck_assert_int_eq(hint_write(&m, "at layer.2\n"), 0);
    uint64_t t0 = it_now_ms();
    while (stat_num(&m, "prefetch", "issued") == 0 && it_now_ms() - t0 < 5000)
        it_sleep_ms(20);
    ck_assert_msg(stat_num(&m, "prefetch", "issued") > 0, "a hint started no prefetch");
    ck_assert_int_eq((int)stat_num(&m, "hints", "accepted"), 1);
    char *t = NULL;
    size_t l = 0;
    ck_assert_int_eq(it_ctl_read(&m, "hint", &t, &l), 0);
    ck_assert_msg(strstr(t, "\nactive 1\n") && strstr(t, "\nlast layer.2\n"), "hint shows: %s", t);
    free(t);
    /* several hints in one write, a comment and blank lines; then release */
    ck_assert_int_eq(hint_write(&m, "# tokens\nat layer.3\n\nat layer.4\nrelease\n"), 0);
    ck_assert_int_eq((int)stat_num(&m, "hints", "accepted"), 4);
    ck_assert_int_eq(it_ctl_read(&m, "hint", &t, &l), 0);
    ck_assert_msg(strstr(t, "\nactive 0\n") && strstr(t, "\nlast layer.4\n"), "after release: %s", t);
    free(t);
    ck_assert_int_eq(it_mount_stop(&m), 0);
}
END_TEST

START_TEST(bad_hints_fail_clearly)
{
    it_mount_t m;
    char err[1024];
    ck_assert_msg(it_mount_start(&m, demo, NULL, err, sizeof err) == 0, "%s", err);
    static const struct {
        const char *line, *msg;
    } bad[] = {
        { "at nope\n", "hint: unknown group 'nope' (see .flashfs/layout)\n" },
        { "jump layer.1\n", "hint: unknown hint 'jump' (at GROUP | release)\n" },
        { "at\n", "hint: 'at' needs a layer group\n" },
        { "release now\n", "hint: 'release' takes no argument (got 'now')\n" },
        { "at layer.\xff\n", "hint: unknown group 'layer.\\xff' (see .flashfs/layout)\n" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_eq(hint_write(&m, bad[i].line), -EINVAL);
        char *e = last_error(&m);
        ck_assert_str_eq(e, bad[i].msg);
        free(e);
    }
    /* a line longer than the limit is refused, and the next line works again */
    size_t n = 5000; /* more than CTL_MAX_LINE (4096) */
    char *big = malloc(n + 2);
    ck_assert_ptr_nonnull(big);
    memset(big, 'x', n);
    big[n] = '\n';
    big[n + 1] = '\0';
    ck_assert_int_eq(hint_write(&m, big), -EINVAL);
    free(big);
    ck_assert_int_eq(hint_write(&m, "at layer.0\n"), 0);
    ck_assert_int_eq((int)stat_num(&m, "hints", "refused"), 5);
    ck_assert_int_eq((int)stat_num(&m, "hints", "accepted"), 1);
    ck_assert_int_eq(it_mount_stop(&m), 0);
}
END_TEST

START_TEST(hint_owner_only)
{
    it_mount_t m;
    char err[1024], p[4200];
    const char *args[] = { "-o", "allow_other", NULL };
    ck_assert_msg(it_mount_start(&m, demo, args, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(chmod(m.dir, 0755), 0); /* let uid 65534 reach the mountpoint */
    it_mpath(&m, ".flashfs/hint", p, sizeof p);
    ck_assert_int_eq(it_open_errno_as(65534, p, O_WRONLY), EACCES);
    ck_assert_int_eq(it_open_errno_as(65534, p, O_RDONLY), EACCES);
    ck_assert_int_eq((int)stat_num(&m, "hints", "accepted"), 0);
    ck_assert_int_eq(it_mount_stop(&m), 0);
}
END_TEST

/* flashgen --stream on the mount: `hints` hints counted by the mount and by flashgen */
static void run_flashgen(const it_mount_t *m, int hint, char **out, char **errtext)
{
    char prog[1024];
    it_build_path("flashgen", prog, sizeof prog);
    const char *argv[] = { prog, "-m", m->mnt, "-p", "And God said", "-n", "8", "--greedy", "--ignore-eos",
                           "--stream", "--stats", "-t", "2", hint ? NULL : "--no-hint", NULL };
    it_run_t r;
    ck_assert_int_eq(it_run(argv, 120000, &r), 0);
    ck_assert_msg(r.status == 0, "flashgen failed (%d): %s", r.status, r.err);
    *out = strdup(r.out);
    *errtext = strdup(r.err);
    it_run_free(&r);
}

START_TEST(flashgen_hints_layers)
{
    it_mount_t m;
    char err[1024];
    const char *args[] = { "--ram", "8M", NULL };
    ck_assert_msg(it_mount_start(&m, demo, args, err, sizeof err) == 0, "%s", err);
    char *o1, *e1, *o2, *e2;
    run_flashgen(&m, 1, &o1, &e1);
    double with = stat_num(&m, "hints", "accepted");
    /* 6 layers (+ the head when it streams) per forward pass, 8 passes at least */
    ck_assert_msg(with >= 6 * 8, "only %.0f hints from flashgen: %s", with, e1);
    ck_assert_msg(strstr(e1, "mount_hints:"), "flashgen --stats does not show hints: %s", e1);
    ck_assert_int_eq((int)stat_num(&m, "hints", "refused"), 0);
    run_flashgen(&m, 0, &o2, &e2);
    ck_assert_int_eq((int)stat_num(&m, "hints", "accepted"), (int)with);
    ck_assert_msg(!strstr(e2, "mount_hints:"), "--no-hint still hints: %s", e2);
    /* hints change what is prefetched, never the bytes the engine computes on */
    ck_assert_str_eq(o1, o2);
    free(o1);
    free(e1);
    free(o2);
    free(e2);
    ck_assert_int_eq(it_mount_stop(&m), 0);
}
END_TEST

Suite *it_hint_suite(void)
{
    Suite *s = suite_create("it_hint");
    TCase *tc = tcase_create("hint");
    tcase_set_timeout(tc, IT_TCASE_TIMEOUT);
    tcase_add_test(tc, hint_steers_prefetch);
    tcase_add_test(tc, bad_hints_fail_clearly);
    tcase_add_test(tc, hint_owner_only);
    tcase_add_test(tc, flashgen_hints_layers);
    suite_add_tcase(s, tc);
    return s;
}
