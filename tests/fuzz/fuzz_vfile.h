/* fuzz_vfile.h — the "virtual file" the binary-container fuzz targets parse (prefix fv_).
 *
 * Container parsers (safetensors, GGUF, layout) only read the header of a file, but they
 * check every offset against the file size. A fuzz input therefore describes a file as
 *     HEAD || u64le TAIL
 * the file is HEAD followed by TAIL zero bytes (never stored), so a seed made from a
 * 13 MB model is only its header plus 8 bytes, and the fuzzer can also mutate the file
 * size. Inputs shorter than 8 bytes are a HEAD alone. tests/fuzz/seedgen.c writes seeds
 * in this form. */
#ifndef FUZZ_VFILE_H
#define FUZZ_VFILE_H

#include <stdint.h>
#include <string.h>
#include <errno.h>

/* Virtual tails stay below 16 MiB (the fixtures' are up to 13 MB): a parser may
 * legitimately allocate and read in proportion to the file size (a header length or a
 * count bounded by it), which is slow, and out of memory beyond the fuzzer's limit. */
#define FV_MAX_TAIL (16ull << 20)

typedef struct {
    const uint8_t *head;
    uint64_t head_len;
    uint64_t size;              /* head_len + tail */
} fv_file_t;

/* Split a fuzz input into head and virtual tail. */
static inline void fv_init(fv_file_t *f, const uint8_t *data, size_t len)
{
    f->head = data;
    f->head_len = len;
    f->size = len;
    if (len >= 8) {
        uint64_t tail = 0;
        for (int i = 7; i >= 0; i--)
            tail = tail << 8 | data[len - 8 + (size_t)i];
        f->head_len = len - 8;
        f->size = f->head_len + tail % FV_MAX_TAIL;
    }
}

/* fu_read_fn over an fv_file_t: head bytes, then zeros, -EIO past the end. */
static inline int fv_read(void *ctx, void *buf, size_t len, uint64_t off)
{
    const fv_file_t *f = ctx;
    if (off > f->size || len > f->size - off)
        return -EIO;
    uint8_t *p = buf;
    if (off < f->head_len) {
        uint64_t n = f->head_len - off < len ? f->head_len - off : len;
        memcpy(p, f->head + off, (size_t)n);
        p += n;
        len -= (size_t)n;
    }
    memset(p, 0, len);
    return 0;
}

/* Abort (a fuzzer-visible crash) when an invariant of a parser's output is broken. */
#define FV_CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

#endif
