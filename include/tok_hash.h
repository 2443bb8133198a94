/* tok_hash.h — tokenizer internals: open-addressing hash maps (prefix tk_).
 * tk_strmap_t maps byte strings to ids (keys are not copied: they must outlive the map);
 * tk_pairmap_t maps an (id, id) pair to a merge (rank, resulting id). */
#ifndef TOK_HASH_H
#define TOK_HASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *key;
    uint32_t len;
    uint32_t hash;
    int32_t val;
} tk_strent_t;

typedef struct {
    tk_strent_t *e;
    size_t cap, n; /* cap is a power of two (or 0) */
} tk_strmap_t;

/* Create a map with room for n keys. 0 or -ENOMEM. */
int tk_strmap_init(tk_strmap_t *m, size_t n);
/* Insert or overwrite key -> val. 0 or -ENOMEM (grows as needed). */
int tk_strmap_put(tk_strmap_t *m, const char *key, size_t len, int32_t val);
/* Value of key, or -1 when absent. */
int32_t tk_strmap_get(const tk_strmap_t *m, const char *key, size_t len);
/* Free (zeroes the map). */
void tk_strmap_free(tk_strmap_t *m);

typedef struct {
    uint64_t key; /* a << 32 | b; UINT64_MAX = empty */
    uint32_t rank;
    int32_t id;
} tk_pairent_t;

typedef struct {
    tk_pairent_t *e;
    size_t cap, n;
} tk_pairmap_t;

/* Create a pair map with room for n pairs. 0 or -ENOMEM. */
int tk_pairmap_init(tk_pairmap_t *m, size_t n);
/* Insert or overwrite (a, b) -> (rank, id). 0 or -ENOMEM. */
int tk_pairmap_put(tk_pairmap_t *m, int32_t a, int32_t b, uint32_t rank, int32_t id);
/* The entry of (a, b) or NULL. */
const tk_pairent_t *tk_pairmap_get(const tk_pairmap_t *m, int32_t a, int32_t b);
/* Free (zeroes the map). */
void tk_pairmap_free(tk_pairmap_t *m);

#endif
