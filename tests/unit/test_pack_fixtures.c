/* test_pack_fixtures.c — pack the demo, dev and GGUF fixtures with the planner and the
 * writer, and decode them back through the reader: every byte, random ranges, frames
 * aligned to tensors, transforms chosen from the dtypes the parsers report. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf.h"
#include "pack.h"
#include "safetensors.h"
#include "source.h"

static const char *fixtures[] = {
    "tests/fixtures/demo/model-00001-of-00002.safetensors",
    "tests/fixtures/demo/model-00002-of-00002.safetensors",
    "tests/fixtures/dev/llama-sp-f32/model.safetensors",
    "tests/fixtures/dev/qwen2-bl-bf16/model.safetensors",
    "tests/fixtures/gguf/demo-bf16.gguf",
    "tests/fixtures/gguf/demo-q8_0.gguf",
};
#define N_FIX (sizeof fixtures / sizeof *fixtures)

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Expected transform of a tensor, from the parsers (independent of pack_plan's tables:
 * element width by dtype size, bf16 recognised by name). */
static unsigned expect_st(st_dtype_t d)
{
    if (d == ST_DT_BF16)
        return PK_T_BF16;
    if (d == ST_DT_F16)
        return PK_T_G2;
    if (d == ST_DT_F32)
        return PK_T_G4;
    return PK_T_NONE;
}

static unsigned expect_gg(uint32_t type)
{
    const char *n = gg_type_name(type);
    if (strcmp(n, "BF16") == 0)
        return PK_T_BF16;
    if (strcmp(n, "F16") == 0)
        return PK_T_G2;
    if (strcmp(n, "F32") == 0)
        return PK_T_G4;
    return PK_T_NONE;
}

/* Tensors of a fixture as (offset, length, expected transform). */
typedef struct {
    uint64_t off, len;
    unsigned t;
} tens_t;

static size_t fixture_tensors(const char *path, tens_t **out)
{
    char err[256];
    size_t n = 0;
    tens_t *v = NULL;
    if (strstr(path, ".gguf")) {
        gg_file_t g;
        ck_assert_msg(gg_parse_path(path, &g, err, sizeof err) == 0, "%s", err);
        v = calloc(g.n_tensors, sizeof *v);
        for (uint64_t i = 0; i < g.n_tensors; i++)
            v[n++] = (tens_t){ g.tensors[i].offset, g.tensors[i].length, expect_gg(g.tensors[i].type) };
        gg_free(&g);
    } else {
        st_file_t s;
        ck_assert_msg(st_parse_path(path, &s, err, sizeof err) == 0, "%s", err);
        v = calloc(s.n_tensors, sizeof *v);
        for (size_t i = 0; i < s.n_tensors; i++)
            v[n++] = (tens_t){ s.tensors[i].offset, s.tensors[i].length, expect_st(s.tensors[i].dtype) };
        st_free(&s);
    }
    ck_assert(n > 0);
    *out = v;
    return n;
}

static void check_fixture(const char *path, uint32_t fs, int group)
{
    char err[512], out[64];
    size_t n;
    char *orig;
    ck_assert_int_eq(fu_read_file(path, 1u << 30, &orig, &n), 0);
    int in = open(path, O_RDONLY);
    ck_assert_int_ge(in, 0);

    pk_region_t *rg;
    size_t nr;
    int warned;
    ck_assert_int_eq(pk_plan(fu_fd_read, (void *)(intptr_t)in, n, path, &rg, &nr, &warned, err, sizeof err), 0);
    ck_assert_msg(!warned, "%s", err);

    snprintf(out, sizeof out, "/tmp/ffpkfix.XXXXXX");
    int ofd = mkstemp(out);
    ck_assert_int_ge(ofd, 0);
    pk_wopts_t o = { .level = 3, .threads = 2, .group = group, .frame_size = fs };
    ck_assert_msg(pk_write(in, n, rg, nr, ofd, &o, NULL, err, sizeof err) == 0, "%s", err);
    close(ofd);
    close(in);
    free(rg);

    src_t *s;
    ck_assert_msg(src_open(AT_FDCWD, out, &s, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(s->ops->kind, "packed");
    ck_assert_uint_eq(s->size, n);
    ck_assert_uint_lt(s->stored_size, n);
    uint8_t *b = malloc(n);
    ck_assert_int_eq(src_read(s, b, n, 0), 0);
    ck_assert_msg(memcmp(b, orig, n) == 0, "%s: decoded bytes differ", path);
    for (int i = 0; i < 300; i++) {
        uint64_t off = rnd() % n, len = rnd() % (i & 1 ? 4096 : 3 * (uint64_t)fs);
        if (len > n - off)
            len = n - off;
        ck_assert_int_eq(src_read(s, b, len, off), 0);
        ck_assert_msg(memcmp(b, orig + off, len) == 0, "%s: range %llu+%llu", path, (unsigned long long)off,
                      (unsigned long long)len);
    }
    src_close(s);

    /* Frames: every tensor's first and last byte is at a frame boundary or inside a
     * frame made of whole tensors; the frame of each tensor has its dtype's transform. */
    int fd = open(out, O_RDONLY);
    pk_reader_t *r;
    ck_assert_int_eq(pk_reader_open(fd, out, &r, err, sizeof err), 0);
    const pk_table_t *t = pk_reader_table(r);
    tens_t *tv;
    size_t nt = fixture_tensors(path, &tv);
    for (size_t i = 0; i < nt; i++) {
        if (tv[i].len == 0)
            continue;
        uint32_t a = pk_table_find(t, tv[i].off), z = pk_table_find(t, tv[i].off + tv[i].len - 1);
        ck_assert_uint_lt(z, t->n_frames);
        const pk_frame_t *fa = &t->frames[a], *fz = &t->frames[z];
        if (a != z || fa->dsize > tv[i].len) {
            /* spans frames: must start at the first frame's start and end at the last's end,
             * unless it shares one frame with other whole tensors */
            ck_assert_msg(a == z || (fa->loff == tv[i].off && fz->loff + fz->dsize == tv[i].off + tv[i].len),
                          "%s: tensor %zu not aligned to frames", path, i);
        } else {
            ck_assert_uint_eq(fa->loff, tv[i].off);
        }
        ck_assert_uint_eq(fa->transform, group ? tv[i].t : PK_T_NONE);
        ck_assert_uint_le(fa->dsize, fs + 4);
    }
    /* frames stay inside fs-aligned blocks of the file (up to 3 bytes before a block
     * start, when a cut moves down to an element boundary) */
    for (uint32_t i = 1; i < t->n_frames; i++) {
        const pk_frame_t *f = &t->frames[i];
        ck_assert_msg((f->loff + 3) / fs == (f->loff + f->dsize - 1) / fs || f->dsize <= 3,
                      "%s: frame %u (%llu+%u) crosses a %u-byte boundary", path, i,
                      (unsigned long long)f->loff, f->dsize, fs);
    }
    free(tv);
    pk_reader_close(r);
    close(fd);
    unlink(out);
    free(b);
    free(orig);
}

START_TEST(fixture_roundtrip_1m)
{
    check_fixture(fixtures[_i], PK_DEFAULT_FRAME, 1);
}
END_TEST

START_TEST(fixture_roundtrip_small_frames)
{
    check_fixture(fixtures[_i], 16384, 1);
}
END_TEST

START_TEST(fixture_roundtrip_nogroup)
{
    check_fixture(fixtures[_i], 65536, 0);
}
END_TEST

START_TEST(unparsable_file_plain_region)
{
    const char *junk = "this is not a model file at all, but it ends in .safetensors";
    fu_mem_t m = { junk, strlen(junk) };
    pk_region_t *rg;
    size_t nr;
    int warned;
    char err[512];
    ck_assert_int_eq(pk_plan(fu_mem_read, &m, m.size, "junk.safetensors", &rg, &nr, &warned, err, sizeof err), 0);
    ck_assert_int_eq(warned, 1);
    ck_assert_ptr_nonnull(strstr(err, "junk.safetensors"));
    ck_assert_uint_eq(nr, 1);
    ck_assert_uint_eq(rg[0].len, m.size);
    ck_assert_uint_eq(rg[0].transform, PK_T_NONE);
    free(rg);
}
END_TEST

Suite *pack_fixtures_suite(void)
{
    Suite *s = suite_create("pack_fixtures");
    TCase *tc = tcase_create("fixtures");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, fixture_roundtrip_1m, 0, N_FIX);
    tcase_add_loop_test(tc, fixture_roundtrip_small_frames, 0, N_FIX);
    tcase_add_loop_test(tc, fixture_roundtrip_nogroup, 0, N_FIX);
    tcase_add_test(tc, unparsable_file_plain_region);
    suite_add_tcase(s, tc);
    return s;
}
