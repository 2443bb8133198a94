/* eng_hint.c — hints to a flashfs mount (see eng_hint.h). */
#include "eng_hint.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define FUSE_SUPER_MAGIC 0x65735546

int eh_open(eh_hint_t *h, const char *dir)
{
    h->fd = -1;
    h->failed = 0;
    h->sent = 0;
    char p[PATH_MAX];
    if (!realpath(dir, p))
        return -errno;
    struct stat st0;
    if (stat(p, &st0) < 0)
        return -errno;
    /* a file given as the model: start at its directory */
    if (!S_ISDIR(st0.st_mode)) {
        char *s = strrchr(p, '/');
        if (!s)
            return -ENOENT;
        *(s == p ? s + 1 : s) = '\0';
    }
    for (;;) {
        struct statfs sf;
        if (statfs(p, &sf) < 0 || (unsigned long)sf.f_type != FUSE_SUPER_MAGIC)
            return -ENOENT; /* left the FUSE file system without finding a flashfs root */
        char hint[PATH_MAX + 32];
        snprintf(hint, sizeof hint, "%s/.flashfs/hint", strcmp(p, "/") ? p : "");
        struct stat st;
        if (lstat(hint, &st) == 0) {
            if (!S_ISREG(st.st_mode))
                return -ENOENT;
            int fd = open(hint, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
            if (fd < 0)
                return -errno;
            h->fd = fd;
            return 0;
        }
        char *s = strrchr(p, '/');
        if (!s || s == p)
            return -ENOENT;
        *s = '\0';
    }
}

void eh_at(eh_hint_t *h, const char *group)
{
    if (!h || h->fd < 0 || h->failed)
        return;
    char line[96];
    int n = snprintf(line, sizeof line, "at %s\n", group);
    if (n <= 0 || (size_t)n >= sizeof line || write(h->fd, line, (size_t)n) != n) {
        h->failed = 1;
        return;
    }
    h->sent++;
}

void eh_close(eh_hint_t *h)
{
    if (h && h->fd >= 0) {
        close(h->fd);
        h->fd = -1;
    }
}
