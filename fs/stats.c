/* stats.c — counters of the mount (see stats.h). */
#include "stats.h"
#include "fu_util.h"

#include <string.h>

const char *const sx_rs_names[SX_RS_N] = { "4K", "64K", "256K", "1M", ">1M" };

void sx_init(sx_stats_t *s)
{
    memset(s, 0, sizeof *s);
    s->start_ns = fu_now_ns();
}

void sx_read_size(sx_stats_t *s, uint64_t size)
{
    int b = size <= 4096 ? SX_RS_4K
          : size <= 65536 ? SX_RS_64K
          : size <= 262144 ? SX_RS_256K
          : size <= 1048576 ? SX_RS_1M : SX_RS_BIG;
    sx_add(&s->read_sizes[b], 1);
}
