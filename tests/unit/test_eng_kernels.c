/* test_eng_kernels.c — kernels against straightforward double-precision loops: f16/bf16
 * conversions, matrix products of awkward sizes in every dtype (AVX2 and portable), the
 * thread pool's chunk accounting, and the sampler. */
#include <check.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "eng_kernels.h"
#include "eng_pool.h"
#include "eng_sampler.h"

static uint64_t rng = 88172645463325252ull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

START_TEST(f16_conversions)
{
    /* Every finite half round-trips exactly through f32. */
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00)
            continue;
        float f = ek_f16_to_f32((uint16_t)h);
        ck_assert_msg(ek_f32_to_f16(f) == h || (h == 0x8000 && f == 0), "half 0x%04x", h);
    }
    ck_assert_float_eq(ek_f16_to_f32(0x3c00), 1.0f);
    ck_assert_float_eq(ek_f16_to_f32(0xc000), -2.0f);
    ck_assert_float_eq(ek_f16_to_f32(0x0001), 5.9604644775390625e-08f);
    ck_assert(isinf(ek_f16_to_f32(0x7c00)));
    ck_assert(isnan(ek_f16_to_f32(0x7e00)));
    ck_assert_uint_eq(ek_f32_to_f16(65520.0f), 0x7c00);     /* rounds up to inf */
    ck_assert_uint_eq(ek_f32_to_f16(1.0f + 1.0f / 2048), 0x3c00); /* tie to even */
    ck_assert_float_eq(ek_bf16_to_f32(0x3f80), 1.0f);
    ck_assert_float_eq(ek_bf16_to_f32(0xc040), -3.0f);
}
END_TEST

/* mode 0: best ISA (AVX-512 where present), 1: AVX2 (FLASHGEN_ISA=avx2), 2: portable C. */
static void set_isa(int mode)
{
    if (mode == 1)
        setenv("FLASHGEN_ISA", "avx2", 1);
    else
        unsetenv("FLASHGEN_ISA");
    ek_init(mode == 2);
}

static void check_matmul(int mode, ek_dtype_t dt, int rows, int cols, int T, int use_bias, int acc)
{
    set_isa(mode);
    ep_pool_t *pool = NULL;
    ck_assert_int_eq(ep_create(2, &pool), 0);
    size_t es = ek_dtype_size(dt);
    void *w = malloc((size_t)rows * cols * es);
    float *wf = malloc((size_t)rows * cols * sizeof(float));
    float *x = malloc((size_t)T * cols * sizeof(float));
    float *bias = malloc((size_t)rows * sizeof(float));
    float *out = malloc((size_t)T * (rows + 3) * sizeof(float));
    ck_assert(w && wf && x && bias && out);
    for (int i = 0; i < rows * cols; i++) {
        float f = frand();
        if (dt == EK_F32) {
            ((float *)w)[i] = f;
        } else if (dt == EK_F16) {
            ((uint16_t *)w)[i] = ek_f32_to_f16(f);
        } else {
            uint32_t u;
            memcpy(&u, &f, 4);
            ((uint16_t *)w)[i] = (uint16_t)(u >> 16);
        }
    }
    ek_to_f32(wf, w, dt, (size_t)rows * cols);
    for (int i = 0; i < T * cols; i++)
        x[i] = frand();
    for (int i = 0; i < rows; i++)
        bias[i] = frand();
    int ldo = rows + 3;
    for (int i = 0; i < T * ldo; i++)
        out[i] = 0.5f;
    ek_mat_t m = { .data = w, .dt = dt, .rows = rows, .cols = cols };
    ek_matmul(pool, &m, use_bias ? bias : NULL, x, T, out, ldo, acc);
    for (int t = 0; t < T; t++) {
        for (int r = 0; r < rows; r++) {
            double s = acc ? 0.5 : 0.0;
            for (int k = 0; k < cols; k++)
                s += (double)wf[(size_t)r * cols + k] * x[(size_t)t * cols + k];
            if (use_bias)
                s += bias[r];
            ck_assert_msg(fabs(s - out[(size_t)t * ldo + r]) < 1e-4 * (1 + sqrt(cols)),
                          "%s dt %d %dx%d T %d: [%d][%d] %g vs %g", ek_isa(), dt, rows, cols, T, t, r,
                          out[(size_t)t * ldo + r], s);
        }
        for (int r = rows; r < ldo; r++)    /* untouched padding */
            ck_assert_float_eq(out[(size_t)t * ldo + r], 0.5f);
    }
    free(w); free(wf); free(x); free(bias); free(out);
    ep_destroy(pool);
}

START_TEST(matmul_sizes)
{
    static const int shapes[][3] = { { 1, 1, 1 }, { 5, 7, 1 }, { 33, 17, 2 }, { 64, 64, 3 },
                                     { 70, 200, 4 }, { 130, 35, 7 }, { 256, 96, 1 }, { 300, 260, 9 }, { 41, 1000, 13 } };
    for (int mode = 0; mode < 3; mode++)
        for (int dt = 0; dt < 3; dt++)
            for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
                check_matmul(mode, (ek_dtype_t)dt, shapes[s][0], shapes[s][1], shapes[s][2],
                             (int)(s & 1), (int)((s >> 1) & 1));
}
END_TEST

START_TEST(small_kernels)
{
    for (int mode = 0; mode < 3; mode++) {
        set_isa(mode);
        float a[37], b[37], y[37];
        uint16_t bh[37];
        double ref = 0, refh = 0;
        for (int i = 0; i < 37; i++) {
            a[i] = frand();
            b[i] = frand();
            bh[i] = ek_f32_to_f16(b[i]);
            ref += (double)a[i] * b[i];
            refh += (double)a[i] * ek_f16_to_f32(bh[i]);
            y[i] = 1.0f;
        }
        ck_assert(fabs(ek_dot(a, b, EK_F32, 37) - ref) < 1e-5);
        ck_assert(fabs(ek_dot(a, bh, EK_F16, 37) - refh) < 1e-5);
        ek_axpy(y, 2.0f, bh, EK_F16, 37);
        for (int i = 0; i < 37; i++)
            ck_assert(fabs(y[i] - (1.0 + 2.0 * ek_f16_to_f32(bh[i]))) < 1e-6);
    }
    float x[4] = { 1, 2, 3, 4 }, w[4] = { 1, 1, 2, 0.5f }, o[4];
    ek_rmsnorm(o, x, w, 4, 1e-5f);
    double inv = 1.0 / sqrt(30.0 / 4 + 1e-5);
    ck_assert(fabs(o[2] - 2 * 3 * inv) < 1e-6);
    float s[3] = { 1, 2, 3 };
    ek_softmax(s, 3);
    ck_assert(fabs(s[0] + s[1] + s[2] - 1) < 1e-6 && s[2] > s[1] && s[1] > s[0]);
    ck_assert(fabs(s[1] / s[0] - exp(1.0)) < 1e-5);
    /* RoPE rotate-half: pairs (i, i + d/2) rotate by the angle of frequency i. */
    float v[4] = { 1, 2, 3, 4 }, cs[4] = { 0, 1, 0, 1 }, sn[4] = { 1, 0, 1, 0 };
    ek_rope(v, 1, 4, cs, sn);
    ck_assert_float_eq(v[0], -3.0f);    /* 1*cos(90) - 3*sin(90) */
    ck_assert_float_eq(v[2], 1.0f);     /* 3*cos(90) + 1*sin(90) */
    ck_assert_float_eq(v[1], 2.0f);
    ck_assert_float_eq(v[3], 4.0f);
}
END_TEST

START_TEST(matmul_n)
{
    /* Three products of one input in a single job equal three separate ek_matmul calls. */
    set_isa(0);
    ep_pool_t *pool = NULL;
    ck_assert_int_eq(ep_create(2, &pool), 0);
    const int K = 96, T = 5, rows[3] = { 200, 37, 64 };
    uint16_t *w[3];
    float *b[3], *o1[3], *o2[3], *x = malloc((size_t)T * K * sizeof(float));
    ek_mat_t m[3];
    const ek_mat_t *mp[3];
    int ld[3];
    for (int i = 0; i < T * K; i++)
        x[i] = frand();
    for (int i = 0; i < 3; i++) {
        w[i] = malloc((size_t)rows[i] * K * 2);
        b[i] = malloc((size_t)rows[i] * sizeof(float));
        o1[i] = calloc((size_t)T * rows[i], sizeof(float));
        o2[i] = calloc((size_t)T * rows[i], sizeof(float));
        for (int k = 0; k < rows[i] * K; k++)
            w[i][k] = ek_f32_to_f16(frand());
        for (int r = 0; r < rows[i]; r++)
            b[i][r] = frand();
        m[i] = (ek_mat_t){ .data = w[i], .dt = EK_F16, .rows = rows[i], .cols = K };
        mp[i] = &m[i];
        ld[i] = rows[i];
        ek_matmul(pool, &m[i], i == 1 ? NULL : b[i], x, T, o1[i], rows[i], 0);
    }
    const float *bp[3] = { b[0], NULL, b[2] };
    ek_matmul_n(pool, 3, mp, bp, x, T, o2, ld);
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < T * rows[i]; k++)
            ck_assert_float_eq(o1[i][k], o2[i][k]);
        free(w[i]); free(b[i]); free(o1[i]); free(o2[i]);
    }
    free(x);
    ep_destroy(pool);
}
END_TEST

typedef struct {
    atomic_int hits[1000];
    atomic_int bad_tid;
} pool_job_t;

static void pool_fn(void *ctx, int chunk, int n, int tid)
{
    pool_job_t *j = ctx;
    if (tid < 0 || tid >= 2 || n != 1000)
        atomic_store(&j->bad_tid, 1);
    atomic_fetch_add(&j->hits[chunk], 1);
}

START_TEST(pool_chunks)
{
    ep_pool_t *p = NULL;
    ck_assert_int_eq(ep_create(2, &p), 0);
    ck_assert_int_eq(ep_threads(p), 2);
    static pool_job_t j;
    for (int rep = 0; rep < 200; rep++) {
        memset(&j, 0, sizeof j);
        ep_run(p, 1000, pool_fn, &j);
        for (int i = 0; i < 1000; i++)
            ck_assert_int_eq(atomic_load(&j.hits[i]), 1);
        ck_assert_int_eq(atomic_load(&j.bad_tid), 0);
    }
    ep_destroy(p);
    long lo, hi, prev = 0;
    for (int i = 0; i < 3; i++) {
        ep_range(100, i, 3, 16, &lo, &hi);
        ck_assert_int_eq(lo, prev);
        ck_assert(lo % 16 == 0 || lo == 100);
        prev = hi;
    }
    ck_assert_int_eq(prev, 100);
}
END_TEST

START_TEST(sampler)
{
    float base[6] = { 0.1f, 2.0f, -1.0f, 1.9f, 0.0f, 1.0f }, l[6];
    smp_t *s = NULL;
    smp_params_t g = { .temp = 0 };
    ck_assert_int_eq(smp_create(&g, 6, &s), 0);
    memcpy(l, base, sizeof l);
    ck_assert_int_eq(smp_sample(s, l, NULL, 0), 1);
    /* repeat penalty 10 on token 1 makes 3 the best */
    smp_free(s);
    smp_params_t rp = { .temp = 0, .repeat_penalty = 10 };
    ck_assert_int_eq(smp_create(&rp, 6, &s), 0);
    int32_t hist[1] = { 1 };
    memcpy(l, base, sizeof l);
    ck_assert_int_eq(smp_sample(s, l, hist, 1), 3);
    smp_free(s);
    /* top-k 1 is greedy whatever the temperature */
    smp_params_t k1 = { .temp = 5, .top_k = 1, .seed = 3 };
    ck_assert_int_eq(smp_create(&k1, 6, &s), 0);
    for (int i = 0; i < 20; i++) {
        memcpy(l, base, sizeof l);
        ck_assert_int_eq(smp_sample(s, l, NULL, 0), 1);
    }
    smp_free(s);
    /* same seed, same draws; top-p 0.5 at T=1 only ever picks among {1, 3} */
    smp_params_t tp = { .temp = 1, .top_p = 0.5f, .seed = 42 };
    smp_t *s2 = NULL;
    ck_assert_int_eq(smp_create(&tp, 6, &s), 0);
    ck_assert_int_eq(smp_create(&tp, 6, &s2), 0);
    int seen1 = 0, seen3 = 0;
    for (int i = 0; i < 200; i++) {
        float l2[6];
        memcpy(l, base, sizeof l);
        memcpy(l2, base, sizeof l2);
        int32_t a = smp_sample(s, l, NULL, 0), b = smp_sample(s2, l2, NULL, 0);
        ck_assert_int_eq(a, b);
        ck_assert(a == 1 || a == 3);
        seen1 |= a == 1;
        seen3 |= a == 3;
    }
    ck_assert(seen1 && seen3);
    smp_free(s);
    smp_free(s2);
    ck_assert_int_eq(smp_argmax(base, 6), 1);
}
END_TEST

Suite *eng_kernels_suite(void)
{
    Suite *s = suite_create("eng_kernels");
    TCase *tc = tcase_create("kernels");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, f16_conversions);
    tcase_add_test(tc, matmul_sizes);
    tcase_add_test(tc, matmul_n);
    tcase_add_test(tc, small_kernels);
    tcase_add_test(tc, pool_chunks);
    tcase_add_test(tc, sampler);
    suite_add_tcase(s, tc);
    return s;
}
