/* tpl_parse_stmt.c — statements of the template: text, {{ expr }}, and the tags if/elif/else,
 * for/else, set (names, tuples, namespace attributes, block form), macro, call, break,
 * continue, generation. Any other tag is an error naming its line. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fu_util.h"
#include "tpl_internal.h"

typedef struct {
    tpl_arena_t *a;
    const tpl_tok_t *t;
    size_t n, i;
    char *err;
    size_t errlen;
    int depth;
} S;

static const tpl_tok_t *cur(S *p) { return &p->t[p->i]; }

static int tok_is(const tpl_tok_t *t, tt_type_t ty, const char *s)
{
    return t->t == ty && (!s || (t->n == strlen(s) && !memcmp(t->p, s, t->n)));
}

static int fail(S *p, int line, const char *fmt, const char *arg)
{
    char m[160];
    snprintf(m, sizeof m, fmt, arg);
    return fu_err(p->err, p->errlen, -EINVAL, "template line %d: %s", line, m);
}

static tpl_node_t *node(S *p, tn_type_t ty, int line)
{
    tpl_node_t *n = tpl_alloc(p->a, sizeof *n);
    if (n) {
        n->t = ty;
        n->line = line;
    }
    return n;
}

static const char *dupn(S *p, const tpl_tok_t *t)
{
    char *s = tpl_alloc(p->a, t->n + 1);
    if (s)
        memcpy(s, t->p, t->n);
    return s;
}

static int expr(S *p, tpl_node_t **out)
{
    return tpl_parse_expr_at(p->a, p->t, p->n, &p->i, 0, out, 1, p->err, p->errlen);
}

static int block_end(S *p)
{
    if (cur(p)->t != TT_BLOCK_END) {
        const tpl_tok_t *t = cur(p);
        return fu_err(p->err, p->errlen, -EINVAL, "template line %d: expected '%%}' near '%.*s'", t->line,
                      (int)(t->p ? (t->n > 40 ? 40 : t->n) : 0), t->p ? t->p : "");
    }
    p->i++;
    return 0;
}

/* Growable pointer array in the arena. */
static int grow(S *p, void ***v, size_t n, size_t *cap)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 8;
    void **nv = tpl_alloc(p->a, nc * sizeof *nv);
    if (!nv)
        return -ENOMEM;
    if (n)
        memcpy(nv, *v, n * sizeof *nv);
    *v = nv;
    *cap = nc;
    return 0;
}

static int parse_body(S *p, const char *const *stops, tpl_node_t **out, const char **which);

/* Names separated by commas (for/set targets). */
static int parse_names(S *p, tpl_node_t *n)
{
    size_t cap = 0;
    for (;;) {
        if (cur(p)->t != TT_NAME)
            return fail(p, cur(p)->line, "%s", "expected a variable name");
        if (grow(p, (void ***)&n->targets, n->n_targets, &cap))
            return -ENOMEM;
        if (!(n->targets[n->n_targets++] = dupn(p, cur(p))))
            return -ENOMEM;
        p->i++;
        if (!tok_is(cur(p), TT_OP, ","))
            return 0;
        p->i++;
    }
}

/* Parameters "(a, b=default)" of macro and call blocks: names into targets, defaults in kids. */
static int parse_params(S *p, tpl_node_t *n)
{
    size_t cap = 0, kcap = 0;
    int rc;
    p->i++; /* ( */
    while (!tok_is(cur(p), TT_OP, ")")) {
        if (cur(p)->t != TT_NAME)
            return fail(p, cur(p)->line, "%s", "expected a parameter name");
        if (grow(p, (void ***)&n->targets, n->n_targets, &cap) || grow(p, (void ***)&n->kids, n->n, &kcap))
            return -ENOMEM;
        if (!(n->targets[n->n_targets++] = dupn(p, cur(p))))
            return -ENOMEM;
        p->i++;
        tpl_node_t *def = NULL;
        if (tok_is(cur(p), TT_OP, "=")) {
            p->i++;
            if ((rc = expr(p, &def)))
                return rc;
        }
        n->kids[n->n++] = def;
        if (!tok_is(cur(p), TT_OP, ","))
            break;
        p->i++;
    }
    if (!tok_is(cur(p), TT_OP, ")"))
        return fail(p, cur(p)->line, "%s", "expected ')'");
    p->i++;
    return 0;
}

static int end_tag(S *p, const char *which, const char *want, int line, const char *what)
{
    if (!which || strcmp(which, want)) {
        char m[96];
        snprintf(m, sizeof m, "'%s' block opened here has no {%% %s %%}", what, want);
        return fu_err(p->err, p->errlen, -EINVAL, "template line %d: %s", line, m);
    }
    p->i += 2; /* BLOCK_BEGIN NAME */
    return block_end(p);
}

static int parse_if(S *p, int line, tpl_node_t **out)
{
    static const char *const stops[] = { "elif", "else", "endif", NULL };
    tpl_node_t *n = node(p, TN_IF, line);
    const char *which;
    int rc;
    if (!n)
        return -ENOMEM;
    if ((rc = expr(p, &n->a)) || (rc = block_end(p)) || (rc = parse_body(p, stops, &n->b, &which)))
        return rc;
    *out = n;
    if (which && !strcmp(which, "elif")) {
        int l2 = cur(p)->line;
        p->i += 2;
        return parse_if(p, l2, &n->c);
    }
    if (which && !strcmp(which, "else")) {
        static const char *const stops2[] = { "endif", NULL };
        p->i += 2;
        if ((rc = block_end(p)) || (rc = parse_body(p, stops2, &n->c, &which)))
            return rc;
    }
    return end_tag(p, which, "endif", line, "if");
}

static int parse_for(S *p, int line, tpl_node_t **out)
{
    static const char *const stops[] = { "else", "endfor", NULL };
    tpl_node_t *n = node(p, TN_FOR, line);
    const char *which;
    int rc;
    if (!n)
        return -ENOMEM;
    if ((rc = parse_names(p, n)))
        return rc;
    if (!tok_is(cur(p), TT_NAME, "in"))
        return fail(p, cur(p)->line, "%s", "expected 'in' in for");
    p->i++;
    if ((rc = tpl_parse_expr_at(p->a, p->t, p->n, &p->i, 0, &n->a, 0, p->err, p->errlen)))
        return rc;
    if (tok_is(cur(p), TT_NAME, "if")) {
        p->i++;
        if ((rc = tpl_parse_expr_at(p->a, p->t, p->n, &p->i, 0, &n->d, 0, p->err, p->errlen)))
            return rc;
    }
    if (tok_is(cur(p), TT_NAME, "recursive"))
        return fail(p, cur(p)->line, "%s", "recursive for loops are not supported");
    if ((rc = block_end(p)) || (rc = parse_body(p, stops, &n->b, &which)))
        return rc;
    if (which && !strcmp(which, "else")) {
        static const char *const stops2[] = { "endfor", NULL };
        p->i += 2;
        if ((rc = block_end(p)) || (rc = parse_body(p, stops2, &n->c, &which)))
            return rc;
    }
    *out = n;
    return end_tag(p, which, "endfor", line, "for");
}

static int parse_set(S *p, int line, tpl_node_t **out)
{
    tpl_node_t *n = node(p, TN_SET, line);
    int rc;
    if (!n)
        return -ENOMEM;
    if (cur(p)->t == TT_NAME && tok_is(&p->t[p->i + 1], TT_OP, ".")) {
        /* namespace attribute: set ns.attr = expr */
        if (!(n->name = dupn(p, cur(p))))
            return -ENOMEM;
        p->i += 2;
        if (cur(p)->t != TT_NAME)
            return fail(p, cur(p)->line, "%s", "expected an attribute name");
        if (!(n->targets = tpl_alloc(p->a, sizeof *n->targets)) || !(n->targets[0] = dupn(p, cur(p))))
            return -ENOMEM;
        n->n_targets = 1;
        n->neg = 1;
        p->i++;
    } else if ((rc = parse_names(p, n))) {
        return rc;
    }
    if (tok_is(cur(p), TT_OP, "=")) {
        p->i++;
        if ((rc = expr(p, &n->a)))
            return rc;
        /* a tuple without parentheses: set a, b = 1, 2 */
        if (tok_is(cur(p), TT_OP, ",")) {
            tpl_node_t *t = node(p, TN_TUPLE, line);
            size_t cap = 0;
            if (!t)
                return -ENOMEM;
            if (grow(p, (void ***)&t->kids, t->n, &cap))
                return -ENOMEM;
            t->kids[t->n++] = n->a;
            while (tok_is(cur(p), TT_OP, ",")) {
                p->i++;
                if (grow(p, (void ***)&t->kids, t->n, &cap))
                    return -ENOMEM;
                if ((rc = expr(p, &t->kids[t->n++])))
                    return rc;
            }
            n->a = t;
        }
        *out = n;
        return block_end(p);
    }
    if (n->neg || n->n_targets != 1)
        return fail(p, cur(p)->line, "%s", "expected '=' in set");
    static const char *const stops[] = { "endset", NULL };
    const char *which;
    n->t = TN_SETBLOCK;
    if ((rc = block_end(p)) || (rc = parse_body(p, stops, &n->b, &which)))
        return rc;
    *out = n;
    return end_tag(p, which, "endset", line, "set");
}

static int parse_macro(S *p, int line, int is_call, tpl_node_t **out)
{
    static const char *const mstops[] = { "endmacro", NULL }, *const cstops[] = { "endcall", NULL };
    tpl_node_t *n = node(p, is_call ? TN_CALLBLOCK : TN_MACRO, line);
    const char *which;
    int rc;
    if (!n)
        return -ENOMEM;
    if (is_call) {
        if (tok_is(cur(p), TT_OP, "(") && (rc = parse_params(p, n)))
            return rc;
        if ((rc = tpl_parse_primary_at(p->a, p->t, p->n, &p->i, &n->a, p->err, p->errlen)))
            return rc;
        if (n->a->t != TN_CALL)
            return fail(p, line, "%s", "call block needs a macro call");
    } else {
        if (cur(p)->t != TT_NAME)
            return fail(p, cur(p)->line, "%s", "expected a macro name");
        if (!(n->name = dupn(p, cur(p))))
            return -ENOMEM;
        p->i++;
        if (!tok_is(cur(p), TT_OP, "("))
            return fail(p, cur(p)->line, "%s", "expected '(' after the macro name");
        if ((rc = parse_params(p, n)))
            return rc;
    }
    if ((rc = block_end(p)) || (rc = parse_body(p, is_call ? cstops : mstops, &n->b, &which)))
        return rc;
    *out = n;
    return end_tag(p, which, is_call ? "endcall" : "endmacro", line, is_call ? "call" : "macro");
}

static int parse_tag(S *p, tpl_node_t **out)
{
    const tpl_tok_t *t = cur(p);
    int line = t->line, rc;
    if (t->t != TT_NAME)
        return fail(p, line, "%s", "expected a tag name");
    char name[32];
    snprintf(name, sizeof name, "%.*s", (int)(t->n < 31 ? t->n : 31), t->p);
    p->i++;
    if (!strcmp(name, "if"))
        return parse_if(p, line, out);
    if (!strcmp(name, "for"))
        return parse_for(p, line, out);
    if (!strcmp(name, "set"))
        return parse_set(p, line, out);
    if (!strcmp(name, "macro"))
        return parse_macro(p, line, 0, out);
    if (!strcmp(name, "call"))
        return parse_macro(p, line, 1, out);
    if (!strcmp(name, "break") || !strcmp(name, "continue")) {
        if (!(*out = node(p, name[0] == 'b' ? TN_BREAK : TN_CONTINUE, line)))
            return -ENOMEM;
        return block_end(p);
    }
    if (!strcmp(name, "generation")) {
        static const char *const stops[] = { "endgeneration", NULL };
        const char *which;
        tpl_node_t *n = node(p, TN_GENERATION, line);
        if (!n)
            return -ENOMEM;
        if ((rc = block_end(p)) || (rc = parse_body(p, stops, &n->b, &which)))
            return rc;
        *out = n;
        return end_tag(p, which, "endgeneration", line, "generation");
    }
    if (!strncmp(name, "end", 3) || !strcmp(name, "else") || !strcmp(name, "elif"))
        return fail(p, line, "unexpected {%% %s %%}", name);
    return fail(p, line, "unknown tag '%s'", name);
}

static int parse_body(S *p, const char *const *stops, tpl_node_t **out, const char **which)
{
    tpl_node_t *body = node(p, TN_BODY, cur(p)->line);
    size_t cap = 0;
    int rc, open_line = cur(p)->line;
    if (!body)
        return -ENOMEM;
    if (++p->depth > 128)
        return fail(p, open_line, "%s", "blocks nested too deeply");
    *which = NULL;
    for (;;) {
        const tpl_tok_t *t = cur(p);
        tpl_node_t *x = NULL;
        if (t->t == TT_EOF)
            break;
        if (t->t == TT_BLOCK_BEGIN && stops) {
            const tpl_tok_t *nm = &p->t[p->i + 1];
            for (size_t k = 0; stops[k]; k++)
                if (tok_is(nm, TT_NAME, stops[k]))
                    *which = stops[k];
            if (*which)
                break;
        }
        if (t->t == TT_TEXT) {
            if (!(x = node(p, TN_TEXT, t->line)) || !(x->val = tv_str(p->a, t->p, t->n)))
                return -ENOMEM;
            p->i++;
        } else if (t->t == TT_VAR_BEGIN) {
            p->i++;
            if (!(x = node(p, TN_OUTPUT, t->line)))
                return -ENOMEM;
            if ((rc = expr(p, &x->a)))
                return rc;
            if (cur(p)->t != TT_VAR_END)
                return fu_err(p->err, p->errlen, -EINVAL, "template line %d: expected '}}' near '%.*s'",
                              cur(p)->line, (int)(cur(p)->p ? (cur(p)->n > 40 ? 40 : cur(p)->n) : 0),
                              cur(p)->p ? cur(p)->p : "");
            p->i++;
        } else if (t->t == TT_BLOCK_BEGIN) {
            p->i++;
            if ((rc = parse_tag(p, &x)))
                return rc;
        } else {
            return fail(p, t->line, "%s", "unexpected token");
        }
        if (grow(p, (void ***)&body->kids, body->n, &cap))
            return -ENOMEM;
        body->kids[body->n++] = x;
    }
    p->depth--;
    *out = body;
    return 0;
}

int tpl_parse_tokens(tpl_arena_t *a, const tpl_tok_t *toks, size_t n, tpl_node_t **root, char *err,
                     size_t errlen)
{
    S p = { .a = a, .t = toks, .n = n, .err = err, .errlen = errlen };
    const char *which;
    return parse_body(&p, NULL, root, &which);
}
