/* eng_pool.c — persistent worker threads with spin-then-sleep hand-off (see eng_pool.h).
 *
 * A job is published by bumping `gen`; each worker remembers the last generation it ran.
 * Workers spin on `gen` for EP_SPIN_NS, then sleep on `cv` (re-checking `gen` under the
 * lock, so a publish between the check and the wait is never lost: the publisher bumps
 * `gen` and broadcasts under the same lock when anyone sleeps). Completion is an atomic
 * counter the caller spins on (jobs are short). */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "eng_pool.h"
#include "fu_util.h"

#define EP_SPIN_NS 1000000ull   /* 1 ms of spinning before a worker sleeps */

struct ep_pool {
    int n;                      /* threads including the caller */
    pthread_t *tids;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint gen;            /* job generation */
    atomic_int done;            /* workers finished with the current job */
    atomic_int sleepers;        /* workers waiting on cv */
    atomic_int stop;
    ep_fn fn;
    void *ctx;
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

/* ---- worker -------------------------------------------------------------------- */

static void *ep_worker(void *arg)
{
    ep_worker_arg_t *wa = arg;
    ep_pool_t *p = wa->p;
    int id = wa->id;
    free(wa);
    unsigned seen = 0;          /* gen at creation: a job may be published before we run */
    for (;;) {
        uint64_t t0 = 0;
        unsigned spins = 0;
        unsigned g;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen) {
            if (atomic_load(&p->stop))
                return NULL;
            ep_relax();
            if ((++spins & 255) != 0)
                continue;
            if (spins > 4096)
                sched_yield();  /* oversubscribed machine: let the others run */
            uint64_t now = fu_now_ns();
            if (!t0) {
                t0 = now;
            } else if (now - t0 > EP_SPIN_NS) {
                pthread_mutex_lock(&p->mu);
                atomic_fetch_add(&p->sleepers, 1);
                while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                    pthread_cond_wait(&p->cv, &p->mu);
                atomic_fetch_sub(&p->sleepers, 1);
                pthread_mutex_unlock(&p->mu);
                t0 = 0;
            }
        }
        seen = g;
        if (atomic_load(&p->stop))
            return NULL;
        p->fn(p->ctx, id, p->n);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
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
    atomic_init(&p->gen, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->stop, 0);
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

void ep_run(ep_pool_t *p, ep_fn fn, void *ctx)
{
    if (!p || p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_fetch_add(&p->gen, 1);   /* seq_cst: pairs with the sleepers check */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    fn(ctx, 0, p->n);
    for (unsigned spins = 0; atomic_load_explicit(&p->done, memory_order_acquire) < p->n - 1; spins++) {
        ep_relax();
        if (spins > 2048)
            sched_yield();      /* a worker was descheduled: give it the CPU */
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
