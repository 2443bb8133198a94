/* fuzz_layout.c — libFuzzer target: the tensor layout (ly_add_file, ly_finish, lookups,
 * ly_to_json) over fuzzed safetensors and GGUF files.
 * fuzz-requires: fs/layout.c fs/safetensors.c fs/gguf.c
 * fuzz-dict: tests/fuzz/json.dict
 * fuzz-max-len: 8192
 *
 * Input: byte 0 picks the file name (".safetensors", ".gguf", or a plain name), the rest
 * is a virtual file (fuzz_vfile.h). The same file is added twice under two names so
 * group totals add up across files. Checks: tensors sorted and non-overlapping inside the
 * file, every tensor's group valid, ly_tensor_at/ly_group_at agree with the tensor list
 * at tensor edges and one byte around them, ly_to_json succeeds. */
#include <errno.h>
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "fuzz_vfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_JSON_TAIL 4096u

static void check_file(const ly_layout_t *ly, const ly_file_t *f)
{
    uint64_t prev_end = 0;
    for (size_t i = 0; i < f->n_tensors; i++) {
        const ly_tensor_t *t = &f->tensors[i];
        FV_CHECK(t->name != NULL);
        FV_CHECK(t->offset >= prev_end);
        FV_CHECK(t->offset <= f->size && t->length <= f->size - t->offset);
        FV_CHECK(t->group >= 0 && (size_t)t->group < ly->n_groups);
        FV_CHECK(t->ndim >= 0 && t->ndim <= 8);
        if (t->length > 0) {
            FV_CHECK(ly_tensor_at(f, t->offset) == (long)i);
            FV_CHECK(ly_tensor_at(f, t->offset + t->length - 1) == (long)i);
            FV_CHECK(ly_group_at(f, t->offset) == t->group);
        }
        if (t->offset > prev_end)
            FV_CHECK(ly_tensor_at(f, t->offset - 1) == -1);
        prev_end = t->offset + t->length;
    }
    FV_CHECK(ly_tensor_at(f, f->size) == -1);
    FV_CHECK(ly_tensor_at(f, UINT64_MAX) == -1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[][2] = {
        { "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" },
        { "demo.gguf", "sub/dir/demo-q8_0.gguf" },
        { "config.json", "tokenizer.json" },
    };
    if (size < 1)
        return 0;
    const char *const *nm = names[data[0] % 3];
    fv_file_t vf;
    fv_init(&vf, data + 1, size - 1);
    /* config.json is read whole: a zero tail only appends NUL bytes to the text (any
     * number behaves like one) but reading up to 1 MiB of them made a third of all
     * executions slow, so the tail of that selector stays under 4 KiB. (The over-1-MiB
     * rejection is covered by test_layout.c big_config_not_read.) */
    if (data[0] % 3 == 2 && vf.size - vf.head_len > FZ_JSON_TAIL)
        vf.size = vf.head_len + (vf.size - vf.head_len) % FZ_JSON_TAIL;

    ly_layout_t ly;
    ly_init(&ly);
    size_t added = 0;
    for (int k = 0; k < 2; k++) {
        int idx = ly_add_file(&ly, nm[k], fv_read, &vf, vf.size);
        if (idx == -E2BIG) {
            /* a model-wide bound (LY_MAX_TENSORS, LY_MAX_HEADER_TOTAL): refused, says why,
             * and the layout keeps only what was added before */
            FV_CHECK(ly.limit_error[0] != '\0' && memchr(ly.limit_error, 0, sizeof ly.limit_error) != NULL);
            FV_CHECK(ly.n_files == added);
            FV_CHECK(ly.n_tensors_total <= LY_MAX_TENSORS);
            continue;
        }
        FV_CHECK(idx == (int)added);
        added++;
    }
    FV_CHECK(ly_finish(&ly) == 0);
    FV_CHECK(ly.n_files == added);
    uint64_t total = 0;
    size_t ntens = 0;
    for (size_t g = 0; g < ly.n_groups; g++) {
        FV_CHECK(memchr(ly.groups[g].name, 0, sizeof ly.groups[g].name) != NULL);
        total += ly.groups[g].bytes;
        ntens += ly.groups[g].n_tensors;
    }
    uint64_t sum = 0;
    size_t nsum = 0;
    for (size_t i = 0; i < ly.n_files; i++) {
        const ly_file_t *f = &ly.files[i];
        FV_CHECK(ly_find_file(&ly, f->path) == f);
        FV_CHECK(f->size == vf.size);
        FV_CHECK(f->parse_error <= 0);
        FV_CHECK(f->parse_error == 0 || f->n_tensors == 0);
        FV_CHECK(memchr(f->error, 0, sizeof f->error) != NULL);
        check_file(&ly, f);
        for (size_t t = 0; t < f->n_tensors; t++)
            sum += f->tensors[t].length;
        nsum += f->n_tensors;
    }
    FV_CHECK(sum == total && nsum == ntens);
    for (int pretty = 0; pretty < 2; pretty++) {
        char *js = ly_to_json(&ly, pretty);
        FV_CHECK(js != NULL);
        free(js);
    }
    ly_free(&ly);
    return fv_verdict(&vf);
}
