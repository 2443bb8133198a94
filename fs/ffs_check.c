/* ffs_check.c — validation of MODEL_DIR, MOUNTPOINT and /dev/fuse before mounting, so that
 * a bad invocation fails in the foreground with one clear line and its own exit code. */
#include "ffs_check.h"
#include "ffs_exit.h"
#include "fu_util.h"
#include "hf_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

int ffs_check_model_dir(char **model_dir, char *err, size_t errlen)
{
    char *resolved = NULL, note[PATH_MAX + 256];
    int rc = hfc_resolve(*model_dir, &resolved, note, sizeof note, err, errlen);
    if (rc == -ENOMEM)
        return fu_err(err, errlen, FFS_EXIT_INTERNAL, "out of memory");
    if (rc < 0)
        return FFS_EXIT_MODEL_DIR;
    if (note[0])
        fu_log(FU_LOG_INFO, "%s", note);
    free(*model_dir);
    *model_dir = resolved;
    const char *path = resolved;
    struct stat st;
    if (stat(path, &st) < 0)
        return fu_err(err, errlen, FFS_EXIT_MODEL_DIR, "model directory '%s': %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return fu_err(err, errlen, FFS_EXIT_MODEL_DIR, "model directory '%s' is not a directory", path);
    DIR *d = opendir(path);
    if (!d)
        return fu_err(err, errlen, FFS_EXIT_MODEL_DIR, "model directory '%s' cannot be read: %s", path,
                      strerror(errno));
    closedir(d);
    return 0;
}

/* 1 when path is listed as a mount point in /proc/self/mountinfo (field 5), 0 if not,
 * -errno when the table cannot be read. Octal escapes (\040 for space) are decoded. */
static int listed_as_mount(const char *real)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return -errno;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        /* fields: id parent maj:min root mountpoint ... */
        char *p = line;
        for (int i = 0; i < 4 && p; i++) {
            p = strchr(p, ' ');
            if (p)
                p++;
        }
        if (!p)
            continue;
        char mp[PATH_MAX];
        size_t n = 0;
        while (*p && *p != ' ' && n + 1 < sizeof mp) {
            if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] && p[3]) {
                mp[n++] = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
                p += 4;
            } else {
                mp[n++] = *p++;
            }
        }
        mp[n] = '\0';
        found = strcmp(mp, real) == 0;
    }
    fclose(f);
    return found;
}

int ffs_check_mountpoint(const char *path, char *err, size_t errlen)
{
    struct stat st;
    struct statvfs sv;
    /* stat() may be answered from cached attributes of a dead FUSE mount; statfs()
     * always reaches the (missing) daemon and fails with ENOTCONN. */
    if (stat(path, &st) < 0 || (statvfs(path, &sv) < 0 && errno == ENOTCONN)) {
        if (errno == ENOTCONN)
            return fu_err(err, errlen, FFS_EXIT_MNT_STALE,
                          "mountpoint '%s' is a stale mount left by a dead daemon; clear it with: fusermount3 -u %s",
                          path, path);
        return fu_err(err, errlen, FFS_EXIT_MNT_MISSING, "mountpoint '%s': %s", path, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return fu_err(err, errlen, FFS_EXIT_MNT_MISSING, "mountpoint '%s' is not a directory", path);
    char real[PATH_MAX];
    if (!realpath(path, real))
        return fu_err(err, errlen, FFS_EXIT_MNT_MISSING, "mountpoint '%s': %s", path, strerror(errno));
    int listed = listed_as_mount(real);
    if (listed > 0 && strcmp(real, "/") != 0)
        return fu_err(err, errlen, FFS_EXIT_MNT_BUSY, "mountpoint '%s' is already a mount (unmount it first)", path);
    DIR *d = opendir(path);
    if (!d)
        return fu_err(err, errlen, FFS_EXIT_MNT_MISSING, "mountpoint '%s' cannot be read: %s", path, strerror(errno));
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            empty = 0;
            break;
        }
    }
    closedir(d);
    if (!empty)
        return fu_err(err, errlen, FFS_EXIT_MNT_NOT_EMPTY, "mountpoint '%s' is not empty", path);
    return 0;
}

int ffs_check_dev_fuse(char *err, size_t errlen)
{
    int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return fu_err(err, errlen, FFS_EXIT_NO_FUSE, "/dev/fuse is not usable: %s (load the fuse module?)",
                      strerror(errno));
    /* the FUSE device is the misc character device 10:229; anything else (a container's
     * /dev/null bind mount, a regular file) opens fine but makes the mount fail later
     * with libfuse's own messages */
    struct stat st;
    int ok = fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 10 && minor(st.st_rdev) == 229;
    close(fd);
    if (!ok)
        return fu_err(err, errlen, FFS_EXIT_NO_FUSE, "/dev/fuse is not the FUSE device (expected char device 10:229)");
    return 0;
}
