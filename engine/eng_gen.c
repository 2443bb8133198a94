/* eng_gen.c — generation loop: prefill the prompt in one batch, then one token at a time;
 * stop at EOS (unless ignored) or after n_predict tokens. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "eng_gen.h"
#include "fu_util.h"

int eg_utf8_valid(const char *s, size_t len, size_t *bad_off)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = u[i];
        size_t n;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 2; cp = c & 0x1f; min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 3; cp = c & 0x0f; min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 4; cp = c & 0x07; min = 0x10000;
        } else {
            goto bad;
        }
        if (i + n > len)
            goto bad;
        for (size_t k = 1; k < n; k++) {
            if ((u[i + k] & 0xc0) != 0x80)
                goto bad;
            cp = cp << 6 | (u[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            goto bad;
        i += n;
    }
    return 1;
bad:
    if (bad_off)
        *bad_off = i;
    return 0;
}

uint64_t eg_peak_rss(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    char line[256];
    uint64_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) {
            kb = strtoull(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb * 1024;
}

static int eg_is_eos(const eg_params_t *p, int32_t id)
{
    for (size_t i = 0; i < p->n_eos; i++)
        if (p->eos[i] == id)
            return 1;
    return 0;
}

static void eg_emit(tk_stream_t *ts, int32_t id, FILE *out)
{
    const char *t;
    size_t l;
    if (ts && out && tk_stream_push(ts, id, &t, &l) == 0 && l) {
        fwrite(t, 1, l, out);
        fflush(out);
    }
}

int eg_generate(em_model_t *m, const tk_tokenizer_t *tk, const int32_t *prompt, int n,
                const eg_params_t *p, FILE *out, eg_stats_t *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    const int V = em_config(m)->vocab_size;
    size_t cap = (size_t)n + (size_t)(p->n_predict > 0 ? p->n_predict : 0);
    int32_t *hist = malloc((cap + 1) * sizeof *hist);
    smp_t *smp = NULL;
    tk_stream_t *ts = tk && out ? tk_stream_new(tk) : NULL;
    float *lg = malloc((size_t)V * sizeof *lg);
    int rc = smp_create(&p->sampling, V, &smp);
    if (!hist || !lg || rc || (tk && out && !ts)) {
        rc = fu_err(err, errlen, -ENOMEM, "out of memory");
        goto out;
    }
    memcpy(hist, prompt, (size_t)n * sizeof *hist);
    size_t nh = (size_t)n;
    st->n_prompt = n;
    uint64_t t0 = fu_now_ns();
    const float *logits;
    if ((rc = em_forward(m, prompt, n, 0, &logits, err, errlen)))
        goto out;
    st->prefill_ns = fu_now_ns() - t0;
    t0 = fu_now_ns();
    for (int i = 0; i < p->n_predict; i++) {
        memcpy(lg, logits, (size_t)V * sizeof *lg);
        int32_t id = smp_sample(smp, lg, hist, nh);
        hist[nh++] = id;
        st->n_gen++;
        if (!p->ignore_eos && eg_is_eos(p, id))
            break;
        eg_emit(ts, id, out);
        if (i + 1 == p->n_predict)
            break;
        if ((rc = em_forward(m, &id, 1, 0, &logits, err, errlen)))
            goto out;
    }
    st->decode_ns = fu_now_ns() - t0;
    if (ts && out) {
        const char *t;
        size_t l;
        if (tk_stream_flush(ts, &t, &l) == 0 && l)
            fwrite(t, 1, l, out);
        fflush(out);
    }
    st->tokens = malloc(((size_t)st->n_gen + 1) * sizeof *st->tokens);
    if (st->tokens)
        memcpy(st->tokens, hist + n, (size_t)st->n_gen * sizeof *hist);
out:
    st->bytes_read = em_bytes_read(m);
    tk_stream_free(ts);
    smp_free(smp);
    free(lg);
    free(hist);
    return rc;
}

void eg_stats_free(eg_stats_t *st)
{
    free(st->tokens);
    st->tokens = NULL;
}
