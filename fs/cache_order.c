/* cache_order.c — the cyclic (execution) order of model chunks and the reader tracker.
 *
 * A generating reader walks the layer groups in execution order every token: embed,
 * layer.0 .. layer.N-1, norm, head, then again. Every 1 MiB chunk that holds tensor bytes
 * gets a position `cyc` in that order (by group, then file, then offset), so the bytes of
 * one cycle form a ring of n_cyc chunks. READs move a reader position along the ring:
 *
 *   delta = (cyc - pos) mod n_cyc         forward step when 0 < delta <= n_cyc/8 (+4)
 *   fwd_score += (1024*[forward] - fwd_score) / 16       (EWMA, 0..1024)
 *   mode = CYCLIC above 600, RANDOM below 400 (hysteresis)
 *
 * The distance of a chunk ahead of the reader, (cyc - pos) mod n_cyc, is the time until
 * the reader needs it again in chunks: the eviction policy evicts the farthest first
 * (Belady's rule for a cyclic scan, which reads model - budget bytes per cycle), and
 * the prefetcher reads the nearest missing ones. A forward step across the end of the
 * ring ends a cycle.
 * more than half the ring) ends a cycle. Isolated jumps of a cyclic reader do not move
 * the position (JUMPS_TO_MOVE). */
#include "cache.h"
#include "fu_util.h"

#include <errno.h>
#include <stdlib.h>

/* Chunks just behind the reader still count as in use (an mmap reader may touch them). */
#define GUARD_CHUNKS 2u

/* Consecutive non-forward READs that move the position of a cyclic reader. */
#define JUMPS_TO_MOVE 3u

typedef struct {
    int group;
    uint32_t file, chunk;
} ord_t;

static int ord_cmp(const void *a, const void *b)
{
    const ord_t *x = a, *y = b;
    if (x->group != y->group)
        return x->group < y->group ? -1 : 1;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    return x->chunk < y->chunk ? -1 : x->chunk > y->chunk;
}

int ca_build_order(ca_t *c, size_t n_groups, const uint64_t *group_bytes)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_files; i++)
        for (size_t k = 0; k < c->files[i]->n_chunks; k++)
            n += c->files[i]->chunks[k].group >= 0;
    if (n >= CA_NO_CYC)
        return -EOVERFLOW;
    ord_t *o = n ? malloc(n * sizeof *o) : NULL;
    c->order = n ? malloc(n * sizeof *c->order) : NULL;
    c->group_last = n_groups ? malloc(n_groups * sizeof *c->group_last) : NULL;
    c->group_first = n_groups ? malloc(n_groups * sizeof *c->group_first) : NULL;
    c->group_bytes = n_groups ? calloc(n_groups, sizeof *c->group_bytes) : NULL;
    if ((n && (!o || !c->order)) || (n_groups && (!c->group_last || !c->group_first || !c->group_bytes))) {
        free(o);
        return -ENOMEM;
    }
    c->n_groups = n_groups;
    for (size_t g = 0; g < n_groups; g++) {
        c->group_last[g] = CA_NO_CYC;
        c->group_first[g] = CA_NO_CYC;
        c->group_bytes[g] = group_bytes ? group_bytes[g] : 0;
    }
    size_t j = 0;
    for (size_t i = 0; i < c->n_files; i++)
        for (size_t k = 0; k < c->files[i]->n_chunks; k++)
            if (c->files[i]->chunks[k].group >= 0)
                o[j++] = (ord_t){ c->files[i]->chunks[k].group, (uint32_t)i, (uint32_t)k };
    if (n)
        qsort(o, n, sizeof *o, ord_cmp);
    for (size_t q = 0; q < n; q++) {
        c->order[q] = (ca_ref_t){ o[q].file, o[q].chunk };
        c->files[o[q].file]->chunks[o[q].chunk].cyc = (uint32_t)q;
        if ((size_t)o[q].group < n_groups) {
            c->group_last[o[q].group] = (uint32_t)q;
            if (c->group_first[o[q].group] == CA_NO_CYC)
                c->group_first[o[q].group] = (uint32_t)q;
        }
    }
    c->n_cyc = (uint32_t)n;
    free(o);
    ca_set_group_median(c);
    /* trail (the largest tensor, from ca_note_tensor): several threads of one reader
     * fault different row ranges of one tensor; at most a median group, n/8 */
    uint64_t med = (c->group_median + CA_CHUNK - 1) >> CA_CHUNK_SHIFT;
    uint32_t t = c->trail;
    if (med && t > med)
        t = (uint32_t)med;
    if (t > (uint32_t)n / 8 + 4)
        t = (uint32_t)n / 8 + 4;
    c->trail = t < GUARD_CHUNKS ? GUARD_CHUNKS : t;
    ca_plan(c);
    return 0;
}

/* The resident set: with f = keep_bytes / streamable bytes, walk the cyclic order and
 * keep a chunk whenever the running sum of f crosses the next integer (Bresenham), so
 * that every stretch of the ring is resident in the same proportion and the reader's
 * demand on the disk is even over a cycle (prefetch overlaps it with compute). */
/* One plan at a time: control commands (ram, pin, prefetch...) and the mount's build
 * call ca_plan; two interleaved plans would mix two budgets' `small` and `keep` flags. */
static pthread_mutex_t plan_mu = PTHREAD_MUTEX_INITIALIZER;

static void plan_locked(ca_t *c);

void ca_plan(ca_t *c)
{
    pthread_mutex_lock(&plan_mu);
    plan_locked(c);
    pthread_mutex_unlock(&plan_mu);
}

/* Chunk flags (small, pinned, keep) are read and written under their file's lock; the
 * unlocked reader ca_note_access loads `small` atomically. */
static void plan_locked(ca_t *c)
{
    uint64_t budget = atomic_load(&c->budget);
    uint64_t fixed = 0, stream = 0;
    for (uint32_t q = 0; q < c->n_cyc; q++) {
        ca_file_t *f = c->files[c->order[q].file];
        pthread_mutex_lock(&f->lock); /* the watcher may replace the table (ca_file_replace) */
        ca_chunk_t *ch = &f->chunks[c->order[q].chunk];
        int g = ch->group, x = ch->xgroup;
        uint8_t small = (g >= 0 && (size_t)g < c->n_groups && c->group_bytes[g] * 64 <= budget) ||
                        (x >= 0 && (size_t)x < c->n_groups && c->group_bytes[x] * 64 <= budget);
        __atomic_store_n(&ch->small, small, __ATOMIC_RELAXED);
        if (small || ch->pinned)
            fixed += (uint64_t)ch->cap_pages * CA_PAGE;
        else
            stream += (uint64_t)ch->cap_pages * CA_PAGE;
        pthread_mutex_unlock(&f->lock);
    }
    uint64_t reserve = ca_headroom(c) + ca_window_reserve(c) + fixed;
    uint64_t keep = budget > reserve ? budget - reserve : 0;
    /* f in 1/65536 units */
    uint64_t f = stream ? (keep >= stream ? 65536 : keep * 65536 / stream) : 0;
    uint64_t acc = 0, kept = 0;
    for (uint32_t q = 0; q < c->n_cyc; q++) {
        ca_file_t *fl = c->files[c->order[q].file];
        pthread_mutex_lock(&fl->lock);
        ca_chunk_t *ch = &fl->chunks[c->order[q].chunk];
        ch->keep = 0;
        if (!ch->small && !ch->pinned) {
            acc += f;
            if (acc >= 65536) {
                acc -= 65536;
                ch->keep = 1;
                kept += (uint64_t)ch->cap_pages * CA_PAGE;
            }
        }
        pthread_mutex_unlock(&fl->lock);
    }
    atomic_store(&c->resident_set, kept + fixed);
}

uint32_t ca_distance(const ca_t *c, uint32_t cyc)
{
    uint32_t n = c->n_cyc;
    if (!n || cyc >= n)
        return UINT32_MAX;
    uint32_t pos = atomic_load(&((ca_t *)c)->pos);
    uint32_t d = (uint32_t)(((uint64_t)cyc + n - pos) % n);
    /* chunks just behind the reader are still in use: by an mmap reader's neighbouring
     * pages, or by another of its threads working on the same tensor */
    uint32_t guard = c->trail > GUARD_CHUNKS ? c->trail : GUARD_CHUNKS;
    return d + guard >= n ? 0 : d;
}

int ca_note_access(ca_t *c, ca_file_t *f, uint64_t off)
{
    uint32_t n = c->n_cyc;
    size_t k = (size_t)(off >> CA_CHUNK_SHIFT);
    /* lock-free: the length before the table (ca_file_replace publishes them in the
     * other order), so k indexes a table at least that long */
    size_t n_chunks = __atomic_load_n(&f->n_chunks, __ATOMIC_ACQUIRE);
    const ca_chunk_t *chunks = __atomic_load_n(&f->chunks, __ATOMIC_ACQUIRE);
    if (!n || k >= n_chunks || chunks[k].cyc == CA_NO_CYC)
        return atomic_load(&c->mode) == CA_MODE_CYCLIC;
    /* a reader that hints its position (cache_hint.c) steers it alone meanwhile */
    if (atomic_load(&c->hint_until_ns) > fu_now_ns())
        return atomic_load(&c->mode) == CA_MODE_CYCLIC;
    /* a chunk kept as small (a small group's, or holding bytes of one, like a rope table
     * every layer reads) says nothing about where the reader is */
    if (__atomic_load_n(&chunks[k].small, __ATOMIC_RELAXED))
        return atomic_load(&c->mode) == CA_MODE_CYCLIC;
    uint32_t cyc = chunks[k].cyc;
    uint32_t prev = atomic_load(&c->pos);
    uint32_t delta = (uint32_t)(((uint64_t)cyc + n - prev) % n);
    if (delta == 0)
        return atomic_load(&c->mode) == CA_MODE_CYCLIC;
    /* a cursor a little behind the leading one (another thread of the same reader in
     * this group, or the kernel's readahead for it): neither a step nor a jump */
    if (n - delta <= c->trail && atomic_load(&c->mode) == CA_MODE_CYCLIC)
        return 1;
    int fwd = delta <= n / 8 + 4;
    uint32_t s = atomic_load(&c->fwd_score);
    int32_t target = fwd ? 1024 : 0;
    s = (uint32_t)((int32_t)s + (target - (int32_t)s) / 16);
    atomic_store(&c->fwd_score, s);
    if (s > 600)
        atomic_store(&c->mode, CA_MODE_CYCLIC);
    else if (s < 400)
        atomic_store(&c->mode, CA_MODE_RANDOM);
    int cyclic = atomic_load(&c->mode) == CA_MODE_CYCLIC;
    if (fwd) {
        atomic_store(&c->pos, cyc);
        atomic_store(&c->jumps, 0);
        /* a forward step across the end of the ring: a new cycle */
        if (cyc < prev && cyclic) {
            uint64_t now = sx_get(&c->sx->backing_bytes);
            uint64_t mark = atomic_exchange(&c->cycle_mark, now);
            atomic_store(&c->last_cycle_bytes, now - mark);
            sx_add(&c->sx->cycles, 1);
        }
    } else if (!cyclic || atomic_fetch_add(&c->jumps, 1) + 1 >= JUMPS_TO_MOVE) {
        /* A scanning reader makes isolated jumps (a chunk shared by two groups, a
         * stray header read); the position follows only repeated ones. */
        atomic_store(&c->pos, cyc);
        atomic_store(&c->jumps, 0);
    }
    return cyclic;
}
