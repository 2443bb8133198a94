/* prefetch.c — I/O threads that read ahead of a cyclic reader (see prefetch.h).
 *
 * One round, from the reader position pos (a cyc index, cache_order.c):
 *   window = the chunks after pos in the cyclic order (across group boundaries, wrapping
 *            to the next token), up to ca_window_bytes of not-yet-cached chunks held
 *            ahead (the streamed share of prefetch-depth layers, see cache_evict.c)
 *   for each chunk of the window, nearest first:
 *     skip it when it is fully in the page cache or already has a prefetch buffer;
 *     ca_make_room(1 MiB, its distance): evict only chunks needed later, else stop;
 *     claim it (buffer state INFLIGHT, under the file lock), read it, mark READY and
 *     wake READs waiting for it.
 * The round restarts when the reader position moves. Both threads walk the same window;
 * the INFLIGHT claim keeps them from reading a chunk twice. */
#include "prefetch.h"
#include "fu_util.h"
#include "source.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef PF_NICE
#define PF_NICE 5
#endif

/* Each I/O thread keeps one 1 MiB staging buffer mapped across chunks: a chunk is read
 * into it, stored, and the buffer is reused, so the steady state maps, faults and zeroes
 * no memory. It is taken from the thread only when a chunk keeps its whole buffer (a READ
 * still points into it, or the store failed). An idle staging buffer is fixed overhead
 * like a worker's READ buffer (PF_THREADS MiB), not counted in the budget. */
static _Thread_local void *pf_stage;

static void *stage_take(void)
{
    void *d = pf_stage;
    pf_stage = NULL;
    if (!d) {
        d = mmap(NULL, CA_CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (d == MAP_FAILED)
            return NULL;
    }
    return d;
}

static void stage_give(void *d)
{
    if (pf_stage)
        munmap(pf_stage, CA_CHUNK);
    pf_stage = d;
}

/* Push a READY chunk into the mount's page cache, all but its last page (the sentinel),
 * with fuse_lowlevel_notify_store from this (non-request) thread, so that the reader's
 * reads of it are page-cache hits instead of FUSE round trips; then keep only the
 * sentinel page (a small heap copy) and return the big buffer to the staging slot. The
 * sentinel's READ still reaches flashfs, which is how the reader position keeps moving
 * (prefetch and eviction both steer by it). The pages are counted (ca_served) after they
 * were stored, as a READ counts after its reply, so the count never falls below what the
 * kernel holds. Called with a reference on pf. */
static void store_chunk(ca_t *c, ca_file_t *f, size_t k, ca_pf_t *pf, uint64_t off)
{
    /* a buffer made stale (the backing file was replaced) must not reach the page cache:
     * checked under the lock while holding the reference, which ca_file_replace waits for */
    pthread_mutex_lock(&f->lock);
    int stale = pf->stale;
    pthread_mutex_unlock(&f->lock);
    uint32_t sent = (pf->len - 1) & ~(uint32_t)(CA_PAGE - 1); /* the sentinel page's offset */
    void *small = NULL;
    if (c->se && sent > 0 && !stale) {
        struct fuse_bufvec bv = FUSE_BUFVEC_INIT(sent);
        bv.buf[0].mem = pf->data;
        int rc = fuse_lowlevel_notify_store(c->se, f->ino, (off_t)off, &bv, 0);
        if (rc == 0) {
            ca_served(c, f, off, sent);
            sx_add(&c->sx->pf_pushed, sent);
            small = malloc(CA_PAGE);
        } else {
            fu_log(FU_LOG_DEBUG, "prefetch: notify_store of %s at %llu: %s", f->display ? f->display : "?",
                   (unsigned long long)off, strerror(-rc));
        }
    }
    void *big = NULL;
    pthread_mutex_lock(&f->lock);
    ca_chunk_t *ch = &f->chunks[k];
    pf->refs--;
    if (pf->stale) {
        ca_pf_stale_done(c, f, ch);
    } else if (ch->pf == pf && pf->refs == 0 && small) {
        /* nobody points into the buffer: keep the sentinel page only */
        memcpy(small, (char *)pf->data + sent, pf->len - sent);
        big = pf->data;
        ca_daemon_add(c, -(int64_t)(pf->cap - CA_PAGE));
        pf->data = small;
        pf->lo = sent;
        pf->cap = (uint32_t)CA_PAGE;
        small = NULL;
    } else if (ch->pf == pf && pf->refs == 0 && ch->npages == ch->cap_pages) {
        ca_pf_free(c, ch); /* READs already brought all of it into the page cache */
    }
    pthread_mutex_unlock(&f->lock);
    free(small);
    if (big)
        stage_give(big);
    ca_settle(c);
}

/* Read chunk (f, k) into a new prefetch buffer. 1 done, 2 already has a buffer, 0 not
 * needed (cached or pinned), -1 stop the round. */
static int prefetch_chunk(pf_t *p, ca_t *c, ca_file_t *f, size_t k, uint32_t dist)
{
    pthread_mutex_lock(&f->lock);
    ca_chunk_t *ch = &f->chunks[k];
    int held = ch->pf != NULL;
    /* Whole-chunk evictions leave a chunk either empty or as READs filled it: pages
     * present mean the reader is on this chunk already, and reading all of it again
     * would fetch those bytes twice. */
    int skip = held || ch->npages > 0 || ch->pinned;
    pthread_mutex_unlock(&f->lock);
    if (held)
        return 2;
    if (skip)
        return 0;
    /* Prefetch fills up to the evictor's low watermark only: above it, the evictor would
     * trim farthest-ahead chunks (the resident set) to make room for pages served. */
    uint64_t head = ca_headroom(c);
    if (ca_make_room(c, CA_CHUNK + head, dist) < 0) {
        fu_log(FU_LOG_DEBUG, "prefetch: no room for a chunk at distance %u", dist);
        return -1;
    }
    /* The buffer is reserved atomically against READs being admitted and the other I/O
     * threads (each checked the room before, and 4 of them would overshoot together);
     * READs waiting for admission come first. */
    uint64_t budget = atomic_load(&c->budget), want = atomic_load(&c->want);
    if (budget < head + want || !ca_try_reserve(c, CA_CHUNK, budget - head - want))
        return -1;
    ca_pf_t *pf = calloc(1, sizeof *pf);
    void *data = pf ? stage_take() : NULL;
    if (!data) {
        free(pf);
        ca_daemon_add(c, -(int64_t)CA_CHUNK);
        return -1;
    }
    uint64_t off = (uint64_t)k << CA_CHUNK_SHIFT;
    pf->data = data;
    pf->cap = (uint32_t)CA_CHUNK;
    pf->state = CA_PF_INFLIGHT;
    /* the size, the source and the claim together, under the lock: a file replaced
     * (ca_file_replace) before the claim is read from its new source */
    pthread_mutex_lock(&f->lock);
    ch = &f->chunks[k];
    src_t *src = f->src;
    uint64_t size = f->size;
    if (ch->pf != NULL || ch->npages > 0 || !src || off >= size) {
        pthread_mutex_unlock(&f->lock);
        stage_give(data);
        free(pf);
        ca_daemon_add(c, -(int64_t)CA_CHUNK);
        return 0;
    }
    pf->len = (uint32_t)(off + CA_CHUNK > size ? size - off : CA_CHUNK);
    ch->pf = pf;
    pthread_mutex_unlock(&f->lock);
    pf_kick(p); /* this thread is busy now: let one more look for work (queue depth) */
    uint64_t t0 = fu_now_ns();
    int rc = src_read(src, data, pf->len, off);
    uint64_t dt = fu_now_ns() - t0;
    sx_add(&c->sx->pf_issued, 1);
    sx_add(&c->sx->backing_reads, 1);
    if (rc == 0) {
        sx_add(&c->sx->backing_bytes, pf->len);
        sx_add(&c->sx->backing_ns, dt);
    }
    pthread_mutex_lock(&f->lock);
    ch = &f->chunks[k];
    if (pf->stale) {
        /* the file was replaced while we read it: its bytes are worth nothing */
        pf->state = CA_PF_FAILED;
        ca_pf_stale_done(c, f, ch);
        pthread_cond_broadcast(&f->pf_cv);
        pthread_mutex_unlock(&f->lock);
        return 0;
    }
    if (rc == 0) {
        pf->state = CA_PF_READY;
        pf->refs++; /* ours, while storing: the buffer must outlive the notify_store */
    } else {
        /* waiting READs fall back to a demand read, which reports the error */
        pf->state = CA_PF_FAILED;
        pf->used = 1;
        ca_pf_free(c, ch);
    }
    pthread_cond_broadcast(&f->pf_cv);
    pthread_mutex_unlock(&f->lock);
    if (rc != 0)
        return -1;
    store_chunk(c, f, k, pf, off);
    return 1;
}

static void run_round(pf_t *p)
{
    ca_t *c = p->c;
    uint32_t n = c->n_cyc;
    if (!n || !atomic_load(p->on) || atomic_load(&c->mode) != CA_MODE_CYCLIC)
        return;
    uint32_t pos = atomic_load(&c->pos) % n;
    /* The window is bytes, not groups: it runs across group boundaries (from the last
     * layers into the embedding/head of the next token, which has no compute before it
     * to hide its reads) and stops when ca_window_bytes of buffers are held ahead. */
    uint32_t w = n > 3 ? n - 3 : 0;
    uint64_t budget_chunks = ca_window_bytes(c) >> CA_CHUNK_SHIFT, held = 0;
    for (uint32_t i = 1; i <= w && held < budget_chunks; i++) {
        if (atomic_load(&c->pos) != pos || !atomic_load(p->on))
            return; /* the reader moved: the next round starts from there */
        ca_ref_t r = c->order[(pos + i) % n];
        int rc = prefetch_chunk(p, c, c->files[r.file], r.chunk, i);
        if (rc < 0)
            return;
        held += rc == 1 || rc == 2;
    }
}

static void *pf_main(void *arg)
{
    pf_t *p = arg;
    /* Background work: below the READ workers and the reader, so that on a small machine
     * a burst of reads is answered first and prefetch uses the reader's compute time. */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), PF_NICE) != 0)
        fu_log(FU_LOG_DEBUG, "prefetch: cannot lower the I/O threads' priority: %s", strerror(errno));
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        if (p->kick_gen == seen) {
            pthread_cond_wait(&p->cv, &p->mu);
            continue;
        }
        seen = p->kick_gen;
        pthread_mutex_unlock(&p->mu);
        run_round(p);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    stage_give(NULL);
    return NULL;
}

int pf_start(pf_t *p, ca_t *c, _Atomic int *on, _Atomic int *depth)
{
    memset(p, 0, sizeof *p);
    p->c = c;
    p->on = on;
    p->depth = depth;
    if (pthread_mutex_init(&p->mu, NULL) || pthread_cond_init(&p->cv, NULL))
        return -ENOMEM;
    for (int i = 0; i < PF_THREADS; i++) {
        int rc = pthread_create(&p->thr[i], NULL, pf_main, p);
        if (rc) {
            pf_stop(p);
            return -rc;
        }
        p->n_thr++;
    }
    return 0;
}

void pf_kick(pf_t *p)
{
    if (!p->n_thr)
        return;
    pthread_mutex_lock(&p->mu);
    p->kick_gen++;
    pthread_cond_signal(&p->cv); /* one thread; a thread that starts a read wakes the next */
    pthread_mutex_unlock(&p->mu);
}

void pf_stop(pf_t *p)
{
    if (!p->c)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_thr; i++)
        pthread_join(p->thr[i], NULL);
    p->n_thr = 0;
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    p->c = NULL;
}
