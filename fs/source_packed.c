/* source_packed.c — packed (zstd seekable) sources. Placeholder until the packed-file
 * module lands: no file is recognised as packed yet. */
#include "source.h"

int src_packed_try_open(int fd, src_t **out, char *err, size_t errlen)
{
    (void)fd;
    (void)out;
    (void)err;
    (void)errlen;
    return 0;
}
