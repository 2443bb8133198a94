/* ffs_read.c — the READ path of model files.
 *
 *   1. count the request, move the reader position (ca_note_access); when the reader
 *      scans cyclically, wake the prefetcher (after the reply of a hit, before the
 *      backing read of a miss);
 *   2. when every chunk the request touches has a prefetch buffer (waiting for one still
 *      in flight: a "late" prefetch), reply straight from those buffers with an iovec —
 *      the bytes go from the buffer into the page cache in one copy (a hit);
 *   3. otherwise read the range from the backing store into a per-thread aligned buffer
 *      and reply with it (a miss);
 *   4. after the reply, mark the pages resident (ca_served) and free prefetch buffers
 *      whose chunk is now entirely in the page cache.
 * Before 2, the READ is admitted against the budget (ca_admit): its bytes are reserved,
 * waiting while the evictor makes room, so that many readers at once cannot push the
 * page cache past the budget; the reservation is released after ca_served. */
#include "ffs.h"
#include "fu_util.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#define MAX_SEGS 4

/* Per-thread READ buffer, 4 KiB aligned for O_DIRECT backing reads, grown on demand.
 * Only the bytes of a READ in progress count against the budget (admitted by ca_admit
 * before the read, released after its pages were counted); an idle buffer is fixed overhead like a thread stack (at most one 1 MiB
 * buffer per worker thread, <= 10). A thread-specific-data destructor frees it when
 * libfuse ends an idle worker thread. */
typedef struct {
    void *buf;
    size_t cap;
} tl_buf_t;

static pthread_key_t tl_key;
static pthread_once_t tl_once = PTHREAD_ONCE_INIT;
static int tl_key_ok;

static void tl_free(void *p)
{
    tl_buf_t *t = p;
    free(t->buf);
    free(t);
}

static void tl_init(void)
{
    tl_key_ok = pthread_key_create(&tl_key, tl_free) == 0;
}

static void *read_buf(size_t n)
{
    pthread_once(&tl_once, tl_init);
    if (!tl_key_ok)
        return NULL;
    tl_buf_t *t = pthread_getspecific(tl_key);
    size_t want = (n + 4095) & ~(size_t)4095;
    if (want < (1u << 20))
        want = 1u << 20;
    if (t && t->cap >= want)
        return t->buf;
    void *p = NULL;
    if (posix_memalign(&p, 4096, want) != 0)
        return NULL;
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t || pthread_setspecific(tl_key, t) != 0) {
            free(t);
            free(p);
            return NULL;
        }
    }
    free(t->buf);
    t->buf = p;
    t->cap = want;
    return p;
}

/* Take references on the prefetch buffers of chunks k0..k1 when all of them can serve
 * [off, off+len); fills iov. Returns 1 on success (refs taken), 0 when not all are there. */
static int pf_acquire(ffs_t *fs, ca_file_t *f, uint64_t off, size_t len, size_t k0, size_t k1,
                      struct iovec *iov)
{
    uint64_t wait_ns = 0;
    int ok = 1, late = 0;
    pthread_mutex_lock(&f->lock);
    /* The range may lie past the file's chunk table when the READ began on a source that
     * has just been replaced by a larger file (the table grows in ca_file_replace, under
     * this lock): no buffers there, a demand read. */
    if (k1 >= f->n_chunks)
        ok = 0;
    /* A wait releases the lock, and meanwhile a chunk already checked may lose its buffer
     * (stored whole, evicted, freed by another READ) and the table may be replaced by a
     * larger copy: after a wait, look the chunk up again and check from k0 again. */
    for (size_t k = k0; k <= k1 && ok; k++) {
        ca_chunk_t *ch = &f->chunks[k];
        if (ch->pf && ch->pf->state == CA_PF_INFLIGHT) {
            late = 1;
            uint64_t t0 = fu_now_ns();
            while (f->chunks[k].pf && f->chunks[k].pf->state == CA_PF_INFLIGHT)
                pthread_cond_wait(&f->pf_cv, &f->lock);
            wait_ns += fu_now_ns() - t0;
            ch = &f->chunks[k];
            if (k > k0) {
                k = k0 - 1; /* the loop's k++ makes it k0 */
                continue;
            }
        }
        /* a stale buffer holds bytes of the file this one replaced */
        ok = ch->pf && ch->pf->state == CA_PF_READY && !ch->pf->stale;
        /* a stored chunk holds only its sentinel page [lo, len): the rest must be asked
         * of the backing store (the kernel dropped the stored pages, or the READ began
         * before the store) */
        uint64_t base = (uint64_t)k << CA_CHUNK_SHIFT;
        if (ok && (off > base ? off : base) < base + ch->pf->lo)
            ok = 0;
    }
    if (ok) {
        for (size_t k = k0; k <= k1; k++) {
            ca_pf_t *pf = f->chunks[k].pf;
            uint64_t base = (uint64_t)k << CA_CHUNK_SHIFT;
            uint64_t a = off > base ? off : base;
            uint64_t b = off + len < base + pf->len ? off + len : base + pf->len;
            iov[k - k0].iov_base = (char *)pf->data + (a - base - pf->lo);
            iov[k - k0].iov_len = (size_t)(b - a);
            pf->refs++;
            if (!pf->used) {
                pf->used = 1;
                sx_add(&fs->sx.pf_used, 1);
            }
        }
    }
    pthread_mutex_unlock(&f->lock);
    if (late)
        sx_add(&fs->sx.pf_late, 1);
    sx_add(&fs->sx.stall_ns, wait_ns);
    return ok;
}

/* Drop the references taken by pf_acquire; free buffers whose chunk is fully cached. */
static void pf_release(ffs_t *fs, ca_file_t *f, size_t k0, size_t k1)
{
    pthread_mutex_lock(&f->lock);
    for (size_t k = k0; k <= k1; k++) {
        ca_chunk_t *ch = &f->chunks[k];
        if (!ch->pf)
            continue;
        if (ch->pf->refs)
            ch->pf->refs--;
        if (ch->pf->stale)
            ca_pf_stale_done(&fs->ca, f, ch); /* wakes ca_file_replace */
        else if (!ch->pf->refs && ch->npages == ch->cap_pages)
            ca_pf_free(&fs->ca, ch);
    }
    pthread_mutex_unlock(&f->lock);
}

void ffs_read_model(fuse_req_t req, ffs_t *fs, ffs_node_t *n, size_t size, off_t off)
{
    sx_add(&fs->sx.reads, 1);
    sx_read_size(&fs->sx, size);
    /* one source for the whole READ: the watcher may switch n->src to a replaced file's
     * new source at any time (the old one stays open until unmount) */
    src_t *src = __atomic_load_n(&n->src, __ATOMIC_ACQUIRE);
    uint64_t fsize = src->size;
    if ((uint64_t)off >= fsize || size == 0) {
        fuse_reply_buf(req, NULL, 0);
        return;
    }
    size_t len = (uint64_t)off + size > fsize ? (size_t)(fsize - (uint64_t)off) : size;
    ca_file_t *f = n->cache;
    uint64_t uoff = (uint64_t)off;
    /* the prefetcher is woken after a hit's reply (its threads would otherwise compete
     * for the CPU with this reply) and before a miss's backing read (to overlap it) */
    int kick = f && ca_note_access(&fs->ca, f, uoff) && atomic_load(&fs->prefetch_on);
    size_t k0 = (size_t)(uoff >> CA_CHUNK_SHIFT), k1 = (size_t)((uoff + len - 1) >> CA_CHUNK_SHIFT);
    /* room under the budget for this READ's buffer and pages, before serving it */
    uint64_t adm = ca_admit(&fs->ca, len);
    struct iovec iov[MAX_SEGS];
    if (f && k1 - k0 < MAX_SEGS && pf_acquire(fs, f, uoff, len, k0, k1, iov)) {
        sx_add(&fs->sx.hits, 1);
        sx_add(&fs->sx.read_bytes, len);
        ffs_trace_read(fs, req, f, uoff, len, 1);
        fuse_reply_iov(req, iov, (int)(k1 - k0 + 1));
        if (kick)
            pf_kick(&fs->pf);
        ca_served(&fs->ca, f, uoff, len);
        pf_release(fs, f, k0, k1);
        ca_admit_done(&fs->ca, adm);
        return;
    }
    if (kick)
        pf_kick(&fs->pf);
    ffs_trace_read(fs, req, f, uoff, len, 0);
    void *buf = read_buf(len);
    if (!buf) {
        ca_admit_done(&fs->ca, adm);
        sx_add(&fs->sx.errors, 1);
        fuse_reply_err(req, ENOMEM);
        return;
    }
    uint64_t t0 = fu_now_ns();
    int rc = src_read(src, buf, len, uoff);
    uint64_t dt = fu_now_ns() - t0;
    sx_add(&fs->sx.stall_ns, dt);
    sx_add(&fs->sx.backing_reads, 1);
    if (rc < 0) {
        ca_admit_done(&fs->ca, adm);
        sx_add(&fs->sx.errors, 1);
        /* the edge: one line naming the file and the range the kernel asked for */
        fu_log(FU_LOG_ERR, "read error: %s: offset %llu length %zu: %s", n->display ? n->display : n->relpath,
               (unsigned long long)uoff, len, strerror(-rc));
        fuse_reply_err(req, rc == -ENOMEM ? ENOMEM : EIO);
        return;
    }
    sx_add(&fs->sx.misses, 1);
    sx_add(&fs->sx.backing_bytes, len);
    sx_add(&fs->sx.backing_ns, dt);
    sx_add(&fs->sx.read_bytes, len);
    fuse_reply_buf(req, buf, len);
    if (f)
        ca_served(&fs->ca, f, uoff, len);
    ca_admit_done(&fs->ca, adm);
}
