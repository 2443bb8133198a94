/* fuzz_control.c — libFuzzer target: commands written to .flashfs/control (ctl_parse,
 * ctl_escape).
 * fuzz-requires: fs/control_parse.c
 * fuzz-dict: tests/fuzz/control.dict
 *
 * Input: the bytes written to the control file; split at newlines like the daemon does
 * and each line parsed (exactly len bytes, not NUL-terminated). Checks: a known op;
 * arguments NUL-terminated and within CTL_MAX_ARGS; ram >= 4 MiB; prefetch 0/1; depth in
 * 1..CTL_MAX_DEPTH; a failure always says why; the escaped line and reason (what
 * last_error shows) are well-formed UTF-8 without control characters. */
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "fu_util.h"
#include "fuzz_vfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ctl_escape(s) fits, is NUL-terminated, well-formed UTF-8, without control characters. */
static void check_escape(const char *s, size_t len)
{
    char out[300];
    size_t n = ctl_escape(s, len, out, sizeof out);
    FV_CHECK(n < sizeof out && out[n] == '\0' && strlen(out) == n);
    for (size_t i = 0; i < n;) {
        size_t l = fu_utf8_seq((const uint8_t *)out + i, n - i);
        FV_CHECK(l > 0);
        FV_CHECK(l > 1 || ((unsigned char)out[i] >= 0x20 && out[i] != 0x7f));
        i += l;
    }
}

static void check_line(const char *line, size_t len)
{
    check_escape(line, len);
    /* a private copy of exactly len bytes: reading past it is an ASan report */
    char *copy = malloc(len ? len : 1);
    FV_CHECK(copy != NULL);
    memcpy(copy, line, len);
    ctl_cmd_t c;
    memset(&c, 0xa5, sizeof c);
    char err[256];
    err[0] = '\0';
    int rc = ctl_parse(copy, len, &c, err, sizeof err);
    free(copy);
    if (rc != 0) {
        FV_CHECK(rc < 0 && err[0] != '\0');
        check_escape(err, strlen(err));
        return;
    }
    FV_CHECK(c.op >= CTL_CMD_NOP && c.op <= CTL_CMD_PREFETCH_DEPTH);
    FV_CHECK(c.n_args <= CTL_MAX_ARGS);
    for (size_t i = 0; i < c.n_args; i++)
        FV_CHECK(memchr(c.args[i], 0, CTL_ARG_LEN) != NULL && c.args[i][0] != '\0');
    if (c.op == CTL_CMD_RAM)
        FV_CHECK(c.value >= (4u << 20));
    if (c.op == CTL_CMD_PREFETCH)
        FV_CHECK(c.value <= 1);
    if (c.op == CTL_CMD_PREFETCH_DEPTH)
        FV_CHECK(c.value >= 1 && c.value <= CTL_MAX_DEPTH);
    if (c.op == CTL_CMD_PIN)
        FV_CHECK(c.n_args >= 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        check_line(p, len);
        p += len + (nl ? 1 : 0);
    }
    return 0;
}
