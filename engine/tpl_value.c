/* tpl_value.c — the template interpreter's arena and values: constructors, Python truthiness,
 * equality, ordering, str() and repr() (as Jinja prints values). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpl_internal.h"

/* ---- arena ---------------------------------------------------------------------------- */
typedef struct blk {
    struct blk *next;
    size_t used, cap;
    max_align_t data[];
} blk_t;

struct tpl_arena {
    blk_t *head;
    size_t total, max;
};

tpl_arena_t *tpl_arena_new(size_t max)
{
    tpl_arena_t *a = calloc(1, sizeof *a);
    if (a)
        a->max = max;
    return a;
}

void *tpl_alloc(tpl_arena_t *a, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (n == 0)
        n = sizeof(max_align_t);
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        if (a->total + cap > a->max)
            return NULL;
        blk_t *b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
        a->total += cap;
    }
    void *p = (char *)a->head->data + a->head->used;
    a->head->used += n;
    memset(p, 0, n);
    return p;
}

void tpl_arena_free(tpl_arena_t *a)
{
    if (!a)
        return;
    for (blk_t *b = a->head, *nx; b; b = nx) {
        nx = b->next;
        free(b);
    }
    free(a);
}

/* ---- constructors ---------------------------------------------------------------------- */
tv_t tv_undef_v = { .t = TV_UNDEF }, tv_none_v = { .t = TV_NONE };
tv_t tv_true_v = { .t = TV_BOOL, .u.b = 1 }, tv_false_v = { .t = TV_BOOL, .u.b = 0 };

tv_t *tv_new(tpl_arena_t *a, tv_type_t t)
{
    tv_t *v = tpl_alloc(a, sizeof *v);
    if (v)
        v->t = t;
    return v;
}

tv_t *tv_int(tpl_arena_t *a, int64_t i)
{
    tv_t *v = tv_new(a, TV_INT);
    if (v)
        v->u.i = i;
    return v;
}

tv_t *tv_float(tpl_arena_t *a, double f)
{
    tv_t *v = tv_new(a, TV_FLOAT);
    if (v)
        v->u.f = f;
    return v;
}

tv_t *tv_bool(int b)
{
    return b ? &tv_true_v : &tv_false_v;
}

tv_t *tv_str(tpl_arena_t *a, const char *p, size_t n)
{
    tv_t *v = tv_new(a, TV_STR);
    char *s = tpl_alloc(a, n + 1);
    if (!v || !s)
        return NULL;
    if (n)
        memcpy(s, p, n);
    v->u.s.p = s;
    v->u.s.n = n;
    return v;
}

tv_t *tv_strz(tpl_arena_t *a, const char *s)
{
    return tv_str(a, s, strlen(s));
}

tv_t *tv_undef_named(tpl_arena_t *a, const char *name)
{
    tv_t *v = tv_new(a, TV_UNDEF);
    if (v)
        v->u.undef_name = name;
    return v;
}

tv_t *tv_list(tpl_arena_t *a, size_t n)
{
    tv_t *v = tv_new(a, TV_LIST);
    if (!v)
        return NULL;
    if (n && n > SIZE_MAX / sizeof(tv_t *))
        return NULL;
    v->u.l.v = tpl_alloc(a, n * sizeof(tv_t *));
    if (!v->u.l.v)
        return NULL;
    v->u.l.n = n;
    return v;
}

tv_t *tv_dict(tpl_arena_t *a)
{
    return tv_new(a, TV_DICT);
}

tv_t *tv_dict_get(const tv_t *d, const tv_t *k)
{
    for (size_t i = 0; i < d->u.d.n; i++)
        if (tv_eq(d->u.d.k[i], k))
            return d->u.d.v[i];
    return NULL;
}

tv_t *tv_dict_getz(const tv_t *d, const char *k)
{
    size_t n = strlen(k);
    for (size_t i = 0; i < d->u.d.n; i++) {
        const tv_t *key = d->u.d.k[i];
        if (key->t == TV_STR && key->u.s.n == n && !memcmp(key->u.s.p, k, n))
            return d->u.d.v[i];
    }
    return NULL;
}

int tv_dict_set(tpl_arena_t *a, tv_t *d, tv_t *k, tv_t *v)
{
    for (size_t i = 0; i < d->u.d.n; i++)
        if (tv_eq(d->u.d.k[i], k)) {
            d->u.d.v[i] = v;
            return 0;
        }
    if (d->u.d.n == d->u.d.cap) {
        size_t cap = d->u.d.cap ? d->u.d.cap * 2 : 8;
        tv_t **nk = tpl_alloc(a, cap * sizeof *nk), **nv = tpl_alloc(a, cap * sizeof *nv);
        if (!nk || !nv)
            return -ENOMEM;
        if (d->u.d.n) {
            memcpy(nk, d->u.d.k, d->u.d.n * sizeof *nk);
            memcpy(nv, d->u.d.v, d->u.d.n * sizeof *nv);
        }
        d->u.d.k = nk;
        d->u.d.v = nv;
        d->u.d.cap = cap;
    }
    d->u.d.k[d->u.d.n] = k;
    d->u.d.v[d->u.d.n++] = v;
    return 0;
}

/* ---- semantics ------------------------------------------------------------------------- */
int tv_truthy(const tv_t *v)
{
    switch (v->t) {
    case TV_UNDEF: case TV_NONE: return 0;
    case TV_BOOL: return v->u.b;
    case TV_INT: return v->u.i != 0;
    case TV_FLOAT: return v->u.f != 0;
    case TV_STR: return v->u.s.n != 0;
    case TV_LIST: return v->u.l.n != 0;
    case TV_DICT: return v->u.d.n != 0;
    default: return 1;
    }
}

static int is_num(const tv_t *v)
{
    return v->t == TV_BOOL || v->t == TV_INT || v->t == TV_FLOAT;
}

static double num(const tv_t *v)
{
    return v->t == TV_FLOAT ? v->u.f : v->t == TV_INT ? (double)v->u.i : (double)v->u.b;
}

static int64_t inum(const tv_t *v)
{
    return v->t == TV_INT ? v->u.i : v->u.b;
}

int tv_eq(const tv_t *x, const tv_t *y)
{
    if (is_num(x) && is_num(y)) {
        if (x->t != TV_FLOAT && y->t != TV_FLOAT)
            return inum(x) == inum(y);
        return num(x) == num(y);
    }
    if (x->t != y->t)
        return 0;
    switch (x->t) {
    case TV_UNDEF: case TV_NONE: return 1;
    case TV_STR: return x->u.s.n == y->u.s.n && !memcmp(x->u.s.p, y->u.s.p, x->u.s.n);
    case TV_LIST:
        if (x->u.l.n != y->u.l.n)
            return 0;
        for (size_t i = 0; i < x->u.l.n; i++)
            if (!tv_eq(x->u.l.v[i], y->u.l.v[i]))
                return 0;
        return 1;
    case TV_DICT:
        if (x->u.d.n != y->u.d.n)
            return 0;
        for (size_t i = 0; i < x->u.d.n; i++) {
            const tv_t *o = tv_dict_get(y, x->u.d.k[i]);
            if (!o || !tv_eq(x->u.d.v[i], o))
                return 0;
        }
        return 1;
    default: return x == y;
    }
}

int tv_lt(const tv_t *x, const tv_t *y, int *lt)
{
    if (is_num(x) && is_num(y)) {
        if (x->t != TV_FLOAT && y->t != TV_FLOAT)
            *lt = inum(x) < inum(y);
        else
            *lt = num(x) < num(y);
        return 0;
    }
    if (x->t == TV_STR && y->t == TV_STR) {
        size_t m = x->u.s.n < y->u.s.n ? x->u.s.n : y->u.s.n;
        int c = memcmp(x->u.s.p, y->u.s.p, m);
        *lt = c < 0 || (c == 0 && x->u.s.n < y->u.s.n);
        return 0;
    }
    if (x->t == TV_LIST && y->t == TV_LIST) {
        for (size_t i = 0; i < x->u.l.n && i < y->u.l.n; i++) {
            if (tv_eq(x->u.l.v[i], y->u.l.v[i]))
                continue;
            return tv_lt(x->u.l.v[i], y->u.l.v[i], lt);
        }
        *lt = x->u.l.n < y->u.l.n;
        return 0;
    }
    return -EINVAL;
}

const char *tv_type_name(const tv_t *v)
{
    static const char *const names[] = { "undefined", "none", "bool", "int", "float", "str",
                                         "list", "dict", "namespace", "macro", "function" };
    return names[v->t];
}

/* ---- text ------------------------------------------------------------------------------ */
size_t tv_utf8_len(const char *p, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)p[i] & 0xC0) != 0x80)
            c++;
    return c;
}

size_t tv_utf8_off(const char *p, size_t n, size_t ci)
{
    size_t i = 0;
    while (i < n && ci) {
        i++;
        while (i < n && ((unsigned char)p[i] & 0xC0) == 0x80)
            i++;
        ci--;
    }
    return i;
}

int tv_is_pyspace(const char *p, size_t n, size_t *len)
{
    uint32_t cp;
    size_t l = tk_utf8_next((const uint8_t *)p, n, &cp);
    *len = l;
    if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F) || cp == 0x85 ||
        cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
        cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000)
        return 1;
    return 0;
}

int tv_float_repr(tk_buf_t *b, double f)
{
    char buf[64];
    if (isnan(f))
        return tk_buf_add(b, "nan", 3);
    if (isinf(f))
        return f < 0 ? tk_buf_add(b, "-inf", 4) : tk_buf_add(b, "inf", 3);
    /* shortest round-trip digits, then Python's layout: fixed for 1e-4 <= |x| < 1e16 */
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, f);
        if (strtod(buf, NULL) == f)
            break;
    }
    char digits[32];
    size_t nd = 0;
    const char *q = buf;
    int neg = 0;
    if (*q == '-') {
        neg = 1;
        q++;
    }
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9')
            digits[nd++] = *q;
    int exp = atoi(q + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    char out[64];
    size_t o = 0;
    if (neg)
        out[o++] = '-';
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            out[o++] = '0';
            out[o++] = '.';
            for (int i = -1; i > exp; i--)
                out[o++] = '0';
            memcpy(out + o, digits, nd);
            o += nd;
        } else {
            for (int i = 0; i <= exp; i++)
                out[o++] = (size_t)i < nd ? digits[i] : '0';
            out[o++] = '.';
            if ((size_t)exp + 1 < nd) {
                memcpy(out + o, digits + exp + 1, nd - (size_t)exp - 1);
                o += nd - (size_t)exp - 1;
            } else {
                out[o++] = '0';
            }
        }
    } else {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            memcpy(out + o, digits + 1, nd - 1);
            o += nd - 1;
        }
        o += (size_t)snprintf(out + o, sizeof out - o, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
    }
    return tk_buf_add(b, out, o);
}

static int repr_str(tk_buf_t *b, const char *p, size_t n)
{
    int sq = memchr(p, '\'', n) != NULL, dq = memchr(p, '"', n) != NULL;
    char q = sq && !dq ? '"' : '\'';
    if (tk_buf_add(b, &q, 1))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        char e[8];
        const char *s = NULL;
        if (ch == '\\') s = "\\\\";
        else if (ch == '\n') s = "\\n";
        else if (ch == '\r') s = "\\r";
        else if (ch == '\t') s = "\\t";
        else if (ch == (unsigned char)q) s = q == '\'' ? "\\'" : "\\\"";
        else if (ch < 0x20 || ch == 0x7f) {
            snprintf(e, sizeof e, "\\x%02x", ch);
            s = e;
        }
        if (s ? tk_buf_add(b, s, strlen(s)) : tk_buf_add(b, p + i, 1))
            return -ENOMEM;
    }
    return tk_buf_add(b, &q, 1);
}

static int seq_repr(tk_buf_t *b, const tv_t *v)
{
    if (v->t == TV_LIST) {
        if (tk_buf_add(b, v->is_tuple ? "(" : "[", 1))
            return -ENOMEM;
        for (size_t i = 0; i < v->u.l.n; i++)
            if ((i && tk_buf_add(b, ", ", 2)) || tv_repr(b, v->u.l.v[i]))
                return -ENOMEM;
        if (v->is_tuple && v->u.l.n == 1 && tk_buf_add(b, ",", 1))
            return -ENOMEM;
        return tk_buf_add(b, v->is_tuple ? ")" : "]", 1);
    }
    if (tk_buf_add(b, "{", 1))
        return -ENOMEM;
    for (size_t i = 0; i < v->u.d.n; i++)
        if ((i && tk_buf_add(b, ", ", 2)) || tv_repr(b, v->u.d.k[i]) || tk_buf_add(b, ": ", 2) ||
            tv_repr(b, v->u.d.v[i]))
            return -ENOMEM;
    return tk_buf_add(b, "}", 1);
}

int tv_to_str(tk_buf_t *b, const tv_t *v)
{
    char num[32];
    switch (v->t) {
    case TV_UNDEF: return tk_buf_add(b, "", 0);
    case TV_NONE: return tk_buf_add(b, "None", 4);
    case TV_BOOL: return v->u.b ? tk_buf_add(b, "True", 4) : tk_buf_add(b, "False", 5);
    case TV_INT:
        snprintf(num, sizeof num, "%" PRId64, v->u.i);
        return tk_buf_add(b, num, strlen(num));
    case TV_FLOAT: return tv_float_repr(b, v->u.f);
    case TV_STR: return tk_buf_add(b, v->u.s.p, v->u.s.n);
    case TV_LIST: case TV_DICT: return seq_repr(b, v);
    case TV_NS: return tk_buf_add(b, "<Namespace>", 11);
    default: return tk_buf_add(b, "<function>", 10);
    }
}

int tv_repr(tk_buf_t *b, const tv_t *v)
{
    if (v->t == TV_STR)
        return repr_str(b, v->u.s.p, v->u.s.n);
    return tv_to_str(b, v);
}

tv_t *tv_stringify(tpl_arena_t *a, tv_t *v)
{
    if (v->t == TV_STR)
        return v;
    tk_buf_t b = { 0 };
    tv_t *r = NULL;
    if (tv_to_str(&b, v) == 0)
        r = tv_str(a, b.p ? b.p : "", b.len);
    tk_buf_free(&b);
    return r;
}
