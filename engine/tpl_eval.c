/* tpl_eval.c — expression evaluation with Jinja/Python semantics: names, literals, attribute
 * and item access (missing -> undefined), slicing by code points, calls of macros, builtins
 * and methods, arithmetic (int64 with overflow errors), ~, comparisons, in, and/or/not,
 * conditional expressions, filters and tests. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fu_util.h"
#include "tpl_internal.h"

int tpl_fail(tpl_ctx_t *c, int line, int code, const char *fmt, ...)
{
    char m[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return fu_err(c->err, c->errlen, code, "template line %d: %s", line, m);
}

int tpl_oom(tpl_ctx_t *c, int line)
{
    return tpl_fail(c, line, -ENOMEM, "out of memory (template arena limit)");
}

static int undef_err(tpl_ctx_t *c, int line, const tv_t *v, const char *what)
{
    if (v->u.undef_name)
        return tpl_fail(c, line, -EINVAL, "'%s' is undefined (%s)", v->u.undef_name, what);
    return tpl_fail(c, line, -EINVAL, "undefined value (%s)", what);
}

/* Python index normalisation: -1 is the last; 1 and the index when in range. */
static int norm_index(int64_t i, size_t n, size_t *out)
{
    if (i < 0)
        i += (int64_t)n;
    if (i < 0 || (uint64_t)i >= n)
        return 0;
    *out = (size_t)i;
    return 1;
}

int tpl_getitem(tpl_ctx_t *c, int line, tv_t *obj, tv_t *key, tv_t **out)
{
    size_t k;
    if (obj->t == TV_DICT || obj->t == TV_NS) {
        tv_t *v = tv_dict_get(obj, key);
        *out = v ? v : &tv_undef_v;
        return 0;
    }
    if ((obj->t == TV_LIST || obj->t == TV_STR) && (key->t == TV_INT || key->t == TV_BOOL)) {
        int64_t i = key->t == TV_INT ? key->u.i : key->u.b;
        if (obj->t == TV_LIST) {
            *out = norm_index(i, obj->u.l.n, &k) ? obj->u.l.v[k] : &tv_undef_v;
            return 0;
        }
        size_t n = tv_utf8_len(obj->u.s.p, obj->u.s.n);
        if (!norm_index(i, n, &k)) {
            *out = &tv_undef_v;
            return 0;
        }
        size_t o = tv_utf8_off(obj->u.s.p, obj->u.s.n, k), e = tv_utf8_off(obj->u.s.p, obj->u.s.n, k + 1);
        return (*out = tv_str(c->a, obj->u.s.p + o, e - o)) ? 0 : tpl_oom(c, line);
    }
    if (obj->t == TV_UNDEF)
        return undef_err(c, line, obj, "subscript");
    if (obj->t == TV_STR && key->t == TV_STR)
        return tpl_getattr(c, line, obj, key->u.s.p, out);
    *out = &tv_undef_v;
    return 0;
}

int tpl_getattr(tpl_ctx_t *c, int line, tv_t *obj, const char *name, tv_t **out)
{
    if (obj->t == TV_UNDEF)
        return undef_err(c, line, obj, "attribute access");
    if (obj->t == TV_DICT || obj->t == TV_NS) {
        tv_t *v = tv_dict_getz(obj, name);
        *out = v ? v : tv_undef_named(c->a, name);
        return *out ? 0 : tpl_oom(c, line);
    }
    *out = tv_undef_named(c->a, name);
    return *out ? 0 : tpl_oom(c, line);
}

/* Python slice [start:stop:step] of a list or string (code points). */
static int slice(tpl_ctx_t *c, int line, tv_t *obj, tv_t *st, tv_t *sp, tv_t *sk, tv_t **out)
{
    int64_t v[3] = { 0, 0, 1 };
    tv_t *in[3] = { st, sp, sk };
    int given[3];
    for (int k = 0; k < 3; k++) {
        given[k] = in[k] && in[k]->t != TV_NONE && in[k]->t != TV_UNDEF;
        if (given[k]) {
            if (in[k]->t != TV_INT && in[k]->t != TV_BOOL)
                return tpl_fail(c, line, -EINVAL, "slice indices must be integers, not %s", tv_type_name(in[k]));
            v[k] = in[k]->t == TV_INT ? in[k]->u.i : in[k]->u.b;
        }
    }
    if (v[2] == 0)
        return tpl_fail(c, line, -EINVAL, "slice step cannot be zero");
    if (obj->t != TV_LIST && obj->t != TV_STR)
        return tpl_fail(c, line, -EINVAL, "cannot slice a %s", tv_type_name(obj));
    int64_t n = obj->t == TV_LIST ? (int64_t)obj->u.l.n : (int64_t)tv_utf8_len(obj->u.s.p, obj->u.s.n);
    int64_t step = v[2], lo, hi;
    if (step > 0) {
        lo = !given[0] ? 0 : v[0] < 0 ? (v[0] + n < 0 ? 0 : v[0] + n) : (v[0] > n ? n : v[0]);
        hi = !given[1] ? n : v[1] < 0 ? (v[1] + n < 0 ? 0 : v[1] + n) : (v[1] > n ? n : v[1]);
    } else {
        lo = !given[0] ? n - 1 : v[0] < 0 ? (v[0] + n < -1 ? -1 : v[0] + n) : (v[0] >= n ? n - 1 : v[0]);
        hi = !given[1] ? -1 : v[1] < 0 ? (v[1] + n < -1 ? -1 : v[1] + n) : (v[1] >= n ? n - 1 : v[1]);
    }
    size_t cnt = 0;
    for (int64_t i = lo; step > 0 ? i < hi : i > hi; i += step)
        cnt++;
    if (obj->t == TV_LIST) {
        tv_t *r = tv_list(c->a, cnt);
        if (!r)
            return tpl_oom(c, line);
        size_t o = 0;
        for (int64_t i = lo; step > 0 ? i < hi : i > hi; i += step)
            r->u.l.v[o++] = obj->u.l.v[i];
        *out = r;
        return 0;
    }
    tk_buf_t b = { 0 };
    int rc = 0;
    for (int64_t i = lo; !rc && (step > 0 ? i < hi : i > hi); i += step) {
        size_t o = tv_utf8_off(obj->u.s.p, obj->u.s.n, (size_t)i);
        size_t e = tv_utf8_off(obj->u.s.p + o, obj->u.s.n - o, 1);
        rc = tk_buf_add(&b, obj->u.s.p + o, e);
    }
    *out = rc ? NULL : tv_str(c->a, b.p ? b.p : "", b.len);
    tk_buf_free(&b);
    return *out ? 0 : tpl_oom(c, line);
}

static int is_num(const tv_t *v) { return v->t == TV_INT || v->t == TV_FLOAT || v->t == TV_BOOL; }
static double fnum(const tv_t *v) { return v->t == TV_FLOAT ? v->u.f : v->t == TV_INT ? (double)v->u.i : v->u.b; }
static int64_t inum(const tv_t *v) { return v->t == TV_INT ? v->u.i : v->u.b; }

static int concat(tpl_ctx_t *c, int line, const tv_t *x, const tv_t *y, tv_t **out)
{
    if (x->t == TV_STR) {
        char *p = tpl_alloc(c->a, x->u.s.n + y->u.s.n + 1);
        tv_t *r = tv_new(c->a, TV_STR);
        if (!p || !r)
            return tpl_oom(c, line);
        memcpy(p, x->u.s.p, x->u.s.n);
        memcpy(p + x->u.s.n, y->u.s.p, y->u.s.n);
        r->u.s.p = p;
        r->u.s.n = x->u.s.n + y->u.s.n;
        *out = r;
        return 0;
    }
    tv_t *r = tv_list(c->a, x->u.l.n + y->u.l.n);
    if (!r)
        return tpl_oom(c, line);
    for (size_t i = 0; i < x->u.l.n; i++)
        r->u.l.v[i] = x->u.l.v[i];
    for (size_t i = 0; i < y->u.l.n; i++)
        r->u.l.v[x->u.l.n + i] = y->u.l.v[i];
    *out = r;
    return 0;
}

static int arith(tpl_ctx_t *c, int line, const char *op, tv_t *x, tv_t *y, tv_t **out)
{
    if (!strcmp(op, "~")) {
        tv_t *a = tv_stringify(c->a, x), *b = tv_stringify(c->a, y);
        if (!a || !b)
            return tpl_oom(c, line);
        return concat(c, line, a, b, out);
    }
    if (!strcmp(op, "+") && x->t == y->t && (x->t == TV_STR || x->t == TV_LIST))
        return concat(c, line, x, y, out);
    if (!strcmp(op, "*") && (x->t == TV_STR || x->t == TV_LIST) && (y->t == TV_INT || y->t == TV_BOOL)) {
        int64_t k = inum(y);
        tv_t *acc = x->t == TV_STR ? tv_str(c->a, "", 0) : tv_list(c->a, 0);
        if (!acc)
            return tpl_oom(c, line);
        if (k > 100000)
            return tpl_fail(c, line, -E2BIG, "repetition count %lld too large", (long long)k);
        for (int64_t i = 0; i < k; i++)
            if (concat(c, line, acc, x, &acc))
                return -ENOMEM;
        *out = acc;
        return 0;
    }
    if (!is_num(x) || !is_num(y))
        return tpl_fail(c, line, -EINVAL, "unsupported operand types for %s: %s and %s", op, tv_type_name(x),
                        tv_type_name(y));
    int flt = x->t == TV_FLOAT || y->t == TV_FLOAT;
    if (!strcmp(op, "/")) {
        if (fnum(y) == 0)
            return tpl_fail(c, line, -EINVAL, "division by zero");
        return (*out = tv_float(c->a, fnum(x) / fnum(y))) ? 0 : tpl_oom(c, line);
    }
    if (flt) {
        double a = fnum(x), b = fnum(y), r;
        if ((!strcmp(op, "//") || !strcmp(op, "%")) && b == 0)
            return tpl_fail(c, line, -EINVAL, "division by zero");
        switch (op[0]) {
        case '+': r = a + b; break;
        case '-': r = a - b; break;
        case '*': r = op[1] ? pow(a, b) : a * b; break;
        case '/': r = floor(a / b); break;
        default: r = fmod(a, b); if (r != 0 && ((r < 0) != (b < 0))) r += b; break;
        }
        return (*out = tv_float(c->a, r)) ? 0 : tpl_oom(c, line);
    }
    int64_t a = inum(x), b = inum(y), r = 0;
    int ovf = 0;
    switch (op[0]) {
    case '+': ovf = __builtin_add_overflow(a, b, &r); break;
    case '-': ovf = __builtin_sub_overflow(a, b, &r); break;
    case '*':
        if (op[1]) {
            if (b < 0)
                return (*out = tv_float(c->a, pow((double)a, (double)b))) ? 0 : tpl_oom(c, line);
            r = 1;
            for (int64_t i = 0; i < b && !ovf; i++)
                ovf = __builtin_mul_overflow(r, a, &r);
        } else {
            ovf = __builtin_mul_overflow(a, b, &r);
        }
        break;
    default:
        if (b == 0)
            return tpl_fail(c, line, -EINVAL, "division by zero");
        if (a == INT64_MIN && b == -1) {
            ovf = 1;
            break;
        }
        r = op[0] == '/' ? a / b : a % b;
        if (op[0] == '/' && (a % b != 0) && ((a < 0) != (b < 0)))
            r--;
        if (op[0] == '%' && r != 0 && ((r < 0) != (b < 0)))
            r += b;
    }
    if (ovf)
        return tpl_fail(c, line, -EINVAL, "integer overflow in %s", op);
    return (*out = tv_int(c->a, r)) ? 0 : tpl_oom(c, line);
}

/* Python `x in y`. */
static int contains(tpl_ctx_t *c, int line, tv_t *x, tv_t *y, int *res)
{
    if (y->t == TV_STR) {
        if (x->t != TV_STR)
            return tpl_fail(c, line, -EINVAL, "'in <string>' requires a string, not %s", tv_type_name(x));
        *res = x->u.s.n == 0 || memmem(y->u.s.p, y->u.s.n, x->u.s.p, x->u.s.n) != NULL;
        return 0;
    }
    if (y->t == TV_LIST) {
        *res = 0;
        for (size_t i = 0; i < y->u.l.n && !*res; i++)
            *res = tv_eq(x, y->u.l.v[i]);
        return 0;
    }
    if (y->t == TV_DICT || y->t == TV_NS) {
        *res = tv_dict_get(y, x) != NULL;
        return 0;
    }
    if (y->t == TV_UNDEF)
        return undef_err(c, line, y, "'in'");
    return tpl_fail(c, line, -EINVAL, "argument of type %s is not iterable", tv_type_name(y));
}

static int compare(tpl_ctx_t *c, int line, const char *op, tv_t *x, tv_t *y, int *res)
{
    int lt, rc;
    if (!strcmp(op, "=="))
        return *res = tv_eq(x, y), 0;
    if (!strcmp(op, "!="))
        return *res = !tv_eq(x, y), 0;
    if (!strcmp(op, "in") || !strcmp(op, "notin")) {
        if ((rc = contains(c, line, x, y, res)))
            return rc;
        if (op[0] == 'n')
            *res = !*res;
        return 0;
    }
    int swap = op[0] == '>';
    if ((rc = swap ? tv_lt(y, x, &lt) : tv_lt(x, y, &lt)))
        return tpl_fail(c, line, -EINVAL, "'%s' not supported between %s and %s", op, tv_type_name(x),
                        tv_type_name(y));
    *res = op[1] == '=' ? (lt || tv_eq(x, y)) : lt;
    return 0;
}

/* Evaluate kids into arrays. */
static int eval_args(tpl_ctx_t *c, tpl_scope_t *s, const tpl_node_t *n, tv_t ***args)
{
    *args = tpl_alloc(c->a, (n->n + 1) * sizeof **args);
    if (!*args)
        return tpl_oom(c, n->line);
    for (size_t i = 0; i < n->n; i++) {
        int rc = tpl_eval(c, s, n->kids[i], &(*args)[i]);
        if (rc)
            return rc;
    }
    return 0;
}

static int eval_call(tpl_ctx_t *c, tpl_scope_t *s, const tpl_node_t *n, tv_t *caller, tv_t **out)
{
    tv_t **args, *fn;
    int rc;
    const tpl_node_t *callee = n->a;
    if (callee->t == TN_GETATTR) {
        tv_t *self;
        if ((rc = tpl_eval(c, s, callee->a, &self)))
            return rc;
        if (self->t != TV_DICT && self->t != TV_NS) {
            if ((rc = eval_args(c, s, n, &args)))
                return rc;
            return tpl_method(c, n->line, self, callee->name, args, n->kw, n->n, out);
        }
        fn = tv_dict_getz(self, callee->name);
        if (!fn || (fn->t != TV_MACRO && fn->t != TV_FUNC)) {
            if ((rc = eval_args(c, s, n, &args)))
                return rc;
            return tpl_method(c, n->line, self, callee->name, args, n->kw, n->n, out);
        }
    } else if ((rc = tpl_eval(c, s, callee, &fn))) {
        return rc;
    }
    if ((rc = eval_args(c, s, n, &args)))
        return rc;
    if (fn->t == TV_MACRO)
        return tpl_call_macro(c, n->line, fn, args, n->kw, n->n, caller, out);
    if (fn->t == TV_FUNC)
        return tpl_builtin(c, n->line, fn->u.fn.id, args, n->kw, n->n, out);
    if (fn->t == TV_UNDEF)
        return undef_err(c, n->line, fn, "called");
    return tpl_fail(c, n->line, -EINVAL, "%s is not callable", tv_type_name(fn));
}

int tpl_eval_call_with_caller(tpl_ctx_t *c, tpl_scope_t *s, const tpl_node_t *n, tv_t *caller, tv_t **out)
{
    return eval_call(c, s, n, caller, out);
}

int tpl_eval(tpl_ctx_t *c, tpl_scope_t *s, const tpl_node_t *n, tv_t **out)
{
    int rc, r;
    tv_t *x, *y, **args;
    if (++c->steps > TPL_MAX_STEPS)
        return tpl_fail(c, n->line, -E2BIG, "template runs too long");
    switch (n->t) {
    case TN_CONST:
        *out = n->val;
        return 0;
    case TN_NAME:
        x = tpl_scope_get(s, n->name);
        if (!x)
            x = tpl_global(n->name);
        *out = x ? x : tv_undef_named(c->a, n->name);
        return *out ? 0 : tpl_oom(c, n->line);
    case TN_LIST: case TN_TUPLE:
        if ((rc = eval_args(c, s, n, &args)))
            return rc;
        if (!(x = tv_new(c->a, TV_LIST)))
            return tpl_oom(c, n->line);
        x->u.l.v = args;
        x->u.l.n = n->n;
        x->is_tuple = n->t == TN_TUPLE;
        *out = x;
        return 0;
    case TN_DICT:
        if (!(x = tv_dict(c->a)))
            return tpl_oom(c, n->line);
        for (size_t i = 0; i + 1 < n->n; i += 2) {
            if ((rc = tpl_eval(c, s, n->kids[i], &y)))
                return rc;
            tv_t *v;
            if ((rc = tpl_eval(c, s, n->kids[i + 1], &v)))
                return rc;
            if (tv_dict_set(c->a, x, y, v))
                return tpl_oom(c, n->line);
        }
        *out = x;
        return 0;
    case TN_GETATTR:
        if ((rc = tpl_eval(c, s, n->a, &x)))
            return rc;
        return tpl_getattr(c, n->line, x, n->name, out);
    case TN_GETITEM:
        if ((rc = tpl_eval(c, s, n->a, &x)) || (rc = tpl_eval(c, s, n->b, &y)))
            return rc;
        return tpl_getitem(c, n->line, x, y, out);
    case TN_SLICE: {
        tv_t *p[3] = { 0 };
        const tpl_node_t *q[3] = { n->b, n->c, n->d };
        if ((rc = tpl_eval(c, s, n->a, &x)))
            return rc;
        for (int k = 0; k < 3; k++)
            if (q[k] && (rc = tpl_eval(c, s, q[k], &p[k])))
                return rc;
        return slice(c, n->line, x, p[0], p[1], p[2], out);
    }
    case TN_CALL:
        return eval_call(c, s, n, NULL, out);
    case TN_FILTER:
        if ((rc = tpl_eval(c, s, n->a, &x)) || (rc = eval_args(c, s, n, &args)))
            return rc;
        return tpl_filter(c, s, n->line, n->name, x, args, n->kw, n->n, out);
    case TN_TEST:
        if ((rc = tpl_eval(c, s, n->a, &x)) || (rc = eval_args(c, s, n, &args)))
            return rc;
        if ((rc = tpl_test(c, n->line, n->name, x, args, n->n, &r)))
            return rc;
        *out = tv_bool(n->neg ? !r : r);
        return 0;
    case TN_UNARY:
        if ((rc = tpl_eval(c, s, n->a, &x)))
            return rc;
        if (!is_num(x))
            return tpl_fail(c, n->line, -EINVAL, "bad operand type for unary %s: %s", n->name, tv_type_name(x));
        if (n->name[0] == '+')
            *out = x->t == TV_BOOL ? tv_int(c->a, x->u.b) : x;
        else if (x->t == TV_FLOAT)
            *out = tv_float(c->a, -x->u.f);
        else if (inum(x) == INT64_MIN)
            return tpl_fail(c, n->line, -EINVAL, "integer overflow in unary -");
        else
            *out = tv_int(c->a, -inum(x));
        return *out ? 0 : tpl_oom(c, n->line);
    case TN_BINARY:
        if ((rc = tpl_eval(c, s, n->a, &x)) || (rc = tpl_eval(c, s, n->b, &y)))
            return rc;
        if ((x->t == TV_UNDEF || y->t == TV_UNDEF) && strcmp(n->name, "~"))
            return undef_err(c, n->line, x->t == TV_UNDEF ? x : y, n->name);
        return arith(c, n->line, n->name, x, y, out);
    case TN_AND: case TN_OR:
        if ((rc = tpl_eval(c, s, n->a, &x)))
            return rc;
        if (tv_truthy(x) == (n->t == TN_OR)) {
            *out = x;
            return 0;
        }
        return tpl_eval(c, s, n->b, out);
    case TN_NOT:
        if ((rc = tpl_eval(c, s, n->a, &x)))
            return rc;
        *out = tv_bool(!tv_truthy(x));
        return 0;
    case TN_COMPARE:
        if ((rc = tpl_eval(c, s, n->a, &x)))
            return rc;
        for (size_t i = 0; i < n->n; i++) {
            if ((rc = tpl_eval(c, s, n->kids[i], &y)) || (rc = compare(c, n->line, n->kw[i], x, y, &r)))
                return rc;
            if (!r) {
                *out = &tv_false_v;
                return 0;
            }
            x = y;
        }
        *out = &tv_true_v;
        return 0;
    case TN_COND:
        if ((rc = tpl_eval(c, s, n->a, &x)))
            return rc;
        if (tv_truthy(x))
            return tpl_eval(c, s, n->b, out);
        if (n->c)
            return tpl_eval(c, s, n->c, out);
        *out = &tv_undef_v;
        return 0;
    default:
        return tpl_fail(c, n->line, -EINVAL, "not an expression");
    }
}
