/* tpl_render.c — running a parsed template: scopes (a for iteration and a macro call open one,
 * if does not), output, for loops with `loop` and else, set, macros and call blocks, break and
 * continue; the public tpl_compile / tpl_render. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fu_util.h"
#include "tpl_internal.h"

#define PARSE_ARENA_MAX (64u << 20)
#define RENDER_ARENA_MAX (512u << 20)

struct tpl_template {
    tpl_arena_t *a;
    tpl_node_t *root;
};

tpl_scope_t *tpl_scope_new(tpl_arena_t *a, tpl_scope_t *parent)
{
    tpl_scope_t *s = tpl_alloc(a, sizeof *s);
    if (s)
        s->parent = parent;
    return s;
}

int tpl_scope_set(tpl_arena_t *a, tpl_scope_t *s, const char *name, tv_t *v)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->names[i], name)) {
            s->vals[i] = v;
            return 0;
        }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        const char **nn = tpl_alloc(a, cap * sizeof *nn);
        tv_t **nv = tpl_alloc(a, cap * sizeof *nv);
        if (!nn || !nv)
            return -ENOMEM;
        if (s->n) {
            memcpy(nn, s->names, s->n * sizeof *nn);
            memcpy(nv, s->vals, s->n * sizeof *nv);
        }
        s->names = nn;
        s->vals = nv;
        s->cap = cap;
    }
    s->names[s->n] = name;
    s->vals[s->n++] = v;
    return 0;
}

tv_t *tpl_scope_get(const tpl_scope_t *s, const char *name)
{
    for (; s; s = s->parent)
        for (size_t i = s->n; i-- > 0;)
            if (!strcmp(s->names[i], name))
                return s->vals[i];
    return NULL;
}

int tpl_iter_list(tpl_ctx_t *c, int line, tv_t *v, tv_t **out)
{
    if (v->t == TV_LIST) {
        *out = v;
        return 0;
    }
    if (v->t == TV_UNDEF || v->t == TV_NONE) {
        if (v->t == TV_NONE)
            return tpl_fail(c, line, -EINVAL, "'NoneType' object is not iterable");
        *out = tv_list(c->a, 0);
        return *out ? 0 : tpl_oom(c, line);
    }
    if (v->t == TV_DICT || v->t == TV_NS) {
        tv_t *l = tv_list(c->a, v->u.d.n);
        if (!l)
            return tpl_oom(c, line);
        for (size_t i = 0; i < v->u.d.n; i++)
            l->u.l.v[i] = v->u.d.k[i];
        *out = l;
        return 0;
    }
    if (v->t == TV_STR) {
        size_t n = tv_utf8_len(v->u.s.p, v->u.s.n), o = 0;
        tv_t *l = tv_list(c->a, n);
        if (!l)
            return tpl_oom(c, line);
        for (size_t i = 0; i < n; i++) {
            size_t e = o + tv_utf8_off(v->u.s.p + o, v->u.s.n - o, 1);
            if (!(l->u.l.v[i] = tv_str(c->a, v->u.s.p + o, e - o)))
                return tpl_oom(c, line);
            o = e;
        }
        *out = l;
        return 0;
    }
    return tpl_fail(c, line, -EINVAL, "'%s' object is not iterable", tv_type_name(v));
}

/* Bind names to a value: one name takes it whole, several unpack a list of that length. */
static int bind(tpl_ctx_t *c, tpl_scope_t *s, int line, const char *const *names, size_t n, tv_t *v)
{
    if (n == 1)
        return tpl_scope_set(c->a, s, names[0], v) ? tpl_oom(c, line) : 0;
    if (v->t != TV_LIST || v->u.l.n != n)
        return tpl_fail(c, line, -EINVAL, "cannot unpack %s into %zu names", tv_type_name(v), n);
    for (size_t i = 0; i < n; i++)
        if (tpl_scope_set(c->a, s, names[i], v->u.l.v[i]))
            return tpl_oom(c, line);
    return 0;
}

static int set_loop(tpl_ctx_t *c, tv_t *loop, const char *k, tv_t *v)
{
    tv_t *key = tv_strz(c->a, k);
    return !key || !v || tv_dict_set(c->a, loop, key, v) ? -ENOMEM : 0;
}

static int exec_for(tpl_ctx_t *c, tpl_scope_t *s, const tpl_node_t *n)
{
    tv_t *it, *items;
    int rc;
    if ((rc = tpl_eval(c, s, n->a, &it)) || (rc = tpl_iter_list(c, n->line, it, &items)))
        return rc;
    if (n->d) { /* for x in y if cond: filter first, so loop.* counts the kept items */
        tv_t *kept = tv_list(c->a, items->u.l.n);
        if (!kept)
            return tpl_oom(c, n->line);
        kept->u.l.n = 0;
        for (size_t i = 0; i < items->u.l.n; i++) {
            tpl_scope_t *fs = tpl_scope_new(c->a, s);
            tv_t *r;
            if (!fs)
                return tpl_oom(c, n->line);
            if ((rc = bind(c, fs, n->line, n->targets, n->n_targets, items->u.l.v[i])) ||
                (rc = tpl_eval(c, fs, n->d, &r)))
                return rc;
            if (tv_truthy(r))
                kept->u.l.v[kept->u.l.n++] = items->u.l.v[i];
        }
        items = kept;
    }
    size_t len = items->u.l.n;
    if (len == 0)
        return n->c ? tpl_exec(c, s, n->c) : 0;
    for (size_t i = 0; i < len; i++) {
        tpl_scope_t *ls = tpl_scope_new(c->a, s);
        tv_t *loop = tv_dict(c->a);
        if (!ls || !loop)
            return tpl_oom(c, n->line);
        loop->is_loop = 1;
        if (set_loop(c, loop, "index", tv_int(c->a, (int64_t)i + 1)) ||
            set_loop(c, loop, "index0", tv_int(c->a, (int64_t)i)) ||
            set_loop(c, loop, "revindex", tv_int(c->a, (int64_t)(len - i))) ||
            set_loop(c, loop, "revindex0", tv_int(c->a, (int64_t)(len - i - 1))) ||
            set_loop(c, loop, "first", tv_bool(i == 0)) || set_loop(c, loop, "last", tv_bool(i + 1 == len)) ||
            set_loop(c, loop, "length", tv_int(c->a, (int64_t)len)) ||
            set_loop(c, loop, "depth", tv_int(c->a, 1)) || set_loop(c, loop, "depth0", tv_int(c->a, 0)) ||
            set_loop(c, loop, "previtem", i ? items->u.l.v[i - 1] : &tv_undef_v) ||
            set_loop(c, loop, "nextitem", i + 1 < len ? items->u.l.v[i + 1] : &tv_undef_v) ||
            tpl_scope_set(c->a, ls, "loop", loop))
            return tpl_oom(c, n->line);
        if ((rc = bind(c, ls, n->line, n->targets, n->n_targets, items->u.l.v[i])))
            return rc;
        if ((rc = tpl_exec(c, ls, n->b)))
            return rc;
        if (c->loop_ctl == 1) {
            c->loop_ctl = 0;
            break;
        }
        c->loop_ctl = 0;
    }
    return 0;
}

/* Run body with output captured into a new string value. */
static int capture(tpl_ctx_t *c, tpl_scope_t *s, const tpl_node_t *body, int line, tv_t **out)
{
    tk_buf_t buf = { 0 }, *saved = c->out;
    c->out = &buf;
    int rc = tpl_exec(c, s, body);
    c->out = saved;
    if (!rc && !(*out = tv_str(c->a, buf.p ? buf.p : "", buf.len)))
        rc = tpl_oom(c, line);
    tk_buf_free(&buf);
    return rc;
}

int tpl_call_macro(tpl_ctx_t *c, int line, tv_t *m, tv_t **args, const char **kw, size_t n, tv_t *caller,
                   tv_t **out)
{
    const tpl_node_t *def = m->u.m.node;
    tpl_scope_t *ms = tpl_scope_new(c->a, m->u.m.scope);
    int rc;
    if (!ms)
        return tpl_oom(c, line);
    if (++c->depth > TPL_MAX_DEPTH)
        return tpl_fail(c, line, -E2BIG, "macro calls nested too deeply");
    tv_t **vals = tpl_alloc(c->a, (def->n_targets + 1) * sizeof *vals);
    if (!vals)
        return tpl_oom(c, line);
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (!kw || !kw[i]) {
            if (pos >= def->n_targets)
                return tpl_fail(c, line, -EINVAL, "macro '%s' takes %zu arguments, got more",
                                def->name ? def->name : "caller", def->n_targets);
            vals[pos++] = args[i];
            continue;
        }
        size_t k;
        for (k = 0; k < def->n_targets && strcmp(def->targets[k], kw[i]); k++)
            ;
        if (k == def->n_targets)
            return tpl_fail(c, line, -EINVAL, "macro '%s' has no parameter '%s'",
                            def->name ? def->name : "caller", kw[i]);
        vals[k] = args[i];
    }
    for (size_t k = 0; k < def->n_targets; k++) {
        tv_t *v = vals[k];
        if (!v && def->kids[k] && (rc = tpl_eval(c, ms, def->kids[k], &v)))
            return rc;
        if (tpl_scope_set(c->a, ms, def->targets[k], v ? v : &tv_undef_v))
            return tpl_oom(c, line);
    }
    if (caller && tpl_scope_set(c->a, ms, "caller", caller))
        return tpl_oom(c, line);
    rc = capture(c, ms, def->b, line, out);
    c->loop_ctl = 0;
    c->depth--;
    return rc;
}

static int exec_set(tpl_ctx_t *c, tpl_scope_t *s, const tpl_node_t *n)
{
    tv_t *v;
    int rc;
    if (n->t == TN_SETBLOCK)
        rc = capture(c, s, n->b, n->line, &v);
    else
        rc = tpl_eval(c, s, n->a, &v);
    if (rc)
        return rc;
    if (!n->neg)
        return bind(c, s, n->line, n->targets, n->n_targets, v);
    tv_t *ns = tpl_scope_get(s, n->name), *key;
    if (!ns || ns->t != TV_NS)
        return tpl_fail(c, n->line, -EINVAL, "cannot assign attribute '%s' on '%s': not a namespace",
                        n->targets[0], n->name);
    if (!(key = tv_strz(c->a, n->targets[0])) || tv_dict_set(c->a, ns, key, v))
        return tpl_oom(c, n->line);
    return 0;
}

int tpl_exec(tpl_ctx_t *c, tpl_scope_t *s, const tpl_node_t *n)
{
    tv_t *v;
    int rc;
    if (++c->steps > TPL_MAX_STEPS)
        return tpl_fail(c, n->line, -E2BIG, "template runs too long");
    switch (n->t) {
    case TN_BODY:
        for (size_t i = 0; i < n->n && !c->loop_ctl; i++)
            if ((rc = tpl_exec(c, s, n->kids[i])))
                return rc;
        return 0;
    case TN_TEXT:
        v = n->val;
        goto emit;
    case TN_OUTPUT:
        if ((rc = tpl_eval(c, s, n->a, &v)))
            return rc;
    emit:
        if (tv_to_str(c->out, v))
            return tpl_oom(c, n->line);
        if (c->out->len > TPL_MAX_OUT)
            return tpl_fail(c, n->line, -E2BIG, "output larger than %u MiB", TPL_MAX_OUT >> 20);
        return 0;
    case TN_IF:
        if ((rc = tpl_eval(c, s, n->a, &v)))
            return rc;
        if (tv_truthy(v))
            return tpl_exec(c, s, n->b);
        return n->c ? tpl_exec(c, s, n->c) : 0;
    case TN_FOR:
        return exec_for(c, s, n);
    case TN_SET: case TN_SETBLOCK:
        return exec_set(c, s, n);
    case TN_MACRO:
        if (!(v = tv_new(c->a, TV_MACRO)))
            return tpl_oom(c, n->line);
        v->u.m.node = n;
        v->u.m.scope = s;
        return tpl_scope_set(c->a, s, n->name, v) ? tpl_oom(c, n->line) : 0;
    case TN_CALLBLOCK: {
        tv_t *caller = tv_new(c->a, TV_MACRO), *r;
        if (!caller)
            return tpl_oom(c, n->line);
        caller->u.m.node = n;
        caller->u.m.scope = s;
        if ((rc = tpl_eval_call_with_caller(c, s, n->a, caller, &r)))
            return rc;
        return tv_to_str(c->out, r) ? tpl_oom(c, n->line) : 0;
    }
    case TN_BREAK: case TN_CONTINUE:
        c->loop_ctl = n->t == TN_BREAK ? 1 : 2;
        return 0;
    case TN_GENERATION:
        return tpl_exec(c, s, n->b);
    default:
        return tpl_fail(c, n->line, -EINVAL, "not a statement");
    }
}

int tpl_compile(const char *src, size_t len, tpl_template_t **out, char *err, size_t errlen)
{
    tpl_template_t *t = calloc(1, sizeof *t);
    tpl_tok_t *toks;
    size_t n;
    int rc;
    *out = NULL;
    if (!t || !(t->a = tpl_arena_new(PARSE_ARENA_MAX))) {
        free(t);
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    }
    if ((rc = tpl_lex(t->a, src, len, &toks, &n, err, errlen)) ||
        (rc = tpl_parse_tokens(t->a, toks, n, &t->root, err, errlen))) {
        if (rc == -ENOMEM)
            fu_err(err, errlen, rc, "template too large (out of memory)");
        tpl_template_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void tpl_template_free(tpl_template_t *t)
{
    if (!t)
        return;
    tpl_arena_free(t->a);
    free(t);
}

int tpl_render(const tpl_template_t *t, const cJSON *vars, char **out, size_t *len, char *err, size_t errlen)
{
    tk_buf_t buf = { 0 };
    tpl_ctx_t c = { .out = &buf, .err = err, .errlen = errlen };
    int rc = 0;
    *out = NULL;
    *len = 0;
    if (!(c.a = tpl_arena_new(RENDER_ARENA_MAX)))
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    tpl_scope_t *root = tpl_scope_new(c.a, NULL);
    if (!root)
        rc = tpl_oom(&c, 0);
    const cJSON *v;
    if (!rc && vars)
        cJSON_ArrayForEach(v, vars) {
            tv_t *x = tpl_from_cjson(c.a, v);
            if (!x || !v->string || tpl_scope_set(c.a, root, v->string, x)) {
                rc = tpl_oom(&c, 0);
                break;
            }
        }
    if (!rc)
        rc = tpl_exec(&c, root, t->root);
    if (!rc && tk_buf_add(&buf, "", 0))
        rc = fu_err(err, errlen, -ENOMEM, "out of memory");
    if (!rc) {
        *out = buf.p;
        *len = buf.len;
    } else {
        tk_buf_free(&buf);
    }
    tpl_arena_free(c.a);
    return rc;
}
