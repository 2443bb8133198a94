/* prefetch.h — the layer prefetcher (prefix pf_).
 *
 * When the reader scans the model cyclically (cache_order.c), a small pool of I/O threads
 * reads the chunks ahead of the reader position — as many bytes as `depth` layers'
 * streamed share (ca_window_bytes), across group boundaries and wrapping to the first
 * layer for the next token — into daemon buffers (1 MiB, aligned,
 * read with O_DIRECT by the plain source). READs of those ranges are answered straight
 * from the buffers (one copy into the page cache, as for a demand read), and a buffer is
 * freed as soon as all its pages are in the page cache. Room is made only by evicting
 * chunks needed later than the one prefetched, so prefetch never pushes out what the
 * reader needs sooner. A RANDOM reader gets no prefetch. */
#ifndef PREFETCH_H
#define PREFETCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include "cache.h"

#define PF_THREADS 4

typedef struct {
    ca_t *c;
    _Atomic int *on;            /* prefetch enabled (control: prefetch on|off) */
    _Atomic int *depth;         /* window in layers (control: prefetch-depth N); read by ca_window_bytes */
    pthread_t thr[PF_THREADS];
    int n_thr;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t kick_gen;          /* bumped by pf_kick */
    int stop;
} pf_t;

/* Start the I/O threads (after daemonizing). 0 or -errno. */
int pf_start(pf_t *p, ca_t *c, _Atomic int *on, _Atomic int *depth);

/* The reader moved: wake the I/O threads (cheap; called from READ handlers). */
void pf_kick(pf_t *p);

/* Stop and join the threads (idempotent). */
void pf_stop(pf_t *p);

#endif
