/* tok_pretok.c — pre-tokenizers: turn one chunk of (normalized) text into pieces.
 *
 * The ops run as a streaming pipeline: op k hands each piece it produces straight to
 * op k+1, and the last op hands it to the model callback, so no list of all pieces is
 * ever built (each op only keeps per-level scratch buffers). Empty pieces vanish.
 *   Split(regex|literal, behavior, invert): the matches and the gaps between them form
 *       ranges; `behavior` decides what becomes a piece (tokenizers' semantics):
 *       Isolated: every range; Removed: only gaps; Contiguous: runs of equal kind merged;
 *       MergedWithPrevious: a match joins the gap before it; MergedWithNext: a match joins
 *       the gap after it.
 *   ByteLevel(add_prefix_space, use_regex): optional leading ' ', optional GPT-2 regex
 *       split, then every byte is written as its GPT-2 character (tok_bytelevel.c).
 *   Metaspace(replacement, prepend_scheme, split): ' ' -> replacement; prepend the
 *       replacement (always, or only for the piece at offset 0 of the input: "first");
 *       optionally split MergedWithNext on the replacement. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

typedef struct {
    const tk_tokenizer_t *tk;
    tk_pre_scratch_t *scr;
    tk_piece_fn fn;
    void *ctx;
} pipe_t;

static int run(const pipe_t *p, size_t k, const char *s, size_t n, int first);

void tk_pre_scratch_free(tk_pre_scratch_t *scr)
{
    for (size_t i = 0; i < TK_MAX_PRE; i++) {
        tk_buf_free(&scr->a[i]);
        tk_buf_free(&scr->b[i]);
    }
}

/* ---- split: ranges through a behaviour filter ------------------------------------ */

/* The behaviour filter holds back at most one range (`pend`) and emits merged ranges of
 * s to op k+1. */
typedef struct {
    const pipe_t *p;
    size_t k;
    const char *s;
    int first, behavior, invert;
    int has, pm; /* pending range exists; its match flag */
    size_t pa, pb;
    int prev_m;  /* match flag of the previous raw range */
} filt_t;

static int emit(filt_t *f, size_t a, size_t b)
{
    return run(f->p, f->k + 1, f->s + a, b - a, f->first && a == 0);
}

static int flush_pend(filt_t *f)
{
    int rc = f->has ? emit(f, f->pa, f->pb) : 0;
    f->has = 0;
    return rc;
}

static int set_pend(filt_t *f, size_t a, size_t b, int m)
{
    int rc = flush_pend(f);
    f->has = 1;
    f->pa = a;
    f->pb = b;
    f->pm = m;
    return rc;
}

static int feed(filt_t *f, size_t a, size_t b, int m)
{
    int rc = 0;
    m ^= f->invert;
    switch (f->behavior) {
    case TK_SPLIT_ISOLATED:
        rc = emit(f, a, b);
        break;
    case TK_SPLIT_REMOVED:
        rc = m ? 0 : emit(f, a, b);
        break;
    case TK_SPLIT_CONTIGUOUS: /* runs of equal kind merge */
        if (f->has && f->pm == m)
            f->pb = b;
        else
            rc = set_pend(f, a, b, m);
        break;
    case TK_SPLIT_MERGED_PREV: /* a match right after a gap joins it */
        if (f->has && m && !f->prev_m)
            f->pb = b;
        else
            rc = set_pend(f, a, b, m);
        break;
    case TK_SPLIT_MERGED_NEXT: /* a match joins the gap right after it */
        if (f->has && f->pm && !m) {
            f->pb = b;
            f->pm = 0;
            rc = flush_pend(f);
        } else {
            rc = set_pend(f, a, b, m);
        }
        break;
    }
    f->prev_m = m;
    return rc;
}

/* Feed the matches of op (regex or literal) in s[0..n) and the gaps between them. */
static int split(const pipe_t *p, size_t k, const tk_pre_op_t *op, const char *s, size_t n,
                 int first)
{
    const uint8_t *u = (const uint8_t *)s;
    filt_t f = {p, k, s, first, op->behavior, op->invert, 0, 0, 0, 0, 0};
    size_t gap = 0, i = 0;
    int rc = 0;
    while (i < n && !rc) {
        size_t m = 0;
        if (op->regex != TK_RE_NONE)
            m = tk_re_match_at(op->regex, u, n, i);
        else if (op->lit_len && op->lit_len <= n - i && memcmp(s + i, op->lit, op->lit_len) == 0)
            m = op->lit_len;
        if (!m) {
            uint32_t cp;
            i += op->regex != TK_RE_NONE ? tk_utf8_next(u + i, n - i, &cp) : 1;
            continue;
        }
        if (gap < i)
            rc = feed(&f, gap, i, 0);
        if (!rc)
            rc = feed(&f, i, i + m, 1);
        i += m;
        gap = i;
    }
    if (!rc && gap < n)
        rc = feed(&f, gap, n, 0);
    if (!rc)
        rc = flush_pend(&f);
    return rc;
}

/* ---- byte level ------------------------------------------------------------------------ */

static int map_and_run(const pipe_t *p, size_t k, const char *s, size_t n, int first)
{
    tk_buf_t *b = &p->scr->b[k];
    int rc;
    if (n == 0)
        return 0;
    b->len = 0;
    if ((rc = tk_bytelevel_map(b, (const uint8_t *)s, n)))
        return rc;
    return run(p, k + 1, b->p, b->len, first);
}

static int bytelevel(const pipe_t *p, size_t k, const tk_pre_op_t *op, const char *s, size_t n,
                     int first)
{
    int rc;
    if (op->add_prefix_space && (n == 0 || s[0] != ' ')) {
        tk_buf_t *a = &p->scr->a[k];
        a->len = 0;
        if ((rc = tk_buf_add(a, " ", 1)) || (rc = tk_buf_add(a, s, n)))
            return rc;
        s = a->p;
        n = a->len;
    }
    if (!op->use_regex)
        return map_and_run(p, k, s, n, first);
    const uint8_t *u = (const uint8_t *)s;
    size_t gap = 0, i = 0;
    rc = 0;
    while (i < n && !rc) { /* GPT-2 regex, Isolated */
        size_t m = tk_re_match_at(TK_RE_GPT2, u, n, i);
        if (!m) {
            uint32_t cp;
            i += tk_utf8_next(u + i, n - i, &cp);
            continue;
        }
        if (gap < i)
            rc = map_and_run(p, k, s + gap, i - gap, first && gap == 0);
        if (!rc)
            rc = map_and_run(p, k, s + i, m, first && i == 0);
        i += m;
        gap = i;
    }
    if (!rc && gap < n)
        rc = map_and_run(p, k, s + gap, n - gap, first && gap == 0);
    return rc;
}

/* ---- metaspace ------------------------------------------------------------------------ */

static int metaspace(const pipe_t *p, size_t k, const tk_pre_op_t *op, const char *s, size_t n,
                     int first)
{
    tk_buf_t *a = &p->scr->a[k];
    int rc;
    a->len = 0;
    int starts = n > 0 && s[0] == ' '; /* then it starts with the replacement already */
    if (!starts && op->lit_len <= n && memcmp(s, op->lit, op->lit_len) == 0)
        starts = 1;
    if (!starts && (op->prepend_scheme == TK_PREPEND_ALWAYS ||
                    (op->prepend_scheme == TK_PREPEND_FIRST && first)))
        if ((rc = tk_buf_add(a, op->lit, op->lit_len)))
            return rc;
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        while (j < n && s[j] != ' ')
            j++;
        if ((rc = tk_buf_add(a, s + i, j - i)))
            return rc;
        if (j < n && (rc = tk_buf_add(a, op->lit, op->lit_len)))
            return rc;
        i = j;
    }
    if (a->len == 0)
        return 0;
    if (!op->split)
        return run(p, k + 1, a->p, a->len, first);
    tk_pre_op_t sp = {.kind = TK_PRE_SPLIT, .regex = TK_RE_NONE, .lit = op->lit,
                      .lit_len = op->lit_len, .behavior = TK_SPLIT_MERGED_NEXT};
    return split(p, k, &sp, a->p, a->len, first);
}

/* ---- pipeline ------------------------------------------------------------------------ */

static int run(const pipe_t *p, size_t k, const char *s, size_t n, int first)
{
    if (n == 0)
        return 0;
    if (k == p->tk->n_pre)
        return p->fn(p->ctx, s, n);
    const tk_pre_op_t *op = &p->tk->pre[k];
    switch (op->kind) {
    case TK_PRE_SPLIT:
        return split(p, k, op, s, n, first);
    case TK_PRE_BYTELEVEL:
        return bytelevel(p, k, op, s, n, first);
    default:
        return metaspace(p, k, op, s, n, first);
    }
}

int tk_pretokenize(const tk_tokenizer_t *tk, const char *s, size_t n, int first,
                   tk_pre_scratch_t *scr, tk_piece_fn fn, void *ctx)
{
    if (tk->n_pre > TK_MAX_PRE)
        return -ENOTSUP;
    pipe_t p = {tk, scr, fn, ctx};
    return run(&p, 0, s, n, first);
}
