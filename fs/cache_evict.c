/* cache_evict.c — the evictor thread: keeps the mount's resident bytes under the budget.
 *
 * Loop: sleep until woken (a READ pushed the total over budget, a `ram`/`drop` command)
 * or 100 ms pass; then
 *   drop requested   -> invalidate every resident chunk of every file;
 *   total > budget   -> ask the policy for victims and invalidate them one by one until
 *                       the total is under the low watermark (budget - ca_hysteresis).
 * Invalidation order per chunk: clear the chunk's bitmap FIRST, then
 * fuse_lowlevel_notify_inval_inode(range). A READ racing with it marks its pages after
 * its reply, so every interleaving leaves the count >= what the kernel holds. */
#include "cache.h"
#include "prefetch.h"
#include "fu_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t ca_evict_chunk(ca_t *c, ca_file_t *f, size_t k)
{
    pthread_mutex_lock(&f->lock);
    uint64_t freed = ca_chunk_clear(c, f, k), size = f->size;
    pthread_mutex_unlock(&f->lock);
    uint64_t off = (uint64_t)k << CA_CHUNK_SHIFT;
    if (!freed || off >= size)
        return freed;
    uint64_t len = off + CA_CHUNK > size ? size - off : CA_CHUNK;
    if (c->se) {
        int rc = fuse_lowlevel_notify_inval_inode(c->se, f->ino, (off_t)off, (off_t)len);
        if (rc < 0 && rc != -ENOENT)
            fu_log(FU_LOG_DEBUG, "inval %s @%llu: %s", f->display, (unsigned long long)off, strerror(-rc));
    }
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
    uint64_t h = atomic_load(&((ca_t *)c)->budget) / 256;
    return h < CA_CHUNK ? CA_CHUNK : h;
}

uint64_t ca_headroom(const ca_t *c)
{
    return ca_hysteresis(c) + 2 * PF_THREADS * CA_CHUNK;
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
        if (ca_total(c) > budget) {
            pthread_mutex_unlock(&c->mu);
            uint64_t freed = evict_to(c, budget - ca_hysteresis(c));
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
