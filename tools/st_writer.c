/* st_writer.c — safetensors header writer (see include/st_writer.h). */
#include "st_writer.h"
#include "fu_util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a growable text buffer ------------------------------------------------------ */

typedef struct {
    char *p;
    size_t len, cap;
    int err;
} sb_t;

static void sb_put(sb_t *b, const char *s, size_t n)
{
    if (b->err)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->err = -ENOMEM;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_printf(sb_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sb_t *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        b->err = b->err ? b->err : -EINVAL;
        return;
    }
    sb_put(b, tmp, (size_t)n);
}

/* A JSON string literal: quotes, backslashes and control characters escaped; other
 * bytes (UTF-8) copied as they are. */
static void sb_json_str(sb_t *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = { '\\', (char)c };
            sb_put(b, e, 2);
        } else if (c < 0x20) {
            sb_printf(b, "\\u%04x", c);
        } else {
            sb_put(b, (const char *)&c, 1);
        }
    }
    sb_put(b, "\"", 1);
}

/* ---- header ------------------------------------------------------------------------ */

int sw_header(const sw_tensor_t *t, size_t n, const char *const *meta_keys,
              const char *const *meta_vals, size_t n_meta, char **out, size_t *len,
              char *err, size_t errlen)
{
    sb_t b = { 0 };
    sb_put(&b, "\0\0\0\0\0\0\0\0", 8);      /* the length, filled in at the end */
    sb_put(&b, "{", 1);
    int first = 1;
    if (n_meta) {
        sb_put(&b, "\"__metadata__\":{", 16);
        for (size_t i = 0; i < n_meta; i++) {
            if (i)
                sb_put(&b, ",", 1);
            sb_json_str(&b, meta_keys[i]);
            sb_put(&b, ":", 1);
            sb_json_str(&b, meta_vals[i]);
        }
        sb_put(&b, "}", 1);
        first = 0;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i].ndim < 0 || t[i].ndim > SW_MAX_DIMS) {
            free(b.p);
            return fu_err(err, errlen, -EINVAL, "tensor %s: %d dimensions", t[i].name, t[i].ndim);
        }
        uint64_t end;
        if (fu_add_u64(off, t[i].nbytes, &end)) {
            free(b.p);
            return fu_err(err, errlen, -EINVAL, "tensor data larger than 2^64 bytes");
        }
        if (!first)
            sb_put(&b, ",", 1);
        first = 0;
        sb_json_str(&b, t[i].name);
        sb_put(&b, ":{\"dtype\":", 10);
        sb_json_str(&b, t[i].dtype);
        sb_put(&b, ",\"shape\":[", 10);
        for (int d = 0; d < t[i].ndim; d++)
            sb_printf(&b, d ? ",%" PRIu64 : "%" PRIu64, t[i].shape[d]);
        sb_printf(&b, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", off, end);
        off = end;
    }
    sb_put(&b, "}", 1);
    while (!b.err && b.len % 8)             /* data section 8-aligned, like the reference */
        sb_put(&b, " ", 1);
    if (b.err) {
        free(b.p);
        return fu_err(err, errlen, b.err, "out of memory building the safetensors header");
    }
    uint64_t hl = b.len - 8;
    for (int i = 0; i < 8; i++)
        b.p[i] = (char)((hl >> (8 * i)) & 0xff);
    *out = b.p;
    *len = b.len;
    return 0;
}
