/* util_size.c — parsing and printing byte sizes ("2G", "512MiB", "25%").
 *
 * The one size grammar of flashfs (--ram, the `ram` control command, tools):
 *   [spaces] DIGITS [ "." DIGITS ] [spaces] [ UNIT ] [spaces]
 *   UNIT: B | K[i][B] | M[i][B] | G[i][B] | T[i][B] (binary, case-insensitive) | %
 * Decimal only: hexadecimal ("0x40M"), exponents ("1e19"), signs, "inf"/"nan" are refused;
 * the value is computed in integers (128-bit intermediate), overflow is -ERANGE. */
#include "fu_util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define FRAC_DIGITS 9   /* fraction digits taken into account (more are ignored) */

uint64_t fu_phys_ram(void)
{
    long pages = sysconf(_SC_PHYS_PAGES);
    long psz = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || psz <= 0)
        return 0;
    return (uint64_t)pages * (uint64_t)psz;
}

int fu_parse_size(const char *s, uint64_t *out)
{
    if (!s)
        return -EINVAL;
    while (isspace((unsigned char)*s))
        s++;
    if (!isdigit((unsigned char)*s))
        return -EINVAL;
    unsigned __int128 ip = 0;           /* integer part, saturated past 2^64 */
    int big = 0;
    for (; isdigit((unsigned char)*s); s++) {
        ip = ip * 10 + (unsigned)(*s - '0');
        if (ip > UINT64_MAX) {
            big = 1;
            ip = (unsigned __int128)UINT64_MAX + 1;
        }
    }
    uint64_t fnum = 0, fden = 1;
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s))
            return -EINVAL;
        for (int k = 0; isdigit((unsigned char)*s); s++, k++)
            if (k < FRAC_DIGITS) {
                fnum = fnum * 10 + (uint64_t)(*s - '0');
                fden *= 10;
            }
    }
    while (isspace((unsigned char)*s))
        s++;
    unsigned __int128 mul = 1, r;
    if (*s == '%') {
        uint64_t ram = fu_phys_ram();
        s++;
        while (isspace((unsigned char)*s))
            s++;
        if (*s || !ram || big || ip > 100 || (ip == 100 && fnum))
            return -EINVAL;
        r = ((ip * fden + fnum) * ram) / ((unsigned __int128)fden * 100);
        *out = (uint64_t)r;
        return 0;
    }
    if (*s) {
        int shift;
        switch (toupper((unsigned char)*s)) {
        case 'B': shift = 0; break;
        case 'K': shift = 10; break;
        case 'M': shift = 20; break;
        case 'G': shift = 30; break;
        case 'T': shift = 40; break;
        default: return -EINVAL;
        }
        s++;
        if (shift) {
            if (*s == 'i' || *s == 'I')
                s++;
            if (*s == 'b' || *s == 'B')
                s++;
        }
        mul = (unsigned __int128)1 << shift;
    }
    while (isspace((unsigned char)*s))
        s++;
    if (*s)
        return -EINVAL;
    if (big)
        return -ERANGE;
    r = ip * mul + (unsigned __int128)fnum * mul / fden;
    if (r > UINT64_MAX)
        return -ERANGE;
    *out = (uint64_t)r;
    return 0;
}

int fu_parse_ram(const char *s, int force, uint64_t *out)
{
    uint64_t v;
    int rc = fu_parse_size(s, &v);
    if (rc < 0)
        return rc;
    uint64_t ram = fu_phys_ram();
    if (!force && ram && v > ram)
        return -E2BIG;
    *out = v;
    return 0;
}

char *fu_format_size(uint64_t bytes, char *buf, size_t len)
{
    static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, len, "%.2f %s", v, units[u]);
    return buf;
}
