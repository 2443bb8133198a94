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
#include <stdio.h>
#include <string.h>
#include <errno.h>

/* Virtual tails stay below 1 MiB: a parser legitimately reads and allocates in
 * proportion to the file size (a header length or a count bounded by it), and the
 * fuzzer learns to set such fields to the file size, so the zero fill of big tails would
 * dominate the run time. The dev fixtures and the synthetic seeds fit whole; the demo
 * and GGUF fixture seeds still drive the header parsing up to the tensor bounds. */
#define FV_MAX_TAIL (1ull << 20)

/* Zero-filling big reads of the tail dominates the run time; inputs that make the parser
 * read more than this from the tail are still run, but kept out of the corpus (the
 * target returns fv_verdict(): -1), so the fuzzer does not keep mutating them. */
#define FV_BIG_READ (64u << 10)

typedef struct {
    const uint8_t *head;
    uint64_t head_len;
    uint64_t size;              /* head_len + tail */
    uint64_t tail_read;         /* zero bytes handed out so far */
} fv_file_t;

/* Split a fuzz input into head and virtual tail. */
static inline void fv_init(fv_file_t *f, const uint8_t *data, size_t len)
{
    f->head = data;
    f->head_len = len;
    f->size = len;
    f->tail_read = 0;
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
    fv_file_t *f = ctx;
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
    f->tail_read += len;
    return 0;
}

/* Return value of LLVMFuzzerTestOneInput: 0, or -1 (do not add to the corpus) for an
 * input that made the parser read a big zero tail. */
static inline int fv_verdict(const fv_file_t *f)
{
    return f->tail_read > FV_BIG_READ ? -1 : 0;
}

/* Abort (a fuzzer-visible crash) when an invariant of a parser's output is broken. */
#define FV_CHECK(cond) do { if (!(cond)) { \
        fprintf(stderr, "invariant broken: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
        __builtin_trap(); } } while (0)

#endif
