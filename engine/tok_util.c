/* tok_util.c — growable buffers and UTF-8 decoding/encoding for the tokenizer. */
#include "tok_util.h"
#include "fu_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- buffers --------------------------------------------------------------- */

int tk_buf_reserve(tk_buf_t *b, size_t n)
{
    if (n > SIZE_MAX - b->len - 1)
        return -ENOMEM;
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return -ENOMEM;
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p)
        return -ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int tk_buf_add(tk_buf_t *b, const void *data, size_t n)
{
    int rc = tk_buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

void tk_buf_free(tk_buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

int tk_ids_add(tk_ids_t *a, const int32_t *ids, size_t n)
{
    if (n > SIZE_MAX / sizeof(int32_t) / 2 - a->n)
        return -ENOMEM;
    if (a->n + n > a->cap) {
        size_t cap = a->cap ? a->cap : 64;
        while (cap < a->n + n)
            cap *= 2;
        int32_t *v = realloc(a->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        a->v = v;
        a->cap = cap;
    }
    if (n)
        memcpy(a->v + a->n, ids, n * sizeof *ids);
    a->n += n;
    return 0;
}

int tk_ids_push(tk_ids_t *a, int32_t id)
{
    if (a->n < a->cap) {
        a->v[a->n++] = id;
        return 0;
    }
    return tk_ids_add(a, &id, 1);
}

/* ---- UTF-8 ------------------------------------------------------------------
 * Sequence rules (RFC 3629, Unicode table 3-7): fu_utf8_prefix (fs/util_utf8.c). */

size_t tk_utf8_next(const uint8_t *s, size_t n, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t full, got = fu_utf8_prefix(s, n, &full);
    if (full == 0 || got < full) {
        *cp = TK_UTF8_BAD + s[0];
        return 1;
    }
    uint32_t v;
    if (full == 2)
        v = (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
    else if (full == 3)
        v = (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
    else
        v = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
            (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
    *cp = v;
    return full;
}

size_t tk_utf8_put(uint32_t cp, char *out)
{
    uint8_t *o = (uint8_t *)out;
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | cp >> 6);
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | cp >> 18);
    o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

int tk_utf8_lossy(tk_buf_t *b, const uint8_t *s, size_t n)
{
    static const char repl[3] = {(char)0xEF, (char)0xBF, (char)0xBD};
    int rc = tk_buf_reserve(b, n);
    if (rc)
        return rc;
    size_t i = 0, run = 0; /* s[run..i) is valid and not yet copied */
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t full, got = fu_utf8_prefix(s + i, n - i, &full);
        if (full && got == full) {
            i += full;
            continue;
        }
        if ((rc = tk_buf_add(b, s + run, i - run)) || (rc = tk_buf_add(b, repl, 3)))
            return rc;
        i += got ? got : 1; /* the maximal subpart (at least one byte) becomes U+FFFD */
        run = i;
    }
    /* s may be NULL when n == 0: no pointer arithmetic on it */
    return tk_buf_add(b, n ? (const void *)(s + run) : "", i - run);
}
