/* cache.h — residency accounting and the RAM budget of the mount (prefix ca_).
 *
 * What counts against the budget:
 *   page_cache  pages of the MOUNTED files that the kernel may hold: every page the daemon
 *               served with a READ reply (or stored with notify_store) is assumed resident
 *               until the daemon invalidates it (fuse_lowlevel_notify_inval_inode) or the
 *               kernel forgets the inode. This over-estimates (the kernel may drop pages on
 *               its own), which is the safe side for a hard budget.
 *   daemon      bytes of daemon buffers in use (prefetched chunks) and of READs admitted and
 *               not yet counted as page cache (their buffer, then their pages: ca_admit).
 *   backing     page cache of the backing files: kept ~0 by the plain source (O_DIRECT,
 *               else POSIX_FADV_DONTNEED after each read), so not counted here.
 *
 * Residency is tracked per file in 1 MiB chunks with a bitmap of their 4 KiB pages. An
 * evictor thread (never a request handler: notify_* must not be called from inside one)
 * keeps page_cache + daemon <= budget by invalidating whole chunks chosen by the policy
 * (cache_policy.c). Handlers never invalidate: a READ is admitted against the budget
 * BEFORE it is served (ca_admit: its bytes are reserved, and it waits while the evictor
 * makes room), and marks its pages after its reply (ca_served), so that page cache +
 * buffers + READs in flight stay under the budget however many readers there are. */
#ifndef CACHE_H
#define CACHE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>
#include <fuse_lowlevel.h>
#include "stats.h"

#define CA_CHUNK_SHIFT 20
#define CA_CHUNK (1ull << CA_CHUNK_SHIFT)           /* 1 MiB */
#define CA_PAGE_SHIFT 12
#define CA_PAGE (1ull << CA_PAGE_SHIFT)             /* 4 KiB */
#define CA_PAGES (1u << (CA_CHUNK_SHIFT - CA_PAGE_SHIFT)) /* pages per chunk: 256 */

/* A prefetched chunk held in daemon memory until READs have moved it into the page cache
 * (or, once prefetch.c stored all but its last page with notify_store, that page only). */
enum { CA_PF_INFLIGHT = 1, CA_PF_READY = 2, CA_PF_FAILED = 3 };
typedef struct {
    void *data;                     /* mmap'd, cap bytes (page aligned, for O_DIRECT); holds
                                     * the chunk's bytes [lo, len) */
    uint32_t len;                   /* end of the valid bytes (the file's last chunk is shorter) */
    uint32_t lo;                    /* first byte held: 0, or the sentinel page's offset once
                                     * the rest was stored into the page cache (prefetch.c) */
    uint32_t cap;                   /* bytes mapped at data (CA_CHUNK, or CA_PAGE once stored) */
    uint8_t state;                  /* CA_PF_* */
    uint8_t used;                   /* served at least one READ */
    uint8_t stale;                  /* holds bytes of a replaced backing file (ca_file_replace):
                                     * serves nothing, freed by whoever drops its last use */
    uint16_t refs;                  /* READ replies currently pointing into data */
} ca_pf_t;

typedef struct {
    uint64_t bits[CA_PAGES / 64];   /* pages believed in the mount's page cache */
    uint16_t npages;                /* popcount of bits */
    uint16_t cap_pages;             /* pages of this chunk (the last one may be short) */
    int16_t group;                  /* layer group of the chunk's first tensor byte, -1 none */
    int16_t xgroup;                 /* the smallest other group with bytes in it (e.g. a
                                     * rope table read by every layer), -1 none */
    uint8_t pinned;                 /* never evicted by the budget (pinned group) */
    uint8_t small;                  /* of a small group (<= budget/64): evicted last */
    uint8_t keep;                   /* in the resident set planned for a cyclic reader */
    uint32_t cyc;                   /* position in the cyclic (execution) order, CA_NO_CYC if none */
    uint64_t last_use;              /* fu_now_ns() of the last READ that touched it */
    ca_pf_t *pf;                    /* prefetched data, NULL when none */
} ca_chunk_t;

#define CA_NO_CYC UINT32_MAX
#define CA_WINDOW_FIT (32ull << 20)   /* prefetch window when the whole model fits the budget */

/* Reference to one chunk: file index and chunk index. */
typedef struct {
    uint32_t file;
    uint32_t chunk;
} ca_ref_t;

/* Access-pattern modes detected from READs (cache_order.c). */
enum { CA_MODE_RANDOM = 0, CA_MODE_CYCLIC = 1 };

struct src;

/* A chunk table replaced by a larger one (ca_file_replace); kept until ca_free because
 * lock-free readers (ca_note_access, ca_plan) may still be looking at it. */
typedef struct ca_old_table {
    struct ca_old_table *next;
    ca_chunk_t *chunks;
} ca_old_table_t;

typedef struct ca_file {
    uint64_t ino;                   /* FUSE inode */
    uint64_t size;                  /* changed only by ca_file_replace, under lock */
    struct src *src;                /* backing source (for prefetch reads); read it under lock */
    size_t n_chunks;                /* only grows (ca_file_replace); published after chunks */
    ca_chunk_t *chunks;             /* chunk k stays at index k; the table may be replaced by a
                                     * larger copy: re-read f->chunks after taking the lock
                                     * and after every wait, never keep a ca_chunk_t * across */
    ca_old_table_t *old_tables;
    pthread_mutex_t lock;           /* guards chunks[] */
    pthread_cond_t pf_cv;           /* a prefetch of this file completed */
    _Atomic uint64_t pages;         /* resident pages of this file */
    const char *display;            /* path shown in stats (owned by the tree) */
    int index;                      /* position in ca_t.files */
} ca_file_t;

/* Chunk selection of the evictor: fill `out` (capacity cap) with chunk references in the
 * order they should be evicted; see cache_policy.c. */
typedef struct {
    uint32_t file;
    uint32_t chunk;
    uint64_t key;                   /* sort key, smallest evicted first */
    uint32_t dist;                  /* cyclic distance ahead of the reader (UINT32_MAX: unknown) */
    uint8_t tier;                   /* 0 non-model, 1 streamed, 2 resident set, 3 small groups */
} ca_victim_t;

typedef struct ca {
    struct fuse_session *se;        /* set by ca_start */
    sx_stats_t *sx;
    _Atomic uint64_t budget;        /* bytes */
    _Atomic uint64_t pc_pages;      /* sum of all files' resident pages */
    _Atomic uint64_t daemon_bytes;  /* daemon buffers in use + READs admitted (ca_admit) */
    _Atomic uint64_t want;          /* bytes of READs waiting for admission */
    _Atomic uint64_t pinned_pages;  /* counted pages of pinned chunks (never evicted) */
    _Atomic uint64_t evicting;      /* pages cleared from the count whose invalidation is
                                     * still running: the kernel holds them until it returns */
    _Atomic uint64_t resident_set;  /* bytes of the planned resident set + small/pinned groups (ca_plan) */
    ca_file_t **files;
    size_t n_files, cap_files;
    /* evictor thread */
    pthread_t thr;
    int running;
    pthread_mutex_t mu;
    pthread_cond_t wake;            /* evictor waits here */
    pthread_cond_t done;            /* waiters for an eviction round */
    int stop;
    uint64_t drop_gen, drop_done;   /* `drop` requests and completions */
    uint64_t rounds;                /* completed eviction rounds */
    uint64_t adm_next, adm_head;    /* admission tickets: READs that wait are admitted in order */
    /* cyclic order (cache_order.c) */
    ca_ref_t *order;                /* cyc index -> chunk */
    uint32_t n_cyc;
    uint32_t *group_last;           /* per group: last cyc index of its chunks (CA_NO_CYC if none) */
    uint32_t *group_first;          /* per group: first cyc index of its chunks (CA_NO_CYC if none) */
    uint64_t *group_bytes;          /* per group: tensor bytes (small groups are kept longest) */
    uint64_t group_median;          /* median group size (a layer), sizes the prefetch window */
    size_t n_groups;
    _Atomic uint32_t pos;           /* cyc index of the last READ */
    _Atomic int mode;               /* CA_MODE_* */
    _Atomic int depth;              /* prefetch depth in groups */
    _Atomic int pf_off;             /* prefetch disabled: no window reserved */
    _Atomic uint32_t fwd_score;     /* EWMA of forward steps, 0..1024 */
    _Atomic uint32_t jumps;         /* consecutive non-forward READs */
    uint32_t trail;                 /* chunks behind pos a concurrent cursor may still read:
                                     * the largest tensor, at most a median group */
    _Atomic uint64_t cycle_mark;    /* backing bytes at the last wrap of the reader */
    _Atomic uint64_t last_cycle_bytes; /* backing bytes read during the last full cycle */
    pthread_mutex_t evict_mu;       /* one evicting thread at a time (evictor, prefetcher) */
    /* hint channel (cache_hint.c) */
    _Atomic uint64_t hint_until_ns; /* READs do not move the position before this time */
    _Atomic int hint_group;         /* group of the last hint, -1 none */
} ca_t;

/* Initialise with a budget in bytes. 0 or -errno. */
int ca_init(ca_t *c, uint64_t budget, sx_stats_t *sx);

/* Register one backing file. group_at(ctx, off) gives the layer group of a byte (or -1);
 * it may be NULL. Returns the file state or NULL on ENOMEM. */
ca_file_t *ca_add_file(ca_t *c, uint64_t ino, uint64_t size, const char *display,
                       int (*group_at)(void *ctx, uint64_t off), void *ctx);

/* A tensor of `group` (group_bytes[group] bytes, n_groups groups) at [off, off+len) of
 * file f: a chunk it shares with another group records the smaller group as xgroup, so a
 * chunk holding a small group's bytes is kept like that group; the largest tensor sizes
 * the trail of concurrent cursors. Call between ca_add_file and ca_build_order. */
void ca_note_tensor(ca_t *c, ca_file_t *f, uint64_t off, uint64_t len, int group, const uint64_t *group_bytes,
                    size_t n_groups);

/* After every ca_add_file: build the cyclic order of model chunks (by layer group in
 * execution order, then file, then offset) for n_groups groups with their byte sizes
 * (group_bytes may be NULL). 0 or -ENOMEM. */
int ca_build_order(ca_t *c, size_t n_groups, const uint64_t *group_bytes);

/* A READ touched [off, off+len) of f: update the reader position, the access-pattern
 * mode and the cycle counter. Returns 1 when the pattern is cyclic. */
int ca_note_access(ca_t *c, ca_file_t *f, uint64_t off);

/* Cyclic distance of chunk cyc ahead of the reader position (0 = at or just behind). */
uint32_t ca_distance(const ca_t *c, uint32_t cyc);

/* How long a hint holds the reader position against READs (ms): a reader that stops
 * hinting (or crashes) gives the position back to its READs after this. */
#define CA_HINT_HOLD_MS 2000

/* Hint: the reader is about to read layer group `group`. The position moves to just before
 * the group's first chunk (prefetch starts there, eviction measures distances from there),
 * the pattern counts as cyclic, and for CA_HINT_HOLD_MS READs do not move the position (a
 * new hint extends it). A jump back by more than half the ring counts a cycle.
 * 0, -EINVAL (no such group), -ENOENT (the group has no bytes in the cyclic order). */
int ca_hint_at(ca_t *c, size_t group);

/* End the hint hold now: READs steer the position again. */
void ca_hint_release(ca_t *c);

/* Make room for `bytes` more under the budget by evicting only chunks whose distance is
 * greater than `dist` (or non-model bytes). 0 when there is room, -ENOSPC if not. */
int ca_make_room(ca_t *c, uint64_t bytes, uint32_t dist);

/* The evictor's hysteresis: it evicts down to budget - ca_hysteresis(): budget/256, at
 * least 1 MiB but at most budget/16 (a byte of hysteresis is a byte less of resident set;
 * /128 cost 0.4 % more bytes per cycle). */
uint64_t ca_hysteresis(const ca_t *c);

/* Bytes kept free below the budget for what is in flight (READs being served, prefetch
 * buffers being stored): the hysteresis plus 2 MiB per prefetch thread, that part at
 * most budget/8 and at least one chunk, so a small budget still has a resident set. */
uint64_t ca_headroom(const ca_t *c);

/* Admit a READ of len bytes before it is served: reserve len bytes (counted as daemon
 * bytes: its buffer, then the pages its reply puts in the page cache) once page cache +
 * daemon + len <= budget, waking the evictor and waiting for it as long as needed, at
 * most CA_ADMIT_WAIT_MS (a stuck invalidation or a budget full of pinned pages must not
 * hang readers). Returns the bytes reserved: pass them to ca_admit_done AFTER ca_served. */
uint64_t ca_admit(ca_t *c, uint64_t len);

/* Release a reservation of ca_admit (after the READ's pages were counted, or on error),
 * then ca_settle. */
void ca_admit_done(ca_t *c, uint64_t reserved);

/* Wake the evictor when the total is over the budget. Call after pages were counted
 * (ca_served) AND the reservation or buffer they came from was released: in between they
 * are counted twice, and evicting for that would evict a chunk for nothing. */
void ca_settle(ca_t *c);

#define CA_ADMIT_WAIT_MS 2000

/* How many bytes the prefetcher may hold ahead of the reader: the streamed share of
 * `depth` median-sized groups (what the reader needs from the disk while it works on
 * one group) + 2 MiB, or up to CA_WINDOW_FIT of spare budget when the whole model
 * fits; at most budget/8, at least 2 MiB; 0 when prefetch is off. */
uint64_t ca_window_bytes(const ca_t *c);

/* The part of the window the resident set is planned around: half the streamed share
 * (+ 2 MiB, same bounds); the prefetcher finds the rest by evicting streamed chunks the
 * reader has passed. */
uint64_t ca_window_reserve(const ca_t *c);

/* Compute group_median from group_bytes (ca_build_order calls it). */
void ca_set_group_median(ca_t *c);

/* Set the prefetch depth in groups (control: prefetch-depth N) and re-plan. */
void ca_set_depth(ca_t *c, int depth);

/* Prefetch on or off (control: prefetch on|off); off leaves no window, re-plans. */
void ca_set_prefetch(ca_t *c, int on);

/* Choose the resident ("keep") set for a cyclic reader: chunks spread evenly over the
 * cyclic order whose total is budget - headroom - window - pinned/small bytes; every
 * other model chunk is streamed. Called on build and whenever the budget or the pins
 * change. */
void ca_plan(ca_t *c);

/* Release a prefetch buffer (under f->lock; the caller checked refs == 0). Counts wasted
 * when it never served a READ. */
void ca_pf_free(ca_t *c, ca_chunk_t *ch);

/* Start the evictor thread (after daemonizing). 0 or -errno. */
int ca_start(ca_t *c, struct fuse_session *se);

/* Stop and join the evictor thread (idempotent). */
void ca_stop(ca_t *c);

/* Release everything (after ca_stop). */
void ca_free(ca_t *c);

/* Record that [off, off+len) of f was just served into the mount's page cache. Call
 * AFTER the reply, then release what the bytes came from (ca_admit_done, ca_settle). */
void ca_served(ca_t *c, ca_file_t *f, uint64_t off, uint64_t len);

/* The backing file of f was replaced or changed (size bytes now, served from src): grow
 * the chunk table when the file grew (the old table is kept until ca_free), set the size
 * and the source, make every prefetch buffer stale (no READ or store uses its old bytes
 * any more) and wait until none is in flight or in use, and clear f's residency. The
 * caller then invalidates the kernel's pages of the inode. 0 or -ENOMEM (nothing changed). */
int ca_file_replace(ca_t *c, ca_file_t *f, uint64_t size, struct src *src);

/* Free a stale prefetch buffer of chunk ch whose last use just ended (under f->lock; no-op
 * when ch->pf is not stale or still in flight or in use) and wake ca_file_replace. */
void ca_pf_stale_done(ca_t *c, ca_file_t *f, ca_chunk_t *ch);

/* The kernel forgot the inode: its pages are gone; clear f's residency. */
void ca_forget(ca_t *c, ca_file_t *f);

/* Account daemon buffer bytes (delta may be negative). */
void ca_daemon_add(ca_t *c, int64_t delta);

/* Total bytes counted against the budget (page cache + daemon + being invalidated). */
uint64_t ca_total(const ca_t *c);

/* Change the budget; waits (up to ~2 s) until the evictor brought the total under it. */
void ca_set_budget(ca_t *c, uint64_t budget);

/* Invalidate everything resident; waits (up to ~5 s) for the evictor to finish. */
void ca_drop(ca_t *c);

/* Pin chunks by layer group: a chunk is pinned when pinned[chunk group] != 0 (pinned has
 * n entries; chunks of no group or beyond n are unpinned). Pinned chunks are never evicted
 * by the budget (only by `drop`). */
void ca_set_pins(ca_t *c, const uint8_t *pinned, size_t n);

/* Resident bytes of file f (pages * 4 KiB, clipped to the file size). */
uint64_t ca_file_resident(const ca_file_t *f);

/* Visit every resident page range of f: fn(ctx, off, len) per run of pages, under f's lock. */
void ca_file_foreach(ca_file_t *f, void (*fn)(void *ctx, uint64_t off, uint64_t len), void *ctx);

/* ---- internals shared by cache.c, cache_evict.c and cache_policy.c -------------- */

/* Evictor thread body. */
void *ca_evictor_main(void *arg);

/* Fill out[] with eviction candidates (resident, unpinned chunks), best victims first.
 * Returns the number written (at most cap). */
size_t ca_policy_victims(ca_t *c, ca_victim_t *out, size_t cap);

/* Clear chunk k of f (under f->lock): its page bits and its prefetch buffer when not in
 * use. Returns the bytes released from the count (0 if none). */
uint64_t ca_chunk_clear(ca_t *c, ca_file_t *f, size_t k);

/* Reserve `bytes` of daemon bytes when page cache + daemon + bytes <= limit (atomically
 * against other reservations). 1 reserved, 0 not. */
int ca_try_reserve(ca_t *c, uint64_t bytes, uint64_t limit);

/* Evict chunk k of f: clear, then invalidate the pages that were counted (runs of its
 * bitmap, not the whole chunk: a READ in flight holds its pages locked in the kernel, and
 * invalidating them would wait for it). Bytes released. */
uint64_t ca_evict_chunk(ca_t *c, ca_file_t *f, size_t k);

#endif
