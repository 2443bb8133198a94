/* mkmodel_stream.c — generating tensor bytes on worker threads and writing them in order.
 *
 * A ring of NSLOT chunk buffers (CHUNK bytes each) bounds the memory: the main thread
 * assigns element ranges of the current tensor to free slots, workers fill them (any
 * order, any thread: values are counter-based), and the main thread writes the slots
 * back in order as they complete, so generation overlaps the write() of earlier chunks. */
#include "mkmodel.h"
#include "fu_util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (4u << 20)
#define NSLOT 6
#define MAX_THREADS 16

enum { SL_FREE = 0, SL_PENDING, SL_BUSY, SL_DONE };

typedef struct {
    int state;
    const mm_tensor_t *t;
    int gguf;
    mm_dtype_t dtype;
    uint64_t first;             /* first element */
    size_t n;                   /* elements */
    uint8_t *buf;
} slot_t;

struct mm_stream {
    mm_spec_t spec;
    uint64_t seed;
    int nthreads;
    pthread_t th[MAX_THREADS];
    int started;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    int quit;
    slot_t slot[NSLOT];
    /* progress */
    int progress;
    uint64_t total, written, t0, last_draw;
};

/* ---- progress bar ---------------------------------------------------------------------- */

static void draw(mm_stream_t *st, int final)
{
    uint64_t now = fu_now_ns();
    if (!final && now - st->last_draw < 100000000ull)
        return;
    st->last_draw = now;
    double frac = st->total ? (double)st->written / (double)st->total : 1;
    if (frac > 1)
        frac = 1;
    double secs = (double)(now - st->t0) / 1e9;
    double rate = secs > 0 ? (double)st->written / secs : 0;
    char bar[31], a[32], b[32];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : ' ';
    bar[30] = 0;
    fprintf(stderr, "\r%3d%% [%s] %s / %s  %.0f MB/s  ", (int)(frac * 100), bar,
            fu_format_size(st->written, a, sizeof a), fu_format_size(st->total, b, sizeof b),
            rate / 1e6);
    if (final)
        fprintf(stderr, "%.1f s\n", secs);
    fflush(stderr);
}

/* ---- workers ---------------------------------------------------------------------------- */

static void fill_slot(mm_stream_t *st, slot_t *s)
{
    mm_fill(&st->spec, st->seed, s->t, s->gguf, s->dtype, s->first, s->n, s->buf);
}

static void *worker(void *arg)
{
    mm_stream_t *st = arg;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        slot_t *s = NULL;
        for (int i = 0; i < NSLOT && !s; i++)
            if (st->slot[i].state == SL_PENDING)
                s = &st->slot[i];
        if (!s) {
            if (st->quit)
                break;
            pthread_cond_wait(&st->work, &st->mu);
            continue;
        }
        s->state = SL_BUSY;
        pthread_mutex_unlock(&st->mu);
        fill_slot(st, s);
        pthread_mutex_lock(&st->mu);
        s->state = SL_DONE;
        pthread_cond_broadcast(&st->done);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

/* ---- API ------------------------------------------------------------------------------------ */

mm_stream_t *mm_stream_new(const mm_opts_t *o, uint64_t total)
{
    mm_gen_init();
    mm_stream_t *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->spec = o->spec;
    st->seed = o->seed;
    st->nthreads = o->threads < 1 ? 1 : o->threads > MAX_THREADS ? MAX_THREADS : o->threads;
    st->progress = o->progress;
    st->total = total;
    st->t0 = fu_now_ns();
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->work, NULL);
    pthread_cond_init(&st->done, NULL);
    for (int i = 0; i < NSLOT; i++) {
        st->slot[i].buf = malloc(CHUNK);
        if (!st->slot[i].buf) {
            mm_stream_free(st);
            return NULL;
        }
    }
    if (st->nthreads > 1) {
        for (int i = 0; i < st->nthreads; i++) {
            if (pthread_create(&st->th[i], NULL, worker, st) != 0)
                break;
            st->started++;
        }
        if (st->started == 0)
            st->nthreads = 1;   /* no threads: generate inline */
    }
    return st;
}

int mm_stream_tensor(mm_stream_t *st, int fd, const mm_tensor_t *t, int gguf, mm_dtype_t dtype)
{
    size_t esz = mm_dtype_size(dtype);
    size_t per = CHUNK / esz;
    uint64_t numel = mm_numel(t), next = 0;
    int rc = 0;

    if (st->started == 0) {                 /* inline: generate, write, repeat */
        slot_t *s = &st->slot[0];
        while (next < numel && rc == 0) {
            s->t = t;
            s->gguf = gguf;
            s->dtype = dtype;
            s->first = next;
            s->n = (size_t)(numel - next < per ? numel - next : per);
            fill_slot(st, s);
            rc = fu_write_full(fd, s->buf, s->n * esz);
            next += s->n;
            st->written += s->n * esz;
            if (st->progress)
                draw(st, 0);
        }
        return rc;
    }

    int sub = 0, wr = 0;                    /* ring positions: next to submit, to write */
    uint64_t written_el = 0;
    pthread_mutex_lock(&st->mu);
    while (written_el < numel) {
        while (next < numel && st->slot[sub].state == SL_FREE) {
            slot_t *s = &st->slot[sub];
            s->t = t;
            s->gguf = gguf;
            s->dtype = dtype;
            s->first = next;
            s->n = (size_t)(numel - next < per ? numel - next : per);
            s->state = SL_PENDING;
            next += s->n;
            sub = (sub + 1) % NSLOT;
            pthread_cond_broadcast(&st->work);
        }
        slot_t *w = &st->slot[wr];
        if (w->state != SL_DONE) {
            pthread_cond_wait(&st->done, &st->mu);
            continue;
        }
        pthread_mutex_unlock(&st->mu);
        if (rc == 0)
            rc = fu_write_full(fd, w->buf, w->n * esz);
        written_el += w->n;
        st->written += w->n * esz;
        if (st->progress)
            draw(st, 0);
        pthread_mutex_lock(&st->mu);
        w->state = SL_FREE;
        wr = (wr + 1) % NSLOT;
        if (rc != 0)                        /* drain what is queued, submit no more */
            numel = next;
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

void mm_stream_free(mm_stream_t *st)
{
    if (!st)
        return;
    if (st->progress && st->written)
        draw(st, 1);
    pthread_mutex_lock(&st->mu);
    st->quit = 1;
    pthread_cond_broadcast(&st->work);
    pthread_mutex_unlock(&st->mu);
    for (int i = 0; i < st->started; i++)
        pthread_join(st->th[i], NULL);
    for (int i = 0; i < NSLOT; i++)
        free(st->slot[i].buf);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->work);
    pthread_cond_destroy(&st->done);
    free(st);
}
