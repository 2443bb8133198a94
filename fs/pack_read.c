/* pack_read.c — thread-safe logical reads of a packed file (prefix pk_).
 *
 * A read maps its logical range to frames (binary search in the seek table) and
 * decodes each frame it touches:
 *   - a frame covered entirely is decoded straight into the caller's buffer;
 *   - a frame touched in part is decoded into a small per-reader cache of PK_CACHE_SLOTS
 *     decoded frames, so that a reader walking a frame in pieces (FUSE reads of 128 KiB
 *     inside a 1 MiB frame) decodes it once. The cache holds at most
 *     PK_CACHE_SLOTS * max frame size bytes (4 MiB with the default 1 MiB frames).
 * Decoding needs a ZSTD_DCtx and scratch buffers; these live in a pool of "workers"
 * taken and returned under the reader's mutex, so any number of threads can read at
 * once (each decodes with its own worker, without holding the mutex).
 *
 * Compressed bytes bypass the page cache (they would escape the mount's RAM budget): each
 * reader keeps a second descriptor opened with O_DIRECT and reads the 4 KiB-aligned block
 * range around a frame into an aligned buffer. Where O_DIRECT is refused (tmpfs, some
 * FUSE/overlay setups) it falls back to buffered pread + POSIX_FADV_DONTNEED with
 * POSIX_FADV_RANDOM set on the file: kernel read-ahead builds large folios that straddle
 * the dropped ranges and survive DONTNEED (measured: a whole 318 MB file stayed cached).
 * The environment variable FLASHFS_PACK_NO_DIRECT forces the fallback (tests, debugging).
 *
 * A frame that fails to decode makes the read return -EIO; the failure is counted
 * (pk_reader_errors, pk_errors) and logged once per frame with the file name. Other
 * frames keep reading. */
#include "pack.h"
#include "pack_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#define PK_CACHE_SLOTS 4
#define PK_POOL_KEEP 8   /* idle workers kept; more are freed on return */

typedef struct pk_work {
    struct pk_work *next;
    ZSTD_DCtx *dctx;
    uint8_t *cbuf;      /* compressed frame (max csize) */
    uint8_t *tmp;       /* grouped planes (max dsize) */
    uint8_t *full;      /* a decoded frame when the cache is all pinned (lazy) */
} pk_work_t;

typedef struct {
    int64_t frame;      /* frame index held, -1 if none (or being filled) */
    int64_t fill;       /* frame index being decoded into it, -1 if none */
    int refs;           /* readers copying from (or filling) this slot */
    uint64_t lru;
    uint8_t *buf;       /* max dsize bytes, allocated on first use */
} pk_slot_t;

struct pk_reader {
    int fd;
    char *name;
    pk_table_t t;
    uint32_t max_csize;
    int dfd;            /* O_DIRECT descriptor, -1 when unavailable */
    atomic_int direct_ok;
    pthread_mutex_t mu;
    pk_work_t *idle;
    int n_idle;
    pk_slot_t slot[PK_CACHE_SLOTS];
    uint64_t tick;
    uint8_t *logged;    /* per frame: failure already logged */
    uint64_t next_off;  /* end of the last read: the next one is sequential if it starts here */
    const _Atomic int *ra_busy; /* read ahead only while this is 0 (NULL: always) */
    int ra_pending;     /* read-ahead jobs in flight (close waits for 0) */
    pthread_cond_t ra_cv;
    pthread_cond_t fill_cv; /* a slot fill finished */
    atomic_uint_fast64_t errors;
    atomic_uint_fast64_t stored_read;   /* compressed bytes read from the file for frames */
};

static atomic_uint_fast64_t pk_errors_total;

uint64_t pk_errors(void)
{
    return atomic_load(&pk_errors_total);
}

#define PK_ALIGN 4096u

/* fu_read_fn over the packed file's fd (buffered fallback): drops the pages it read. */
static int fd_read_drop(void *ctx, void *buf, size_t len, uint64_t off)
{
    int fd = (int)(intptr_t)ctx;
    int rc = fu_pread_full(fd, buf, len, off);
    if (rc == 0 && len > 0) {
        uint64_t a = off & ~(uint64_t)(PK_ALIGN - 1);
        (void)posix_fadvise(fd, (off_t)a, (off_t)(off + len - a), POSIX_FADV_DONTNEED);
    }
    return rc;
}

/* Read the aligned block range around frame f with O_DIRECT into buf (capacity
 * csize + 2 * PK_ALIGN, PK_ALIGN-aligned); *data points at the frame's first byte.
 * 0, -EINVAL when the filesystem refuses O_DIRECT, or -errno / -EIO (short file). */
static int direct_read(int dfd, const pk_frame_t *f, uint8_t *buf, const uint8_t **data, uint64_t *nread)
{
    uint64_t a = f->coff & ~(uint64_t)(PK_ALIGN - 1);
    uint64_t need = f->coff + f->csize - a;
    size_t len = (size_t)((need + PK_ALIGN - 1) & ~(uint64_t)(PK_ALIGN - 1));
    size_t got = 0;
    while (got < need) {
        ssize_t n = pread(dfd, buf + got, len - got, (off_t)(a + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO; /* end of file before the frame's end */
        got += (size_t)n;
        *nread += (uint64_t)n;
        if (got % PK_ALIGN && got < need)
            return -EIO; /* a short read that is not at EOF: cannot continue aligned */
    }
    *data = buf + (f->coff - a);
    return 0;
}

/* ---- worker pool ---------------------------------------------------------------- */

static void work_free(pk_work_t *w)
{
    if (!w)
        return;
    ZSTD_freeDCtx(w->dctx);
    free(w->cbuf);
    free(w->tmp);
    free(w->full);
    free(w);
}

static pk_work_t *work_get(pk_reader_t *r)
{
    pthread_mutex_lock(&r->mu);
    pk_work_t *w = r->idle;
    if (w) {
        r->idle = w->next;
        r->n_idle--;
    }
    pthread_mutex_unlock(&r->mu);
    if (w)
        return w;
    w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->dctx = ZSTD_createDCtx();
    w->cbuf = aligned_alloc(PK_ALIGN, ((size_t)r->max_csize + 3 * PK_ALIGN) & ~(size_t)(PK_ALIGN - 1));
    w->tmp = malloc(r->t.max_dsize ? r->t.max_dsize : 1);
    if (!w->dctx || !w->cbuf || !w->tmp) {
        work_free(w);
        return NULL;
    }
    return w;
}

static void work_put(pk_reader_t *r, pk_work_t *w)
{
    pthread_mutex_lock(&r->mu);
    if (r->n_idle < PK_POOL_KEEP) {
        w->next = r->idle;
        r->idle = w;
        r->n_idle++;
        w = NULL;
    }
    pthread_mutex_unlock(&r->mu);
    work_free(w);
}

/* ---- decoding with error accounting ---------------------------------------------- */

/* Fault in the whole pages of a caller's buffer with one madvise instead of one page
 * fault per 4 KiB while decoding into it: callers often hand fresh (just mmap'd)
 * buffers, and on a paravirtualized machine each fault is an expensive exit (measured:
 * faults were a third of the mount's CPU time on packed reads). Best effort. */
static void prefault(uint8_t *buf, size_t len)
{
#ifdef MADV_POPULATE_WRITE
    uintptr_t a = ((uintptr_t)buf + PK_ALIGN - 1) & ~(uintptr_t)(PK_ALIGN - 1);
    uintptr_t e = ((uintptr_t)buf + len) & ~(uintptr_t)(PK_ALIGN - 1);
    if (e > a && e - a >= 16 * PK_ALIGN)
        (void)madvise((void *)a, e - a, MADV_POPULATE_WRITE);
#else
    (void)buf;
    (void)len;
#endif
}

static int decode(pk_reader_t *r, uint32_t fi, pk_work_t *w, uint8_t *out)
{
    char err[160];
    const pk_frame_t *f = &r->t.frames[fi];
    int rc = -EINVAL;
    if (r->dfd >= 0 && atomic_load(&r->direct_ok)) {
        const uint8_t *data = NULL;
        uint64_t nread = 0;
        rc = direct_read(r->dfd, f, w->cbuf, &data, &nread);
        atomic_fetch_add(&r->stored_read, nread);
        if (rc == -EINVAL)
            atomic_store(&r->direct_ok, 0); /* refused: buffered from now on */
        else if (rc < 0)
            fu_err(err, sizeof err, rc, "read of %u bytes at %llu failed: %s", f->csize,
                   (unsigned long long)f->coff, strerror(-rc));
        else
            rc = pk_frame_decode_buf(f, w->dctx, data, w->tmp, out, err, sizeof err);
    }
    if (rc == -EINVAL) {
        rc = pk_frame_decode(fd_read_drop, (void *)(intptr_t)r->fd, f, w->dctx, w->cbuf, w->tmp, out, err,
                             sizeof err);
        atomic_fetch_add(&r->stored_read, f->csize); /* the frame's bytes were read (or tried) */
    }
    if (rc == 0)
        return 0;
    atomic_fetch_add(&r->errors, 1);
    atomic_fetch_add(&pk_errors_total, 1);
    pthread_mutex_lock(&r->mu);
    int first = !r->logged[fi];
    r->logged[fi] = 1;
    pthread_mutex_unlock(&r->mu);
    if (first)
        fu_log(FU_LOG_ERR, "%s: packed frame %u (logical bytes %llu..%llu): %s", r->name, fi,
               (unsigned long long)f->loff, (unsigned long long)(f->loff + f->dsize), err);
    return rc == -ENOMEM ? rc : -EIO;
}

/* ---- the frame cache and one frame's read ------------------------------------------ */

/* Slot holding frame fi, pinned (refs + 1), or NULL. Under r->mu. */
static pk_slot_t *cache_pin(pk_reader_t *r, uint32_t fi)
{
    for (int i = 0; i < PK_CACHE_SLOTS; i++)
        if (r->slot[i].frame == (int64_t)fi) {
            r->slot[i].refs++;
            r->slot[i].lru = r->tick;
            return &r->slot[i];
        }
    return NULL;
}

/* Is frame fi cached or being filled? Under r->mu. */
static int cache_has(const pk_reader_t *r, uint32_t fi)
{
    for (int i = 0; i < PK_CACHE_SLOTS; i++)
        if (r->slot[i].frame == (int64_t)fi || r->slot[i].fill == (int64_t)fi)
            return 1;
    return 0;
}

/* Unpin s; after a fill, publish frame (or -1 when the fill failed) and wake the readers
 * waiting for that frame. */
static void cache_unpin(pk_reader_t *r, pk_slot_t *s, int64_t frame)
{
    pthread_mutex_lock(&r->mu);
    if (frame >= 0)
        s->frame = frame;
    if (s->fill >= 0) {
        s->fill = -1;
        pthread_cond_broadcast(&r->fill_cv);
    }
    s->refs--;
    pthread_mutex_unlock(&r->mu);
}

/* Is frame fi being decoded into a slot right now? Under r->mu. */
static int cache_filling(const pk_reader_t *r, uint32_t fi)
{
    for (int i = 0; i < PK_CACHE_SLOTS; i++)
        if (r->slot[i].fill == (int64_t)fi)
            return 1;
    return 0;
}

/* Copy bytes [in, in + len) of frame fi into dst. A cached frame is copied; a frame read
 * whole is decoded straight into dst; a frame read in part is decoded into a cache slot
 * (the least recently used unpinned one) and copied from there. dst == NULL is read-ahead:
 * decode into the cache only, and only when a slot is free. */
static int read_frame(pk_reader_t *r, uint32_t fi, uint8_t *dst, size_t in, size_t len)
{
    int whole = dst && in == 0 && len == r->t.frames[fi].dsize;
    pthread_mutex_lock(&r->mu);
    r->tick++;
    pk_slot_t *s = cache_pin(r, fi);
    /* Another thread is decoding this frame (concurrent FUSE requests inside one frame,
     * or the read-ahead): wait for it rather than decode it again. */
    while (!s && cache_filling(r, fi)) {
        if (!dst) {
            pthread_mutex_unlock(&r->mu);
            return 0;
        }
        pthread_cond_wait(&r->fill_cv, &r->mu);
        s = cache_pin(r, fi);
    }
    if (s) {
        pthread_mutex_unlock(&r->mu);
        if (dst)
            memcpy(dst, s->buf + in, len);
        cache_unpin(r, s, -1);
        return 0;
    }
    if (!whole) {
        for (int i = 0; i < PK_CACHE_SLOTS; i++)
            if (r->slot[i].refs == 0 && (!s || r->slot[i].lru < s->lru))
                s = &r->slot[i];
        if (s) {
            s->frame = -1;
            s->fill = fi;
            s->refs = 1;
            s->lru = r->tick;
        }
    }
    pthread_mutex_unlock(&r->mu);
    if (!dst && !s)
        return 0;

    pk_work_t *w = work_get(r);
    uint8_t *buf = NULL;
    if (w) {
        if (whole) {
            buf = dst;
            prefault(dst, len);
        } else if (s) {
            if (!s->buf)
                s->buf = malloc(r->t.max_dsize);
            buf = s->buf;
        } else {
            if (!w->full)
                w->full = malloc(r->t.max_dsize);
            buf = w->full;
        }
    }
    int rc = buf ? decode(r, fi, w, buf) : -ENOMEM;
    if (rc == 0 && !whole && dst) {
        prefault(dst, len);
        memcpy(dst, buf + in, len);
    }
    if (w)
        work_put(r, w);
    if (s)
        cache_unpin(r, s, rc == 0 ? (int64_t)fi : -1);
    return rc;
}

/* ---- parallel and read-ahead jobs ---------------------------------------------------- */

typedef struct {
    pk_job_t job;
    pk_reader_t *r;
    uint32_t fi;
    uint8_t *dst;       /* NULL: read-ahead */
    size_t in, len;
    int rc;
    int queued;         /* owner's note: handed to the pool (job.state is the pool's) */
} frame_job_t;

static void frame_job_fn(pk_job_t *j)
{
    frame_job_t *f = (frame_job_t *)j;
    f->rc = read_frame(f->r, f->fi, f->dst, f->in, f->len);
}

/* Release of a read-ahead job: the reader may now close. */
static void readahead_release(pk_job_t *j)
{
    frame_job_t *f = (frame_job_t *)j;
    pk_reader_t *r = f->r;
    pthread_mutex_lock(&r->mu);
    r->ra_pending--;
    pthread_cond_broadcast(&r->ra_cv);
    pthread_mutex_unlock(&r->mu);
    free(f);
}

/* After a read of [off, end): when reads are sequential, decode the next frame into the
 * cache in the background (one frame ahead per file), unless deferred to the caller's
 * own read-ahead (pk_reader_defer_readahead). */
static void seq_readahead(pk_reader_t *r, uint64_t off, uint64_t end)
{
    uint32_t next = pk_table_find(&r->t, end - 1) + 1;
    while (next < r->t.n_frames && r->t.frames[next].dsize == 0)
        next++;
    pthread_mutex_lock(&r->mu);
    int go = r->next_off == off && next < r->t.n_frames && r->ra_pending == 0 && !cache_has(r, next) &&
             !(r->ra_busy && atomic_load(r->ra_busy));
    r->next_off = end;
    if (go)
        r->ra_pending++;
    pthread_mutex_unlock(&r->mu);
    if (!go)
        return;
    frame_job_t *f = calloc(1, sizeof *f);
    if (f) {
        *f = (frame_job_t){ .r = r, .fi = next };
        f->job.fn = frame_job_fn;
        f->job.release = readahead_release;
        if (pk_job_submit(&f->job) == 0)
            return;
    }
    free(f);
    pthread_mutex_lock(&r->mu);
    r->ra_pending--;
    pthread_cond_broadcast(&r->ra_cv);
    pthread_mutex_unlock(&r->mu);
}

int pk_reader_read(pk_reader_t *r, void *buf, size_t len, uint64_t off)
{
    if (off > r->t.logical_size || len > r->t.logical_size - off)
        return -EINVAL;
    if (len == 0)
        return 0;
    /* The frames of the range: first..last. */
    uint32_t first = pk_table_find(&r->t, off), last = pk_table_find(&r->t, off + len - 1);
    if (first >= r->t.n_frames || last >= r->t.n_frames)
        return -EIO;
    uint8_t *dst = buf;
    const pk_frame_t *f = &r->t.frames[first];
    size_t k0 = f->dsize - (off - f->loff) < len ? (size_t)(f->dsize - (off - f->loff)) : len;
    int rc = 0;
    if (first == last) {
        rc = read_frame(r, first, dst, (size_t)(off - f->loff), len);
    } else {
        /* Several frames: the pool decodes frames first+1..last while this thread does
         * the first, then this thread takes back whatever was not started. */
        size_t nj = last - first;
        frame_job_t *jobs = calloc(nj, sizeof *jobs);
        if (!jobs)
            return -ENOMEM;
        for (size_t j = 0; j < nj; j++) {
            const pk_frame_t *g = &r->t.frames[first + 1 + j];
            uint64_t in = g->loff - off;
            size_t k = g->dsize < len - in ? g->dsize : (size_t)(len - in);
            jobs[j] = (frame_job_t){ .r = r, .fi = first + 1 + (uint32_t)j, .dst = dst + in, .len = k };
            jobs[j].job.fn = frame_job_fn;
            jobs[j].queued = k > 0 && pk_job_submit(&jobs[j].job) == 0;
        }
        rc = read_frame(r, first, dst, (size_t)(off - f->loff), k0);
        for (size_t j = 0; j < nj; j++) {
            if (!jobs[j].queued) {
                if (jobs[j].len) /* not queued (no pool): run it here */
                    frame_job_fn(&jobs[j].job);
            } else if (pk_job_take(&jobs[j].job)) {
                pk_job_run(&jobs[j].job);
            }
        }
        for (size_t j = 0; j < nj; j++) {
            if (jobs[j].queued)
                pk_job_wait(&jobs[j].job);
            if (rc == 0 && jobs[j].rc < 0)
                rc = jobs[j].rc;
        }
        free(jobs);
    }
    if (rc == 0)
        seq_readahead(r, off, off + len);
    return rc;
}

/* ---- open / close ------------------------------------------------------------------ */

int pk_reader_open(int fd, const char *name, pk_reader_t **out, char *err, size_t errlen)
{
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0)
        return fu_err(err, errlen, -errno, "%s: cannot stat", name);
    pk_reader_t *r = calloc(1, sizeof *r);
    if (!r)
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    r->fd = fd;
    r->name = strdup(name ? name : "?");
    if (!r->name) {
        free(r);
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    }
    char why[200];
    int rc = pk_table_parse(fu_fd_read, (void *)(intptr_t)fd, (uint64_t)end, &r->t, why, sizeof why);
    if (rc < 0) {
        fu_err(err, errlen, rc, "%s: %s", name, why);
        free(r->name);
        free(r);
        return rc;
    }
    r->logged = calloc(r->t.n_frames, 1);
    if (!r->logged) {
        pk_table_free(&r->t);
        free(r->name);
        free(r);
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < r->t.n_frames; i++)
        if (r->t.frames[i].dsize && r->t.frames[i].csize > r->max_csize)
            r->max_csize = r->t.frames[i].csize;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    r->dfd = getenv("FLASHFS_PACK_NO_DIRECT") ? -1 : open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
    atomic_init(&r->direct_ok, r->dfd >= 0);
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
    for (int i = 0; i < PK_CACHE_SLOTS; i++)
        r->slot[i].frame = r->slot[i].fill = -1;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->ra_cv, NULL);
    pthread_cond_init(&r->fill_cv, NULL);
    atomic_init(&r->errors, 0);
    atomic_init(&r->stored_read, 0);
    *out = r;
    return 0;
}

const pk_table_t *pk_reader_table(const pk_reader_t *r)
{
    return &r->t;
}

void pk_reader_defer_readahead(pk_reader_t *r, const _Atomic int *busy)
{
    r->ra_busy = busy;
}

uint64_t pk_reader_errors(const pk_reader_t *r)
{
    return atomic_load(&((pk_reader_t *)r)->errors);
}

uint64_t pk_reader_stored_read(const pk_reader_t *r)
{
    return atomic_load(&((pk_reader_t *)r)->stored_read);
}

void pk_reader_close(pk_reader_t *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    while (r->ra_pending > 0)
        pthread_cond_wait(&r->ra_cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    while (r->idle) {
        pk_work_t *w = r->idle;
        r->idle = w->next;
        work_free(w);
    }
    for (int i = 0; i < PK_CACHE_SLOTS; i++)
        free(r->slot[i].buf);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->ra_cv);
    pthread_cond_destroy(&r->fill_cv);
    if (r->dfd >= 0)
        close(r->dfd);
    pk_table_free(&r->t);
    free(r->logged);
    free(r->name);
    free(r);
}
