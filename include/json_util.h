/* json_util.h — strict JSON input checks and typed getters over libcjson (prefix js_).
 *
 * cJSON accepts some inputs we must refuse in files from disk: it does not validate
 * UTF-8, it turns "\u0000" into an embedded NUL (silently truncating names), it parses
 * nesting up to 1000 levels deep by recursion, and it stores every number as a double.
 * js_parse() first scans the raw text (UTF-8, NUL bytes, "\u0000", nesting depth) and
 * then lets cJSON build the tree; the getters check types and integer ranges. */
#ifndef JSON_UTIL_H
#define JSON_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#define JS_MAX_DEPTH 64          /* deepest object/array nesting we accept */
#define JS_MAX_EXACT_INT (1ull << 53) /* integers above this are not exact in a double */

/* Check that text[0..len) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF),
 * has no NUL byte, no "\u0000" escape, and nests at most max_depth levels.
 * base is added to offsets in error messages (e.g. 8 for a safetensors header).
 * 0 or -EINVAL; err names the byte offset. */
int js_check_text(const char *text, size_t len, int max_depth, uint64_t base, char *err, size_t errlen);

/* js_check_text (depth JS_MAX_DEPTH) then cJSON parse; *out is the tree (cJSON_Delete it).
 * what names the document in errors ("config.json"). 0, -EINVAL or -ENOMEM. */
int js_parse(const char *text, size_t len, uint64_t base, const char *what, cJSON **out,
             char *err, size_t errlen);

/* Check that s is valid UTF-8 without NUL bytes in its first len bytes: 1 yes, 0 no. */
int js_utf8_valid(const char *s, size_t len);

/* A JSON number that is an integer in [0, JS_MAX_EXACT_INT]: 1 and *v, else 0. */
int js_get_u64(const cJSON *j, uint64_t *v);

/* A JSON number that is an integer in [lo, hi]: 1 and *v, else 0. */
int js_get_int(const cJSON *j, int lo, int hi, int *v);

#endif
