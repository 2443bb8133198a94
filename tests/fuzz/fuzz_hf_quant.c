/* fuzz_hf_quant.c — libFuzzer target: the MLX quantization section of config.json
 * (hc_quant_parse).
 * fuzz-requires: fs/hf_quant.c
 * fuzz-dict: tests/fuzz/json.dict
 *
 * Input: the JSON text, exactly `size` bytes and NOT NUL-terminated. Accepted sections must
 * give supported bits/group for every module asked about; failures leave nothing allocated. */
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#include "hf_quant.h"
#include "fuzz_vfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int ok(int b, int g)
{
    return (b == 2 || b == 3 || b == 4 || b == 5 || b == 6 || b == 8) && (g == 32 || g == 64 || g == 128);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hc_quant_t q;
    char err[256];
    err[0] = '\0';
    int rc = hc_quant_parse((const char *)data, size, &q, err, sizeof err);
    if (rc != 0) {
        FV_CHECK(rc < 0 && err[0] != '\0' && q.over == NULL && q.n_over == 0);
        return 0;
    }
    int b = 0, g = 0;
    if (q.present) {
        FV_CHECK(ok(q.bits, q.group));
        for (int i = 0; i < q.n_over; i++) {
            int is_q = hc_quant_for(&q, q.over[i].module, &b, &g);
            FV_CHECK(!is_q || ok(b, g));
        }
        FV_CHECK(hc_quant_for(&q, "\x01not a module", &b, &g) == 1 && b == q.bits && g == q.group);
    } else {
        FV_CHECK(hc_quant_for(&q, "x", &b, &g) == 0);
    }
    hc_quant_free(&q);
    return 0;
}
