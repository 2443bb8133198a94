/* source.c — backing-store sources: dispatch (plain or packed) and the plain-file source. */
#include "source.h"
#include "fu_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- plain files ----------------------------------------------------------- */

/* Read with the normal page cache, then drop the pages we pulled in so the backing
 * page cache does not hold model bytes behind flashfs' back. */
static int plain_read(src_t *s, void *buf, size_t len, uint64_t off)
{
    int rc = fu_pread_full(s->fd, buf, len, off);
    if (rc == 0 && len > 0) {
        uint64_t a = off & ~(uint64_t)4095;
        (void)posix_fadvise(s->fd, (off_t)a, (off_t)(off + len - a), POSIX_FADV_DONTNEED);
    }
    return rc;
}

static void plain_close(src_t *s)
{
    (void)s;
}

static const src_ops_t plain_ops = { "plain", plain_read, plain_close };

static int fill_identity(src_t *s)
{
    struct stat st;
    if (fstat(s->fd, &st) < 0)
        return -errno;
    s->size = (uint64_t)st.st_size;
    s->stored_size = (uint64_t)st.st_size;
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec;
    return 0;
}

int src_plain_open(int fd, src_t **out)
{
    src_t *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->ops = &plain_ops;
    s->fd = fd;
    int rc = fill_identity(s);
    if (rc < 0) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* ---- dispatch ---------------------------------------------------------------- */

int src_open(int dirfd, const char *relpath, src_t **out, char *err, size_t errlen)
{
    int fd = openat(dirfd, relpath, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fu_err(err, errlen, -errno, "%s: cannot open: %s", relpath, strerror(errno));
    int rc = src_packed_try_open(fd, out, err, errlen);
    if (rc == 1)
        return 0;
    if (rc < 0) {
        close(fd);
        return rc;
    }
    rc = src_plain_open(fd, out);
    if (rc < 0) {
        close(fd);
        return fu_err(err, errlen, rc, "%s: %s", relpath, strerror(-rc));
    }
    return 0;
}

int src_read(src_t *s, void *buf, size_t len, uint64_t off)
{
    if (off > s->size || len > s->size - off)
        return -EINVAL;
    return s->ops->read(s, buf, len, off);
}

int src_read_fn(void *ctx, void *buf, size_t len, uint64_t off)
{
    src_t *s = ctx;
    if (off > s->size || len > s->size - off)
        return -EIO;
    return s->ops->read(s, buf, len, off);
}

void src_close(src_t *s)
{
    if (!s)
        return;
    s->ops->close(s);
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}
