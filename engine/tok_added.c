/* tok_added.c — splitting text on added tokens, as tokenizers' AddedVocabulary does.
 *
 * Matching is leftmost-longest over all token strings (a byte trie): scanning from the
 * left, at the first position where some token matches take the longest one, then go
 * on after it. A match is then adjusted by the token's flags:
 *   single_word: dropped unless not preceded and not followed by a word character (\w);
 *   lstrip:      extends left over the whitespace (\s) before it (not past the previous match);
 *   rstrip:      extends right over the whitespace after it.
 * The text between matches forms ordinary segments; empty ones are dropped. */
#include <errno.h>
#include <stdlib.h>

#include "tok_internal.h"
#include "tok_unicode.h"

/* ---- trie --------------------------------------------------------------------- */

static int32_t new_node(tk_trie_t *t, uint8_t byte)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        tk_trie_node_t *v = realloc(t->node, cap * sizeof *v);
        if (!v)
            return -1;
        t->node = v;
        t->cap = cap;
    }
    if (t->n >= INT32_MAX)
        return -1;
    t->node[t->n] = (tk_trie_node_t){-1, -1, -1, byte};
    return (int32_t)t->n++;
}

int tk_trie_add(tk_trie_t *t, const char *key, size_t len, int32_t tok)
{
    if (len == 0)
        return 0; /* empty tokens never match */
    if (t->n == 0 && new_node(t, 0) < 0)
        return -ENOMEM;
    int32_t cur = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t b = (uint8_t)key[i];
        int32_t c = t->node[cur].child;
        while (c >= 0 && t->node[c].byte != b)
            c = t->node[c].sibling;
        if (c < 0) {
            c = new_node(t, b);
            if (c < 0)
                return -ENOMEM;
            t->node[c].sibling = t->node[cur].child;
            t->node[cur].child = c;
        }
        cur = c;
    }
    if (t->node[cur].token < 0) /* the first token with this text wins */
        t->node[cur].token = tok;
    t->first[(uint8_t)key[0] >> 3] |= (uint8_t)(1u << ((uint8_t)key[0] & 7));
    return 0;
}

void tk_trie_free(tk_trie_t *t)
{
    free(t->node);
    t->node = NULL;
    t->n = t->cap = 0;
}

/* Longest key starting at s[0..n): its length, the token in *tok; 0 if none. */
static size_t longest(const tk_trie_t *t, const uint8_t *s, size_t n, int32_t *tok)
{
    size_t best = 0;
    int32_t cur = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t c = t->node[cur].child;
        while (c >= 0 && t->node[c].byte != s[i])
            c = t->node[c].sibling;
        if (c < 0)
            break;
        cur = c;
        if (t->node[cur].token >= 0) {
            best = i + 1;
            *tok = t->node[cur].token;
        }
    }
    return best;
}

/* ---- character classes around a match -------------------------------------------- */

/* Code point of the character ending at s[end) (scanning back over continuation bytes). */
static uint32_t cp_before(const uint8_t *s, size_t end, size_t *start)
{
    size_t i = end - 1;
    size_t lim = end >= 4 ? end - 4 : 0;
    while (i > lim && (s[i] & 0xC0) == 0x80)
        i--;
    uint32_t cp;
    size_t l = tk_utf8_next(s + i, end - i, &cp);
    if (i + l != end) { /* not a well-formed character ending there: the last byte alone */
        i = end - 1;
        cp = TK_UTF8_BAD + s[i];
    }
    *start = i;
    return cp;
}

static int is_word(uint32_t cp) { return (tk_uc_flags(cp) & TK_UC_WORD) != 0; }
static int is_space(uint32_t cp) { return (tk_uc_flags(cp) & TK_UC_SPACE) != 0; }

static int push_seg(tk_segs_t *o, size_t a, size_t b, int32_t tok)
{
    if (tok < 0 && a == b)
        return 0;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        tk_seg_t *v = realloc(o->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        o->v = v;
        o->cap = cap;
    }
    o->v[o->n++] = (tk_seg_t){a, b, tok};
    return 0;
}

int tk_added_split(const tk_tokenizer_t *tk, const tk_trie_t *t, const char *text, size_t n,
                   tk_segs_t *out)
{
    const uint8_t *s = (const uint8_t *)text;
    out->n = 0;
    if (t->n == 0)
        return push_seg(out, 0, n, -1);
    size_t done = 0; /* end of the last accepted match */
    size_t i = 0;
    int rc;
    while (i < n) {
        if (!(t->first[s[i] >> 3] & (1u << (s[i] & 7)))) {
            i++;
            continue;
        }
        int32_t tok = -1;
        size_t len = longest(t, s + i, n - i, &tok);
        if (!len) {
            i++;
            continue;
        }
        size_t start = i, stop = i + len;
        i = stop; /* the search goes on after this match, kept or not */
        const tk_added_t *a = &tk->added[tok];
        if (a->single_word) {
            size_t p;
            uint32_t cp;
            int before = start > 0 && is_word(cp_before(s, start, &p));
            int after = stop < n && (tk_utf8_next(s + stop, n - stop, &cp), is_word(cp));
            if (before || after)
                continue;
        }
        if (a->lstrip) {
            while (start > done) {
                size_t p;
                if (!is_space(cp_before(s, start, &p)))
                    break;
                start = p;
            }
        }
        if (a->rstrip) {
            while (stop < n) {
                uint32_t cp;
                size_t l = tk_utf8_next(s + stop, n - stop, &cp);
                if (!is_space(cp))
                    break;
                stop += l;
            }
            i = stop;
        }
        if ((rc = push_seg(out, done, start, -1)) || (rc = push_seg(out, start, stop, tok)))
            return rc;
        done = stop;
    }
    return push_seg(out, done, n, -1);
}
