/* tok_normalize.c — the supported normalizers, applied in order to one chunk of text:
 *   Prepend(p):      p + text, only when text is not empty;
 *   Replace(a -> b): every non-overlapping occurrence of the literal a, left to right;
 *   NFC:             Unicode canonical composition (tok_nfc.c).
 * (Sequence is flattened into this list when loading.) */
#include <string.h>

#include "tok_internal.h"
#include "tok_nfc.h"

static int replace_all(tk_buf_t *out, const char *s, size_t n, const char *a, size_t alen,
                       const char *b, size_t blen)
{
    size_t i = 0, run = 0;
    int rc;
    if (alen == 0)
        return tk_buf_add(out, s, n);
    while (i + alen <= n) {
        const char *hit = memchr(s + i, a[0], n - i - alen + 1);
        if (!hit)
            break;
        i = (size_t)(hit - s);
        if (memcmp(hit, a, alen) == 0) {
            if ((rc = tk_buf_add(out, s + run, i - run)) || (rc = tk_buf_add(out, b, blen)))
                return rc;
            i += alen;
            run = i;
        } else {
            i++;
        }
    }
    return tk_buf_add(out, s + run, n - run);
}

int tk_normalize(const tk_tokenizer_t *tk, const char *s, size_t n, tk_buf_t *out)
{
    tk_buf_t tmp = {0};
    int rc;
    out->len = 0;
    if ((rc = tk_buf_add(out, s, n)))
        return rc;
    for (size_t k = 0; k < tk->n_norm; k++) {
        const tk_norm_op_t *op = &tk->norm[k];
        tmp.len = 0;
        if (op->kind == TK_NORM_PREPEND) {
            if (out->len == 0)
                continue;
            rc = tk_buf_add(&tmp, op->a, op->alen);
            if (!rc)
                rc = tk_buf_add(&tmp, out->p, out->len);
        } else if (op->kind == TK_NORM_NFC) {
            rc = tk_nfc(&tmp, out->p, out->len);
        } else {
            rc = replace_all(&tmp, out->p, out->len, op->a, op->alen, op->b, op->blen);
        }
        if (rc) {
            tk_buf_free(&tmp);
            return rc;
        }
        tk_buf_t sw = *out; /* swap buffers */
        *out = tmp;
        tmp = sw;
    }
    tk_buf_free(&tmp);
    return 0;
}
