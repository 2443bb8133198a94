/* tpl_json.c — JSON in and out of template values: cJSON trees to values (integral numbers
 * are ints unless tpl_json_mark_floats saw them written as floats), and Python's json.dumps
 * as transformers' tojson filter calls it (ensure_ascii, indent, separators, sort_keys). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fu_util.h"
#include "tpl_internal.h"

/* A flag bit in cJSON's type field (above its own bits) marking a number written as a float. */
#define TPL_CJSON_FLOAT (1 << 14)

static void mark_walk(cJSON *j, const char *text, size_t len, size_t *pos)
{
    for (; j; j = j->next) {
        if (cJSON_IsNumber(j)) {
            /* the next number token of the text, skipping strings */
            size_t i = *pos;
            while (i < len) {
                char ch = text[i];
                if (ch == '"') {
                    for (i++; i < len && text[i] != '"'; i++)
                        if (text[i] == '\\')
                            i++;
                    i++;
                    continue;
                }
                if (ch == '-' || (ch >= '0' && ch <= '9'))
                    break;
                i++;
            }
            int flt = 0;
            while (i < len && strchr("+-0123456789.eE", text[i])) {
                if (text[i] == '.' || text[i] == 'e' || text[i] == 'E')
                    flt = 1;
                i++;
            }
            *pos = i;
            if (flt)
                j->type |= TPL_CJSON_FLOAT;
        }
        if (j->child)
            mark_walk(j->child, text, len, pos);
    }
}

void tpl_json_mark_floats(cJSON *root, const char *text, size_t len)
{
    size_t pos = 0;
    if (root && text)
        mark_walk(root, text, len, &pos);
}

tv_t *tpl_from_cjson(tpl_arena_t *a, const cJSON *j)
{
    if (cJSON_IsNull(j))
        return &tv_none_v;
    if (cJSON_IsBool(j))
        return tv_bool(cJSON_IsTrue(j));
    if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        if (!(j->type & TPL_CJSON_FLOAT) && d == floor(d) && fabs(d) < 9007199254740992.0)
            return tv_int(a, (int64_t)d);
        return tv_float(a, d);
    }
    if (cJSON_IsString(j))
        return tv_strz(a, j->valuestring ? j->valuestring : "");
    if (cJSON_IsArray(j)) {
        tv_t *l = tv_list(a, (size_t)cJSON_GetArraySize(j));
        if (!l)
            return NULL;
        size_t i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, j) {
            if (!(l->u.l.v[i++] = tpl_from_cjson(a, e)))
                return NULL;
        }
        return l;
    }
    if (cJSON_IsObject(j)) {
        tv_t *d = tv_dict(a);
        const cJSON *e;
        if (!d)
            return NULL;
        cJSON_ArrayForEach(e, j) {
            tv_t *k = tv_strz(a, e->string ? e->string : ""), *v = tpl_from_cjson(a, e);
            if (!k || !v || tv_dict_set(a, d, k, v))
                return NULL;
        }
        return d;
    }
    return &tv_none_v;
}

/* ---- json.dumps ------------------------------------------------------------------------ */
typedef struct {
    tk_buf_t *b;
    int ascii, indent, sort;
    const char *isep, *ksep;
    char *err;
    size_t errlen;
} J;

static int jstr(J *j, const char *p, size_t n)
{
    tk_buf_t *b = j->b;
    if (tk_buf_add(b, "\"", 1))
        return -ENOMEM;
    for (size_t i = 0; i < n;) {
        unsigned char ch = (unsigned char)p[i];
        char e[16];
        const char *s = NULL;
        size_t l = 1;
        if (ch == '"') s = "\\\"";
        else if (ch == '\\') s = "\\\\";
        else if (ch == '\n') s = "\\n";
        else if (ch == '\r') s = "\\r";
        else if (ch == '\t') s = "\\t";
        else if (ch == '\b') s = "\\b";
        else if (ch == '\f') s = "\\f";
        else if (ch < 0x20) {
            snprintf(e, sizeof e, "\\u%04x", ch);
            s = e;
        } else if (ch >= 0x80 && j->ascii) {
            uint32_t cp;
            l = tk_utf8_next((const uint8_t *)p + i, n - i, &cp);
            if (cp >= TK_UTF8_BAD)
                cp = 0xFFFD;
            if (cp >= 0x10000) {
                cp -= 0x10000;
                snprintf(e, sizeof e, "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
            } else {
                snprintf(e, sizeof e, "\\u%04x", cp);
            }
            s = e;
        }
        if (s ? tk_buf_add(b, s, strlen(s)) : tk_buf_add(b, p + i, 1))
            return -ENOMEM;
        i += l;
    }
    return tk_buf_add(b, "\"", 1);
}

static int newline(J *j, int level)
{
    if (j->indent < 0)
        return 0;
    if (tk_buf_add(j->b, "\n", 1))
        return -ENOMEM;
    for (int i = 0; i < level * j->indent; i++)
        if (tk_buf_add(j->b, " ", 1))
            return -ENOMEM;
    return 0;
}

static int jval(J *j, const tv_t *v, int level);

static int jkey(J *j, const tv_t *k)
{
    tk_buf_t tmp = { 0 };
    int rc;
    switch (k->t) {
    case TV_STR: return jstr(j, k->u.s.p, k->u.s.n);
    case TV_INT: case TV_FLOAT:
        if ((rc = tv_to_str(&tmp, k)) == 0)
            rc = jstr(j, tmp.p, tmp.len);
        tk_buf_free(&tmp);
        return rc;
    case TV_BOOL: return jstr(j, k->u.b ? "true" : "false", k->u.b ? 4 : 5);
    case TV_NONE: return jstr(j, "null", 4);
    default:
        return fu_err(j->err, j->errlen, -EINVAL, "keys must be str, int, float, bool or None, not %s",
                      tv_type_name(k));
    }
}

static int by_key(const void *x, const void *y)
{
    const tv_t *const *a = x, *const *b = y;
    int lt;
    if (!tv_lt(a[0], b[0], &lt) && lt)
        return -1;
    if (!tv_lt(b[0], a[0], &lt) && lt)
        return 1;
    return 0;
}

static int jdict(J *j, const tv_t *v, int level)
{
    size_t n = v->u.d.n;
    int rc = 0;
    if (n == 0)
        return tk_buf_add(j->b, "{}", 2);
    /* pairs (key, value) in order, sorted by key when asked */
    const tv_t **pairs = malloc(2 * n * sizeof *pairs);
    if (!pairs)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        pairs[2 * i] = v->u.d.k[i];
        pairs[2 * i + 1] = v->u.d.v[i];
    }
    if (j->sort)
        qsort(pairs, n, 2 * sizeof *pairs, by_key);
    if (tk_buf_add(j->b, "{", 1))
        rc = -ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        if (i && tk_buf_add(j->b, j->isep, strlen(j->isep)))
            rc = -ENOMEM;
        if (!rc && !(rc = newline(j, level + 1)) && !(rc = jkey(j, pairs[2 * i])) &&
            !(rc = tk_buf_add(j->b, j->ksep, strlen(j->ksep)) ? -ENOMEM : 0))
            rc = jval(j, pairs[2 * i + 1], level + 1);
    }
    if (!rc && !(rc = newline(j, level)))
        rc = tk_buf_add(j->b, "}", 1) ? -ENOMEM : 0;
    free(pairs);
    return rc;
}

static int jval(J *j, const tv_t *v, int level)
{
    char num[32];
    int rc;
    if (level > 256)
        return fu_err(j->err, j->errlen, -EINVAL, "value nested too deeply for tojson");
    switch (v->t) {
    case TV_NONE: return tk_buf_add(j->b, "null", 4);
    case TV_BOOL: return v->u.b ? tk_buf_add(j->b, "true", 4) : tk_buf_add(j->b, "false", 5);
    case TV_INT:
        snprintf(num, sizeof num, "%" PRId64, v->u.i);
        return tk_buf_add(j->b, num, strlen(num));
    case TV_FLOAT:
        if (isnan(v->u.f))
            return tk_buf_add(j->b, "NaN", 3);
        if (isinf(v->u.f))
            return v->u.f < 0 ? tk_buf_add(j->b, "-Infinity", 9) : tk_buf_add(j->b, "Infinity", 8);
        return tv_float_repr(j->b, v->u.f);
    case TV_STR: return jstr(j, v->u.s.p, v->u.s.n);
    case TV_LIST:
        if (v->u.l.n == 0)
            return tk_buf_add(j->b, "[]", 2);
        if (tk_buf_add(j->b, "[", 1))
            return -ENOMEM;
        for (size_t i = 0; i < v->u.l.n; i++) {
            if (i && tk_buf_add(j->b, j->isep, strlen(j->isep)))
                return -ENOMEM;
            if ((rc = newline(j, level + 1)) || (rc = jval(j, v->u.l.v[i], level + 1)))
                return rc;
        }
        if ((rc = newline(j, level)))
            return rc;
        return tk_buf_add(j->b, "]", 1);
    case TV_DICT: case TV_NS:
        return jdict(j, v, level);
    default:
        return fu_err(j->err, j->errlen, -EINVAL, "Object of type %s is not JSON serializable",
                      v->t == TV_UNDEF ? "Undefined" : tv_type_name(v));
    }
}

int tpl_tojson(tk_buf_t *b, const tv_t *v, int ensure_ascii, int indent, const char *item_sep,
               const char *key_sep, int sort_keys, char *err, size_t errlen)
{
    J j = { .b = b, .ascii = ensure_ascii, .indent = indent, .sort = sort_keys, .err = err, .errlen = errlen,
            .isep = item_sep ? item_sep : indent >= 0 ? "," : ", ", .ksep = key_sep ? key_sep : ": " };
    return jval(&j, v, 0);
}
