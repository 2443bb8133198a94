/* test_pack.c — unit tests of the packed format: transforms, writer + reader round trip
 * on synthetic data, corrupt frames, truncation, hostile seek tables, zstd interop,
 * src_open of packed files, concurrent reads. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pack.h"
#include "source.h"

/* ---- helpers ------------------------------------------------------------------------ */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Weight-like bytes: bf16 values with a narrow exponent range, then text-ish bytes. */
static uint8_t *make_data(size_t n)
{
    uint8_t *d = malloc(n);
    ck_assert_ptr_nonnull(d);
    for (size_t i = 0; i + 1 < n; i += 2) {
        uint64_t r = rnd();
        uint16_t v = (uint16_t)(((r >> 20) & 1) << 15 | (uint16_t)(118 + (r >> 8) % 6) << 7 | (r & 0x7f));
        d[i] = (uint8_t)v;
        d[i + 1] = (uint8_t)(v >> 8);
    }
    if (n & 1)
        d[n - 1] = 0x5a;
    return d;
}

static char tmpdir[64];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ffpk.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static void write_file(const char *path, const void *d, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fu_write_full(fd, d, n), 0);
    close(fd);
}

/* The regions of the synthetic file: a header, bf16, small tensors to merge, g2, g4,
 * an odd-length tail. */
static size_t make_regions(size_t n, pk_region_t *rg)
{
    size_t cuts[] = { 0, 1000, 1000 + 50000, 51000 + 300, 51300 + 600, 51900 + 40000, 91900 + 24000, n };
    uint8_t tr[] = { PK_T_NONE, PK_T_BF16, PK_T_BF16, PK_T_BF16, PK_T_G2, PK_T_G4, PK_T_NONE };
    uint8_t kl[] = { PK_K_HEADER, PK_K_BF16, PK_K_BF16, PK_K_BF16, PK_K_F16, PK_K_F32, PK_K_OTHER };
    for (size_t i = 0; i < 7; i++)
        rg[i] = (pk_region_t){ cuts[i], cuts[i + 1] - cuts[i], tr[i], kl[i] };
    return 7;
}

/* Pack d[0..n) into path with the given grouping and frame size; returns the stats. */
static pk_stats_t pack_to(const char *path, const uint8_t *d, size_t n, int group, uint32_t fs, int threads)
{
    char in[128], err[256];
    snprintf(in, sizeof in, "%s/in.bin", tmpdir);
    write_file(in, d, n);
    pk_region_t rg[8];
    size_t nr = make_regions(n, rg);
    int ifd = open(in, O_RDONLY), ofd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(ifd, 0);
    ck_assert_int_ge(ofd, 0);
    pk_wopts_t o = { .level = 3, .threads = threads, .group = group, .frame_size = fs };
    pk_stats_t st = { 0 };
    int rc = pk_write(ifd, n, rg, nr, ofd, &o, &st, err, sizeof err);
    ck_assert_msg(rc == 0, "pk_write: %s", err);
    close(ifd);
    close(ofd);
    return st;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    char *b;
    ck_assert_int_eq(fu_read_file(path, 1u << 30, &b, n), 0);
    return (uint8_t *)b;
}

#define N_DATA 300001

/* Pack d[0..N_DATA) grouped with frame size fs into tmpdir/packed, open it with oflags
 * into *fd and return a reader over it. */
static pk_reader_t *pack_open(const uint8_t *d, uint32_t fs, int threads, int oflags, int *fd)
{
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/packed", tmpdir);
    pack_to(path, d, N_DATA, 1, fs, threads);
    *fd = open(path, oflags);
    ck_assert_int_ge(*fd, 0);
    pk_reader_t *r;
    ck_assert_msg(pk_reader_open(*fd, path, &r, err, sizeof err) == 0, "%s", err);
    return r;
}

/* ---- transforms ----------------------------------------------------------------------- */

START_TEST(transforms_invert)
{
    uint8_t *d = make_data(1037), a[1037], b[1037];
    for (unsigned t = PK_T_NONE; t < PK_T_COUNT; t++)
        for (size_t len = 0; len <= 1037; len += (len < 9 ? 1 : 97)) {
            pk_group(t, d, a, len);
            pk_ungroup(t, a, b, len);
            ck_assert_msg(memcmp(b, d, len) == 0, "transform %s len %zu", pk_transform_name(t), len);
        }
    /* bf16 1.0 = 0x3F80: sign 0, exponent 127, mantissa 0; -2.0 = 0xC000: exponent 128 */
    uint8_t v[4] = { 0x80, 0x3f, 0x00, 0xc0 }, g[4];
    pk_group(PK_T_BF16, v, g, 4);
    ck_assert_uint_eq(g[0], 0x00);
    ck_assert_uint_eq(g[1], 0x80);
    ck_assert_uint_eq(g[2], 127);
    ck_assert_uint_eq(g[3], 128);
    pk_group(PK_T_G4, (const uint8_t *)"abcdABCD", g, 4);
    ck_assert_uint_eq(g[0], 'a');
    ck_assert_uint_eq(g[1], 'b');
    free(d);
}
END_TEST

/* ---- round trip ------------------------------------------------------------------------- */

static void check_roundtrip(int group, uint32_t fs, int threads)
{
    uint8_t *d = make_data(N_DATA);
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/packed", tmpdir);
    pk_stats_t st = pack_to(path, d, N_DATA, group, fs, threads);
    uint64_t in = 0;
    for (int k = 0; k < PK_K_COUNT; k++)
        in += st.in_bytes[k];
    ck_assert_uint_eq(in, N_DATA);

    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    pk_reader_t *r;
    ck_assert_msg(pk_reader_open(fd, path, &r, err, sizeof err) == 0, "%s", err);
    const pk_table_t *t = pk_reader_table(r);
    ck_assert_uint_eq(t->logical_size, N_DATA);
    ck_assert_uint_le(t->max_dsize, fs + 3);
    /* frames are aligned to regions: a frame that spans a region boundary (merged small
     * regions) starts and ends on region boundaries */
    pk_region_t rg[8];
    size_t nr = make_regions(N_DATA, rg);
    for (uint32_t i = 1; i < t->n_frames; i++) {
        const pk_frame_t *f = &t->frames[i];
        int spans = 0, s_ok = 0, e_ok = 0;
        for (size_t k = 0; k < nr; k++) {
            spans |= f->loff < rg[k].off && f->loff + f->dsize > rg[k].off;
            s_ok |= f->loff == rg[k].off;
            e_ok |= f->loff + f->dsize == rg[k].off + rg[k].len;
        }
        ck_assert_msg(!spans || (s_ok && e_ok), "frame %u straddles a region", i);
        if (!group)
            ck_assert_uint_eq(f->transform, PK_T_NONE);
    }
    uint8_t *b = malloc(N_DATA);
    ck_assert_int_eq(pk_reader_read(r, b, N_DATA, 0), 0);
    ck_assert(memcmp(b, d, N_DATA) == 0);
    for (int i = 0; i < 400; i++) {
        uint64_t off = rnd() % N_DATA, len = rnd() % (i % 4 == 0 ? N_DATA - off + 1 : 3 * fs);
        if (len > N_DATA - off)
            len = N_DATA - off;
        memset(b, 0, len);
        ck_assert_int_eq(pk_reader_read(r, b, len, off), 0);
        ck_assert_msg(memcmp(b, d + off, len) == 0, "range %llu+%llu", (unsigned long long)off,
                      (unsigned long long)len);
    }
    /* sequential pieces (the read-ahead path), with a piece size that is no divisor of
     * the frame size */
    memset(b, 0, N_DATA);
    for (uint64_t off = 0; off < N_DATA; off += 3001) {
        size_t len = N_DATA - off < 3001 ? N_DATA - off : 3001;
        ck_assert_int_eq(pk_reader_read(r, b + off, len, off), 0);
    }
    ck_assert(memcmp(b, d, N_DATA) == 0);
    ck_assert_int_eq(pk_reader_read(r, b, 2, N_DATA - 1), -EINVAL);
    ck_assert_uint_eq(pk_reader_errors(r), 0);
    pk_reader_close(r);
    close(fd);
    free(b);
    free(d);
}

START_TEST(roundtrip_grouped)
{
    check_roundtrip(1, 8192, 2);
}
END_TEST

START_TEST(roundtrip_plain_1thread)
{
    check_roundtrip(0, 4096, 1);
}
END_TEST

START_TEST(roundtrip_buffered_fallback)
{
    /* the path taken where O_DIRECT is refused: buffered pread + DONTNEED */
    setenv("FLASHFS_PACK_NO_DIRECT", "1", 1);
    check_roundtrip(1, 8192, 2);
    unsetenv("FLASHFS_PACK_NO_DIRECT");
}
END_TEST

START_TEST(roundtrip_big_frames)
{
    check_roundtrip(1, PK_DEFAULT_FRAME, 3);
}
END_TEST

START_TEST(grouping_helps)
{
    uint8_t *d = make_data(N_DATA);
    char path[128];
    snprintf(path, sizeof path, "%s/p", tmpdir);
    pk_stats_t g = pack_to(path, d, N_DATA, 1, 65536, 2);
    pk_stats_t p = pack_to(path, d, N_DATA, 0, 65536, 2);
    ck_assert_uint_eq(g.in_bytes[PK_K_BF16], p.in_bytes[PK_K_BF16]);
    ck_assert_uint_lt(g.out_bytes[PK_K_BF16], p.out_bytes[PK_K_BF16]);
    free(d);
}
END_TEST

START_TEST(empty_file)
{
    char in[128], path[128], err[256];
    snprintf(in, sizeof in, "%s/empty", tmpdir);
    snprintf(path, sizeof path, "%s/empty.pk", tmpdir);
    write_file(in, "", 0);
    int ifd = open(in, O_RDONLY), ofd = open(path, O_WRONLY | O_CREAT, 0644);
    pk_wopts_t o = { .threads = 1, .group = 1 };
    ck_assert_int_eq(pk_write(ifd, 0, NULL, 0, ofd, &o, NULL, err, sizeof err), 0);
    close(ifd);
    close(ofd);
    src_t *s;
    ck_assert_int_eq(src_open(AT_FDCWD, path, &s, err, sizeof err), 0);
    ck_assert_str_eq(s->ops->kind, "packed");
    ck_assert_uint_eq(s->size, 0);
    src_close(s);
}
END_TEST

/* ---- corruption ------------------------------------------------------------------------ */

START_TEST(corrupt_frame_eio_only_there)
{
    uint8_t *d = make_data(N_DATA);
    int fd;
    pk_reader_t *r = pack_open(d, 8192, 2, O_RDWR, &fd);
    const pk_table_t *t = pk_reader_table(r);
    uint32_t bad = t->n_frames / 2;
    const pk_frame_t *f = &t->frames[bad];
    /* flip a byte in the middle of the frame's compressed data */
    uint8_t c;
    ck_assert_int_eq(fu_pread_full(fd, &c, 1, f->coff + f->csize / 2), 0);
    c ^= 0x5a;
    ck_assert_int_eq(pwrite(fd, &c, 1, f->coff + f->csize / 2), 1);
    uint64_t before = pk_errors();
    uint8_t *b = malloc(N_DATA);
    ck_assert_int_eq(pk_reader_read(r, b, N_DATA, 0), -EIO);
    ck_assert_int_eq(pk_reader_read(r, b, 1, f->loff + f->dsize - 1), -EIO);
    ck_assert_int_eq(pk_reader_read(r, b, 10, f->loff + 5), -EIO);
    ck_assert_uint_ge(pk_reader_errors(r), 3);
    ck_assert_uint_ge(pk_errors() - before, 3);
    /* everything before and after the frame still reads */
    ck_assert_int_eq(pk_reader_read(r, b, f->loff, 0), 0);
    ck_assert(memcmp(b, d, f->loff) == 0);
    uint64_t end = f->loff + f->dsize;
    ck_assert_int_eq(pk_reader_read(r, b, N_DATA - end, end), 0);
    ck_assert(memcmp(b, d + end, N_DATA - end) == 0);
    pk_reader_close(r);
    close(fd);
    free(b);
    free(d);
}
END_TEST

START_TEST(truncated_clear_error)
{
    uint8_t *d = make_data(N_DATA);
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/packed", tmpdir);
    pack_to(path, d, N_DATA, 1, 8192, 2);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    for (off_t cut = 1; cut < 40000; cut = cut * 3 + 1) {
        ck_assert_int_eq(truncate(path, sb.st_size - cut), 0);
        src_t *s = NULL;
        err[0] = 0;
        int rc = src_open(AT_FDCWD, path, &s, err, sizeof err);
        ck_assert_msg(rc < 0, "truncated by %lld accepted", (long long)cut);
        ck_assert_ptr_null(s);
        ck_assert_msg(strlen(err) > 0, "no reason given");
    }
    ck_assert_int_eq(truncate(path, sb.st_size - 1), 0);
    src_t *s;
    ck_assert_int_eq(src_open(AT_FDCWD, path, &s, err, sizeof err), -EIO);
    ck_assert_ptr_nonnull(strstr(err, "truncated"));
    free(d);
}
END_TEST

/* Patch a little-endian u32 into a buffer. */
static void set32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

START_TEST(hostile_tables)
{
    uint8_t *d = make_data(N_DATA);
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/packed", tmpdir);
    pack_to(path, d, N_DATA, 1, 8192, 1);
    size_t n;
    uint8_t *orig = slurp(path, &n), *b = malloc(n);
    pk_table_t t;
    fu_mem_t m = { b, n };
    memcpy(b, orig, n);
    ck_assert_int_eq(pk_table_parse(fu_mem_read, &m, n, &t, err, sizeof err), 0);
    uint32_t nf = t.n_frames;
    pk_table_free(&t);
    size_t foot = n - PK_FOOTER_SIZE, ent = n - PK_FOOTER_SIZE - (size_t)nf * PK_ENTRY_SIZE;
    size_t hdr_tr = 8 + PK_HDR_FIXED; /* transform bytes in the header */
    struct { size_t at; uint32_t v; int byte; const char *what; } cases[] = {
        { foot, 0x7ffffff, 0, "frame count larger than the file" },
        { foot, 0xffffffff, 0, "frame count overflow" },
        { foot, 0, 0, "no frames" },
        { foot, nf - 1, 0, "frame count one short" },
        { foot + 4, 0x40, 1, "reserved descriptor bits" },
        { ent + 8, 0xffffffff, 0, "compressed size overflow" },
        { ent + 12, 0xffffffff, 0, "decompressed size overflow" },
        { ent + 12, 0, 0, "empty data frame" },
        { ent + 8 + 8 * 3, 1, 0, "compressed sizes do not add up" },
        { ent + 12 + 8 * 3, 5, 0, "decompressed sizes do not add up" },
        { ent, 0, 0, "header frame entry" },
        { ent - 4, 0x12345678, 0, "seek table frame size" },
        { hdr_tr + 1, PK_T_G4, 1, "transform flipped (check value)" },
        { hdr_tr + 1, 77, 1, "unknown transform" },
        { 8 + 12, nf + 1, 0, "header frame count" },
        { 4, 3, 0, "header frame size" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        memcpy(b, orig, n);
        if (cases[i].byte)
            b[cases[i].at] = (uint8_t)cases[i].v;
        else
            set32(b + cases[i].at, cases[i].v);
        err[0] = 0;
        int rc = pk_table_parse(fu_mem_read, &m, n, &t, err, sizeof err);
        ck_assert_msg(rc < 0, "accepted: %s", cases[i].what);
        ck_assert_msg(err[0] != 0, "no reason for: %s", cases[i].what);
        ck_assert_ptr_null(t.frames);
    }
    /* random garbage in the seek table never crashes and is never accepted silently
     * with wrong sums */
    for (int i = 0; i < 2000; i++) {
        memcpy(b, orig, n);
        size_t at = ent - 8 + rnd() % (n - ent + 8);
        b[at] ^= (uint8_t)(1 + rnd() % 255);
        if (pk_table_parse(fu_mem_read, &m, n, &t, err, sizeof err) == 0) {
            uint64_t sum = 0;
            for (uint32_t k = 0; k < t.n_frames; k++)
                sum += t.frames[k].dsize;
            ck_assert_uint_eq(sum, t.logical_size);
            pk_table_free(&t);
        }
    }
    free(orig);
    free(b);
    free(d);
}
END_TEST

/* ---- interop and sources --------------------------------------------------------------- */

START_TEST(zstd_cli_decodes_ungrouped)
{
    uint8_t *d = make_data(N_DATA);
    char path[128], out[128], cmd[400];
    snprintf(path, sizeof path, "%s/packed", tmpdir);
    snprintf(out, sizeof out, "%s/out", tmpdir);
    pack_to(path, d, N_DATA, 0, 8192, 2);
    snprintf(cmd, sizeof cmd, "zstd -q -d -c %s > %s", path, out);
    ck_assert_int_eq(system(cmd), 0);
    size_t n;
    uint8_t *o = slurp(out, &n);
    ck_assert_uint_eq(n, N_DATA);
    ck_assert(memcmp(o, d, N_DATA) == 0);
    free(o);
    free(d);
}
END_TEST

typedef struct {
    src_t *s;
    const uint8_t *d;
    uint64_t seed;
    int bad;
} thr_t;

static void *reader_thread(void *arg)
{
    thr_t *a = arg;
    uint8_t *b = malloc(40000);
    uint64_t x = a->seed;
    for (int i = 0; i < 300 && b; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t off = (x >> 20) % N_DATA, len = (x >> 5) % 40000;
        if (len > N_DATA - off)
            len = N_DATA - off;
        if (src_read(a->s, b, len, off) != 0 || memcmp(b, a->d + off, len) != 0)
            a->bad++;
        /* and a short sequential run from there (read-ahead racing with other threads) */
        for (int k = 0; k < 4 && off + len + 5000 <= N_DATA; k++) {
            off += len;
            len = 5000;
            if (src_read(a->s, b, len, off) != 0 || memcmp(b, a->d + off, len) != 0)
                a->bad++;
        }
    }
    if (!b)
        a->bad++;
    free(b);
    return NULL;
}

START_TEST(src_open_packed_concurrent)
{
    uint8_t *d = make_data(N_DATA);
    char path[128], plain[128], err[256];
    snprintf(path, sizeof path, "%s/packed", tmpdir);
    snprintf(plain, sizeof plain, "%s/in.bin", tmpdir);
    pack_to(path, d, N_DATA, 1, 8192, 2);
    src_t *s, *p;
    ck_assert_msg(src_open(AT_FDCWD, path, &s, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(s->ops->kind, "packed");
    ck_assert_uint_eq(s->size, N_DATA);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_uint_eq(s->stored_size, (uint64_t)sb.st_size);
    ck_assert_uint_lt(s->stored_size, s->size);
    ck_assert_uint_eq(pk_src_errors(s), 0);
    ck_assert_int_eq(src_open(AT_FDCWD, plain, &p, err, sizeof err), 0);
    ck_assert_str_eq(p->ops->kind, "plain");
    ck_assert_uint_eq(pk_src_errors(p), 0);
    src_close(p);
    thr_t a[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (thr_t){ s, d, 1000 + (uint64_t)i, 0 };
        ck_assert_int_eq(pthread_create(&th[i], NULL, reader_thread, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(a[i].bad, 0);
    }
    src_close(s);
    free(d);
}
END_TEST

/* The reader's own sequential read-ahead (the next frame decoded in the background)
 * runs only while the flag given to pk_reader_defer_readahead is 0: the mount passes
 * its "prefetch on" flag, as its prefetcher already reads ahead. */
START_TEST(readahead_deferred_to_flag)
{
    uint8_t *d = make_data(N_DATA);
    int fd;
    pk_reader_t *r = pack_open(d, 8192, 1, O_RDONLY, &fd);
    const pk_table_t *t = pk_reader_table(r);
    ck_assert_uint_ge(t->n_frames, 12);
    _Atomic int busy = 1;
    pk_reader_defer_readahead(r, &busy);
    uint8_t *b = malloc(t->max_dsize);
    ck_assert_ptr_nonnull(b);
    /* frames 2..5 read whole, in order: with the flag set nothing is read ahead */
    for (uint32_t i = 2; i <= 5; i++) {
        const pk_frame_t *f = &t->frames[i];
        ck_assert_int_eq(pk_reader_read(r, b, f->dsize, f->loff), 0);
        ck_assert(memcmp(b, d + f->loff, f->dsize) == 0);
    }
    uint64_t before = pk_reader_stored_read(r);
    usleep(200 * 1000);
    ck_assert_uint_eq(pk_reader_stored_read(r), before);
    /* flag cleared: the next sequential read makes the reader decode frame 7 as well */
    busy = 0;
    const pk_frame_t *f = &t->frames[6];
    ck_assert_int_eq(pk_reader_read(r, b, f->dsize, f->loff), 0);
    uint64_t after6 = pk_reader_stored_read(r);
    ck_assert_uint_gt(after6, before);
    uint64_t now = after6;
    for (int i = 0; i < 1000 && now == after6; i++) {
        usleep(10 * 1000);
        now = pk_reader_stored_read(r);
    }
    ck_assert_msg(now > after6, "no read-ahead of frame 7 after 10 s");
    pk_reader_close(r);
    close(fd);
    free(b);
    free(d);
}
END_TEST

Suite *pack_suite(void)
{
    Suite *s = suite_create("pack");
    TCase *tc = tcase_create("format");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, transforms_invert);
    tcase_add_test(tc, roundtrip_grouped);
    tcase_add_test(tc, roundtrip_plain_1thread);
    tcase_add_test(tc, roundtrip_big_frames);
    tcase_add_test(tc, roundtrip_buffered_fallback);
    tcase_add_test(tc, grouping_helps);
    tcase_add_test(tc, empty_file);
    tcase_add_test(tc, corrupt_frame_eio_only_there);
    tcase_add_test(tc, truncated_clear_error);
    tcase_add_test(tc, hostile_tables);
    tcase_add_test(tc, zstd_cli_decodes_ungrouped);
    tcase_add_test(tc, src_open_packed_concurrent);
    tcase_add_test(tc, readahead_deferred_to_flag);
    suite_add_tcase(s, tc);
    return s;
}
