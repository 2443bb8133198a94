/* ffs_trace.c — the READ trace of a mount (FLASHFS_TRACE=FILE; see ffs.h). One line per
 * READ of a model file, written with one write() to an O_APPEND descriptor (atomic for
 * lines this short, so the worker threads' lines never interleave):
 *
 *   t_us tid ino off len group cyc pos hit
 *
 * t_us: microseconds since the mount started; tid: the thread of the reader that caused
 * the READ (FUSE passes the faulting or reading thread's id); group / cyc: the layer group
 * and cyclic position of the chunk holding `off` (-1 when none); pos: the reader position
 * after this READ; hit: 1 when prefetched buffers served it. */
#include "ffs.h"
#include "fu_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int ffs_trace_open(ffs_t *fs)
{
    const char *p = getenv("FLASHFS_TRACE");
    if (!p || !*p)
        return 0;
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    fs->trace_fd = fd;
    return 0;
}

void ffs_trace_read(ffs_t *fs, fuse_req_t req, const ca_file_t *f, uint64_t off, size_t len, int hit)
{
    if (fs->trace_fd < 0)
        return;
    int group = -1;
    long long cyc = -1;
    size_t k = (size_t)(off >> CA_CHUNK_SHIFT);
    if (f) {
        size_t n = __atomic_load_n(&f->n_chunks, __ATOMIC_ACQUIRE);
        const ca_chunk_t *ch = __atomic_load_n(&f->chunks, __ATOMIC_ACQUIRE);
        if (k < n) {
            group = ch[k].group;
            cyc = ch[k].cyc == CA_NO_CYC ? -1 : (long long)ch[k].cyc;
        }
    }
    char line[160];
    int l = snprintf(line, sizeof line, "%llu %d %llu %llu %zu %d %lld %u %d\n",
                     (unsigned long long)((fu_now_ns() - fs->sx.start_ns) / 1000), (int)fuse_req_ctx(req)->pid,
                     (unsigned long long)(f ? f->ino : 0), (unsigned long long)off, len, group, cyc,
                     (unsigned)atomic_load(&fs->ca.pos), hit);
    if (l > 0 && (size_t)l < sizeof line && write(fs->trace_fd, line, (size_t)l) != l)
        fu_log(FU_LOG_DEBUG, "trace: write failed");
}
