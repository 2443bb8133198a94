/* tpl_methods.c — Python methods the templates call on values (str: strip/lstrip/rstrip,
 * split, startswith/endswith, upper/lower/title/capitalize, replace, find, count, join, is*;
 * dict: get/items/keys/values; loop.cycle) and the globals transformers passes or Jinja has
 * (raise_exception, strftime_now, namespace, range, dict). Mutating methods are refused as
 * in transformers' ImmutableSandboxedEnvironment. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "fu_util.h"
#include "tpl_internal.h"

/* Argument pos (positional) or named name; NULL when not given. */
tv_t *tpl_arg(tv_t **args, const char **kw, size_t n, size_t pos, const char *name)
{
    size_t p = 0;
    for (size_t i = 0; i < n; i++) {
        if (kw && kw[i]) {
            if (name && !strcmp(kw[i], name))
                return args[i];
        } else if (p++ == pos) {
            return args[i];
        }
    }
    return NULL;
}

static int in_chars(const char *p, size_t l, const tv_t *chars)
{
    if (!chars)
        return 0;
    for (size_t i = 0; i + l <= chars->u.s.n;) {
        size_t cl = tv_utf8_off(chars->u.s.p + i, chars->u.s.n - i, 1);
        if (cl == l && !memcmp(chars->u.s.p + i, p, l))
            return 1;
        i += cl ? cl : 1;
    }
    return 0;
}

int tpl_strip(tpl_ctx_t *c, int line, tv_t *s, tv_t *chars, int left, int right, tv_t **out)
{
    if (s->t != TV_STR)
        return tpl_fail(c, line, -EINVAL, "strip of a %s", tv_type_name(s));
    if (chars && chars->t == TV_NONE)
        chars = NULL;
    if (chars && chars->t != TV_STR)
        return tpl_fail(c, line, -EINVAL, "strip arg must be None or str");
    const char *p = s->u.s.p;
    size_t lo = 0, hi = s->u.s.n, l;
    while (left && lo < hi) {
        int ws = tv_is_pyspace(p + lo, hi - lo, &l);
        if (chars ? !in_chars(p + lo, l, chars) : !ws)
            break;
        lo += l;
    }
    while (right && hi > lo) {
        size_t st = hi - 1;
        while (st > lo && ((unsigned char)p[st] & 0xC0) == 0x80)
            st--;
        int ws = tv_is_pyspace(p + st, hi - st, &l);
        if (chars ? !in_chars(p + st, hi - st, chars) : !ws)
            break;
        hi = st;
    }
    return (*out = tv_str(c->a, p + lo, hi - lo)) ? 0 : tpl_oom(c, line);
}

/* Python str.split(sep=None, maxsplit=-1). */
static int split(tpl_ctx_t *c, int line, tv_t *s, tv_t *sep, int64_t maxsplit, tv_t **out)
{
    const char *p = s->u.s.p;
    size_t n = s->u.s.n, i = 0, cnt = 0, cap = 8;
    tv_t **v = tpl_alloc(c->a, cap * sizeof *v);
    if (!v)
        return tpl_oom(c, line);
#define PUSH(ptr, len)                                                                  \
    do {                                                                                \
        if (cnt == cap) {                                                               \
            tv_t **nv = tpl_alloc(c->a, cap * 2 * sizeof *nv);                          \
            if (!nv)                                                                    \
                return tpl_oom(c, line);                                                \
            memcpy(nv, v, cnt * sizeof *nv);                                            \
            v = nv;                                                                     \
            cap *= 2;                                                                   \
        }                                                                               \
        if (!(v[cnt++] = tv_str(c->a, (ptr), (len))))                                   \
            return tpl_oom(c, line);                                                    \
    } while (0)
    if (!sep || sep->t == TV_NONE) {
        size_t l;
        int64_t splits = 0;
        for (;;) {
            while (i < n && tv_is_pyspace(p + i, n - i, &l))
                i += l;
            if (i >= n)
                break;
            size_t st = i;
            if (maxsplit >= 0 && splits >= maxsplit) {
                size_t e = n;
                while (e > st) {
                    size_t b = e - 1;
                    while (b > st && ((unsigned char)p[b] & 0xC0) == 0x80)
                        b--;
                    if (!tv_is_pyspace(p + b, e - b, &l))
                        break;
                    e = b;
                }
                PUSH(p + st, e - st);
                break;
            }
            while (i < n && !tv_is_pyspace(p + i, n - i, &l))
                i += l;
            PUSH(p + st, i - st);
            splits++;
        }
    } else {
        if (sep->t != TV_STR)
            return tpl_fail(c, line, -EINVAL, "split separator must be a string");
        if (sep->u.s.n == 0)
            return tpl_fail(c, line, -EINVAL, "empty separator");
        int64_t splits = 0;
        for (;;) {
            const char *f = maxsplit >= 0 && splits >= maxsplit ? NULL
                          : memmem(p + i, n - i, sep->u.s.p, sep->u.s.n);
            if (!f) {
                PUSH(p + i, n - i);
                break;
            }
            PUSH(p + i, (size_t)(f - (p + i)));
            i = (size_t)(f - p) + sep->u.s.n;
            splits++;
        }
    }
#undef PUSH
    tv_t *l = tv_new(c->a, TV_LIST);
    if (!l)
        return tpl_oom(c, line);
    l->u.l.v = v;
    l->u.l.n = cnt;
    *out = l;
    return 0;
}

/* s with every occurrence of old replaced by new (at most count when count >= 0). */
int tpl_replace(tpl_ctx_t *c, int line, tv_t *s, tv_t *old, tv_t *new, int64_t count, tv_t **out)
{
    if (s->t != TV_STR || old->t != TV_STR || new->t != TV_STR)
        return tpl_fail(c, line, -EINVAL, "replace needs strings");
    tk_buf_t b = { 0 };
    size_t i = 0, n = s->u.s.n;
    int64_t done = 0;
    int rc = 0;
    while (!rc && i <= n) {
        const char *f = NULL;
        if (count < 0 || done < count) {
            if (old->u.s.n == 0)
                f = s->u.s.p + i;
            else if (i < n)
                f = memmem(s->u.s.p + i, n - i, old->u.s.p, old->u.s.n);
        }
        if (!f) {
            rc = tk_buf_add(&b, s->u.s.p + i, n - i);
            break;
        }
        size_t at = (size_t)(f - s->u.s.p);
        rc = tk_buf_add(&b, s->u.s.p + i, at - i) || tk_buf_add(&b, new->u.s.p, new->u.s.n);
        done++;
        if (old->u.s.n == 0) { /* empty pattern: between every character */
            if (at >= n)
                break;
            size_t cl = tv_utf8_off(s->u.s.p + at, n - at, 1);
            rc = rc || tk_buf_add(&b, s->u.s.p + at, cl);
            i = at + cl;
            if (i >= n && (count < 0 || done < count)) {
                rc = rc || tk_buf_add(&b, new->u.s.p, new->u.s.n);
                break;
            }
            if (i >= n)
                break;
        } else {
            i = at + old->u.s.n;
        }
    }
    *out = rc ? NULL : tv_str(c->a, b.p ? b.p : "", b.len);
    tk_buf_free(&b);
    return *out ? 0 : tpl_oom(c, line);
}

/* Simple case mapping of one code point (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic). */
static uint32_t map_case(uint32_t cp, int up)
{
    if (cp < 0x80)
        return up ? (cp >= 'a' && cp <= 'z' ? cp - 32 : cp) : (cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
    if (cp >= 0xC0 && cp <= 0xFE && cp != 0xD7 && cp != 0xF7 && cp != 0xDF) {
        if (up && cp >= 0xE0)
            return cp - 0x20;
        if (!up && cp < 0xE0)
            return cp + 0x20;
        return cp;
    }
    if (cp == 0xFF)
        return up ? 0x178 : cp;
    if (cp == 0x178)
        return up ? cp : 0xFF;
    if ((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14A && cp <= 0x177))
        return up ? (cp & ~1u) : (cp | 1u);
    if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E))
        return up ? ((cp & 1u) ? cp : cp - 1) : ((cp & 1u) ? cp + 1 : cp);
    if (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2)
        return up ? cp : cp + 0x20;
    if (cp >= 0x3B1 && cp <= 0x3CB && cp != 0x3C2)
        return up ? cp - 0x20 : cp;
    if (cp >= 0x410 && cp <= 0x42F)
        return up ? cp : cp + 0x20;
    if (cp >= 0x430 && cp <= 0x44F)
        return up ? cp - 0x20 : cp;
    if (cp >= 0x400 && cp <= 0x40F)
        return up ? cp : cp + 0x50;
    if (cp >= 0x450 && cp <= 0x45F)
        return up ? cp - 0x50 : cp;
    return cp;
}

static int is_cased(uint32_t cp)
{
    return map_case(cp, 1) != cp || map_case(cp, 0) != cp;
}

tv_t *tpl_case(tpl_arena_t *a, const tv_t *s, char mode)
{
    tk_buf_t b = { 0 };
    int prev_cased = 0, rc = 0;
    size_t i = 0, k = 0;
    while (i < s->u.s.n && !rc) {
        uint32_t cp;
        size_t l = tk_utf8_next((const uint8_t *)s->u.s.p + i, s->u.s.n - i, &cp);
        int up = mode == 'u' || (mode == 'c' && k == 0) || (mode == 't' && !prev_cased);
        if (cp >= TK_UTF8_BAD) {
            rc = tk_buf_add(&b, s->u.s.p + i, l);
        } else {
            char e[4];
            prev_cased = is_cased(cp);
            rc = tk_buf_add(&b, e, tk_utf8_put(map_case(cp, up), e));
        }
        i += l;
        k++;
    }
    tv_t *r = rc ? NULL : tv_str(a, b.p ? b.p : "", b.len);
    tk_buf_free(&b);
    return r;
}

static int str_method(tpl_ctx_t *c, int line, tv_t *s, const char *m, tv_t **args, const char **kw, size_t n,
                      tv_t **out)
{
    tv_t *a0 = tpl_arg(args, kw, n, 0, NULL), *a1 = tpl_arg(args, kw, n, 1, NULL);
    if (!strcmp(m, "strip") || !strcmp(m, "lstrip") || !strcmp(m, "rstrip"))
        return tpl_strip(c, line, s, a0, m[0] != 'r', m[0] != 'l', out);
    if (!strcmp(m, "split")) {
        tv_t *sep = tpl_arg(args, kw, n, 0, "sep"), *mx = tpl_arg(args, kw, n, 1, "maxsplit");
        return split(c, line, s, sep, mx && mx->t == TV_INT ? mx->u.i : -1, out);
    }
    if (!strcmp(m, "startswith") || !strcmp(m, "endswith")) {
        if (!a0)
            return tpl_fail(c, line, -EINVAL, "%s needs an argument", m);
        size_t np = a0->t == TV_LIST ? a0->u.l.n : 1;
        int r = 0;
        for (size_t i = 0; i < np && !r; i++) {
            tv_t *x = a0->t == TV_LIST ? a0->u.l.v[i] : a0;
            if (x->t != TV_STR)
                return tpl_fail(c, line, -EINVAL, "%s argument must be str, not %s", m, tv_type_name(x));
            if (x->u.s.n <= s->u.s.n)
                r = !memcmp(m[0] == 's' ? s->u.s.p : s->u.s.p + s->u.s.n - x->u.s.n, x->u.s.p, x->u.s.n);
        }
        *out = tv_bool(r);
        return 0;
    }
    if (!strcmp(m, "upper") || !strcmp(m, "lower") || !strcmp(m, "title") || !strcmp(m, "capitalize"))
        return (*out = tpl_case(c->a, s, m[0] == 'u' ? 'u' : m[0] == 'l' ? 'l' : m[0] == 't' ? 't' : 'c'))
                   ? 0 : tpl_oom(c, line);
    if (!strcmp(m, "replace")) {
        tv_t *cnt = tpl_arg(args, kw, n, 2, "count");
        if (!a0 || !a1)
            return tpl_fail(c, line, -EINVAL, "replace needs two arguments");
        return tpl_replace(c, line, s, a0, a1, cnt && cnt->t == TV_INT ? cnt->u.i : -1, out);
    }
    if (!strcmp(m, "find") || !strcmp(m, "count") || !strcmp(m, "rfind")) {
        if (!a0 || a0->t != TV_STR)
            return tpl_fail(c, line, -EINVAL, "%s needs a string", m);
        int64_t r = m[0] == 'c' ? 0 : -1;
        for (size_t i = 0; i + a0->u.s.n <= s->u.s.n;) {
            if (!memcmp(s->u.s.p + i, a0->u.s.p, a0->u.s.n)) {
                if (m[0] == 'f') {
                    r = (int64_t)tv_utf8_len(s->u.s.p, i);
                    break;
                }
                r = m[0] == 'c' ? r + 1 : (int64_t)tv_utf8_len(s->u.s.p, i);
                i += m[0] == 'c' && a0->u.s.n ? a0->u.s.n : 1;
                continue;
            }
            i++;
        }
        return (*out = tv_int(c->a, r)) ? 0 : tpl_oom(c, line);
    }
    if (!strcmp(m, "join")) {
        tv_t *items;
        int rc;
        if (!a0 || (rc = tpl_iter_list(c, line, a0, &items)))
            return a0 ? rc : tpl_fail(c, line, -EINVAL, "join needs an argument");
        tk_buf_t b = { 0 };
        for (size_t i = 0; i < items->u.l.n; i++) {
            if (items->u.l.v[i]->t != TV_STR) {
                tk_buf_free(&b);
                return tpl_fail(c, line, -EINVAL, "sequence item %zu: expected str, %s found", i,
                                tv_type_name(items->u.l.v[i]));
            }
            if ((i && tk_buf_add(&b, s->u.s.p, s->u.s.n)) ||
                tk_buf_add(&b, items->u.l.v[i]->u.s.p, items->u.l.v[i]->u.s.n)) {
                tk_buf_free(&b);
                return tpl_oom(c, line);
            }
        }
        *out = tv_str(c->a, b.p ? b.p : "", b.len);
        tk_buf_free(&b);
        return *out ? 0 : tpl_oom(c, line);
    }
    if (!strcmp(m, "isdigit") || !strcmp(m, "isspace") || !strcmp(m, "isalpha") || !strcmp(m, "isalnum")) {
        int r = s->u.s.n > 0;
        for (size_t i = 0; i < s->u.s.n && r; i++) {
            char ch = s->u.s.p[i];
            int d = ch >= '0' && ch <= '9', al = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
            r = m[2] == 'd' ? d : m[2] == 's' ? (ch == ' ' || (ch >= 9 && ch <= 13)) : m[5] == 'h' ? al : (d || al);
        }
        *out = tv_bool(r);
        return 0;
    }
    return tpl_fail(c, line, -EINVAL, "unknown str method '%s'", m);
}

int tpl_method(tpl_ctx_t *c, int line, tv_t *self, const char *m, tv_t **args, const char **kw, size_t n,
               tv_t **out)
{
    if (self->t == TV_STR)
        return str_method(c, line, self, m, args, kw, n, out);
    if (self->t == TV_DICT && self->is_loop && !strcmp(m, "cycle")) {
        tv_t *i0 = tv_dict_getz(self, "index0");
        if (n == 0)
            return tpl_fail(c, line, -EINVAL, "loop.cycle needs arguments");
        *out = args[(size_t)i0->u.i % n];
        return 0;
    }
    if (self->t == TV_DICT) {
        if (!strcmp(m, "get")) {
            tv_t *k = tpl_arg(args, kw, n, 0, NULL), *d = tpl_arg(args, kw, n, 1, NULL), *v;
            if (!k)
                return tpl_fail(c, line, -EINVAL, "get needs a key");
            v = tv_dict_get(self, k);
            *out = v ? v : d ? d : &tv_none_v;
            return 0;
        }
        if (!strcmp(m, "items") || !strcmp(m, "keys") || !strcmp(m, "values")) {
            tv_t *l = tv_list(c->a, self->u.d.n);
            if (!l)
                return tpl_oom(c, line);
            for (size_t i = 0; i < self->u.d.n; i++) {
                if (m[0] == 'k') {
                    l->u.l.v[i] = self->u.d.k[i];
                } else if (m[0] == 'v') {
                    l->u.l.v[i] = self->u.d.v[i];
                } else {
                    tv_t *pair = tv_list(c->a, 2);
                    if (!pair)
                        return tpl_oom(c, line);
                    pair->is_tuple = 1;
                    pair->u.l.v[0] = self->u.d.k[i];
                    pair->u.l.v[1] = self->u.d.v[i];
                    l->u.l.v[i] = pair;
                }
            }
            *out = l;
            return 0;
        }
    }
    if (self->t == TV_UNDEF) {
        if (self->u.undef_name)
            return tpl_fail(c, line, -EINVAL, "'%s' is undefined (method %s)", self->u.undef_name, m);
        return tpl_fail(c, line, -EINVAL, "undefined value has no method %s", m);
    }
    return tpl_fail(c, line, -EINVAL, "unknown %s method '%s'", tv_type_name(self), m);
}

/* ---- globals --------------------------------------------------------------------------- */
static tv_t g_funcs[] = {
    { .t = TV_FUNC, .u.fn.id = TF_RAISE }, { .t = TV_FUNC, .u.fn.id = TF_STRFTIME },
    { .t = TV_FUNC, .u.fn.id = TF_NAMESPACE }, { .t = TV_FUNC, .u.fn.id = TF_RANGE },
    { .t = TV_FUNC, .u.fn.id = TF_DICT },
};
static const char *const g_names[] = { "raise_exception", "strftime_now", "namespace", "range", "dict" };

tv_t *tpl_global(const char *name)
{
    for (size_t i = 0; i < sizeof g_names / sizeof g_names[0]; i++)
        if (!strcmp(name, g_names[i]))
            return &g_funcs[i];
    return NULL;
}

int tpl_builtin(tpl_ctx_t *c, int line, int id, tv_t **args, const char **kw, size_t n, tv_t **out)
{
    tv_t *a0 = tpl_arg(args, kw, n, 0, NULL);
    if (id == TF_RAISE) {
        tk_buf_t b = { 0 };
        if (a0 && tv_to_str(&b, a0))
            return tpl_oom(c, line);
        int rc = tpl_fail(c, line, -EINVAL, "raise_exception: %s", b.p ? b.p : "");
        tk_buf_free(&b);
        return rc;
    }
    if (id == TF_STRFTIME) {
        char buf[256];
        time_t now = time(NULL);
        struct tm tm;
        if (!a0 || a0->t != TV_STR)
            return tpl_fail(c, line, -EINVAL, "strftime_now needs a format string");
        char *fmt = tpl_alloc(c->a, a0->u.s.n + 1);
        if (!fmt)
            return tpl_oom(c, line);
        memcpy(fmt, a0->u.s.p, a0->u.s.n);
        localtime_r(&now, &tm);
        size_t len = strftime(buf, sizeof buf, fmt, &tm);
        return (*out = tv_str(c->a, buf, len)) ? 0 : tpl_oom(c, line);
    }
    if (id == TF_NAMESPACE || id == TF_DICT) {
        tv_t *d = tv_new(c->a, id == TF_NAMESPACE ? TV_NS : TV_DICT);
        if (!d)
            return tpl_oom(c, line);
        for (size_t i = 0; i < n; i++) {
            if (kw && kw[i]) {
                tv_t *k = tv_strz(c->a, kw[i]);
                if (!k || tv_dict_set(c->a, d, k, args[i]))
                    return tpl_oom(c, line);
            } else if (args[i]->t == TV_DICT || args[i]->t == TV_NS) {
                for (size_t j = 0; j < args[i]->u.d.n; j++)
                    if (tv_dict_set(c->a, d, args[i]->u.d.k[j], args[i]->u.d.v[j]))
                        return tpl_oom(c, line);
            } else {
                return tpl_fail(c, line, -EINVAL, "%s() takes keyword arguments or a dict",
                                id == TF_NAMESPACE ? "namespace" : "dict");
            }
        }
        *out = d;
        return 0;
    }
    if (id == TF_RANGE) {
        int64_t v[3] = { 0, 0, 1 };
        if (n < 1 || n > 3)
            return tpl_fail(c, line, -EINVAL, "range takes 1 to 3 arguments");
        for (size_t i = 0; i < n; i++) {
            if (args[i]->t != TV_INT)
                return tpl_fail(c, line, -EINVAL, "range arguments must be integers");
            v[n == 1 ? 1 : i] = args[i]->u.i;
        }
        if (v[2] == 0)
            return tpl_fail(c, line, -EINVAL, "range step must not be zero");
        int64_t cnt = v[2] > 0 ? (v[1] > v[0] ? (v[1] - v[0] + v[2] - 1) / v[2] : 0)
                               : (v[0] > v[1] ? (v[0] - v[1] - v[2] - 1) / -v[2] : 0);
        if (cnt > 1000000)
            return tpl_fail(c, line, -E2BIG, "range of %lld items is too long", (long long)cnt);
        tv_t *l = tv_list(c->a, (size_t)cnt);
        if (!l)
            return tpl_oom(c, line);
        for (int64_t i = 0; i < cnt; i++)
            if (!(l->u.l.v[i] = tv_int(c->a, v[0] + i * v[2])))
                return tpl_oom(c, line);
        *out = l;
        return 0;
    }
    return tpl_fail(c, line, -EINVAL, "unknown function");
}
