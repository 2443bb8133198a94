/* tpl_parse.c — the template parser: tokens to a syntax tree. Statements if/elif/else, for
 * (tuple targets, `if` filter, else), set (names, tuples, namespace attributes, blocks), macro,
 * call, break/continue, generation; expressions with Jinja's precedence (conditional, or, and,
 * not, comparisons and `in`, + -, ~, * / // %, **, unary, filters/tests/calls, postfix). Node
 * roles per type are noted at each constructor below. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fu_util.h"
#include "tpl_internal.h"

#define MAX_NEST 128

typedef struct {
    tpl_arena_t *a;
    const tpl_tok_t *t;
    size_t n, i;
    char *err;
    size_t errlen;
    int nest;
} P;

static const tpl_tok_t *cur(P *p) { return &p->t[p->i]; }
static const tpl_tok_t *peek(P *p, size_t k) { return &p->t[p->i + k < p->n ? p->i + k : p->n - 1]; }

static int tok_is(const tpl_tok_t *t, tt_type_t ty, const char *s)
{
    return t->t == ty && (!s || (t->n == strlen(s) && !memcmp(t->p, s, t->n)));
}

static int is_op(P *p, const char *s) { return tok_is(cur(p), TT_OP, s); }
static int is_name(P *p, const char *s) { return tok_is(cur(p), TT_NAME, s); }

static int fail(P *p, const char *what)
{
    const tpl_tok_t *t = cur(p);
    if (t->t == TT_EOF)
        return fu_err(p->err, p->errlen, -EINVAL, "template line %d: unexpected end of template, %s", t->line, what);
    return fu_err(p->err, p->errlen, -EINVAL, "template line %d: %s near '%.*s'", t->line, what,
                  t->t == TT_BLOCK_END ? 2 : t->t == TT_VAR_END ? 2 : (int)(t->n > 40 ? 40 : t->n),
                  t->t == TT_BLOCK_END ? "%}" : t->t == TT_VAR_END ? "}}" : t->p ? t->p : "");
}

static int expect_op(P *p, const char *s)
{
    if (!is_op(p, s)) {
        char w[32];
        snprintf(w, sizeof w, "expected '%s'", s);
        return fail(p, w);
    }
    p->i++;
    return 0;
}

static const char *name_dup(P *p, const tpl_tok_t *t)
{
    char *s = tpl_alloc(p->a, t->n + 1);
    if (s)
        memcpy(s, t->p, t->n);
    return s;
}

static tpl_node_t *node(P *p, tn_type_t ty, int line)
{
    tpl_node_t *n = tpl_alloc(p->a, sizeof *n);
    if (n) {
        n->t = ty;
        n->line = line;
    }
    return n;
}

/* Growable child list. */
typedef struct {
    tpl_node_t **v;
    const char **kw;
    size_t n, cap;
} kids_t;

static int kids_push(P *p, kids_t *k, tpl_node_t *x, const char *kw)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 4;
        tpl_node_t **nv = tpl_alloc(p->a, cap * sizeof *nv);
        const char **nk = tpl_alloc(p->a, cap * sizeof *nk);
        if (!nv || !nk)
            return -ENOMEM;
        if (k->n) {
            memcpy(nv, k->v, k->n * sizeof *nv);
            memcpy(nk, k->kw, k->n * sizeof *nk);
        }
        k->v = nv;
        k->kw = nk;
        k->cap = cap;
    }
    k->v[k->n] = x;
    k->kw[k->n++] = kw;
    return 0;
}

static int parse_expr(P *p, tpl_node_t **out, int allow_cond);

/* ---- expressions ------------------------------------------------------------------------ */

/* Call arguments after '(' up to ')': positional and name=value. */
static int parse_args(P *p, kids_t *k)
{
    int rc;
    while (!is_op(p, ")")) {
        const char *kw = NULL;
        if (cur(p)->t == TT_NAME && tok_is(peek(p, 1), TT_OP, "=")) {
            if (!(kw = name_dup(p, cur(p))))
                return -ENOMEM;
            p->i += 2;
        }
        tpl_node_t *x;
        if ((rc = parse_expr(p, &x, 1)) || (rc = kids_push(p, k, x, kw)))
            return rc;
        if (!is_op(p, ","))
            break;
        p->i++;
    }
    return expect_op(p, ")");
}

static int parse_primary(P *p, tpl_node_t **out)
{
    const tpl_tok_t *t = cur(p);
    tpl_node_t *n;
    int rc;
    if (t->t == TT_STRING) {
        /* adjacent literals concatenate */
        tk_buf_t b = { 0 };
        int line = t->line;
        while (cur(p)->t == TT_STRING) {
            if (tk_buf_add(&b, cur(p)->p, cur(p)->n)) {
                tk_buf_free(&b);
                return -ENOMEM;
            }
            p->i++;
        }
        n = node(p, TN_CONST, line);
        if (!n || !(n->val = tv_str(p->a, b.p ? b.p : "", b.len))) {
            tk_buf_free(&b);
            return -ENOMEM;
        }
        tk_buf_free(&b);
        *out = n;
        return 0;
    }
    if (t->t == TT_INT || t->t == TT_FLOAT) {
        if (!(n = node(p, TN_CONST, t->line)))
            return -ENOMEM;
        n->val = t->t == TT_INT ? tv_int(p->a, t->i) : tv_float(p->a, t->f);
        if (!n->val)
            return -ENOMEM;
        p->i++;
        *out = n;
        return 0;
    }
    if (t->t == TT_NAME) {
        static const struct { const char *s; tv_t *v; } consts[] = {
            { "true", &tv_true_v }, { "True", &tv_true_v }, { "false", &tv_false_v },
            { "False", &tv_false_v }, { "none", &tv_none_v }, { "None", &tv_none_v } };
        for (size_t k = 0; k < sizeof consts / sizeof consts[0]; k++)
            if (tok_is(t, TT_NAME, consts[k].s)) {
                if (!(n = node(p, TN_CONST, t->line)))
                    return -ENOMEM;
                n->val = consts[k].v;
                p->i++;
                *out = n;
                return 0;
            }
        if (!(n = node(p, TN_NAME, t->line)) || !(n->name = name_dup(p, t)))
            return -ENOMEM;
        p->i++;
        *out = n;
        return 0;
    }
    if (tok_is(t, TT_OP, "(") || tok_is(t, TT_OP, "[")) {
        int paren = t->p[0] == '(';
        const char *close = paren ? ")" : "]";
        kids_t k = { 0 };
        int comma = 0;
        p->i++;
        while (!is_op(p, close)) {
            tpl_node_t *x;
            if ((rc = parse_expr(p, &x, 1)) || (rc = kids_push(p, &k, x, NULL)))
                return rc;
            if (!is_op(p, ","))
                break;
            comma = 1;
            p->i++;
        }
        if ((rc = expect_op(p, close)))
            return rc;
        if (paren && k.n == 1 && !comma) {
            *out = k.v[0];
            return 0;
        }
        if (!(n = node(p, paren ? TN_TUPLE : TN_LIST, t->line)))
            return -ENOMEM;
        n->kids = k.v;
        n->n = k.n;
        *out = n;
        return 0;
    }
    if (tok_is(t, TT_OP, "{")) {
        kids_t k = { 0 };
        p->i++;
        while (!is_op(p, "}")) {
            tpl_node_t *key, *val;
            if ((rc = parse_expr(p, &key, 1)) || (rc = expect_op(p, ":")) || (rc = parse_expr(p, &val, 1)) ||
                (rc = kids_push(p, &k, key, NULL)) || (rc = kids_push(p, &k, val, NULL)))
                return rc;
            if (!is_op(p, ","))
                break;
            p->i++;
        }
        if ((rc = expect_op(p, "}")))
            return rc;
        if (!(n = node(p, TN_DICT, t->line)))
            return -ENOMEM;
        n->kids = k.v;
        n->n = k.n;
        *out = n;
        return 0;
    }
    return fail(p, "expected an expression");
}

/* Subscript after '[': an index or a slice a:b:c. */
static int parse_subscript(P *p, tpl_node_t *obj, tpl_node_t **out)
{
    int line = cur(p)->line, rc;
    tpl_node_t *part[3] = { 0 };
    int idx = 0, is_slice = 0;
    p->i++;
    for (;;) {
        if (!is_op(p, ":") && !is_op(p, "]")) {
            if ((rc = parse_expr(p, &part[idx], 1)))
                return rc;
        }
        if (is_op(p, ":") && idx < 2) {
            is_slice = 1;
            idx++;
            p->i++;
            continue;
        }
        break;
    }
    if ((rc = expect_op(p, "]")))
        return rc;
    tpl_node_t *n = node(p, is_slice ? TN_SLICE : TN_GETITEM, line);
    if (!n)
        return -ENOMEM;
    if (!is_slice && !part[0])
        return fu_err(p->err, p->errlen, -EINVAL, "template line %d: empty subscript", line);
    n->a = obj;
    n->b = part[0];
    n->c = part[1];
    n->d = part[2];
    *out = n;
    return 0;
}

static int parse_postfix(P *p, tpl_node_t **x)
{
    int rc;
    for (;;) {
        int line = cur(p)->line;
        if (is_op(p, ".")) {
            p->i++;
            const tpl_tok_t *t = cur(p);
            tpl_node_t *n;
            if (t->t == TT_NAME) {
                if (!(n = node(p, TN_GETATTR, line)) || !(n->name = name_dup(p, t)))
                    return -ENOMEM;
            } else if (t->t == TT_INT) {
                if (!(n = node(p, TN_GETITEM, line)) || !(n->b = node(p, TN_CONST, line)) ||
                    !(n->b->val = tv_int(p->a, t->i)))
                    return -ENOMEM;
            } else {
                return fail(p, "expected an attribute name");
            }
            n->a = *x;
            p->i++;
            *x = n;
        } else if (is_op(p, "[")) {
            if ((rc = parse_subscript(p, *x, x)))
                return rc;
        } else if (is_op(p, "(")) {
            kids_t k = { 0 };
            p->i++;
            if ((rc = parse_args(p, &k)))
                return rc;
            tpl_node_t *n = node(p, TN_CALL, line);
            if (!n)
                return -ENOMEM;
            n->a = *x;
            n->kids = k.v;
            n->kw = k.kw;
            n->n = k.n;
            *x = n;
        } else {
            return 0;
        }
    }
}

/* Filters `| name(args)` and tests `is [not] name [arg]`. */
static int parse_filters(P *p, tpl_node_t **x)
{
    int rc;
    for (;;) {
        int line = cur(p)->line;
        if (is_op(p, "|")) {
            p->i++;
            if (cur(p)->t != TT_NAME)
                return fail(p, "expected a filter name");
            tpl_node_t *n = node(p, TN_FILTER, line);
            if (!n || !(n->name = name_dup(p, cur(p))))
                return -ENOMEM;
            p->i++;
            while (is_op(p, ".")) { /* dotted filter names are not Jinja builtins */
                return fail(p, "unknown filter");
            }
            kids_t k = { 0 };
            if (is_op(p, "(")) {
                p->i++;
                if ((rc = parse_args(p, &k)))
                    return rc;
            }
            n->a = *x;
            n->kids = k.v;
            n->kw = k.kw;
            n->n = k.n;
            *x = n;
        } else if (is_name(p, "is")) {
            p->i++;
            tpl_node_t *n = node(p, TN_TEST, line);
            if (!n)
                return -ENOMEM;
            if (is_name(p, "not")) {
                n->neg = 1;
                p->i++;
            }
            const tpl_tok_t *t = cur(p);
            if (t->t != TT_NAME && !(t->t == TT_OP && (tok_is(t, TT_OP, "==") || tok_is(t, TT_OP, "!=") ||
                                                       tok_is(t, TT_OP, "<") || tok_is(t, TT_OP, ">") ||
                                                       tok_is(t, TT_OP, "<=") || tok_is(t, TT_OP, ">="))))
                return fail(p, "expected a test name");
            if (!(n->name = name_dup(p, t)))
                return -ENOMEM;
            p->i++;
            kids_t k = { 0 };
            if (is_op(p, "(")) {
                p->i++;
                if ((rc = parse_args(p, &k)))
                    return rc;
            } else {
                const tpl_tok_t *a = cur(p);
                int arg = a->t == TT_STRING || a->t == TT_INT || a->t == TT_FLOAT ||
                          tok_is(a, TT_OP, "[") || tok_is(a, TT_OP, "{") ||
                          (a->t == TT_NAME && !tok_is(a, TT_NAME, "else") && !tok_is(a, TT_NAME, "or") &&
                           !tok_is(a, TT_NAME, "and") && !tok_is(a, TT_NAME, "if") &&
                           !tok_is(a, TT_NAME, "is") && !tok_is(a, TT_NAME, "in") &&
                           !tok_is(a, TT_NAME, "not"));
                if (arg) {
                    tpl_node_t *y;
                    if ((rc = parse_primary(p, &y)) || (rc = parse_postfix(p, &y)) ||
                        (rc = kids_push(p, &k, y, NULL)))
                        return rc;
                }
            }
            n->a = *x;
            n->kids = k.v;
            n->n = k.n;
            *x = n;
        } else {
            return 0;
        }
    }
}

/* Jinja: a sign applies to the unary below it (without filters); postfix operators and then
 * filters/tests apply to the result, so -3|abs is (-3)|abs. */
static int parse_unary_f(P *p, tpl_node_t **out, int with_filter)
{
    int rc, line = cur(p)->line;
    if (is_op(p, "-") || is_op(p, "+")) {
        const char *op = cur(p)->p[0] == '-' ? "-" : "+";
        p->i++;
        tpl_node_t *n = node(p, TN_UNARY, line);
        if (!n)
            return -ENOMEM;
        n->name = op;
        if (++p->nest > MAX_NEST)
            return fu_err(p->err, p->errlen, -EINVAL, "template line %d: expression nested too deeply", line);
        rc = parse_unary_f(p, &n->a, 0);
        p->nest--;
        if (rc)
            return rc;
        *out = n;
    } else if ((rc = parse_primary(p, out))) {
        return rc;
    }
    if ((rc = parse_postfix(p, out)))
        return rc;
    return with_filter ? parse_filters(p, out) : 0;
}

static int parse_unary(P *p, tpl_node_t **out)
{
    return parse_unary_f(p, out, 1);
}

static int binary(P *p, tpl_node_t **x, const char *op, int line, int (*next)(P *, tpl_node_t **))
{
    tpl_node_t *n = node(p, TN_BINARY, line);
    if (!n)
        return -ENOMEM;
    n->name = op;
    n->a = *x;
    int rc = next(p, &n->b);
    *x = n;
    return rc;
}

static int parse_pow(P *p, tpl_node_t **x)
{
    int rc = parse_unary(p, x);
    while (!rc && is_op(p, "**")) {
        p->i++;
        rc = binary(p, x, "**", cur(p)->line, parse_unary);
    }
    return rc;
}

static int parse_mul(P *p, tpl_node_t **x)
{
    int rc = parse_pow(p, x);
    while (!rc && (is_op(p, "*") || is_op(p, "/") || is_op(p, "//") || is_op(p, "%"))) {
        const char *op = is_op(p, "*") ? "*" : is_op(p, "/") ? "/" : is_op(p, "//") ? "//" : "%";
        p->i++;
        rc = binary(p, x, op, cur(p)->line, parse_pow);
    }
    return rc;
}

static int parse_concat(P *p, tpl_node_t **x)
{
    int rc = parse_mul(p, x);
    while (!rc && is_op(p, "~")) {
        p->i++;
        rc = binary(p, x, "~", cur(p)->line, parse_mul);
    }
    return rc;
}

static int parse_add(P *p, tpl_node_t **x)
{
    int rc = parse_concat(p, x);
    while (!rc && (is_op(p, "+") || is_op(p, "-"))) {
        const char *op = is_op(p, "+") ? "+" : "-";
        p->i++;
        rc = binary(p, x, op, cur(p)->line, parse_concat);
    }
    return rc;
}

static int parse_compare(P *p, tpl_node_t **x)
{
    static const char *const ops[] = { "==", "!=", "<", "<=", ">", ">=" };
    int rc = parse_add(p, x), line = cur(p)->line;
    if (rc)
        return rc;
    kids_t k = { 0 };
    for (;;) {
        const char *op = NULL;
        for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
            if (is_op(p, ops[i]))
                op = ops[i];
        if (op) {
            p->i++;
        } else if (is_name(p, "in")) {
            op = "in";
            p->i++;
        } else if (is_name(p, "not") && tok_is(peek(p, 1), TT_NAME, "in")) {
            op = "notin";
            p->i += 2;
        } else {
            break;
        }
        tpl_node_t *y;
        if ((rc = parse_add(p, &y)) || (rc = kids_push(p, &k, y, op)))
            return rc;
    }
    if (k.n) {
        tpl_node_t *n = node(p, TN_COMPARE, line);
        if (!n)
            return -ENOMEM;
        n->a = *x;
        n->kids = k.v;
        n->kw = k.kw;
        n->n = k.n;
        *x = n;
    }
    return 0;
}

static int parse_not(P *p, tpl_node_t **x)
{
    if (is_name(p, "not")) {
        tpl_node_t *n = node(p, TN_NOT, cur(p)->line);
        if (!n)
            return -ENOMEM;
        p->i++;
        int rc = parse_not(p, &n->a);
        *x = n;
        return rc;
    }
    return parse_compare(p, x);
}

static int parse_and(P *p, tpl_node_t **x)
{
    int rc = parse_not(p, x);
    while (!rc && is_name(p, "and")) {
        tpl_node_t *n = node(p, TN_AND, cur(p)->line);
        if (!n)
            return -ENOMEM;
        p->i++;
        n->a = *x;
        rc = parse_not(p, &n->b);
        *x = n;
    }
    return rc;
}

static int parse_or(P *p, tpl_node_t **x)
{
    int rc = parse_and(p, x);
    while (!rc && is_name(p, "or")) {
        tpl_node_t *n = node(p, TN_OR, cur(p)->line);
        if (!n)
            return -ENOMEM;
        p->i++;
        n->a = *x;
        rc = parse_and(p, &n->b);
        *x = n;
    }
    return rc;
}

static int parse_expr(P *p, tpl_node_t **out, int allow_cond)
{
    if (++p->nest > MAX_NEST)
        return fu_err(p->err, p->errlen, -EINVAL, "template line %d: expression nested too deeply", cur(p)->line);
    int rc = parse_or(p, out);
    while (!rc && allow_cond && is_name(p, "if")) {
        tpl_node_t *n = node(p, TN_COND, cur(p)->line);
        if (!n)
            return -ENOMEM;
        p->i++;
        n->b = *out;
        if ((rc = parse_or(p, &n->a)))
            break;
        if (is_name(p, "else")) {
            p->i++;
            rc = parse_expr(p, &n->c, 1);
        }
        *out = n;
    }
    p->nest--;
    return rc;
}

/* Expose the expression parser to the statement parser (tpl_parse_stmt.c). */
int tpl_parse_expr_at(tpl_arena_t *a, const tpl_tok_t *t, size_t n, size_t *i, int nest,
                      tpl_node_t **out, int allow_cond, char *err, size_t errlen)
{
    P p = { .a = a, .t = t, .n = n, .i = *i, .err = err, .errlen = errlen, .nest = nest };
    int rc = parse_expr(&p, out, allow_cond);
    *i = p.i;
    return rc;
}

/* A primary with its postfix ops only (for-loop and set targets use names; macro defaults). */
int tpl_parse_primary_at(tpl_arena_t *a, const tpl_tok_t *t, size_t n, size_t *i, tpl_node_t **out,
                         char *err, size_t errlen)
{
    P p = { .a = a, .t = t, .n = n, .i = *i, .err = err, .errlen = errlen };
    int rc = parse_primary(&p, out);
    if (!rc)
        rc = parse_postfix(&p, out);
    *i = p.i;
    return rc;
}
