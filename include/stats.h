/* stats.h — the mount's counters (prefix sx_). Lock-free (C11 atomics, relaxed): any
 * thread bumps them, the control directory reads a snapshot. Documented field by field
 * in docs/control.md. */
#ifndef STATS_H
#define STATS_H

#include <stdatomic.h>
#include <stdint.h>

/* Buckets of READ request sizes: <=4K, <=64K, <=256K, <=1M, >1M. */
enum { SX_RS_4K = 0, SX_RS_64K, SX_RS_256K, SX_RS_1M, SX_RS_BIG, SX_RS_N };

typedef struct {
    uint64_t start_ns;                  /* fu_now_ns() at mount */
    _Atomic uint64_t reads;             /* READ requests on model files */
    _Atomic uint64_t read_bytes;        /* bytes replied to READs */
    _Atomic uint64_t hits;              /* READs served entirely from daemon buffers (prefetched) */
    _Atomic uint64_t misses;            /* READs that had to wait for the backing store */
    _Atomic uint64_t backing_bytes;     /* bytes read from backing files (demand + prefetch) */
    _Atomic uint64_t backing_reads;     /* read calls on backing files */
    _Atomic uint64_t evictions;         /* chunk invalidations done to stay under budget or on drop */
    _Atomic uint64_t evicted_bytes;     /* resident bytes released by those */
    _Atomic uint64_t pf_issued;         /* prefetch reads issued (chunks) */
    _Atomic uint64_t pf_used;           /* prefetched chunks that served a READ */
    _Atomic uint64_t pf_wasted;         /* prefetched chunks dropped before any READ used them */
    _Atomic uint64_t pf_late;           /* READs that found their chunk's prefetch still in flight */
    _Atomic uint64_t pf_pushed;         /* prefetched bytes pushed into the page cache (notify_store) */
    _Atomic uint64_t stall_ns;          /* time READs waited on the backing store */
    _Atomic uint64_t backing_ns;        /* time spent in successful backing reads (demand + prefetch) */
    _Atomic uint64_t cycles;            /* completed passes over the model (cyclic readers) */
    _Atomic uint64_t read_sizes[SX_RS_N];
    _Atomic uint64_t errors;            /* READs answered with an error */
    _Atomic uint64_t admit_waits;       /* READs that waited for room under the budget (ca_admit) */
    _Atomic uint64_t admit_wait_ns;     /* time they waited */
    _Atomic uint64_t admit_over;        /* READs served over the budget after waiting in vain */
    _Atomic uint64_t ctl_commands;      /* control commands accepted */
    _Atomic uint64_t hints;             /* hints accepted on .flashfs/hint */
    _Atomic uint64_t hint_errors;       /* hint lines refused */
} sx_stats_t;

/* Zero everything and set the start time. */
void sx_init(sx_stats_t *s);

/* Count one READ request of `size` bytes into the histogram. */
void sx_read_size(sx_stats_t *s, uint64_t size);

/* Bucket names in histogram order ("4K", "64K", "256K", "1M", ">1M"). */
extern const char *const sx_rs_names[SX_RS_N];

/* Relaxed atomic add / load helpers. */
static inline void sx_add(_Atomic uint64_t *c, uint64_t v) { atomic_fetch_add_explicit(c, v, memory_order_relaxed); }
static inline uint64_t sx_get(_Atomic uint64_t *c) { return atomic_load_explicit(c, memory_order_relaxed); }

#endif
