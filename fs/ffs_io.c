/* ffs_io.c — the FUSE device I/O of the session: plain read()/writev() on /dev/fuse, except
 * that O_TMPFILE requests (FUSE_TMPFILE, which libfuse 3.14 does not know and would answer
 * ENOSYS, turned into EOPNOTSUPP by the kernel) are answered EROFS here, like every other
 * attempt to create something on this read-only mount. */
#include "ffs_io.h"

#include <errno.h>
#include <linux/fuse.h>
#include <sys/uio.h>
#include <unistd.h>

static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
    (void)userdata;
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n < (ssize_t)sizeof(struct fuse_in_header))
            return n;
        const struct fuse_in_header *in = buf;
        if (in->opcode != FUSE_TMPFILE)
            return n;
        struct fuse_out_header out = { sizeof out, -EROFS, in->unique };
        if (write(fd, &out, sizeof out) < 0 && errno != ENOENT)
            return -1; /* ENOENT: the request was interrupted; anything else ends the loop */
    }
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
    (void)userdata;
    return writev(fd, iov, count);
}

int ffs_io_install(struct fuse_session *se)
{
    static const struct fuse_custom_io io = { .read = io_read, .writev = io_writev };
    return fuse_session_custom_io(se, &io, fuse_session_fd(se)) == 0 ? 0 : -EINVAL;
}
