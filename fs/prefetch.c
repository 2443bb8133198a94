/* prefetch.c — I/O threads that read ahead of a cyclic reader (see prefetch.h).
 *
 * One round, from the reader position pos (a cyc index, cache_order.c):
 *   window = pos+1 .. the last chunk of the depth-th non-empty group after pos's group,
 *            and at most ca_window_bytes of not-yet-cached chunks held ahead
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

/* Last cyc index of the window: end of the depth-th group with chunks after pos's group. */
static uint32_t window_end(ca_t *c, uint32_t pos, int depth)
{
    ca_ref_t r = c->order[pos];
    int g = c->files[r.file]->chunks[r.chunk].group;
    size_t ng = c->n_groups;
    uint32_t end = pos;
    for (size_t step = 1, found = 0; step <= ng && found < (size_t)depth; step++) {
        size_t h = ((size_t)g + step) % ng;
        if (c->group_last[h] != CA_NO_CYC) {
            end = c->group_last[h];
            found++;
        }
    }
    return end;
}

/* Read chunk (f, k) into a new prefetch buffer. 1 done, 2 already has a buffer, 0 not
 * needed (cached or pinned), -1 stop the round. */
static int prefetch_chunk(ca_t *c, ca_file_t *f, size_t k, uint32_t dist)
{
    ca_chunk_t *ch = &f->chunks[k];
    pthread_mutex_lock(&f->lock);
    int held = ch->pf != NULL;
    /* Whole-chunk evictions leave a chunk either empty or as READs filled it: pages
     * present mean the reader is on this chunk already, and reading all of it again
     * would fetch those bytes twice. */
    int skip = held || ch->npages > 0 || ch->pinned;
    pthread_mutex_unlock(&f->lock);
    if (held)
        return 2;
    if (skip || !f->src)
        return 0;
    /* Prefetch fills up to the evictor's low watermark only: above it, the evictor would
     * trim farthest-ahead chunks (the resident set) to make room for pages served. */
    if (ca_make_room(c, CA_CHUNK + ca_headroom(c), dist) < 0) {
        fu_log(FU_LOG_DEBUG, "prefetch: no room for a chunk at distance %u", dist);
        return -1;
    }
    ca_pf_t *pf = calloc(1, sizeof *pf);
    void *data = mmap(NULL, CA_CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!pf || data == MAP_FAILED) {
        free(pf);
        if (data != MAP_FAILED)
            munmap(data, CA_CHUNK);
        return -1;
    }
    uint64_t off = (uint64_t)k << CA_CHUNK_SHIFT;
    pf->data = data;
    pf->len = (uint32_t)(off + CA_CHUNK > f->size ? f->size - off : CA_CHUNK);
    pf->state = CA_PF_INFLIGHT;
    pthread_mutex_lock(&f->lock);
    if (ch->pf != NULL || ch->npages > 0) {
        pthread_mutex_unlock(&f->lock);
        munmap(data, CA_CHUNK);
        free(pf);
        return 0;
    }
    ch->pf = pf;
    pthread_mutex_unlock(&f->lock);
    ca_daemon_add(c, (int64_t)CA_CHUNK);
    uint64_t t0 = fu_now_ns();
    int rc = src_read(f->src, data, pf->len, off);
    uint64_t dt = fu_now_ns() - t0;
    sx_add(&c->sx->pf_issued, 1);
    sx_add(&c->sx->backing_reads, 1);
    if (rc == 0) {
        sx_add(&c->sx->backing_bytes, pf->len);
        sx_add(&c->sx->backing_ns, dt);
    }
    pthread_mutex_lock(&f->lock);
    if (rc == 0) {
        pf->state = CA_PF_READY;
    } else {
        /* waiting READs fall back to a demand read, which reports the error */
        pf->state = CA_PF_FAILED;
        pf->used = 1;
        ca_pf_free(c, ch);
    }
    pthread_cond_broadcast(&f->pf_cv);
    pthread_mutex_unlock(&f->lock);
    return rc == 0 ? 1 : -1;
}

static void run_round(pf_t *p)
{
    ca_t *c = p->c;
    uint32_t n = c->n_cyc;
    if (!n || !atomic_load(p->on) || atomic_load(&c->mode) != CA_MODE_CYCLIC)
        return;
    uint32_t pos = atomic_load(&c->pos) % n;
    int depth = atomic_load(p->depth);
    uint32_t end = window_end(c, pos, depth < 1 ? 1 : depth);
    uint32_t w = (uint32_t)(((uint64_t)end + n - pos) % n);
    uint64_t budget_chunks = ca_window_bytes(c) >> CA_CHUNK_SHIFT, held = 0;
    if (w + 2 >= n)
        w = n > 3 ? n - 3 : 0;
    for (uint32_t i = 1; i <= w && held < budget_chunks; i++) {
        if (atomic_load(&c->pos) != pos || !atomic_load(p->on))
            return; /* the reader moved: the next round starts from there */
        ca_ref_t r = c->order[(pos + i) % n];
        int rc = prefetch_chunk(c, c->files[r.file], r.chunk, i);
        if (rc < 0)
            return;
        held += rc == 1 || rc == 2;
    }
}

static void *pf_main(void *arg)
{
    pf_t *p = arg;
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
    pthread_cond_broadcast(&p->cv);
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
