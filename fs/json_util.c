/* json_util.c — strict pre-checks of JSON text (UTF-8, NULs, depth) and typed getters. */
#include "json_util.h"
#include "fu_util.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- UTF-8 --- */

/* Sequence rules: fu_utf8_seq (fs/util_utf8.c). */

int js_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (p[i] == 0)
            return 0;
        size_t k = fu_utf8_seq(p + i, len - i);
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}

/* ----------------------------------------------------------- text scan --- */

int js_check_text(const char *text, size_t len, int max_depth, uint64_t base, char *err, size_t errlen)
{
    const unsigned char *p = (const unsigned char *)text;
    int depth = 0, in_str = 0;
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        if (c == 0)
            return fu_err(err, errlen, -EINVAL, "NUL byte in JSON at offset %llu",
                          (unsigned long long)(base + i));
        if (c >= 0x80) {
            size_t k = fu_utf8_seq(p + i, len - i);
            if (k == 0)
                return fu_err(err, errlen, -EINVAL, "invalid UTF-8 in JSON at offset %llu",
                              (unsigned long long)(base + i));
            i += k;
            continue;
        }
        if (in_str) {
            if (c == '\\') {
                /* "\u0000" would become an embedded NUL inside a C string. */
                if (i + 5 < len && p[i + 1] == 'u' && memcmp(p + i + 2, "0000", 4) == 0)
                    return fu_err(err, errlen, -EINVAL, "\\u0000 in JSON string at offset %llu",
                                  (unsigned long long)(base + i));
                /* skip the escaped character; a non-ASCII one is checked as UTF-8 next */
                i += (i + 1 < len && p[i + 1] != 0 && p[i + 1] < 0x80) ? 2 : 1;
                continue;
            }
            if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth)
                return fu_err(err, errlen, -EINVAL, "JSON nested deeper than %d levels at offset %llu",
                              max_depth, (unsigned long long)(base + i));
        } else if (c == '}' || c == ']') {
            depth--;
        }
        i++;
    }
    return 0;
}

int js_parse(const char *text, size_t len, uint64_t base, const char *what, cJSON **out,
             char *err, size_t errlen)
{
    *out = NULL;
    int rc = js_check_text(text, len, JS_MAX_DEPTH, base, err, errlen);
    if (rc)
        return rc;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        uint64_t pos = end ? (uint64_t)(end - text) : 0;
        return fu_err(err, errlen, -EINVAL, "%s: malformed JSON at offset %llu", what,
                      (unsigned long long)(base + pos));
    }
    /* Anything but whitespace after the document is an error too. */
    if (end) {
        for (const char *q = end; q < text + len; q++) {
            if (*q != ' ' && *q != '\t' && *q != '\r' && *q != '\n') {
                cJSON_Delete(root);
                return fu_err(err, errlen, -EINVAL, "%s: trailing bytes after JSON at offset %llu",
                              what, (unsigned long long)(base + (uint64_t)(q - text)));
            }
        }
    }
    *out = root;
    return 0;
}

/* ------------------------------------------------------------- getters --- */

int js_get_u64(const cJSON *j, uint64_t *v)
{
    if (!cJSON_IsNumber(j))
        return 0;
    double d = j->valuedouble;
    if (!(d >= 0.0) || d > (double)JS_MAX_EXACT_INT || floor(d) != d)
        return 0;
    *v = (uint64_t)d;
    return 1;
}

int js_get_int(const cJSON *j, int lo, int hi, int *v)
{
    if (!cJSON_IsNumber(j))
        return 0;
    double d = j->valuedouble;
    if (!(d >= (double)lo) || d > (double)hi || floor(d) != d)
        return 0;
    *v = (int)d;
    return 1;
}
