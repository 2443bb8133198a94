/* util_io.c — full reads and writes, whole-file loading and copying, positional reader adapters. */
#include "fu_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fu_mem_read(void *ctx, void *buf, size_t len, uint64_t off)
{
    const fu_mem_t *m = ctx;
    if (off > m->size || len > m->size - off)
        return -EIO;
    memcpy(buf, (const char *)m->data + off, len);
    return 0;
}

int fu_fd_read(void *ctx, void *buf, size_t len, uint64_t off)
{
    return fu_pread_full((int)(intptr_t)ctx, buf, len, off);
}

int fu_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    char *p = buf;
    while (len > 0) {
        if (off > (uint64_t)INT64_MAX)
            return -EOVERFLOW;
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

int fu_open_sized(const char *path, int *fd, uint64_t *size, char *err, size_t errlen)
{
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return fu_err(err, errlen, -errno, "%s: cannot open (%s)", path, strerror(errno));
    struct stat sb;
    if (fstat(f, &sb) < 0) {
        int e = -errno;
        close(f);
        return fu_err(err, errlen, e, "%s: cannot stat (%s)", path, strerror(-e));
    }
    *fd = f;
    *size = (uint64_t)sb.st_size;
    return 0;
}

int fu_write_full(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int fu_copy_file(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -errno;
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        int e = -errno;
        close(in);
        return e;
    }
    char buf[65536];
    int rc = 0;
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            break;
        }
        if (n == 0)
            break;
        if ((rc = fu_write_full(out, buf, (size_t)n)) != 0)
            break;
    }
    close(in);
    if (close(out) != 0 && rc == 0)
        rc = -errno;
    return rc;
}

int fu_read_file(const char *path, size_t max_len, char **out, size_t *out_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return -EINVAL;
    }
    if ((uint64_t)st.st_size > max_len) {
        close(fd);
        return -EFBIG;
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    int rc = fu_pread_full(fd, buf, n, 0);
    close(fd);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    if (out_len)
        *out_len = n;
    return 0;
}
