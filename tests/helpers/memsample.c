/* memsample.c — samples the memory held for a flashfs mount (for the budget tests).
 *
 *   memsample --pid PID --mount MNT --backing DIR [--interval-ms 50] [--duration-ms T]
 *             [--limit BYTES] [--limit-mount BYTES] [--limit-pc BYTES] [--quiet]
 *
 * Every interval it measures:
 *   rss         the daemon's VmRSS from /proc/PID/status (also RssAnon/RssFile/RssShmem);
 *   mount_pc    page cache of the MOUNTED files: each regular file under MNT (except the
 *               control directory .flashfs) is mapped MAP_SHARED once at start, and
 *               mincore() counts its resident pages at every sample (a mapping alone
 *               does not fault pages in);
 *   backing_pc  page cache of the BACKING files: the same over every regular file under
 *               DIR (symlinks followed, each inode counted once);
 *   total       rss + mount_pc + backing_pc.
 * It prints one line per sample unless --quiet ("sample t_ms=... rss=... ... total=..."),
 * then a summary "memsample: samples=N max_total=... max_rss=... max_mount_pc=...
 * max_backing_pc=... over_limit=K over_limit_mount=L over_limit_pc=M" with byte counts:
 * K samples whose total exceeded --limit, L whose rss + mount_pc (what the daemon holds,
 * without the page cache a test's own reads of the backing files leave) exceeded
 * --limit-mount, M whose mount_pc alone exceeded --limit-pc. It stops after
 * --duration-ms, on SIGTERM/SIGINT, or when the daemon exits. Exit status: 0, 1 when a
 * sample exceeded a limit, 2 usage/setup error. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    void *map;
    size_t len;                 /* mapped bytes */
    size_t pages;
} ms_map_t;

typedef struct {
    ms_map_t *v;
    size_t n, cap;
    dev_t *dev;                 /* identities already mapped (dedupe links) */
    ino_t *ino;
} ms_set_t;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) { (void)sig; g_stop = 1; }

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Map one file MAP_SHARED (read-only) unless its inode was seen already. */
static int add_file(ms_set_t *s, const char *path, const struct stat *st)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->dev[i] == st->st_dev && s->ino[i] == st->st_ino)
            return 0;
    if (st->st_size == 0)
        return 0;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 32;
        ms_map_t *v = realloc(s->v, nc * sizeof *v);
        if (v)
            s->v = v;
        dev_t *d = realloc(s->dev, nc * sizeof *d);
        if (d)
            s->dev = d;
        ino_t *in = realloc(s->ino, nc * sizeof *in);
        if (in)
            s->ino = in;
        if (!v || !d || !in)
            return -ENOMEM;
        s->cap = nc;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = (size_t)st->st_size;
    void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return -e;
    long pg = sysconf(_SC_PAGESIZE);
    s->v[s->n] = (ms_map_t){ p, len, (len + (size_t)pg - 1) / (size_t)pg };
    s->dev[s->n] = st->st_dev;
    s->ino[s->n] = st->st_ino;
    s->n++;
    return 0;
}

/* Map every regular file under dir (recursively, following links, skipping .flashfs). */
static int add_tree(ms_set_t *s, const char *dir, int depth)
{
    if (depth > 32)
        return 0;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, ".flashfs"))
            continue;
        char p[4096];
        if (snprintf(p, sizeof p, "%s/%s", dir, de->d_name) >= (int)sizeof p)
            continue;
        struct stat st;
        if (stat(p, &st) < 0)
            continue; /* dangling link */
        if (S_ISDIR(st.st_mode))
            rc = add_tree(s, p, depth + 1);
        else if (S_ISREG(st.st_mode)) {
            rc = add_file(s, p, &st);
            if (rc)
                fprintf(stderr, "memsample: %s: %s\n", p, strerror(-rc));
        }
    }
    closedir(d);
    return rc;
}

/* Resident bytes of all mappings of s (mincore). */
static uint64_t resident(const ms_set_t *s, unsigned char *vec, size_t veclen)
{
    long pg = sysconf(_SC_PAGESIZE);
    uint64_t pages = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i].pages > veclen || mincore(s->v[i].map, s->v[i].len, vec) < 0)
            continue;
        for (size_t k = 0; k < s->v[i].pages; k++)
            pages += vec[k] & 1;
    }
    return pages * (uint64_t)pg;
}

/* VmRSS and its parts from /proc/PID/status, in bytes. -1 when the process is gone. */
static int read_rss(long pid, uint64_t *rss, uint64_t *anon, uint64_t *file, uint64_t *shm)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    *rss = *anon = *file = *shm = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long kb;
        if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
            *rss = kb * 1024;
        else if (sscanf(line, "RssAnon: %llu kB", &kb) == 1)
            *anon = kb * 1024;
        else if (sscanf(line, "RssFile: %llu kB", &kb) == 1)
            *file = kb * 1024;
        else if (sscanf(line, "RssShmem: %llu kB", &kb) == 1)
            *shm = kb * 1024;
    }
    fclose(f);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: memsample --pid PID --mount MNT --backing DIR [--interval-ms 50] "
                    "[--duration-ms T] [--limit BYTES] [--limit-mount BYTES] [--limit-pc BYTES] [--quiet]\n");
    return 2;
}

int main(int argc, char **argv)
{
    long pid = 0;
    const char *mnt = NULL, *backing = NULL;
    unsigned long long interval = 50, duration = 0, limit = 0, limit_mount = 0, limit_pc = 0;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--quiet")) {
            quiet = 1;
            continue;
        }
        if (!v)
            return usage();
        i++;
        if (!strcmp(o, "--pid"))
            pid = strtol(v, NULL, 10);
        else if (!strcmp(o, "--mount"))
            mnt = v;
        else if (!strcmp(o, "--backing"))
            backing = v;
        else if (!strcmp(o, "--interval-ms"))
            interval = strtoull(v, NULL, 10);
        else if (!strcmp(o, "--duration-ms"))
            duration = strtoull(v, NULL, 10);
        else if (!strcmp(o, "--limit"))
            limit = strtoull(v, NULL, 10);
        else if (!strcmp(o, "--limit-mount"))
            limit_mount = strtoull(v, NULL, 10);
        else if (!strcmp(o, "--limit-pc"))
            limit_pc = strtoull(v, NULL, 10);
        else
            return usage();
    }
    if (pid <= 0 || !mnt || !backing || interval == 0)
        return usage();
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    ms_set_t ms = { 0 }, bs = { 0 };
    if (add_tree(&ms, mnt, 0) || add_tree(&bs, backing, 0))
        return 2;
    size_t veclen = 1;
    for (size_t i = 0; i < ms.n; i++)
        veclen = ms.v[i].pages > veclen ? ms.v[i].pages : veclen;
    for (size_t i = 0; i < bs.n; i++)
        veclen = bs.v[i].pages > veclen ? bs.v[i].pages : veclen;
    unsigned char *vec = malloc(veclen);
    if (!vec)
        return 2;

    uint64_t t0 = now_ms(), n = 0, over = 0, over_mount = 0, over_pc = 0;
    uint64_t max_total = 0, max_rss = 0, max_mpc = 0, max_bpc = 0;
    while (!g_stop) {
        uint64_t rss, anon, file, shm;
        if (read_rss(pid, &rss, &anon, &file, &shm) < 0)
            break; /* daemon gone */
        uint64_t mpc = resident(&ms, vec, veclen), bpc = resident(&bs, vec, veclen);
        uint64_t total = rss + mpc + bpc, t = now_ms() - t0;
        n++;
        max_total = total > max_total ? total : max_total;
        max_rss = rss > max_rss ? rss : max_rss;
        max_mpc = mpc > max_mpc ? mpc : max_mpc;
        max_bpc = bpc > max_bpc ? bpc : max_bpc;
        if (limit && total > limit)
            over++;
        if (limit_mount && rss + mpc > limit_mount)
            over_mount++;
        if (limit_pc && mpc > limit_pc)
            over_pc++;
        if (!quiet)
            printf("sample t_ms=%llu rss=%llu rss_anon=%llu rss_file=%llu rss_shmem=%llu mount_pc=%llu "
                   "backing_pc=%llu total=%llu\n",
                   (unsigned long long)t, (unsigned long long)rss, (unsigned long long)anon,
                   (unsigned long long)file, (unsigned long long)shm, (unsigned long long)mpc,
                   (unsigned long long)bpc, (unsigned long long)total);
        if (duration && t >= duration)
            break;
        struct timespec ts = { (time_t)(interval / 1000), (long)(interval % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
    printf("memsample: samples=%llu files_mount=%zu files_backing=%zu max_total=%llu max_rss=%llu "
           "max_mount_pc=%llu max_backing_pc=%llu over_limit=%llu over_limit_mount=%llu over_limit_pc=%llu\n",
           (unsigned long long)n, ms.n, bs.n, (unsigned long long)max_total, (unsigned long long)max_rss,
           (unsigned long long)max_mpc, (unsigned long long)max_bpc, (unsigned long long)over,
           (unsigned long long)over_mount, (unsigned long long)over_pc);
    fflush(stdout);
    for (size_t i = 0; i < ms.n; i++)
        munmap(ms.v[i].map, ms.v[i].len);
    for (size_t i = 0; i < bs.n; i++)
        munmap(bs.v[i].map, bs.v[i].len);
    free(ms.v); free(ms.dev); free(ms.ino);
    free(bs.v); free(bs.dev); free(bs.ino);
    free(vec);
    return over || over_mount || over_pc ? 1 : 0;
}
