/* test_eng_quant.c — MLX affine quantization for every bits/group combination with the tests'
 * own quantizer (mlx_testutil.c): dequantization exact, the quantized matrix products
 * (portable and SIMD; decode and prefill shapes; bias, accumulate, threads) against a double
 * reference on the dequantized weights, and whole models with mixed per-module configs
 * against their dequantized f32 twin. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eng_kernels.h"
#include "eng_model.h"
#include "eng_pool.h"
#include "mlx_testutil.h"

static const int bits_all[] = { 2, 3, 4, 5, 6, 8 };
static const int groups_all[] = { 32, 64, 128 };

static ek_mat_t qmat_view(const mtu_qmat_t *m)
{
    ek_mat_t w = { .data = m->packed, .dt = EK_QAFF, .rows = m->rows, .cols = m->cols,
                   .scales = m->scales, .biases = m->biases, .sdt = m->sdt, .bits = m->bits,
                   .group = m->group };
    return w;
}

START_TEST(pack_layout)
{
    /* The packings spelled out in the issue, on hand-made codes. */
    uint8_t q8[8] = { 1, 2, 3, 4, 5, 6, 7, 0 }, out[8];
    mtu_pack(q8, 8, 3, out);    /* 3 bits: 8 codes in 3 bytes, LSB first */
    ck_assert_uint_eq(out[0], (1 | 2 << 3 | (3 & 3) << 6) & 0xff);
    ck_assert_uint_eq(out[1], (3 >> 2 | 4 << 1 | 5 << 4 | (6 & 1) << 7) & 0xff);
    ck_assert_uint_eq(out[2], (6 >> 1 | 7 << 2 | 0 << 5) & 0xff);
    uint8_t q4[8] = { 1, 2, 3, 4, 5, 6, 7, 15 };
    mtu_pack(q4, 8, 4, out);    /* 4 bits: element k at bits [4k, 4k+4) of a u32 word */
    ck_assert_uint_eq(out[0], 0x21);
    ck_assert_uint_eq(out[3], 0xf7);
    /* ek_q_dequant reads them back: scale 1, bias 0 */
    uint16_t one = 0x3f80, zero = 0;
    for (int b = 0; b < 6; b++) {
        int bits = bits_all[b];
        uint8_t q[32], packed[32];
        for (int i = 0; i < 32; i++)
            q[i] = (uint8_t)((i * 7 + 3) & ((1 << bits) - 1));
        mtu_pack(q, 32, bits, packed);
        ek_mat_t w = { .data = packed, .dt = EK_QAFF, .rows = 1, .cols = 32, .scales = &one,
                       .biases = &zero, .sdt = EK_BF16, .bits = bits, .group = 32 };
        float d[32];
        ek_q_dequant(d, &w, 0, 0, 32);
        for (int i = 0; i < 32; i++)
            ck_assert_msg(d[i] == (float)q[i], "bits %d element %d: %g != %d", bits, i, d[i], q[i]);
    }
}
END_TEST

START_TEST(dequant_all)
{
    static const ek_dtype_t sdts[] = { EK_BF16, EK_F16, EK_F32 };
    for (int b = 0; b < 6; b++)
        for (int g = 0; g < 3; g++)
            for (int s = 0; s < 3; s++) {
                mtu_qmat_t m;
                mtu_qmat_make(&m, 5, 384, bits_all[b], groups_all[g], sdts[s], (uint64_t)(b * 9 + g * 3 + s));
                ek_mat_t w = qmat_view(&m);
                float row[384];
                for (int r = 0; r < 5; r++) {
                    /* whole row, and a middle slice of whole groups */
                    ek_q_dequant(row, &w, r, 0, 384);
                    for (int k = 0; k < 384; k++)
                        ck_assert_msg(row[k] == m.w[r * 384 + k], "bits %d group %d row %d k %d: %g != %g",
                                      m.bits, m.group, r, k, row[k], m.w[r * 384 + k]);
                    ek_q_dequant(row, &w, r, m.group, 2 * m.group);
                    for (int k = 0; k < 2 * m.group; k++)
                        ck_assert(row[k] == m.w[r * 384 + m.group + k]);
                }
                mtu_qmat_free(&m);
            }
}
END_TEST

/* Quantized product vs a double reference for one shape, with the kernels in use. */
static void check_matmul(ep_pool_t *pool, int bits, int group, int rows, int cols, int T, int bias_on,
                         int accumulate, const char *isa)
{
    mtu_qmat_t m;
    mtu_qmat_make(&m, rows, cols, bits, group, EK_BF16, (uint64_t)(bits * 131 + group + T + rows));
    ek_mat_t w = qmat_view(&m);
    int ldo = rows + 3;
    float *x = malloc((size_t)T * cols * 4), *out = malloc((size_t)T * ldo * 4), *b = malloc((size_t)rows * 4);
    ck_assert(x && out && b);
    for (int i = 0; i < T * cols; i++)
        x[i] = (float)sin(0.37 * i + T) * 1.5f;
    for (int r = 0; r < rows; r++)
        b[r] = 0.01f * (float)(r % 13) - 0.05f;
    for (int i = 0; i < T * ldo; i++)
        out[i] = accumulate ? 0.25f * (float)(i % 7) : 1e30f;
    ek_matmul(pool, &w, bias_on ? b : NULL, x, T, out, ldo, accumulate);
    for (int t = 0; t < T; t++)
        for (int r = 0; r < rows; r++) {
            double ref = 0, mag = 0;
            for (int k = 0; k < cols; k++) {
                ref += (double)x[t * cols + k] * m.w[r * cols + k];
                mag += fabs((double)x[t * cols + k] * m.w[r * cols + k]);
            }
            if (bias_on)
                ref += b[r];
            if (accumulate)
                ref += 0.25 * ((t * ldo + r) % 7);
            double d = fabs(out[t * ldo + r] - ref);
            ck_assert_msg(d <= 2e-6 * (mag + 1.0), "%s bits %d group %d %dx%d T %d row %d: %.9g vs %.9g",
                          isa, bits, group, rows, cols, T, r, out[t * ldo + r], ref);
        }
    free(x);
    free(out);
    free(b);
    mtu_qmat_free(&m);
}

START_TEST(matmul_all)
{
    /* _i: 0 portable, 1 the best SIMD kernels (AVX-512 where the CPU has it), 2 AVX2 */
    if (_i == 2)
        setenv("FLASHGEN_ISA", "avx2", 1);
    ek_init(_i == 0);
    if (_i == 2)
        unsetenv("FLASHGEN_ISA");
    ep_pool_t *pool = NULL;
    ck_assert_int_eq(ep_create(2, &pool), 0);
    static const int Ts[] = { 1, 2, 7 };
    for (int b = 0; b < 6; b++)
        for (int g = 0; g < 3; g++)
            for (int ti = 0; ti < 3; ti++) {
                check_matmul(pool, bits_all[b], groups_all[g], 40, 384, Ts[ti], ti == 1, ti == 2, ek_isa());
                check_matmul(pool, bits_all[b], groups_all[g], 19, 1280, Ts[ti], ti == 0, ti == 1, ek_isa());
            }
    ep_destroy(pool);
    ek_init(0);
}
END_TEST

START_TEST(matmul_n_mixed)
{
    /* ek_matmul_n with quantized and bf16 matrices together (q, k, v of a layer). */
    ep_pool_t *pool = NULL;
    ck_assert_int_eq(ep_create(2, &pool), 0);
    mtu_qmat_t a, c;
    mtu_qmat_make(&a, 64, 256, 4, 64, EK_BF16, 1);
    mtu_qmat_make(&c, 32, 256, 3, 32, EK_F16, 2);
    uint16_t *wb = malloc(48 * 256 * 2);
    float *wbf = malloc(48 * 256 * 4), x[256], o0[64], o1[48], o2[32];
    ck_assert(wb && wbf);
    for (int i = 0; i < 48 * 256; i++) {
        wb[i] = (uint16_t)(0x3c00 + (i * 37) % 512);        /* bf16 values near 0.01 */
        wbf[i] = ek_bf16_to_f32(wb[i]);
    }
    for (int k = 0; k < 256; k++)
        x[k] = (float)cos(k * 0.1);
    ek_mat_t m0 = qmat_view(&a), m2 = qmat_view(&c);
    ek_mat_t m1 = { .data = wb, .dt = EK_BF16, .rows = 48, .cols = 256 };
    const ek_mat_t *ws[3] = { &m0, &m1, &m2 };
    float *outs[3] = { o0, o1, o2 };
    const int ld[3] = { 64, 48, 32 };
    ek_matmul_n(pool, 3, ws, NULL, x, 1, outs, ld);
    const float *wf[3] = { a.w, wbf, c.w };
    for (int i = 0; i < 3; i++)
        for (int r = 0; r < ld[i]; r++) {
            double ref = 0;
            for (int k = 0; k < 256; k++)
                ref += (double)x[k] * wf[i][r * 256 + k];
            ck_assert_msg(fabs(outs[i][r] - ref) < 1e-4, "product %d row %d: %g vs %g", i, r, outs[i][r], ref);
        }
    /* all quantized (one pool job), three bit widths, with biases */
    mtu_qmat_t e;
    mtu_qmat_make(&e, 48, 256, 8, 128, EK_BF16, 3);
    ek_mat_t m1q = qmat_view(&e);
    const ek_mat_t *wq[3] = { &m0, &m1q, &m2 };
    float bq[64];
    for (int r = 0; r < 64; r++)
        bq[r] = 0.125f * (float)(r % 5);
    const float *bs[3] = { bq, NULL, bq };
    for (int simd = 0; simd < 2; simd++) {
        ek_init(!simd);
        ek_matmul_n(pool, 3, wq, bs, x, 1, outs, ld);
        const float *wfq[3] = { a.w, e.w, c.w };
        for (int i = 0; i < 3; i++)
            for (int r = 0; r < ld[i]; r++) {
                double ref = bs[i] ? bs[i][r] : 0;
                for (int k = 0; k < 256; k++)
                    ref += (double)x[k] * wfq[i][r * 256 + k];
                ck_assert_msg(fabs(outs[i][r] - ref) < 1e-4, "%s all-quantized product %d row %d: %g vs %g",
                              ek_isa(), i, r, outs[i][r], ref);
            }
    }
    ek_init(0);
    mtu_qmat_free(&e);
    mtu_qmat_free(&a);
    mtu_qmat_free(&c);
    free(wb);
    free(wbf);
    ep_destroy(pool);
}
END_TEST

/* ---- whole models: quantized with mixed per-module settings vs the f32 twin ---------- */

static const mtu_qspec_t mixed[] = {
    { "model.embed_tokens", 5, 32, EK_BF16 },
    { "model.layers.0.self_attn.q_proj", 2, 128, EK_BF16 },
    { "model.layers.0.self_attn.k_proj", 3, 32, EK_BF16 },
    { "model.layers.0.self_attn.v_proj", 6, 64, EK_F16 },
    { "model.layers.0.self_attn.o_proj", 8, 32, EK_F32 },
    { "model.layers.0.mlp.up_proj", 5, 128, EK_BF16 },
    { "model.layers.0.mlp.down_proj", 6, 32, EK_BF16 },
    { "model.layers.1.self_attn.q_proj", 3, 128, EK_BF16 },
    { "model.layers.1.mlp.down_proj", 0, 0, EK_BF16 },      /* false: stays f32 */
    { "lm_head", 6, 128, EK_F16 },
};

static void compare_models(const char *qd, const char *fd, const em_opts_t *o, const char *label)
{
    static const int32_t ids[9] = { 1, 17, 200, 3, 99, 42, 255, 0, 128 };
    em_model_t *mq = NULL, *mf = NULL;
    char err[512] = "";
    ck_assert_msg(em_open(&mq, qd, o, err, sizeof err) == 0, "%s: %s", label, err);
    ck_assert_msg(em_open(&mf, fd, o, err, sizeof err) == 0, "%s: %s", label, err);
    const int V = em_config(mq)->vocab_size;
    const float *lq, *lf;
    ck_assert_int_eq(em_forward(mq, ids, 9, 1, &lq, err, sizeof err), 0);
    float *copy = malloc((size_t)9 * V * 4);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, lq, (size_t)9 * V * 4);
    ck_assert_int_eq(em_forward(mf, ids, 9, 1, &lf, err, sizeof err), 0);
    double worst = 0;
    for (int i = 0; i < 9 * V; i++) {
        double d = fabs(copy[i] - lf[i]) / fmax(1.0, fabs(lf[i]));
        ck_assert_msg(d <= 1e-3, "%s: logit %d: %g vs f32 %g", label, i, copy[i], lf[i]);
        worst = d > worst ? d : worst;
    }
    for (int s = 0; s < 6; s++) {        /* decode steps (the fused one-token kernels) */
        int32_t tok = (int32_t)(s * 41 % V);
        ck_assert_int_eq(em_forward(mq, &tok, 1, 0, &lq, err, sizeof err), 0);
        memcpy(copy, lq, (size_t)V * 4);
        ck_assert_int_eq(em_forward(mf, &tok, 1, 0, &lf, err, sizeof err), 0);
        for (int i = 0; i < V; i++) {
            double d = fabs(copy[i] - lf[i]) / fmax(1.0, fabs(lf[i]));
            ck_assert_msg(d <= 1e-3, "%s: decode %d logit %d: %g vs f32 %g", label, s, i, copy[i], lf[i]);
            worst = d > worst ? d : worst;
        }
    }
    printf("mlx mixed %-28s worst relative logits diff %.3g\n", label, worst);
    free(copy);
    em_close(mq);
    em_close(mf);
}

static void rm_dir(const char *d)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/config.json", d);
    unlink(p);
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    unlink(p);
    rmdir(d);
}

START_TEST(mixed_model)
{
    char qd[] = "/tmp/mlx-q-XXXXXX", fd[] = "/tmp/mlx-f-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(qd));
    ck_assert_ptr_nonnull(mkdtemp(fd));
    mtu_write_models(qd, fd, 4, 64, mixed, (int)(sizeof mixed / sizeof *mixed), 5);
    em_opts_t o = { .n_threads = 2, .capacity = 32, .mode = EM_RESIDENT };
    compare_models(qd, fd, &o, "resident");
    o.portable = 1;
    compare_models(qd, fd, &o, "resident, portable C");
    o.portable = 0;
    o.mode = EM_STREAM;
    compare_models(qd, fd, &o, "streaming");
    rm_dir(qd);
    rm_dir(fd);
}
END_TEST

START_TEST(uniform_models)
{
    /* Every bits/group as the model-wide default (no overrides). */
    for (int b = 0; b < 6; b++)
        for (int g = 0; g < 3; g++) {
            char qd[] = "/tmp/mlx-q-XXXXXX", fd[] = "/tmp/mlx-f-XXXXXX", label[64];
            ck_assert_ptr_nonnull(mkdtemp(qd));
            ck_assert_ptr_nonnull(mkdtemp(fd));
            mtu_write_models(qd, fd, bits_all[b], groups_all[g], NULL, 0, (uint64_t)(b * 3 + g));
            em_opts_t o = { .n_threads = 2, .capacity = 32, .mode = EM_RESIDENT };
            snprintf(label, sizeof label, "%d bits, group %d", bits_all[b], groups_all[g]);
            compare_models(qd, fd, &o, label);
            rm_dir(qd);
            rm_dir(fd);
        }
}
END_TEST

Suite *eng_quant_suite(void)
{
    Suite *s = suite_create("eng_quant");
    TCase *tc = tcase_create("quant");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, pack_layout);
    tcase_add_test(tc, dequant_all);
    tcase_add_loop_test(tc, matmul_all, 0, 3);
    tcase_add_test(tc, matmul_n_mixed);
    tcase_add_test(tc, mixed_model);
    tcase_add_test(tc, uniform_models);
    suite_add_tcase(s, tc);
    return s;
}
