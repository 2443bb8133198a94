/* pack_group.c — byte grouping transforms of packed frames (prefix pk_).
 *
 * Floating-point weights compress badly as a byte stream: every element mixes a few
 * bits of low-entropy exponent with many bits of near-random mantissa. Splitting the
 * bytes into planes puts the exponent bytes next to each other, where zstd's Huffman
 * literal coder gets them to ~2.6 bits; the mantissa planes stay ~8 bits.
 *
 *   PK_T_G2   elements of 2 bytes b0 b1:        plane 0 = all b0, plane 1 = all b1
 *   PK_T_G4   elements of 4 bytes b0 b1 b2 b3:  planes 0..3 likewise
 *   PK_T_BF16 bf16 v (little-endian u16, s eeeeeeee mmmmmmm):
 *             plane 0 = s<<7 | m  (sign + 7 mantissa bits: near random)
 *             plane 1 = e         (the whole 8-bit exponent in one byte)
 *             A plain 2-plane split would leave the exponent's low bit in the mantissa
 *             byte and the sign bit in the exponent byte; rotating them gains ~0.5%.
 *
 * With n = len / width elements, the tail len % width is copied unchanged after the
 * planes, so every transform is a bijection on byte strings of any length. */
#include "pack.h"

#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

unsigned pk_transform_width(unsigned t)
{
    switch (t) {
    case PK_T_G2:
    case PK_T_BF16:
        return 2;
    case PK_T_G4:
        return 4;
    default:
        return 1;
    }
}

const char *pk_transform_name(unsigned t)
{
    static const char *names[PK_T_COUNT] = { "skip", "none", "g2", "bf16", "g4" };
    return t < PK_T_COUNT ? names[t] : "?";
}

void pk_group(unsigned t, const uint8_t *in, uint8_t *out, size_t len)
{
    unsigned w = pk_transform_width(t);
    size_t n = len / w;
    if (t == PK_T_G2) {
        for (size_t i = 0; i < n; i++) {
            out[i] = in[2 * i];
            out[n + i] = in[2 * i + 1];
        }
    } else if (t == PK_T_BF16) {
        for (size_t i = 0; i < n; i++) {
            uint8_t lo = in[2 * i], hi = in[2 * i + 1];
            out[i] = (uint8_t)((hi & 0x80) | (lo & 0x7f));          /* s<<7 | m */
            out[n + i] = (uint8_t)((hi << 1) | (lo >> 7));           /* e */
        }
    } else if (t == PK_T_G4) {
        for (size_t i = 0; i < n; i++) {
            out[i] = in[4 * i];
            out[n + i] = in[4 * i + 1];
            out[2 * n + i] = in[4 * i + 2];
            out[3 * n + i] = in[4 * i + 3];
        }
    } else {
        n = 0;
        w = 1;
    }
    memcpy(out + n * w, in + n * w, len - n * w);
}

#ifdef __SSE2__
/* SSE2 inverses (x86-64 baseline), 16 elements per step; return how many elements they
 * did (the scalar loops finish the rest). Decoding is on the read path of the mount, so
 * this matters: the scalar bf16 loop ran at ~0.5 GB/s there. */
static size_t ungroup_g2_sse2(const uint8_t *in, uint8_t *out, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i lo = _mm_loadu_si128((const __m128i *)(in + i));
        __m128i hi = _mm_loadu_si128((const __m128i *)(in + n + i));
        _mm_storeu_si128((__m128i *)(out + 2 * i), _mm_unpacklo_epi8(lo, hi));
        _mm_storeu_si128((__m128i *)(out + 2 * i + 16), _mm_unpackhi_epi8(lo, hi));
    }
    return i;
}

/* bf16: w = sm | e << 8 per 16-bit lane, then v = (w & 0x80) << 8 | (w >> 1) & 0x7f80 | w & 0x7f */
static inline __m128i bf16_fix(__m128i w)
{
    __m128i s = _mm_slli_epi16(_mm_and_si128(w, _mm_set1_epi16(0x0080)), 8);
    __m128i e = _mm_and_si128(_mm_srli_epi16(w, 1), _mm_set1_epi16(0x7f80));
    __m128i m = _mm_and_si128(w, _mm_set1_epi16(0x007f));
    return _mm_or_si128(s, _mm_or_si128(e, m));
}

static size_t ungroup_bf16_sse2(const uint8_t *in, uint8_t *out, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i sm = _mm_loadu_si128((const __m128i *)(in + i));
        __m128i e = _mm_loadu_si128((const __m128i *)(in + n + i));
        _mm_storeu_si128((__m128i *)(out + 2 * i), bf16_fix(_mm_unpacklo_epi8(sm, e)));
        _mm_storeu_si128((__m128i *)(out + 2 * i + 16), bf16_fix(_mm_unpackhi_epi8(sm, e)));
    }
    return i;
}

static size_t ungroup_g4_sse2(const uint8_t *in, uint8_t *out, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i b0 = _mm_loadu_si128((const __m128i *)(in + i));
        __m128i b1 = _mm_loadu_si128((const __m128i *)(in + n + i));
        __m128i b2 = _mm_loadu_si128((const __m128i *)(in + 2 * n + i));
        __m128i b3 = _mm_loadu_si128((const __m128i *)(in + 3 * n + i));
        __m128i l01 = _mm_unpacklo_epi8(b0, b1), h01 = _mm_unpackhi_epi8(b0, b1);
        __m128i l23 = _mm_unpacklo_epi8(b2, b3), h23 = _mm_unpackhi_epi8(b2, b3);
        _mm_storeu_si128((__m128i *)(out + 4 * i), _mm_unpacklo_epi16(l01, l23));
        _mm_storeu_si128((__m128i *)(out + 4 * i + 16), _mm_unpackhi_epi16(l01, l23));
        _mm_storeu_si128((__m128i *)(out + 4 * i + 32), _mm_unpacklo_epi16(h01, h23));
        _mm_storeu_si128((__m128i *)(out + 4 * i + 48), _mm_unpackhi_epi16(h01, h23));
    }
    return i;
}
#endif

void pk_ungroup(unsigned t, const uint8_t *in, uint8_t *out, size_t len)
{
    unsigned w = pk_transform_width(t);
    size_t n = len / w, i = 0;
    if (t == PK_T_G2) {
#ifdef __SSE2__
        i = ungroup_g2_sse2(in, out, n);
#endif
        for (; i < n; i++) {
            out[2 * i] = in[i];
            out[2 * i + 1] = in[n + i];
        }
    } else if (t == PK_T_BF16) {
#ifdef __SSE2__
        i = ungroup_bf16_sse2(in, out, n);
#endif
        for (; i < n; i++) {
            uint8_t sm = in[i], e = in[n + i];
            out[2 * i] = (uint8_t)((e << 7) | (sm & 0x7f));
            out[2 * i + 1] = (uint8_t)((sm & 0x80) | (e >> 1));
        }
    } else if (t == PK_T_G4) {
#ifdef __SSE2__
        i = ungroup_g4_sse2(in, out, n);
#endif
        for (; i < n; i++) {
            out[4 * i] = in[i];
            out[4 * i + 1] = in[n + i];
            out[4 * i + 2] = in[2 * n + i];
            out[4 * i + 3] = in[3 * n + i];
        }
    } else {
        n = 0;
        w = 1;
    }
    memcpy(out + n * w, in + n * w, len - n * w);
}
