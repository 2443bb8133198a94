/* fuzz_tpl.c — libFuzzer target: chat templates (tpl_compile + tpl_render).
 * fuzz-requires: engine/tpl_*.c
 * fuzz-dict: tests/fuzz/jinja.dict
 * fuzz-max-len: 4096
 *
 * Input: the template source, exactly `size` bytes and NOT NUL-terminated. It is rendered
 * with a small conversation (messages with a tool call, tools, special tokens). A template
 * either renders (output NUL-terminated at its length) or fails with a message; a failure
 * inside the template names its line. Limits (nesting, steps, memory) must stop every input. */
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"
#include "fuzz_vfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cJSON *vars;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!vars) {
        static const char v[] =
            "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi \\u00e9\"},"
            " {\"role\": \"assistant\", \"content\": \"<think>x</think>ok\", \"tool_calls\": [{\"function\": {\"name\": \"f\","
            " \"arguments\": {\"a\": 1, \"b\": [1.5, null, true]}}}]}, {\"role\": \"tool\", \"content\": \"{}\"}],"
            " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {\"type\": \"object\"}}}],"
            " \"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}";
        vars = cJSON_Parse(v);
        FV_CHECK(vars != NULL);
    }
    char err[512];
    err[0] = '\0';
    tpl_template_t *t = NULL;
    int rc = tpl_compile((const char *)data, size, &t, err, sizeof err);
    if (rc) {
        FV_CHECK(rc < 0 && t == NULL && err[0] != '\0');
        FV_CHECK(rc == -ENOMEM || !strncmp(err, "template line ", 14));
        return 0;
    }
    char *out = NULL;
    size_t len = 0;
    err[0] = '\0';
    rc = tpl_render(t, vars, &out, &len, err, sizeof err);
    if (rc) {
        FV_CHECK(rc < 0 && out == NULL && err[0] != '\0');
        FV_CHECK(!strncmp(err, "template line ", 14) || rc == -ENOMEM);
    } else {
        FV_CHECK(out != NULL && out[len] == '\0');
        free(out);
    }
    tpl_template_free(t);
    return 0;
}
