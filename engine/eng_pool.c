/* eng_pool.c — persistent workers claiming chunks of a job (see eng_pool.h).
 *
 * `state` packs the job generation (high 32 bits) and the next unclaimed chunk (low 32).
 * A thread claims a chunk with a compare-and-swap that also checks the generation, so a
 * worker that wakes late, after its job was finished by others, can never claim a chunk
 * of a newer job with the old job's function: fn/ctx are read after seeing the new
 * generation and are only rewritten once every chunk of the job is done, which a
 * successful claim proves has not happened. `done` counts finished chunks; the caller
 * returns when it reaches n_chunks.
 *
 * Idle workers spin on `state` for EP_SPIN_NS (yielding the CPU now and then), then sleep
 * on `cv`; the publisher broadcasts when anyone sleeps (Dekker-style check of `sleepers`
 * after the publish, with sequentially consistent atomics on both sides). */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "eng_pool.h"
#include "fu_util.h"

#define EP_SPIN_NS 1000000ull   /* 1 ms of spinning before a worker sleeps */

struct ep_pool {
    int n;                      /* threads including the caller */
    pthread_t *tids;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic uint64_t state;     /* gen << 32 | next chunk */
    atomic_int n_chunks;
    atomic_int done;            /* chunks finished in the current job */
    atomic_int sleepers;
    atomic_int stop;
    _Atomic(ep_fn) fn;
    _Atomic(void *) ctx;
};

typedef struct {
    ep_pool_t *p;
    int id;
} ep_worker_arg_t;

static inline void ep_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Claim and run chunks of generation gen until none is left. */
static void ep_work(ep_pool_t *p, uint32_t gen, int tid)
{
    uint64_t s = atomic_load(&p->state);
    ep_fn fn = atomic_load_explicit(&p->fn, memory_order_relaxed);
    void *ctx = atomic_load_explicit(&p->ctx, memory_order_relaxed);
    int n = atomic_load_explicit(&p->n_chunks, memory_order_relaxed);
    for (;;) {
        if ((uint32_t)(s >> 32) != gen || (int)(uint32_t)s >= n)
            return;
        if (!atomic_compare_exchange_weak(&p->state, &s, s + 1))
            continue;           /* s reloaded */
        fn(ctx, (int)(uint32_t)s, n, tid);
        atomic_fetch_add(&p->done, 1);
        s = atomic_load(&p->state);
    }
}

/* ---- worker -------------------------------------------------------------------- */

static void *ep_worker(void *arg)
{
    ep_worker_arg_t *wa = arg;
    ep_pool_t *p = wa->p;
    int id = wa->id;
    free(wa);
    uint32_t seen = 0;          /* generation at creation */
    for (;;) {
        uint64_t t0 = 0;
        unsigned spins = 0;
        uint32_t g;
        while ((g = (uint32_t)(atomic_load(&p->state) >> 32)) == seen) {
            if (atomic_load(&p->stop))
                return NULL;
            ep_relax();
            if ((++spins & 127) != 0)
                continue;
            sched_yield();      /* on a busy machine, let the thread we wait for run */
            uint64_t now = fu_now_ns();
            if (!t0) {
                t0 = now;
            } else if (now - t0 > EP_SPIN_NS) {
                pthread_mutex_lock(&p->mu);
                atomic_fetch_add(&p->sleepers, 1);
                while ((uint32_t)(atomic_load(&p->state) >> 32) == seen && !atomic_load(&p->stop))
                    pthread_cond_wait(&p->cv, &p->mu);
                atomic_fetch_sub(&p->sleepers, 1);
                pthread_mutex_unlock(&p->mu);
                t0 = 0;
            }
        }
        seen = g;
        if (atomic_load(&p->stop))
            return NULL;
        ep_work(p, g, id);
    }
}

/* ---- public -------------------------------------------------------------------- */

int ep_create(int n_threads, ep_pool_t **out)
{
    *out = NULL;
    if (n_threads < 1)
        n_threads = 1;
    ep_pool_t *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    atomic_init(&p->state, 0);
    atomic_init(&p->n_chunks, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->fn, NULL);
    atomic_init(&p->ctx, NULL);
    if (n_threads > 1) {
        p->tids = calloc((size_t)n_threads, sizeof *p->tids);
        if (!p->tids) {
            ep_destroy(p);
            return -ENOMEM;
        }
        for (int i = 1; i < n_threads; i++) {
            ep_worker_arg_t *wa = malloc(sizeof *wa);
            int rc = ENOMEM;
            if (wa) {
                wa->p = p;
                wa->id = i;
                rc = pthread_create(&p->tids[i], NULL, ep_worker, wa);
            }
            if (rc) {
                free(wa);
                p->n = i;       /* workers 1..i-1 exist */
                ep_destroy(p);
                return -rc;
            }
        }
    }
    *out = p;
    return 0;
}

int ep_threads(const ep_pool_t *p)
{
    return p ? p->n : 1;
}

void ep_run(ep_pool_t *p, int n_chunks, ep_fn fn, void *ctx)
{
    if (n_chunks <= 0)
        return;
    if (!p || p->n == 1 || n_chunks == 1) {
        for (int i = 0; i < n_chunks; i++)
            fn(ctx, i, n_chunks, 0);
        return;
    }
    atomic_store_explicit(&p->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&p->ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&p->n_chunks, n_chunks, memory_order_relaxed);
    atomic_store(&p->done, 0);
    uint32_t gen = (uint32_t)(atomic_load(&p->state) >> 32) + 1;
    atomic_store(&p->state, (uint64_t)gen << 32);   /* publish (seq_cst) */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    ep_work(p, gen, 0);
    for (unsigned spins = 0; atomic_load(&p->done) < n_chunks; spins++) {
        ep_relax();
        if ((spins & 63) == 63)
            sched_yield();      /* a worker holds a chunk but was descheduled */
    }
}

void ep_range(long total, int i, int n, long align, long *lo, long *hi)
{
    if (align < 1)
        align = 1;
    long units = (total + align - 1) / align;
    long a = units * i / n, b = units * (i + 1) / n;
    *lo = a * align < total ? a * align : total;
    *hi = b * align < total ? b * align : total;
}

void ep_destroy(ep_pool_t *p)
{
    if (!p)
        return;
    if (p->tids) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->stop, 1);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        for (int i = 1; i < p->n; i++)
            pthread_join(p->tids[i], NULL);
        free(p->tids);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
