/* tok_regex.c — the pre-tokenizer regexes of GPT-2, Llama 3 and Qwen2 as hand-written
 * matchers (no general regex engine). Each follows the backtracking semantics of
 * Oniguruma (what `tokenizers` uses): alternatives are tried left to right, quantifiers
 * are greedy, and the first alternative that matches at a position wins.
 *
 *   GPT-2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
 *            | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   Qwen2:   as Llama 3 with \p{N} instead of \p{N}{1,3}.
 *
 * Character classes come from tok_unicode.c. A byte that is not valid UTF-8 counts as one
 * character of no class (so it falls in [^\s\p{L}\p{N}]). */
#include <string.h>

#include "tok_internal.h"
#include "tok_unicode.h"

static const char RE_GPT2[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char RE_LLAMA3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RE_QWEN2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const char *tk_re_pattern(int re)
{
    return re == TK_RE_GPT2 ? RE_GPT2 : re == TK_RE_LLAMA3 ? RE_LLAMA3 : re == TK_RE_QWEN2 ? RE_QWEN2 : NULL;
}

int tk_re_identify(const char *pattern)
{
    if (strcmp(pattern, RE_GPT2) == 0)
        return TK_RE_GPT2;
    if (strcmp(pattern, RE_LLAMA3) == 0)
        return TK_RE_LLAMA3;
    if (strcmp(pattern, RE_QWEN2) == 0)
        return TK_RE_QWEN2;
    return TK_RE_NONE;
}

/* ---- character access ------------------------------------------------------- */

typedef struct {
    uint32_t cp, fl;
    size_t len;
} ch_t;

static ch_t ch_at(const uint8_t *s, size_t n, size_t i)
{
    ch_t c;
    c.len = tk_utf8_next(s + i, n - i, &c.cp);
    c.fl = tk_uc_flags(c.cp);
    return c;
}

#define IS_L(c) ((c).fl & TK_UC_L)
#define IS_N(c) ((c).fl & TK_UC_N)
#define IS_S(c) ((c).fl & TK_UC_SPACE)
#define IS_OTHER(c) (!((c).fl & (TK_UC_L | TK_UC_N | TK_UC_SPACE)))

/* End of the run of characters having class flag `fl` (or "other" when fl == 0). */
static size_t run_end(const uint8_t *s, size_t n, size_t i, uint32_t fl)
{
    while (i < n) {
        if (s[i] < 0x80 && fl) { /* ASCII fast path */
            if (!(tk_uc_flags(s[i]) & fl))
                break;
            i++;
            continue;
        }
        ch_t c = ch_at(s, n, i);
        if (fl ? !(c.fl & fl) : !IS_OTHER(c))
            break;
        i += c.len;
    }
    return i;
}

/* Simple case folding for the contraction letters: ASCII, and U+017F LATIN SMALL LETTER
 * LONG S which folds to 's'. */
static uint32_t fold(uint32_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c + 32;
    if (c == 0x17F)
        return 's';
    return c;
}

/* 's|'t|'re|'ve|'m|'ll|'d at i (case-insensitive when icase). Returns the match length. */
static size_t contraction(const uint8_t *s, size_t n, size_t i, int icase)
{
    if (s[i] != '\'' || i + 1 >= n)
        return 0;
    ch_t a = ch_at(s, n, i + 1);
    uint32_t c = icase ? fold(a.cp) : a.cp;
    if (c == 's' || c == 't' || c == 'm' || c == 'd')
        return 1 + a.len;
    uint32_t want = c == 'r' || c == 'v' ? 'e' : c == 'l' ? 'l' : 0;
    if (!want || i + 1 + a.len >= n)
        return 0;
    ch_t b = ch_at(s, n, i + 1 + a.len);
    uint32_t d = icase ? fold(b.cp) : b.cp;
    return d == want ? 1 + a.len + b.len : 0;
}

/* The whitespace alternatives at i (c0 is whitespace):
 *   with_nl: \s*[\r\n]+  — up to and including the last \r or \n of the run;
 *   \s+(?!\S)            — the run, minus its last character unless it ends the text;
 *   \s+                  — the run. */
static size_t spaces(const uint8_t *s, size_t n, size_t i, int with_nl)
{
    size_t e = i, last = i, nl = SIZE_MAX;
    while (e < n) {
        ch_t c = ch_at(s, n, e);
        if (!IS_S(c))
            break;
        if (c.cp == '\r' || c.cp == '\n')
            nl = e;
        last = e;
        e += c.len;
    }
    if (with_nl && nl != SIZE_MAX)
        return nl + 1 - i;
    if (e == n)
        return e - i;
    if (last > i)
        return last - i;
    return e - i;
}

static size_t match_gpt2(const uint8_t *s, size_t n, size_t i)
{
    size_t k = contraction(s, n, i, 0);
    if (k)
        return k;
    ch_t c0 = ch_at(s, n, i);
    size_t j = i;
    ch_t c = c0;
    if (c0.cp == ' ' && i + 1 < n) { /* " ?" takes the space when a class char follows */
        ch_t c1 = ch_at(s, n, i + 1);
        if (!IS_S(c1)) {
            j = i + 1;
            c = c1;
        }
    }
    if (IS_L(c))
        return run_end(s, n, j, TK_UC_L) - i;
    if (IS_N(c))
        return run_end(s, n, j, TK_UC_N) - i;
    if (IS_OTHER(c))
        return run_end(s, n, j, 0) - i;
    if (IS_S(c0))
        return spaces(s, n, i, 0);
    return 0;
}

static size_t match_llama(const uint8_t *s, size_t n, size_t i, int maxdig)
{
    size_t k = contraction(s, n, i, 1);
    if (k)
        return k;
    ch_t c0 = ch_at(s, n, i);
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (IS_L(c0))
        return run_end(s, n, i, TK_UC_L) - i;
    if (!IS_N(c0) && c0.cp != '\r' && c0.cp != '\n' && i + c0.len < n) {
        ch_t c1 = ch_at(s, n, i + c0.len);
        if (IS_L(c1))
            return run_end(s, n, i + c0.len, TK_UC_L) - i;
    }
    /* \p{N}{1,maxdig} */
    if (IS_N(c0)) {
        size_t j = i;
        for (int cnt = 0; cnt < maxdig && j < n; cnt++) {
            ch_t c = ch_at(s, n, j);
            if (!IS_N(c))
                break;
            j += c.len;
        }
        return j - i;
    }
    /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
    size_t j = i;
    if (c0.cp == ' ' && i + 1 < n && IS_OTHER(ch_at(s, n, i + 1)))
        j = i + 1;
    if (j > i || IS_OTHER(c0)) {
        j = run_end(s, n, j, 0);
        while (j < n && (s[j] == '\r' || s[j] == '\n'))
            j++;
        return j - i;
    }
    if (IS_S(c0))
        return spaces(s, n, i, 1);
    return 0;
}

size_t tk_re_match_at(int re, const uint8_t *s, size_t n, size_t pos)
{
    if (pos >= n)
        return 0;
    switch (re) {
    case TK_RE_GPT2:
        return match_gpt2(s, n, pos);
    case TK_RE_LLAMA3:
        return match_llama(s, n, pos, 3);
    case TK_RE_QWEN2:
        return match_llama(s, n, pos, 1);
    default:
        return 0;
    }
}
