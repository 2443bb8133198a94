/* eng_kernels.c — portable C kernels, conversions and the run-time ISA dispatch.
 *
 * The matrix product is the hot spot: decode multiplies every weight matrix by one
 * vector (memory bound), prefill by T vectors at once (compute bound). Rows are split
 * between the pool's threads; each thread walks its rows in blocks and, for each block,
 * all tokens, so a block of weights is widened and used T times while in cache. */
#include <math.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "eng_kernels.h"
#include "eng_kernels_isa.h"

/* ---- conversions ----------------------------------------------------------------- */

size_t ek_dtype_size(ek_dtype_t dt)
{
    return dt == EK_F32 ? 4 : 2;
}

/* bf16 is the upper half of an IEEE f32: widening is a 16-bit shift. */
float ek_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* IEEE half: 1 sign, 5 exponent (bias 15), 10 mantissa bits; subnormals, inf, nan. */
float ek_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else {                        /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            u = sign | (uint32_t)(127 - 15 - e) << 23 | (man & 0x3ff) << 13;
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | man << 13;
    } else {
        u = sign | (exp + 127 - 15) << 23 | man << 13;
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Round to nearest even, overflow to inf, underflow through subnormals to zero. */
uint16_t ek_f32_to_f16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t exp = (u >> 23) & 0xff, man = u & 0x7fffff;
    if (exp == 0xff)
        return sign | 0x7c00 | (man ? 0x200 : 0);
    int e = (int)exp - 127 + 15;
    if (e >= 31)
        return sign | 0x7c00;
    if (e <= 0) {
        if (e < -10)
            return sign;
        man |= 0x800000;
        int shift = 14 - e;
        uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1)))
            half++;
        return sign | (uint16_t)half;
    }
    uint32_t half = (uint32_t)e << 10 | man >> 13, rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1)))
        half++;                         /* may carry into the exponent: still correct */
    return sign | (uint16_t)half;
}

void ek_to_f32(float *dst, const void *src, ek_dtype_t dt, size_t n)
{
    const uint16_t *h = src;
    switch (dt) {
    case EK_F32:
        memcpy(dst, src, n * 4);
        break;
    case EK_F16:
        for (size_t i = 0; i < n; i++)
            dst[i] = ek_f16_to_f32(h[i]);
        break;
    case EK_BF16:
        for (size_t i = 0; i < n; i++)
            dst[i] = ek_bf16_to_f32(h[i]);
        break;
    case EK_Q8_0:
    case EK_Q4_0:
    case EK_Q4_K:
    case EK_Q6_K:
        ek_gq_dequant(dt, dst, src, n);
        break;
    case EK_QAFF:               /* not an element type (see ek_q_dequant) */
        memset(dst, 0, n * 4);
        break;
    }
}

/* ---- portable kernels ------------------------------------------------------------ */

static inline float ek_w(const void *row, ek_dtype_t dt, int k)
{
    switch (dt) {
    case EK_F16: return ek_f16_to_f32(((const uint16_t *)row)[k]);
    case EK_BF16: return ek_bf16_to_f32(((const uint16_t *)row)[k]);
    default: return ((const float *)row)[k];
    }
}

/* Four partial sums per dot product keep the compiler free to pipeline. */
static float pc_dot(const float *a, const void *b, ek_dtype_t dt, int n)
{
    float s[4] = { 0, 0, 0, 0 };
    int k = 0;
    for (; k + 4 <= n; k += 4)
        for (int j = 0; j < 4; j++)
            s[j] += a[k + j] * ek_w(b, dt, k + j);
    for (; k < n; k++)
        s[0] += a[k] * ek_w(b, dt, k);
    return (s[0] + s[1]) + (s[2] + s[3]);
}

static void pc_axpy(float *y, float a, const void *x, ek_dtype_t dt, int n)
{
    for (int i = 0; i < n; i++)
        y[i] += a * ek_w(x, dt, i);
}

/* q8 KV groups: four partial sums like pc_dot. */
static float pc_dot_q8(const float *a, const int8_t *q, int n)
{
    float s[4] = { 0, 0, 0, 0 };
    int k = 0;
    for (; k + 4 <= n; k += 4)
        for (int j = 0; j < 4; j++)
            s[j] += a[k + j] * (float)q[k + j];
    for (; k < n; k++)
        s[0] += a[k] * (float)q[k];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

static void pc_axpy_q8(float *y, float a, const int8_t *q, int n)
{
    for (int i = 0; i < n; i++)
        y[i] += a * (float)q[i];
}

/* Rows [r0, r1): widen one row into a stack tile of EK_PC_TILE columns at a time and
 * dot it with every token. */
#define EK_PC_TILE 512
static void pc_mm_rows(const ek_mat_t *w, const float *bias, const float *x, int T,
                       float *out, int ldo, int accumulate, int r0, int r1)
{
    const int K = w->cols;
    const size_t es = ek_dtype_size(w->dt);
    float tile[EK_PC_TILE];
    for (int r = r0; r < r1; r++) {
        const char *row = (const char *)w->data + (size_t)r * K * es;
        float b = bias ? bias[r] : 0.0f;
        for (int t = 0; t < T; t++)
            if (!accumulate)
                out[(size_t)t * ldo + r] = 0.0f;
        for (int k0 = 0; k0 < K; k0 += EK_PC_TILE) {
            int kn = K - k0 < EK_PC_TILE ? K - k0 : EK_PC_TILE;
            ek_to_f32(tile, row + (size_t)k0 * es, w->dt, (size_t)kn);
            for (int t = 0; t < T; t++)
                out[(size_t)t * ldo + r] += pc_dot(x + (size_t)t * K + k0, tile, EK_F32, kn);
        }
        for (int t = 0; t < T; t++)
            out[(size_t)t * ldo + r] += b;
    }
}

static const ek_isa_t ek_isa_portable = { "portable", pc_mm_rows, pc_dot, pc_axpy, pc_dot_q8,
                                             pc_axpy_q8 };

/* ---- dispatch -------------------------------------------------------------------- */

static const ek_isa_t *ek_cur;

void ek_init(int portable)
{
    ek_cur = &ek_isa_portable;
#if defined(__x86_64__)
    __builtin_cpu_init();
    /* F16C via cpuid leaf 1 (ECX bit 29): clang 14 has no "f16c" for the builtin. */
    unsigned a, b, c, d;
    int f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
    if (!portable && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c) {
        ek_cur = &ek_isa_avx2;
        /* AVX-512 matrix products unless FLASHGEN_ISA=avx2 asks for the AVX2 ones. */
        const char *want = getenv("FLASHGEN_ISA");
        if (__builtin_cpu_supports("avx512f") && !(want && !strcmp(want, "avx2")))
            ek_cur = ek_isa_avx512_make();
    }
#else
    (void)portable;
#endif
}

static inline const ek_isa_t *ek_get(void)
{
    if (!ek_cur)
        ek_init(0);
    return ek_cur;
}

const char *ek_isa(void)
{
    return ek_get()->name;
}

/* The quantized kernels matching the kernel set: 0 portable, 1 AVX2, 2 AVX-512. */
static int ek_q_simd(void)
{
    const char *n = ek_get()->name;
    return !strcmp(n, "portable") ? 0 : !strcmp(n, "avx512") ? 2 : 1;
}

typedef struct {
    const ek_isa_t *isa;
    const ek_mat_t *w;
    const float *bias;
    const float *x;
    int T;
    float *out;
    int ldo;
    int accumulate;
} ek_mm_job_t;

static void ek_mm_task(void *ctx, int i, int n, int tid)
{
    ek_mm_job_t *j = ctx;
    long lo, hi;
    (void)tid;
    ep_range(j->w->rows, i, n, 16, &lo, &hi);
    if (lo < hi)
        j->isa->mm_rows(j->w, j->bias, j->x, j->T, j->out, j->ldo, j->accumulate, (int)lo, (int)hi);
}

void ek_matmul(ep_pool_t *pool, const ek_mat_t *w, const float *bias, const float *x, int T,
               float *out, int ldo, int accumulate)
{
    if (w->dt == EK_Q8_0) {
        ek_q8_matmul(pool, w, bias, x, T, out, ldo, accumulate);
        return;
    }
    if (w->dt == EK_Q4_0 || w->dt == EK_Q4_K || w->dt == EK_Q6_K) {
        ek_gq_matmul(pool, w, bias, x, T, out, ldo, accumulate);
        return;
    }
    if (w->dt == EK_QAFF) {
        ek_q_matmul(pool, w, bias, x, T, out, ldo, accumulate, ek_q_simd());
        return;
    }
    ek_mm_job_t j = { ek_get(), w, bias, x, T, out, ldo, accumulate };
    /* Tiny products are not worth waking the pool; otherwise 8 chunks per thread (of at
     * least 16 rows) so a thread that gets descheduled leaves little to wait for. */
    long blocks = (w->rows + 15) / 16, chunks = 8l * ep_threads(pool);
    if ((long)w->rows * w->cols * T < 32768)
        chunks = 1;
    ep_run(pool, (int)(blocks < chunks ? blocks : chunks), ek_mm_task, &j);
}

typedef struct {
    const ek_isa_t *isa;
    int n;
    ek_mm_job_t part[4];
    int first[5];               /* chunk index where product i starts */
} ek_mmn_job_t;

static void ek_mmn_task(void *ctx, int c, int nc, int tid)
{
    ek_mmn_job_t *j = ctx;
    (void)nc;
    int i = 0;
    while (c >= j->first[i + 1])
        i++;
    ek_mm_task(&j->part[i], c - j->first[i], j->first[i + 1] - j->first[i], tid);
}

void ek_matmul_n(ep_pool_t *pool, int n, const ek_mat_t *const *w, const float *const *bias,
                 const float *x, int T, float *const *out, const int *ldo)
{
    int nq = 0, n8 = 0;
    for (int i = 0; i < n; i++) {
        nq += w[i]->dt == EK_QAFF;
        n8 += w[i]->dt >= EK_Q8_0;
    }
    if (n8)
        nq += n8, n8 = -1;              /* GGUF block types go product by product */
    if (nq == n && n <= 4 && n8 == 0) {            /* all quantized: one job */
        ek_q_matmul_n(pool, n, w, bias, x, T, out, ldo, ek_q_simd());
        return;
    }
    if (nq) {                           /* quantized and not: one job per product */
        for (int k = 0; k < n; k++)
            ek_matmul(pool, w[k], bias ? bias[k] : NULL, x, T, out[k], ldo[k], 0);
        return;
    }
    ek_mmn_job_t j;
    j.isa = ek_get();
    j.n = n < 4 ? n : 4;
    j.first[0] = 0;
    long per = 8l * ep_threads(pool);
    for (int i = 0; i < j.n; i++) {
        ek_mm_job_t p = { j.isa, w[i], bias ? bias[i] : NULL, x, T, out[i], ldo[i], 0 };
        j.part[i] = p;
        long blocks = (w[i]->rows + 15) / 16;
        j.first[i + 1] = j.first[i] + (int)(blocks < per ? blocks : per);
    }
    long work = 0;
    for (int i = 0; i < j.n; i++)
        work += (long)w[i]->rows * w[i]->cols * T;
    if (work < 32768) {
        for (int c = 0; c < j.first[j.n]; c++)
            ek_mmn_task(&j, c, j.first[j.n], 0);
        return;
    }
    ep_run(pool, j.first[j.n], ek_mmn_task, &j);
}

float ek_dot(const float *a, const void *b, ek_dtype_t dt, int n)
{
    return ek_get()->dot(a, b, dt, n);
}

void ek_axpy(float *y, float a, const void *x, ek_dtype_t dt, int n)
{
    ek_get()->axpy(y, a, x, dt, n);
}

float ek_dot_q8(const float *a, const int8_t *q, int n)
{
    return ek_get()->dot_q8(a, q, n);
}

void ek_axpy_q8(float *y, float a, const int8_t *q, int n)
{
    ek_get()->axpy_q8(y, a, q, n);
}

/* Portable everywhere (runs once per appended position, not per attention step), so the
 * codes are the same whatever kernel set computes with them. */
float ek_q8_quant(int8_t *q, const float *x, int n)
{
    float amax = 0.0f;
    int finite = 1;
    for (int i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        if (!isfinite(a))
            finite = 0;
        else if (a > amax)
            amax = a;
    }
    if (!finite || amax == 0.0f) {
        for (int i = 0; i < n; i++)
            q[i] = 0;
        return finite ? 0.0f : NAN;
    }
    float scale = amax / 127.0f, inv = 127.0f / amax;
    for (int i = 0; i < n; i++) {
        float r = nearbyintf(x[i] * inv);
        q[i] = (int8_t)(r > 127.0f ? 127 : r < -127.0f ? -127 : (int)r);
    }
    return scale;
}

/* ---- small vector kernels (not hot enough to need intrinsics) -------------------- */

void ek_rmsnorm(float *out, const float *x, const float *w, int n, float eps)
{
    double ss = 0.0;
    for (int i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float inv = (float)(1.0 / sqrt(ss / n + (double)eps));
    for (int i = 0; i < n; i++)
        out[i] = w[i] * (x[i] * inv);
}

void ek_softmax(float *x, int n)
{
    float mx = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > mx)
            mx = x[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++)
        x[i] *= inv;
}

void ek_silu_mul(float *g, const float *u, size_t n)
{
    for (size_t i = 0; i < n; i++)
        g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

void ek_rope(float *x, int n_heads, int head_dim, const float *cos_, const float *sin_)
{
    int h2 = head_dim / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * head_dim;
        for (int i = 0; i < h2; i++) {
            float a = v[i], b = v[i + h2];
            v[i] = a * cos_[i] - b * sin_[i];
            v[i + h2] = b * cos_[i + h2] + a * sin_[i + h2];
        }
    }
}
