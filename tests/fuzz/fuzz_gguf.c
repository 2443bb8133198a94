/* fuzz_gguf.c — libFuzzer target: the GGUF parser (gg_parse).
 * fuzz-requires: fs/gguf.c
 * fuzz-dict: tests/fuzz/gguf.dict
 * fuzz-max-len: 8192
 *
 * Input: a virtual file (fuzz_vfile.h): header bytes || u64le count of zero bytes after.
 * On every accepted file the documented guarantees are checked: tensors inside the file
 * and after the aligned data section, dims bounded, lengths consistent with the type,
 * KV keys findable. */
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#include "gguf.h"
#include "fuzz_vfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fv_file_t vf;
    fv_init(&vf, data, size);
    gg_file_t f;
    memset(&f, 0xa5, sizeof f);
    char err[256];
    err[0] = '\0';
    int rc = gg_parse(fv_read, &vf, vf.size, &f, err, sizeof err);
    if (rc != 0) {
        FV_CHECK(rc < 0 && err[0] != '\0');
        gg_free(&f);
        return fv_verdict(&vf);
    }
    FV_CHECK(f.version == 2 || f.version == 3);
    FV_CHECK(f.alignment > 0 && (f.alignment & (f.alignment - 1)) == 0);
    /* aligned, except a tensor-less file that ends before its padding */
    FV_CHECK(f.data_start % f.alignment == 0 || (f.n_tensors == 0 && f.data_start == vf.size));
    FV_CHECK(f.data_start <= vf.size);
    for (uint64_t i = 0; i < f.n_kv; i++) {
        const gg_kv_t *kv = &f.kv[i];
        FV_CHECK(kv->key != NULL);
        FV_CHECK(gg_find_kv(&f, kv->key) != NULL);
        FV_CHECK(kv->type <= GG_T_FLOAT64);
        FV_CHECK(kv->type != GG_T_STRING || kv->str != NULL);
        if (kv->type == GG_T_STRING)
            (void)strlen(kv->str);
    }
    for (uint64_t i = 0; i < f.n_tensors; i++) {
        const gg_tensor_t *t = &f.tensors[i];
        FV_CHECK(t->name != NULL);
        /* n_dims 0 is a scalar (one element), accepted as llama.cpp's reader does */
        FV_CHECK(t->n_dims <= GG_MAX_DIMS);
        for (uint32_t d = t->n_dims; d < GG_MAX_DIMS; d++)
            FV_CHECK(t->ne[d] == 1);
        FV_CHECK(t->offset >= f.data_start);
        FV_CHECK(t->offset <= vf.size && t->length <= vf.size - t->offset);
        uint64_t n = 1;
        for (uint32_t d = 0; d < t->n_dims; d++)
            FV_CHECK(!fu_mul_u64(n, t->ne[d], &n));
        int ok = 0;
        uint64_t bytes = gg_type_nbytes(t->type, n, &ok);
        FV_CHECK(ok && bytes == t->length);
        (void)gg_type_name(t->type);
    }
    gg_free(&f);
    return fv_verdict(&vf);
}
