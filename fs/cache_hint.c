/* cache_hint.c — the reader tells the cache where it is (the `.flashfs/hint` channel).
 *
 * Without hints the reader position is inferred from READs (cache_order.c): robust for a
 * scan in layer order, but blind before the pattern is recognised, confused by readers whose
 * file order is not their execution order, and late by a READ round trip. A reader that
 * knows its next step (flashgen knows the next layer) says so: the position moves to just
 * before that group's first chunk, so the prefetch window starts at the group and the
 * eviction order (distance ahead of the position) is exact; for CA_HINT_HOLD_MS the READs
 * of the hinting reader (or of anyone) do not move it. */
#include "cache.h"
#include "fu_util.h"

#include <errno.h>

int ca_hint_at(ca_t *c, size_t group)
{
    uint32_t n = c->n_cyc;
    if (group >= c->n_groups || !c->group_first)
        return -EINVAL;
    uint32_t first = c->group_first[group];
    if (first == CA_NO_CYC || !n)
        return -ENOENT;
    uint32_t at = first ? first - 1 : n - 1;
    atomic_store(&c->hint_until_ns, fu_now_ns() + (uint64_t)CA_HINT_HOLD_MS * 1000000ull);
    uint32_t prev = atomic_exchange(&c->pos, at);
    atomic_store(&c->jumps, 0);
    atomic_store(&c->fwd_score, 1024);
    atomic_store(&c->mode, CA_MODE_CYCLIC);
    atomic_store(&c->hint_group, (int)group);
    /* back towards the start of the ring (the next token): a cycle, as for a READ that
     * wraps; positions compared as "the next chunk the reader needs" */
    uint32_t was = (uint32_t)(((uint64_t)prev + 1) % n);
    if (first < was && was - first > n / 2) {
        uint64_t now = sx_get(&c->sx->backing_bytes);
        uint64_t mark = atomic_exchange(&c->cycle_mark, now);
        atomic_store(&c->last_cycle_bytes, now - mark);
        sx_add(&c->sx->cycles, 1);
    }
    return 0;
}

void ca_hint_release(ca_t *c)
{
    atomic_store(&c->hint_until_ns, 0);
}
