/* tok_nfc.c — Unicode Normalization Form C (UAX #15) for the "NFC" normalizer.
 *
 * 1. Decompose every character fully (canonical mappings from the generated table;
 *    Hangul syllables algorithmically into L V [T] jamo).
 * 2. Canonical ordering: inside each run of non-starters (combining class > 0), sort
 *    stably by combining class.
 * 3. Compose: walking left to right, a character combines with the last starter when it
 *    is not blocked (nothing between them has a class >= its class, or it is adjacent)
 *    and the pair is a primary composite (table) or Hangul L+V / LV+T.
 * Text without any code point >= U+0300 is already NFC and is copied as is. Bytes that
 * are not valid UTF-8 are kept unchanged and compose with nothing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tok_nfc.h"

enum {
    S_BASE = 0xAC00, L_BASE = 0x1100, V_BASE = 0x1161, T_BASE = 0x11A7,
    L_COUNT = 19, V_COUNT = 21, T_COUNT = 28, N_COUNT = V_COUNT * T_COUNT,
    S_COUNT = L_COUNT * N_COUNT
};

static uint32_t ccc(uint32_t cp)
{
    if (cp < 0x300)
        return 0;
    size_t lo = 0, hi = tk_nfc_ccc_n;
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        if (cp < tk_nfc_ccc[m].lo)
            hi = m;
        else if (cp > tk_nfc_ccc[m].hi)
            lo = m + 1;
        else
            return tk_nfc_ccc[m].ccc;
    }
    return 0;
}

static const tk_nfc_decomp_t *decomp(uint32_t cp)
{
    size_t lo = 0, hi = tk_nfc_decomp_n;
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        if (cp < tk_nfc_decomp[m].cp)
            hi = m;
        else if (cp > tk_nfc_decomp[m].cp)
            lo = m + 1;
        else
            return &tk_nfc_decomp[m];
    }
    return NULL;
}

/* The primary composite of (a, b), or 0. */
static uint32_t compose(uint32_t a, uint32_t b)
{
    if (a >= L_BASE && a < L_BASE + L_COUNT && b >= V_BASE && b < V_BASE + V_COUNT)
        return S_BASE + ((a - L_BASE) * V_COUNT + (b - V_BASE)) * T_COUNT;
    if (a >= S_BASE && a < S_BASE + S_COUNT && (a - S_BASE) % T_COUNT == 0 && b > T_BASE &&
        b < T_BASE + T_COUNT)
        return a + (b - T_BASE);
    size_t lo = 0, hi = tk_nfc_comp_n;
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        const tk_nfc_comp_t *c = &tk_nfc_comp[m];
        if (a < c->a || (a == c->a && b < c->b))
            hi = m;
        else if (a > c->a || b > c->b)
            lo = m + 1;
        else
            return c->c;
    }
    return 0;
}

typedef struct {
    uint32_t *v;
    size_t n, cap;
} cps_t;

static int cps_push(cps_t *c, uint32_t cp)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        uint32_t *v = realloc(c->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = cp;
    return 0;
}

static int decompose_into(cps_t *d, uint32_t cp)
{
    if (cp >= S_BASE && cp < S_BASE + S_COUNT) {
        uint32_t s = cp - S_BASE, t = s % T_COUNT;
        int rc = cps_push(d, L_BASE + s / N_COUNT);
        if (!rc)
            rc = cps_push(d, V_BASE + (s % N_COUNT) / T_COUNT);
        if (!rc && t)
            rc = cps_push(d, T_BASE + t);
        return rc;
    }
    const tk_nfc_decomp_t *e = cp >= 0xC0 ? decomp(cp) : NULL;
    if (!e)
        return cps_push(d, cp);
    for (uint32_t i = 0; i < e->len; i++) {
        int rc = cps_push(d, tk_nfc_decomp_cps[e->off + i]);
        if (rc)
            return rc;
    }
    return 0;
}

int tk_nfc(tk_buf_t *out, const char *s, size_t n)
{
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0;
    while (i < n && u[i] < 0xCC) /* every code point below U+0300 is NFC and a starter */
        i++;
    if (i == n)
        return tk_buf_add(out, s, n);

    cps_t d = {0};
    int rc = 0;
    for (i = 0; i < n && !rc;) {
        uint32_t cp;
        size_t l = tk_utf8_next(u + i, n - i, &cp);
        rc = decompose_into(&d, cp);
        i += l;
    }
    /* canonical ordering */
    for (size_t k = 1; k < d.n && !rc; k++) {
        uint32_t c = d.v[k], cc = ccc(c);
        if (cc == 0)
            continue;
        size_t j = k;
        while (j > 0 && ccc(d.v[j - 1]) > cc) {
            d.v[j] = d.v[j - 1];
            j--;
        }
        d.v[j] = c;
    }
    /* composition */
    if (!rc && d.n > 0) {
        size_t starter = 0, w = 1;
        uint32_t last = ccc(d.v[0]) ? 256 : 0;
        for (size_t k = 1; k < d.n; k++) {
            uint32_t c = d.v[k], cc = ccc(c);
            uint32_t comp = d.v[starter] < TK_UTF8_BAD && c < TK_UTF8_BAD ? compose(d.v[starter], c) : 0;
            if (comp && (last < cc || last == 0)) {
                d.v[starter] = comp;
                continue;
            }
            if (cc == 0)
                starter = w;
            last = cc;
            d.v[w++] = c;
        }
        d.n = w;
    }
    for (size_t k = 0; k < d.n && !rc; k++) {
        char buf[4];
        if (d.v[k] >= TK_UTF8_BAD) {
            buf[0] = (char)(d.v[k] - TK_UTF8_BAD);
            rc = tk_buf_add(out, buf, 1);
        } else {
            rc = tk_buf_add(out, buf, tk_utf8_put(d.v[k], buf));
        }
    }
    free(d.v);
    return rc;
}
