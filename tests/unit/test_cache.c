/* test_cache.c — unit tests of the residency accounting, the cyclic order, the reader
 * tracker, the resident-set plan and the eviction order (fs/cache*.c), without FUSE:
 * a cache whose session is NULL evicts by clearing its counts only. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"

/* A fake layout: file of `n` MiB where MiB i belongs to group i / per_group. */
typedef struct {
    int per_group;
} fake_t;

static int fake_group(void *ctx, uint64_t off)
{
    return (int)((off >> 20) / (uint64_t)((fake_t *)ctx)->per_group);
}

static sx_stats_t sx;

/* 8 groups of 4 MiB: a 32 MiB "model" in one file. With `tensors`, one 4 MiB tensor per
 * group plus a 128-byte tensor of a 9th group (a rope table every layer reads) inside
 * chunk 1 of group 0. */
static ca_file_t *setup_model(ca_t *c, uint64_t budget, fake_t *fk, int tensors)
{
    sx_init(&sx);
    ck_assert_int_eq(ca_init(c, budget, &sx), 0);
    fk->per_group = 4;
    ca_file_t *f = ca_add_file(c, 2, 32ull << 20, "model.safetensors", fake_group, fk);
    ck_assert_ptr_nonnull(f);
    uint64_t gb[9];
    for (int g = 0; g < 8; g++)
        gb[g] = 4ull << 20;
    gb[8] = 128;
    if (tensors) {
        for (int g = 0; g < 8; g++)
            ca_note_tensor(c, f, (uint64_t)g << 22, 4ull << 20, g, gb, 9);
        ca_note_tensor(c, f, (1ull << 20) + 4000, 128, 8, gb, 9);
    }
    ck_assert_int_eq(ca_build_order(c, tensors ? 9 : 8, gb), 0);
    return f;
}

static ca_file_t *setup(ca_t *c, uint64_t budget, fake_t *fk)
{
    return setup_model(c, budget, fk, 0);
}

static ca_file_t *setup_tensors(ca_t *c, uint64_t budget, fake_t *fk)
{
    return setup_model(c, budget, fk, 1);
}

/* Two in-order passes that read and serve every chunk; the eviction candidates (all 32). */
static size_t two_passes_victims(ca_t *c, ca_file_t *f, ca_victim_t v[64])
{
    for (int pass = 0; pass < 2; pass++)
        for (uint64_t mib = 0; mib < 32; mib++) {
            ca_note_access(c, f, mib << 20);
            ca_served(c, f, mib << 20, 1 << 20);
        }
    size_t n = ca_policy_victims(c, v, 64);
    ck_assert_uint_eq(n, 32);
    return n;
}

START_TEST(accounting_pages_and_clear)
{
    ca_t c;
    fake_t fk;
    ca_file_t *f = setup(&c, 64ull << 20, &fk);
    ck_assert_uint_eq(c.n_cyc, 32);
    /* an unaligned range counts every page it touches, once */
    ca_served(&c, f, 100, 8192);
    ck_assert_uint_eq(atomic_load(&c.pc_pages), 3);
    ca_served(&c, f, 0, 4096);
    ck_assert_uint_eq(atomic_load(&c.pc_pages), 3);
    /* across a chunk boundary */
    ca_served(&c, f, (1ull << 20) - 4096, 8192);
    ck_assert_uint_eq(atomic_load(&c.pc_pages), 5);
    ck_assert_uint_eq(ca_file_resident(f), 5 * 4096);
    ck_assert_uint_eq(ca_total(&c), 5 * 4096);
    ca_daemon_add(&c, 1000);
    ck_assert_uint_eq(ca_total(&c), 5 * 4096 + 1000);
    ca_daemon_add(&c, -1000);
    ck_assert_uint_eq(ca_evict_chunk(&c, f, 0), 4 * 4096);
    ck_assert_uint_eq(atomic_load(&c.pc_pages), 1);
    ca_forget(&c, f);
    ck_assert_uint_eq(ca_total(&c), 0);
    ca_free(&c);
}
END_TEST

START_TEST(reader_tracking_and_cycles)
{
    ca_t c;
    fake_t fk;
    ca_file_t *f = setup(&c, 64ull << 20, &fk);
    ck_assert_int_eq(atomic_load(&c.mode), CA_MODE_RANDOM);
    /* three passes in order: cyclic, and every wrap counts a cycle */
    for (int pass = 0; pass < 3; pass++)
        for (uint64_t mib = 0; mib < 32; mib++)
            ca_note_access(&c, f, mib << 20);
    ck_assert_int_eq(atomic_load(&c.mode), CA_MODE_CYCLIC);
    ck_assert_uint_eq(sx_get(&sx.cycles), 2);
    ck_assert_uint_eq(atomic_load(&c.pos), 31);
    /* distance ahead: the next chunk is 1 away (wrapping), the one just passed is protected */
    ck_assert_uint_eq(ca_distance(&c, 0), 1);
    ck_assert_uint_eq(ca_distance(&c, 30), 0);
    ck_assert_uint_eq(ca_distance(&c, 10), 11);
    /* one isolated jump does not move a cyclic reader's position */
    ca_note_access(&c, f, 15ull << 20);
    ck_assert_uint_eq(atomic_load(&c.pos), 31);
    /* random jumps switch the mode back */
    uint64_t x = 12345;
    for (int i = 0; i < 200; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        ca_note_access(&c, f, ((x >> 33) % 32) << 20);
    }
    ck_assert_int_eq(atomic_load(&c.mode), CA_MODE_RANDOM);
    ca_free(&c);
}
END_TEST

START_TEST(plan_spreads_resident_set)
{
    ca_t c;
    fake_t fk;
    ca_file_t *f = setup(&c, 24ull << 20, &fk);
    uint64_t want = 24ull << 20;
    want -= ca_headroom(&c) + ca_window_reserve(&c);
    unsigned keep = 0, first_half = 0;
    for (size_t k = 0; k < f->n_chunks; k++) {
        keep += f->chunks[k].keep;
        first_half += k < 16 && f->chunks[k].keep;
    }
    /* the planned set is what fits, within one chunk, spread over the whole ring */
    ck_assert_uint_le((uint64_t)keep << 20, want);
    ck_assert_uint_ge(((uint64_t)keep + 1) << 20, want);
    ck_assert_uint_gt(first_half, 0);
    ck_assert_uint_lt(first_half, keep);
    /* a larger budget keeps everything; a tiny one nothing */
    ca_set_budget(&c, 200ull << 20); /* below 64 x a group: no group counts as small */
    for (size_t k = 0; k < f->n_chunks; k++)
        ck_assert_int_eq(f->chunks[k].keep, 1);
    ca_set_budget(&c, 4ull << 20);
    for (size_t k = 0; k < f->n_chunks; k++)
        ck_assert_int_eq(f->chunks[k].keep, 0);
    ca_free(&c);
}
END_TEST

START_TEST(victims_cyclic_and_pins)
{
    ca_t c;
    fake_t fk;
    ca_file_t *f = setup(&c, 24ull << 20, &fk);
    ca_victim_t v[64];
    size_t n = two_passes_victims(&c, f, v);
    /* reader at the end of the ring (chunk 31) */
    /* streamed chunks first (tier 1), farthest ahead first; then the resident set */
    for (size_t i = 1; i < n; i++) {
        ck_assert_uint_le(v[i - 1].tier, v[i].tier);
        if (v[i - 1].tier == v[i].tier)
            ck_assert_uint_ge(v[i - 1].dist, v[i].dist);
    }
    ck_assert_uint_eq(v[0].tier, 1);
    ck_assert_int_eq(f->chunks[v[0].chunk].keep, 0);
    /* pinning group 7 (chunks 28..31) removes its chunks from the candidates */
    uint8_t pins[8] = { 0, 0, 0, 0, 0, 0, 0, 1 };
    ca_set_pins(&c, pins, 8);
    n = ca_policy_victims(&c, v, 64);
    ck_assert_uint_eq(n, 28);
    for (size_t i = 0; i < n; i++)
        ck_assert_uint_lt(v[i].chunk, 28);
    /* room for a prefetch at distance 1 comes only from chunks needed later */
    uint64_t before = ca_total(&c);
    ck_assert_int_eq(ca_make_room(&c, 1 << 20, 1), 0);
    ck_assert_uint_le(ca_total(&c) + (1 << 20), 24ull << 20);
    ck_assert_uint_lt(ca_total(&c), before);
    ca_free(&c);
}
END_TEST

START_TEST(two_cursors_in_one_tensor)
{
    ca_t c;
    fake_t fk;
    ca_file_t *f = setup_tensors(&c, 24ull << 20, &fk);
    /* the trail is the largest tensor: 4 chunks */
    ck_assert_uint_eq(c.trail, 4);
    /* the load-time sweep (MAP_POPULATE / MADV_WILLNEED): the file in order */
    for (uint64_t mib = 0; mib < 32; mib++)
        ca_note_access(&c, f, mib << 20);
    ck_assert_int_eq(atomic_load(&c.mode), CA_MODE_CYCLIC);
    /* then tokens: two threads, A reads the first half of each tensor, B the second,
     * interleaved (B one READ ahead); every tensor also reads the rope table in chunk 1 */
    for (int pass = 0; pass < 3; pass++)
        for (uint64_t g = 0; g < 8; g++)
            for (uint64_t i = 0; i < 2; i++) {
                uint64_t a = (g * 4 + i) << 20, b = (g * 4 + 2 + i) << 20;
                ca_note_access(&c, f, b);
                ck_assert_uint_eq(atomic_load(&c.pos), (uint32_t)(g * 4 + 2 + i));
                ca_note_access(&c, f, a);
                ca_note_access(&c, f, (1ull << 20) + 4000);
                /* neither the trailing cursor nor the rope table moves the position */
                ck_assert_uint_eq(atomic_load(&c.pos), (uint32_t)(g * 4 + 2 + i));
                ck_assert_int_eq(atomic_load(&c.mode), CA_MODE_CYCLIC);
                /* what the trailing cursor still reads is in use (distance 0) */
                ck_assert_uint_eq(ca_distance(&c, (uint32_t)(g * 4 + i)), 0);
            }
    ck_assert_int_eq(atomic_load(&c.mode), CA_MODE_CYCLIC);
    /* one cycle per wrap (sweep -> token 1 -> 2 -> 3), not one per backward step */
    ck_assert_uint_eq(sx_get(&sx.cycles), 3);
    ca_free(&c);
}
END_TEST

START_TEST(shared_small_chunk_kept_last)
{
    ca_t c;
    fake_t fk;
    ca_file_t *f = setup_tensors(&c, 24ull << 20, &fk);
    /* chunk 1 holds bytes of the 128-byte group: kept like a small group, last tier */
    ck_assert_int_eq(f->chunks[1].xgroup, 8);
    ck_assert_int_eq(f->chunks[1].small, 1);
    ck_assert_int_eq(f->chunks[1].keep, 0);
    ck_assert_int_eq(f->chunks[0].small, 0);
    ck_assert_int_eq(f->chunks[2].xgroup, -1);
    ca_victim_t v[64];
    size_t n = two_passes_victims(&c, f, v);
    ck_assert_uint_eq(v[n - 1].chunk, 1);
    ck_assert_uint_eq(v[n - 1].tier, 3);
    for (size_t i = 0; i + 1 < n; i++)
        ck_assert_uint_lt(v[i].tier, 3);
    ca_free(&c);
}
END_TEST

Suite *cache_suite(void)
{
    Suite *s = suite_create("cache");
    TCase *t = tcase_create("core");
    tcase_add_test(t, accounting_pages_and_clear);
    tcase_add_test(t, reader_tracking_and_cycles);
    tcase_add_test(t, plan_spreads_resident_set);
    tcase_add_test(t, victims_cyclic_and_pins);
    tcase_add_test(t, two_cursors_in_one_tensor);
    tcase_add_test(t, shared_small_chunk_kept_last);
    suite_add_tcase(s, t);
    return s;
}
