/* test_cache_hint.c — the hint channel of the cache (fs/cache_hint.c): a hint moves the
 * reader position to just before the group's first chunk, holds it against READs until
 * released, counts a cycle when the hints wrap to the start of the ring, and refuses
 * groups that do not exist or have no chunk of their own. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"

static sx_stats_t sx;

/* group of a byte: 4 MiB per group, 8 groups (32 chunks, chunk k in group k / 4) */
static int group_of(void *ctx, uint64_t off)
{
    (void)ctx;
    return (int)((off >> 20) / 4);
}

/* 8 groups of 4 MiB in one file, plus a 9th, 128-byte group (a rope table) that lives
 * inside chunk 1 of group 0 and so owns no chunk. */
static ca_file_t *setup(ca_t *c)
{
    sx_init(&sx);
    ck_assert_int_eq(ca_init(c, 64ull << 20, &sx), 0);
    ca_file_t *f = ca_add_file(c, 2, 32ull << 20, "model.safetensors", group_of, NULL);
    ck_assert_ptr_nonnull(f);
    uint64_t gb[9];
    for (int g = 0; g < 8; g++)
        gb[g] = 4ull << 20;
    gb[8] = 128;
    for (int g = 0; g < 8; g++)
        ca_note_tensor(c, f, (uint64_t)g << 22, 4ull << 20, g, gb, 9);
    ca_note_tensor(c, f, (1ull << 20) + 4000, 128, 8, gb, 9);
    ck_assert_int_eq(ca_build_order(c, 9, gb), 0);
    ck_assert_uint_eq(c->n_cyc, 32);
    return f;
}

START_TEST(hint_moves_and_holds_position)
{
    ca_t c;
    ca_file_t *f = setup(&c);
    ck_assert_int_eq(atomic_load(&c.mode), CA_MODE_RANDOM);
    ck_assert_int_eq(ca_hint_at(&c, 3), 0);
    /* group 3 starts at chunk 12: the position is the chunk before it */
    ck_assert_uint_eq(atomic_load(&c.pos), 11);
    ck_assert_int_eq(atomic_load(&c.mode), CA_MODE_CYCLIC);
    ck_assert_int_eq(atomic_load(&c.hint_group), 3);
    /* READs elsewhere, even repeated jumps, do not move a hinted position */
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(ca_note_access(&c, f, 30ull << 20), 1);
    ck_assert_uint_eq(atomic_load(&c.pos), 11);
    /* group 0 starts the ring: the position is its last chunk */
    ck_assert_int_eq(ca_hint_at(&c, 0), 0);
    ck_assert_uint_eq(atomic_load(&c.pos), 31);
    /* released: READs steer again (a forward step from 31 to chunk 2; chunk 1 holds the
     * rope table and never moves the position) */
    ca_hint_release(&c);
    ca_note_access(&c, f, 2ull << 20);
    ck_assert_uint_eq(atomic_load(&c.pos), 2);
    ca_free(&c);
}
END_TEST

START_TEST(hint_hold_expires)
{
    ca_t c;
    ca_file_t *f = setup(&c);
    ck_assert_int_eq(ca_hint_at(&c, 5), 0);
    ck_assert_uint_eq(atomic_load(&c.pos), 19);
    /* a hold whose time has passed (as if the hinting reader had stopped CA_HINT_HOLD_MS
     * ago) no longer pins the position: a forward READ moves it */
    atomic_store(&c.hint_until_ns, 1);
    ca_note_access(&c, f, 21ull << 20);
    ck_assert_uint_eq(atomic_load(&c.pos), 21);
    ca_free(&c);
}
END_TEST

START_TEST(hints_count_cycles)
{
    ca_t c;
    setup(&c);
    /* two tokens: embed .. last group, then back to group 0 = one cycle */
    for (int tok = 0; tok < 2; tok++)
        for (size_t g = 0; g < 8; g++)
            ck_assert_int_eq(ca_hint_at(&c, g), 0);
    ck_assert_uint_eq(sx_get(&sx.cycles), 1);
    /* a step back by less than half the ring is no cycle */
    ck_assert_int_eq(ca_hint_at(&c, 5), 0);
    ck_assert_uint_eq(sx_get(&sx.cycles), 1);
    ca_free(&c);
}
END_TEST

START_TEST(hint_bad_groups)
{
    ca_t c;
    setup(&c);
    ck_assert_int_eq(ca_hint_at(&c, 9), -EINVAL);
    ck_assert_int_eq(ca_hint_at(&c, 1000), -EINVAL);
    /* the rope group shares a chunk of group 0 and owns none: nothing to prefetch */
    ck_assert_int_eq(ca_hint_at(&c, 8), -ENOENT);
    /* refused hints change nothing */
    ck_assert_int_eq(atomic_load(&c.mode), CA_MODE_RANDOM);
    ck_assert_int_eq(atomic_load(&c.hint_group), -1);
    ca_free(&c);
}
END_TEST

Suite *cache_hint_suite(void)
{
    Suite *s = suite_create("cache_hint");
    TCase *t = tcase_create("hint");
    tcase_add_test(t, hint_moves_and_holds_position);
    tcase_add_test(t, hint_hold_expires);
    tcase_add_test(t, hints_count_cycles);
    tcase_add_test(t, hint_bad_groups);
    suite_add_tcase(s, t);
    return s;
}
