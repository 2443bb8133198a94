/* cache_policy.c — which chunks the evictor invalidates first.
 *
 * Candidates are chunks with pages in the mount's page cache or an idle prefetch buffer,
 * never pinned ones. They are ranked in tiers, lowest evicted first:
 *   tier 0  bytes outside the cyclic order (headers, tokenizer, config, ...): LRU;
 *   tier 1  streamed model chunks (not in the planned resident set, ca_plan). With a
 *           CYCLIC reader: farthest ahead of the reader first — the chunk just passed
 *           is needed last (Belady's rule on a ring); plain LRU would evict exactly what
 *           is needed next. With a RANDOM reader every model chunk is here, LRU;
 *   tier 2  the resident set of a cyclic reader and prefetched chunks not read yet:
 *           farthest first, only when the budget shrank or the window overshot it;
 *   tier 3  chunks of small groups (<= budget/64, e.g. the final norm), or holding bytes
 *           of one (a rope table every layer reads; ca_plan sets `small`): LRU, last.
 * Keeping a fixed resident set and streaming the rest reads model - resident bytes from
 * the backing store per cycle; pure Belady with a prefetch window would let the window
 * erode the resident set by a window per cycle. */
#include "cache.h"

#include <stdlib.h>

static int victim_cmp(const void *a, const void *b)
{
    const ca_victim_t *x = a, *y = b;
    if (x->tier != y->tier)
        return x->tier < y->tier ? -1 : 1;
    return x->key < y->key ? -1 : x->key > y->key;
}

size_t ca_policy_victims(ca_t *c, ca_victim_t *out, size_t cap)
{
    size_t n = 0;
    int cyclic = atomic_load(&c->mode) == CA_MODE_CYCLIC;
    for (size_t i = 0; i < c->n_files && n < cap; i++) {
        ca_file_t *f = c->files[i];
        pthread_mutex_lock(&f->lock);
        for (size_t k = 0; k < f->n_chunks && n < cap; k++) {
            const ca_chunk_t *ch = &f->chunks[k];
            int idle_pf = ch->pf && ch->pf->state == CA_PF_READY && ch->pf->refs == 0;
            if ((!ch->npages && !idle_pf) || ch->pinned)
                continue;
            ca_victim_t v = { (uint32_t)i, (uint32_t)k, ch->last_use, UINT32_MAX, 1 };
            if (ch->cyc == CA_NO_CYC) {
                v.tier = 0;
            } else {
                v.dist = ca_distance(c, ch->cyc);
                if (ch->small) {
                    v.tier = 3;
                } else if (cyclic) {
                    /* a prefetched chunk not yet read is as valuable as the resident
                     * set: both cost a re-read; the farthest of them goes first */
                    v.tier = ch->keep || (idle_pf && !ch->pf->used) ? 2 : 1;
                    v.key = (uint64_t)(UINT32_MAX - v.dist); /* farthest first */
                }
            }
            out[n++] = v;
        }
        pthread_mutex_unlock(&f->lock);
    }
    qsort(out, n, sizeof *out, victim_cmp);
    return n;
}
