/* test_cache_budget.c — unit tests of the budget arithmetic of fs/cache*.c: the headroom
 * and hysteresis scale with the budget (a fixed 8 MiB headroom left an 8 MiB budget no
 * resident set), READ admission reserves bytes against the budget, pinned pages are
 * counted, an eviction leaves nothing counted as being evicted. No FUSE session, no
 * evictor thread. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"

#define MIB (1ull << 20)

static sx_stats_t sx;

/* MiB i of the file belongs to group i / 4 (8 groups of 4 MiB). */
static int group_of(void *ctx, uint64_t off)
{
    (void)ctx;
    return (int)((off >> 20) / 4);
}

/* A 32 MiB one-file model of 8 groups under `budget`. */
static ca_file_t *setup(ca_t *c, uint64_t budget)
{
    sx_init(&sx);
    ck_assert_int_eq(ca_init(c, budget, &sx), 0);
    ca_file_t *f = ca_add_file(c, 2, 32 * MIB, "model.safetensors", group_of, NULL);
    ck_assert_ptr_nonnull(f);
    uint64_t gb[8];
    for (int g = 0; g < 8; g++)
        gb[g] = 4 * MIB;
    ck_assert_int_eq(ca_build_order(c, 8, gb), 0);
    return f;
}

START_TEST(headroom_scales_with_budget)
{
    ca_t c;
    setup(&c, 8 * MIB);
    /* 8M: hysteresis budget/16, in-flight room max(budget/8, 1 MiB) */
    ck_assert_uint_eq(ca_hysteresis(&c), 512 * 1024);
    ck_assert_uint_eq(ca_headroom(&c), 512 * 1024 + MIB);
    /* the plan keeps a resident set: 8M - 1.5M headroom - 2M window = 4.5 MiB -> 4 chunks */
    ck_assert_uint_eq(atomic_load(&c.resident_set), 4 * MIB);
    ca_set_budget(&c, 4 * MIB);
    ck_assert_uint_eq(ca_hysteresis(&c), 256 * 1024);
    ck_assert_uint_eq(ca_headroom(&c), 256 * 1024 + MIB);
    ca_set_budget(&c, 1024 * MIB);
    /* large budgets as before: budget/256 and 2 MiB per prefetch thread */
    ck_assert_uint_eq(ca_hysteresis(&c), 4 * MIB);
    ck_assert_uint_eq(ca_headroom(&c), 4 * MIB + 8 * MIB);
    ca_set_budget(&c, 64 * MIB);
    ck_assert_uint_eq(ca_hysteresis(&c), MIB);
    ck_assert_uint_eq(ca_headroom(&c), MIB + 8 * MIB);
    ca_free(&c);
}
END_TEST

START_TEST(admission_reserves_against_budget)
{
    ca_t c;
    ca_file_t *f = setup(&c, 4 * MIB);
    ca_served(&c, f, 0, 3 * MIB);
    ck_assert_uint_eq(ca_total(&c), 3 * MIB);
    /* one more MiB fits exactly, a second does not */
    ck_assert_int_eq(ca_try_reserve(&c, MIB, 4 * MIB), 1);
    ck_assert_uint_eq(ca_total(&c), 4 * MIB);
    ck_assert_int_eq(ca_try_reserve(&c, 1, 4 * MIB), 0);
    ck_assert_uint_eq(ca_total(&c), 4 * MIB);
    ca_daemon_add(&c, -(int64_t)MIB);
    /* ca_admit counts the READ's bytes until ca_admit_done (no evictor: no wait) */
    uint64_t adm = ca_admit(&c, 512 * 1024);
    ck_assert_uint_eq(adm, 512 * 1024);
    ck_assert_uint_eq(atomic_load(&c.daemon_bytes), 512 * 1024);
    ca_served(&c, f, 3 * MIB, 512 * 1024);
    ca_admit_done(&c, adm);
    ck_assert_uint_eq(atomic_load(&c.daemon_bytes), 0);
    ck_assert_uint_eq(ca_total(&c), 3 * MIB + 512 * 1024);
    ck_assert_uint_eq(ca_admit(&c, 0), 0);
    /* an eviction releases the pages and leaves nothing counted as being invalidated */
    ck_assert_uint_eq(ca_evict_chunk(&c, f, 0), MIB);
    ck_assert_uint_eq(atomic_load(&c.evicting), 0);
    ck_assert_uint_eq(ca_total(&c), 2 * MIB + 512 * 1024);
    ck_assert_uint_eq(ca_evict_chunk(&c, f, 0), 0);
    ca_free(&c);
}
END_TEST

START_TEST(pinned_pages_counted)
{
    ca_t c;
    ca_file_t *f = setup(&c, 16 * MIB);
    ca_served(&c, f, 0, 2 * MIB);          /* group 0 */
    ca_served(&c, f, 4 * MIB, MIB);        /* group 1 */
    ck_assert_uint_eq(atomic_load(&c.pinned_pages), 0);
    uint8_t pins[8] = { 1 };
    ca_set_pins(&c, pins, 8);               /* pinning counts what is resident */
    ck_assert_uint_eq(atomic_load(&c.pinned_pages) * CA_PAGE, 2 * MIB);
    ca_served(&c, f, 2 * MIB, MIB);        /* served while pinned */
    ck_assert_uint_eq(atomic_load(&c.pinned_pages) * CA_PAGE, 3 * MIB);
    ca_evict_chunk(&c, f, 0);               /* `drop` evicts pinned chunks too */
    ck_assert_uint_eq(atomic_load(&c.pinned_pages) * CA_PAGE, 2 * MIB);
    memset(pins, 0, sizeof pins);
    ca_set_pins(&c, pins, 8);
    ck_assert_uint_eq(atomic_load(&c.pinned_pages), 0);
    ck_assert_uint_eq(ca_total(&c), 3 * MIB);
    ca_free(&c);
}
END_TEST

Suite *cache_budget_suite(void)
{
    Suite *s = suite_create("cache_budget");
    TCase *t = tcase_create("core");
    tcase_add_test(t, headroom_scales_with_budget);
    tcase_add_test(t, admission_reserves_against_budget);
    tcase_add_test(t, pinned_pages_counted);
    suite_add_tcase(s, t);
    return s;
}
