/* fuzz_hf_config.c — libFuzzer target: config.json (hc_parse).
 * fuzz-requires: fs/hf_config.c
 * fuzz-dict: tests/fuzz/json.dict
 *
 * Input: the JSON text, exactly `size` bytes and NOT NUL-terminated (the API takes a
 * length; AddressSanitizer catches a parser that reads one byte past it). Accepted
 * configs must have the required fields positive and the strings terminated. */
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#include "hf_config.h"
#include "fuzz_vfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hc_config_t c;
    memset(&c, 0xa5, sizeof c);
    char err[256];
    err[0] = '\0';
    int rc = hc_parse((const char *)data, size, &c, err, sizeof err);
    if (rc != 0) {
        FV_CHECK(rc < 0 && err[0] != '\0');
        return 0;
    }
    FV_CHECK(memchr(c.model_type, 0, sizeof c.model_type) != NULL);
    FV_CHECK(memchr(c.dtype, 0, sizeof c.dtype) != NULL);
    FV_CHECK(memchr(c.rope_type, 0, sizeof c.rope_type) != NULL);
    FV_CHECK(memchr(c.hidden_act, 0, sizeof c.hidden_act) != NULL);
    FV_CHECK(c.n_eos >= 0 && c.n_eos <= HC_MAX_EOS);
    return 0;
}
