/* tok_load_pipeline.c — load normalizer, pre_tokenizer, decoder and post_processor
 * from tokenizer.json into flat op lists (Sequence nodes are flattened).
 * Anything not supported gives -ENOTSUP with a message naming it. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fu_util.h"
#include "tok_internal.h"

static const cJSON *jget(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = jget(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int jbool(const cJSON *o, const char *k, int def)
{
    const cJSON *v = jget(o, k);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

static char *dup_str(const char *s, size_t *len)
{
    *len = strlen(s);
    return strdup(s);
}

/* Grow an op array by one zeroed element; returns it or NULL. */
static void *grow(void **arr, size_t *n, size_t size)
{
    void *p = realloc(*arr, (*n + 1) * size);
    if (!p)
        return NULL;
    *arr = p;
    void *e = (char *)p + *n * size;
    memset(e, 0, size);
    (*n)++;
    return e;
}

/* The literal of a {"String": s} pattern; NULL (with *is_regex) for {"Regex": r}. */
static const char *pattern_str(const cJSON *pat, const char **regex)
{
    *regex = jstr(pat, "Regex");
    return jstr(pat, "String");
}

/* ---- normalizer ---------------------------------------------------------------- */

static int load_norm(tk_tokenizer_t *tk, const cJSON *n, char *err, size_t errlen)
{
    const char *type = jstr(n, "type");
    if (!type)
        return fu_err(err, errlen, -EINVAL, "tokenizer.json: normalizer without type");
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *e;
        int rc;
        cJSON_ArrayForEach(e, jget(n, "normalizers"))
            if ((rc = load_norm(tk, e, err, errlen)))
                return rc;
        return 0;
    }
    tk_norm_op_t *op;
    if (strcmp(type, "Prepend") == 0 && jstr(n, "prepend")) {
        if (!(op = grow((void **)&tk->norm, &tk->n_norm, sizeof *op)))
            return -ENOMEM;
        op->kind = TK_NORM_PREPEND;
        op->a = dup_str(jstr(n, "prepend"), &op->alen);
        return op->a ? 0 : -ENOMEM;
    }
    if (strcmp(type, "NFC") == 0) {
        if (!(op = grow((void **)&tk->norm, &tk->n_norm, sizeof *op)))
            return -ENOMEM;
        op->kind = TK_NORM_NFC;
        return 0;
    }
    if (strcmp(type, "Replace") == 0) {
        const char *re, *lit = pattern_str(jget(n, "pattern"), &re);
        const char *content = jstr(n, "content");
        if (!lit || !content)
            return fu_err(err, errlen, -ENOTSUP, "normalizer Replace with a regex pattern is not supported");
        if (!(op = grow((void **)&tk->norm, &tk->n_norm, sizeof *op)))
            return -ENOMEM;
        op->kind = TK_NORM_REPLACE;
        op->a = dup_str(lit, &op->alen);
        op->b = dup_str(content, &op->blen);
        return op->a && op->b ? 0 : -ENOMEM;
    }
    return fu_err(err, errlen, -ENOTSUP, "normalizer '%s' is not supported", type);
}

/* ---- pre-tokenizer --------------------------------------------------------------- */

static int behavior_of(const char *b)
{
    static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext",
                                  "Contiguous"};
    for (int i = 0; i < 5; i++)
        if (b && strcmp(b, names[i]) == 0)
            return i + 1;
    return 0;
}

static int prepend_scheme_of(const cJSON *p)
{
    const char *s = jstr(p, "prepend_scheme");
    if (s)
        return strcmp(s, "first") == 0 ? TK_PREPEND_FIRST
               : strcmp(s, "never") == 0 ? TK_PREPEND_NEVER
               : strcmp(s, "always") == 0 ? TK_PREPEND_ALWAYS : 0;
    return jbool(p, "add_prefix_space", 1) ? TK_PREPEND_ALWAYS : TK_PREPEND_NEVER;
}

static int load_pre(tk_tokenizer_t *tk, const cJSON *p, char *err, size_t errlen)
{
    const char *type = jstr(p, "type");
    tk_pre_op_t *op;
    if (!type)
        return fu_err(err, errlen, -EINVAL, "tokenizer.json: pre_tokenizer without type");
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *e;
        int rc;
        cJSON_ArrayForEach(e, jget(p, "pretokenizers"))
            if ((rc = load_pre(tk, e, err, errlen)))
                return rc;
        return 0;
    }
    if (strcmp(type, "Split") == 0) {
        const char *re, *lit = pattern_str(jget(p, "pattern"), &re);
        int behavior = behavior_of(jstr(p, "behavior"));
        int kind = re ? tk_re_identify(re) : TK_RE_NONE;
        if (re && kind == TK_RE_NONE)
            return fu_err(err, errlen, -ENOTSUP, "pre-tokenizer Split regex is not supported: %s", re);
        if (!re && !lit)
            return fu_err(err, errlen, -EINVAL, "tokenizer.json: Split without pattern");
        if (!behavior)
            return fu_err(err, errlen, -ENOTSUP, "Split behavior '%s' is not supported",
                          jstr(p, "behavior") ? jstr(p, "behavior") : "(none)");
        if (!(op = grow((void **)&tk->pre, &tk->n_pre, sizeof *op)))
            return -ENOMEM;
        op->kind = TK_PRE_SPLIT;
        op->regex = kind;
        op->behavior = behavior;
        op->invert = jbool(p, "invert", 0);
        if (lit && !(op->lit = dup_str(lit, &op->lit_len)))
            return -ENOMEM;
        return 0;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        if (!(op = grow((void **)&tk->pre, &tk->n_pre, sizeof *op)))
            return -ENOMEM;
        op->kind = TK_PRE_BYTELEVEL;
        op->add_prefix_space = jbool(p, "add_prefix_space", 1);
        op->use_regex = jbool(p, "use_regex", 1);
        return 0;
    }
    if (strcmp(type, "Metaspace") == 0) {
        const char *rep = jstr(p, "replacement");
        int scheme = prepend_scheme_of(p);
        if (!rep || !*rep || !scheme)
            return fu_err(err, errlen, -ENOTSUP, "Metaspace pre-tokenizer options are not supported");
        if (!(op = grow((void **)&tk->pre, &tk->n_pre, sizeof *op)))
            return -ENOMEM;
        op->kind = TK_PRE_METASPACE;
        op->prepend_scheme = scheme;
        op->split = jbool(p, "split", 1);
        return (op->lit = dup_str(rep, &op->lit_len)) ? 0 : -ENOMEM;
    }
    return fu_err(err, errlen, -ENOTSUP, "pre-tokenizer '%s' is not supported", type);
}

/* ---- decoder ----------------------------------------------------------------------- */

static int load_dec(tk_tokenizer_t *tk, const cJSON *d, char *err, size_t errlen)
{
    const char *type = jstr(d, "type");
    tk_dec_op_t *op;
    if (!type)
        return fu_err(err, errlen, -EINVAL, "tokenizer.json: decoder without type");
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *e;
        int rc;
        cJSON_ArrayForEach(e, jget(d, "decoders"))
            if ((rc = load_dec(tk, e, err, errlen)))
                return rc;
        return 0;
    }
    static const char *simple[] = {"ByteLevel", "ByteFallback", "Fuse"};
    static const int simple_kind[] = {TK_DEC_BYTELEVEL, TK_DEC_BYTEFALLBACK, TK_DEC_FUSE};
    for (int i = 0; i < 3; i++) {
        if (strcmp(type, simple[i]) == 0) {
            if (!(op = grow((void **)&tk->dec, &tk->n_dec, sizeof *op)))
                return -ENOMEM;
            op->kind = simple_kind[i];
            return 0;
        }
    }
    if (strcmp(type, "Replace") == 0) {
        const char *re, *lit = pattern_str(jget(d, "pattern"), &re);
        const char *content = jstr(d, "content");
        if (!lit || !content)
            return fu_err(err, errlen, -ENOTSUP, "decoder Replace with a regex pattern is not supported");
        if (!(op = grow((void **)&tk->dec, &tk->n_dec, sizeof *op)))
            return -ENOMEM;
        op->kind = TK_DEC_REPLACE;
        op->a = dup_str(lit, &op->alen);
        op->b = dup_str(content, &op->blen);
        return op->a && op->b ? 0 : -ENOMEM;
    }
    if (strcmp(type, "Strip") == 0) {
        const char *c = jstr(d, "content");
        const cJSON *start = jget(d, "start"), *stop = jget(d, "stop");
        uint32_t cp;
        if (!c || !*c || tk_utf8_next((const uint8_t *)c, strlen(c), &cp) != strlen(c) ||
            !cJSON_IsNumber(start) || !cJSON_IsNumber(stop) || start->valuedouble < 0 ||
            stop->valuedouble < 0 || start->valuedouble > 1e9 || stop->valuedouble > 1e9)
            return fu_err(err, errlen, -ENOTSUP, "decoder Strip options are not supported");
        if (!(op = grow((void **)&tk->dec, &tk->n_dec, sizeof *op)))
            return -ENOMEM;
        op->kind = TK_DEC_STRIP;
        op->ch = cp;
        op->start = (size_t)start->valuedouble;
        op->stop = (size_t)stop->valuedouble;
        return 0;
    }
    if (strcmp(type, "Metaspace") == 0) {
        const char *rep = jstr(d, "replacement");
        int scheme = prepend_scheme_of(d);
        if (!rep || !*rep || !scheme)
            return fu_err(err, errlen, -ENOTSUP, "Metaspace decoder options are not supported");
        if (!(op = grow((void **)&tk->dec, &tk->n_dec, sizeof *op)))
            return -ENOMEM;
        op->kind = TK_DEC_METASPACE;
        op->prepend_scheme = scheme;
        return (op->a = dup_str(rep, &op->alen)) ? 0 : -ENOMEM;
    }
    return fu_err(err, errlen, -ENOTSUP, "decoder '%s' is not supported", type);
}

/* ---- post-processor ------------------------------------------------------------------ */

static int add_ids(int32_t **arr, size_t *n, const cJSON *ids)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, ids) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > INT32_MAX)
            return -EINVAL;
        int32_t *p = grow((void **)arr, n, sizeof **arr);
        if (!p)
            return -ENOMEM;
        *p = (int32_t)e->valuedouble;
    }
    return 0;
}

static int load_template(tk_tokenizer_t *tk, const cJSON *p, char *err, size_t errlen)
{
    const cJSON *single = jget(p, "single"), *specials = jget(p, "special_tokens"), *e;
    int seen_a = 0, rc;
    cJSON_ArrayForEach(e, single) {
        const cJSON *sp = jget(e, "SpecialToken");
        if (jget(e, "Sequence")) {
            seen_a = 1;
            continue;
        }
        const char *name = jstr(sp, "id");
        const cJSON *def = name ? jget(specials, name) : NULL;
        if (!def)
            return fu_err(err, errlen, -EINVAL, "TemplateProcessing: unknown special token");
        if ((rc = seen_a ? add_ids(&tk->pp_suffix, &tk->n_suffix, jget(def, "ids"))
                         : add_ids(&tk->pp_prefix, &tk->n_prefix, jget(def, "ids"))))
            return fu_err(err, errlen, rc, "TemplateProcessing: bad ids");
    }
    return 0;
}

/* ["<s>", 0] of Roberta/Bert processing. */
static int pair_id(const cJSON *pair, int32_t *id)
{
    const cJSON *v = cJSON_GetArrayItem(pair, 1);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > INT32_MAX)
        return -EINVAL;
    *id = (int32_t)v->valuedouble;
    return 0;
}

static int load_post(tk_tokenizer_t *tk, const cJSON *p, char *err, size_t errlen)
{
    const char *type = jstr(p, "type");
    if (!type)
        return fu_err(err, errlen, -EINVAL, "tokenizer.json: post_processor without type");
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *e;
        int rc;
        cJSON_ArrayForEach(e, jget(p, "processors"))
            if ((rc = load_post(tk, e, err, errlen)))
                return rc;
        return 0;
    }
    if (strcmp(type, "ByteLevel") == 0)
        return 0; /* only trims offsets */
    if (strcmp(type, "TemplateProcessing") == 0)
        return load_template(tk, p, err, errlen);
    if (strcmp(type, "RobertaProcessing") == 0 || strcmp(type, "BertProcessing") == 0) {
        int32_t cls, sep;
        int32_t *a, *b;
        if (pair_id(jget(p, "cls"), &cls) || pair_id(jget(p, "sep"), &sep))
            return fu_err(err, errlen, -EINVAL, "%s: bad cls/sep", type);
        if (!(a = grow((void **)&tk->pp_prefix, &tk->n_prefix, sizeof *a)))
            return -ENOMEM;
        *a = cls;
        if (!(b = grow((void **)&tk->pp_suffix, &tk->n_suffix, sizeof *b)))
            return -ENOMEM;
        *b = sep;
        return 0;
    }
    return fu_err(err, errlen, -ENOTSUP, "post-processor '%s' is not supported", type);
}

int tk_load_pipeline(tk_tokenizer_t *tk, const cJSON *root, char *err, size_t errlen)
{
    const cJSON *n = jget(root, "normalizer"), *p = jget(root, "pre_tokenizer");
    const cJSON *d = jget(root, "decoder"), *pp = jget(root, "post_processor");
    int rc = 0;
    if (cJSON_IsObject(n) && (rc = load_norm(tk, n, err, errlen)))
        goto out;
    if (cJSON_IsObject(p) && (rc = load_pre(tk, p, err, errlen)))
        goto out;
    if (tk->n_pre > TK_MAX_PRE) {
        rc = fu_err(err, errlen, -ENOTSUP, "more than %d pre-tokenizers are not supported", TK_MAX_PRE);
        goto out;
    }
    if (cJSON_IsObject(d)) {
        tk->has_decoder = 1;
        if ((rc = load_dec(tk, d, err, errlen)))
            goto out;
    }
    if (cJSON_IsObject(pp))
        rc = load_post(tk, pp, err, errlen);
out:
    if (rc == -ENOMEM)
        fu_err(err, errlen, rc, "tokenizer: out of memory");
    return rc;
}

void tk_free_pipeline(tk_tokenizer_t *tk)
{
    for (size_t i = 0; i < tk->n_norm; i++) {
        free(tk->norm[i].a);
        free(tk->norm[i].b);
    }
    for (size_t i = 0; i < tk->n_pre; i++)
        free(tk->pre[i].lit);
    for (size_t i = 0; i < tk->n_dec; i++) {
        free(tk->dec[i].a);
        free(tk->dec[i].b);
    }
    free(tk->norm);
    free(tk->pre);
    free(tk->dec);
    free(tk->pp_prefix);
    free(tk->pp_suffix);
}
