/* util_num.c — strict parsing of numbers given on command lines (see fu_util.h). */
#include "fu_util.h"

#include <errno.h>
#include <stdlib.h>

int fu_parse_long(const char *s, long lo, long hi, long *v)
{
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (errno || end == s || *end || x < lo || x > hi)
        return -EINVAL;
    *v = x;
    return 0;
}

int fu_parse_double(const char *s, double lo, double hi, double *v)
{
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno || end == s || *end || !(x >= lo && x <= hi))
        return -EINVAL;
    *v = x;
    return 0;
}
