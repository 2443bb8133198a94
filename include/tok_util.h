/* tok_util.h — tokenizer internals: growable buffers and UTF-8 helpers (prefix tk_). */
#ifndef TOK_UTIL_H
#define TOK_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer (always NUL-terminated after a successful append). */
typedef struct {
    char *p;
    size_t len, cap;
} tk_buf_t;

/* Append n bytes. 0 or -ENOMEM. */
int tk_buf_add(tk_buf_t *b, const void *data, size_t n);
/* Make room for n more bytes (len unchanged). 0 or -ENOMEM. */
int tk_buf_reserve(tk_buf_t *b, size_t n);
/* Free the buffer's memory and zero it. */
void tk_buf_free(tk_buf_t *b);

/* A growable vector of token ids. */
typedef struct {
    int32_t *v;
    size_t n, cap;
} tk_ids_t;

/* Append one id. 0 or -ENOMEM. */
int tk_ids_push(tk_ids_t *a, int32_t id);
/* Append n ids. 0 or -ENOMEM. */
int tk_ids_add(tk_ids_t *a, const int32_t *ids, size_t n);

/* Code point value given to a byte that does not start a valid UTF-8 sequence:
 * TK_UTF8_BAD + byte (beyond U+10FFFF, so it has no Unicode class). */
#define TK_UTF8_BAD 0x110000u

/* Decode the character at s[0..n) (n >= 1): returns its length 1..4 and the code point in
 * *cp. A byte that does not start a well-formed sequence (RFC 3629: no overlongs,
 * surrogates or values past U+10FFFF) is a 1-byte character TK_UTF8_BAD + byte. */
size_t tk_utf8_next(const uint8_t *s, size_t n, uint32_t *cp);

/* Encode cp (<= 0x10FFFF) as UTF-8 into out (4 bytes room). Returns the length. */
size_t tk_utf8_put(uint32_t cp, char *out);

/* Append s[0..n) to b converting it like Rust's String::from_utf8_lossy: every maximal
 * ill-formed subsequence becomes one U+FFFD. 0 or -ENOMEM. */
int tk_utf8_lossy(tk_buf_t *b, const uint8_t *s, size_t n);

#endif
