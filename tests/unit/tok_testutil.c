/* tok_testutil.c — helpers shared by the tokenizer unit tests. */
#include "tok_testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

static char *unquote(const char *bq)
{
    char *s = strdup(bq);
    ck_assert_ptr_nonnull(s);
    for (char *p = s; *p; p++)
        if (*p == '`')
            *p = '"';
    return s;
}

int tt_try_load(const char *json_bq, char *err, size_t errlen)
{
    char *j = unquote(json_bq);
    tk_tokenizer_t *tk = NULL;
    int rc = tk_load_json(j, strlen(j), &tk, err, errlen);
    free(j);
    tk_free(tk);
    return rc;
}

tk_tokenizer_t *tt_load(const char *json_bq)
{
    char *j = unquote(json_bq);
    char err[256] = "";
    tk_tokenizer_t *tk = NULL;
    int rc = tk_load_json(j, strlen(j), &tk, err, sizeof err);
    free(j);
    ck_assert_msg(rc == 0, "tk_load_json: %d %s", rc, err);
    return tk;
}

const char *tt_ids(const tk_tokenizer_t *tk, const char *s, int add_special)
{
    static char buf[8192];
    int32_t *ids;
    size_t n, o = 0;
    ck_assert_int_eq(tk_encode(tk, s, strlen(s), add_special, &ids, &n), 0);
    buf[0] = 0;
    for (size_t i = 0; i < n && o < sizeof buf - 16; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, i ? " %d" : "%d", ids[i]);
    free(ids);
    return buf;
}

typedef struct {
    char buf[8192];
    size_t o;
} pieces_t;

static int collect(void *ctx, const char *s, size_t n)
{
    pieces_t *p = ctx;
    if (p->o + n + 2 >= sizeof p->buf)
        return -1;
    if (p->o)
        p->buf[p->o++] = '|';
    memcpy(p->buf + p->o, s, n);
    p->o += n;
    p->buf[p->o] = 0;
    return 0;
}

const char *tt_pieces(const tk_tokenizer_t *tk, const char *s)
{
    static pieces_t p;
    tk_pre_scratch_t scr = {0};
    p.o = 0;
    p.buf[0] = 0;
    ck_assert_int_eq(tk_pretokenize(tk, s, strlen(s), 1, &scr, collect, &p), 0);
    tk_pre_scratch_free(&scr);
    return p.buf;
}

char *tt_decode(const tk_tokenizer_t *tk, const int32_t *ids, size_t n)
{
    char *t;
    size_t len;
    ck_assert_int_eq(tk_decode(tk, ids, n, &t, &len), 0);
    ck_assert_uint_eq(strlen(t), len);
    return t;
}
