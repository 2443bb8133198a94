/* source.c — backing-store sources: dispatch (plain or packed) and the plain-file source. */
#include "source.h"
#include "fu_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- plain files -----------------------------------------------------------
 *
 * Backing reads must not leave model bytes in the backing page cache (that memory would
 * escape the budget). Each plain source keeps a second descriptor opened with O_DIRECT
 * when the filesystem allows it: a read whose offset and buffer are 4 KiB aligned goes
 * through it for its whole-block part (no page cache at all); the rest (unaligned
 * requests, the tail of the file) is read through the normal descriptor and its pages
 * are dropped right after with posix_fadvise(POSIX_FADV_DONTNEED). A filesystem that
 * refuses O_DIRECT at read time (EINVAL) turns the direct path off for that source. */

#define DIRECT_ALIGN 4096u

typedef struct {
    int dfd;                    /* O_DIRECT descriptor, -1 when unavailable */
    _Atomic int direct_ok;
} plain_priv_t;

static int buffered_read(src_t *s, void *buf, size_t len, uint64_t off)
{
    int rc = fu_pread_full(s->fd, buf, len, off);
    if (rc == 0 && len > 0) {
        uint64_t a = off & ~(uint64_t)(DIRECT_ALIGN - 1);
        (void)posix_fadvise(s->fd, (off_t)a, (off_t)(off + len - a), POSIX_FADV_DONTNEED);
    }
    return rc;
}

static int plain_read(src_t *s, void *buf, size_t len, uint64_t off)
{
    plain_priv_t *p = s->priv;
    size_t head = len & ~(size_t)(DIRECT_ALIGN - 1);
    if (p && p->dfd >= 0 && atomic_load(&p->direct_ok) && head && off % DIRECT_ALIGN == 0 &&
        (uintptr_t)buf % DIRECT_ALIGN == 0) {
        int rc = fu_pread_full(p->dfd, buf, head, off);
        if (rc == -EINVAL) {
            atomic_store(&p->direct_ok, 0);
            return buffered_read(s, buf, len, off);
        }
        if (rc < 0 || head == len)
            return rc;
        return buffered_read(s, (char *)buf + head, len - head, off + head);
    }
    return buffered_read(s, buf, len, off);
}

static void plain_close(src_t *s)
{
    plain_priv_t *p = s->priv;
    if (p && p->dfd >= 0)
        close(p->dfd);
    free(p);
    s->priv = NULL;
}

static const src_ops_t plain_ops = { "plain", plain_read, plain_close };

/* Open a second, O_DIRECT descriptor on the same file as fd (through /proc/self/fd, so
 * that it is the same inode even when the path was replaced). -1 when not possible. */
static int open_direct(int fd)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    return open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
}

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
    plain_priv_t *p = malloc(sizeof *p);
    if (!p) {
        free(s);
        return -ENOMEM;
    }
    p->dfd = open_direct(fd);
    atomic_store(&p->direct_ok, p->dfd >= 0);
    s->priv = p;
    *out = s;
    return 0;
}

/* ---- dispatch ---------------------------------------------------------------- */

/* A source over fd, an open regular file (ownership taken, closed on failure). */
static int open_fd(int fd, const char *name, src_t **out, char *err, size_t errlen)
{
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
        return fu_err(err, errlen, rc, "%s: %s", name, strerror(-rc));
    }
    return 0;
}

int src_open(int dirfd, const char *relpath, src_t **out, char *err, size_t errlen)
{
    /* O_NONBLOCK: a FIFO given by mistake must not hang the caller */
    int fd = openat(dirfd, relpath, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return fu_err(err, errlen, -errno, "%s: cannot open: %s", relpath, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = -errno;
        close(fd);
        return fu_err(err, errlen, e, "%s: %s", relpath, strerror(-e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fu_err(err, errlen, -EINVAL, "%s: not a regular file", relpath);
    }
    return open_fd(fd, relpath, out, err, errlen);
}

int src_open_path(int pathfd, const struct stat *st, const char *name, src_t **out, char *err, size_t errlen)
{
    if (S_ISLNK(st->st_mode))
        return fu_err(err, errlen, -ELOOP, "%s: is a symbolic link now", name);
    if (!S_ISREG(st->st_mode))
        return fu_err(err, errlen, -EINVAL, "%s: not a regular file", name);
    int fd = fu_reopen_regular(pathfd, st);
    if (fd < 0)
        return fu_err(err, errlen, fd, "%s: cannot open: %s", name, strerror(-fd));
    return open_fd(fd, name, out, err, errlen);
}

int src_open_beneath(int rootfd, const char *relpath, src_t **out, char *err, size_t errlen)
{
    int pfd = fu_open_beneath(rootfd, relpath);
    if (pfd < 0)
        return fu_err(err, errlen, pfd, "%s: cannot open without following a link: %s", relpath,
                      strerror(-pfd));
    struct stat st;
    int rc = fstat(pfd, &st) < 0 ? fu_err(err, errlen, -errno, "%s: %s", relpath, strerror(errno))
                                 : src_open_path(pfd, &st, relpath, out, err, errlen);
    close(pfd);
    return rc;
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
