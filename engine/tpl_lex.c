/* tpl_lex.c — the template lexer: text, {{ }} and {% %} tags with Jinja's whitespace control
 * ({%- -%} {{- -}}, {%+ +%}), trim_blocks and lstrip_blocks on (as transformers sets them),
 * comments, newline normalisation (\r\n and \r become \n, one trailing newline dropped), and
 * the tokens inside tags (names, numbers, Python string literals, operators). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fu_util.h"
#include "tpl_internal.h"

typedef struct {
    tpl_arena_t *a;
    tpl_tok_t *v;
    size_t n, cap;
    char *err;
    size_t errlen;
} lex_t;

static int push(lex_t *L, tpl_tok_t t)
{
    if (L->n == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 256;
        tpl_tok_t *nv = tpl_alloc(L->a, cap * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        if (L->n)
            memcpy(nv, L->v, L->n * sizeof *nv);
        L->v = nv;
        L->cap = cap;
    }
    L->v[L->n++] = t;
    return 0;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int name_char(char c)
{
    return name_start(c) || (c >= '0' && c <= '9');
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* A Python string literal at s[*i] (the quote); unescapes like 'unicode-escape'. */
static int lex_string(lex_t *L, const char *s, size_t len, size_t *i, int line)
{
    char q = s[*i];
    size_t j = *i + 1;
    tk_buf_t b = { 0 };
    int rc = 0;
    while (j < len && s[j] != q) {
        if (s[j] == '\\' && j + 1 < len) {
            char c = s[j + 1], e[4];
            size_t el = 1;
            j += 2;
            switch (c) {
            case 'n': e[0] = '\n'; break;
            case 't': e[0] = '\t'; break;
            case 'r': e[0] = '\r'; break;
            case 'a': e[0] = '\a'; break;
            case 'b': e[0] = '\b'; break;
            case 'f': e[0] = '\f'; break;
            case 'v': e[0] = '\v'; break;
            case '\\': case '\'': case '"': e[0] = c; break;
            case '\n': el = 0; break;
            case 'x': case 'u': case 'U': {
                int nd = c == 'x' ? 2 : c == 'u' ? 4 : 8;
                uint32_t cp = 0;
                for (int k = 0; k < nd; k++, j++) {
                    int h = j < len ? hexval(s[j]) : -1;
                    if (h < 0) {
                        tk_buf_free(&b);
                        return fu_err(L->err, L->errlen, -EINVAL, "template line %d: bad \\%c escape", line, c);
                    }
                    cp = cp * 16 + (uint32_t)h;
                }
                if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
                    tk_buf_free(&b);
                    return fu_err(L->err, L->errlen, -EINVAL, "template line %d: bad \\%c escape", line, c);
                }
                el = tk_utf8_put(cp, e);
                break;
            }
            default:
                if (c >= '0' && c <= '7') {
                    uint32_t cp = (uint32_t)(c - '0');
                    for (int k = 0; k < 2 && j < len && s[j] >= '0' && s[j] <= '7'; k++, j++)
                        cp = cp * 8 + (uint32_t)(s[j] - '0');
                    el = tk_utf8_put(cp, e);
                } else {
                    e[0] = '\\';
                    e[1] = c;
                    el = 2;
                }
            }
            if (el && tk_buf_add(&b, e, el)) {
                rc = -ENOMEM;
                break;
            }
            continue;
        }
        if (tk_buf_add(&b, s + j, 1)) {
            rc = -ENOMEM;
            break;
        }
        j++;
    }
    if (!rc && j >= len)
        rc = fu_err(L->err, L->errlen, -EINVAL, "template line %d: unterminated string", line);
    if (!rc) {
        tv_t *v = tv_str(L->a, b.p ? b.p : "", b.len);
        if (!v)
            rc = -ENOMEM;
        else
            rc = push(L, (tpl_tok_t){ .t = TT_STRING, .line = line, .p = v->u.s.p, .n = v->u.s.n });
        *i = j + 1;
    }
    tk_buf_free(&b);
    return rc;
}

static int lex_number(lex_t *L, const char *s, size_t len, size_t *i, int line)
{
    char buf[64];
    size_t o = 0, j = *i;
    int flt = 0;
    while (j < len && o < sizeof buf - 1) {
        char c = s[j];
        if (c >= '0' && c <= '9') {
            buf[o++] = c;
        } else if (c == '_' && j + 1 < len && s[j + 1] >= '0' && s[j + 1] <= '9') {
            /* digit separator */
        } else if (c == '.' && !flt && j + 1 < len && s[j + 1] >= '0' && s[j + 1] <= '9') {
            flt = 1;
            buf[o++] = c;
        } else if ((c == 'e' || c == 'E') && j + 1 < len &&
                   ((s[j + 1] >= '0' && s[j + 1] <= '9') ||
                    ((s[j + 1] == '+' || s[j + 1] == '-') && j + 2 < len && s[j + 2] >= '0' && s[j + 2] <= '9'))) {
            flt = 1;
            buf[o++] = c;
            buf[o++] = s[++j];
        } else {
            break;
        }
        j++;
    }
    buf[o] = 0;
    *i = j;
    tpl_tok_t t = { .t = flt ? TT_FLOAT : TT_INT, .line = line };
    errno = 0;
    if (flt) {
        t.f = strtod(buf, NULL);
    } else {
        t.i = strtoll(buf, NULL, 10);
        if (errno)
            return fu_err(L->err, L->errlen, -EINVAL, "template line %d: integer too large", line);
    }
    return push(L, t);
}

/* Tokens inside a tag, up to the closing "}}" / "%}" (with an optional '-' or '+' before it).
 * *i moves past the closing marker; *strip_after says whether '-' was used, *plus for '+'. */
static int lex_tag(lex_t *L, const char *s, size_t len, size_t *i, int *line, char close,
                   int *strip_after, int *plus)
{
    static const char *const ops2[] = { "//", "**", "==", "!=", "<=", ">=" };
    size_t j = *i;
    while (j < len) {
        char c = s[j];
        if (c == '\n')
            (*line)++;
        if (is_ws(c)) {
            j++;
            continue;
        }
        if ((c == '-' || c == '+') && j + 2 < len + 0 && s[j + 1] == close && s[j + 2] == '}') {
            *strip_after = c == '-';
            *plus = c == '+';
            *i = j + 3;
            return 0;
        }
        if (c == close && j + 1 < len && s[j + 1] == '}') {
            *i = j + 2;
            return 0;
        }
        int rc;
        if (name_start(c)) {
            size_t k = j;
            while (k < len && name_char(s[k]))
                k++;
            rc = push(L, (tpl_tok_t){ .t = TT_NAME, .line = *line, .p = s + j, .n = k - j });
            j = k;
        } else if (c >= '0' && c <= '9') {
            rc = lex_number(L, s, len, &j, *line);
        } else if (c == '\'' || c == '"') {
            int l0 = *line;
            for (size_t k = j + 1; k < len && s[k] != c; k++) {
                if (s[k] == '\\')
                    k++;
                else if (s[k] == '\n')
                    (*line)++;
            }
            rc = lex_string(L, s, len, &j, l0);
        } else {
            size_t n = 1;
            for (size_t k = 0; k < sizeof ops2 / sizeof ops2[0]; k++)
                if (j + 1 < len && s[j] == ops2[k][0] && s[j + 1] == ops2[k][1])
                    n = 2;
            if (n == 1 && !strchr("+-*/%~<>=()[]{},.:|", c))
                return fu_err(L->err, L->errlen, -EINVAL, "template line %d: unexpected character '%c'",
                              *line, c);
            rc = push(L, (tpl_tok_t){ .t = TT_OP, .line = *line, .p = s + j, .n = n });
            j += n;
        }
        if (rc)
            return rc;
    }
    return fu_err(L->err, L->errlen, -EINVAL, "template line %d: tag not closed (missing '%c}')", *line, close);
}

int tpl_lex(tpl_arena_t *a, const char *src, size_t len, tpl_tok_t **toks, size_t *n, char *err,
            size_t errlen)
{
    lex_t L = { .a = a, .err = err, .errlen = errlen };
    /* newline normalisation into an arena copy */
    char *s = tpl_alloc(a, len + 1);
    if (!s)
        return -ENOMEM;
    size_t sl = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            s[sl++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n')
                i++;
        } else {
            s[sl++] = src[i];
        }
    }
    if (sl && s[sl - 1] == '\n')
        sl--;
    size_t i = 0, text_start = 0;
    int line = 1, text_line = 1, rc;
    int skip_ws = 0, skip_nl = 0;
    while (i <= sl) {
        /* apply the previous tag's right-side control to the text start */
        if (skip_ws) {
            while (text_start < sl && is_ws(s[text_start])) {
                if (s[text_start] == '\n')
                    text_line++;
                text_start++;
            }
        } else if (skip_nl && text_start < sl && s[text_start] == '\n') {
            text_start++;
            text_line++;
        }
        skip_ws = skip_nl = 0;
        i = text_start;
        line = text_line;
        size_t tag = sl;
        while (i + 1 < sl) {
            if (s[i] == '{' && (s[i + 1] == '{' || s[i + 1] == '%' || s[i + 1] == '#')) {
                tag = i;
                break;
            }
            if (s[i] == '\n')
                line++;
            i++;
        }
        if (tag == sl)
            for (; i < sl; i++)
                if (s[i] == '\n')
                    line++;
        char kind = tag < sl ? s[tag + 1] : 0;
        char mod = tag + 2 < sl ? s[tag + 2] : 0;
        size_t text_end = tag;
        if (kind && mod == '-') {
            while (text_end > text_start && is_ws(s[text_end - 1]))
                text_end--;
        } else if ((kind == '%' || kind == '#') && mod != '+') {
            size_t k = text_end;
            while (k > 0 && (s[k - 1] == ' ' || s[k - 1] == '\t'))
                k--;
            if (k == 0 || s[k - 1] == '\n')
                text_end = k > text_start ? k : text_start;
        }
        if (text_end > text_start &&
            (rc = push(&L, (tpl_tok_t){ .t = TT_TEXT, .line = text_line, .p = s + text_start,
                                        .n = text_end - text_start })))
            return rc;
        if (!kind)
            break;
        size_t j = tag + 2 + (mod == '-' || mod == '+');
        int strip = 0, plus = 0;
        if (kind == '#') {
            size_t k = j;
            while (k + 1 < sl && !(s[k] == '#' && s[k + 1] == '}')) {
                if (s[k] == '\n')
                    line++;
                k++;
            }
            if (k + 1 >= sl)
                return fu_err(err, errlen, -EINVAL, "template line %d: comment not closed", line);
            strip = k > j && s[k - 1] == '-';
            plus = k > j && s[k - 1] == '+';
            j = k + 2;
        } else {
            tt_type_t b = kind == '{' ? TT_VAR_BEGIN : TT_BLOCK_BEGIN;
            if ((rc = push(&L, (tpl_tok_t){ .t = b, .line = line })))
                return rc;
            if ((rc = lex_tag(&L, s, sl, &j, &line, kind == '{' ? '}' : '%', &strip, &plus)))
                return rc;
            if ((rc = push(&L, (tpl_tok_t){ .t = b == TT_VAR_BEGIN ? TT_VAR_END : TT_BLOCK_END, .line = line })))
                return rc;
        }
        skip_ws = strip;
        skip_nl = !strip && !plus && kind != '{';
        text_start = j;
        text_line = line;
        if (j >= sl && !skip_ws && !skip_nl)
            break;
    }
    if ((rc = push(&L, (tpl_tok_t){ .t = TT_EOF, .line = line })))
        return rc;
    *toks = L.v;
    *n = L.n;
    return 0;
}
