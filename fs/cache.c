/* cache.c — residency accounting of the mount against the RAM budget (see cache.h). */
#include "cache.h"
#include "fu_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

/* ---- setup ------------------------------------------------------------------ */

int ca_init(ca_t *c, uint64_t budget, sx_stats_t *sx)
{
    memset(c, 0, sizeof *c);
    c->sx = sx;
    atomic_store(&c->budget, budget);
    atomic_store(&c->depth, 1);
    atomic_store(&c->hint_group, -1);
    if (pthread_mutex_init(&c->mu, NULL) || pthread_mutex_init(&c->evict_mu, NULL))
        return -ENOMEM;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&c->wake, &ca) || pthread_cond_init(&c->done, &ca);
    pthread_condattr_destroy(&ca);
    return rc ? -ENOMEM : 0;
}

/* Pages of chunk k of a file of `size` bytes (0 past the end). */
static uint16_t chunk_pages(uint64_t size, size_t k)
{
    uint64_t base = (uint64_t)k << CA_CHUNK_SHIFT;
    if (base >= size)
        return 0;
    uint64_t clen = size - base > CA_CHUNK ? CA_CHUNK : size - base;
    return (uint16_t)((clen + CA_PAGE - 1) >> CA_PAGE_SHIFT);
}

ca_file_t *ca_add_file(ca_t *c, uint64_t ino, uint64_t size, const char *display,
                       int (*group_at)(void *ctx, uint64_t off), void *ctx)
{
    if (c->n_files == c->cap_files) {
        size_t cap = c->cap_files ? c->cap_files * 2 : 16;
        ca_file_t **n = realloc(c->files, cap * sizeof *n);
        if (!n)
            return NULL;
        c->files = n;
        c->cap_files = cap;
    }
    ca_file_t *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->ino = ino;
    f->size = size;
    f->display = display;
    f->n_chunks = (size_t)((size + CA_CHUNK - 1) >> CA_CHUNK_SHIFT);
    f->chunks = f->n_chunks ? calloc(f->n_chunks, sizeof *f->chunks) : NULL;
    if ((f->n_chunks && !f->chunks) || pthread_mutex_init(&f->lock, NULL)) {
        free(f->chunks);
        free(f);
        return NULL;
    }
    if (pthread_cond_init(&f->pf_cv, NULL)) {
        pthread_mutex_destroy(&f->lock);
        free(f->chunks);
        free(f);
        return NULL;
    }
    /* The group of a chunk: the group of its first byte that belongs to a tensor,
     * probing at page granularity (headers and padding map to -1). */
    for (size_t k = 0; k < f->n_chunks; k++) {
        f->chunks[k].cap_pages = chunk_pages(size, k);
        f->chunks[k].cyc = CA_NO_CYC;
        f->chunks[k].group = -1;
        f->chunks[k].xgroup = -1;
        if (!group_at)
            continue;
        uint64_t base = (uint64_t)k << CA_CHUNK_SHIFT;
        for (uint64_t o = base; o < size && o < base + CA_CHUNK; o += CA_PAGE) {
            int g = group_at(ctx, o);
            if (g >= 0) {
                f->chunks[k].group = (int16_t)(g > INT16_MAX ? INT16_MAX : g);
                break;
            }
        }
    }
    f->index = (int)c->n_files;
    c->files[c->n_files++] = f;
    return f;
}

void ca_note_tensor(ca_t *c, ca_file_t *f, uint64_t off, uint64_t len, int group, const uint64_t *group_bytes,
                    size_t n_groups)
{
    if (!len || group < 0 || (size_t)group >= n_groups || off >= f->size || group > INT16_MAX)
        return;
    uint64_t end = len > f->size - off ? f->size : off + len;
    uint64_t span = ((end - 1) >> CA_CHUNK_SHIFT) - (off >> CA_CHUNK_SHIFT) + 1;
    if (span > c->trail)
        c->trail = span > UINT32_MAX ? UINT32_MAX : (uint32_t)span;
    for (size_t k = (size_t)(off >> CA_CHUNK_SHIFT); k < f->n_chunks && ((uint64_t)k << CA_CHUNK_SHIFT) < end; k++) {
        ca_chunk_t *ch = &f->chunks[k];
        if (ch->group == group)
            continue;
        int x = ch->xgroup;
        if (x < 0 || (size_t)x >= n_groups || group_bytes[group] < group_bytes[x])
            ch->xgroup = (int16_t)group;
    }
}

void ca_free(ca_t *c)
{
    for (size_t i = 0; i < c->n_files; i++) {
        ca_file_t *f = c->files[i];
        for (size_t k = 0; k < f->n_chunks; k++)
            if (f->chunks[k].pf)
                ca_pf_free(c, &f->chunks[k]);
        pthread_mutex_destroy(&f->lock);
        pthread_cond_destroy(&f->pf_cv);
        free(f->chunks);
        while (f->old_tables) {
            ca_old_table_t *o = f->old_tables;
            f->old_tables = o->next;
            free(o->chunks);
            free(o);
        }
        free(f);
    }
    free(c->files);
    free(c->order);
    free(c->group_last);
    free(c->group_first);
    free(c->group_bytes);
    pthread_mutex_destroy(&c->evict_mu);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->wake);
    pthread_cond_destroy(&c->done);
    memset(c, 0, sizeof *c);
}

/* ---- accounting ---------------------------------------------------------------- */

uint64_t ca_total(const ca_t *c)
{
    return atomic_load(&c->pc_pages) * CA_PAGE + atomic_load(&c->daemon_bytes) + atomic_load(&c->evicting);
}

void ca_daemon_add(ca_t *c, int64_t delta)
{
    if (delta >= 0)
        atomic_fetch_add(&c->daemon_bytes, (uint64_t)delta);
    else
        atomic_fetch_sub(&c->daemon_bytes, (uint64_t)-delta);
}

static void wake_evictor(ca_t *c)
{
    pthread_mutex_lock(&c->mu);
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->mu);
}

/* Absolute CLOCK_MONOTONIC deadline ms from now. */
static struct timespec deadline_ms(long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int ca_try_reserve(ca_t *c, uint64_t bytes, uint64_t limit)
{
    uint64_t d = atomic_load(&c->daemon_bytes);
    for (;;) {
        uint64_t pc = atomic_load(&c->pc_pages) * CA_PAGE + atomic_load(&c->evicting);
        if (pc + d + bytes > limit)
            return 0;
        if (atomic_compare_exchange_weak(&c->daemon_bytes, &d, d + bytes))
            return 1;
    }
}

uint64_t ca_admit(ca_t *c, uint64_t len)
{
    if (!len)
        return 0;
    uint64_t budget = atomic_load(&c->budget);
    /* a READ larger than the budget waits for everything else, then goes alone */
    uint64_t need = len < budget ? len : budget;
    if (!atomic_load(&c->want) && ca_try_reserve(c, len, budget - need + len))
        return len;
    if (!c->running) {
        ca_daemon_add(c, (int64_t)len);
        return len;
    }
    sx_add(&c->sx->admit_waits, 1);
    uint64_t t0 = fu_now_ns(), limit_ns = (uint64_t)CA_ADMIT_WAIT_MS * 1000000u;
    atomic_fetch_add(&c->want, need);
    pthread_mutex_lock(&c->mu);
    /* first come, first served: without the order, a 1 MiB READ loses every race for
     * the room freed to the READs arriving after it */
    uint64_t ticket = c->adm_next++, t_head = 0;
    int ok = 0;
    for (;;) {
        budget = atomic_load(&c->budget);
        need = len < budget ? len : budget;
        if (!c->running)
            break;
        if (c->adm_head == ticket) {
            if ((ok = ca_try_reserve(c, len, budget - need + len)))
                break;
            /* pinned pages (never evicted) leave no room for it: waiting does not help */
            if (atomic_load(&c->pinned_pages) * CA_PAGE + need > budget)
                break;
            /* the head waits at most CA_ADMIT_WAIT_MS, so the queue always moves */
            uint64_t now = fu_now_ns();
            if (!t_head)
                t_head = now;
            else if (now - t_head >= limit_ns)
                break;
        }
        pthread_cond_signal(&c->wake);
        struct timespec ts = deadline_ms(10);
        pthread_cond_timedwait(&c->done, &c->mu, &ts);
    }
    if (c->adm_head == ticket)
        c->adm_head++;
    pthread_cond_broadcast(&c->done);
    pthread_mutex_unlock(&c->mu);
    atomic_fetch_sub(&c->want, need);
    if (!ok) {
        fu_log(FU_LOG_DEBUG, "READ of %llu bytes admitted over the budget after %llu ms (pinned %llu bytes)",
               (unsigned long long)len, (unsigned long long)((fu_now_ns() - t0) / 1000000),
               (unsigned long long)(atomic_load(&c->pinned_pages) * CA_PAGE));
        sx_add(&c->sx->admit_over, 1);
        ca_daemon_add(c, (int64_t)len);
    }
    sx_add(&c->sx->admit_wait_ns, fu_now_ns() - t0);
    return len;
}

void ca_admit_done(ca_t *c, uint64_t reserved)
{
    ca_daemon_add(c, -(int64_t)reserved);
    ca_settle(c);
    /* room for waiting READs: they re-check after a round or on this signal */
    if (atomic_load(&c->want)) {
        pthread_mutex_lock(&c->mu);
        pthread_cond_broadcast(&c->done);
        pthread_mutex_unlock(&c->mu);
    }
}

void ca_served(ca_t *c, ca_file_t *f, uint64_t off, uint64_t len)
{
    if (len == 0)
        return;
    uint64_t now = fu_now_ns(), added = 0, pinned = 0;
    pthread_mutex_lock(&f->lock);
    /* clipped under the lock: the file may have been replaced (ca_file_replace) since the
     * READ began; the table always covers f->size */
    uint64_t size = f->size, end = off + len > size ? size : off + len;
    uint64_t p0 = off >> CA_PAGE_SHIFT, p1 = off < end ? (end - 1) >> CA_PAGE_SHIFT : 0; /* inclusive */
    for (uint64_t p = p0; off < end && p <= p1; p++) {
        ca_chunk_t *ch = &f->chunks[p >> (CA_CHUNK_SHIFT - CA_PAGE_SHIFT)];
        unsigned i = (unsigned)(p & (CA_PAGES - 1));
        uint64_t m = 1ull << (i & 63);
        if (!(ch->bits[i >> 6] & m)) {
            ch->bits[i >> 6] |= m;
            ch->npages++;
            added++;
            pinned += ch->pinned;
        }
        ch->last_use = now;
    }
    if (added) {
        atomic_fetch_add(&f->pages, added);
        atomic_fetch_add(&c->pc_pages, added);
        atomic_fetch_add(&c->pinned_pages, pinned);
    }
    pthread_mutex_unlock(&f->lock);
    /* no eviction is triggered here: until the caller releases its reservation
     * (ca_admit_done) or buffer, these pages are counted twice */
}

void ca_settle(ca_t *c)
{
    if (c->running && ca_total(c) > atomic_load(&c->budget))
        wake_evictor(c);
}

void ca_pf_stale_done(ca_t *c, ca_file_t *f, ca_chunk_t *ch)
{
    ca_pf_t *pf = ch->pf;
    if (!pf || !pf->stale || pf->state == CA_PF_INFLIGHT || pf->refs)
        return;
    ca_pf_free(c, ch);
    pthread_cond_broadcast(&f->pf_cv);
}

/* Clear the page bits of chunk k (under f->lock). Returns the bytes released. */
static uint64_t clear_pages(ca_t *c, ca_file_t *f, size_t k)
{
    ca_chunk_t *ch = &f->chunks[k];
    uint64_t n = ch->npages;
    if (!n)
        return 0;
    memset(ch->bits, 0, sizeof ch->bits);
    ch->npages = 0;
    atomic_fetch_sub(&f->pages, n);
    atomic_fetch_sub(&c->pc_pages, n);
    if (ch->pinned)
        atomic_fetch_sub(&c->pinned_pages, n);
    return n * CA_PAGE;
}

void ca_pf_free(ca_t *c, ca_chunk_t *ch)
{
    ca_pf_t *pf = ch->pf;
    if (!pf)
        return;
    if (!pf->used)
        sx_add(&c->sx->pf_wasted, 1);
    uint32_t cap = pf->cap;
    if (cap == CA_PAGE)
        free(pf->data); /* a stored chunk's sentinel page (prefetch.c) */
    else
        munmap(pf->data, cap);
    free(pf);
    ch->pf = NULL;
    ca_daemon_add(c, -(int64_t)cap);
}

uint64_t ca_chunk_clear(ca_t *c, ca_file_t *f, size_t k)
{
    ca_chunk_t *ch = &f->chunks[k];
    uint64_t freed = 0;
    if (ch->pf && ch->pf->state == CA_PF_READY && ch->pf->refs == 0) {
        freed += ch->pf->cap;
        ca_pf_free(c, ch);
    }
    return freed + clear_pages(c, f, k);
}

int ca_file_replace(ca_t *c, ca_file_t *f, uint64_t size, struct src *src)
{
    /* one caller (the watcher thread): n_chunks does not change under us */
    size_t n = (size_t)((size + CA_CHUNK - 1) >> CA_CHUNK_SHIFT);
    ca_chunk_t *nt = NULL;
    ca_old_table_t *old = NULL;
    if (n > f->n_chunks) {
        nt = calloc(n, sizeof *nt);
        old = malloc(sizeof *old);
        if (!nt || !old) {
            free(nt);
            free(old);
            return -ENOMEM;
        }
    }
    pthread_mutex_lock(&f->lock);
    if (nt) {
        if (f->n_chunks)
            memcpy(nt, f->chunks, f->n_chunks * sizeof *nt);
        for (size_t k = f->n_chunks; k < n; k++) {
            nt[k].cyc = CA_NO_CYC;
            nt[k].group = -1;
            nt[k].xgroup = -1;
        }
        old->chunks = f->chunks;
        old->next = f->old_tables;
        f->old_tables = old;
        /* the table before its length: a lock-free reader that sees the new length sees
         * the new table (the old one stays valid for the old length) */
        __atomic_store_n(&f->chunks, nt, __ATOMIC_RELEASE);
        __atomic_store_n(&f->n_chunks, n, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&f->size, size, __ATOMIC_RELEASE);
    __atomic_store_n(&f->src, src, __ATOMIC_RELEASE);
    for (size_t k = 0; k < f->n_chunks; k++) {
        ca_chunk_t *ch = &f->chunks[k];
        ch->cap_pages = chunk_pages(size, k);
        if (ch->pf) {
            ch->pf->stale = 1;
            ca_pf_stale_done(c, f, ch);
        }
    }
    /* buffers still read into (INFLIGHT) or pointed at (a READ reply, a notify_store in
     * progress) are freed by their user; the kernel's pages are invalidated only after
     * that, so no old byte is stored into the page cache after the invalidation */
    for (size_t k = 0; k < f->n_chunks;) {
        ca_pf_t *pf = f->chunks[k].pf;
        if (pf && pf->stale) {
            pthread_cond_wait(&f->pf_cv, &f->lock);
            k = 0;
            continue;
        }
        k++;
    }
    for (size_t k = 0; k < f->n_chunks; k++)
        clear_pages(c, f, k);
    pthread_mutex_unlock(&f->lock);
    return 0;
}

void ca_forget(ca_t *c, ca_file_t *f)
{
    pthread_mutex_lock(&f->lock);
    for (size_t k = 0; k < f->n_chunks; k++)
        clear_pages(c, f, k);
    pthread_mutex_unlock(&f->lock);
}

uint64_t ca_file_resident(const ca_file_t *f)
{
    uint64_t b = atomic_load(&((ca_file_t *)f)->pages) * CA_PAGE;
    return b > f->size ? f->size : b;
}

void ca_file_foreach(ca_file_t *f, void (*fn)(void *ctx, uint64_t off, uint64_t len), void *ctx)
{
    pthread_mutex_lock(&f->lock);
    uint64_t run0 = 0, runlen = 0;
    for (size_t k = 0; k < f->n_chunks; k++) {
        const ca_chunk_t *ch = &f->chunks[k];
        for (unsigned i = 0; i < CA_PAGES; i++) {
            uint64_t off = ((uint64_t)k << CA_CHUNK_SHIFT) + ((uint64_t)i << CA_PAGE_SHIFT);
            int on = ch->npages && (ch->bits[i >> 6] >> (i & 63) & 1);
            if (on) {
                if (!runlen)
                    run0 = off;
                runlen += CA_PAGE;
            } else if (runlen) {
                fn(ctx, run0, runlen);
                runlen = 0;
            }
        }
    }
    if (runlen) {
        if (run0 + runlen > f->size)
            runlen = f->size - run0;
        fn(ctx, run0, runlen);
    }
    pthread_mutex_unlock(&f->lock);
}

void ca_set_pins(ca_t *c, const uint8_t *pinned, size_t n)
{
    for (size_t i = 0; i < c->n_files; i++) {
        ca_file_t *f = c->files[i];
        pthread_mutex_lock(&f->lock);
        for (size_t k = 0; k < f->n_chunks; k++) {
            ca_chunk_t *ch = &f->chunks[k];
            int g = ch->group;
            uint8_t pin = g >= 0 && (size_t)g < n && pinned[g];
            if (pin && !ch->pinned)
                atomic_fetch_add(&c->pinned_pages, ch->npages);
            else if (!pin && ch->pinned)
                atomic_fetch_sub(&c->pinned_pages, ch->npages);
            ch->pinned = pin;
        }
        pthread_mutex_unlock(&f->lock);
    }
    ca_plan(c);
}

/* ---- budget changes ---------------------------------------------------------------- */

void ca_set_budget(ca_t *c, uint64_t budget)
{
    atomic_store(&c->budget, budget);
    ca_plan(c);
    pthread_mutex_lock(&c->mu);
    pthread_cond_signal(&c->wake);
    for (int i = 0; i < 200 && c->running && ca_total(c) > budget; i++) {
        struct timespec ts = deadline_ms(10);
        pthread_cond_timedwait(&c->done, &c->mu, &ts);
    }
    pthread_mutex_unlock(&c->mu);
}

void ca_drop(ca_t *c)
{
    pthread_mutex_lock(&c->mu);
    uint64_t gen = ++c->drop_gen;
    pthread_cond_signal(&c->wake);
    for (int i = 0; i < 500 && c->running && c->drop_done < gen; i++) {
        struct timespec ts = deadline_ms(10);
        pthread_cond_timedwait(&c->done, &c->mu, &ts);
    }
    pthread_mutex_unlock(&c->mu);
}
