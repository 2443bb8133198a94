/* tree_check.c — mounted tree versus backing tree (see tree_check.h). */
#include "tree_check.h"
#include "harness.h"
#include "sha256.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted entry names of a directory (without . and ..). -errno on failure. */
static int list_dir(const char *dir, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    size_t cap = 0;
    struct dirent *de;
    int rc = 0;
    errno = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(*names, cap * sizeof *nn);
            if (!nn) {
                rc = -ENOMEM;
                break;
            }
            *names = nn;
        }
        if (!((*names)[*n] = strdup(de->d_name))) {
            rc = -ENOMEM;
            break;
        }
        (*n)++;
        errno = 0;
    }
    if (!rc && errno)
        rc = -errno;
    closedir(d);
    if (*n)
        qsort(*names, *n, sizeof **names, cmp_str);
    return rc;
}

static void free_list(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static int has_name(char **names, size_t n, const char *name)
{
    return bsearch(&name, names, n, sizeof *names, cmp_str) != NULL;
}

/* 1 when real (a canonical path) is root or below it. */
static int inside(const char *root, const char *real)
{
    size_t n = strlen(root);
    return strncmp(real, root, n) == 0 && (real[n] == 0 || real[n] == '/' || (n == 1 && root[0] == '/'));
}

/* An escaping or dangling link seen through the mount must not give the target's bytes. */
static int check_not_followed(const char *bpath, const char *mpath, char *err, size_t errlen)
{
    struct stat ms;
    if (lstat(mpath, &ms) < 0)
        return 0; /* hidden: fine */
    char real[PATH_MAX];
    if (!realpath(bpath, real))
        return 0; /* dangling: there is nothing to leak */
    struct stat ts;
    if (stat(real, &ts) < 0 || !S_ISREG(ts.st_mode))
        return 0;
    char want[65], got[65];
    if (it_sha256_file(real, 1 << 16, want) != 0)
        return 0;
    if (it_sha256_file(mpath, 1 << 16, got) != 0)
        return 0; /* not readable through the mount: fine */
    if (strcmp(want, got) == 0)
        return fail(err, errlen, "%s: a link escaping MODEL_DIR (to %s) was followed: its content is readable", mpath,
                    real);
    return 0;
}

int tc_compare_tree(const char *backing_root, const char *backing, const char *mounted, int is_root, size_t bufsize,
                    tc_stats_t *st, char *err, size_t errlen)
{
    char root[PATH_MAX];
    if (!realpath(backing_root, root))
        return fail(err, errlen, "realpath %s: %s", backing_root, strerror(errno));
    char **bn = NULL, **mn = NULL;
    size_t nb = 0, nm = 0;
    int rc = list_dir(backing, &bn, &nb);
    if (rc) {
        free_list(bn, nb);
        return fail(err, errlen, "readdir %s: %s", backing, strerror(-rc));
    }
    rc = list_dir(mounted, &mn, &nm);
    if (rc) {
        free_list(bn, nb);
        free_list(mn, nm);
        return fail(err, errlen, "readdir %s (through the mount): %s", mounted, strerror(-rc));
    }
    st->dirs++;
    /* names the mount has must exist in the backing dir (or be the control dir) */
    for (size_t i = 0; !rc && i < nm; i++) {
        if (is_root && !strcmp(mn[i], ".flashfs"))
            continue;
        if (!has_name(bn, nb, mn[i]))
            rc = fail(err, errlen, "%s/%s is listed by the mount but does not exist in %s", mounted, mn[i], backing);
    }
    if (!rc && is_root && !has_name(mn, nm, ".flashfs"))
        rc = fail(err, errlen, "%s: the mount root does not list .flashfs", mounted);
    for (size_t i = 0; !rc && i < nb; i++) {
        char bp[PATH_MAX], mp[PATH_MAX], real[PATH_MAX];
        snprintf(bp, sizeof bp, "%s/%s", backing, bn[i]);
        snprintf(mp, sizeof mp, "%s/%s", mounted, bn[i]);
        struct stat bl, bs, ms;
        if (lstat(bp, &bl) < 0) {
            rc = fail(err, errlen, "lstat %s: %s", bp, strerror(errno));
            break;
        }
        if (S_ISLNK(bl.st_mode)) {
            if (!realpath(bp, real) || !inside(root, real)) {
                st->escaping++;
                rc = check_not_followed(bp, mp, err, errlen);
                continue;
            }
        }
        if (stat(bp, &bs) < 0) {
            rc = fail(err, errlen, "stat %s: %s", bp, strerror(errno));
            break;
        }
        if (!S_ISREG(bs.st_mode) && !S_ISDIR(bs.st_mode))
            continue; /* special files are not mirrored */
        if (!has_name(mn, nm, bn[i])) {
            rc = fail(err, errlen, "%s is missing from the mount (backing %s exists)", mp, bp);
            break;
        }
        if (lstat(mp, &ms) < 0) {
            rc = fail(err, errlen, "lstat %s (through the mount): %s", mp, strerror(errno));
            break;
        }
        if ((ms.st_mode & S_IFMT) != (bs.st_mode & S_IFMT)) {
            rc = fail(err, errlen, "%s: type 0%o through the mount, backing 0%o", mp, (unsigned)(ms.st_mode & S_IFMT),
                      (unsigned)(bs.st_mode & S_IFMT));
            break;
        }
        if ((ms.st_mode & 07777) != (bs.st_mode & 07777)) {
            rc = fail(err, errlen, "%s: mode %04o through the mount, backing %04o", mp, (unsigned)(ms.st_mode & 07777),
                      (unsigned)(bs.st_mode & 07777));
            break;
        }
        if (S_ISDIR(bs.st_mode)) {
            rc = tc_compare_tree(backing_root, bp, mp, 0, bufsize, st, err, errlen);
            continue;
        }
        if (ms.st_size != bs.st_size) {
            rc = fail(err, errlen, "%s: size %lld through the mount, backing %lld", mp, (long long)ms.st_size,
                      (long long)bs.st_size);
            break;
        }
        char hb[65], hm[65];
        int e = it_sha256_file(bp, 1 << 20, hb);
        if (e) {
            rc = fail(err, errlen, "reading %s: %s", bp, strerror(-e));
            break;
        }
        e = it_sha256_file(mp, bufsize, hm);
        if (e) {
            rc = fail(err, errlen, "reading %s through the mount: %s", mp, strerror(-e));
            break;
        }
        if (strcmp(hb, hm)) {
            rc = fail(err, errlen, "%s: sha256 through the mount %s, backing %s", mp, hm, hb);
            break;
        }
        st->files++;
        st->bytes += (unsigned long long)bs.st_size;
    }
    free_list(bn, nb);
    free_list(mn, nm);
    return rc;
}

/* Feed the description of every entry below dir (relative name rel) into c. */
static int digest_dir(sha256_ctx_t *c, const char *dir, const char *rel)
{
    char **names = NULL;
    size_t n = 0;
    int rc = list_dir(dir, &names, &n);
    for (size_t i = 0; !rc && i < n; i++) {
        char p[PATH_MAX], r[PATH_MAX], line[PATH_MAX * 2 + 256];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        snprintf(r, sizeof r, "%s/%s", rel, names[i]);
        struct stat st;
        if (lstat(p, &st) < 0) {
            rc = -errno;
            break;
        }
        int len = snprintf(line, sizeof line, "%s %o %u:%u %lld %lld.%09ld ", r, (unsigned)st.st_mode,
                           (unsigned)st.st_uid, (unsigned)st.st_gid, (long long)st.st_size,
                           (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        sha256_update(c, line, (size_t)len);
        if (S_ISLNK(st.st_mode)) {
            char t[PATH_MAX];
            ssize_t k = readlink(p, t, sizeof t);
            if (k < 0) {
                rc = -errno;
                break;
            }
            sha256_update(c, t, (size_t)k);
        } else if (S_ISREG(st.st_mode)) {
            char h[65];
            rc = it_sha256_file(p, 1 << 20, h);
            sha256_update(c, h, 64);
        } else if (S_ISDIR(st.st_mode)) {
            rc = digest_dir(c, p, r);
        }
        sha256_update(c, "\n", 1);
    }
    free_list(names, n);
    return rc;
}

int tc_tree_digest(const char *dir, char hex[65])
{
    sha256_ctx_t c;
    uint8_t d[32];
    sha256_init(&c);
    int rc = digest_dir(&c, dir, ".");
    sha256_final(&c, d);
    sha256_to_hex(d, hex);
    return rc;
}
