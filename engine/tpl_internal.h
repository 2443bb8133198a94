/* tpl_internal.h — internals of the chat-template interpreter (prefix tpl_): arena, values,
 * tokens, syntax tree and the render context. See include/template.h and docs/template.md. */
#ifndef TPL_INTERNAL_H
#define TPL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "template.h"
#include "tok_util.h"

/* ---- arena: every value and node of a parse or a render lives until the arena is freed ---- */
typedef struct tpl_arena tpl_arena_t;
/* New arena limited to max bytes in total. NULL on ENOMEM. */
tpl_arena_t *tpl_arena_new(size_t max);
/* n zeroed bytes, or NULL when out of memory or over the arena's limit. */
void *tpl_alloc(tpl_arena_t *a, size_t n);
/* Free the arena (NULL-safe). */
void tpl_arena_free(tpl_arena_t *a);

/* ---- values (Python/Jinja semantics; immutable except namespaces) ---- */
typedef enum { TV_UNDEF, TV_NONE, TV_BOOL, TV_INT, TV_FLOAT, TV_STR, TV_LIST, TV_DICT, TV_NS,
               TV_MACRO, TV_FUNC } tv_type_t;

typedef struct tv tv_t;
struct tpl_node;
struct tpl_scope;

struct tv {
    tv_type_t t;
    int is_loop;                 /* a dict that is a for loop's `loop` (has cycle()) */
    int is_tuple;                /* a list that prints as a Python tuple */
    union {
        int b;
        int64_t i;
        double f;
        struct { const char *p; size_t n; } s;           /* UTF-8, not NUL-terminated */
        struct { tv_t **v; size_t n; } l;
        struct { tv_t **k, **v; size_t n, cap; } d;      /* insertion-ordered */
        struct { const struct tpl_node *node; struct tpl_scope *scope; } m;
        struct { int id; tv_t *self; } fn;               /* builtin function / bound method */
        const char *undef_name;
    } u;
};

/* Builtin function ids (TV_FUNC). */
enum { TF_RAISE = 1, TF_STRFTIME, TF_NAMESPACE, TF_RANGE, TF_DICT };

extern tv_t tv_undef_v, tv_none_v, tv_true_v, tv_false_v;

tv_t *tv_new(tpl_arena_t *a, tv_type_t t);          /* NULL on ENOMEM */
tv_t *tv_int(tpl_arena_t *a, int64_t i);
tv_t *tv_float(tpl_arena_t *a, double f);
tv_t *tv_bool(int b);                               /* the shared true/false */
tv_t *tv_str(tpl_arena_t *a, const char *p, size_t n); /* copies */
tv_t *tv_strz(tpl_arena_t *a, const char *s);
tv_t *tv_undef_named(tpl_arena_t *a, const char *name);
tv_t *tv_list(tpl_arena_t *a, size_t n);            /* n slots, to be filled */
tv_t *tv_dict(tpl_arena_t *a);
/* Set key (replacing an equal key). 0 or -ENOMEM. */
int tv_dict_set(tpl_arena_t *a, tv_t *d, tv_t *k, tv_t *v);
/* Value of key, NULL when absent. */
tv_t *tv_dict_get(const tv_t *d, const tv_t *k);
tv_t *tv_dict_getz(const tv_t *d, const char *k);

/* Python truthiness. */
int tv_truthy(const tv_t *v);
/* Python ==. */
int tv_eq(const tv_t *x, const tv_t *y);
/* Python <: 0 ok with *lt set, -EINVAL for unorderable types. */
int tv_lt(const tv_t *x, const tv_t *y, int *lt);
/* Jinja type name for error messages. */
const char *tv_type_name(const tv_t *v);
/* Append str(v) (Python str(), Jinja output) to b. 0 or -ENOMEM. */
int tv_to_str(tk_buf_t *b, const tv_t *v);
/* Append repr(v) to b. 0 or -ENOMEM. */
int tv_repr(tk_buf_t *b, const tv_t *v);
/* Append Python's repr of a float. 0 or -ENOMEM. */
int tv_float_repr(tk_buf_t *b, double f);
/* str(v) as a new string value (v itself when it is a string). NULL on ENOMEM. */
tv_t *tv_stringify(tpl_arena_t *a, tv_t *v);
/* Number of code points of s[0..n). */
size_t tv_utf8_len(const char *p, size_t n);
/* Byte offset of code point index ci (clamped to n). */
size_t tv_utf8_off(const char *p, size_t n, size_t ci);
/* Python's str.isspace() for the code point at p (length in *len). */
int tv_is_pyspace(const char *p, size_t n, size_t *len);

/* ---- JSON ---- */
/* Convert a cJSON tree into values (integral numbers become int unless marked float by
 * tpl_json_mark_floats). NULL on ENOMEM. */
struct cJSON;
tv_t *tpl_from_cjson(tpl_arena_t *a, const struct cJSON *j);
/* Append json.dumps(v, ensure_ascii, indent (<0: none), separators, sort_keys) to b.
 * 0, -ENOMEM, or -EINVAL (not serializable; err says which type). */
int tpl_tojson(tk_buf_t *b, const tv_t *v, int ensure_ascii, int indent, const char *item_sep,
               const char *key_sep, int sort_keys, char *err, size_t errlen);

/* ---- tokens of the template source ---- */
typedef enum { TT_TEXT, TT_VAR_BEGIN, TT_VAR_END, TT_BLOCK_BEGIN, TT_BLOCK_END, TT_NAME, TT_STRING,
               TT_INT, TT_FLOAT, TT_OP, TT_EOF } tt_type_t;

typedef struct {
    tt_type_t t;
    int line;
    const char *p;   /* TEXT/NAME/OP: slice of the source or of an arena copy; STRING: unescaped */
    size_t n;
    int64_t i;
    double f;
} tpl_tok_t;

/* Split src into tokens (arena-allocated array ending with TT_EOF). 0, -EINVAL (err names the
 * line) or -ENOMEM. */
int tpl_lex(tpl_arena_t *a, const char *src, size_t len, tpl_tok_t **toks, size_t *n,
            char *err, size_t errlen);

/* ---- syntax tree ---- */
typedef enum {
    /* expressions */
    TN_CONST, TN_NAME, TN_LIST, TN_TUPLE, TN_DICT, TN_GETATTR, TN_GETITEM, TN_SLICE, TN_CALL,
    TN_FILTER, TN_TEST, TN_UNARY, TN_BINARY, TN_AND, TN_OR, TN_NOT, TN_COMPARE, TN_COND,
    /* statements */
    TN_BODY, TN_TEXT, TN_OUTPUT, TN_IF, TN_FOR, TN_SET, TN_SETBLOCK, TN_MACRO, TN_CALLBLOCK,
    TN_BREAK, TN_CONTINUE, TN_GENERATION
} tn_type_t;

typedef struct tpl_node tpl_node_t;
struct tpl_node {
    tn_type_t t;
    int line;
    const char *name;            /* NAME, GETATTR attr, FILTER/TEST name, op, SET/MACRO name */
    tv_t *val;                   /* CONST */
    tpl_node_t **kids;           /* operands / children / list items / body statements */
    size_t n;
    const char **kw;             /* CALL/FILTER/TEST: keyword of kids[i] (NULL = positional) */
    const char **targets;        /* FOR/SET: names; MACRO/CALLBLOCK: parameter names */
    size_t n_targets;
    tpl_node_t *a, *b, *c, *d;   /* roles per type (see tpl_parse.c) */
    int neg;                     /* TEST: `is not`; COMPARE ops in name list */
};

/* Parse the tokens into a TN_BODY. 0, -EINVAL (err names the line) or -ENOMEM. */
int tpl_parse_tokens(tpl_arena_t *a, const tpl_tok_t *toks, size_t n, tpl_node_t **root,
                     char *err, size_t errlen);

/* Expression parser entry points for the statement parser: parse at toks[*i], advance *i. */
int tpl_parse_expr_at(tpl_arena_t *a, const tpl_tok_t *t, size_t n, size_t *i, int nest,
                      tpl_node_t **out, int allow_cond, char *err, size_t errlen);
int tpl_parse_primary_at(tpl_arena_t *a, const tpl_tok_t *t, size_t n, size_t *i, tpl_node_t **out,
                         char *err, size_t errlen);

/* ---- render ---- */
typedef struct tpl_scope tpl_scope_t;
struct tpl_scope {
    tpl_scope_t *parent;
    const char **names;
    tv_t **vals;
    size_t n, cap;
};

typedef struct {
    tpl_arena_t *a;
    tk_buf_t *out;
    char *err;
    size_t errlen;
    int depth;
    uint64_t steps;
    int loop_ctl;                /* 1 break, 2 continue pending */
} tpl_ctx_t;

#define TPL_MAX_DEPTH 200
#define TPL_MAX_STEPS 50000000ull
#define TPL_MAX_OUT (256u << 20)

/* Error "line N: fmt" into ctx->err; returns code. */
int tpl_fail(tpl_ctx_t *c, int line, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The -ENOMEM error with a message. */
int tpl_oom(tpl_ctx_t *c, int line);

tpl_scope_t *tpl_scope_new(tpl_arena_t *a, tpl_scope_t *parent);
/* Bind name in this scope. 0 or -ENOMEM. */
int tpl_scope_set(tpl_arena_t *a, tpl_scope_t *s, const char *name, tv_t *v);
/* Look name up through the parents; NULL when unbound. */
tv_t *tpl_scope_get(const tpl_scope_t *s, const char *name);

/* Evaluate an expression. 0 or -errno (error already in ctx). */
int tpl_eval(tpl_ctx_t *c, tpl_scope_t *s, const tpl_node_t *n, tv_t **out);
/* Evaluate a TN_CALL node passing caller (a call block's body) to the macro called. */
int tpl_eval_call_with_caller(tpl_ctx_t *c, tpl_scope_t *s, const tpl_node_t *n, tv_t *caller, tv_t **out);
/* Run statements (writes to c->out). */
int tpl_exec(tpl_ctx_t *c, tpl_scope_t *s, const tpl_node_t *n);
/* Call a macro with evaluated arguments (kw[i] NULL = positional); caller may be NULL. */
int tpl_call_macro(tpl_ctx_t *c, int line, tv_t *m, tv_t **args, const char **kw, size_t n,
                   tv_t *caller, tv_t **out);
/* Iterate a value as Jinja's for does: a new list of items (dict: keys; string: chars). */
int tpl_iter_list(tpl_ctx_t *c, int line, tv_t *v, tv_t **out);

/* Apply a filter to an evaluated value and arguments (unknown name: error). */
int tpl_filter(tpl_ctx_t *c, tpl_scope_t *s, int line, const char *name, tv_t *v, tv_t **args,
               const char **kw, size_t n, tv_t **out);
/* Apply a test (`v is name args`): *res 0/1 (unknown name: error). */
int tpl_test(tpl_ctx_t *c, int line, const char *name, tv_t *v, tv_t **args, size_t n, int *res);
/* Call a str/dict method (or loop.cycle) on self. */
int tpl_method(tpl_ctx_t *c, int line, tv_t *self, const char *name, tv_t **args,
               const char **kw, size_t n, tv_t **out);
/* Call a global function (TF_*). */
int tpl_builtin(tpl_ctx_t *c, int line, int id, tv_t **args, const char **kw, size_t n, tv_t **out);
/* Global functions: a TV_FUNC value for raise_exception, strftime_now, namespace, range, dict. */
tv_t *tpl_global(const char *name);

/* Argument pos (positional) or named name of a call; NULL when not given. */
tv_t *tpl_arg(tv_t **args, const char **kw, size_t n, size_t pos, const char *name);
/* Python str.strip/lstrip/rstrip (chars NULL or None: Unicode whitespace). */
int tpl_strip(tpl_ctx_t *c, int line, tv_t *s, tv_t *chars, int left, int right, tv_t **out);
/* Python str.replace (count < 0: all). */
int tpl_replace(tpl_ctx_t *c, int line, tv_t *s, tv_t *old, tv_t *new, int64_t count, tv_t **out);
/* Case mapping of a string (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic): 'u' upper,
 * 'l' lower, 'c' capitalize, 't' str.title. */
tv_t *tpl_case(tpl_arena_t *a, const tv_t *s, char mode);

/* Item and attribute access (missing -> undefined, as Jinja). */
int tpl_getitem(tpl_ctx_t *c, int line, tv_t *obj, tv_t *key, tv_t **out);
int tpl_getattr(tpl_ctx_t *c, int line, tv_t *obj, const char *name, tv_t **out);

#endif
