/* tok_bpe.c — the BPE model: encode one pre-tokenized piece into ids.
 *
 * 1. ignore_merges: a piece that is itself in the vocabulary is emitted as is.
 * 2. The piece is split into characters; each becomes the id of that 1-character token.
 *    A character missing from the vocabulary becomes its bytes' "<0xNN>" tokens when
 *    byte_fallback is on and all exist, else the unk token (consecutive unks fused when
 *    fuse_unk), else it is dropped — exactly tokenizers' BPE::merge_word order.
 * 3. Merges: the symbols form a doubly linked list; every adjacent pair that has a merge
 *    sits in a min-heap keyed by (merge rank, position). Pop the best pair; skip it when
 *    stale (one side already merged away, or the pair no longer merges into the same id);
 *    else merge right into left and push the new pairs with the neighbours. Each merge
 *    costs O(log n), so a 100k-character piece stays fast.
 * 4. A long piece with SentencePiece word marks is merged word by word when the
 *    vocabulary proves that no token can span a "non-mark | mark" boundary. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

typedef struct {
    int32_t id;
    int32_t prev, next; /* -1 = none */
    int32_t alive;
} sym_t;

typedef struct {
    uint32_t rank;
    uint32_t pos;
    int32_t id;
} item_t;

static int less(const item_t *a, const item_t *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(item_t *h, size_t *n, item_t x)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!less(&x, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static item_t heap_pop(item_t *h, size_t *n)
{
    item_t top = h[0], x = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && less(&h[c + 1], &h[c]))
            c++;
        if (!less(&h[c], &x))
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n)
        h[i] = x;
    return top;
}

/* Make room for n symbols and the heap (at most n initial pairs + 2 per merge). */
static int scratch_fit(tk_bpe_scratch_t *scr, size_t n)
{
    if (n > (SIZE_MAX / sizeof(item_t)) / 4 || n > INT32_MAX)
        return -ENOMEM;
    if (n > scr->sym_cap) {
        void *p = realloc(scr->sym, n * sizeof(sym_t));
        if (!p)
            return -ENOMEM;
        scr->sym = p;
        scr->sym_cap = n;
    }
    if (3 * n > scr->heap_cap) {
        void *p = realloc(scr->heap, 3 * n * sizeof(item_t));
        if (!p)
            return -ENOMEM;
        scr->heap = p;
        scr->heap_cap = 3 * n;
    }
    return 0;
}

void tk_bpe_scratch_free(tk_bpe_scratch_t *scr)
{
    free(scr->sym);
    free(scr->heap);
    memset(scr, 0, sizeof *scr);
}

/* Id of the 1-character token s[0..l) with code point cp, or -1. */
static int32_t char_token(const tk_tokenizer_t *tk, const char *s, size_t l, uint32_t cp)
{
    if (cp < 0x800 && tk->char_id)
        return tk->char_id[cp];
    return tk_strmap_get(&tk->vocab, s, l);
}

static void add_sym(sym_t *sym, size_t *ns, int32_t id)
{
    size_t i = (*ns)++;
    sym[i] = (sym_t){id, (int32_t)i - 1, -1, 1};
    if (i > 0)
        sym[i - 1].next = (int32_t)i;
}

/* BPE of s[0..n) without the ignore_merges shortcut. */
static int bpe_word(const tk_tokenizer_t *tk, const char *s, size_t n, tk_ids_t *out,
                    tk_bpe_scratch_t *scr)
{
    int rc;
    /* Symbols: at most one per byte (byte fallback) plus nothing else. */
    if ((rc = scratch_fit(scr, n + 1)))
        return rc;
    sym_t *sym = scr->sym;
    size_t ns = 0;
    int32_t unk = -1; /* pending unk (fused) */
    const uint8_t *u = (const uint8_t *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = tk_utf8_next(u + i, n - i, &cp);
        int32_t id = char_token(tk, s + i, l, cp);
        if (id >= 0) {
            if (unk >= 0) {
                add_sym(sym, &ns, unk);
                unk = -1;
            }
            add_sym(sym, &ns, id);
        } else {
            int fell_back = 0;
            if (tk->byte_fallback) {
                size_t k = 0;
                while (k < l && tk->byte_id[u[i + k]] >= 0)
                    k++;
                if (k == l) {
                    for (k = 0; k < l; k++)
                        add_sym(sym, &ns, tk->byte_id[u[i + k]]);
                    fell_back = 1;
                }
            }
            if (!fell_back && tk->unk_id >= 0) {
                if (unk >= 0 && !tk->fuse_unk)
                    add_sym(sym, &ns, unk);
                unk = tk->unk_id;
            }
        }
        i += l;
    }
    if (unk >= 0)
        add_sym(sym, &ns, unk);

    /* Merge by rank. */
    item_t *heap = scr->heap;
    size_t nh = 0;
    for (size_t i = 0; i + 1 < ns; i++) {
        const tk_pairent_t *m = tk_pairmap_get(&tk->merges, sym[i].id, sym[i + 1].id);
        if (m)
            heap_push(heap, &nh, (item_t){m->rank, (uint32_t)i, m->id});
    }
    while (nh > 0) {
        item_t top = heap_pop(heap, &nh);
        sym_t *l = &sym[top.pos];
        if (!l->alive || l->next < 0)
            continue;
        sym_t *r = &sym[l->next];
        const tk_pairent_t *m = tk_pairmap_get(&tk->merges, l->id, r->id);
        if (!m || m->id != top.id)
            continue; /* stale entry */
        l->id = top.id;
        r->alive = 0;
        l->next = r->next;
        if (r->next >= 0)
            sym[r->next].prev = (int32_t)top.pos;
        if (nh + 2 > scr->heap_cap)
            return -ENOMEM; /* cannot happen: 3n slots suffice */
        if (l->prev >= 0) {
            m = tk_pairmap_get(&tk->merges, sym[l->prev].id, l->id);
            if (m)
                heap_push(heap, &nh, (item_t){m->rank, (uint32_t)l->prev, m->id});
        }
        if (l->next >= 0) {
            m = tk_pairmap_get(&tk->merges, l->id, sym[l->next].id);
            if (m)
                heap_push(heap, &nh, (item_t){m->rank, top.pos, m->id});
        }
    }
    for (size_t i = 0; i < ns; i++)
        if (sym[i].alive && (rc = tk_ids_push(out, sym[i].id)))
            return rc;
    return 0;
}

/* "\u2581" (SentencePiece's word mark) in UTF-8. */
static const char MARK[3] = {(char)0xE2, (char)0x96, (char)0x81};

int tk_bpe_piece(const tk_tokenizer_t *tk, const char *s, size_t n, tk_ids_t *out,
                 tk_bpe_scratch_t *scr)
{
    if (n == 0)
        return 0;
    if (tk->ignore_merges) {
        int32_t id = tk_strmap_get(&tk->vocab, s, n);
        if (id >= 0)
            return tk_ids_push(out, id);
    }
    if (!tk->mark_split || n < 128)
        return bpe_word(tk, s, n, out, scr);
    /* Long piece (SentencePiece texts are one piece): cut it before every mark that
     * follows a non-mark. No merge can cross such a cut (mark_split), so each part is
     * merged alone with the same result and a small heap. */
    size_t a = 0;
    int rc;
    for (size_t i = 3; i + 3 <= n; i++) {
        if (memcmp(s + i, MARK, 3) != 0 || memcmp(s + i - 3, MARK, 3) == 0)
            continue;
        if ((rc = bpe_word(tk, s + a, i - a, out, scr)))
            return rc;
        a = i;
        i += 2;
    }
    return bpe_word(tk, s + a, n - a, out, scr);
}

int tk_bpe_mark_split_ok(const tk_tokenizer_t *tk)
{
    if (tk_strmap_get(&tk->vocab, MARK, 3) < 0)
        return 0;
    for (size_t id = 0; id < tk->n_tok; id++) {
        const char *t = tk->tok_str[id];
        size_t l = tk->tok_len[id];
        for (size_t i = 1; t && i + 3 <= l; i++)
            if (memcmp(t + i, MARK, 3) == 0 && (i < 3 || memcmp(t + i - 3, MARK, 3) != 0))
                return 0;
    }
    return 1;
}
