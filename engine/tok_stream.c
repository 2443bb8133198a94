/* tok_stream.c — incremental decoding for generation.
 *
 * Decoders are not always token-by-token (SentencePiece strips the first space, byte
 * tokens must be grouped into UTF-8), so text is produced by decoding a window:
 * ids[prefix..read) was already emitted as `prev`; on every push, decode ids[prefix..]
 * and emit what extends past prev — unless the new text ends in U+FFFD, which means a
 * character is still incomplete: then wait for more ids. After emitting, the window
 * slides (prefix = read, read = end). A window that keeps growing (endless invalid
 * bytes) is emitted anyway after TK_STREAM_HOLD ids so the cost stays bounded.
 * With a ByteFallback decoder a run of "<0xNN>" tokens decodes as a whole (valid UTF-8,
 * or one U+FFFD per byte), so nothing is emitted while the window ends in such a token. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

#define TK_STREAM_HOLD 1024

struct tk_stream {
    const tk_tokenizer_t *tk;
    tk_ids_t ids;    /* ids[prefix..] are the window */
    size_t prefix, read;
    tk_buf_t out;    /* text handed to the caller */
    char *prev;      /* decode of ids[prefix..read), NULL until computed for this window */
    size_t plen;
    int byte_runs;   /* the decoder has ByteFallback */
};

tk_stream_t *tk_stream_new(const tk_tokenizer_t *tk)
{
    tk_stream_t *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->tk = tk;
    for (size_t i = 0; i < tk->n_dec; i++)
        if (tk->dec[i].kind == TK_DEC_BYTEFALLBACK)
            st->byte_runs = 1;
    return st;
}

void tk_stream_free(tk_stream_t *st)
{
    if (!st)
        return;
    free(st->ids.v);
    free(st->prev);
    tk_buf_free(&st->out);
    free(st);
}

static int ends_incomplete(const char *t, size_t n)
{
    return n >= 3 && memcmp(t + n - 3, "\xEF\xBF\xBD", 3) == 0;
}

/* Move the window to ids[prefix..read); its decode is recomputed on the next step. */
static void slide(tk_stream_t *st, size_t prefix, size_t read)
{
    st->prefix = prefix;
    st->read = read;
    free(st->prev);
    st->prev = NULL;
    st->plen = 0;
}

/* Decode the window; emit the new part if complete (or if force). The decode of the
 * emitted part (prev) is kept until the window slides, so a window that grows while
 * a character is incomplete costs one decode per push, not two. */
static int step(tk_stream_t *st, int force, const char **text, size_t *len)
{
    char *cur = NULL;
    size_t clen = 0;
    int rc;
    st->out.len = 0;
    *text = "";
    *len = 0;
    const int32_t *win = st->ids.v ? st->ids.v + st->prefix : NULL; /* NULL before any push */
    if (!st->prev && (rc = tk_decode(st->tk, win, st->read - st->prefix, &st->prev, &st->plen)))
        goto out;
    if ((rc = tk_decode(st->tk, win, st->ids.n - st->prefix, &cur, &clen)))
        goto out;
    size_t plen = st->plen;
    int complete = !ends_incomplete(cur, clen);
    if (complete && st->byte_runs && st->ids.n > 0) {
        size_t l;
        const char *t = tk_token_str(st->tk, st->ids.v[st->ids.n - 1], &l);
        if (t && tk_byte_token(t, l) >= 0)
            complete = 0;
    }
    if (clen > plen && (complete || force)) {
        if ((rc = tk_buf_add(&st->out, cur + plen, clen - plen)))
            goto out;
        slide(st, st->read, st->ids.n);
    } else if (force || st->ids.n - st->prefix > TK_STREAM_HOLD) {
        slide(st, st->ids.n, st->ids.n); /* nothing visible: drop the window */
    }
    if ((rc = tk_buf_add(&st->out, "", 0)))
        goto out;
    *text = st->out.p;
    *len = st->out.len;
out:
    free(cur);
    return rc;
}

int tk_stream_push(tk_stream_t *st, int32_t id, const char **text, size_t *len)
{
    int rc = tk_ids_push(&st->ids, id);
    if (rc)
        return rc;
    return step(st, st->ids.n - st->prefix > TK_STREAM_HOLD, text, len);
}

int tk_stream_flush(tk_stream_t *st, const char **text, size_t *len)
{
    return step(st, 1, text, len);
}
