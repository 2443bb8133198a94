/* tok_encode.c — tk_encode: the whole encoding pipeline (see tok_internal.h).
 *
 *   1. split the raw text on non-normalized added tokens;
 *   2. normalize each ordinary segment, then split it on normalized added tokens;
 *   3. pre-tokenize each ordinary sub-segment into pieces and BPE every piece;
 *   4. with add_special, surround the ids by the post-processor's ids. */
#include <errno.h>
#include <stdlib.h>

#include "tok_internal.h"

typedef struct {
    tk_segs_t segs, nsegs;
    tk_buf_t norm;
    tk_pre_scratch_t pre;
    tk_bpe_scratch_t bpe;
    const tk_tokenizer_t *tk;
    tk_ids_t *out;
} ctx_t;

static void ctx_free(ctx_t *c)
{
    free(c->segs.v);
    free(c->nsegs.v);
    tk_buf_free(&c->norm);
    tk_pre_scratch_free(&c->pre);
    tk_bpe_scratch_free(&c->bpe);
}

/* The model step for one pre-tokenized piece (tk_piece_fn). */
static int on_piece(void *ctx, const char *s, size_t n)
{
    ctx_t *c = ctx;
    return tk_bpe_piece(c->tk, s, n, c->out, &c->bpe);
}

/* Pre-tokenize and BPE one ordinary piece of normalized text. */
static int model_text(const tk_tokenizer_t *tk, ctx_t *c, const char *s, size_t n, int first,
                      tk_ids_t *out)
{
    c->tk = tk;
    c->out = out;
    return tk_pretokenize(tk, s, n, first, &c->pre, on_piece, c);
}

/* Normalize one ordinary segment, split on normalized added tokens, model the rest. */
static int encode_segment(const tk_tokenizer_t *tk, ctx_t *c, const char *s, size_t n, int first,
                          tk_ids_t *out)
{
    int rc;
    const char *t = s;
    size_t tn = n;
    if (tk->n_norm) {
        if ((rc = tk_normalize(tk, s, n, &c->norm)))
            return rc;
        t = c->norm.p;
        tn = c->norm.len;
    }
    if (tk->trie_norm.n == 0)
        return model_text(tk, c, t, tn, first, out);
    if ((rc = tk_added_split(tk, &tk->trie_norm, t, tn, &c->nsegs)))
        return rc;
    for (size_t i = 0; i < c->nsegs.n; i++) {
        const tk_seg_t *g = &c->nsegs.v[i];
        if (g->tok >= 0)
            rc = tk_ids_push(out, tk->added[g->tok].id);
        else
            rc = model_text(tk, c, t + g->start, g->end - g->start, first && g->start == 0, out);
        if (rc)
            return rc;
    }
    return 0;
}

int tk_encode(const tk_tokenizer_t *tk, const char *text, size_t len, int add_special,
              int32_t **ids, size_t *n_ids)
{
    ctx_t c = {0};
    tk_ids_t out = {0};
    int rc = 0;
    *ids = NULL;
    *n_ids = 0;
    if (!tk || (!text && len))
        return -EINVAL;
    if (add_special)
        rc = tk_ids_add(&out, tk->pp_prefix, tk->n_prefix);
    if (!rc)
        rc = tk_added_split(tk, &tk->trie_raw, text ? text : "", len, &c.segs);
    for (size_t i = 0; !rc && i < c.segs.n; i++) {
        const tk_seg_t *g = &c.segs.v[i];
        if (g->tok >= 0)
            rc = tk_ids_push(&out, tk->added[g->tok].id);
        else
            rc = encode_segment(tk, &c, text + g->start, g->end - g->start, g->start == 0, &out);
    }
    if (!rc && add_special)
        rc = tk_ids_add(&out, tk->pp_suffix, tk->n_suffix);
    ctx_free(&c);
    if (rc) {
        free(out.v);
        return rc;
    }
    if (!out.v) { /* empty result: still hand back a valid pointer */
        out.v = malloc(sizeof *out.v);
        if (!out.v)
            return -ENOMEM;
    }
    *ids = out.v;
    *n_ids = out.n;
    return 0;
}
