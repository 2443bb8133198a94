/* fuzz_tk_encode.c — libFuzzer target: encoding and decoding arbitrary text with the
 * fixture tokenizers (tk_encode, tk_decode, the streaming decoder).
 * fuzz-requires: engine/tok_*.c
 * fuzz-max-len: 512
 *
 * Input: byte 0 selects the tokenizer (demo byte-level BPE Llama 3 regex, qwen2 byte-level
 * BPE, llama SentencePiece byte fallback) and add_special; the rest is the text (any
 * bytes: invalid UTF-8 must be tokenized, never crash). Checks: ids in range, decode
 * NUL-terminated, and, for valid UTF-8 text, the streaming decoder emits over all pushes
 * and the flush exactly what tk_decode returns for the same ids. (For invalid text they
 * may differ by design: the ByteFallback decoder turns every byte of an invalid run
 * into U+FFFD, as transformers does, while the stream has already emitted the valid
 * characters before the bad byte arrived. There only the first FZ_STREAM_INVALID ids
 * are streamed, then flushed: the stream's window grows over an invalid run and every
 * push re-decodes it, which made this target quadratic and ~4x slower for no check.)
 * Run from the repository root (the fixtures are read from tests/fixtures). */
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"
#include "fuzz_vfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fz_dirs[] = {
    "tests/fixtures/demo",
    "tests/fixtures/dev/qwen2-bl-bf16",
    "tests/fixtures/dev/llama-sp-f32",
};
#define FZ_N (sizeof fz_dirs / sizeof fz_dirs[0])
#define FZ_STREAM_INVALID 64
static tk_tokenizer_t *fz_tk[FZ_N];

static void fz_free_all(void)
{
    for (size_t i = 0; i < FZ_N; i++)
        tk_free(fz_tk[i]);
}

static int fz_load(void)
{
    static int state;               /* 0 not tried, 1 loaded, -1 failed */
    if (state)
        return state;
    char err[256];
    for (size_t i = 0; i < FZ_N; i++) {
        if (tk_load(fz_dirs[i], &fz_tk[i], err, sizeof err) != 0) {
            fprintf(stderr, "fuzz_tk_encode: %s: %s (run from the repository root)\n", fz_dirs[i], err);
            state = -1;
            abort();
        }
    }
    atexit(fz_free_all);
    state = 1;
    return state;
}

/* 1 when s[0..n) is valid UTF-8 (no overlongs, surrogates or code points > U+10FFFF). */
static int utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t k;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i <= k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || fz_load() != 1)
        return 0;
    const tk_tokenizer_t *tk = fz_tk[data[0] % FZ_N];
    int special = (data[0] / FZ_N) & 1;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    int32_t *ids = NULL;
    size_t n = 0;
    FV_CHECK(tk_encode(tk, text, len, special, &ids, &n) == 0);
    size_t vocab = tk_vocab_size(tk);
    for (size_t i = 0; i < n; i++)
        FV_CHECK(ids[i] >= 0 && (size_t)ids[i] < vocab);

    char *dec = NULL;
    size_t dlen = 0;
    FV_CHECK(tk_decode(tk, ids, n, &dec, &dlen) == 0);
    FV_CHECK(dec != NULL && dec[dlen] == '\0');

    /* streaming decode == whole decode (valid text); no crash, bounded output (invalid) */
    int valid = utf8_valid(data + 1, len);
    size_t ns = valid || n < FZ_STREAM_INVALID ? n : FZ_STREAM_INVALID;
    tk_stream_t *st = tk_stream_new(tk);
    FV_CHECK(st != NULL);
    char *acc = malloc(dlen + 1);
    FV_CHECK(acc != NULL);
    size_t alen = 0;
    int stream_ok = 1;
    for (size_t i = 0; i <= ns && stream_ok; i++) {
        const char *piece;
        size_t plen;
        int rc = i < ns ? tk_stream_push(st, ids[i], &piece, &plen) : tk_stream_flush(st, &piece, &plen);
        FV_CHECK(rc == 0);
        if (alen + plen > dlen) {
            stream_ok = 0;
            break;
        }
        memcpy(acc + alen, piece, plen);
        alen += plen;
    }
    if (valid)
        FV_CHECK(stream_ok && alen == dlen && memcmp(acc, dec, dlen) == 0);
    free(acc);
    tk_stream_free(st);
    free(dec);
    free(ids);
    return 0;
}
