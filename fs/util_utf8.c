/* util_utf8.c — UTF-8 sequence validation shared by the JSON pre-checks and the tokenizer.
 *
 * Well-formed sequences (RFC 3629, Unicode table 3-7):
 *   1 byte  00..7F
 *   2 bytes C2..DF 80..BF                                  (C0, C1 would be overlong)
 *   3 bytes E0 A0..BF 80..BF | E1..EC 80..BF 80..BF        (E0 80..9F overlong)
 *           | ED 80..9F 80..BF | EE..EF 80..BF 80..BF      (ED A0..BF: surrogates)
 *   4 bytes F0 90..BF 80..BF 80..BF | F1..F3 80..BF x3     (F0 80..8F overlong)
 *           | F4 80..8F 80..BF 80..BF                      (F4 90.., F5..FF: > U+10FFFF) */
#include "fu_util.h"

size_t fu_utf8_prefix(const uint8_t *s, size_t n, size_t *full)
{
    uint8_t c = s[0];
    uint8_t lo = 0x80, hi = 0xBF;
    size_t need;
    if (c < 0x80) {
        *full = 1;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        *full = 0;
        return 0;
    }
    *full = need;
    size_t i = 1;
    if (i < n && s[i] >= lo && s[i] <= hi) { /* only the second byte has a narrowed range */
        i++;
        while (i < n && i < need && s[i] >= 0x80 && s[i] <= 0xBF)
            i++;
    }
    return i;
}

size_t fu_utf8_seq(const uint8_t *s, size_t n)
{
    size_t full, got = fu_utf8_prefix(s, n, &full);
    return full != 0 && got == full ? full : 0;
}
