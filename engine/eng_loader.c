/* eng_loader.c — unit plans, resident buffers, and the double-buffered streaming reader.
 *
 * Plan of a unit: its tensors sorted by (file, offset) are merged into SPANS — runs in one
 * file whose gaps are at most EL_MAX_GAP bytes (the small norm vectors that sit between
 * matrices) — so a unit costs a handful of large preads. Each span goes to a 64-byte
 * aligned place in the unit buffer; a tensor's pointer is its span's place plus its
 * offset within the span.
 *
 * Streaming protocol (mutex mu, condition cv): a slot is EMPTY, LOADING or READY, and
 * `busy` while the engine computes from it. el_acquire(u) finds u in a slot (or asks the
 * reader to load it, the first time), waits for READY, then asks the reader to prefetch
 * the next streamed unit into the other slot. The reader thread serves one request at a
 * time outside the lock. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "eng_loader.h"
#include "fu_util.h"

#define EL_MAX_GAP (64u * 1024u)
#define EL_CHUNK (64u << 20)        /* bytes per pread */

typedef struct {
    int file;
    uint64_t off, len;          /* file range */
    size_t buf_off;
} el_span_t;

typedef struct {
    int n_items;
    const ew_tensor_t *items[EL_MAX_ITEMS];
    size_t item_off[EL_MAX_ITEMS];   /* place of each tensor in the unit buffer */
    int n_spans;
    el_span_t spans[EL_MAX_ITEMS];
    size_t bytes;               /* buffer size */
    void *resident;             /* buffer when resident */
} el_unit_t;

enum { EL_EMPTY, EL_LOADING, EL_READY };

typedef struct {
    int unit;
    int state;
    int busy;
    int rc;
    char err[256];
    void *buf;
} el_slot_t;

struct el_loader {
    ew_model_t *m;
    int n_units;
    el_unit_t *units;
    int n_resident;
    int streaming;
    el_slot_t slot[2];
    pthread_t reader;
    int reader_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int req;                    /* slot index the reader must fill, or -1 */
    size_t slot_bytes;          /* size of each slot buffer */
    int stop;
    eh_hint_t *hint;            /* flashfs hint channel, NULL when none */
};

/* ---- plans ------------------------------------------------------------------------- */

static int el_cmp_tensor(const void *a, const void *b)
{
    const ew_tensor_t *x = *(const ew_tensor_t *const *)a, *y = *(const ew_tensor_t *const *)b;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* The tensors of unit l (see EL_MAX_ITEMS). */
static void el_items(const ew_model_t *m, int l, el_unit_t *u)
{
    const ew_tensor_t *mats = l < m->cfg.num_hidden_layers ? m->layers[l].mat : &m->head;
    int n = l < m->cfg.num_hidden_layers ? EW_NMAT : 1;
    u->n_items = EL_MAX_ITEMS;
    memset(u->items, 0, sizeof u->items);
    for (int i = 0; i < n; i++) {
        u->items[i] = &mats[i];
        u->items[EW_NMAT + i] = mats[i].qs;
        u->items[2 * EW_NMAT + i] = mats[i].qb;
    }
}

static void el_plan(el_unit_t *u)
{
    const ew_tensor_t *sorted[EL_MAX_ITEMS];
    int ns = 0;
    for (int i = 0; i < u->n_items; i++)
        if (u->items[i])
            sorted[ns++] = u->items[i];
    qsort(sorted, (size_t)ns, sizeof sorted[0], el_cmp_tensor);
    u->n_spans = 0;
    size_t pos = 0;
    for (int i = 0; i < ns; i++) {
        const ew_tensor_t *t = sorted[i];
        el_span_t *s = u->n_spans ? &u->spans[u->n_spans - 1] : NULL;
        if (s && s->file == t->file && t->offset >= s->off + s->len &&
            t->offset - (s->off + s->len) <= EL_MAX_GAP) {
            uint64_t end = t->offset + t->length;
            pos += (size_t)(end - (s->off + s->len));
            s->len = end - s->off;
        } else {
            pos = (pos + 63) & ~(size_t)63;
            s = &u->spans[u->n_spans++];
            s->file = t->file;
            s->off = t->offset;
            s->len = t->length;
            s->buf_off = pos;
            pos += (size_t)t->length;
        }
        for (int k = 0; k < u->n_items; k++)
            if (u->items[k] == t)
                u->item_off[k] = s->buf_off + (size_t)(t->offset - s->off);
    }
    u->bytes = (pos + 63) & ~(size_t)63;
}

static int el_read_unit(ew_model_t *m, const el_unit_t *u, void *buf, char *err, size_t errlen)
{
    for (int i = 0; i < u->n_spans; i++) {
        const el_span_t *s = &u->spans[i];
        for (uint64_t done = 0; done < s->len;) {
            size_t n = s->len - done > EL_CHUNK ? EL_CHUNK : (size_t)(s->len - done);
            int rc = ew_pread(m, s->file, (char *)buf + s->buf_off + done, n, s->off + done, err, errlen);
            if (rc)
                return rc;
            done += n;
        }
    }
    return 0;
}

/* Unit buffers are large: anonymous mappings asked to use transparent huge pages (fewer
 * page faults when a unit is first read, fewer TLB misses in the matrix products). */
static void *el_alloc(size_t n)
{
    void *p = mmap(NULL, n ? n : 64, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    if (n >= (2u << 20))
        (void)madvise(p, n, MADV_HUGEPAGE);
#endif
    return p;
}

static void el_free(void *p, size_t n)
{
    if (p)
        munmap(p, n ? n : 64);
}

/* ---- reader thread ------------------------------------------------------------------ */

static void *el_reader(void *arg)
{
    el_loader_t *L = arg;
    pthread_mutex_lock(&L->mu);
    for (;;) {
        while (L->req < 0 && !L->stop)
            pthread_cond_wait(&L->cv, &L->mu);
        if (L->stop)
            break;
        el_slot_t *s = &L->slot[L->req];
        L->req = -1;
        int u = s->unit;
        eh_hint_t *hint = L->hint;
        pthread_mutex_unlock(&L->mu);
        char err[256] = "";
        if (hint) {
            /* the mount's layer group of the unit: layer.N, or the head's (the embedding
             * when it is tied) */
            char g[32];
            if (u < L->m->cfg.num_hidden_layers)
                snprintf(g, sizeof g, "layer.%d", u);
            else
                snprintf(g, sizeof g, "%s", L->m->tied ? "embed" : "head");
            eh_at(hint, g);
        }
        int rc = el_read_unit(L->m, &L->units[u], s->buf, err, sizeof err);
        pthread_mutex_lock(&L->mu);
        s->rc = rc;
        memcpy(s->err, err, sizeof err);
        s->state = EL_READY;
        pthread_cond_broadcast(&L->cv);
    }
    pthread_mutex_unlock(&L->mu);
    return NULL;
}

/* Ask the reader to load unit u into slot i (lock held; the reader is idle on entry). */
static void el_request(el_loader_t *L, int i, int u)
{
    L->slot[i].unit = u;
    L->slot[i].state = EL_LOADING;
    L->req = i;
    pthread_cond_broadcast(&L->cv);
}

static int el_any_loading(const el_loader_t *L)
{
    return L->slot[0].state == EL_LOADING || L->slot[1].state == EL_LOADING;
}

/* ---- public ------------------------------------------------------------------------- */

uint64_t el_slot_bytes(const ew_model_t *m)
{
    el_unit_t u;
    uint64_t mx = 0;
    for (int l = 0; l <= m->cfg.num_hidden_layers; l++) {
        memset(&u, 0, sizeof u);
        el_items(m, l, &u);
        el_plan(&u);
        if (u.bytes > mx)
            mx = u.bytes;
    }
    return 2 * mx;
}

int el_create(ew_model_t *m, int stream, uint64_t resident_budget, el_loader_t **out, char *err,
              size_t errlen)
{
    *out = NULL;
    el_loader_t *L = calloc(1, sizeof *L);
    if (!L)
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    L->m = m;
    L->req = -1;
    pthread_mutex_init(&L->mu, NULL);
    pthread_cond_init(&L->cv, NULL);
    L->n_units = m->cfg.num_hidden_layers + 1;
    L->units = calloc((size_t)L->n_units, sizeof *L->units);
    if (!L->units) {
        el_destroy(L);
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    }
    for (int l = 0; l < L->n_units; l++) {
        el_unit_t *u = &L->units[l];
        el_items(m, l, u);
        el_plan(u);
    }
    /* Choose the resident units and read them. */
    uint64_t used = 0;
    size_t max_streamed = 0;
    int rc = 0;
    for (int l = 0; l < L->n_units && !rc; l++) {
        el_unit_t *u = &L->units[l];
        if (!stream || used + u->bytes <= resident_budget) {
            used += u->bytes;
            if (!(u->resident = el_alloc(u->bytes)))
                rc = fu_err(err, errlen, -ENOMEM, "out of memory for unit %d (%zu bytes)", l, u->bytes);
            else
                rc = el_read_unit(m, u, u->resident, err, errlen);
            L->n_resident++;
        } else {
            if (u->bytes > max_streamed)
                max_streamed = u->bytes;
        }
    }
    if (!rc && L->n_resident < L->n_units) {
        L->streaming = 1;
        L->slot_bytes = max_streamed;
        for (int i = 0; i < 2 && !rc; i++) {
            L->slot[i].unit = -1;
            if (!(L->slot[i].buf = el_alloc(max_streamed)))
                rc = fu_err(err, errlen, -ENOMEM, "out of memory for a %zu-byte stream buffer", max_streamed);
        }
        if (!rc) {
            int e = pthread_create(&L->reader, NULL, el_reader, L);
            if (e)
                rc = fu_err(err, errlen, -e, "cannot start the reader thread");
            else
                L->reader_started = 1;
        }
    }
    if (rc) {
        el_destroy(L);
        return rc;
    }
    *out = L;
    return 0;
}

int el_n_units(const el_loader_t *L)
{
    return L->n_units;
}

uint64_t el_unit_bytes(const el_loader_t *L, int u)
{
    return L->units[u].bytes;
}

int el_n_resident(const el_loader_t *L)
{
    return L->n_resident;
}

int el_is_resident(const el_loader_t *L, int u)
{
    return L->units[u].resident != NULL;
}

static void el_fill_ptrs(const el_unit_t *u, const void *base, const void *ptrs[EL_MAX_ITEMS])
{
    for (int i = 0; i < u->n_items; i++)
        ptrs[i] = u->items[i] ? (const char *)base + u->item_off[i] : NULL;
}

int el_acquire(el_loader_t *L, int u, const void *ptrs[EL_MAX_ITEMS], char *err, size_t errlen)
{
    el_unit_t *U = &L->units[u];
    if (U->resident) {
        el_fill_ptrs(U, U->resident, ptrs);
        return 0;
    }
    pthread_mutex_lock(&L->mu);
    int s = L->slot[0].unit == u && L->slot[0].state != EL_EMPTY ? 0
          : L->slot[1].unit == u && L->slot[1].state != EL_EMPTY ? 1 : -1;
    if (s < 0) {                /* not predicted (first use): load it now */
        while (el_any_loading(L))
            pthread_cond_wait(&L->cv, &L->mu);
        s = L->slot[0].busy ? 1 : 0;
        el_request(L, s, u);
    }
    while (L->slot[s].state == EL_LOADING)
        pthread_cond_wait(&L->cv, &L->mu);
    el_slot_t *S = &L->slot[s];
    if (S->rc) {
        int rc = fu_err(err, errlen, S->rc, "%s", S->err);
        S->state = EL_EMPTY;
        S->unit = -1;
        pthread_mutex_unlock(&L->mu);
        return rc;
    }
    S->busy = 1;
    /* Prefetch the next streamed unit into the other slot. */
    int next = u;
    for (int k = 1; k <= L->n_units; k++) {
        int c = (u + k) % L->n_units;
        if (!L->units[c].resident) {
            next = c;
            break;
        }
    }
    el_slot_t *O = &L->slot[1 - s];
    if (next != u && !(O->unit == next && O->state != EL_EMPTY) && !O->busy && O->state != EL_LOADING)
        el_request(L, 1 - s, next);
    pthread_mutex_unlock(&L->mu);
    el_fill_ptrs(U, S->buf, ptrs);
    return 0;
}

void el_release(el_loader_t *L, int u)
{
    if (L->units[u].resident)
        return;
    pthread_mutex_lock(&L->mu);
    for (int i = 0; i < 2; i++)
        if (L->slot[i].unit == u)
            L->slot[i].busy = 0;
    pthread_mutex_unlock(&L->mu);
}

void el_set_hint(el_loader_t *L, eh_hint_t *h)
{
    pthread_mutex_lock(&L->mu);
    L->hint = h;
    pthread_mutex_unlock(&L->mu);
}

void el_destroy(el_loader_t *L)
{
    if (!L)
        return;
    if (L->reader_started) {
        pthread_mutex_lock(&L->mu);
        /* Let an in-flight read finish (it writes into a slot buffer). */
        while (el_any_loading(L) && L->req < 0)
            pthread_cond_wait(&L->cv, &L->mu);
        L->stop = 1;
        pthread_cond_broadcast(&L->cv);
        pthread_mutex_unlock(&L->mu);
        pthread_join(L->reader, NULL);
    }
    for (int i = 0; i < 2; i++)
        el_free(L->slot[i].buf, L->slot_bytes);
    if (L->units)
        for (int l = 0; l < L->n_units; l++)
            el_free(L->units[l].resident, L->units[l].bytes);
    free(L->units);
    pthread_mutex_destroy(&L->mu);
    pthread_cond_destroy(&L->cv);
    free(L);
}
