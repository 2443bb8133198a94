/* mkmodel_gen.c — deterministic synthetic weight values (counter-based, any range).
 *
 * Element e of tensor t:
 *   key = fmix64(seed ^ fmix64(t->id))                  one stream per (seed, tensor)
 *   h   = fmix64(key + (e/2 + 1) * 0x9E3779B97F4A7C15)  SplitMix64 output number e/2
 *   u   = low 32 bits of h for even e, high 32 bits for odd e
 *   z   = Phi^-1((u + 0.5) / 2^32)                       a standard normal value
 * Weights and biases are 0.02 * z, norm weights 1 + 0.02 * z (trained RMSNorm weights
 * scatter around 1). There is no state: any element range is computed independently.
 *
 * Phi^-1 is tabulated at 4096 points and linearly interpolated; the two outermost cells
 * (u below 1/4096 or above 4095/4096, where the function is steep) are evaluated
 * exactly with Acklam's rational approximation (relative error < 1.2e-9). */
#include "mkmodel.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#define NT_BITS 12
#define NT_SIZE (1u << NT_BITS)

static float nt_table[NT_SIZE + 1];
static pthread_once_t nt_once = PTHREAD_ONCE_INIT;

/* ---- the inverse normal CDF (Acklam) --------------------------------------------- */

static double inv_phi(double p)
{
    static const double a[] = { -3.969683028665376e+01, 2.209460984245205e+02,
                                -2.759285104469687e+02, 1.383577518672690e+02,
                                -3.066479806614716e+01, 2.506628277459239e+00 };
    static const double b[] = { -5.447609879822406e+01, 1.615858368580409e+02,
                                -1.556989798598866e+02, 6.680131188771972e+01,
                                -1.328068155288572e+01 };
    static const double c[] = { -7.784894002430293e-03, -3.223964580411365e-01,
                                -2.400758277161838e+00, -2.549732539343734e+00,
                                4.374664141464968e+00, 2.938163982698783e+00 };
    static const double d[] = { 7.784695709041462e-03, 3.224671290700398e-01,
                                2.445134137142996e+00, 3.754408661907416e+00 };
    const double lo = 0.02425, hi = 1 - lo;
    if (p < lo) {                       /* lower tail */
        double q = sqrt(-2 * log(p));
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    if (p > hi) {                       /* upper tail, by symmetry */
        double q = sqrt(-2 * log(1 - p));
        return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    double q = p - 0.5, r = q * q;      /* central region */
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

static void nt_build(void)
{
    for (unsigned i = 1; i < NT_SIZE; i++)
        nt_table[i] = (float)inv_phi((double)i / NT_SIZE);
    nt_table[0] = nt_table[1];          /* never interpolated: edge cells are exact */
    nt_table[NT_SIZE] = nt_table[NT_SIZE - 1];
}

void mm_gen_init(void)
{
    pthread_once(&nt_once, nt_build);
}

static inline float normal_u32(uint32_t u)
{
    uint32_t cell = u >> (32 - NT_BITS);
    if (cell == 0 || cell == NT_SIZE - 1)
        return (float)inv_phi(((double)u + 0.5) / 4294967296.0);
    float frac = (float)((u & ((1u << (32 - NT_BITS)) - 1)) + 0.5f) * (1.0f / (1u << (32 - NT_BITS)));
    return nt_table[cell] + frac * (nt_table[cell + 1] - nt_table[cell]);
}

/* ---- counter-based hashing (SplitMix64 / MurmurHash3 finalizer) ------------------ */

static inline uint64_t fmix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static inline uint64_t stream_key(uint64_t seed, const mm_tensor_t *t)
{
    return fmix64(seed ^ fmix64(t->id));
}

static inline uint32_t unit_bits(uint64_t key, uint64_t e)
{
    uint64_t h = fmix64(key + ((e >> 1) + 1) * 0x9E3779B97F4A7C15ull);
    return (e & 1) ? (uint32_t)(h >> 32) : (uint32_t)h;
}

static inline float scale(mm_init_t init, float z)
{
    return init == MM_INIT_NORM ? 1.0f + 0.02f * z : 0.02f * z;
}

/* llama3 rope scaling (as llama.cpp's converter writes rope_freqs.weight): for each
 * frequency f_i = theta^(-2i/d), wavelength 2*pi/f_i; short wavelengths keep factor 1,
 * long ones get the scale factor, those in between a smooth blend. */
static float rope_factor(const mm_spec_t *s, uint64_t i)
{
    double freq = pow(s->rope_theta, -2.0 * (double)i / s->head_dim);
    double wavelen = 2 * M_PI / freq;
    double old = s->rope_orig_max_pos > 0 ? s->rope_orig_max_pos : 8192;
    double low_wl = old / (s->rope_low_freq > 0 ? s->rope_low_freq : 1);
    double high_wl = old / (s->rope_high_freq > 0 ? s->rope_high_freq : 4);
    if (wavelen < high_wl)
        return 1.0f;
    if (wavelen > low_wl || s->rope_high_freq == s->rope_low_freq)
        return (float)s->rope_factor;
    double smooth = (old / wavelen - s->rope_low_freq) / (s->rope_high_freq - s->rope_low_freq);
    return (float)(1.0 / ((1 - smooth) / s->rope_factor + smooth));
}

float mm_value(uint64_t seed, const mm_tensor_t *t, uint64_t e)
{
    mm_gen_init();
    return scale(t->init, normal_u32(unit_bits(stream_key(seed, t), e)));
}

/* ---- element types ---------------------------------------------------------------------- */

uint16_t mm_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000)
        return (uint16_t)((x >> 16) | 0x40);                 /* quiet NaN */
    return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16); /* round to nearest even */
}

uint16_t mm_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    x &= 0x7fffffff;
    if (x >= 0x7f800000)                                     /* inf, NaN */
        return sign | (x > 0x7f800000 ? 0x7e00 : 0x7c00);
    if (x >= 0x477ff000)                                     /* >= 65520 rounds to inf */
        return sign | 0x7c00;
    if (x < 0x38800000) {                                    /* below 2^-14: subnormal */
        float a;
        memcpy(&a, &x, 4);
        return sign | (uint16_t)lrintf(a * 16777216.0f);     /* units of 2^-24, exact scale */
    }
    /* normal: round the 23-bit mantissa to 10 bits (nearest even), rebias 127 -> 15 */
    uint32_t r = x + 0xfff + ((x >> 13) & 1) - 0x38000000u;
    return sign | (uint16_t)(r >> 13);
}

/* ---- filling ----------------------------------------------------------------------------- */

/* n consecutive elements (HF order) starting at e into f. */
static void gen_run(const mm_spec_t *s, uint64_t key, const mm_tensor_t *t, uint64_t e,
                    size_t n, float *f)
{
    if (t->init == MM_INIT_ROPE_FREQS) {
        for (size_t i = 0; i < n; i++)
            f[i] = rope_factor(s, e + i);
        return;
    }
    size_t i = 0;
    if (n && (e & 1)) {
        f[i++] = scale(t->init, normal_u32(unit_bits(key, e)));
        e++;
    }
    for (; i + 1 < n; i += 2, e += 2) {   /* one hash gives two values */
        uint64_t h = fmix64(key + ((e >> 1) + 1) * 0x9E3779B97F4A7C15ull);
        f[i] = scale(t->init, normal_u32((uint32_t)h));
        f[i + 1] = scale(t->init, normal_u32((uint32_t)(h >> 32)));
    }
    if (i < n)
        f[i] = scale(t->init, normal_u32(unit_bits(key, e)));
}

static void convert(const float *f, size_t n, mm_dtype_t dt, void *out)
{
    if (dt == MM_F32) {
        memcpy(out, f, n * 4);
    } else if (dt == MM_BF16) {
        uint16_t *o = out;
        for (size_t i = 0; i < n; i++)
            o[i] = mm_f32_to_bf16(f[i]);
    } else {
        uint16_t *o = out;
        for (size_t i = 0; i < n; i++)
            o[i] = mm_f32_to_f16(f[i]);
    }
}

/* Source (HF) row of on-disk row r of a q/k weight in GGUF: llama.cpp's converter
 * reshapes rows to (heads, 2, hd/2) and swaps the last two axes, so disk row
 * h*hd + i*2 + j holds HF row h*hd + j*(hd/2) + i. */
static uint64_t src_row(const mm_tensor_t *t, uint64_t r)
{
    uint64_t hd = t->rows / (uint64_t)t->permute_heads;
    uint64_t h = r / hd, w = r % hd, i = w / 2, j = w % 2;
    return h * hd + j * (hd / 2) + i;
}

void mm_fill(const mm_spec_t *s, uint64_t seed, const mm_tensor_t *t, int gguf,
             mm_dtype_t dtype, uint64_t first, size_t n, void *out)
{
    mm_gen_init();
    enum { BLK = 2048 };
    float f[BLK];
    uint64_t key = stream_key(seed, t);
    size_t esz = mm_dtype_size(dtype);
    int perm = gguf && t->permute_heads > 0 && t->ndim == 2;
    while (n > 0) {
        size_t k = n < BLK ? n : BLK;
        uint64_t src = first;
        if (perm) {                      /* stay within one row */
            uint64_t r = first / t->cols, c = first % t->cols;
            if (k > t->cols - c)
                k = (size_t)(t->cols - c);
            src = src_row(t, r) * t->cols + c;
        }
        gen_run(s, key, t, src, k, f);
        convert(f, k, dtype, out);
        out = (char *)out + k * esz;
        first += k;
        n -= k;
    }
}
