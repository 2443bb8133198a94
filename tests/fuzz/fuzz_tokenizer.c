/* fuzz_tokenizer.c — libFuzzer target: loading tokenizer.json (tk_load_json) and using it.
 * fuzz-requires: engine/tok_*.c
 * fuzz-dict: tests/fuzz/json.dict
 * fuzz-max-len: 8192
 *
 * Input: the bytes of a tokenizer.json, loaded from memory with tk_load_json (what
 * tk_load does after reading the file; the seeds are small copies of the fixture
 * tokenizers made by seedgen, see docs/reliability.md). A tokenizer that loads must then
 * encode and decode a few texts (ASCII, multi-byte UTF-8, invalid UTF-8, special-token
 * look-alikes) with every id in range and every decode NUL-terminated. */
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"
#include "fuzz_vfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(const tk_tokenizer_t *tk)
{
    static const char *const texts[] = {
        "And God said, Let there be light",
        "  leading spaces and\ttabs\n\nnewlines   ",
        "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 12345 it's WE'LL",
        "\xff\xfe invalid \xc3 utf8 \xed\xa0\x80",
        "<s></s><|begin_of_text|><unk><0x41>",
        "",
    };
    size_t vocab = tk_vocab_size(tk);
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        for (int special = 0; special < 2; special++) {
            int32_t *ids = NULL;
            size_t n = 0;
            if (tk_encode(tk, texts[t], strlen(texts[t]), special, &ids, &n) != 0) {
                free(ids);
                continue;
            }
            for (size_t i = 0; i < n; i++)
                FV_CHECK(ids[i] >= 0 && (size_t)ids[i] < vocab);
            char *text = NULL;
            size_t len = 0;
            if (tk_decode(tk, ids, n, &text, &len) == 0)
                FV_CHECK(text != NULL && text[len] == '\0');
            free(text);
            free(ids);
        }
    }
    int32_t eos[8];
    FV_CHECK(tk_eos_ids(tk, eos, 8) <= vocab || vocab == 0);
    (void)tk_bos_id(tk);
    (void)tk_token_text(tk, -1);
    (void)tk_token_text(tk, (int32_t)vocab);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tk_tokenizer_t *tk = NULL;
    char err[256];
    err[0] = '\0';
    int rc = tk_load_json((const char *)data, size, &tk, err, sizeof err);
    if (rc != 0) {
        FV_CHECK(rc < 0 && err[0] != '\0');
        tk_free(tk);
        return 0;
    }
    exercise(tk);
    tk_free(tk);
    return 0;
}
