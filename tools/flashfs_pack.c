/* flashfs_pack.c — flashfs-pack MODEL_DIR OUT_DIR: write a packed copy of a model folder.
 *
 * Tensor files (*.safetensors, *.gguf) become packed files (pack.h, docs/packed.md) under
 * the same names; every other file is copied as is; subdirectories are walked. A mount
 * of OUT_DIR shows exactly the original names, sizes and bytes. */
#include "pack.h"
#include "source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH 16

typedef struct {
    pk_wopts_t w;
    int verify, quiet, tty;
    uint64_t total, done_before;    /* tensor bytes: all, finished files */
    uint64_t t0;
    const char *cur;
    pk_stats_t st;
    uint64_t copied_bytes, verified;
    int n_packed, n_copied, n_warn;
} job_t;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: flashfs-pack MODEL_DIR OUT_DIR [--level N] [--threads N] [--no-group] [--verify]\n"
            "                    [--frame-size SIZE] [--quiet]\n"
            "Packs the tensor files (*.safetensors, *.gguf) of MODEL_DIR into OUT_DIR (zstd seekable\n"
            "frames with byte grouping of float weights); other files are copied. OUT_DIR must be\n"
            "empty or not exist. Mount OUT_DIR with flashfs to serve the original bytes.\n"
            "  --level N       zstd level 1..19 (default 3)\n"
            "  --threads N     compression threads (default: online CPUs)\n"
            "  --no-group      no byte grouping (plain `zstd -d` then decodes every frame)\n"
            "  --verify        decode every packed file again and compare with the original\n"
            "  --frame-size S  target frame size (default 1M)\n"
            "  --quiet         no progress bar and no summary\n");
}

static int is_tensor_file(const char *name)
{
    size_t n = strlen(name);
    return (n > 12 && strcmp(name + n - 12, ".safetensors") == 0) ||
           (n > 5 && strcmp(name + n - 5, ".gguf") == 0);
}

/* ---- progress ---------------------------------------------------------------------- */

static void progress(void *arg, uint64_t done)
{
    job_t *j = arg;
    if (!j->tty || j->quiet)
        return;
    static uint64_t last;
    uint64_t now = fu_now_ns();
    uint64_t all = j->done_before + done;
    if (now - last < 100000000ull && all < j->total)
        return;
    last = now;
    double pct = j->total ? 100.0 * (double)all / (double)j->total : 100.0;
    double s = (double)(now - j->t0) / 1e9;
    int bar = (int)(pct / 100.0 * 30);
    char b[31];
    for (int i = 0; i < 30; i++)
        b[i] = i < bar ? '#' : '.';
    b[30] = 0;
    fprintf(stderr, "\r[%s] %5.1f%% %7.1f MB/s  %-40.40s", b, pct, s > 0 ? (double)all / 1e6 / s : 0.0,
            j->cur ? j->cur : "");
    fflush(stderr);
}

/* ---- files --------------------------------------------------------------------------- */

static int copy_file(const char *src, const char *dst, mode_t mode, uint64_t *bytes, char *err, size_t el)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return fu_err(err, el, -errno, "%s: %s", src, strerror(errno));
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 0777);
    if (out < 0) {
        int e = errno;
        close(in);
        return fu_err(err, el, -e, "%s: %s", dst, strerror(e));
    }
    static char buf[1 << 16];
    int rc = 0;
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = fu_err(err, el, -errno, "%s: %s", src, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        if ((rc = fu_write_full(out, buf, (size_t)n)) < 0) {
            fu_err(err, el, rc, "%s: %s", dst, strerror(-rc));
            break;
        }
        *bytes += (uint64_t)n;
    }
    close(in);
    if (close(out) < 0 && rc == 0)
        rc = fu_err(err, el, -errno, "%s: %s", dst, strerror(errno));
    return rc;
}

/* Decode the packed file again through src_open and compare with the original; each
 * frame's zstd content checksum (XXH64) is checked by the decoder on the way. */
static int verify_file(const char *orig, const char *packed, char *err, size_t el)
{
    src_t *s;
    int rc = src_open(AT_FDCWD, packed, &s, err, el);
    if (rc < 0)
        return rc;
    int fd = open(orig, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0) {
        rc = fu_err(err, el, -errno, "%s: %s", orig, strerror(errno));
        goto out;
    }
    if (strcmp(s->ops->kind, "packed") != 0 || s->size != (uint64_t)sb.st_size) {
        rc = fu_err(err, el, -EIO, "%s: packed output has size %llu, original %llu", packed,
                    (unsigned long long)s->size, (unsigned long long)sb.st_size);
        goto out;
    }
    size_t chunk = 4u << 20;
    uint8_t *a = malloc(chunk), *b = malloc(chunk);
    for (uint64_t off = 0; rc == 0 && a && b && off < s->size; off += chunk) {
        size_t n = s->size - off < chunk ? (size_t)(s->size - off) : chunk;
        if ((rc = src_read(s, a, n, off)) < 0)
            fu_err(err, el, rc, "%s: decode failed at %llu: %s", packed, (unsigned long long)off, strerror(-rc));
        else if ((rc = fu_pread_full(fd, b, n, off)) < 0)
            fu_err(err, el, rc, "%s: %s", orig, strerror(-rc));
        else if (memcmp(a, b, n) != 0)
            rc = fu_err(err, el, -EIO, "%s: decoded bytes differ from the original near %llu", packed,
                        (unsigned long long)off);
    }
    if (!a || !b)
        rc = fu_err(err, el, -ENOMEM, "out of memory");
    free(a);
    free(b);
out:
    if (fd >= 0)
        close(fd);
    src_close(s);
    return rc;
}

static int pack_file(job_t *j, const char *src, const char *dst, const char *rel, uint64_t size,
                     mode_t mode, char *err, size_t el)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return fu_err(err, el, -errno, "%s: %s", src, strerror(errno));
    pk_region_t *rg = NULL;
    size_t nr = 0;
    int warned = 0;
    char why[512];
    int rc = pk_plan(fu_fd_read, (void *)(intptr_t)in, size, rel, &rg, &nr, &warned, why, sizeof why);
    if (rc < 0) {
        close(in);
        return fu_err(err, el, rc, "%s", why);
    }
    if (warned) {
        if (j->tty && !j->quiet)
            fputc('\n', stderr);
        fprintf(stderr, "flashfs-pack: warning: %s\n", why);
        j->n_warn++;
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.flashfs-pack.tmp", dst);
    int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 0777);
    if (out < 0) {
        rc = fu_err(err, el, -errno, "%s: %s", tmp, strerror(errno));
        goto done;
    }
    j->cur = rel;
    rc = pk_write(in, size, rg, nr, out, &j->w, &j->st, why, sizeof why);
    if (rc < 0)
        fu_err(err, el, rc, "%s: %s", rel, why);
    if (rc == 0 && fsync(out) < 0)
        rc = fu_err(err, el, -errno, "%s: %s", tmp, strerror(errno));
    if (close(out) < 0 && rc == 0)
        rc = fu_err(err, el, -errno, "%s: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, dst) < 0)
        rc = fu_err(err, el, -errno, "%s: %s", dst, strerror(errno));
    if (rc < 0)
        unlink(tmp);
    j->done_before += size;
    if (rc == 0 && j->verify) {
        rc = verify_file(src, dst, err, el);
        if (rc == 0)
            j->verified++;
    }
done:
    free(rg);
    close(in);
    return rc;
}

/* Walk MODEL_DIR: phase 0 counts tensor bytes, phase 1 packs and copies. */
static int walk(job_t *j, const char *src, const char *dst, const char *rel, int phase, int depth,
                char *err, size_t el)
{
    if (depth > MAX_DEPTH)
        return fu_err(err, el, -ELOOP, "%s: directories nested too deep", src);
    DIR *d = opendir(src);
    if (!d)
        return fu_err(err, el, -errno, "%s: %s", src, strerror(errno));
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char s[4096], o[4096], r[4096];
        if ((size_t)snprintf(s, sizeof s, "%s/%s", src, e->d_name) >= sizeof s ||
            (size_t)snprintf(o, sizeof o, "%s/%s", dst, e->d_name) >= sizeof o ||
            (size_t)snprintf(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", e->d_name) >= sizeof r) {
            rc = fu_err(err, el, -ENAMETOOLONG, "%s/%s: path too long", src, e->d_name);
            break;
        }
        struct stat sb;
        if (stat(s, &sb) < 0) {
            rc = fu_err(err, el, -errno, "%s: %s", s, strerror(errno));
            break;
        }
        if (S_ISDIR(sb.st_mode)) {
            if (phase == 1 && mkdir(o, 0755) < 0) {
                rc = fu_err(err, el, -errno, "%s: %s", o, strerror(errno));
                break;
            }
            rc = walk(j, s, o, r, phase, depth + 1, err, el);
        } else if (S_ISREG(sb.st_mode)) {
            int tensor = is_tensor_file(e->d_name) && sb.st_size > 0;
            if (phase == 0) {
                if (tensor)
                    j->total += (uint64_t)sb.st_size;
            } else if (tensor) {
                rc = pack_file(j, s, o, r, (uint64_t)sb.st_size, sb.st_mode, err, el);
                j->n_packed++;
            } else {
                rc = copy_file(s, o, sb.st_mode, &j->copied_bytes, err, el);
                j->n_copied++;
            }
        } else if (phase == 0) {
            fprintf(stderr, "flashfs-pack: warning: %s: not a regular file, skipped\n", s);
        }
    }
    closedir(d);
    return rc;
}

/* ---- summary ---------------------------------------------------------------------------- */

static void summary(const job_t *j, double secs)
{
    char a[32], b[32];
    uint64_t tin = 0, tout = 0;
    printf("%-10s %14s %14s %7s\n", "class", "before", "after", "ratio");
    for (int k = 0; k < PK_K_COUNT; k++) {
        if (!j->st.in_bytes[k] && !j->st.out_bytes[k])
            continue;
        tin += j->st.in_bytes[k];
        tout += j->st.out_bytes[k];
        printf("%-10s %14s %14s ", pk_klass_name((unsigned)k), fu_format_size(j->st.in_bytes[k], a, sizeof a),
               fu_format_size(j->st.out_bytes[k], b, sizeof b));
        if (j->st.in_bytes[k])
            printf("%7.4f\n", (double)j->st.out_bytes[k] / (double)j->st.in_bytes[k]);
        else
            printf("%7s\n", "-");
    }
    printf("%-10s %14s %14s %7.4f\n", "total", fu_format_size(tin, a, sizeof a), fu_format_size(tout, b, sizeof b),
           tin ? (double)tout / (double)tin : 1.0);
    printf("packed %d file(s), copied %d file(s) (%s), %.2f s, %.1f MB/s%s\n", j->n_packed, j->n_copied,
           fu_format_size(j->copied_bytes, a, sizeof a), secs, secs > 0 ? (double)tin / 1e6 / secs : 0.0,
           j->verify ? ", verified: decoded bytes equal the originals" : "");
}

/* ---- main ---------------------------------------------------------------------------------- */

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

int main(int argc, char **argv)
{
    job_t j = { 0 };
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    j.w = (pk_wopts_t){ .level = 3, .threads = cpus > 0 ? (int)cpus : 1, .group = 1 };
    j.w.progress = progress;
    j.w.progress_arg = &j;
    fu_log_init("flashfs-pack", FU_LOG_WARN);
    static const struct option opts[] = {
        { "level", required_argument, 0, 'l' }, { "threads", required_argument, 0, 't' },
        { "no-group", no_argument, 0, 'g' },    { "verify", no_argument, 0, 'v' },
        { "frame-size", required_argument, 0, 'f' }, { "quiet", no_argument, 0, 'q' },
        { "help", no_argument, 0, 'h' },        { 0, 0, 0, 0 }
    };
    int c;
    uint64_t fsz;
    while ((c = getopt_long(argc, argv, "l:t:f:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (parse_int(optarg, 1, 19, &j.w.level) < 0) {
                fprintf(stderr, "flashfs-pack: --level wants 1..19, got '%s'\n", optarg);
                return 1;
            }
            break;
        case 't':
            if (parse_int(optarg, 1, 256, &j.w.threads) < 0) {
                fprintf(stderr, "flashfs-pack: --threads wants 1..256, got '%s'\n", optarg);
                return 1;
            }
            break;
        case 'f':
            if (fu_parse_size(optarg, &fsz) < 0 || fsz < 4096 || fsz > (16u << 20)) {
                fprintf(stderr, "flashfs-pack: --frame-size wants 4K..16M, got '%s'\n", optarg);
                return 1;
            }
            j.w.frame_size = (uint32_t)fsz;
            break;
        case 'g': j.w.group = 0; break;
        case 'v': j.verify = 1; break;
        case 'q': j.quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        return 1;
    }
    const char *in = argv[optind], *out = argv[optind + 1];
    struct stat sb;
    if (stat(in, &sb) < 0) {
        fprintf(stderr, "flashfs-pack: MODEL_DIR %s: %s\n", in, strerror(errno));
        return 2;
    }
    if (!S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "flashfs-pack: MODEL_DIR %s: not a directory\n", in);
        return 2;
    }
    if (stat(out, &sb) == 0) {
        DIR *d = S_ISDIR(sb.st_mode) ? opendir(out) : NULL;
        if (!d) {
            fprintf(stderr, "flashfs-pack: OUT_DIR %s: not a readable directory\n", out);
            return 3;
        }
        struct dirent *e;
        int empty = 1;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                empty = 0;
        closedir(d);
        if (!empty) {
            fprintf(stderr, "flashfs-pack: OUT_DIR %s is not empty\n", out);
            return 3;
        }
    } else if (mkdir(out, 0755) < 0) {
        fprintf(stderr, "flashfs-pack: cannot create OUT_DIR %s: %s\n", out, strerror(errno));
        return 3;
    }
    if (access(out, W_OK) < 0) {
        fprintf(stderr, "flashfs-pack: OUT_DIR %s is not writable: %s\n", out, strerror(errno));
        return 3;
    }
    j.tty = isatty(STDERR_FILENO);
    char err[1024] = "";
    int rc = walk(&j, in, out, "", 0, 0, err, sizeof err);
    j.t0 = fu_now_ns();
    if (rc == 0)
        rc = walk(&j, in, out, "", 1, 0, err, sizeof err);
    double secs = (double)(fu_now_ns() - j.t0) / 1e9;
    if (j.tty && !j.quiet)
        fputc('\n', stderr);
    if (rc < 0) {
        fprintf(stderr, "flashfs-pack: %s\n", err);
        return 4;
    }
    if (!j.quiet)
        summary(&j, secs);
    return 0;
}
