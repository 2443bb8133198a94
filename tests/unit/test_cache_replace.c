/* test_cache_replace.c — unit tests of ca_file_replace (fs/cache.c): a backing file
 * replaced by a larger or smaller one under the mount. The chunk table grows to cover
 * the new size (the old table stays readable), prefetch buffers of the old file become
 * stale, are never handed out again and are freed by their last user, and the call waits
 * for buffers still in use before it returns. */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"

static sx_stats_t sx;

/* A READY prefetch buffer on chunk k (a CA_PAGE heap buffer, as a stored chunk keeps),
 * counted in the daemon bytes like prefetch.c counts its buffers. */
static ca_pf_t *add_pf(ca_t *c, ca_file_t *f, size_t k, uint16_t refs)
{
    ca_pf_t *pf = calloc(1, sizeof *pf);
    ck_assert_ptr_nonnull(pf);
    pf->data = malloc(CA_PAGE);
    ck_assert_ptr_nonnull(pf->data);
    pf->cap = CA_PAGE;
    pf->len = CA_PAGE;
    pf->state = CA_PF_READY;
    pf->used = 1;
    pf->refs = refs;
    f->chunks[k].pf = pf;
    ca_daemon_add(c, CA_PAGE);
    return pf;
}

typedef struct {
    ca_t *c;
    ca_file_t *f;
    uint64_t size;
    struct src *src;
    _Atomic int done;
    int rc;
} replace_t;

static void *replace_main(void *arg)
{
    replace_t *r = arg;
    r->rc = ca_file_replace(r->c, r->f, r->size, r->src);
    atomic_store(&r->done, 1);
    return NULL;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { 0, ms * 1000000L };
    nanosleep(&ts, NULL);
}

START_TEST(grow_waits_for_buffers_in_use)
{
    ca_t c;
    sx_init(&sx);
    ck_assert_int_eq(ca_init(&c, 64ull << 20, &sx), 0);
    ca_file_t *f = ca_add_file(&c, 2, 3ull << 20, "blob.bin", NULL, NULL);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(ca_build_order(&c, 0, NULL), 0);
    ck_assert_uint_eq(f->n_chunks, 3);
    ca_chunk_t *old_table = f->chunks;
    ca_served(&c, f, 0, 3ull << 20);
    ck_assert_uint_eq(atomic_load(&c.pc_pages), 768);
    add_pf(&c, f, 0, 0);            /* idle: freed at once */
    add_pf(&c, f, 1, 1);            /* a READ reply points into it */
    ck_assert_uint_eq(atomic_load(&c.daemon_bytes), 2 * CA_PAGE);

    int marker;
    uint64_t nsize = (5ull << 20) + 12345;
    replace_t r = { &c, f, nsize, (struct src *)&marker, 0, -1 };
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, replace_main, &r), 0);
    sleep_ms(200);
    /* still waiting for the buffer in use; meanwhile the table already covers the new
     * size and the buffer is stale (a READ would not take it) */
    ck_assert_int_eq(atomic_load(&r.done), 0);
    pthread_mutex_lock(&f->lock);
    ck_assert_uint_eq(f->n_chunks, 6);
    ck_assert_uint_eq(f->size, nsize);
    ck_assert_ptr_eq(f->src, (struct src *)&marker);
    ck_assert_ptr_null(f->chunks[0].pf);
    ck_assert_ptr_nonnull(f->chunks[1].pf);
    ck_assert_int_eq(f->chunks[1].pf->stale, 1);
    /* the READ's reply is done: its release frees the stale buffer and wakes the call */
    f->chunks[1].pf->refs--;
    ca_pf_stale_done(&c, f, &f->chunks[1]);
    ck_assert_ptr_null(f->chunks[1].pf);
    pthread_mutex_unlock(&f->lock);
    pthread_join(th, NULL);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_int_eq(atomic_load(&r.done), 1);
    ck_assert_uint_eq(atomic_load(&c.daemon_bytes), 0);
    /* residency cleared (the caller invalidates the kernel's pages) */
    ck_assert_uint_eq(atomic_load(&c.pc_pages), 0);
    ck_assert_uint_eq(atomic_load(&f->pages), 0);
    /* new chunks: no group, not in the cyclic order, page counts of the new size */
    ck_assert_ptr_ne(f->chunks, old_table);
    ck_assert_ptr_nonnull(f->old_tables);
    ck_assert_ptr_eq(f->old_tables->chunks, old_table);
    for (size_t k = 3; k < 6; k++) {
        ck_assert_int_eq(f->chunks[k].group, -1);
        ck_assert_int_eq(f->chunks[k].xgroup, -1);
        ck_assert_uint_eq(f->chunks[k].cyc, CA_NO_CYC);
    }
    ck_assert_uint_eq(f->chunks[4].cap_pages, CA_PAGES);
    ck_assert_uint_eq(f->chunks[5].cap_pages, (12345 + CA_PAGE - 1) / CA_PAGE);
    /* the new tail is accounted (the old table had no room for it) */
    ca_served(&c, f, 3ull << 20, nsize - (3ull << 20));
    ck_assert_uint_eq(atomic_load(&c.pc_pages), 512 + 4);
    /* past the end: nothing */
    ca_served(&c, f, nsize + CA_PAGE, CA_PAGE);
    ck_assert_uint_eq(atomic_load(&c.pc_pages), 512 + 4);
    ck_assert_int_eq(ca_note_access(&c, f, nsize - 1), 0);
    ca_free(&c);
}
END_TEST

START_TEST(shrink_keeps_table)
{
    ca_t c;
    sx_init(&sx);
    ck_assert_int_eq(ca_init(&c, 64ull << 20, &sx), 0);
    ca_file_t *f = ca_add_file(&c, 2, 4ull << 20, "blob.bin", NULL, NULL);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(ca_build_order(&c, 0, NULL), 0);
    ca_chunk_t *table = f->chunks;
    add_pf(&c, f, 3, 0);
    int marker;
    ck_assert_int_eq(ca_file_replace(&c, f, (1ull << 20) + 100, (struct src *)&marker), 0);
    ck_assert_ptr_eq(f->chunks, table);
    ck_assert_ptr_null(f->old_tables);
    ck_assert_uint_eq(f->n_chunks, 4);
    ck_assert_uint_eq(f->size, (1ull << 20) + 100);
    ck_assert_ptr_null(f->chunks[3].pf);
    ck_assert_uint_eq(atomic_load(&c.daemon_bytes), 0);
    ck_assert_uint_eq(f->chunks[0].cap_pages, CA_PAGES);
    ck_assert_uint_eq(f->chunks[1].cap_pages, 1);
    ck_assert_uint_eq(f->chunks[2].cap_pages, 0);
    ck_assert_uint_eq(f->chunks[3].cap_pages, 0);
    /* served bytes past the new end are not counted */
    ca_served(&c, f, 2ull << 20, 1ull << 20);
    ck_assert_uint_eq(atomic_load(&c.pc_pages), 0);
    ca_served(&c, f, 1ull << 20, 1ull << 20);
    ck_assert_uint_eq(atomic_load(&c.pc_pages), 1);
    ca_free(&c);
}
END_TEST

Suite *cache_replace_suite(void)
{
    Suite *s = suite_create("cache_replace");
    TCase *t = tcase_create("cache_replace");
    tcase_add_test(t, grow_waits_for_buffers_in_use);
    tcase_add_test(t, shrink_keeps_table);
    suite_add_tcase(s, t);
    return s;
}
