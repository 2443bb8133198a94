/* it_faults.c — integration tests: faults of the backing store injected under a real mount.
 *
 * The daemon runs with the LD_PRELOAD shim $(BUILD)/tests/libffs_faults.so (tests/faults/
 * faultshim.c), whose rules file is rewritten by each test while the mount is up. For
 * every kind of fault the reader must see exactly the right outcome:
 *   eio / eof   pread of the page holding the faulty byte fails with EIO; every other
 *               page of the file reads back exactly the backing bytes (pread and a
 *               MAP_SHARED mapping, which gets SIGBUS on the faulty page only); the error
 *               is counted in .flashfs/stats "errors" and logged with the file and an
 *               offset range holding the faulty byte; once the fault is gone the page
 *               reads correctly (errors are not cached).
 *   short       every read of the file returns short at the backing store: the whole
 *               file still reads back exactly, no error counted.
 *   stall       a read stalled at the backing store does not hold up reads of other
 *               ranges; when the stall ends it completes with the right bytes.
 * The shim's own log (FFS_FAULT_LOG) proves each fault really fired. */
#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fu_util.h"
#include "faultenv.h"
#include "harness.h"

#define MODEL "tests/fixtures/demo"
#define FILE_NAME "model-00001-of-00002.safetensors"
#define PAGE 4096u

/* ---- fixture: a mount with the shim preloaded -------------------------------------- */

typedef struct {
    fe_t fe;
    it_mount_t m;
    char backing[512];          /* the backing file */
    char mpath[PATH_MAX];       /* the same file through the mount */
    unsigned char *ref;         /* backing bytes */
    size_t size;
} ft_t;

static void set_rules(ft_t *t, const char *text)
{
    ck_assert_int_eq(fe_set_rules(&t->fe, text), 0);
}

static int fired(ft_t *t, const char *kind)
{
    return fe_fired(&t->fe, kind);
}

static void ft_start(ft_t *t)
{
    memset(t, 0, sizeof *t);
    ck_assert_int_eq(fe_init(&t->fe), 0);
    snprintf(t->backing, sizeof t->backing, "%s/%s", MODEL, FILE_NAME);
    char *ref;
    size_t n;
    ck_assert_int_eq(it_slurp(t->backing, &ref, &n), 0);
    t->ref = (unsigned char *)ref;
    t->size = n;
    char err[1024];
    const char *args[] = { "--ram", "64M", NULL };
    int rc = fe_mount_start(&t->fe, &t->m, MODEL, args, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    it_mpath(&t->m, FILE_NAME, t->mpath, sizeof t->mpath);
}

static void ft_stop(ft_t *t)
{
    int st = it_mount_stop(&t->m);
    if (st != 0)
        it_mount_dump_log(&t->m);
    ck_assert_int_eq(st, 0);
    fe_free(&t->fe);
    free(t->ref);
}

/* .flashfs/stats "errors" */
static double stat_errors(ft_t *t)
{
    char *txt;
    size_t len;
    ck_assert_int_eq(it_ctl_read(&t->m, "stats", &txt, &len), 0);
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    ck_assert_ptr_nonnull(j);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "errors");
    ck_assert_msg(cJSON_IsNumber(e), "stats has no numeric \"errors\"");
    double v = e->valuedouble;
    cJSON_Delete(j);
    return v;
}

/* pread exactly [off, off+len) through the mount into buf with a fresh descriptor;
 * 0 or the errno of the first failing call (a short read is retried from where it
 * stopped, so a fault shows as the errno of the read that starts at the bad page). */
static int mread(ft_t *t, void *buf, size_t len, uint64_t off)
{
    int fd = open(t->mpath, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    int rc = 0;
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
        if (n < 0) {
            rc = errno;
            break;
        }
        ck_assert_int_gt(n, 0);
        got += (size_t)n;
    }
    close(fd);
    return rc;
}

/* Read the whole file through the mount in 256 KiB preads, skipping the page range
 * [skip0, skip1) (page indexes), and compare with the backing bytes. */
static void check_all_but(ft_t *t, uint64_t skip0, uint64_t skip1)
{
    const size_t step = 256u << 10;
    unsigned char *buf = malloc(step);
    ck_assert_ptr_nonnull(buf);
    for (uint64_t off = 0; off < t->size;) {
        uint64_t end = off + step < t->size ? off + step : t->size;
        uint64_t s0 = skip0 * PAGE, s1 = skip1 * PAGE;
        if (off < s1 && end > s0) {     /* clip around the skipped pages */
            if (off < s0) {
                end = s0;
            } else {
                off = s1;
                continue;
            }
        }
        ck_assert_int_eq(mread(t, buf, end - off, off), 0);
        ck_assert_msg(memcmp(buf, t->ref + off, end - off) == 0, "wrong bytes at %llu", (unsigned long long)off);
        off = end;
    }
    free(buf);
}

/* The daemon log has a line naming the file with an offset range holding byte `bad`. */
static void check_log(ft_t *t, uint64_t bad)
{
    char *txt;
    size_t len;
    ck_assert_int_eq(it_slurp(t->m.log, &txt, &len), 0);
    int found = 0;
    for (char *l = txt; l && *l && !found; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        char *eol = strchr(l, '\n');
        size_t ll = eol ? (size_t)(eol - l) : strlen(l);
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)(ll < sizeof line - 1 ? ll : sizeof line - 1), l);
        if (!strstr(line, FILE_NAME))
            continue;
        unsigned long long off, n;
        char *o = strstr(line, "offset ");
        char *L = strstr(line, "length ");
        if (o && L && sscanf(o, "offset %llu", &off) == 1 && sscanf(L, "length %llu", &n) == 1 &&
            off <= bad && bad < off + n)
            found = 1;
    }
    if (!found)
        fprintf(stderr, "daemon log:\n%s\n", txt);
    free(txt);
    ck_assert_msg(found, "no log line names %s with an offset range holding %llu", FILE_NAME,
                  (unsigned long long)bad);
}

/* ---- mmap reader: SIGBUS on the faulty page only ------------------------------------ */

static sigjmp_buf bus_jmp;
static void on_bus(int sig)
{
    (void)sig;
    siglongjmp(bus_jmp, 1);
}

/* Touch page p of a MAP_SHARED mapping of the mounted file: 0 and its bytes compared,
 * or SIGBUS. Returns 1 on SIGBUS. */
static int touch_page(ft_t *t, const unsigned char *map, uint64_t p)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_bus;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &old);
    volatile int bus = 0;
    if (sigsetjmp(bus_jmp, 1) == 0) {
        uint64_t off = p * PAGE, n = t->size - off < PAGE ? t->size - off : PAGE;
        ck_assert_msg(memcmp(map + off, t->ref + off, n) == 0, "mmap: wrong bytes in page %llu",
                      (unsigned long long)p);
    } else {
        bus = 1;
    }
    sigaction(SIGBUS, &old, NULL);
    return bus;
}

/* ---- the fault cases ------------------------------------------------------------------ */

/* A fault of kind ("eio" or "eof") on 10 bytes inside one page in the middle of the file. */
static void hard_fault(const char *kind)
{
    ft_t t;
    ft_start(&t);
    uint64_t bad = 3 * (1u << 20) + 5 * PAGE + 100, page = bad / PAGE;
    ck_assert_uint_lt(bad, t.size);
    char rules[256];
    snprintf(rules, sizeof rules, "%s %s %llu 10\n", kind, FILE_NAME, (unsigned long long)bad);
    set_rules(&t, rules);
    double e0 = stat_errors(&t);

    unsigned char buf[PAGE];
    ck_assert_int_eq(mread(&t, buf, PAGE, page * PAGE), EIO);           /* the page itself */
    ck_assert_int_eq(mread(&t, buf, 1, bad), EIO);                      /* its faulty byte */
    ck_assert_int_ge(fired(&t, kind), 1);
    ck_assert_msg(stat_errors(&t) >= e0 + 1, "error not counted in stats");
    check_log(&t, bad);

    /* Every other byte, including the pages right next to it, reads back exactly. */
    check_all_but(&t, page, page + 1);
    ck_assert_int_eq(mread(&t, buf, PAGE, (page - 1) * PAGE), 0);
    ck_assert_int_eq(memcmp(buf, t.ref + (page - 1) * PAGE, PAGE), 0);
    ck_assert_int_eq(mread(&t, buf, PAGE, (page + 1) * PAGE), 0);
    ck_assert_int_eq(memcmp(buf, t.ref + (page + 1) * PAGE, PAGE), 0);

    /* A MAP_SHARED reader: SIGBUS on that page, right bytes on its neighbours. */
    int fd = open(t.mpath, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    unsigned char *map = mmap(NULL, t.size, PROT_READ, MAP_SHARED, fd, 0);
    ck_assert_ptr_ne(map, MAP_FAILED);
    ck_assert_int_eq(touch_page(&t, map, page), 1);
    ck_assert_int_eq(touch_page(&t, map, page - 1), 0);
    ck_assert_int_eq(touch_page(&t, map, page + 1), 0);
    ck_assert_int_eq(touch_page(&t, map, 0), 0);
    munmap(map, t.size);
    close(fd);

    /* The fault goes away: the page reads correctly (the error was not cached). */
    set_rules(&t, "# healed\n");
    ck_assert_int_eq(mread(&t, buf, PAGE, page * PAGE), 0);
    ck_assert_int_eq(memcmp(buf, t.ref + page * PAGE, PAGE), 0);
    ft_stop(&t);
}

START_TEST(fault_eio_one_page)
{
    hard_fault("eio");
}
END_TEST

START_TEST(fault_eof_one_page)
{
    hard_fault("eof");
}
END_TEST

/* Short reads everywhere in the file: the daemon retries, every byte is right. */
START_TEST(fault_short_reads)
{
    ft_t t;
    ft_start(&t);
    set_rules(&t, "short " FILE_NAME " 0 0\n");
    double e0 = stat_errors(&t);
    check_all_but(&t, 0, 0);
    ck_assert_int_ge(fired(&t, "short"), 1);
    ck_assert(stat_errors(&t) == e0);
    char sum_m[65], sum_b[65];
    ck_assert_int_eq(it_sha256_file(t.mpath, 1u << 20, sum_m), 0);
    ck_assert_int_eq(it_sha256_file(t.backing, 1u << 20, sum_b), 0);
    ck_assert_str_eq(sum_m, sum_b);
    ft_stop(&t);
}
END_TEST

typedef struct {
    ft_t *t;
    uint64_t off;
    unsigned char buf[PAGE];
    int rc;
    _Atomic int done;
} stall_reader_t;

static void *stalled_read(void *arg)
{
    stall_reader_t *r = arg;
    int fd = open(r->t->mpath, O_RDONLY);
    ssize_t n = fd >= 0 ? pread(fd, r->buf, PAGE, (off_t)r->off) : -1;
    r->rc = n == (ssize_t)PAGE ? 0 : (n < 0 ? errno : EIO);
    if (fd >= 0)
        close(fd);
    atomic_store(&r->done, 1);
    return NULL;
}

/* A read stalled at the backing store (while a gate file exists) does not block reads
 * of other ranges; released, it completes with the right bytes. */
START_TEST(fault_stall_other_reads_proceed)
{
    ft_t t;
    ft_start(&t);
    uint64_t bad = 2 * (1u << 20) + 7 * PAGE + 1;
    ck_assert_int_eq(fe_gate(&t.fe, 1), 0);
    char rules[700];
    snprintf(rules, sizeof rules, "stall %s %llu 1 gate=%s\n", FILE_NAME, (unsigned long long)bad, t.fe.gate);
    set_rules(&t, rules);

    static stall_reader_t r;
    memset(&r, 0, sizeof r);
    r.t = &t;
    r.off = bad / PAGE * PAGE;
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, stalled_read, &r), 0);
    /* wait until the daemon is inside the stalled backing read (bounded) */
    ck_assert_msg(fe_wait_fired(&t.fe, "stall", 10000), "the stall never fired");

    /* Other ranges of the same file, and another file, are served meanwhile. */
    unsigned char buf[PAGE];
    ck_assert_int_eq(mread(&t, buf, PAGE, 0), 0);
    ck_assert_int_eq(memcmp(buf, t.ref, PAGE), 0);
    uint64_t far = 5u << 20;
    ck_assert_int_eq(mread(&t, buf, PAGE, far), 0);
    ck_assert_int_eq(memcmp(buf, t.ref + far, PAGE), 0);
    char other[PATH_MAX], sum_m[65], sum_b[65];
    it_mpath(&t.m, "config.json", other, sizeof other);
    ck_assert_int_eq(it_sha256_file(other, 4096, sum_m), 0);
    ck_assert_int_eq(it_sha256_file(MODEL "/config.json", 4096, sum_b), 0);
    ck_assert_str_eq(sum_m, sum_b);
    ck_assert_msg(atomic_load(&r.done) == 0, "the stalled read finished while its gate was closed");

    ck_assert_int_eq(fe_gate(&t.fe, 0), 0);
    pthread_join(th, NULL);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_int_eq(memcmp(r.buf, t.ref + r.off, PAGE), 0);
    ft_stop(&t);
}
END_TEST

Suite *it_faults_suite(void)
{
    Suite *s = suite_create("it_faults");
    TCase *tc = tcase_create("faults");
    tcase_set_timeout(tc, IT_TCASE_TIMEOUT);
    tcase_add_test(tc, fault_eio_one_page);
    tcase_add_test(tc, fault_eof_one_page);
    tcase_add_test(tc, fault_short_reads);
    tcase_add_test(tc, fault_stall_other_reads_proceed);
    suite_add_tcase(s, tc);
    return s;
}
