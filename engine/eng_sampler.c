/* eng_sampler.c — repetition penalty, temperature, top-k / min-p / top-p, seeded draw. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eng_sampler.h"

typedef struct {
    float v;
    int32_t id;
} smp_cand_t;

struct smp {
    smp_params_t p;
    int n;
    uint64_t rng;
    smp_cand_t *cand;
    unsigned char *seen;
};

int smp_create(const smp_params_t *p, int n_vocab, smp_t **out)
{
    *out = NULL;
    smp_t *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->p = *p;
    s->n = n_vocab;
    s->rng = p->seed ? p->seed : 0x9e3779b97f4a7c15ull;
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    s->seen = calloc((size_t)n_vocab, 1);
    if (!s->cand || !s->seen) {
        smp_free(s);
        return -ENOMEM;
    }
    *out = s;
    return 0;
}

void smp_free(smp_t *s)
{
    if (!s)
        return;
    free(s->cand);
    free(s->seen);
    free(s);
}

int smp_argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

/* xorshift64*: uniform in [0, 1) from the top 24 bits. */
static float smp_uniform(smp_t *s)
{
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return (float)((s->rng * 0x2545f4914f6cdd1dull) >> 40) / 16777216.0f;
}

static int smp_cmp(const void *a, const void *b)
{
    const smp_cand_t *x = a, *y = b;
    if (x->v != y->v)
        return x->v > y->v ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int32_t smp_sample(smp_t *s, float *logits, const int32_t *history, size_t n_history)
{
    const int n = s->n;
    if (s->p.repeat_penalty > 0 && s->p.repeat_penalty != 1.0f) {
        memset(s->seen, 0, (size_t)n);
        for (size_t i = 0; i < n_history; i++)
            if (history[i] >= 0 && history[i] < n && !s->seen[history[i]]) {
                s->seen[history[i]] = 1;
                float *l = &logits[history[i]];
                *l = *l > 0 ? *l / s->p.repeat_penalty : *l * s->p.repeat_penalty;
            }
    }
    if (s->p.temp <= 0)
        return smp_argmax(logits, n);
    for (int i = 0; i < n; i++) {
        s->cand[i].v = logits[i] / s->p.temp;
        s->cand[i].id = i;
    }
    int m = n;
    if (s->p.top_k > 0 && s->p.top_k < n) {
        /* Partial selection: keep the k largest (quickselect-free: a bounded insertion
         * pass is O(n k) but k is small; large k falls back to a full sort). */
        if (s->p.top_k <= 64) {
            int k = s->p.top_k, have = 0;
            smp_cand_t top[64];
            for (int i = 0; i < n; i++) {
                smp_cand_t c = s->cand[i];
                if (have == k && smp_cmp(&c, &top[k - 1]) >= 0)
                    continue;
                int j = have < k ? have++ : k - 1;
                while (j > 0 && smp_cmp(&c, &top[j - 1]) < 0) {
                    top[j] = top[j - 1];
                    j--;
                }
                top[j] = c;
            }
            memcpy(s->cand, top, (size_t)k * sizeof *top);
            m = k;
        } else {
            qsort(s->cand, (size_t)n, sizeof *s->cand, smp_cmp);
            m = s->p.top_k;
        }
    } else {
        qsort(s->cand, (size_t)n, sizeof *s->cand, smp_cmp);
    }
    /* softmax over the m candidates (sorted, largest first) */
    float mx = s->cand[0].v;
    double sum = 0;
    for (int i = 0; i < m; i++) {
        s->cand[i].v = expf(s->cand[i].v - mx);
        sum += s->cand[i].v;
    }
    for (int i = 0; i < m; i++)
        s->cand[i].v = (float)(s->cand[i].v / sum);
    if (s->p.min_p > 0) {
        float floor_ = s->p.min_p * s->cand[0].v;
        int k = 1;
        while (k < m && s->cand[k].v >= floor_)
            k++;
        m = k;
    }
    if (s->p.top_p > 0 && s->p.top_p < 1) {
        double c = 0;
        int k = 0;
        while (k < m) {
            c += s->cand[k++].v;
            if (c >= s->p.top_p)
                break;
        }
        m = k;
    }
    double total = 0;
    for (int i = 0; i < m; i++)
        total += s->cand[i].v;
    double r = smp_uniform(s) * total, c = 0;
    for (int i = 0; i < m; i++) {
        c += s->cand[i].v;
        if (r < c)
            return s->cand[i].id;
    }
    return s->cand[m - 1].id;
}
