/* tok_pretok.c — pre-tokenizers: turn one chunk of (normalized) text into pieces.
 *
 * Each op maps every current piece to zero or more new pieces (empty pieces vanish):
 *   Split(regex|literal, behavior, invert): the matches and the gaps between them form
 *       ranges; `behavior` decides what becomes a piece (tokenizers' semantics):
 *       Isolated: every range; Removed: only gaps; Contiguous: runs of equal kind merged;
 *       MergedWithPrevious: a match joins the gap before it; MergedWithNext: the gap after.
 *   ByteLevel(add_prefix_space, use_regex): optional leading ' ', optional GPT-2 regex
 *       split, then every byte is written as its GPT-2 character (tok_bytelevel.c).
 *   Metaspace(replacement, prepend_scheme, split): ' ' -> replacement; prepend the
 *       replacement (always, or only for the piece at offset 0 of the input: "first");
 *       optionally split MergedWithNext on the replacement. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* ---- piece lists --------------------------------------------------------------- */

static void pieces_reset(tk_pieces_t *p)
{
    p->n = 0;
    p->buf.len = 0;
}

static int pieces_grow(tk_pieces_t *p)
{
    if (p->n < p->cap)
        return 0;
    size_t cap = p->cap ? p->cap * 2 : 64;
    size_t *off = realloc(p->off, cap * sizeof *off);
    if (!off)
        return -ENOMEM;
    p->off = off;
    size_t *len = realloc(p->len, cap * sizeof *len);
    if (!len)
        return -ENOMEM;
    p->len = len;
    uint8_t *first = realloc(p->first, cap);
    if (!first)
        return -ENOMEM;
    p->first = first;
    p->cap = cap;
    return 0;
}

/* Append a piece made of a + b (either may be empty); nothing when both are empty. */
static int pieces_push2(tk_pieces_t *p, const char *a, size_t alen, const char *b, size_t blen,
                        int first)
{
    int rc;
    if (alen + blen == 0)
        return 0;
    if ((rc = pieces_grow(p)))
        return rc;
    p->off[p->n] = p->buf.len;
    if ((rc = tk_buf_add(&p->buf, a, alen)) || (rc = tk_buf_add(&p->buf, b, blen)))
        return rc;
    p->len[p->n] = alen + blen;
    p->first[p->n] = (uint8_t)first;
    p->n++;
    return 0;
}

static int pieces_push(tk_pieces_t *p, const char *s, size_t n, int first)
{
    return pieces_push2(p, s, n, NULL, 0, first);
}

void tk_pieces_free(tk_pieces_t *p)
{
    tk_buf_free(&p->buf);
    free(p->off);
    free(p->len);
    free(p->first);
    memset(p, 0, sizeof *p);
}

/* ---- split ranges ------------------------------------------------------------------ */

typedef struct {
    size_t a, b;
    int m;
} range_t;

typedef struct {
    range_t *v;
    size_t n, cap;
} ranges_t;

static int range_push(ranges_t *r, size_t a, size_t b, int m)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        range_t *v = realloc(r->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        r->v = v;
        r->cap = cap;
    }
    r->v[r->n++] = (range_t){a, b, m};
    return 0;
}

/* Matches of op (regex or literal) in s[0..n) and the gaps between them, in order. */
static int find_ranges(const tk_pre_op_t *op, const uint8_t *s, size_t n, ranges_t *r)
{
    size_t gap = 0, i = 0;
    int rc;
    r->n = 0;
    while (i < n) {
        size_t m = 0;
        if (op->regex != TK_RE_NONE) {
            m = tk_re_match_at(op->regex, s, n, i);
        } else if (op->lit_len && op->lit_len <= n - i && memcmp(s + i, op->lit, op->lit_len) == 0) {
            m = op->lit_len;
        }
        if (!m) {
            uint32_t cp;
            i += op->regex != TK_RE_NONE ? tk_utf8_next(s + i, n - i, &cp) : 1;
            continue;
        }
        if (gap < i && (rc = range_push(r, gap, i, 0)))
            return rc;
        if ((rc = range_push(r, i, i + m, 1)))
            return rc;
        i += m;
        gap = i;
    }
    if (gap < n && (rc = range_push(r, gap, n, 0)))
        return rc;
    return 0;
}

/* Rewrite the ranges in place according to behavior (match flags already inverted). */
static void apply_behavior(ranges_t *r, int behavior)
{
    size_t k = 0;
    int prev = 0;
    switch (behavior) {
    case TK_SPLIT_ISOLATED:
        return;
    case TK_SPLIT_REMOVED:
        for (size_t i = 0; i < r->n; i++)
            if (!r->v[i].m)
                r->v[k++] = r->v[i];
        break;
    case TK_SPLIT_CONTIGUOUS:
        for (size_t i = 0; i < r->n; i++) {
            if (k && r->v[i].m == prev)
                r->v[k - 1].b = r->v[i].b;
            else
                r->v[k++] = r->v[i];
            prev = r->v[i].m;
        }
        break;
    case TK_SPLIT_MERGED_PREV:
        for (size_t i = 0; i < r->n; i++) {
            if (k && r->v[i].m && !prev)
                r->v[k - 1].b = r->v[i].b;
            else
                r->v[k++] = r->v[i];
            prev = r->v[i].m;
        }
        break;
    case TK_SPLIT_MERGED_NEXT: {
        /* walk backwards, building the result at the end of the array, then shift down */
        size_t top = r->n;
        for (size_t i = r->n; i-- > 0;) {
            range_t x = r->v[i];
            if (top < r->n && x.m && !prev)
                r->v[top].a = x.a;
            else
                r->v[--top] = x;
            prev = x.m;
        }
        memmove(r->v, r->v + top, (r->n - top) * sizeof *r->v);
        k = r->n - top;
        break;
    }
    default:
        return;
    }
    r->n = k;
}

/* ---- ops ---------------------------------------------------------------------------- */

static int op_split(const tk_pre_op_t *op, const char *s, size_t n, int first, ranges_t *r,
                    tk_pieces_t *out)
{
    int rc = find_ranges(op, (const uint8_t *)s, n, r);
    if (rc)
        return rc;
    if (op->invert)
        for (size_t i = 0; i < r->n; i++)
            r->v[i].m = !r->v[i].m;
    apply_behavior(r, op->behavior);
    for (size_t i = 0; i < r->n; i++)
        if ((rc = pieces_push(out, s + r->v[i].a, r->v[i].b - r->v[i].a, first && r->v[i].a == 0)))
            return rc;
    return 0;
}

static int push_mapped(tk_pieces_t *out, const char *s, size_t n, int first)
{
    int rc;
    if (n == 0)
        return 0;
    if ((rc = pieces_grow(out)))
        return rc;
    out->off[out->n] = out->buf.len;
    if ((rc = tk_bytelevel_map(&out->buf, (const uint8_t *)s, n)))
        return rc;
    out->len[out->n] = out->buf.len - out->off[out->n];
    out->first[out->n] = (uint8_t)first;
    out->n++;
    return 0;
}

static int op_bytelevel(const tk_pre_op_t *op, const char *s, size_t n, int first, ranges_t *r,
                        tk_buf_t *scratch, tk_pieces_t *out)
{
    int rc;
    if (op->add_prefix_space && (n == 0 || s[0] != ' ')) {
        scratch->len = 0;
        if ((rc = tk_buf_add(scratch, " ", 1)) || (rc = tk_buf_add(scratch, s, n)))
            return rc;
        s = scratch->p;
        n = scratch->len;
    }
    if (!op->use_regex)
        return push_mapped(out, s, n, first);
    tk_pre_op_t re = {.kind = TK_PRE_SPLIT, .regex = TK_RE_GPT2};
    if ((rc = find_ranges(&re, (const uint8_t *)s, n, r)))
        return rc;
    for (size_t i = 0; i < r->n; i++)
        if ((rc = push_mapped(out, s + r->v[i].a, r->v[i].b - r->v[i].a, first && r->v[i].a == 0)))
            return rc;
    return 0;
}

static int op_metaspace(const tk_pre_op_t *op, const char *s, size_t n, int first, ranges_t *r,
                        tk_buf_t *scratch, tk_pieces_t *out)
{
    int rc;
    scratch->len = 0;
    int starts = n > 0 && s[0] == ' '; /* becomes the replacement */
    if (!starts && op->lit_len <= n && memcmp(s, op->lit, op->lit_len) == 0)
        starts = 1;
    if (!starts && (op->prepend_scheme == TK_PREPEND_ALWAYS ||
                    (op->prepend_scheme == TK_PREPEND_FIRST && first)))
        if ((rc = tk_buf_add(scratch, op->lit, op->lit_len)))
            return rc;
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        while (j < n && s[j] != ' ')
            j++;
        if ((rc = tk_buf_add(scratch, s + i, j - i)))
            return rc;
        if (j < n && (rc = tk_buf_add(scratch, op->lit, op->lit_len)))
            return rc;
        i = j;
    }
    if (!op->split)
        return pieces_push(out, scratch->p, scratch->len, first);
    tk_pre_op_t sp = {.kind = TK_PRE_SPLIT, .regex = TK_RE_NONE, .lit = op->lit,
                      .lit_len = op->lit_len, .behavior = TK_SPLIT_MERGED_NEXT};
    return op_split(&sp, scratch->p, scratch->len, first, r, out);
}

int tk_pretokenize(const tk_tokenizer_t *tk, const char *s, size_t n, int first,
                   tk_pieces_t *out, tk_pieces_t *tmp)
{
    ranges_t r = {0};
    tk_buf_t scratch = {0};
    int rc;
    pieces_reset(out);
    if ((rc = pieces_push(out, s, n, first)))
        return rc;
    for (size_t k = 0; k < tk->n_pre && !rc; k++) {
        const tk_pre_op_t *op = &tk->pre[k];
        pieces_reset(tmp);
        for (size_t i = 0; i < out->n && !rc; i++) {
            const char *p = out->buf.p + out->off[i];
            size_t len = out->len[i];
            int f = out->first[i];
            if (op->kind == TK_PRE_SPLIT)
                rc = op_split(op, p, len, f, &r, tmp);
            else if (op->kind == TK_PRE_BYTELEVEL)
                rc = op_bytelevel(op, p, len, f, &r, &scratch, tmp);
            else
                rc = op_metaspace(op, p, len, f, &r, &scratch, tmp);
        }
        tk_pieces_t sw = *out;
        *out = *tmp;
        *tmp = sw;
    }
    free(r.v);
    tk_buf_free(&scratch);
    return rc;
}
