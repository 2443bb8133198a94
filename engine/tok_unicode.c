/* tok_unicode.c — character-class lookup over the generated range table.
 * ASCII is answered inline (letters, digits, '_', the six ASCII spaces); everything
 * else by a binary search over the sorted ranges (a few hundred, so ~10 probes). */
#include "tok_unicode.h"

static uint32_t search(uint32_t cp)
{
    size_t lo = 0, hi = tk_uc_nranges;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < tk_uc_ranges[mid].lo)
            hi = mid;
        else if (cp > tk_uc_ranges[mid].hi)
            lo = mid + 1;
        else
            return tk_uc_ranges[mid].flags;
    }
    return 0;
}

uint32_t tk_uc_flags(uint32_t cp)
{
    if (cp < 128) {
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')
            return TK_UC_L | TK_UC_WORD;
        if (cp >= '0' && cp <= '9')
            return TK_UC_N | TK_UC_WORD;
        if (cp == '_')
            return TK_UC_WORD;
        if (cp == ' ' || (cp >= 9 && cp <= 13))
            return TK_UC_SPACE;
        return 0;
    }
    return search(cp);
}
