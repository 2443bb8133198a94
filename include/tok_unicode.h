/* tok_unicode.h — Unicode character classes for the tokenizer's pre-tokenizer patterns
 * (prefix tk_uc_). The table itself is generated (engine/tok_unicode_data.c, made by
 * tools/gen_unicode_tables.py from the Unicode Character Database). */
#ifndef TOK_UNICODE_H
#define TOK_UNICODE_H

#include <stddef.h>
#include <stdint.h>

enum {
    TK_UC_L = 1,     /* \p{L}: General_Category L* */
    TK_UC_N = 2,     /* \p{N}: General_Category N* */
    TK_UC_SPACE = 4, /* Oniguruma \s: U+0009..U+000D, U+0085, Zs, Zl, Zp (= White_Space) */
    TK_UC_WORD = 8,  /* Rust regex \w: Alphabetic, M*, Nd, Pc, Join_Control */
};

/* One range of code points sharing the same flags. */
typedef struct {
    uint32_t lo, hi;
    uint32_t flags;
} tk_uc_range_t;

extern const tk_uc_range_t tk_uc_ranges[];
extern const size_t tk_uc_nranges;

/* TK_UC_* flags of code point cp (0 for unassigned, out-of-range or invalid-byte values). */
uint32_t tk_uc_flags(uint32_t cp);

#endif
