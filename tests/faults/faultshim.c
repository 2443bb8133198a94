/* faultshim.c — LD_PRELOAD fault injection for the backing store (tests only; prefix fs_).
 *
 * Built as $(BUILD)/tests/libffs_faults.so (tests/tests.mk). Preloaded into the flashfs
 * daemon, it intercepts pread, pread64, preadv, preadv64, preadv2 and read, and makes
 * reads of chosen files fail, return short, or stall, at chosen offsets.
 *
 * Rules come from the file named by FFS_FAULT_FILE (re-read whenever it changes, so a
 * test can change faults while the daemon runs) and/or from FFS_FAULT_SPEC (the same
 * syntax, rules separated by ';'). One rule per line:
 *
 *     KIND PATTERN OFFSET LENGTH [count=N] [ms=N] [gate=PATH]
 *
 *   KIND     eio    the call fails with errno EIO (a media error)
 *            eof    the call returns 0 (end of file, as if the file were truncated under us)
 *            short  the call returns fewer bytes than asked (correct bytes; a reader that
 *                   retries gets everything): half the request, at least 1 byte, rounded
 *                   to 4 KiB for O_DIRECT descriptors
 *            stall  the call sleeps, then reads normally: ms=N milliseconds, or for as long
 *                   as the file gate=PATH exists (polled every 5 ms), whichever ends first
 *                   (without ms=, only the gate ends it)
 *   PATTERN  substring of the file's resolved path (/proc/self/fd/N), "*" for every file
 *   OFFSET   first byte of the faulty range (decimal or 0x hex)
 *   LENGTH   bytes in the range; 0 means "to the end of the file"
 *   count=N  the rule fires at most N times (counted from the last reload of the rules)
 *
 * A call fires a rule when [off, off + len) overlaps the rule's range. eio/eof fire even
 * when the read only partly overlaps (a disk fails the whole request). Lines starting
 * with '#' and blank lines are ignored.
 *
 * Every fired rule appends one line to the file named by FFS_FAULT_LOG, if set:
 *     "KIND PATH OFF LEN\n"  (the intercepted call's offset and length)
 * so tests can check that the fault was really hit.
 *
 * Threads: with FFS_FAULT_THREAD_FAIL=N the N-th pthread_create call of the process
 * (1-based) fails with EAGAIN and logs "thread - N 0" (a daemon whose evictor or
 * prefetcher cannot start).
 *
 * Without FFS_FAULT_FILE and FFS_FAULT_SPEC every call goes straight to libc.
 * Under AddressSanitizer built with gcc (libasan is a shared library) the preload needs
 * ASAN_OPTIONS=verify_asan_link_order=0; clang's static ASan runtime defines pread in the
 * executable itself and cannot be interposed (use a gcc build, as `make check-asan` does). */
/* Both pread and pread64 are defined here: build without the 64-bit redirection. */
#undef _FILE_OFFSET_BITS
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* ---- real functions ---------------------------------------------------------- */

typedef ssize_t (*pread_fn)(int, void *, size_t, off64_t);
typedef ssize_t (*preadv_fn)(int, const struct iovec *, int, off64_t);
typedef ssize_t (*preadv2_fn)(int, const struct iovec *, int, off64_t, int);
typedef ssize_t (*read_fn)(int, void *, size_t);

static pread_fn real_pread, real_pread64;
static preadv_fn real_preadv, real_preadv64;
static preadv2_fn real_preadv2;
static read_fn real_read;

static pthread_once_t fs_once = PTHREAD_ONCE_INIT;
static int fs_active;           /* a rule source is configured (set once, in fs_resolve) */

static void fs_resolve(void)
{
    real_pread = (pread_fn)dlsym(RTLD_NEXT, "pread");
    real_pread64 = (pread_fn)dlsym(RTLD_NEXT, "pread64");
    real_preadv = (preadv_fn)dlsym(RTLD_NEXT, "preadv");
    real_preadv64 = (preadv_fn)dlsym(RTLD_NEXT, "preadv64");
    real_preadv2 = (preadv2_fn)dlsym(RTLD_NEXT, "preadv2");
    real_read = (read_fn)dlsym(RTLD_NEXT, "read");
    const char *file = getenv("FFS_FAULT_FILE");
    const char *spec = getenv("FFS_FAULT_SPEC");
    fs_active = (file && *file) || (spec && *spec);
}

/* ---- rules ------------------------------------------------------------------- */

enum { K_EIO, K_EOF, K_SHORT, K_STALL };
static const char *const kind_names[] = { "eio", "eof", "short", "stall" };

#define FS_MAX_RULES 64

typedef struct {
    int kind;
    char pattern[256];
    uint64_t off, len;          /* len 0: to the end */
    long count;                 /* -1: unlimited */
    long ms;                    /* stall time, -1: gate only */
    char gate[256];
} fs_rule_t;

static pthread_mutex_t fs_lock = PTHREAD_MUTEX_INITIALIZER;
static fs_rule_t fs_rules[FS_MAX_RULES];
static int fs_nrules;
static struct stat fs_rule_stat; /* identity of the rules file last loaded */
static int fs_rule_loaded;

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 0);
    if (errno || end == s || *end)
        return -1;
    *v = x;
    return 0;
}

/* Parse one rule line into r; 0 on success, -1 when the line is blank/comment/bad. */
static int parse_rule(char *line, fs_rule_t *r)
{
    char *save = NULL, *tok[8];
    int n = 0;
    for (char *t = strtok_r(line, " \t\r\n", &save); t && n < 8; t = strtok_r(NULL, " \t\r\n", &save))
        tok[n++] = t;
    if (n < 4 || tok[0][0] == '#')
        return -1;
    memset(r, 0, sizeof *r);
    r->kind = -1;
    for (int k = 0; k < 4; k++)
        if (strcmp(tok[0], kind_names[k]) == 0)
            r->kind = k;
    if (r->kind < 0 || parse_u64(tok[2], &r->off) || parse_u64(tok[3], &r->len))
        return -1;
    snprintf(r->pattern, sizeof r->pattern, "%s", tok[1]);
    r->count = -1;
    r->ms = -1;
    for (int i = 4; i < n; i++) {
        uint64_t v;
        if (strncmp(tok[i], "count=", 6) == 0 && parse_u64(tok[i] + 6, &v) == 0)
            r->count = (long)v;
        else if (strncmp(tok[i], "ms=", 3) == 0 && parse_u64(tok[i] + 3, &v) == 0)
            r->ms = (long)v;
        else if (strncmp(tok[i], "gate=", 5) == 0)
            snprintf(r->gate, sizeof r->gate, "%s", tok[i] + 5);
        else
            return -1;
    }
    return 0;
}

/* Add the rules of text (lines separated by '\n' or sep) to the table. */
static void add_rules(char *text, char sep)
{
    char *save = NULL;
    char delims[3] = { '\n', sep, 0 };
    for (char *line = strtok_r(text, delims, &save); line; line = strtok_r(NULL, delims, &save)) {
        if (fs_nrules >= FS_MAX_RULES)
            break;
        char copy[1024];
        snprintf(copy, sizeof copy, "%s", line);
        if (parse_rule(copy, &fs_rules[fs_nrules]) == 0)
            fs_nrules++;
    }
}

/* Reload the rules when the rules file changed (or on first use). Caller holds fs_lock. */
static void refresh_rules(void)
{
    const char *file = getenv("FFS_FAULT_FILE");
    const char *spec = getenv("FFS_FAULT_SPEC");
    struct stat st;
    int have = file && *file && stat(file, &st) == 0;
    if (fs_rule_loaded && have == (fs_rule_stat.st_ino != 0) &&
        (!have || (st.st_ino == fs_rule_stat.st_ino && st.st_size == fs_rule_stat.st_size &&
                   st.st_mtim.tv_sec == fs_rule_stat.st_mtim.tv_sec &&
                   st.st_mtim.tv_nsec == fs_rule_stat.st_mtim.tv_nsec)))
        return;
    fs_nrules = 0;
    if (spec && *spec) {
        char *copy = strdup(spec);
        if (copy) {
            add_rules(copy, ';');
            free(copy);
        }
    }
    memset(&fs_rule_stat, 0, sizeof fs_rule_stat);
    if (have) {
        fs_rule_stat = st;
        if (fs_rule_stat.st_ino == 0)
            fs_rule_stat.st_ino = 1;
        int fd = open(file, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            char buf[16384];
            size_t got = 0;
            ssize_t n;
            while (got < sizeof buf - 1 && (n = real_read(fd, buf + got, sizeof buf - 1 - got)) > 0)
                got += (size_t)n;
            close(fd);
            buf[got] = '\0';
            add_rules(buf, '\n');
        }
    }
    fs_rule_loaded = 1;
}

/* ---- matching and actions ------------------------------------------------------ */

typedef struct {
    int fire;                   /* 0: pass through */
    int kind;
    long ms;
    char gate[256];
    char path[512];
} fs_action_t;

static void log_fire(const fs_action_t *a, uint64_t off, size_t len)
{
    const char *logp = getenv("FFS_FAULT_LOG");
    if (!logp || !*logp)
        return;
    int fd = open(logp, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    char line[700];
    int n = snprintf(line, sizeof line, "%s %s %llu %zu\n", kind_names[a->kind], a->path,
                     (unsigned long long)off, len);
    if (n > 0) {
        ssize_t w = write(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        (void)w;
    }
    close(fd);
}

/* Decide what to do with a read of len bytes at off on fd. */
static fs_action_t match(int fd, uint64_t off, size_t len)
{
    fs_action_t a;
    a.fire = 0;
    struct stat st;
    if (!fs_active || len == 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return a;               /* only regular files: never /dev/fuse, pipes, sockets */
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t pl = readlink(link, a.path, sizeof a.path - 1);
    if (pl < 0)
        return a;
    a.path[pl] = '\0';
    pthread_mutex_lock(&fs_lock);
    refresh_rules();
    for (int i = 0; i < fs_nrules; i++) {
        fs_rule_t *r = &fs_rules[i];
        if (r->count == 0)
            continue;
        if (strcmp(r->pattern, "*") != 0 && !strstr(a.path, r->pattern))
            continue;
        uint64_t end = off + len;
        uint64_t rend = r->len ? r->off + r->len : UINT64_MAX;
        if (end <= r->off || off >= rend)
            continue;
        if (r->count > 0)
            r->count--;
        a.fire = 1;
        a.kind = r->kind;
        a.ms = r->ms;
        snprintf(a.gate, sizeof a.gate, "%s", r->gate);
        break;
    }
    pthread_mutex_unlock(&fs_lock);
    if (a.fire)
        log_fire(&a, off, len);
    return a;
}

/* Sleep for a stall rule: ms milliseconds, or while the gate file exists. */
static void do_stall(const fs_action_t *a)
{
    uint64_t waited = 0;
    for (;;) {
        if (a->ms >= 0 && waited >= (uint64_t)a->ms)
            return;
        if (a->ms < 0 && !a->gate[0])
            return;
        if (a->gate[0] && access(a->gate, F_OK) != 0)
            return;
        struct timespec ts = { 0, 5 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        waited += 5;
    }
}

/* Length of a "short" read of len bytes on fd. */
static size_t short_len(int fd, size_t len)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_DIRECT)) {
        size_t half = (len / 2) & ~(size_t)4095;
        return half ? half : len;
    }
    return len > 1 ? len / 2 : len;
}

/* Common front: returns 1 when the call is answered (with *ret, errno set), else 0 and
 * maybe a shortened *len. */
static int front(int fd, uint64_t off, size_t *len, ssize_t *ret)
{
    pthread_once(&fs_once, fs_resolve);
    fs_action_t a = match(fd, off, *len);
    if (!a.fire)
        return 0;
    switch (a.kind) {
    case K_EIO:
        errno = EIO;
        *ret = -1;
        return 1;
    case K_EOF:
        *ret = 0;
        return 1;
    case K_SHORT:
        *len = short_len(fd, *len);
        return 0;
    default:
        do_stall(&a);
        return 0;
    }
}

/* ---- interposed functions ------------------------------------------------------ */

ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
    ssize_t ret;
    if (front(fd, (uint64_t)off, &len, &ret))
        return ret;
    return real_pread(fd, buf, len, off);
}

ssize_t pread64(int fd, void *buf, size_t len, off64_t off)
{
    ssize_t ret;
    if (front(fd, (uint64_t)off, &len, &ret))
        return ret;
    return real_pread64(fd, buf, len, off);
}

ssize_t read(int fd, void *buf, size_t len)
{
    pthread_once(&fs_once, fs_resolve);
    if (!fs_active)
        return real_read(fd, buf, len);
    off_t cur = lseek(fd, 0, SEEK_CUR);
    ssize_t ret;
    if (cur >= 0 && front(fd, (uint64_t)cur, &len, &ret))
        return ret;
    return real_read(fd, buf, len);
}

/* Trim an iovec array to at most want bytes (into out, at most 64 entries). */
static int trim_iov(const struct iovec *iov, int cnt, size_t want, struct iovec *out)
{
    int n = 0;
    for (int i = 0; i < cnt && n < 64 && want > 0; i++) {
        out[n] = iov[i];
        if (out[n].iov_len > want)
            out[n].iov_len = want;
        want -= out[n].iov_len;
        n++;
    }
    return n;
}

static ssize_t preadv_common(int fd, const struct iovec *iov, int cnt, off64_t off, int flags,
                             int which)
{
    pthread_once(&fs_once, fs_resolve);
    size_t total = 0;
    for (int i = 0; i < cnt; i++)
        total += iov[i].iov_len;
    size_t len = total;
    ssize_t ret;
    off64_t at = off;
    if (at == -1)               /* preadv2: current file offset */
        at = lseek(fd, 0, SEEK_CUR);
    if (at >= 0 && front(fd, (uint64_t)at, &len, &ret))
        return ret;
    struct iovec tv[64];
    if (len < total) {
        cnt = trim_iov(iov, cnt, len, tv);
        iov = tv;
    }
    if (which == 2)
        return real_preadv2(fd, iov, cnt, off, flags);
    return which == 1 ? real_preadv64(fd, iov, cnt, off) : real_preadv(fd, iov, cnt, off);
}

ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
    return preadv_common(fd, iov, cnt, off, 0, 0);
}

ssize_t preadv64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
    return preadv_common(fd, iov, cnt, off, 0, 1);
}

ssize_t preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    return preadv_common(fd, iov, cnt, off, flags, 2);
}

/* ---- threads ------------------------------------------------------------------ */

typedef int (*pthread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
static long fs_thread_calls;

int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    static pthread_create_fn real;
    if (!real)
        real = (pthread_create_fn)dlsym(RTLD_NEXT, "pthread_create");
    const char *n = getenv("FFS_FAULT_THREAD_FAIL");
    long k = __atomic_add_fetch(&fs_thread_calls, 1, __ATOMIC_RELAXED);
    if (n && *n && k == atol(n)) {
        const char *logp = getenv("FFS_FAULT_LOG");
        FILE *f = logp && *logp ? fopen(logp, "a") : NULL;
        if (f) {
            fprintf(f, "thread - %ld 0\n", k);
            fclose(f);
        }
        return EAGAIN;
    }
    return real ? real(t, attr, fn, arg) : ENOSYS;
}
