/* soak.c — the soak test of `make soak` (docs/reliability.md).
 *
 *   soak [--minutes N] [--ram SIZE] [--model DIR] [--threads N] [--build DIR] [--no-copy]
 *
 * Copies MODEL (default tests/fixtures/demo) into a private directory (so that no other
 * program touching MODEL puts its pages in the page cache the soak counts; --no-copy
 * serves MODEL itself), drops the copy's page cache, mounts it with
 * `flashfs -f --ram SIZE` (default 8M, smaller than the model) on a private mountpoint
 * and, for N minutes (default 10), runs:
 *   - THREADS readers (default 16), half random (log-uniform lengths 1 B..4 MiB, reads
 *     crossing EOF) and half cyclic (1 MiB reads walking the files in order, as inference
 *     does), each read picking pread or a MAP_SHARED mapping at random, every byte
 *     compared with the backing files (build/tests/randread, two processes);
 *   - memory sampling every 100 ms, from 3 s in (the readers have loaded their reference
 *     copy of the backing files by then): daemon RSS + page cache of the mounted files
 *     (mincore) + page cache of the backing files (build/tests/memsample).
 * Then it reads .flashfs/stats, unmounts, and prints ops, bytes, mismatches, errors, the
 * daemon's fate and the peak memory against the budget. Exit 0 when there was no
 * mismatch, no read error, no crash, and peak memory <= budget + 32 MiB; 1 otherwise;
 * 2 when the soak could not run. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fu_util.h"

#define SLACK (32ull << 20)
#define MAX_FILES 256

static char sk_dir[256], sk_mnt[300];
static pid_t sk_daemon = -1;

/* ---- processes ---------------------------------------------------------------------- */

/* Start argv with stdout (and stderr when err_path) redirected to files. */
static pid_t spawn(char *const *argv, const char *out_path, const char *err_path)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (o >= 0)
        dup2(o, 1);
    if (err_path) {
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (e >= 0)
            dup2(e, 2);
    }
    execv(argv[0], argv);
    fprintf(stderr, "soak: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

static int wait_status(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void unmount_all(void)
{
    if (sk_daemon > 0) {
        pid_t pid = fork();
        if (pid == 0) {
            execlp("fusermount3", "fusermount3", "-u", sk_mnt, (char *)NULL);
            _exit(127);
        }
        if (pid < 0 || wait_status(pid) != 0)
            kill(sk_daemon, SIGTERM);
    }
}

/* ---- files of the model ------------------------------------------------------------- */

typedef struct {
    char *rel[MAX_FILES];
    size_t n;
    uint64_t bytes;
} sk_files_t;

static void list_files(const char *root, const char *rel, sk_files_t *fl, int depth)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) && fl->n < MAX_FILES) {
        if (e->d_name[0] == '.')
            continue;
        char r[PATH_MAX], p[PATH_MAX * 2];
        snprintf(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        snprintf(p, sizeof p, "%s/%s", root, r);
        struct stat st;
        if (stat(p, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode) && depth < 4) {
            list_files(root, r, fl, depth + 1);
        } else if (S_ISREG(st.st_mode) && st.st_size > 0) {
            fl->rel[fl->n] = strdup(r);
            if (fl->rel[fl->n]) {
                fl->n++;
                fl->bytes += (uint64_t)st.st_size;
            }
        }
    }
    closedir(d);
}

/* ---- output parsing ----------------------------------------------------------------- */

/* Value of "key=NUMBER" in the file's text, or -1. */
static long long field(const char *path, const char *key)
{
    char *txt;
    size_t len;
    if (fu_read_file(path, 1u << 20, &txt, &len) != 0)
        return -1;
    char pat[64];
    snprintf(pat, sizeof pat, "%s=", key);
    long long v = -1;
    for (char *p = strstr(txt, pat); p; p = strstr(p + 1, pat)) {
        if (p == txt || p[-1] == ' ' || p[-1] == '\n') {
            v = strtoll(p + strlen(pat), NULL, 10);
            break;
        }
    }
    free(txt);
    return v;
}

/* "errors": N of the stats JSON, or -1. (Control files report size 0: read to EOF.) */
static long long stats_errors(void)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/.flashfs/stats", sk_mnt);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t cap = 1u << 20, len = 0;
    char *txt = malloc(cap + 1);
    ssize_t n;
    while (txt && len < cap && (n = read(fd, txt + len, cap - len)) > 0)
        len += (size_t)n;
    close(fd);
    if (!txt)
        return -1;
    txt[len] = '\0';
    long long v = -1;
    char *p = strstr(txt, "\"errors\"");
    if (p && (p = strchr(p, ':')))
        v = strtoll(p + 1, NULL, 10);
    free(txt);
    return v;
}

/* Copy the listed files of src into dst (directories created), fsync'd, page cache dropped. */
static int copy_model(const char *src, const char *dst, const sk_files_t *fl)
{
    static char buf[1 << 20];
    for (size_t i = 0; i < fl->n; i++) {
        char from[PATH_MAX * 2], to[PATH_MAX * 2];
        snprintf(from, sizeof from, "%s/%s", src, fl->rel[i]);
        snprintf(to, sizeof to, "%s/%s", dst, fl->rel[i]);
        for (char *p = strchr(to + strlen(dst) + 1, '/'); p; p = strchr(p + 1, '/')) {
            *p = '\0';
            mkdir(to, 0755);
            *p = '/';
        }
        int in = open(from, O_RDONLY | O_CLOEXEC);
        int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ssize_t n = 0;
        while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
            if (fu_write_full(out, buf, (size_t)n) != 0)
                n = -1;
        int ok = in >= 0 && out >= 0 && n == 0 && fsync(out) == 0;
        if (out >= 0)
            (void)posix_fadvise(out, 0, 0, POSIX_FADV_DONTNEED);
        if (in >= 0)
            close(in);
        if (out >= 0)
            close(out);
        if (!ok) {
            fprintf(stderr, "soak: cannot copy %s to %s\n", from, to);
            return -1;
        }
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: soak [--minutes N] [--ram SIZE] [--model DIR] [--threads N] [--build DIR] [--no-copy]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    double minutes = 10;
    const char *ram = "8M", *model = "tests/fixtures/demo", *build = "build";
    int threads = 16, copy = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--no-copy")) {
            copy = 0;
            continue;
        }
        if (i + 1 >= argc)
            usage();
        if (!strcmp(argv[i], "--minutes"))
            minutes = atof(argv[++i]);
        else if (!strcmp(argv[i], "--ram"))
            ram = argv[++i];
        else if (!strcmp(argv[i], "--model"))
            model = argv[++i];
        else if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--build"))
            build = argv[++i];
        else
            usage();
    }
    uint64_t budget;
    if (minutes <= 0 || threads < 2 || fu_parse_size(ram, &budget) != 0)
        usage();
    sk_files_t fl = { 0 };
    list_files(model, "", &fl, 0);
    if (fl.n == 0) {
        fprintf(stderr, "soak: no files in %s\n", model);
        return 2;
    }
    snprintf(sk_dir, sizeof sk_dir, "/tmp/flashfs-soak.XXXXXX");
    if (!mkdtemp(sk_dir)) {
        perror("soak: mkdtemp");
        return 2;
    }
    snprintf(sk_mnt, sizeof sk_mnt, "%s/mnt", sk_dir);
    mkdir(sk_mnt, 0755);
    static char copy_dir[300];
    if (copy) {
        snprintf(copy_dir, sizeof copy_dir, "%s/model", sk_dir);
        mkdir(copy_dir, 0755);
        if (copy_model(model, copy_dir, &fl) != 0)
            return 2;
        model = copy_dir;
    }
    char bin[PATH_MAX], rr[PATH_MAX], ms[PATH_MAX], log[PATH_MAX + 16];
    snprintf(bin, sizeof bin, "%s/flashfs", build);
    snprintf(rr, sizeof rr, "%s/tests/randread", build);
    snprintf(ms, sizeof ms, "%s/tests/memsample", build);
    snprintf(log, sizeof log, "%s/daemon.log", sk_dir);

    /* ---- mount ---- */
    char *dargv[] = { bin, "-f", "--ram", (char *)ram, (char *)model, sk_mnt, NULL };
    sk_daemon = spawn(dargv, log, log);
    char probe[PATH_MAX + 64];
    snprintf(probe, sizeof probe, "%s/.flashfs/stats", sk_mnt);
    struct stat st;
    for (int i = 0; i < 1500 && stat(probe, &st) != 0; i++) {
        if (waitpid(sk_daemon, NULL, WNOHANG) == sk_daemon) {
            fprintf(stderr, "soak: flashfs exited before mounting (see %s)\n", log);
            return 2;
        }
        sleep_ms(10);
    }
    if (stat(probe, &st) != 0) {
        fprintf(stderr, "soak: mount did not come up (see %s)\n", log);
        unmount_all();
        return 2;
    }
    uint64_t dur_ms = (uint64_t)(minutes * 60000.0);
    static char buf[MAX_FILES][2][PATH_MAX + 400];
    char durs[32], thr_r[16], thr_c[16], pid_s[32], lim[32];
    snprintf(durs, sizeof durs, "%llu", (unsigned long long)dur_ms);
    snprintf(thr_r, sizeof thr_r, "%d", threads / 2);
    snprintf(thr_c, sizeof thr_c, "%d", threads - threads / 2);
    snprintf(pid_s, sizeof pid_s, "%d", (int)sk_daemon);
    snprintf(lim, sizeof lim, "%llu", (unsigned long long)(budget + SLACK));

    /* ---- readers: random and cyclic, pread and mmap mixed ---- */
    pid_t readers[2];
    const char *pattern[2] = { "random", "cyclic" };
    const char *maxlen[2] = { "4M", "1M" };
    const char *seed[2] = { "1", "2" };
    char out[2][PATH_MAX + 16];
    for (int k = 0; k < 2; k++) {
        char *av[16 + 2 * MAX_FILES];
        int n = 0;
        av[n++] = rr;
        av[n++] = "--duration-ms";
        av[n++] = durs;
        av[n++] = "--threads";
        av[n++] = k ? thr_c : thr_r;
        av[n++] = "--pattern";
        av[n++] = (char *)pattern[k];
        av[n++] = "--mode";
        av[n++] = "both";
        av[n++] = "--max-len";
        av[n++] = (char *)maxlen[k];
        av[n++] = "--seed";
        av[n++] = (char *)seed[k];
        for (size_t f = 0; f < fl.n; f++) {
            snprintf(buf[f][0], sizeof buf[f][0], "%s/%s", sk_mnt, fl.rel[f]);
            snprintf(buf[f][1], sizeof buf[f][1], "%s/%s", model, fl.rel[f]);
            av[n++] = buf[f][0];
            av[n++] = buf[f][1];
        }
        av[n] = NULL;
        snprintf(out[k], sizeof out[k], "%s/randread-%s.out", sk_dir, pattern[k]);
        readers[k] = spawn(av, out[k], NULL);
    }
    /* the readers first load their reference copy of the backing files and drop its page
     * cache: sample from when that is over, so that it is not counted as the mount's */
    sleep_ms(3000);
    char msout[PATH_MAX + 16];
    snprintf(msout, sizeof msout, "%s/memsample.out", sk_dir);
    char *mav[] = { ms, "--pid", pid_s, "--mount", sk_mnt, "--backing", (char *)model, "--interval-ms", "100",
                    "--limit", lim, "--quiet", NULL };
    pid_t sampler = spawn(mav, msout, NULL);
    printf("soak: %.1f min, %d readers (%s random + %s cyclic, pread and MAP_SHARED mixed) on %s "
           "(%zu files, %.1f MiB), budget %s\n", minutes, threads, thr_r, thr_c, model, fl.n,
           (double)fl.bytes / 1048576.0, ram);
    fflush(stdout);

    int rs[2];
    for (int k = 0; k < 2; k++)
        rs[k] = wait_status(readers[k]);
    long long errors = stats_errors();
    kill(sampler, SIGTERM);
    int ms_status = wait_status(sampler);
    int alive = kill(sk_daemon, 0) == 0 && waitpid(sk_daemon, NULL, WNOHANG) == 0;
    unmount_all();
    int dstatus = alive ? wait_status(sk_daemon) : -1;

    /* ---- report ---- */
    long long ops = 0, bytes = 0, mism = 0;
    for (int k = 0; k < 2; k++) {
        long long r = field(out[k], "reads"), b = field(out[k], "bytes"), m = field(out[k], "mismatches");
        printf("soak: %-6s readers: reads=%lld bytes=%lld mismatches=%lld exit=%d\n", pattern[k], r, b, m, rs[k]);
        ops += r > 0 ? r : 0;
        bytes += b > 0 ? b : 0;
        mism += m < 0 ? 1 : m;
    }
    long long peak = field(msout, "max_total"), prss = field(msout, "max_rss");
    long long pmpc = field(msout, "max_mount_pc"), pbpc = field(msout, "max_backing_pc");
    long long samples = field(msout, "samples");
    char a[32], b2[32], c[32], d[32], e[32];
    printf("soak: ops=%lld bytes=%s mismatches=%lld errors=%lld daemon=%s (exit %d)\n", ops,
           fu_format_size((uint64_t)bytes, a, sizeof a), mism, errors, alive ? "alive" : "DEAD", dstatus);
    printf("soak: peak memory %s (rss %s + mount page cache %s + backing page cache %s, %lld samples) "
           "vs budget %s + 32 MiB = %s\n", fu_format_size((uint64_t)(peak > 0 ? peak : 0), a, sizeof a),
           fu_format_size((uint64_t)(prss > 0 ? prss : 0), b2, sizeof b2),
           fu_format_size((uint64_t)(pmpc > 0 ? pmpc : 0), c, sizeof c),
           fu_format_size((uint64_t)(pbpc > 0 ? pbpc : 0), d, sizeof d), samples,
           ram, fu_format_size(budget + SLACK, e, sizeof e));
    int ok = rs[0] == 0 && rs[1] == 0 && mism == 0 && errors == 0 && alive && dstatus == 0 && peak >= 0 &&
             (uint64_t)peak <= budget + SLACK && ms_status != 2;
    if (ok) {                   /* keep the logs of a failed soak only */
        const char *files[] = { "daemon.log", "randread-random.out", "randread-cyclic.out", "memsample.out" };
        char p[PATH_MAX];
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            snprintf(p, sizeof p, "%s/%s", sk_dir, files[i]);
            unlink(p);
        }
        rmdir(sk_mnt);
        if (copy) {
            for (size_t f = 0; f < fl.n; f++) {
                snprintf(p, sizeof p, "%s/%s", copy_dir, fl.rel[f]);
                unlink(p);
            }
            rmdir(copy_dir);    /* (subdirectories of a nested model stay; rmdir below fails then) */
        }
        rmdir(sk_dir);
        printf("soak: PASS\n");
    } else {
        printf("soak: FAIL (logs in %s)\n", sk_dir);
    }
    for (size_t f = 0; f < fl.n; f++)
        free(fl.rel[f]);
    return ok ? 0 : 1;
}
