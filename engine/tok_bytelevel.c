/* tok_bytelevel.c — GPT-2's byte <-> unicode map used by ByteLevel pre-tokenizer/decoder.
 *
 * Every byte gets a printable character so that BPE can work on text: the bytes
 * '!'..'~', 0xA1..0xAC and 0xAE..0xFF map to the code point of the same value; the
 * other 68 bytes (controls, space, 0x7F..0xA0, 0xAD), in increasing order, map to
 * U+0100, U+0101, ... (so ' ' becomes U+0120 'Ġ' and '\n' becomes U+010A 'Ċ'). */
#include "tok_internal.h"

static int printable(unsigned b)
{
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

/* The non-printable bytes are 0x00..0x20 (33 of them), 0x7F..0xA0 (34) and 0xAD (1). */
uint32_t tk_byte_to_cp(uint8_t b)
{
    if (printable(b))
        return b;
    if (b <= 0x20)
        return 256u + b;
    if (b >= 0x7F && b <= 0xA0)
        return 256u + 33 + (b - 0x7Fu);
    return 256u + 67; /* 0xAD */
}

int tk_cp_to_byte(uint32_t cp)
{
    if (cp < 256)
        return printable(cp) ? (int)cp : -1;
    if (cp <= 256 + 32)
        return (int)(cp - 256);
    if (cp <= 256 + 66)
        return (int)(cp - 256 - 33 + 0x7F);
    if (cp == 256 + 67)
        return 0xAD;
    return -1;
}

int tk_bytelevel_map(tk_buf_t *out, const uint8_t *s, size_t n)
{
    int rc = tk_buf_reserve(out, n * 2);
    if (rc)
        return rc;
    char *o = out->p + out->len;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = s[i];
        if (b >= '!' && b <= '~') {
            *o++ = (char)b;
        } else {
            uint32_t cp = tk_byte_to_cp(b);
            *o++ = (char)(0xC0 | cp >> 6);
            *o++ = (char)(0x80 | (cp & 0x3F));
        }
    }
    out->len = (size_t)(o - out->p);
    out->p[out->len] = '\0';
    return 0;
}
