/* util_open.c — opening a path under a containment root without following any link.
 *
 * fu_open_beneath() resolves RELPATH under the directory ROOTFD with openat2(2) and
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS: no component may be a
 * symbolic link (not even one pointing inside the root), ".." may not climb above the
 * root, absolute paths are refused. It returns an O_PATH descriptor, which opens nothing
 * (a FIFO does not block, a device driver is not called); the caller fstat()s it and
 * decides. A trailing symlink gives an O_PATH descriptor of the link itself (S_ISLNK).
 *
 * Fallback when the kernel has no openat2 (ENOSYS, Linux < 5.6): the path is walked one
 * component at a time with openat(O_PATH | O_NOFOLLOW), refusing "", "." and ".."
 * components, every intermediate one must be a directory (a link there fails with ENOTDIR
 * because O_PATH|O_NOFOLLOW opens the link itself; reported as ELOOP like openat2 does).
 * Same guarantees for canonical paths, one syscall per component ("d/../x", which openat2
 * accepts when it stays beneath, is refused).
 *
 * fu_reopen_regular() turns such an O_PATH descriptor of a regular file into a readable
 * one through /proc/self/fd/N: that reopens exactly the inode already checked (no second
 * path walk that could meet a swapped-in FIFO or device). O_NOFOLLOW cannot be used there
 * (the /proc entry is itself a magic link); the inode is verified after the open instead. */
#include "fu_util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_COMPONENT 255

/* The walk, with `flags` for the last component (O_NOFOLLOW and O_CLOEXEC added). */
static int walk_flags(int rootfd, const char *relpath, int flags)
{
    if (!relpath || !relpath[0] || relpath[0] == '/')
        return -EXDEV;
    int dfd = -1;   /* -1: still at rootfd */
    const char *p = relpath;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        char comp[MAX_COMPONENT + 1];
        if (len == 0 || len > MAX_COMPONENT || (len == 1 && p[0] == '.') ||
            (len == 2 && p[0] == '.' && p[1] == '.')) {
            if (dfd >= 0)
                close(dfd);
            return -EXDEV;
        }
        memcpy(comp, p, len);
        comp[len] = '\0';
        int at = dfd >= 0 ? dfd : rootfd;
        int fd = openat(at, comp, (slash ? O_PATH | O_DIRECTORY : flags) | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        struct stat st;
        /* a link as a directory component: the same answer as openat2's */
        if (fd < 0 && e == ENOTDIR && fstatat(at, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
            e = ELOOP;
        if (dfd >= 0)
            close(dfd);
        if (fd < 0)
            return -e;
        if (!slash)
            return fd;
        dfd = fd;
        p = slash + 1;
    }
}

int fu_open_beneath_walk(int rootfd, const char *relpath)
{
    return walk_flags(rootfd, relpath, O_PATH);
}

int fu_open_beneath_flags(int rootfd, const char *relpath, int flags)
{
    if (relpath && !relpath[0]) {       /* the root itself */
        int fd = openat(rootfd, ".", flags | O_CLOEXEC);
        return fd >= 0 ? fd : -errno;
    }
    if (!relpath || relpath[0] == '/')
        return -EXDEV;
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    long fd;
    int tries = 0;
    do
        fd = syscall(SYS_openat2, rootfd, relpath, &how, sizeof how);
    while (fd < 0 && errno == EAGAIN && ++tries < 8); /* a concurrent rename in the tree: retry, bounded */
    if (fd >= 0)
        return (int)fd;
    if (errno == ENOSYS)
        return walk_flags(rootfd, relpath, flags);
    return -errno;
}

int fu_open_beneath(int rootfd, const char *relpath)
{
    if (!relpath || !relpath[0])
        return -EXDEV;
    return fu_open_beneath_flags(rootfd, relpath, O_PATH);
}

int fu_reopen_regular(int pathfd, const struct stat *want)
{
    if (!S_ISREG(want->st_mode))
        return -EINVAL;
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", pathfd);
    int fd = open(proc, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    if (!S_ISREG(st.st_mode) || st.st_dev != want->st_dev || st.st_ino != want->st_ino) {
        close(fd);
        return -ESTALE;
    }
    return fd;
}
