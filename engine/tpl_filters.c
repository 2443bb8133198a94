/* tpl_filters.c — Jinja filters (with transformers' tojson) and tests. Unknown names are
 * errors naming the template line. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fu_util.h"
#include "tpl_internal.h"

/* Dotted attribute path of Jinja's make_attrgetter ("a.b", "0"). */
static int attr_path(tpl_ctx_t *c, int line, tv_t *v, const tv_t *path, tv_t **out)
{
    if (path->t == TV_INT)
        return tpl_getitem(c, line, v, (tv_t *)path, out);
    if (path->t != TV_STR)
        return tpl_fail(c, line, -EINVAL, "attribute name must be a string");
    const char *p = path->u.s.p, *end = p + path->u.s.n;
    while (p <= end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        size_t l = dot ? (size_t)(dot - p) : (size_t)(end - p);
        char name[128];
        if (l >= sizeof name)
            return tpl_fail(c, line, -EINVAL, "attribute name too long");
        memcpy(name, p, l);
        name[l] = 0;
        int rc;
        if (l && strspn(name, "0123456789") == l) {
            tv_t *k = tv_int(c->a, strtoll(name, NULL, 10));
            if (!k)
                return tpl_oom(c, line);
            rc = tpl_getitem(c, line, v, k, &v);
        } else if (v->t == TV_UNDEF) {
            break;
        } else {
            char *nm = tpl_alloc(c->a, l + 1);
            if (!nm)
                return tpl_oom(c, line);
            memcpy(nm, name, l + 1);
            rc = tpl_getattr(c, line, v, nm, &v);
        }
        if (rc)
            return rc;
        if (!dot)
            break;
        p = dot + 1;
    }
    *out = v;
    return 0;
}

/* Jinja's soft_str: the value as a string. */
static int want_str(tpl_ctx_t *c, int line, tv_t **v)
{
    if ((*v)->t == TV_STR)
        return 0;
    if (!(*v = tv_stringify(c->a, *v)))
        return tpl_oom(c, line);
    return 0;
}

/* select/reject/selectattr/rejectattr. */
static int select_items(tpl_ctx_t *c, int line, const char *f, tv_t *v, tv_t **args, const char **kw,
                        size_t n, tv_t **out)
{
    int attr = strstr(f, "attr") != NULL, reject = f[0] == 'r';
    tv_t *items;
    int rc;
    if ((rc = tpl_iter_list(c, line, v, &items)))
        return rc;
    tv_t *path = attr ? tpl_arg(args, kw, n, 0, NULL) : NULL;
    if (attr && !path)
        return tpl_fail(c, line, -EINVAL, "%s needs an attribute name", f);
    tv_t *test = tpl_arg(args, kw, n, attr ? 1 : 0, NULL);
    if (test && test->t != TV_STR)
        return tpl_fail(c, line, -EINVAL, "%s: test name must be a string", f);
    size_t first = (attr ? 2 : 1), nt = n > first ? n - first : 0;
    tv_t *r = tv_list(c->a, items->u.l.n);
    if (!r)
        return tpl_oom(c, line);
    r->u.l.n = 0;
    char tname[64] = "";
    if (test)
        snprintf(tname, sizeof tname, "%.*s", (int)test->u.s.n, test->u.s.p);
    for (size_t i = 0; i < items->u.l.n; i++) {
        tv_t *x = items->u.l.v[i];
        int ok;
        if (attr && (rc = attr_path(c, line, x, path, &x)))
            return rc;
        if (test) {
            if ((rc = tpl_test(c, line, tname, x, args + first, nt, &ok)))
                return rc;
        } else {
            ok = tv_truthy(x);
        }
        if (ok != reject)
            r->u.l.v[r->u.l.n++] = items->u.l.v[i];
    }
    *out = r;
    return 0;
}

static _Thread_local int sort_err;
static int cmp_vals(const void *x, const void *y)
{
    const tv_t *a = *(tv_t *const *)x, *b = *(tv_t *const *)y;
    int lt;
    if (tv_lt(a, b, &lt)) {
        sort_err = 1;
        return 0;
    }
    if (lt)
        return -1;
    if (tv_lt(b, a, &lt) == 0 && lt)
        return 1;
    return 0;
}

static int to_int(tpl_ctx_t *c, int line, tv_t *v, tv_t *def, tv_t **out)
{
    if (v->t == TV_INT) {
        *out = v;
        return 0;
    }
    if (v->t == TV_BOOL)
        return (*out = tv_int(c->a, v->u.b)) ? 0 : tpl_oom(c, line);
    if (v->t == TV_FLOAT && isfinite(v->u.f) && fabs(v->u.f) < 9.2e18)
        return (*out = tv_int(c->a, (int64_t)v->u.f)) ? 0 : tpl_oom(c, line);
    if (v->t == TV_STR) {
        char buf[64];
        size_t l = v->u.s.n < sizeof buf - 1 ? v->u.s.n : sizeof buf - 1;
        memcpy(buf, v->u.s.p, l);
        buf[l] = 0;
        char *end;
        errno = 0;
        long long x = strtoll(buf, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\n')
            end++;
        if (!errno && end != buf && !*end && l == v->u.s.n)
            return (*out = tv_int(c->a, x)) ? 0 : tpl_oom(c, line);
        double d = strtod(buf, &end);
        if (end != buf && !*end && isfinite(d) && fabs(d) < 9.2e18)
            return (*out = tv_int(c->a, (int64_t)d)) ? 0 : tpl_oom(c, line);
    }
    *out = def ? def : tv_int(c->a, 0);
    return *out ? 0 : tpl_oom(c, line);
}

static int f_tojson(tpl_ctx_t *c, int line, tv_t *v, tv_t **args, const char **kw, size_t n, tv_t **out)
{
    tv_t *asc = tpl_arg(args, kw, n, 0, "ensure_ascii"), *ind = tpl_arg(args, kw, n, 1, "indent");
    tv_t *sep = tpl_arg(args, kw, n, 2, "separators"), *sk = tpl_arg(args, kw, n, 3, "sort_keys");
    int indent = -1;
    const char *isep = NULL, *ksep = NULL;
    if (ind && ind->t == TV_INT)
        indent = ind->u.i < 0 ? 0 : ind->u.i > 64 ? 64 : (int)ind->u.i;
    else if (ind && ind->t != TV_NONE)
        return tpl_fail(c, line, -EINVAL, "tojson indent must be an integer");
    if (sep && sep->t == TV_LIST && sep->u.l.n == 2 && sep->u.l.v[0]->t == TV_STR && sep->u.l.v[1]->t == TV_STR) {
        tv_t *a = tv_str(c->a, sep->u.l.v[0]->u.s.p, sep->u.l.v[0]->u.s.n);
        tv_t *b = tv_str(c->a, sep->u.l.v[1]->u.s.p, sep->u.l.v[1]->u.s.n);
        if (!a || !b)
            return tpl_oom(c, line);
        isep = a->u.s.p; /* tv_str NUL-terminates */
        ksep = b->u.s.p;
    } else if (sep && sep->t != TV_NONE) {
        return tpl_fail(c, line, -EINVAL, "tojson separators must be a pair of strings");
    }
    tk_buf_t b = { 0 };
    char m[200] = "";
    int rc = tpl_tojson(&b, v, asc && tv_truthy(asc), indent, isep, ksep, sk && tv_truthy(sk), m, sizeof m);
    if (rc == 0 && !(*out = tv_str(c->a, b.p ? b.p : "", b.len)))
        rc = -ENOMEM;
    tk_buf_free(&b);
    if (rc == -ENOMEM)
        return tpl_oom(c, line);
    return rc ? tpl_fail(c, line, rc, "tojson: %s", m) : 0;
}

static int f_join(tpl_ctx_t *c, int line, tv_t *v, tv_t **args, const char **kw, size_t n, tv_t **out)
{
    tv_t *d = tpl_arg(args, kw, n, 0, "d"), *attr = tpl_arg(args, kw, n, 1, "attribute"), *items;
    int rc;
    if ((rc = tpl_iter_list(c, line, v, &items)))
        return rc;
    if (d && (rc = want_str(c, line, &d)))
        return rc;
    tk_buf_t b = { 0 };
    for (size_t i = 0; i < items->u.l.n; i++) {
        tv_t *x = items->u.l.v[i];
        if (attr && (rc = attr_path(c, line, x, attr, &x))) {
            tk_buf_free(&b);
            return rc;
        }
        if ((i && d && tk_buf_add(&b, d->u.s.p, d->u.s.n)) || tv_to_str(&b, x)) {
            tk_buf_free(&b);
            return tpl_oom(c, line);
        }
    }
    *out = tv_str(c->a, b.p ? b.p : "", b.len);
    tk_buf_free(&b);
    return *out ? 0 : tpl_oom(c, line);
}

static int f_map(tpl_ctx_t *c, tpl_scope_t *s, int line, tv_t *v, tv_t **args, const char **kw, size_t n,
                 tv_t **out)
{
    tv_t *items, *attr = tpl_arg(args, kw, n, 99, "attribute"), *def = tpl_arg(args, kw, n, 99, "default");
    int rc;
    if ((rc = tpl_iter_list(c, line, v, &items)))
        return rc;
    tv_t *r = tv_list(c->a, items->u.l.n);
    if (!r)
        return tpl_oom(c, line);
    tv_t *fname = attr ? NULL : tpl_arg(args, kw, n, 0, NULL);
    if (!attr && (!fname || fname->t != TV_STR))
        return tpl_fail(c, line, -EINVAL, "map needs attribute= or a filter name");
    char fn[64] = "";
    if (fname)
        snprintf(fn, sizeof fn, "%.*s", (int)fname->u.s.n, fname->u.s.p);
    for (size_t i = 0; i < items->u.l.n; i++) {
        tv_t *x = items->u.l.v[i];
        if (attr) {
            if ((rc = attr_path(c, line, x, attr, &x)))
                return rc;
            if (x->t == TV_UNDEF && def)
                x = def;
        } else if ((rc = tpl_filter(c, s, line, fn, x, args + 1, kw ? kw + 1 : NULL, n - 1, &x))) {
            return rc;
        }
        r->u.l.v[i] = x;
    }
    *out = r;
    return 0;
}

static int f_indent(tpl_ctx_t *c, int line, tv_t *v, tv_t **args, const char **kw, size_t n, tv_t **out)
{
    tv_t *w = tpl_arg(args, kw, n, 0, "width"), *first = tpl_arg(args, kw, n, 1, "first");
    tv_t *blank = tpl_arg(args, kw, n, 2, "blank");
    tk_buf_t pad = { 0 }, b = { 0 };
    int rc = 0;
    if (w && w->t == TV_STR)
        rc = tk_buf_add(&pad, w->u.s.p, w->u.s.n);
    else
        for (int64_t i = 0; !rc && i < (w && w->t == TV_INT ? (w->u.i > 256 ? 256 : w->u.i) : 4); i++)
            rc = tk_buf_add(&pad, " ", 1);
    rc = rc || tk_buf_add(&pad, "", 0);
    if ((rc = rc ? rc : want_str(c, line, &v))) {
        tk_buf_free(&pad);
        return tpl_oom(c, line);
    }
    const char *p = v->u.s.p, *e = p + v->u.s.n;
    int first_line = 1;
    while (!rc) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(e - p);
        int is_blank = 1;
        for (size_t i = 0; i < l; i++)
            if (!strchr(" \t\r\f\v", p[i]))
                is_blank = 0;
        if (first_line ? (first && tv_truthy(first)) : (!is_blank || (blank && tv_truthy(blank))))
            rc = tk_buf_add(&b, pad.p, pad.len);
        rc = rc || tk_buf_add(&b, p, l + (nl ? 1 : 0));
        first_line = 0;
        if (!nl)
            break;
        p = nl + 1;
    }
    *out = rc ? NULL : tv_str(c->a, b.p ? b.p : "", b.len);
    tk_buf_free(&pad);
    tk_buf_free(&b);
    return *out ? 0 : tpl_oom(c, line);
}

/* Sort key of dictsort: strings lowercased unless case_sensitive. */
static _Thread_local int ds_by_value, ds_case;
static int cmp_pairs(const void *x, const void *y)
{
    const tv_t *a = (*(tv_t *const *)x)->u.l.v[ds_by_value], *b = (*(tv_t *const *)y)->u.l.v[ds_by_value];
    if (!ds_case && a->t == TV_STR && b->t == TV_STR) {
        for (size_t i = 0; i < a->u.s.n && i < b->u.s.n; i++) {
            int ca = a->u.s.p[i] >= 'A' && a->u.s.p[i] <= 'Z' ? a->u.s.p[i] + 32 : (unsigned char)a->u.s.p[i];
            int cb = b->u.s.p[i] >= 'A' && b->u.s.p[i] <= 'Z' ? b->u.s.p[i] + 32 : (unsigned char)b->u.s.p[i];
            if (ca != cb)
                return ca < cb ? -1 : 1;
        }
        return a->u.s.n < b->u.s.n ? -1 : a->u.s.n > b->u.s.n;
    }
    return cmp_vals(&a, &b);
}

/* dictsort(case_sensitive=false, by='key', reverse=false): (key, value) pairs, sorted. */
static int f_dictsort(tpl_ctx_t *c, int line, tv_t *v, tv_t **args, const char **kw, size_t n, tv_t **out)
{
    tv_t *cs = tpl_arg(args, kw, n, 0, "case_sensitive"), *by = tpl_arg(args, kw, n, 1, "by");
    tv_t *rev = tpl_arg(args, kw, n, 2, "reverse"), *items;
    int rc;
    if (v->t != TV_DICT)
        return tpl_fail(c, line, -EINVAL, "dictsort needs a mapping, not %s", tv_type_name(v));
    if ((rc = tpl_method(c, line, v, "items", NULL, NULL, 0, &items)))
        return rc;
    ds_case = cs && tv_truthy(cs);
    ds_by_value = by && by->t == TV_STR && by->u.s.n == 5 && !memcmp(by->u.s.p, "value", 5);
    if (by && !ds_by_value && !(by->t == TV_STR && by->u.s.n == 3 && !memcmp(by->u.s.p, "key", 3)))
        return tpl_fail(c, line, -EINVAL, "dictsort: by must be 'key' or 'value'");
    sort_err = 0;
    qsort(items->u.l.v, items->u.l.n, sizeof *items->u.l.v, cmp_pairs);
    if (sort_err)
        return tpl_fail(c, line, -EINVAL, "dictsort: values are not comparable");
    if (rev && tv_truthy(rev))
        for (size_t i = 0; i < items->u.l.n / 2; i++) {
            tv_t *t = items->u.l.v[i];
            items->u.l.v[i] = items->u.l.v[items->u.l.n - 1 - i];
            items->u.l.v[items->u.l.n - 1 - i] = t;
        }
    *out = items;
    return 0;
}

int tpl_filter(tpl_ctx_t *c, tpl_scope_t *s, int line, const char *f, tv_t *v, tv_t **args, const char **kw,
               size_t n, tv_t **out)
{
    tv_t *a0 = tpl_arg(args, kw, n, 0, NULL), *items;
    int rc;
    if (!strcmp(f, "safe")) {
        *out = v;
        return 0;
    }
    if (!strcmp(f, "default") || !strcmp(f, "d")) {
        tv_t *def = tpl_arg(args, kw, n, 0, "default_value"), *boolean = tpl_arg(args, kw, n, 1, "boolean");
        int use = v->t == TV_UNDEF || (boolean && tv_truthy(boolean) && !tv_truthy(v));
        *out = use ? (def ? def : tv_str(c->a, "", 0)) : v;
        return *out ? 0 : tpl_oom(c, line);
    }
    if (!strcmp(f, "tojson"))
        return f_tojson(c, line, v, args, kw, n, out);
    if (!strcmp(f, "length") || !strcmp(f, "count")) {
        size_t len = v->t == TV_STR ? tv_utf8_len(v->u.s.p, v->u.s.n) : v->t == TV_LIST ? v->u.l.n
                   : v->t == TV_DICT || v->t == TV_NS ? v->u.d.n : 0;
        if (v->t != TV_STR && v->t != TV_LIST && v->t != TV_DICT && v->t != TV_NS && v->t != TV_UNDEF)
            return tpl_fail(c, line, -EINVAL, "object of type %s has no length", tv_type_name(v));
        return (*out = tv_int(c->a, (int64_t)len)) ? 0 : tpl_oom(c, line);
    }
    if (!strcmp(f, "string"))
        return (*out = tv_stringify(c->a, v)) ? 0 : tpl_oom(c, line);
    if (!strcmp(f, "trim") || !strcmp(f, "upper") || !strcmp(f, "lower") || !strcmp(f, "capitalize") ||
        !strcmp(f, "title") || !strcmp(f, "replace") || !strcmp(f, "indent") || !strcmp(f, "wordcount")) {
        if ((rc = want_str(c, line, &v)))
            return rc;
        if (!strcmp(f, "trim"))
            return tpl_strip(c, line, v, tpl_arg(args, kw, n, 0, "chars"), 1, 1, out);
        if (!strcmp(f, "replace")) {
            tv_t *a1 = tpl_arg(args, kw, n, 1, NULL), *cnt = tpl_arg(args, kw, n, 2, "count");
            if (!a0 || !a1)
                return tpl_fail(c, line, -EINVAL, "replace needs two arguments");
            if ((rc = want_str(c, line, &a0)) || (rc = want_str(c, line, &a1)))
                return rc;
            return tpl_replace(c, line, v, a0, a1, cnt && cnt->t == TV_INT ? cnt->u.i : -1, out);
        }
        if (!strcmp(f, "indent"))
            return f_indent(c, line, v, args, kw, n, out);
        if (!strcmp(f, "wordcount")) {
            int64_t w = 0, in = 0;
            for (size_t i = 0; i < v->u.s.n; i++) {
                char ch = v->u.s.p[i];
                int word = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                           ch == '_' || (unsigned char)ch >= 0x80;
                w += word && !in;
                in = word;
            }
            return (*out = tv_int(c->a, w)) ? 0 : tpl_oom(c, line);
        }
        if (!strcmp(f, "title")) { /* Jinja: words start after - space ( { [ < */
            tv_t *r = tv_str(c->a, v->u.s.p, v->u.s.n);
            if (!r)
                return tpl_oom(c, line);
            char *p = (char *)r->u.s.p;
            int start = 1;
            for (size_t i = 0; i < r->u.s.n; i++) {
                char ch = p[i];
                if (strchr("- \t\n\r\f\v({[<", ch)) {
                    start = 1;
                    continue;
                }
                if (start && ch >= 'a' && ch <= 'z')
                    p[i] = (char)(ch - 32);
                else if (!start && ch >= 'A' && ch <= 'Z')
                    p[i] = (char)(ch + 32);
                start = 0;
            }
            *out = r;
            return 0;
        }
        return (*out = tpl_case(c->a, v, f[0] == 'u' ? 'u' : f[0] == 'l' ? 'l' : 'c')) ? 0 : tpl_oom(c, line);
    }
    if (!strcmp(f, "first") || !strcmp(f, "last")) {
        if ((rc = tpl_iter_list(c, line, v, &items)))
            return rc;
        *out = items->u.l.n == 0 ? &tv_undef_v : items->u.l.v[f[0] == 'f' ? 0 : items->u.l.n - 1];
        return 0;
    }
    if (!strcmp(f, "list"))
        return tpl_iter_list(c, line, v, out);
    if (!strcmp(f, "items")) {
        if (v->t == TV_UNDEF)
            return (*out = tv_list(c->a, 0)) ? 0 : tpl_oom(c, line);
        if (v->t != TV_DICT && v->t != TV_NS)
            return tpl_fail(c, line, -EINVAL, "items filter needs a mapping, not %s", tv_type_name(v));
        return tpl_method(c, line, v, "items", NULL, NULL, 0, out);
    }
    if (!strcmp(f, "join"))
        return f_join(c, line, v, args, kw, n, out);
    if (!strcmp(f, "dictsort"))
        return f_dictsort(c, line, v, args, kw, n, out);
    if (!strcmp(f, "select") || !strcmp(f, "reject") || !strcmp(f, "selectattr") || !strcmp(f, "rejectattr"))
        return select_items(c, line, f, v, args, kw, n, out);
    if (!strcmp(f, "map"))
        return f_map(c, s, line, v, args, kw, n, out);
    if (!strcmp(f, "int"))
        return to_int(c, line, v, tpl_arg(args, kw, n, 0, "default"), out);
    if (!strcmp(f, "float")) {
        double d = 0;
        if (v->t == TV_FLOAT || v->t == TV_INT || v->t == TV_BOOL)
            d = v->t == TV_FLOAT ? v->u.f : v->t == TV_INT ? (double)v->u.i : v->u.b;
        else if (v->t == TV_STR) {
            char buf[64], *end;
            size_t l = v->u.s.n < 63 ? v->u.s.n : 63;
            memcpy(buf, v->u.s.p, l);
            buf[l] = 0;
            d = strtod(buf, &end);
            if (end == buf || *end)
                d = 0;
        }
        return (*out = tv_float(c->a, d)) ? 0 : tpl_oom(c, line);
    }
    if (!strcmp(f, "abs")) {
        if (v->t == TV_INT && v->u.i != INT64_MIN)
            return (*out = tv_int(c->a, v->u.i < 0 ? -v->u.i : v->u.i)) ? 0 : tpl_oom(c, line);
        if (v->t == TV_FLOAT)
            return (*out = tv_float(c->a, fabs(v->u.f))) ? 0 : tpl_oom(c, line);
        return tpl_fail(c, line, -EINVAL, "bad operand type for abs: %s", tv_type_name(v));
    }
    if (!strcmp(f, "reverse") || !strcmp(f, "sort") || !strcmp(f, "unique")) {
        if (v->t == TV_STR && f[0] == 'r') {
            tv_t *chars;
            if ((rc = tpl_iter_list(c, line, v, &chars)))
                return rc;
            tk_buf_t b = { 0 };
            for (size_t i = chars->u.l.n; i-- > 0;)
                if (tk_buf_add(&b, chars->u.l.v[i]->u.s.p, chars->u.l.v[i]->u.s.n)) {
                    tk_buf_free(&b);
                    return tpl_oom(c, line);
                }
            *out = tv_str(c->a, b.p ? b.p : "", b.len);
            tk_buf_free(&b);
            return *out ? 0 : tpl_oom(c, line);
        }
        if ((rc = tpl_iter_list(c, line, v, &items)))
            return rc;
        tv_t *r = tv_list(c->a, items->u.l.n);
        if (!r)
            return tpl_oom(c, line);
        r->u.l.n = 0;
        for (size_t i = 0; i < items->u.l.n; i++) {
            tv_t *x = items->u.l.v[f[0] == 'r' ? items->u.l.n - 1 - i : i];
            int dup = 0;
            for (size_t j = 0; f[0] == 'u' && j < r->u.l.n && !dup; j++)
                dup = tv_eq(r->u.l.v[j], x);
            if (!dup)
                r->u.l.v[r->u.l.n++] = x;
        }
        if (f[0] == 's') {
            tv_t *rev = tpl_arg(args, kw, n, 0, "reverse");
            sort_err = 0;
            qsort(r->u.l.v, r->u.l.n, sizeof *r->u.l.v, cmp_vals);
            if (sort_err)
                return tpl_fail(c, line, -EINVAL, "sort: values are not comparable");
            if (rev && tv_truthy(rev))
                for (size_t i = 0; i < r->u.l.n / 2; i++) {
                    tv_t *t = r->u.l.v[i];
                    r->u.l.v[i] = r->u.l.v[r->u.l.n - 1 - i];
                    r->u.l.v[r->u.l.n - 1 - i] = t;
                }
        }
        *out = r;
        return 0;
    }
    return tpl_fail(c, line, -EINVAL, "unknown filter '%s'", f);
}

int tpl_test(tpl_ctx_t *c, int line, const char *t, tv_t *v, tv_t **args, size_t n, int *res)
{
    tv_t *a0 = n ? args[0] : NULL;
    int num = v->t == TV_INT || v->t == TV_FLOAT || v->t == TV_BOOL, lt;
    if (!strcmp(t, "defined")) *res = v->t != TV_UNDEF;
    else if (!strcmp(t, "undefined")) *res = v->t == TV_UNDEF;
    else if (!strcmp(t, "none")) *res = v->t == TV_NONE;
    else if (!strcmp(t, "string")) *res = v->t == TV_STR;
    else if (!strcmp(t, "mapping")) *res = v->t == TV_DICT || v->t == TV_NS;
    else if (!strcmp(t, "iterable")) *res = v->t == TV_LIST || v->t == TV_DICT || v->t == TV_STR || v->t == TV_NS;
    else if (!strcmp(t, "sequence")) *res = v->t == TV_LIST || v->t == TV_DICT || v->t == TV_STR;
    else if (!strcmp(t, "number")) *res = num;
    else if (!strcmp(t, "integer")) *res = v->t == TV_INT;
    else if (!strcmp(t, "float")) *res = v->t == TV_FLOAT;
    else if (!strcmp(t, "boolean")) *res = v->t == TV_BOOL;
    else if (!strcmp(t, "true")) *res = v->t == TV_BOOL && v->u.b;
    else if (!strcmp(t, "false")) *res = v->t == TV_BOOL && !v->u.b;
    else if (!strcmp(t, "callable")) *res = v->t == TV_MACRO || v->t == TV_FUNC || v->t == TV_UNDEF; /* as Jinja */
    else if (!strcmp(t, "lower") || !strcmp(t, "upper")) {
        int up = 0, low = 0;
        for (size_t i = 0; v->t == TV_STR && i < v->u.s.n; i++) {
            up |= v->u.s.p[i] >= 'A' && v->u.s.p[i] <= 'Z';
            low |= v->u.s.p[i] >= 'a' && v->u.s.p[i] <= 'z';
        }
        *res = v->t == TV_STR && (t[0] == 'l' ? low && !up : up && !low);
    } else if (!strcmp(t, "even") || !strcmp(t, "odd")) {
        if (v->t != TV_INT)
            return tpl_fail(c, line, -EINVAL, "test %s needs an integer", t);
        *res = (v->u.i % 2 == 0) == (t[0] == 'e');
    } else if (!strcmp(t, "divisibleby")) {
        if (v->t != TV_INT || !a0 || a0->t != TV_INT || a0->u.i == 0)
            return tpl_fail(c, line, -EINVAL, "divisibleby needs integers");
        *res = v->u.i % a0->u.i == 0;
    } else if (!a0) {
        return tpl_fail(c, line, -EINVAL, "unknown test '%s' (or missing argument)", t);
    } else if (!strcmp(t, "eq") || !strcmp(t, "equalto") || !strcmp(t, "==")) *res = tv_eq(v, a0);
    else if (!strcmp(t, "ne") || !strcmp(t, "!=")) *res = !tv_eq(v, a0);
    else if (!strcmp(t, "sameas")) *res = v->t == a0->t && (v == a0 || (v->t <= TV_BOOL && tv_eq(v, a0)));
    else if (!strcmp(t, "in")) {
        int r = 0;
        if (a0->t == TV_STR && v->t == TV_STR)
            r = memmem(a0->u.s.p, a0->u.s.n, v->u.s.p, v->u.s.n) != NULL || v->u.s.n == 0;
        else if (a0->t == TV_LIST)
            for (size_t i = 0; i < a0->u.l.n && !r; i++)
                r = tv_eq(v, a0->u.l.v[i]);
        else if (a0->t == TV_DICT)
            r = tv_dict_get(a0, v) != NULL;
        else
            return tpl_fail(c, line, -EINVAL, "test in: argument is not a container");
        *res = r;
    } else if (!strcmp(t, "lt") || !strcmp(t, "lessthan") || !strcmp(t, "<") || !strcmp(t, "le") ||
               !strcmp(t, "<=") || !strcmp(t, "gt") || !strcmp(t, "greaterthan") || !strcmp(t, ">") ||
               !strcmp(t, "ge") || !strcmp(t, ">=")) {
        int greater = t[0] == 'g' || t[0] == '>', eq = t[1] == 'e' || t[1] == '=';
        if (greater ? tv_lt(a0, v, &lt) : tv_lt(v, a0, &lt))
            return tpl_fail(c, line, -EINVAL, "test %s: values are not comparable", t);
        *res = lt || (eq && tv_eq(v, a0));
    } else {
        return tpl_fail(c, line, -EINVAL, "unknown test '%s'", t);
    }
    return 0;
}
