/* it_packed.c — packed models through a real mount: flashfs-pack the fixtures, mount the
 * packed folder, and check that every file reads back exactly (sha256, sizes, random
 * pread and mmap ranges against the original), that a corrupted frame gives EIO for its
 * range only while the rest of the file and the daemon keep working, and the
 * flashfs-pack command line (errors, warnings, --verify, --no-group interop). */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <math.h>

#include "harness.h"
#include "pack.h"
#include "prom_check.h"

static const char *models[] = {
    "tests/fixtures/demo",
    "tests/fixtures/dev/llama-sp-f32",
    "tests/fixtures/dev/qwen2-bl-bf16",
    "tests/fixtures/gguf",
};
#define N_MODELS (sizeof models / sizeof *models)

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* out = a "/" b, asserting that it fits. */
static void pjoin(char *out, size_t n, const char *a, const char *b)
{
    int k = snprintf(out, n, "%s/%s", a, b);
    ck_assert(k > 0 && (size_t)k < n);
}

/* Run flashfs-pack with the given arguments; returns the exit status, output in *r. */
static int run_pack(const char *const *args, it_run_t *r)
{
    char prog[PATH_MAX];
    it_build_path("flashfs-pack", prog, sizeof prog);
    const char *argv[16] = { prog };
    size_t n = 1;
    for (; args[n - 1] && n < 15; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    ck_assert_int_eq(it_run(argv, 120000, r), 0);
    return r->status;
}

/* Pack model into a fresh temp dir (returned in out, inside tmp). */
static void pack_model(const char *model, const char *tmp, char *out, size_t outlen, const char *extra)
{
    pjoin(out, outlen, tmp, "packed");
    const char *args[] = { model, out, "--quiet", extra, NULL };
    it_run_t r;
    int st = run_pack(args, &r);
    ck_assert_msg(st == 0, "flashfs-pack %s failed (%d): %s", model, st, r.err);
    it_run_free(&r);
}

static int is_tensor(const char *name)
{
    size_t n = strlen(name);
    return (n > 12 && strcmp(name + n - 12, ".safetensors") == 0) || (n > 5 && strcmp(name + n - 5, ".gguf") == 0);
}

/* ---- the control files: packed statistics ------------------------------------------ */

/* Parse .flashfs/<name> of mount m as JSON (asserting it parses). */
static cJSON *ctl_json(const it_mount_t *m, const char *name)
{
    char *t;
    size_t n;
    ck_assert_int_eq(it_ctl_read(m, name, &t, &n), 0);
    cJSON *j = cJSON_Parse(t);
    ck_assert_msg(j != NULL, ".flashfs/%s is not JSON", name);
    free(t);
    return j;
}

/* Number o[a] (or o[a][b] when b), asserting it is one. */
static double jnum(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b)
        x = cJSON_GetObjectItemCaseSensitive(x, b);
    ck_assert_msg(cJSON_IsNumber(x), "\"%s\"/\"%s\" is not a number", a, b ? b : "");
    return x->valuedouble;
}

/* The packed counters of stats, the metrics (valid Prometheus text, same values) and the
 * layout's per-file fields agree with each other; returns the stats document. */
static cJSON *check_packed_ctl(const it_mount_t *m)
{
    cJSON *st = ctl_json(m, "stats");
    double files = jnum(st, "packed", "files"), lg = jnum(st, "packed", "logical_bytes");
    double sd = jnum(st, "packed", "stored_bytes"), ratio = jnum(st, "packed", "ratio");
    ck_assert(fabs(ratio - (lg > 0 ? sd / lg : 0.0)) < 1e-9);
    /* per-file entries sum to the totals */
    const cJSON *pf = cJSON_GetObjectItemCaseSensitive(st, "packed_files"), *e;
    ck_assert(cJSON_IsObject(pf));
    double n = 0, slg = 0, ssd = 0;
    cJSON_ArrayForEach(e, pf) {
        n++;
        slg += jnum(e, "logical", NULL);
        ssd += jnum(e, "stored", NULL);
    }
    ck_assert(n == files && slg == lg && ssd == sd);
    /* metrics carry the same values */
    char *t, err[256];
    size_t len;
    ck_assert_int_eq(it_ctl_read(m, "metrics", &t, &len), 0);
    pc_stats_t ps;
    ck_assert_msg(pc_validate(t, &ps, err, sizeof err) == 0, "metrics: %s", err);
    double v;
    ck_assert_int_eq(pc_sample(t, "flashfs_packed_files", "", &v), 0);
    ck_assert(v == files);
    ck_assert_int_eq(pc_sample(t, "flashfs_packed_stored_bytes", "", &v), 0);
    ck_assert(v == sd);
    ck_assert_int_eq(pc_sample(t, "flashfs_packed_logical_bytes", "", &v), 0);
    ck_assert(v == lg);
    ck_assert_int_eq(pc_sample(t, "flashfs_packed_corrupt_frames_total", "", &v), 0);
    ck_assert(v == jnum(st, "packed", "corrupt_frames"));
    ck_assert_int_eq(pc_sample(t, "flashfs_packed_stored_bytes_read_total", "", &v), 0);
    ck_assert(v >= jnum(st, "packed", "stored_bytes_read")); /* a counter, read after the stats */
    free(t);
    /* layout: every file entry has stored_size and packed; the packed ones are the
     * packed_files of stats */
    cJSON *ly = ctl_json(m, "layout");
    const cJSON *lf = cJSON_GetObjectItemCaseSensitive(ly, "files");
    ck_assert(cJSON_GetArraySize(lf) > 0);
    int n_packed = 0;
    cJSON_ArrayForEach(e, lf) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "packed");
        ck_assert_msg(cJSON_IsBool(p), "layout file entry without \"packed\"");
        double ss = jnum(e, "stored_size", NULL);
        ck_assert(ss > 0);
        n_packed += cJSON_IsTrue(p);
    }
    ck_assert(n_packed <= files);
    cJSON_Delete(ly);
    return st;
}

/* ---- every file identical through the mount --------------------------------------- */

START_TEST(packed_mount_sha256)
{
    const char *model = models[_i];
    char tmp[PATH_MAX], packed[PATH_MAX], err[1024];
    ck_assert_int_eq(it_tmpdir(tmp, sizeof tmp), 0);
    pack_model(model, tmp, packed, sizeof packed, NULL);

    it_mount_t m;
    const char *args[] = { "--ram", "64M", NULL };
    ck_assert_msg(it_mount_start(&m, packed, args, err, sizeof err) == 0, "%s", err);
    DIR *d = opendir(model);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int files = 0, tensors = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char orig[PATH_MAX], mnt[PATH_MAX], raw[PATH_MAX], h1[65], h2[65];
        pjoin(orig, sizeof orig, model, e->d_name);
        pjoin(raw, sizeof raw, packed, e->d_name);
        it_mpath(&m, e->d_name, mnt, sizeof mnt);
        struct stat so, sm, sr;
        ck_assert_int_eq(stat(orig, &so), 0);
        ck_assert_msg(stat(mnt, &sm) == 0, "%s missing on the mount", e->d_name);
        ck_assert_int_eq(stat(raw, &sr), 0);
        ck_assert_msg(so.st_size == sm.st_size, "%s: size %lld on the mount, %lld original", e->d_name,
                      (long long)sm.st_size, (long long)so.st_size);
        if (is_tensor(e->d_name)) {
            ck_assert_msg(sr.st_size < so.st_size, "%s was not packed", e->d_name);
            tensors++;
        }
        ck_assert_int_eq(it_sha256_file(orig, 65536, h1), 0);
        ck_assert_int_eq(it_sha256_file(mnt, 131072 + 4096 * (files % 3), h2), 0);
        ck_assert_msg(strcmp(h1, h2) == 0, "%s: sha256 differs through the packed mount", e->d_name);
        files++;
    }
    closedir(d);
    ck_assert_int_gt(files, 0);
    ck_assert_int_gt(tensors, 0);
    /* stats: every tensor file is packed and smaller on disk; nothing corrupt */
    cJSON *st = check_packed_ctl(&m);
    ck_assert_int_eq((int)jnum(st, "packed", "files"), tensors);
    ck_assert(jnum(st, "packed", "stored_bytes") < jnum(st, "packed", "logical_bytes"));
    ck_assert(jnum(st, "packed", "ratio") > 0 && jnum(st, "packed", "ratio") < 1);
    ck_assert(jnum(st, "packed", "corrupt_frames") == 0);
    ck_assert(jnum(st, "errors", NULL) == 0);
    /* every frame was read from disk at least once (headers and seek tables are the only
     * stored bytes a full read may skip: a few KiB) */
    ck_assert_msg(jnum(st, "packed", "stored_bytes_read") >= 0.9 * jnum(st, "packed", "stored_bytes"),
                  "stored_bytes_read %.0f of stored_bytes %.0f", jnum(st, "packed", "stored_bytes_read"),
                  jnum(st, "packed", "stored_bytes"));
    /* every file was read through: the backing store delivered bytes in measured time */
    ck_assert(jnum(st, "backing_bytes_read", NULL) > 0);
    ck_assert(jnum(st, "backing_read_ms", NULL) > 0);
    ck_assert(jnum(st, "effective_read_rate_mb_s", NULL) > 0);
    cJSON_Delete(st);
    ck_assert_int_eq(it_mount_stop(&m), 0);
    it_rm_rf(tmp);
}
END_TEST

/* ---- daemon mode: the daemon forks after reading the headers ------------------------ */

/* Regression: the decode pool started while the headers were read, before flashfs forks
 * into the background; the child then hung on the first read that queued a frame. */
START_TEST(packed_mount_daemon_mode)
{
    const char *model = "tests/fixtures/demo";
    char tmp[PATH_MAX], packed[PATH_MAX], err[1024];
    ck_assert_int_eq(it_tmpdir(tmp, sizeof tmp), 0);
    pack_model(model, tmp, packed, sizeof packed, NULL);

    it_mount_t m;
    const char *args[] = { "--ram", "8M", NULL };
    ck_assert_msg(it_mount_start_daemon(&m, packed, args, err, sizeof err) == 0, "%s", err);
    DIR *d = opendir(model);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int tensors = 0;
    while ((e = readdir(d))) {
        if (!is_tensor(e->d_name))
            continue;
        char orig[PATH_MAX], mnt[PATH_MAX], h1[65], h2[65];
        pjoin(orig, sizeof orig, model, e->d_name);
        it_mpath(&m, e->d_name, mnt, sizeof mnt);
        ck_assert_int_eq(it_sha256_file(orig, 65536, h1), 0);
        ck_assert_int_eq(it_sha256_file(mnt, 4 << 20, h2), 0);
        ck_assert_msg(strcmp(h1, h2) == 0, "%s: sha256 differs through the daemonized packed mount",
                      e->d_name);
        tensors++;
    }
    closedir(d);
    ck_assert_int_gt(tensors, 0);
    ck_assert_int_eq(it_mount_stop(&m), 0);
    it_rm_rf(tmp);
}
END_TEST

/* ---- random differential reads: pread and mmap ------------------------------------- */

START_TEST(packed_mount_random_reads)
{
    char tmp[PATH_MAX], packed[PATH_MAX], err[1024];
    ck_assert_int_eq(it_tmpdir(tmp, sizeof tmp), 0);
    pack_model("tests/fixtures/demo", tmp, packed, sizeof packed, NULL);
    it_mount_t m;
    const char *args[] = { "--ram", "16M", NULL };
    ck_assert_msg(it_mount_start(&m, packed, args, err, sizeof err) == 0, "%s", err);
    const char *files[] = { "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" };
    for (int k = 0; k < 2; k++) {
        char orig[PATH_MAX], mnt[PATH_MAX];
        pjoin(orig, sizeof orig, "tests/fixtures/demo", files[k]);
        it_mpath(&m, files[k], mnt, sizeof mnt);
        char *want;
        size_t n;
        ck_assert_int_eq(it_slurp(orig, &want, &n), 0);
        int fd = open(mnt, O_RDONLY);
        ck_assert_int_ge(fd, 0);
        char *buf = malloc(4 << 20);
        for (int i = 0; i < 400; i++) {
            uint64_t off = rnd() % n, len = rnd() % (i % 5 == 0 ? (4u << 20) : 70000);
            if (len > n - off)
                len = n - off;
            ssize_t got = pread(fd, buf, len, (off_t)off);
            ck_assert_int_eq(got, (ssize_t)len);
            ck_assert_msg(memcmp(buf, want + off, len) == 0, "%s: pread %llu+%llu differs", files[k],
                          (unsigned long long)off, (unsigned long long)len);
        }
        /* past the end: short read, then 0 */
        ck_assert_int_eq(pread(fd, buf, 100, (off_t)n - 10), 10);
        ck_assert_int_eq(pread(fd, buf, 100, (off_t)n), 0);
        const uint8_t *map = mmap(NULL, n, PROT_READ, MAP_SHARED, fd, 0);
        ck_assert_ptr_ne(map, MAP_FAILED);
        for (int i = 0; i < 300; i++) {
            uint64_t off = rnd() % n, len = rnd() % 20000;
            if (len > n - off)
                len = n - off;
            ck_assert_msg(memcmp(map + off, want + off, len) == 0, "%s: mmap %llu+%llu differs", files[k],
                          (unsigned long long)off, (unsigned long long)len);
        }
        ck_assert(memcmp(map, want, n) == 0);
        munmap((void *)map, n);
        close(fd);
        free(buf);
        free(want);
    }
    ck_assert_int_eq(it_mount_stop(&m), 0);
    it_rm_rf(tmp);
}
END_TEST

/* The mount tests' differential reader (build/tests/randread: threads, pread + mmap,
 * EOF-crossing reads) against the ORIGINAL files, on packed demo and GGUF mounts. */
START_TEST(packed_mount_randread)
{
    static const char *sets[][3] = {
        { "tests/fixtures/demo", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" },
        { "tests/fixtures/gguf", "demo-bf16.gguf", "demo-q8_0.gguf" },
    };
    const char *const *set = sets[_i];
    char tmp[PATH_MAX], packed[PATH_MAX], err[1024], prog[PATH_MAX];
    ck_assert_int_eq(it_tmpdir(tmp, sizeof tmp), 0);
    pack_model(set[0], tmp, packed, sizeof packed, NULL);
    it_mount_t m;
    const char *args[] = { "--ram", "16M", NULL };
    ck_assert_msg(it_mount_start(&m, packed, args, err, sizeof err) == 0, "%s", err);
    char m1[PATH_MAX], m2[PATH_MAX], o1[PATH_MAX], o2[PATH_MAX];
    it_mpath(&m, set[1], m1, sizeof m1);
    it_mpath(&m, set[2], m2, sizeof m2);
    pjoin(o1, sizeof o1, set[0], set[1]);
    pjoin(o2, sizeof o2, set[0], set[2]);
    it_build_path("tests/randread", prog, sizeof prog);
    const char *argv[] = { prog, "--reads", "20000", "--threads", "4", "--seed", _i ? "7" : "3",
                           m1, o1, m2, o2, NULL };
    it_run_t r;
    ck_assert_int_eq(it_run(argv, 240000, &r), 0);
    ck_assert_msg(r.status == 0, "randread on the packed mount failed (%d): %s %s", r.status, r.out, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "mismatches=0"));
    it_run_free(&r);
    ck_assert_int_eq(it_mount_stop(&m), 0);
    it_rm_rf(tmp);
}
END_TEST

/* ---- a corrupted frame: EIO for its range only --------------------------------------- */

START_TEST(packed_mount_corrupt_frame)
{
    char tmp[PATH_MAX], packed[PATH_MAX], path[PATH_MAX], err[1024];
    ck_assert_int_eq(it_tmpdir(tmp, sizeof tmp), 0);
    pack_model("tests/fixtures/demo", tmp, packed, sizeof packed, NULL);
    const char *name = "model-00001-of-00002.safetensors";
    pjoin(path, sizeof path, packed, name);

    /* corrupt the middle of a frame in the middle of the file */
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    pk_reader_t *r;
    ck_assert_msg(pk_reader_open(fd, path, &r, err, sizeof err) == 0, "%s", err);
    const pk_table_t *t = pk_reader_table(r);
    pk_frame_t f = t->frames[t->n_frames / 2];
    pk_reader_close(r);
    uint8_t c;
    ck_assert_int_eq(pread(fd, &c, 1, (off_t)(f.coff + f.csize / 2)), 1);
    c ^= 0xa5;
    ck_assert_int_eq(pwrite(fd, &c, 1, (off_t)(f.coff + f.csize / 2)), 1);
    close(fd);

    it_mount_t m;
    const char *args[] = { "--ram", "32M", NULL };
    ck_assert_msg(it_mount_start(&m, packed, args, err, sizeof err) == 0, "%s", err);
    char mnt[PATH_MAX], orig[PATH_MAX];
    it_mpath(&m, name, mnt, sizeof mnt);
    pjoin(orig, sizeof orig, "tests/fixtures/demo", name);
    char *want;
    size_t n;
    ck_assert_int_eq(it_slurp(orig, &want, &n), 0);
    fd = open(mnt, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    char *buf = malloc(n);
    errno = 0;
    ck_assert_int_eq(pread(fd, buf, 4096, (off_t)(f.loff + f.dsize / 2)), -1);
    ck_assert_int_eq(errno, EIO);
    /* before and after the frame's range (one page of slack: the mount reads whole pages) */
    uint64_t lo = f.loff > 8192 ? (f.loff - 8192) & ~4095ull : 0;
    uint64_t hi = (f.loff + f.dsize + 8191) & ~4095ull;
    ck_assert_int_eq(pread(fd, buf, lo, 0), (ssize_t)lo);
    ck_assert(memcmp(buf, want, lo) == 0);
    if (hi < n) {
        ck_assert_int_eq(pread(fd, buf, n - hi, (off_t)hi), (ssize_t)(n - hi));
        ck_assert(memcmp(buf, want + hi, n - hi) == 0);
    }
    /* still EIO on a second try, and the daemon still serves the other shard */
    errno = 0;
    ck_assert_int_eq(pread(fd, buf, 1, (off_t)(f.loff + 1)), -1);
    ck_assert_int_eq(errno, EIO);
    close(fd);
    /* the failures are counted: corrupt frames in "packed", EIO replies in "errors" */
    cJSON *st = check_packed_ctl(&m);
    ck_assert(jnum(st, "packed", "corrupt_frames") > 0);
    ck_assert(jnum(st, "errors", NULL) > 0);
    ck_assert(jnum(st, "packed", "files") > 0);
    cJSON_Delete(st);
    char other[PATH_MAX], h1[65], h2[65], o2[PATH_MAX];
    it_mpath(&m, "model-00002-of-00002.safetensors", other, sizeof other);
    snprintf(o2, sizeof o2, "tests/fixtures/demo/model-00002-of-00002.safetensors");
    ck_assert_int_eq(it_sha256_file(other, 65536, h1), 0);
    ck_assert_int_eq(it_sha256_file(o2, 65536, h2), 0);
    ck_assert_str_eq(h1, h2);
    free(buf);
    free(want);
    ck_assert_int_eq(it_mount_stop(&m), 0);
    it_rm_rf(tmp);
}
END_TEST

/* ---- a plain mount reports no packed files ------------------------------------------ */

START_TEST(plain_mount_packed_stats)
{
    char err[1024];
    it_mount_t m;
    const char *args[] = { "--ram", "32M", NULL };
    ck_assert_msg(it_mount_start(&m, "tests/fixtures/demo", args, err, sizeof err) == 0, "%s", err);
    cJSON *st = check_packed_ctl(&m);
    ck_assert(jnum(st, "packed", "files") == 0);
    ck_assert(jnum(st, "packed", "logical_bytes") == 0);
    ck_assert(jnum(st, "packed", "ratio") == 0);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(st, "packed_files")), 0);
    /* nothing read yet: no backing time, no rate */
    if (jnum(st, "backing_bytes_read", NULL) == 0)
        ck_assert(jnum(st, "effective_read_rate_mb_s", NULL) == 0);
    cJSON_Delete(st);
    ck_assert_int_eq(it_mount_stop(&m), 0);
}
END_TEST

/* ---- the command line ----------------------------------------------------------------- */

START_TEST(pack_cli_errors)
{
    char tmp[PATH_MAX], out[PATH_MAX], junkdir[PATH_MAX], junk[PATH_MAX];
    ck_assert_int_eq(it_tmpdir(tmp, sizeof tmp), 0);
    it_run_t r;
    pjoin(out, sizeof out, tmp, "out");

    const char *missing[] = { "/nonexistent/model", out, NULL };
    ck_assert_int_eq(run_pack(missing, &r), 2);
    ck_assert_ptr_nonnull(strstr(r.err, "/nonexistent/model"));
    it_run_free(&r);

    const char *notempty[] = { "tests/fixtures/dev/qwen2-bl-bf16", "tests/fixtures/demo", NULL };
    ck_assert_int_eq(run_pack(notempty, &r), 3);
    ck_assert_ptr_nonnull(strstr(r.err, "not empty"));
    it_run_free(&r);

    const char *badopt[] = { "tests/fixtures/demo", out, "--level", "99", NULL };
    ck_assert_int_eq(run_pack(badopt, &r), 1);
    it_run_free(&r);

    /* an unparsable .safetensors: packed without grouping, with a warning; --verify ok */
    pjoin(junkdir, sizeof junkdir, tmp, "junk");
    ck_assert_int_eq(mkdir(junkdir, 0755), 0);
    pjoin(junk, sizeof junk, junkdir, "model.safetensors");
    FILE *f = fopen(junk, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 5000; i++)
        fprintf(f, "not a model %d\n", i);
    fclose(f);
    const char *warn[] = { junkdir, out, "--verify", NULL };
    ck_assert_int_eq(run_pack(warn, &r), 0);
    ck_assert_ptr_nonnull(strstr(r.err, "warning"));
    ck_assert_ptr_nonnull(strstr(r.err, "model.safetensors"));
    ck_assert_ptr_nonnull(strstr(r.out, "verified"));
    it_run_free(&r);
    it_rm_rf(tmp);
}
END_TEST

START_TEST(pack_cli_nogroup_zstd_interop)
{
    char tmp[PATH_MAX], packed[PATH_MAX], cmd[3 * PATH_MAX];
    ck_assert_int_eq(it_tmpdir(tmp, sizeof tmp), 0);
    pack_model("tests/fixtures/gguf", tmp, packed, sizeof packed, "--no-group");
    const char *name[] = { "demo-bf16.gguf", "demo-q8_0.gguf" };
    for (int i = 0; i < 2; i++) {
        char h1[65], h2[65], dec[PATH_MAX], orig[PATH_MAX];
        pjoin(dec, sizeof dec - 4, tmp, name[i]);
        strcat(dec, ".dec");
        pjoin(orig, sizeof orig, "tests/fixtures/gguf", name[i]);
        int k = snprintf(cmd, sizeof cmd, "zstd -q -d -c '%s/%s' > '%s'", packed, name[i], dec);
        ck_assert(k > 0 && (size_t)k < sizeof cmd);
        ck_assert_int_eq(system(cmd), 0);
        ck_assert_int_eq(it_sha256_file(dec, 65536, h1), 0);
        ck_assert_int_eq(it_sha256_file(orig, 65536, h2), 0);
        ck_assert_msg(strcmp(h1, h2) == 0, "zstd -d of %s differs from the original", name[i]);
    }
    it_rm_rf(tmp);
}
END_TEST

Suite *it_packed_suite(void)
{
    Suite *s = suite_create("it_packed");
    TCase *tc = tcase_create("packed");
    tcase_set_timeout(tc, IT_TCASE_TIMEOUT);
    tcase_add_loop_test(tc, packed_mount_sha256, 0, N_MODELS);
    tcase_add_test(tc, packed_mount_random_reads);
    tcase_add_test(tc, packed_mount_daemon_mode);
    tcase_add_loop_test(tc, packed_mount_randread, 0, 2);
    tcase_add_test(tc, packed_mount_corrupt_frame);
    tcase_add_test(tc, plain_mount_packed_stats);
    tcase_add_test(tc, pack_cli_errors);
    tcase_add_test(tc, pack_cli_nogroup_zstd_interop);
    suite_add_tcase(s, tc);
    return s;
}
