/* tok_decode.c — tk_decode: ids -> token strings -> decoder ops -> text.
 *
 * As tokenizers' Tokenizer::decode: each id becomes its token string (added tokens
 * first, unknown ids are skipped), the decoder ops rewrite the list of strings in turn
 * (decode_chain) and the result is their concatenation; with no decoder the strings are
 * joined by " ". Decoder ops:
 *   ByteLevel:    every character of the GPT-2 byte map back to its byte (a token with a
 *                 character outside the map keeps its raw bytes); all tokens fuse into one
 *                 string, read as UTF-8 with U+FFFD for ill-formed parts (from_utf8_lossy);
 *   Replace(a,b): in each token;
 *   ByteFallback: runs of "<0xNN>" tokens become their bytes when those form valid UTF-8,
 *                 else one U+FFFD per byte;
 *   Fuse:         all tokens into one;
 *   Strip(c,a,b): up to a leading and b trailing characters c removed from each token;
 *   Metaspace:    the replacement becomes ' ' (dropped in the first token unless the
 *                 prepend scheme is "never"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* A list of strings stored back to back in one buffer. */
typedef struct {
    tk_buf_t buf;
    size_t *off, *len;
    size_t n, cap;
} strs_t;

static void strs_free(strs_t *s)
{
    tk_buf_free(&s->buf);
    free(s->off);
    free(s->len);
    memset(s, 0, sizeof *s);
}

/* Start a new string at the end of the buffer (its bytes are then appended to buf). */
static int strs_begin(strs_t *s)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        size_t *o = realloc(s->off, cap * sizeof *o);
        if (!o)
            return -ENOMEM;
        s->off = o;
        size_t *l = realloc(s->len, cap * sizeof *l);
        if (!l)
            return -ENOMEM;
        s->len = l;
        s->cap = cap;
    }
    s->off[s->n] = s->buf.len;
    s->len[s->n] = 0;
    s->n++;
    return tk_buf_reserve(&s->buf, 0);
}

/* Close the string begun last: its length is whatever was appended since. */
static void strs_end(strs_t *s)
{
    s->len[s->n - 1] = s->buf.len - s->off[s->n - 1];
}

static int strs_push(strs_t *s, const char *p, size_t n)
{
    int rc = strs_begin(s);
    if (!rc)
        rc = tk_buf_add(&s->buf, p, n);
    if (!rc)
        strs_end(s);
    return rc;
}

/* Room for n strings up front (avoids regrowing for long id lists). */
static int strs_prealloc(strs_t *s, size_t n)
{
    if (n <= s->cap)
        return 0;
    size_t *o = realloc(s->off, n * sizeof *o);
    if (!o)
        return -ENOMEM;
    s->off = o;
    size_t *l = realloc(s->len, n * sizeof *l);
    if (!l)
        return -ENOMEM;
    s->len = l;
    s->cap = n;
    return tk_buf_reserve(&s->buf, n * 4);
}

#define STR(s, i) ((s)->buf.p + (s)->off[i])

/* ---- ops ------------------------------------------------------------------------- */

/* Append the bytes of one byte-level token t[0..n) to bytes. */
static int bytelevel_token(tk_buf_t *bytes, const uint8_t *t, size_t n)
{
    int rc = tk_buf_reserve(bytes, n);
    if (rc)
        return rc;
    size_t start = bytes->len;
    for (size_t j = 0; j < n;) {
        uint32_t cp;
        size_t l = tk_utf8_next(t + j, n - j, &cp);
        int b = cp < TK_UTF8_BAD ? tk_cp_to_byte(cp) : -1;
        if (b < 0) { /* not a byte-level token: its raw bytes */
            bytes->len = start;
            return tk_buf_add(bytes, t, n);
        }
        bytes->p[bytes->len++] = (char)b; /* never more bytes than characters */
        j += l;
    }
    bytes->p[bytes->len] = '\0';
    return 0;
}

static int dec_bytelevel(const strs_t *in, strs_t *out)
{
    tk_buf_t bytes = {0};
    int rc = 0;
    for (size_t i = 0; i < in->n && !rc; i++)
        rc = bytelevel_token(&bytes, (const uint8_t *)STR(in, i), in->len[i]);
    if (!rc && !(rc = strs_begin(out))) {
        rc = tk_utf8_lossy(&out->buf, (const uint8_t *)bytes.p, bytes.len);
        strs_end(out);
    }
    tk_buf_free(&bytes);
    return rc;
}

static int dec_replace(const tk_dec_op_t *op, const strs_t *in, strs_t *out)
{
    int rc = 0;
    for (size_t i = 0; i < in->n && !rc; i++) {
        const char *t = STR(in, i);
        size_t n = in->len[i], j = 0, run = 0;
        if ((rc = strs_begin(out)))
            break;
        while (op->alen && j + op->alen <= n && !rc) {
            if (memcmp(t + j, op->a, op->alen) == 0) {
                if (!(rc = tk_buf_add(&out->buf, t + run, j - run)))
                    rc = tk_buf_add(&out->buf, op->b, op->blen);
                j += op->alen;
                run = j;
            } else {
                j++;
            }
        }
        if (!rc)
            rc = tk_buf_add(&out->buf, t + run, n - run);
        strs_end(out);
    }
    return rc;
}

int tk_byte_token(const char *t, size_t n)
{
    static const char hex[] = "0123456789ABCDEF0123456789abcdef";
    if (n != 6 || memcmp(t, "<0x", 3) != 0 || t[5] != '>')
        return -1;
    const char *h = memchr(hex, t[3], 32), *l = memchr(hex, t[4], 32);
    if (!h || !l)
        return -1;
    return (int)((h - hex) % 16 * 16 + (l - hex) % 16);
}

static int flush_bytes(tk_buf_t *pend, strs_t *out)
{
    int rc = 0;
    if (pend->len == 0)
        return 0;
    tk_buf_t chk = {0};
    rc = tk_utf8_lossy(&chk, (const uint8_t *)pend->p, pend->len);
    int valid = !rc && chk.len == pend->len && memcmp(chk.p, pend->p, pend->len) == 0;
    tk_buf_free(&chk);
    if (rc)
        return rc;
    if (valid)
        rc = strs_push(out, pend->p, pend->len);
    else
        for (size_t i = 0; i < pend->len && !rc; i++)
            rc = strs_push(out, "\xEF\xBF\xBD", 3);
    pend->len = 0;
    return rc;
}

static int dec_bytefallback(const strs_t *in, strs_t *out)
{
    tk_buf_t pend = {0};
    int rc = 0;
    for (size_t i = 0; i < in->n && !rc; i++) {
        int b = tk_byte_token(STR(in, i), in->len[i]);
        if (b >= 0) {
            uint8_t c = (uint8_t)b;
            rc = tk_buf_add(&pend, &c, 1);
            continue;
        }
        if (!(rc = flush_bytes(&pend, out)))
            rc = strs_push(out, STR(in, i), in->len[i]);
    }
    if (!rc)
        rc = flush_bytes(&pend, out);
    tk_buf_free(&pend);
    return rc;
}

static int dec_fuse(const strs_t *in, strs_t *out)
{
    int rc = strs_begin(out);
    for (size_t i = 0; i < in->n && !rc; i++)
        rc = tk_buf_add(&out->buf, STR(in, i), in->len[i]);
    if (!rc)
        strs_end(out);
    return rc;
}

/* Start of the character that ends at t[end) (well-formed text assumed; else 1 byte). */
static size_t char_start(const uint8_t *t, size_t end)
{
    size_t i = end - 1;
    while (i > 0 && end - i < 4 && (t[i] & 0xC0) == 0x80)
        i--;
    uint32_t cp;
    return tk_utf8_next(t + i, end - i, &cp) == end - i ? i : end - 1;
}

static int dec_strip(const tk_dec_op_t *op, const strs_t *in, strs_t *out)
{
    int rc = 0;
    for (size_t i = 0; i < in->n && !rc; i++) {
        const uint8_t *t = (const uint8_t *)STR(in, i);
        size_t a = 0, b = in->len[i];
        for (size_t k = 0; k < op->start && a < b; k++) {
            uint32_t cp;
            size_t l = tk_utf8_next(t + a, b - a, &cp);
            if (cp != op->ch)
                break;
            a += l;
        }
        for (size_t k = 0; k < op->stop && b > a; k++) {
            size_t s = char_start(t, b);
            uint32_t cp;
            tk_utf8_next(t + s, b - s, &cp);
            if (s < a || cp != op->ch)
                break;
            b = s;
        }
        rc = strs_push(out, (const char *)t + a, b - a);
    }
    return rc;
}

static int dec_metaspace(const tk_dec_op_t *op, const strs_t *in, strs_t *out)
{
    int rc = 0;
    for (size_t i = 0; i < in->n && !rc; i++) {
        const char *t = STR(in, i);
        size_t n = in->len[i], j = 0, run = 0;
        int drop = i == 0 && op->prepend_scheme != TK_PREPEND_NEVER;
        if ((rc = strs_begin(out)))
            break;
        while (j + op->alen <= n && !rc) {
            if (memcmp(t + j, op->a, op->alen) == 0) {
                rc = tk_buf_add(&out->buf, t + run, j - run);
                if (!rc && !drop)
                    rc = tk_buf_add(&out->buf, " ", 1);
                j += op->alen;
                run = j;
            } else {
                j++;
            }
        }
        if (!rc)
            rc = tk_buf_add(&out->buf, t + run, n - run);
        strs_end(out);
    }
    return rc;
}

/* ---- entry point ------------------------------------------------------------------- */

int tk_decode(const tk_tokenizer_t *tk, const int32_t *ids, size_t n, char **text, size_t *len)
{
    strs_t a = {0}, b = {0};
    tk_buf_t res = {0};
    int rc = 0;
    *text = NULL;
    *len = 0;
    if (!tk || (!ids && n))
        return -EINVAL;
    if (tk->n_dec == 1 && tk->dec[0].kind == TK_DEC_BYTELEVEL) {
        /* Fast path of the byte-level decoder alone: straight from ids to bytes. */
        tk_buf_t bytes = {0};
        for (size_t i = 0; i < n && !rc; i++) {
            size_t l;
            const char *t = tk_token_str(tk, ids[i], &l);
            if (t)
                rc = bytelevel_token(&bytes, (const uint8_t *)t, l);
        }
        if (!rc)
            rc = tk_utf8_lossy(&res, (const uint8_t *)bytes.p, bytes.len);
        tk_buf_free(&bytes);
        if (rc) {
            tk_buf_free(&res);
            return rc;
        }
        *text = res.p;
        *len = res.len;
        return 0;
    }
    if ((rc = strs_prealloc(&a, n)))
        return rc;
    for (size_t i = 0; i < n && !rc; i++) {
        size_t l;
        const char *s = tk_token_str(tk, ids[i], &l);
        if (s)
            rc = strs_push(&a, s, l);
    }
    for (size_t k = 0; k < tk->n_dec && !rc; k++) {
        const tk_dec_op_t *op = &tk->dec[k];
        b.n = 0;
        b.buf.len = 0;
        if ((rc = strs_prealloc(&b, a.n)))
            break;
        switch (op->kind) {
        case TK_DEC_BYTELEVEL: rc = dec_bytelevel(&a, &b); break;
        case TK_DEC_REPLACE: rc = dec_replace(op, &a, &b); break;
        case TK_DEC_BYTEFALLBACK: rc = dec_bytefallback(&a, &b); break;
        case TK_DEC_FUSE: rc = dec_fuse(&a, &b); break;
        case TK_DEC_STRIP: rc = dec_strip(op, &a, &b); break;
        default: rc = dec_metaspace(op, &a, &b); break;
        }
        strs_t sw = a;
        a = b;
        b = sw;
    }
    for (size_t i = 0; i < a.n && !rc; i++) {
        if (!tk->has_decoder && i > 0)
            rc = tk_buf_add(&res, " ", 1);
        if (!rc)
            rc = tk_buf_add(&res, STR(&a, i), a.len[i]);
    }
    if (!rc)
        rc = tk_buf_add(&res, "", 0); /* ensure an allocated, NUL-terminated buffer */
    strs_free(&a);
    strs_free(&b);
    if (rc) {
        tk_buf_free(&res);
        return rc;
    }
    *text = res.p;
    *len = res.len;
    return 0;
}
