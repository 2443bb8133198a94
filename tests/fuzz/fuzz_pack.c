/* fuzz_pack.c — libFuzzer target: packed files (seek table, header frame, frames, reader).
 * fuzz-requires: fs/pack_read.c fs/pack_format.c fs/pack_group.c
 *
 * Input: the bytes of a packed file (frames need their real compressed bytes, so this
 * target does not use the virtual files of the other containers). Steps and checks:
 *   1. pk_probe, pk_table_parse; an accepted table must have its frames laid end to end
 *      in the file and in the logical space, every frame within the limits;
 *   2. every frame (up to 64) is decoded on its own with pk_frame_decode (success or an
 *      error, never a crash);
 *   3. differential: the thread-safe reader (pk_reader_open on a memfd of the input)
 *      reads every frame's range, and a second pass reads ranges that straddle frames;
 *      it must return exactly the bytes of step 2 for frames that decoded, and an error
 *      for ranges touching frames that did not.
 * Logical sizes are capped at 4 MiB (bigger tables are parsed but not read). */
#include <errno.h>
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include "pack.h"
#include "fuzz_vfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX_LOGICAL (4u << 20)
#define FZ_MAX_DECODE 64

static int fz_read(void *ctx, void *buf, size_t len, uint64_t off)
{
    return fu_mem_read(ctx, buf, len, off);
}

/* Decode every frame into logical[] (0 = ok per frame in ok[]). */
static void decode_all(fu_mem_t *m, const pk_table_t *t, uint8_t *logical, int8_t *ok)
{
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    FV_CHECK(dctx != NULL);
    for (uint32_t i = 0; i < t->n_frames; i++) {
        const pk_frame_t *f = &t->frames[i];
        ok[i] = 0;
        if (i >= FZ_MAX_DECODE || f->dsize == 0)
            continue;
        uint8_t *cb = malloc(f->csize ? f->csize : 1);
        uint8_t *tmp = malloc(f->dsize);
        FV_CHECK(cb && tmp);
        char err[256] = "";
        int rc = pk_frame_decode(fz_read, m, f, dctx, cb, tmp, logical + f->loff, err, sizeof err);
        FV_CHECK(rc <= 0);
        ok[i] = rc == 0 ? 1 : -1;
        free(cb);
        free(tmp);
    }
    ZSTD_freeDCtx(dctx);
}

/* 1 when every frame touching [off, off+len) decoded, 0 when one failed, -1 unknown. */
static int range_state(const pk_table_t *t, const int8_t *ok, uint64_t off, uint64_t len)
{
    int state = 1;
    for (uint32_t i = 0; i < t->n_frames; i++) {
        const pk_frame_t *f = &t->frames[i];
        if (f->dsize == 0 || f->loff + f->dsize <= off || f->loff >= off + len)
            continue;
        if (ok[i] == -1)
            return 0;
        if (ok[i] == 0)
            state = -1;
    }
    return state;
}

static void reader_check(const uint8_t *data, size_t size, const pk_table_t *t,
                         const uint8_t *logical, const int8_t *ok)
{
    int fd = memfd_create("fuzz_pack", MFD_CLOEXEC);
    if (fd < 0)
        return;
    if (fu_write_full(fd, data, size) != 0) {
        close(fd);
        return;
    }
    pk_reader_t *r = NULL;
    char err[256] = "";
    int rc = pk_reader_open(fd, "fuzz.safetensors", &r, err, sizeof err);
    FV_CHECK(rc == 0);          /* the table parsed from memory must parse from the fd */
    uint8_t *buf = malloc(t->logical_size ? t->logical_size : 1);
    FV_CHECK(buf != NULL);
    /* pass 1: frame by frame; pass 2: ranges straddling frame boundaries */
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t i = 0; i < t->n_frames; i++) {
            const pk_frame_t *f = &t->frames[i];
            if (f->dsize == 0)
                continue;
            uint64_t off = f->loff, len = f->dsize;
            if (pass == 1) {
                off = f->loff + f->dsize / 2;
                len = t->logical_size - off < f->dsize ? t->logical_size - off : f->dsize;
                if (len == 0)
                    continue;
            }
            int want = range_state(t, ok, off, len);
            rc = pk_reader_read(r, buf, (size_t)len, off);
            if (want == 1)
                FV_CHECK(rc == 0 && memcmp(buf, logical + off, (size_t)len) == 0);
            else if (want == 0)
                FV_CHECK(rc < 0);
        }
    }
    free(buf);
    pk_reader_close(r);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    if (!quiet) {
        fu_log_init("fuzz_pack", -1);   /* the reader logs failing frames: keep quiet */
        quiet = 1;
    }
    fu_mem_t m = { data, size };
    int probe = pk_probe(fz_read, &m, size);
    FV_CHECK(probe == 0 || probe == 1 || probe == -EIO);
    pk_table_t t;
    memset(&t, 0, sizeof t);
    char err[256] = "";
    int rc = pk_table_parse(fz_read, &m, size, &t, err, sizeof err);
    if (rc != 0) {
        FV_CHECK(rc < 0 && err[0] != '\0');
        pk_table_free(&t);
        return 0;
    }
    /* frames end to end, in the file and in the logical space */
    uint64_t coff = 0, loff = 0;
    for (uint32_t i = 0; i < t.n_frames; i++) {
        const pk_frame_t *f = &t.frames[i];
        FV_CHECK(f->coff == coff && f->loff == loff);
        FV_CHECK(f->dsize <= PK_MAX_FRAME_SIZE && f->dsize <= t.max_dsize);
        FV_CHECK(f->transform < PK_T_COUNT);
        coff += f->csize;
        loff += f->dsize;
        if (f->dsize)
            FV_CHECK(pk_table_find(&t, f->loff) == i);
    }
    FV_CHECK(coff <= size && loff == t.logical_size);
    FV_CHECK(pk_table_find(&t, t.logical_size) == t.n_frames);
    if (t.logical_size <= FZ_MAX_LOGICAL) {
        uint8_t *logical = calloc(1, t.logical_size ? t.logical_size : 1);
        int8_t *ok = calloc(1, t.n_frames ? t.n_frames : 1);
        FV_CHECK(logical && ok);
        decode_all(&m, &t, logical, ok);
        reader_check(data, size, &t, logical, ok);
        free(logical);
        free(ok);
    }
    pk_table_free(&t);
    return 0;
}
