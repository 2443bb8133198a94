/* sha256.h — a small SHA-256 (FIPS 180-4) for the tests (prefix sha256_).
 * Streaming: sha256_init, sha256_update (any number of times), sha256_final. */
#ifndef IT_SHA256_H
#define IT_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];              /* chaining state */
    uint64_t total;             /* bytes hashed so far */
    uint8_t buf[64];            /* pending partial block */
    size_t n;                   /* bytes in buf */
} sha256_ctx_t;

/* Start a new hash. */
void sha256_init(sha256_ctx_t *c);

/* Hash len more bytes. */
void sha256_update(sha256_ctx_t *c, const void *data, size_t len);

/* Finish: 32-byte digest into out (c must be re-initialised before reuse). */
void sha256_final(sha256_ctx_t *c, uint8_t out[32]);

/* One-shot digest as 64 lowercase hex characters + NUL into hex. */
void sha256_hex(const void *data, size_t len, char hex[65]);

/* Digest bytes to 64 lowercase hex characters + NUL. */
void sha256_to_hex(const uint8_t d[32], char hex[65]);

#endif
