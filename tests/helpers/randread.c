/* randread.c — multi-threaded differential reader for the integration tests.
 *
 *   randread [options] MOUNTED_FILE BACKING_FILE [MOUNTED_FILE BACKING_FILE ...]
 *
 * Reads random (offset, length) ranges of the MOUNTED files with pread() and through a
 * MAP_SHARED mapping, from several threads at once, and compares every byte with the
 * BACKING file. Lengths are log-uniform in [1, --max-len] (as many 1..10 B reads as
 * 1..10 MiB reads per decade), offsets are uniform (unaligned) with a share aligned to
 * 4 KiB, and a share of the reads is placed to cross the end of the file: pread must then
 * return exactly the bytes up to EOF (a "short read"), and through the mapping the rest
 * of the last page must read as zeros. A pread that returns less than the bytes up to EOF
 * is an error too (a regular file never does that).
 *
 * Options:
 *   --reads N        total number of reads over all threads (default 100000)
 *   --duration-ms T  stop after T ms instead (whichever comes first when both are given)
 *   --threads N      reader threads (default 8)
 *   --max-len B      longest read (default 4 MiB; K/M suffixes)
 *   --mode M         pread | mmap | both (default both: each read picks one at random)
 *   --pattern P      random | cyclic (cyclic: each thread walks the files in order with
 *                    reads of exactly --max-len bytes, wrapping around; for budget tests)
 *   --eof-pct P      percent of random reads that cross EOF (default 5)
 *   --seed S         random seed (default 1)
 *   --ref R          mem (default: backing files are loaded into memory once, then their
 *                    page cache is dropped) | pread (pread the backing file per read)
 *
 * Output: one summary line "randread: reads=... pread=... mmap=... bytes=... eof=...
 * mismatches=..." on stdout; details of the first mismatches on stderr.
 * Exit status: 0 all bytes equal, 1 mismatch or short read, 2 usage or I/O error. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u
#define MAX_REPORTS 10

typedef struct {
    const char *mpath, *bpath;
    int mfd, bfd;
    uint64_t size;
    const uint8_t *map;         /* MAP_SHARED mapping of the mounted file (NULL when empty) */
    size_t map_len;
    uint8_t *ref;               /* backing bytes in memory (--ref mem) */
} rr_file_t;

typedef struct {
    rr_file_t *files;
    int n_files;
    uint64_t reads, duration_ms, max_len, seed;
    int threads, mode, pattern, eof_pct, ref_mem;
    uint64_t t0_ms;
    atomic_ullong issued, done_pread, done_mmap, bytes, eof_reads, errors;
    atomic_int stop, reports;
} rr_ctx_t;

enum { MODE_PREAD = 1, MODE_MMAP = 2, MODE_BOTH = 3 };
enum { PAT_RANDOM = 0, PAT_CYCLIC = 1 };

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* xorshift64*: small, fast, good enough to spread offsets. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

/* Uniform double in [0, 1). */
static double rnd01(uint64_t *s) { return (double)(rnd(s) >> 11) / 9007199254740992.0; }

static void report(rr_ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(rr_ctx_t *c, const char *fmt, ...)
{
    atomic_fetch_add(&c->errors, 1);
    if (atomic_fetch_add(&c->reports, 1) >= MAX_REPORTS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Expected bytes of [off, off+n) of file f into buf (n already clipped to the size). */
static int ref_bytes(rr_ctx_t *c, rr_file_t *f, uint8_t *buf, uint64_t off, size_t n, const uint8_t **out)
{
    if (c->ref_mem) {
        *out = f->ref + off;
        return 0;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(f->bfd, buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : -EIO;
        got += (size_t)r;
    }
    posix_fadvise(f->bfd, (off_t)off, (off_t)n, POSIX_FADV_DONTNEED);
    *out = buf;
    return 0;
}

/* First index where a and b differ (n if equal). */
static size_t first_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    if (memcmp(a, b, n) == 0)
        return n;
    size_t i = 0;
    while (a[i] == b[i])
        i++;
    return i;
}

/* One read of [off, off+len) of file f by the given method; compares and counts. */
static void one_read(rr_ctx_t *c, rr_file_t *f, int method, uint64_t off, uint64_t len, uint8_t *buf,
                     uint8_t *rbuf)
{
    uint64_t avail = off < f->size ? f->size - off : 0;
    size_t want = (size_t)(len < avail ? len : avail);
    int crosses = off + len > f->size;
    const uint8_t *got;
    if (method == MODE_PREAD) {
        ssize_t r;
        do {
            r = pread(f->mfd, buf, (size_t)len, (off_t)off);
        } while (r < 0 && errno == EINTR);
        if (r < 0) {
            report(c, "pread %s off=%llu len=%llu: %s", f->mpath, (unsigned long long)off,
                   (unsigned long long)len, strerror(errno));
            return;
        }
        if ((size_t)r != want) {
            report(c, "pread %s off=%llu len=%llu returned %zd, expected %zu (size %llu)", f->mpath,
                   (unsigned long long)off, (unsigned long long)len, r, want, (unsigned long long)f->size);
            return;
        }
        got = buf;
        atomic_fetch_add(&c->done_pread, 1);
    } else {
        got = f->map + off;
        if (crosses && f->map) {
            /* the rest of the last page beyond EOF must read as zeros */
            for (uint64_t p = f->size; p < f->map_len && p < ((f->size + PAGE - 1) / PAGE) * PAGE; p++)
                if (f->map[p] != 0) {
                    report(c, "mmap %s: byte %llu beyond EOF (size %llu) is 0x%02x, not 0", f->mpath,
                           (unsigned long long)p, (unsigned long long)f->size, f->map[p]);
                    break;
                }
        }
        atomic_fetch_add(&c->done_mmap, 1);
    }
    if (crosses)
        atomic_fetch_add(&c->eof_reads, 1);
    if (want == 0)
        return;
    const uint8_t *expect = NULL;
    int rc = ref_bytes(c, f, rbuf, off, want, &expect);
    if (rc) {
        report(c, "reading backing %s at %llu: %s", f->bpath, (unsigned long long)off, strerror(-rc));
        return;
    }
    size_t d = first_diff(got, expect, want);
    if (d != want)
        report(c, "%s %s off=%llu len=%zu: first difference at file offset %llu (got 0x%02x, expected 0x%02x)",
               method == MODE_PREAD ? "pread" : "mmap", f->mpath, (unsigned long long)off, want,
               (unsigned long long)(off + d), got[d], expect[d]);
    atomic_fetch_add(&c->bytes, want);
}

static int should_stop(rr_ctx_t *c)
{
    if (atomic_load(&c->stop))
        return 1;
    if (c->duration_ms && now_ms() - c->t0_ms >= c->duration_ms)
        return 1;
    return 0;
}

typedef struct {
    rr_ctx_t *c;
    int id;
} rr_thread_t;

static void *reader(void *arg)
{
    rr_thread_t *t = arg;
    rr_ctx_t *c = t->c;
    uint8_t *buf = malloc(c->max_len), *rbuf = malloc(c->max_len);
    if (!buf || !rbuf) {
        report(c, "out of memory");
        free(buf);
        free(rbuf);
        return NULL;
    }
    uint64_t s = (c->seed + 1) * 0x9E3779B97F4A7C15ull + (uint64_t)t->id * 0xBF58476D1CE4E5B9ull;
    s = s ? s : 1;
    /* cyclic pattern: position of this thread, phase-shifted per thread */
    int cf = t->id % c->n_files;
    uint64_t coff = c->files[cf].size ? (c->files[cf].size / (uint64_t)c->threads) * (uint64_t)t->id / PAGE * PAGE
                                      : 0;
    while (!should_stop(c)) {
        if (c->reads && atomic_fetch_add(&c->issued, 1) >= c->reads)
            break;
        int method = c->mode == MODE_BOTH ? (rnd(&s) & 1 ? MODE_MMAP : MODE_PREAD) : c->mode;
        rr_file_t *f;
        uint64_t off, len;
        if (c->pattern == PAT_CYCLIC) {
            while (coff >= c->files[cf].size) {
                cf = (cf + 1) % c->n_files;
                coff = 0;
            }
            f = &c->files[cf];
            off = coff;
            len = c->max_len;
            coff += len;
        } else {
            f = &c->files[rnd(&s) % (uint64_t)c->n_files];
            /* log-uniform length in [1, max_len] */
            len = (uint64_t)exp(rnd01(&s) * log((double)c->max_len + 1.0));
            len = len < 1 ? 1 : len > c->max_len ? c->max_len : len;
            if (f->size == 0) {
                off = 0;
            } else if ((uint64_t)(rnd(&s) % 100) < (uint64_t)c->eof_pct) {
                /* cross EOF: start within len bytes before the end (or exactly at it) */
                uint64_t back = rnd(&s) % (len < f->size ? len : f->size);
                off = f->size - back;
                if (off == f->size && method == MODE_MMAP)
                    off = f->size - 1;
            } else {
                off = rnd(&s) % f->size;
                if (rnd(&s) % 5 == 0)
                    off &= ~(uint64_t)(PAGE - 1);
            }
        }
        if (method == MODE_MMAP && (!f->map || off >= f->size))
            method = MODE_PREAD; /* nothing mappable there */
        one_read(c, f, method, off, len, buf, rbuf);
        if (atomic_load(&c->errors))
            atomic_store(&c->stop, 1);
    }
    free(buf);
    free(rbuf);
    return NULL;
}

/* ------------------------------------------------------------------ setup */

static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    if (*end == 'K' || *end == 'k')
        v <<= 10, end++;
    else if (*end == 'M' || *end == 'm')
        v <<= 20, end++;
    else if (*end == 'G' || *end == 'g')
        v <<= 30, end++;
    if (*end)
        return -1;
    *out = v;
    return 0;
}

static int open_file(rr_ctx_t *c, rr_file_t *f)
{
    struct stat ms, bs;
    f->mfd = open(f->mpath, O_RDONLY | O_CLOEXEC);
    if (f->mfd < 0 || fstat(f->mfd, &ms) < 0) {
        fprintf(stderr, "randread: %s: %s\n", f->mpath, strerror(errno));
        return -1;
    }
    f->bfd = open(f->bpath, O_RDONLY | O_CLOEXEC);
    if (f->bfd < 0 || fstat(f->bfd, &bs) < 0) {
        fprintf(stderr, "randread: %s: %s\n", f->bpath, strerror(errno));
        return -1;
    }
    if (ms.st_size != bs.st_size) {
        fprintf(stderr, "randread: %s has size %lld, backing %s has %lld\n", f->mpath, (long long)ms.st_size,
                f->bpath, (long long)bs.st_size);
        return -1;
    }
    f->size = (uint64_t)bs.st_size;
    if (f->size && (c->mode & MODE_MMAP)) {
        f->map_len = (size_t)f->size;
        void *p = mmap(NULL, f->map_len, PROT_READ, MAP_SHARED, f->mfd, 0);
        if (p == MAP_FAILED) {
            fprintf(stderr, "randread: mmap MAP_SHARED %s: %s\n", f->mpath, strerror(errno));
            return -1;
        }
        f->map = p;
        /* the mapping may be read up to the end of its last page */
        f->map_len = (size_t)((f->size + PAGE - 1) / PAGE * PAGE);
    }
    if (c->ref_mem && f->size) {
        f->ref = malloc((size_t)f->size);
        if (!f->ref) {
            fprintf(stderr, "randread: out of memory for %s\n", f->bpath);
            return -1;
        }
        for (uint64_t got = 0; got < f->size;) {
            ssize_t r = pread(f->bfd, f->ref + got, (size_t)(f->size - got), (off_t)got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                fprintf(stderr, "randread: reading %s: %s\n", f->bpath, r < 0 ? strerror(errno) : "short file");
                return -1;
            }
            got += (uint64_t)r;
        }
        posix_fadvise(f->bfd, 0, 0, POSIX_FADV_DONTNEED);
    }
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: randread [--reads N] [--duration-ms T] [--threads N] [--max-len B] "
                    "[--mode pread|mmap|both] [--pattern random|cyclic] [--eof-pct P] [--seed S] "
                    "[--ref mem|pread] MOUNTED BACKING [MOUNTED BACKING ...]\n");
    return 2;
}

int main(int argc, char **argv)
{
    static rr_ctx_t c;
    c.reads = 100000;
    c.threads = 8;
    c.max_len = 4u << 20;
    c.mode = MODE_BOTH;
    c.eof_pct = 5;
    c.seed = 1;
    c.ref_mem = 1;
    int i = 1;
    int reads_given = 0;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i += 2) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return usage();
        uint64_t x;
        if (!strcmp(o, "--reads") && !parse_size(v, &x))
            c.reads = x, reads_given = 1;
        else if (!strcmp(o, "--duration-ms") && !parse_size(v, &x))
            c.duration_ms = x;
        else if (!strcmp(o, "--threads") && !parse_size(v, &x) && x >= 1 && x <= 256)
            c.threads = (int)x;
        else if (!strcmp(o, "--max-len") && !parse_size(v, &x) && x >= 1 && x <= (1u << 30))
            c.max_len = x;
        else if (!strcmp(o, "--eof-pct") && !parse_size(v, &x) && x <= 100)
            c.eof_pct = (int)x;
        else if (!strcmp(o, "--seed") && !parse_size(v, &x))
            c.seed = x;
        else if (!strcmp(o, "--mode"))
            c.mode = !strcmp(v, "pread") ? MODE_PREAD : !strcmp(v, "mmap") ? MODE_MMAP
                   : !strcmp(v, "both") ? MODE_BOTH : 0;
        else if (!strcmp(o, "--pattern"))
            c.pattern = !strcmp(v, "random") ? PAT_RANDOM : !strcmp(v, "cyclic") ? PAT_CYCLIC : -1;
        else if (!strcmp(o, "--ref"))
            c.ref_mem = !strcmp(v, "mem") ? 1 : !strcmp(v, "pread") ? 0 : -1;
        else
            return usage();
        if (!c.mode || c.pattern < 0 || c.ref_mem < 0)
            return usage();
    }
    if (c.duration_ms && !reads_given)
        c.reads = 0; /* time-bound only */
    int nargs = argc - i;
    if (nargs < 2 || nargs % 2)
        return usage();
    c.n_files = nargs / 2;
    c.files = calloc((size_t)c.n_files, sizeof *c.files);
    if (!c.files)
        return 2;
    for (int k = 0; k < c.n_files; k++) {
        c.files[k].mpath = argv[i + 2 * k];
        c.files[k].bpath = argv[i + 2 * k + 1];
        if (open_file(&c, &c.files[k]))
            return 2;
    }
    pthread_t *th = calloc((size_t)c.threads, sizeof *th);
    rr_thread_t *ta = calloc((size_t)c.threads, sizeof *ta);
    if (!th || !ta)
        return 2;
    c.t0_ms = now_ms();
    int started = 0;
    for (int k = 0; k < c.threads; k++) {
        ta[k] = (rr_thread_t){ &c, k };
        if (pthread_create(&th[k], NULL, reader, &ta[k]) != 0) {
            fprintf(stderr, "randread: pthread_create failed\n");
            atomic_store(&c.stop, 1);
            break;
        }
        started++;
    }
    for (int k = 0; k < started; k++)
        pthread_join(th[k], NULL);
    uint64_t np = atomic_load(&c.done_pread), nm = atomic_load(&c.done_mmap);
    printf("randread: reads=%llu pread=%llu mmap=%llu bytes=%llu eof=%llu mismatches=%llu ms=%llu\n",
           (unsigned long long)(np + nm), (unsigned long long)np, (unsigned long long)nm,
           (unsigned long long)atomic_load(&c.bytes), (unsigned long long)atomic_load(&c.eof_reads),
           (unsigned long long)atomic_load(&c.errors), (unsigned long long)(now_ms() - c.t0_ms));
    for (int k = 0; k < c.n_files; k++) {
        if (c.files[k].map)
            munmap((void *)c.files[k].map, (size_t)c.files[k].size);
        free(c.files[k].ref);
        close(c.files[k].mfd);
        close(c.files[k].bfd);
    }
    free(th);
    free(ta);
    free(c.files);
    if (started < c.threads)
        return 2;
    return atomic_load(&c.errors) ? 1 : 0;
}
