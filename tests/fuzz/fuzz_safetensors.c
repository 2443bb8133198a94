/* fuzz_safetensors.c — libFuzzer target: the safetensors header parser (st_parse).
 * fuzz-requires: fs/safetensors.c
 * fuzz-dict: tests/fuzz/json.dict
 *
 * Input: a virtual file (fuzz_vfile.h): header bytes || u64le count of zero bytes after.
 * Beyond "no crash, no leak, no UB", the parser's documented guarantees are checked on
 * every accepted file: tensors inside the data section, sorted by offset, not
 * overlapping, length == product(shape) * dtype size, names findable. */
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#include "safetensors.h"
#include "fuzz_vfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fv_file_t vf;
    fv_init(&vf, data, size);
    st_file_t f;
    memset(&f, 0xa5, sizeof f);     /* the parser must not rely on a zeroed output */
    char err[256];
    err[0] = '\0';
    int rc = st_parse(fv_read, &vf, vf.size, &f, err, sizeof err);
    if (rc != 0) {
        FV_CHECK(rc < 0 && err[0] != '\0');
        st_free(&f);                /* documented safe on a failed parse */
        return fv_verdict(&vf);
    }
    FV_CHECK(f.data_start == 8 + f.header_len && f.data_start <= vf.size);
    FV_CHECK(f.file_size == vf.size);
    uint64_t prev_end = f.data_start;
    for (size_t i = 0; i < f.n_tensors; i++) {
        const st_tensor_t *t = &f.tensors[i];
        FV_CHECK(t->name != NULL);
        FV_CHECK(t->dtype > ST_DT_UNKNOWN && t->dtype < ST_DT_COUNT);
        FV_CHECK(t->ndim >= 0 && t->ndim <= ST_MAX_DIMS);
        FV_CHECK(t->offset >= prev_end);            /* sorted, no overlap */
        FV_CHECK(t->offset <= vf.size && t->length <= vf.size - t->offset);
        uint64_t n = st_dtype_size(t->dtype);
        for (int d = 0; d < t->ndim; d++) {
            uint64_t m;
            FV_CHECK(!fu_mul_u64(n, t->shape[d], &m));
            n = m;
        }
        FV_CHECK(n == t->length);
        FV_CHECK(st_find(&f, t->name) != NULL);
        FV_CHECK(strcmp(st_dtype_name(t->dtype), "UNKNOWN") != 0);
        prev_end = t->offset + t->length;
    }
    st_free(&f);
    return fv_verdict(&vf);
}
