/* test_eng_mlx.c — MLX-quantized fixtures (tests/fixtures/mlx, made by an MLX-exact quantizer)
 * against transformers' reference.json on the dequantized weights: logits at every prompt
 * position within 1e-3 (absolute, so also within 1e-3 * max(1, |ref|)), top-5 ids and
 * greedy continuations identical; resident, streamed (all layers and a partial budget),
 * portable and SIMD kernels, prefill in small batches. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "eng_testutil.h"

static const char *const fixtures[] = { "tests/fixtures/mlx/demo-mlx-4bit",
                                        "tests/fixtures/mlx/demo-mlx-8bit-g32",
                                        "tests/fixtures/mlx/qwen2-mlx-4bit-tied" };
#define N_FIX (int)(sizeof fixtures / sizeof *fixtures)
#define TOL 1e-3

/* A budget that keeps about a third of the weights resident and streams the rest. */
static uint64_t partial_budget(const char *dir, const etu_ref_t *r)
{
    em_opts_t o = { .n_threads = 1, .capacity = r->p[0].n_ids + r->p[0].n_greedy };
    em_model_t *m = NULL;
    char err[256];
    ck_assert_msg(em_open(&m, dir, &o, err, sizeof err) == 0, "%s", err);
    em_info_t in;
    em_info(m, &in);
    em_close(m);
    uint64_t ram = in.fixed_bytes + in.slot_bytes + in.model_bytes / 3;
    o.mode = EM_STREAM;
    o.ram = ram;
    ck_assert_msg(em_open(&m, dir, &o, err, sizeof err) == 0, "%s", err);
    em_info(m, &in);
    em_close(m);
    ck_assert_int_gt(in.n_resident, 0);
    ck_assert_int_lt(in.n_resident, in.n_units);
    ck_assert(in.streaming);
    return ram;
}

static void run(int fx, const em_opts_t *o, const char *label)
{
    etu_ref_t r;
    etu_load_ref(fixtures[fx], &r);
    ck_assert_ptr_nonnull(r.p[0].logits);     /* every position is checked */
    em_opts_t oo = *o;
    if (oo.ram == 1)
        oo.ram = partial_budget(fixtures[fx], &r);
    double worst = etu_check_parity(fixtures[fx], &oo, &r, TOL);
    printf("parity %-42s %-26s worst |logits diff| %.3g\n", fixtures[fx], label, worst);
    etu_free_ref(&r);
}

START_TEST(resident)
{
    em_opts_t o = { .n_threads = 2, .mode = EM_RESIDENT };
    run(_i, &o, "resident");
}
END_TEST

START_TEST(resident_portable)
{
    em_opts_t o = { .n_threads = 2, .mode = EM_RESIDENT, .portable = 1 };
    run(_i, &o, "resident, portable C");
}
END_TEST

START_TEST(resident_avx2)
{
    setenv("FLASHGEN_ISA", "avx2", 1);     /* AVX2 kernels even on an AVX-512 CPU */
    em_opts_t o = { .n_threads = 2, .mode = EM_RESIDENT };
    run(_i, &o, "resident, AVX2");
    unsetenv("FLASHGEN_ISA");
}
END_TEST

START_TEST(resident_one_thread)
{
    em_opts_t o = { .n_threads = 1, .mode = EM_RESIDENT };
    run(_i, &o, "resident, 1 thread");
}
END_TEST

START_TEST(stream_all)
{
    em_opts_t o = { .n_threads = 2, .mode = EM_STREAM };
    run(_i, &o, "streaming (no budget)");
}
END_TEST

START_TEST(stream_partial)
{
    em_opts_t o = { .n_threads = 2, .mode = EM_STREAM, .ram = 1 };
    run(_i, &o, "streaming, partial budget");
}
END_TEST

START_TEST(batch_small)
{
    em_opts_t o = { .n_threads = 2, .mode = EM_RESIDENT, .max_batch = 2 };
    run(_i, &o, "prefill batches of 2");
}
END_TEST

Suite *eng_mlx_suite(void)
{
    Suite *s = suite_create("eng_mlx");
    TCase *tc = tcase_create("parity");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, resident, 0, N_FIX);
    tcase_add_loop_test(tc, resident_portable, 0, N_FIX);
    tcase_add_loop_test(tc, resident_avx2, 0, N_FIX);
    tcase_add_loop_test(tc, resident_one_thread, 0, N_FIX);
    tcase_add_loop_test(tc, stream_all, 0, N_FIX);
    tcase_add_loop_test(tc, stream_partial, 0, N_FIX);
    tcase_add_loop_test(tc, batch_small, 0, N_FIX);
    suite_add_tcase(s, tc);
    return s;
}
