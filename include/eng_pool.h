/* eng_pool.h — a persistent thread pool for the engine's parallel loops (prefix ep_).
 *
 * ep_run() splits a job into n_chunks chunks that the caller and the workers claim one at
 * a time from a shared counter. The caller claims too, so when a worker is descheduled (a
 * busy machine) the caller simply does the remaining chunks instead of waiting for it.
 * Workers spin briefly between jobs (a decode step issues hundreds of jobs per token) and
 * then sleep on a condition variable, so an idle pool costs no CPU. */
#ifndef ENG_POOL_H
#define ENG_POOL_H

typedef struct ep_pool ep_pool_t;

/* The work of one chunk in [0, n_chunks); tid in [0, threads) identifies the thread
 * running it (for per-thread scratch buffers). */
typedef void (*ep_fn)(void *ctx, int chunk, int n_chunks, int tid);

/* Create a pool of n_threads threads in total (n_threads - 1 workers; <= 1 runs inline).
 * 0 or -errno. */
int ep_create(int n_threads, ep_pool_t **out);

/* Number of threads (including the caller). 1 for a NULL pool. */
int ep_threads(const ep_pool_t *p);

/* Run fn on every chunk and wait for all. A NULL pool runs the chunks inline.
 * Not reentrant: call from one thread at a time. */
void ep_run(ep_pool_t *p, int n_chunks, ep_fn fn, void *ctx);

/* Split [0, total) into n near-equal ranges aligned to `align`; range i is [*lo, *hi). */
void ep_range(long total, int i, int n, long align, long *lo, long *hi);

/* Stop the workers and free (NULL-safe). */
void ep_destroy(ep_pool_t *p);

#endif
