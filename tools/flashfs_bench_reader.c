/* flashfs_bench_reader.c — the reader of the streaming benchmark (tools/bench_stream.sh):
 * reads a model's tensors layer group by layer group, cyclically, like a generation
 * engine that streams its weights once per token.
 *
 *   flashfs-bench-reader MODEL_DIR [--mode pread|mmap] [--cycles N] [--warmup W]
 *       [--compute-ms MS] [--compute busy|sleep] [--block SIZE] [--pid PID] [--stats FILE]
 *       [--threads-per-tensor T] [--sweep]
 *   flashfs-bench-reader MODEL_DIR --plan      (groups, layers, bytes per cycle; no reading)
 *
 * The tensor files (*.safetensors, *.gguf) of MODEL_DIR are mapped with the project's
 * layout parser (ly_*): every tensor belongs to a group, groups come in execution order
 * (embed, layer.0 .. layer.N-1, norm, head, other). One CYCLE reads every group in that
 * order: pread mode reads each group's byte ranges with pread() in blocks of SIZE into a
 * buffer; mmap mode maps the files (MAP_SHARED) and touches one byte of every page. After
 * each layer group the reader "computes" for MS milliseconds (busy loop or sleep), the
 * time a real engine would spend on the layer's math.
 *
 * Like llama.cpp (docs/design.md, "How llama.cpp reads"): --threads-per-tensor T (mmap mode)
 * splits every tensor into T row ranges faulted by T threads at once; --sweep first touches
 * the whole mapping in file order after MADV_WILLNEED (the load-time sweep of a mmap
 * loader), before the warm-up cycles.
 *
 * Measured over the cycles after W warm-up cycles:
 *   wall_s        elapsed time;   cycles_per_s = cycles / wall_s
 *   stall_s       time spent reading / touching (everything but the compute pauses);
 *                 stall_pct = 100 * stall_s / wall_s
 *   bytes_per_cycle       tensor bytes read per cycle
 *   self_read_per_cycle   this process's storage reads (/proc/self/io read_bytes; page
 *                         faults of an mmap count too; 0 through FUSE, where the daemon reads)
 *   pid_read_per_cycle    the same for process PID (--pid: the flashfs daemon)
 *   stats_backing_per_cycle  delta of "backing_bytes_read" in FILE (--stats: .flashfs/stats)
 * printed as one line of key=value pairs (-1 when unavailable). */
#include "fu_util.h"
#include "layout.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- the plan: per group, the byte ranges to read ------------------------------------- */

typedef struct {
    int file;
    uint64_t off, len;
} extent_t;

typedef struct {
    int is_layer;
    size_t first, n;            /* extents[first .. first+n) */
} step_t;

typedef struct {
    char dir[4096];
    ly_layout_t ly;
    int *fds;                   /* per layout file, -1 for non-tensor files */
    uint8_t **maps;             /* mmap mode */
    extent_t *ext;
    size_t n_ext;
    step_t *steps;
    size_t n_steps;
    uint64_t bytes_per_cycle;
} plan_t;

static int is_tensor_name(const char *n)
{
    size_t l = strlen(n);
    return (l > 12 && strcmp(n + l - 12, ".safetensors") == 0) ||
           (l > 5 && strcmp(n + l - 5, ".gguf") == 0);
}

/* Open and parse every tensor file of dir into the layout. */
static int load_layout(plan_t *p, char *err, size_t errlen)
{
    DIR *d = opendir(p->dir);
    if (!d)
        return fu_err(err, errlen, -errno, "%s: %s", p->dir, strerror(errno));
    ly_init(&p->ly);
    int rc = 0, cap = 0, n = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (!is_tensor_name(e->d_name))
            continue;
        int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC);
        struct stat sb;
        if (fd < 0 || fstat(fd, &sb) != 0) {
            rc = fu_err(err, errlen, -errno, "%s/%s: %s", p->dir, e->d_name, strerror(errno));
            if (fd >= 0)
                close(fd);
            break;
        }
        int idx = ly_add_file(&p->ly, e->d_name, fu_fd_read, (void *)(intptr_t)fd, (uint64_t)sb.st_size);
        if (idx < 0) {
            close(fd);
            rc = fu_err(err, errlen, idx, "out of memory");
            break;
        }
        if (idx >= cap) {
            cap = idx + 16;
            int *f = realloc(p->fds, (size_t)cap * sizeof *f);
            if (!f) {
                close(fd);
                rc = fu_err(err, errlen, -ENOMEM, "out of memory");
                break;
            }
            p->fds = f;
        }
        p->fds[idx] = fd;
        n = idx + 1;
        if (p->ly.files[idx].parse_error)
            rc = fu_err(err, errlen, -EINVAL, "%s: %s", e->d_name, p->ly.files[idx].error);
    }
    closedir(d);
    if (rc == 0 && n == 0)
        rc = fu_err(err, errlen, -ENOENT, "%s: no *.safetensors or *.gguf file", p->dir);
    if (rc == 0 && ly_finish(&p->ly) != 0)
        rc = fu_err(err, errlen, -ENOMEM, "out of memory");
    return rc;
}

/* Extents of every group in execution order; adjacent tensors of a file are merged. */
/* Extents per group; merge adjacent tensors unless per_tensor (one extent per tensor). */
static int build_plan(plan_t *p, int per_tensor, char *err, size_t errlen)
{
    size_t total = 0;
    for (size_t f = 0; f < p->ly.n_files; f++)
        total += p->ly.files[f].n_tensors;
    p->ext = calloc(total ? total : 1, sizeof *p->ext);
    p->steps = calloc(p->ly.n_groups ? p->ly.n_groups : 1, sizeof *p->steps);
    if (!p->ext || !p->steps)
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    for (size_t g = 0; g < p->ly.n_groups; g++) {
        step_t *s = &p->steps[p->n_steps++];
        s->is_layer = p->ly.groups[g].layer >= 0;
        s->first = p->n_ext;
        for (size_t f = 0; f < p->ly.n_files; f++) {
            const ly_file_t *lf = &p->ly.files[f];
            for (size_t t = 0; t < lf->n_tensors; t++) {    /* sorted by offset */
                const ly_tensor_t *x = &lf->tensors[t];
                if (x->group != (int)g || x->length == 0)
                    continue;
                extent_t *last = p->n_ext > s->first ? &p->ext[p->n_ext - 1] : NULL;
                if (!per_tensor && last && last->file == (int)f && last->off + last->len == x->offset)
                    last->len += x->length;
                else
                    p->ext[p->n_ext++] = (extent_t){ (int)f, x->offset, x->length };
                p->bytes_per_cycle += x->length;
            }
        }
        s->n = p->n_ext - s->first;
    }
    return 0;
}

static int map_files(plan_t *p, char *err, size_t errlen)
{
    p->maps = calloc(p->ly.n_files, sizeof *p->maps);
    if (!p->maps)
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    for (size_t f = 0; f < p->ly.n_files; f++) {
        if (p->ly.files[f].size == 0)
            continue;
        void *m = mmap(NULL, p->ly.files[f].size, PROT_READ, MAP_SHARED, p->fds[f], 0);
        if (m == MAP_FAILED)
            return fu_err(err, errlen, -errno, "mmap %s: %s", p->ly.files[f].path, strerror(errno));
        p->maps[f] = m;
    }
    return 0;
}

static void free_plan(plan_t *p)
{
    for (size_t f = 0; f < p->ly.n_files; f++) {
        if (p->maps && p->maps[f])
            munmap(p->maps[f], p->ly.files[f].size);
        if (p->fds)
            close(p->fds[f]);
    }
    free(p->maps);
    free(p->fds);
    free(p->ext);
    free(p->steps);
    ly_free(&p->ly);
}

/* ---- I/O counters ------------------------------------------------------------------------ */

/* read_bytes of /proc/PID/io (pid 0: self), or -1. */
static int64_t proc_read_bytes(long pid)
{
    char path[64], buf[1024];
    if (pid > 0)
        snprintf(path, sizeof path, "/proc/%ld/io", pid);
    else
        snprintf(path, sizeof path, "/proc/self/io");
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int64_t v = -1;
    while (fgets(buf, sizeof buf, f))
        if (sscanf(buf, "read_bytes: %" SCNd64, &v) == 1)
            break;
    fclose(f);
    return v;
}

/* "backing_bytes_read" of a flashfs stats file (JSON), or -1. Read to EOF: FUSE control
 * files may report a size of 0. */
static int64_t stats_backing(const char *path)
{
    if (!path)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap + 1);
    ssize_t n = 0;
    while (buf && len < cap && (n = read(fd, buf + len, cap - len)) > 0)
        len += (size_t)n;
    close(fd);
    if (!buf || n < 0) {
        free(buf);
        return -1;
    }
    buf[len] = 0;
    cJSON *j = cJSON_ParseWithLength(buf, len);
    free(buf);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "backing_bytes_read");
    int64_t r = cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -1;
    cJSON_Delete(j);
    return r;
}

/* ---- one cycle ------------------------------------------------------------------------------ */

typedef struct {
    int mmap_mode;
    int busy;
    int tpt;                    /* threads per tensor (mmap mode) */
    uint64_t compute_ns;
    size_t block;
    uint8_t *buf;
    volatile uint64_t sink;     /* keeps the page touches from being optimized away */
} run_t;

static void compute(const run_t *r)
{
    if (r->compute_ns == 0)
        return;
    if (r->busy) {
        uint64_t end = fu_now_ns() + r->compute_ns;
        while (fu_now_ns() < end)
            ;
    } else {
        struct timespec ts = { (time_t)(r->compute_ns / 1000000000ull),
                               (long)(r->compute_ns % 1000000000ull) };
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
}

/* One byte of every page of [off, end) of a mapping. */
static uint64_t touch(const volatile uint8_t *m, uint64_t o, uint64_t end)
{
    uint64_t s = 0;
    while (o < end) {
        s += m[o];
        o = (o & ~(uint64_t)4095) + 4096;
    }
    return s;
}

typedef struct {
    const volatile uint8_t *m;
    uint64_t off, end, sum;
} slice_t;

static void *touch_slice(void *arg)
{
    slice_t *sl = arg;
    sl->sum = touch(sl->m, sl->off, sl->end);
    return NULL;
}

#define MAX_TPT 16

static int read_extent(run_t *r, const plan_t *p, const extent_t *e)
{
    if (r->mmap_mode && r->tpt > 1) {       /* T threads, one row range each */
        slice_t sl[MAX_TPT];
        pthread_t th[MAX_TPT];
        int started = 0;
        for (int i = 0; i < r->tpt; i++) {
            sl[i] = (slice_t){ p->maps[e->file], e->off + e->len * (uint64_t)i / (uint64_t)r->tpt,
                               e->off + e->len * (uint64_t)(i + 1) / (uint64_t)r->tpt, 0 };
            if (pthread_create(&th[i], NULL, touch_slice, &sl[i]) != 0)
                touch_slice(&sl[i]);
            else
                started |= 1 << i;
        }
        for (int i = 0; i < r->tpt; i++) {
            if (started & (1 << i))
                pthread_join(th[i], NULL);
            r->sink += sl[i].sum;
        }
        return 0;
    }
    if (r->mmap_mode) {
        r->sink += touch(p->maps[e->file], e->off, e->off + e->len);
        return 0;
    }
    for (uint64_t o = 0; o < e->len; o += r->block) {
        size_t n = (size_t)(e->len - o < r->block ? e->len - o : r->block);
        int rc = fu_pread_full(p->fds[e->file], r->buf, n, e->off + o);
        if (rc != 0)
            return rc;
        r->sink += r->buf[0];
    }
    return 0;
}

/* One pass over all groups; adds the time spent reading to *stall_ns. */
static int cycle(run_t *r, const plan_t *p, uint64_t *stall_ns)
{
    for (size_t s = 0; s < p->n_steps; s++) {
        uint64_t t0 = fu_now_ns();
        for (size_t i = 0; i < p->steps[s].n; i++) {
            int rc = read_extent(r, p, &p->ext[p->steps[s].first + i]);
            if (rc != 0)
                return rc;
        }
        *stall_ns += fu_now_ns() - t0;
        if (p->steps[s].is_layer)
            compute(r);
    }
    return 0;
}

/* ---- main ------------------------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f, "usage: flashfs-bench-reader MODEL_DIR [--mode pread|mmap] [--cycles N] [--warmup W]\n"
               "           [--compute-ms MS] [--compute busy|sleep] [--block SIZE] [--pid PID] [--stats FILE]\n"
               "           [--threads-per-tensor T] [--sweep]\n"
               "       flashfs-bench-reader MODEL_DIR --plan   (print the layout summary only)\n"
               "Reads the model's tensors layer group by layer group, N times after W warm-up\n"
               "cycles, pausing MS ms after each layer; prints one line of key=value results.\n");
}

static int64_t per_cycle(int64_t a, int64_t b, int cycles)
{
    return a < 0 || b < 0 ? -1 : (b - a) / cycles;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "mode", 1, 0, 'm' }, { "cycles", 1, 0, 'c' }, { "warmup", 1, 0, 'w' },
        { "compute-ms", 1, 0, 'p' }, { "compute", 1, 0, 'k' }, { "block", 1, 0, 'b' },
        { "pid", 1, 0, 'P' }, { "stats", 1, 0, 's' }, { "plan", 0, 0, 'L' }, { "help", 0, 0, 'h' },
        { "threads-per-tensor", 1, 0, 'T' }, { "sweep", 0, 0, 'S' },
        { 0, 0, 0, 0 }
    };
    run_t r = { .block = 4u << 20 };
    int cycles = 3, warmup = 1, plan_only = 0, sweep = 0;
    long pid = 0;
    const char *stats = NULL;
    double ms = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        uint64_t v;
        char *end;
        switch (c) {
        case 'm':
            if (strcmp(optarg, "pread") && strcmp(optarg, "mmap")) {
                fprintf(stderr, "flashfs-bench-reader: --mode pread or mmap\n");
                return 1;
            }
            r.mmap_mode = strcmp(optarg, "mmap") == 0;
            break;
        case 'c': cycles = atoi(optarg); break;
        case 'w': warmup = atoi(optarg); break;
        case 'p':
            ms = strtod(optarg, &end);
            if (end == optarg || *end || ms < 0 || ms > 3.6e6) {
                fprintf(stderr, "flashfs-bench-reader: --compute-ms '%s'\n", optarg);
                return 1;
            }
            break;
        case 'k':
            if (strcmp(optarg, "busy") && strcmp(optarg, "sleep")) {
                fprintf(stderr, "flashfs-bench-reader: --compute busy or sleep\n");
                return 1;
            }
            r.busy = strcmp(optarg, "busy") == 0;
            break;
        case 'b':
            if (fu_parse_size(optarg, &v) != 0 || v == 0 || v > (1u << 30)) {
                fprintf(stderr, "flashfs-bench-reader: --block '%s'\n", optarg);
                return 1;
            }
            r.block = (size_t)v;
            break;
        case 'P': pid = atol(optarg); break;
        case 's': stats = optarg; break;
        case 'L': plan_only = 1; break;
        case 'S': sweep = 1; break;
        case 'T':
            r.tpt = atoi(optarg);
            if (r.tpt < 1 || r.tpt > MAX_TPT) {
                fprintf(stderr, "flashfs-bench-reader: --threads-per-tensor 1..%d\n", MAX_TPT);
                return 1;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (optind != argc - 1 || cycles < 1 || warmup < 0) {
        usage(stderr);
        return 1;
    }
    r.compute_ns = (uint64_t)(ms * 1e6);
    plan_t p;
    memset(&p, 0, sizeof p);
    snprintf(p.dir, sizeof p.dir, "%s", argv[optind]);
    char err[512] = "";
    int rc = load_layout(&p, err, sizeof err);
    if (rc == 0)
        rc = build_plan(&p, r.tpt > 1, err, sizeof err);
    if (rc == 0 && plan_only) {
        printf("groups=%zu layers=%d bytes_per_cycle=%" PRIu64 " extents=%zu\n", p.n_steps,
               p.ly.n_layers, p.bytes_per_cycle, p.n_ext);
        free_plan(&p);
        return 0;
    }
    if (rc == 0 && r.mmap_mode)
        rc = map_files(&p, err, sizeof err);
    if (rc == 0 && !r.mmap_mode && !(r.buf = malloc(r.block)))
        rc = fu_err(err, sizeof err, -ENOMEM, "out of memory");
    if (rc == 0 && sweep && r.mmap_mode)
        for (size_t f = 0; f < p.ly.n_files; f++)
            if (p.maps[f]) {
                madvise(p.maps[f], p.ly.files[f].size, MADV_WILLNEED);
                r.sink += touch(p.maps[f], 0, p.ly.files[f].size);
            }
    uint64_t stall = 0;
    for (int i = 0; rc == 0 && i < warmup; i++)
        rc = cycle(&r, &p, &stall);
    int64_t self0 = proc_read_bytes(0), pid0 = pid > 0 ? proc_read_bytes(pid) : -1;
    int64_t st0 = stats_backing(stats);
    stall = 0;
    uint64_t t0 = fu_now_ns();
    for (int i = 0; rc == 0 && i < cycles; i++)
        rc = cycle(&r, &p, &stall);
    uint64_t wall = fu_now_ns() - t0;
    int64_t self1 = proc_read_bytes(0), pid1 = pid > 0 ? proc_read_bytes(pid) : -1;
    int64_t st1 = stats_backing(stats);
    if (rc != 0) {
        fprintf(stderr, "flashfs-bench-reader: %s\n", err[0] ? err : strerror(-rc));
        free(r.buf);
        free_plan(&p);
        return 1;
    }
    double ws = (double)wall / 1e9;
    printf("mode=%s groups=%zu layers=%d cycles=%d warmup=%d compute_ms=%g compute=%s "
           "bytes_per_cycle=%" PRIu64 " wall_s=%.4f cycles_per_s=%.4f stall_s=%.4f stall_pct=%.2f "
           "self_read_per_cycle=%" PRId64 " pid_read_per_cycle=%" PRId64
           " stats_backing_per_cycle=%" PRId64 " checksum=%" PRIu64 "\n",
           r.mmap_mode ? "mmap" : "pread", p.n_steps, p.ly.n_layers, cycles, warmup, ms,
           r.busy ? "busy" : "sleep", p.bytes_per_cycle, ws, cycles / ws, (double)stall / 1e9,
           100.0 * (double)stall / (double)wall, per_cycle(self0, self1, cycles),
           per_cycle(pid0, pid1, cycles), per_cycle(st0, st1, cycles), (uint64_t)r.sink);
    free(r.buf);
    free_plan(&p);
    return 0;
}
