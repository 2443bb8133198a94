/* cache_evict.c — the evictor thread: keeps the mount's resident bytes under the budget.
 *
 * Loop: sleep until woken (a READ pushed the total over budget, a `ram`/`drop` command)
 * or 100 ms pass; then
 *   drop requested   -> invalidate every resident chunk of every file;
 *   total + wanted > budget
 *                    -> ask the policy for victims and invalidate them one by one until
 *                       the total is under the low watermark: budget - the hysteresis, or
 *                       less by the bytes READs wait to be admitted for (ca_admit), at
 *                       most the headroom the plan leaves for them.
 * Invalidation order per chunk: clear the chunk's bitmap FIRST, then
 * fuse_lowlevel_notify_inval_inode over the runs of pages that were counted. A READ
 * racing with it marks its pages after its reply, so every interleaving leaves the count
 * >= what the kernel holds; and pages the count does not hold (a READ in flight: locked
 * in the kernel until its reply) are not invalidated, which would wait for that READ. */
#include "cache.h"
#include "prefetch.h"
#include "fu_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t ca_evict_chunk(ca_t *c, ca_file_t *f, size_t k)
{
    uint64_t bits[CA_PAGES / 64];
    pthread_mutex_lock(&f->lock);
    memcpy(bits, f->chunks[k].bits, sizeof bits);
    /* the size under the lock: the watcher may replace the file (ca_file_replace) */
    uint64_t freed = ca_chunk_clear(c, f, k), size = f->size;
    pthread_mutex_unlock(&f->lock);
    if (!freed)
        return 0;
    /* the pages stay counted (as `evicting`) until the kernel has dropped them */
    uint64_t pages = 0;
    for (unsigned w = 0; w < CA_PAGES / 64; w++)
        pages += (uint64_t)__builtin_popcountll(bits[w]);
    pages *= CA_PAGE;
    atomic_fetch_add(&c->evicting, pages);
    uint64_t base = (uint64_t)k << CA_CHUNK_SHIFT;
    for (unsigned i = 0; c->se && i < CA_PAGES;) {
        if (!(bits[i >> 6] >> (i & 63) & 1)) {
            i++;
            continue;
        }
        unsigned j = i;
        while (j < CA_PAGES && (bits[j >> 6] >> (j & 63) & 1))
            j++;
        uint64_t off = base + ((uint64_t)i << CA_PAGE_SHIFT);
        uint64_t len = (uint64_t)(j - i) << CA_PAGE_SHIFT;
        if (off < size) {
            if (off + len > size)
                len = size - off;
            int rc = fuse_lowlevel_notify_inval_inode(c->se, f->ino, (off_t)off, (off_t)len);
            if (rc < 0 && rc != -ENOENT)
                fu_log(FU_LOG_DEBUG, "inval %s @%llu: %s", f->display, (unsigned long long)off, strerror(-rc));
        }
        i = j;
    }
    atomic_fetch_sub(&c->evicting, pages);
    sx_add(&c->sx->evictions, 1);
    sx_add(&c->sx->evicted_bytes, freed);
    return freed;
}

static void drop_all(ca_t *c)
{
    for (size_t i = 0; i < c->n_files; i++)
        for (size_t k = 0; k < c->files[i]->n_chunks; k++)
            ca_evict_chunk(c, c->files[i], k);
}

/* The policy's victim list (malloc'd), NULL on ENOMEM or when there are no chunks. */
static ca_victim_t *victims(ca_t *c, size_t *n)
{
    size_t cap = 0;
    for (size_t i = 0; i < c->n_files; i++)
        cap += c->files[i]->n_chunks;
    *n = 0;
    if (!cap)
        return NULL;
    ca_victim_t *v = malloc(cap * sizeof *v);
    if (v)
        *n = ca_policy_victims(c, v, cap);
    return v;
}

/* Evict policy victims until the total is <= target. Returns the bytes released. */
static uint64_t evict_to(ca_t *c, uint64_t target)
{
    uint64_t freed = 0;
    pthread_mutex_lock(&c->evict_mu);
    size_t n;
    ca_victim_t *v = victims(c, &n);
    if (!v) {
        fu_log(FU_LOG_WARN, "evictor: out of memory, dropping everything");
        drop_all(c);
    }
    for (size_t i = 0; v && i < n && ca_total(c) > target; i++)
        freed += ca_evict_chunk(c, c->files[v[i].file], v[i].chunk);
    free(v);
    pthread_mutex_unlock(&c->evict_mu);
    return freed;
}

uint64_t ca_hysteresis(const ca_t *c)
{
    uint64_t b = atomic_load(&((ca_t *)c)->budget);
    uint64_t h = b / 256;
    if (h < CA_CHUNK)
        h = b / 16 < CA_CHUNK ? b / 16 : CA_CHUNK;
    return h;
}

uint64_t ca_headroom(const ca_t *c)
{
    /* A fixed 8 MiB took all of an 8 MiB budget: no resident set, no prefetch at all. */
    uint64_t b = atomic_load(&((ca_t *)c)->budget);
    uint64_t fly = 2 * PF_THREADS * CA_CHUNK;
    if (fly > b / 8)
        fly = b / 8;
    if (fly < CA_CHUNK)
        fly = CA_CHUNK;
    return ca_hysteresis(c) + fly;
}

/* Median size of the non-empty groups: the size of a layer in a transformer, where the
 * embedding and head groups are outliers. */
static uint64_t group_median(const ca_t *c)
{
    uint64_t *v = malloc((c->n_groups + 1) * sizeof *v);
    size_t n = 0;
    if (!v)
        return 0;
    for (size_t g = 0; g < c->n_groups; g++)
        if (c->group_bytes[g])
            v[n++] = c->group_bytes[g];
    /* insertion sort: a model has at most a few hundred groups */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            uint64_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    uint64_t m = n ? v[n / 2] : 0;
    free(v);
    return m;
}

/* The prefetch window: `share` = 2 for the whole streamed share of `depth` median
 * groups (how far the prefetcher may read ahead), 1 for half of it (the budget reserved
 * for it when the resident set is planned). */
static uint64_t window(const ca_t *c, unsigned share)
{
    ca_t *m = (ca_t *)c;
    if (atomic_load(&m->pf_off))
        return 0;
    uint64_t budget = atomic_load(&m->budget), total = 0;
    for (size_t g = 0; g < m->n_groups; g++)
        total += m->group_bytes[g];
    uint64_t gmax = m->group_median;
    /* streamed share of a group when the rest of the budget is resident */
    uint64_t h = ca_headroom(c);
    uint64_t res = budget > h ? budget - h : 0;
    uint64_t streamed = total > res ? gmax * (total - res) / total : 0;
    int depth = atomic_load(&m->depth);
    uint64_t w = streamed * (uint64_t)(depth < 1 ? 1 : depth) * share / 2 + 2 * CA_CHUNK;
    /* A model that fits leaves budget unused: a deeper window there costs nothing and
     * keeps the disk's queue full for a first (cold) pass. */
    if (total + h < budget) {
        uint64_t spare = budget - total - h;
        uint64_t deep = spare < CA_WINDOW_FIT ? spare : CA_WINDOW_FIT;
        if (w < deep)
            w = deep;
    }
    if (w > budget / 8)
        w = budget / 8;
    if (w < 2 * CA_CHUNK)
        w = 2 * CA_CHUNK;
    return w;
}

uint64_t ca_window_bytes(const ca_t *c)
{
    return window(c, 2);
}

/* Every byte reserved is a byte less of resident set, read again every cycle; but the
 * prefetcher also makes room by evicting streamed chunks the reader has just passed
 * (ca_make_room), so it can hold a whole window while only half is reserved. Measured
 * (llama-3.2-1b shapes, budget half, 400 MB/s disk, 461 ms/layer pause): whole window
 * reserved: 1.075x the optimum bytes per cycle, reader stall 4-6 %; half reserved and
 * half held (make bench): 1.046x, stall 5-6 %; see docs/design.md for the split. */
uint64_t ca_window_reserve(const ca_t *c)
{
    return window(c, 1);
}

void ca_set_group_median(ca_t *c)
{
    c->group_median = group_median(c);
}

void ca_set_prefetch(ca_t *c, int on)
{
    atomic_store(&c->pf_off, !on);
    ca_plan(c);
}

void ca_set_depth(ca_t *c, int depth)
{
    atomic_store(&c->depth, depth);
    ca_plan(c);
}

int ca_make_room(ca_t *c, uint64_t bytes, uint32_t dist)
{
    uint64_t budget = atomic_load(&c->budget);
    if (ca_total(c) + bytes <= budget)
        return 0;
    pthread_mutex_lock(&c->evict_mu);
    size_t n;
    ca_victim_t *v = victims(c, &n);
    int rc = -ENOSPC;
    for (size_t i = 0; v && i < n; i++) {
        if (ca_total(c) + bytes <= budget) {
            rc = 0;
            break;
        }
        /* only what is needed later than the chunk we make room for */
        if (v[i].tier >= 2 || (v[i].tier == 1 && v[i].dist <= dist))
            continue;
        ca_evict_chunk(c, c->files[v[i].file], v[i].chunk);
    }
    if (ca_total(c) + bytes <= budget)
        rc = 0;
    free(v);
    pthread_mutex_unlock(&c->evict_mu);
    return rc;
}

void *ca_evictor_main(void *arg)
{
    ca_t *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        uint64_t budget = atomic_load(&c->budget);
        if (c->drop_done < c->drop_gen) {
            uint64_t gen = c->drop_gen;
            pthread_mutex_unlock(&c->mu);
            pthread_mutex_lock(&c->evict_mu);
            drop_all(c);
            pthread_mutex_unlock(&c->evict_mu);
            pthread_mutex_lock(&c->mu);
            c->drop_done = gen;
            c->rounds++;
            pthread_cond_broadcast(&c->done);
            continue;
        }
        uint64_t want = atomic_load(&c->want);
        if (ca_total(c) + want > budget) {
            /* room for the READs waiting to be admitted, up to the headroom the plan
             * keeps free for them (more would evict the resident set for them) */
            uint64_t h = ca_headroom(c), low = ca_hysteresis(c);
            if (low < (want < h ? want : h))
                low = want < h ? want : h;
            uint64_t target = budget > low ? budget - low : 0;
            pthread_mutex_unlock(&c->mu);
            uint64_t freed = evict_to(c, target);
            pthread_mutex_lock(&c->mu);
            c->rounds++;
            pthread_cond_broadcast(&c->done);
            /* Nothing evictable (pinned groups or buffers in use fill the budget):
             * sleep below instead of spinning. */
            if (freed)
                continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 100000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->wake, &c->mu, &ts);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int ca_start(ca_t *c, struct fuse_session *se)
{
    c->se = se;
    c->stop = 0;
    int rc = pthread_create(&c->thr, NULL, ca_evictor_main, c);
    if (rc)
        return -rc;
    c->running = 1;
    return 0;
}

void ca_stop(ca_t *c)
{
    if (!c->running)
        return;
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_broadcast(&c->wake);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thr, NULL);
    c->running = 0;
    pthread_mutex_lock(&c->mu);
    pthread_cond_broadcast(&c->done);
    pthread_mutex_unlock(&c->mu);
}
