/* cache_policy.c — which chunks the evictor invalidates first.
 *
 * Current policy: least recently used first, pinned chunks never. (The scan-resistant
 * policy for cyclic layer readers replaces the key computed here.) */
#include "cache.h"

#include <stdlib.h>

static int victim_cmp(const void *a, const void *b)
{
    uint64_t x = ((const ca_victim_t *)a)->key, y = ((const ca_victim_t *)b)->key;
    return x < y ? -1 : x > y;
}

size_t ca_policy_victims(ca_t *c, ca_victim_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_files && n < cap; i++) {
        ca_file_t *f = c->files[i];
        pthread_mutex_lock(&f->lock);
        for (size_t k = 0; k < f->n_chunks && n < cap; k++) {
            const ca_chunk_t *ch = &f->chunks[k];
            if (!ch->npages || ch->pinned)
                continue;
            out[n++] = (ca_victim_t){ (uint32_t)i, (uint32_t)k, ch->last_use };
        }
        pthread_mutex_unlock(&f->lock);
    }
    qsort(out, n, sizeof *out, victim_cmp);
    return n;
}
