/* source_packed.c — packed (zstd seekable, flashfs-pack) sources: src_open serves a
 * packed file's logical bytes transparently through a pk_reader (see pack.h). */
#include "source.h"
#include "pack.h"
#include "fu_util.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int packed_read(src_t *s, void *buf, size_t len, uint64_t off)
{
    return pk_reader_read(s->priv, buf, len, off);
}

static void packed_close(src_t *s)
{
    pk_reader_close(s->priv);
    s->priv = NULL;
}

static const src_ops_t packed_ops = { "packed", packed_read, packed_close };

/* Name of the file behind fd for log lines (its path when /proc tells it). */
static void fd_name(int fd, char *name, size_t len)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, name, len - 1);
    if (n > 0)
        name[n] = 0;
    else
        snprintf(name, len, "fd %d", fd);
}

int src_packed_try_open(int fd, src_t **out, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return fu_err(err, errlen, -errno, "cannot stat: %s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return 0;
    int rc = pk_probe(fu_fd_read, (void *)(intptr_t)fd, (uint64_t)st.st_size);
    if (rc <= 0)
        return rc < 0 ? fu_err(err, errlen, rc, "cannot read: %s", strerror(-rc)) : 0;
    char name[PATH_MAX];
    fd_name(fd, name, sizeof name);
    pk_reader_t *r;
    rc = pk_reader_open(fd, name, &r, err, errlen);
    if (rc < 0)
        return rc;
    src_t *s = calloc(1, sizeof *s);
    if (!s) {
        pk_reader_close(r);
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    }
    s->ops = &packed_ops;
    s->fd = fd;
    s->size = pk_reader_table(r)->logical_size;
    s->stored_size = (uint64_t)st.st_size;
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec;
    s->priv = r;
    *out = s;
    return 1;
}

uint64_t pk_src_errors(const src_t *s)
{
    return s && s->ops == &packed_ops ? pk_reader_errors(s->priv) : 0;
}

uint64_t pk_src_stored_read(const src_t *s)
{
    return s && s->ops == &packed_ops ? pk_reader_stored_read(s->priv) : 0;
}

void pk_src_defer_readahead(src_t *s, const _Atomic int *busy)
{
    if (s && s->ops == &packed_ops)
        pk_reader_defer_readahead(s->priv, busy);
}
