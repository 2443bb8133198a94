/* tok_hash.c — open-addressing hash maps with linear probing, kept at most half full.
 * Strings hash with FNV-1a; id pairs with a 64-bit finalizer (splitmix64). */
#include "tok_hash.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint32_t fnv1a(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    return h;
}

static size_t cap_for(size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n + 2) {
        if (cap > SIZE_MAX / 4)
            return 0;
        cap *= 2;
    }
    return cap;
}

/* ---- string map ------------------------------------------------------------- */

int tk_strmap_init(tk_strmap_t *m, size_t n)
{
    m->n = 0;
    m->cap = cap_for(n);
    m->e = m->cap ? calloc(m->cap, sizeof *m->e) : NULL;
    return m->e ? 0 : -ENOMEM;
}

static void str_insert(tk_strent_t *e, size_t cap, const tk_strent_t *x)
{
    size_t i = x->hash & (cap - 1);
    while (e[i].key)
        i = (i + 1) & (cap - 1);
    e[i] = *x;
}

int tk_strmap_put(tk_strmap_t *m, const char *key, size_t len, int32_t val)
{
    if (len > UINT32_MAX)
        return -EINVAL;
    uint32_t h = fnv1a(key, len);
    size_t i = h & (m->cap - 1);
    for (; m->e[i].key; i = (i + 1) & (m->cap - 1)) {
        if (m->e[i].hash == h && m->e[i].len == len && memcmp(m->e[i].key, key, len) == 0) {
            m->e[i].val = val;
            return 0;
        }
    }
    if (2 * (m->n + 1) + 2 > m->cap) {
        size_t cap = m->cap * 2;
        tk_strent_t *e = calloc(cap, sizeof *e);
        if (!e)
            return -ENOMEM;
        for (size_t j = 0; j < m->cap; j++)
            if (m->e[j].key)
                str_insert(e, cap, &m->e[j]);
        free(m->e);
        m->e = e;
        m->cap = cap;
    }
    tk_strent_t x = {key, (uint32_t)len, h, val};
    str_insert(m->e, m->cap, &x);
    m->n++;
    return 0;
}

int32_t tk_strmap_get(const tk_strmap_t *m, const char *key, size_t len)
{
    if (!m->cap || len > UINT32_MAX)
        return -1;
    uint32_t h = fnv1a(key, len);
    for (size_t i = h & (m->cap - 1); m->e[i].key; i = (i + 1) & (m->cap - 1))
        if (m->e[i].hash == h && m->e[i].len == len && memcmp(m->e[i].key, key, len) == 0)
            return m->e[i].val;
    return -1;
}

void tk_strmap_free(tk_strmap_t *m)
{
    free(m->e);
    memset(m, 0, sizeof *m);
}

/* ---- pair map --------------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t pair_key(int32_t a, int32_t b)
{
    return (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
}

int tk_pairmap_init(tk_pairmap_t *m, size_t n)
{
    m->n = 0;
    m->cap = cap_for(n);
    m->e = m->cap ? malloc(m->cap * sizeof *m->e) : NULL;
    if (!m->e)
        return -ENOMEM;
    for (size_t i = 0; i < m->cap; i++)
        m->e[i].key = UINT64_MAX;
    return 0;
}

static tk_pairent_t *pair_slot(tk_pairent_t *e, size_t cap, uint64_t key)
{
    size_t i = mix64(key) & (cap - 1);
    while (e[i].key != UINT64_MAX && e[i].key != key)
        i = (i + 1) & (cap - 1);
    return &e[i];
}

int tk_pairmap_put(tk_pairmap_t *m, int32_t a, int32_t b, uint32_t rank, int32_t id)
{
    uint64_t key = pair_key(a, b);
    if (key == UINT64_MAX)
        return -EINVAL;
    tk_pairent_t *s = pair_slot(m->e, m->cap, key);
    if (s->key == key) {
        s->rank = rank;
        s->id = id;
        return 0;
    }
    if (2 * (m->n + 1) + 2 > m->cap) {
        size_t cap = m->cap * 2;
        tk_pairent_t *e = malloc(cap * sizeof *e);
        if (!e)
            return -ENOMEM;
        for (size_t j = 0; j < cap; j++)
            e[j].key = UINT64_MAX;
        for (size_t j = 0; j < m->cap; j++)
            if (m->e[j].key != UINT64_MAX)
                *pair_slot(e, cap, m->e[j].key) = m->e[j];
        free(m->e);
        m->e = e;
        m->cap = cap;
        s = pair_slot(m->e, m->cap, key);
    }
    s->key = key;
    s->rank = rank;
    s->id = id;
    m->n++;
    return 0;
}

const tk_pairent_t *tk_pairmap_get(const tk_pairmap_t *m, int32_t a, int32_t b)
{
    if (!m->cap)
        return NULL;
    uint64_t key = pair_key(a, b);
    const tk_pairent_t *s = pair_slot(m->e, m->cap, key);
    return s->key == key ? s : NULL;
}

void tk_pairmap_free(tk_pairmap_t *m)
{
    free(m->e);
    memset(m, 0, sizeof *m);
}
