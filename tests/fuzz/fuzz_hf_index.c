/* fuzz_hf_index.c — libFuzzer target: model.safetensors.index.json (hi_parse).
 * fuzz-requires: fs/hf_index.c
 * fuzz-dict: tests/fuzz/json.dict
 *
 * Input: the JSON text, exactly `size` bytes, not NUL-terminated. Accepted indexes must
 * reference only their own file table, with shard names that are plain relative names
 * (never absolute, no ".." path component), and every entry must be findable. */
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#include "hf_index.h"
#include "fuzz_vfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 when the relative path has a ".." component. */
static int has_dotdot(const char *p)
{
    for (const char *c = p; *c;) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (n == 2 && c[0] == '.' && c[1] == '.')
            return 1;
        c += n;
        if (*c == '/')
            c++;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hi_index_t ix;
    memset(&ix, 0xa5, sizeof ix);
    char err[256];
    err[0] = '\0';
    int rc = hi_parse((const char *)data, size, &ix, err, sizeof err);
    if (rc != 0) {
        FV_CHECK(rc < 0 && err[0] != '\0');
        return 0;
    }
    for (size_t i = 0; i < ix.n_files; i++) {
        FV_CHECK(ix.files[i] != NULL);
        FV_CHECK(ix.files[i][0] != '\0' && ix.files[i][0] != '/' && !has_dotdot(ix.files[i]));
    }
    for (size_t i = 0; i < ix.n_entries; i++) {
        FV_CHECK(ix.entries[i].tensor != NULL && ix.entries[i].file < ix.n_files);
        FV_CHECK(hi_file_for(&ix, ix.entries[i].tensor) != NULL);
    }
    hi_free(&ix);
    return 0;
}
