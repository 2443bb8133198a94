/* control_parse.c — parsing one line written to `.flashfs/control` (pure function).
 *
 * Grammar (words separated by spaces or tabs; a trailing '\r' is ignored):
 *   ""  |  "# ..."              nothing
 *   ram SIZE [force]            SIZE as fu_parse_ram (512M, 2G, 25%), >= 4 MiB, at most
 *                               physical RAM unless the word `force` follows
 *   drop
 *   pin GROUP [GROUP...]        group names as in the layout ("layer.3", "norm", ...)
 *   unpin [GROUP...]            no argument: unpin every group
 *   prefetch on|off
 *   prefetch-depth N            1 <= N <= CTL_MAX_DEPTH */
#include "control.h"
#include "ffs_opts.h"
#include "fu_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS (CTL_MAX_ARGS + 1)
#define MAX_LINE CTL_MAX_LINE

/* Split line into at most MAX_WORDS NUL-terminated words stored in buf. Returns the word
 * count, or -E2BIG when there are more words, -EINVAL for control characters. */
static int split(const char *line, size_t len, char *buf, char **words)
{
    int n = 0;
    size_t j = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i >= len)
            break;
        if (n == MAX_WORDS)
            return -E2BIG;
        words[n++] = buf + j;
        while (i < len && line[i] != ' ' && line[i] != '\t') {
            unsigned char ch = (unsigned char)line[i];
            if (ch < 0x20 || ch == 0x7f)
                return -EINVAL;
            buf[j++] = line[i++];
        }
        buf[j++] = '\0';
    }
    return n;
}

int ctl_parse(const char *line, size_t len, ctl_cmd_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (len > MAX_LINE)
        return fu_err(err, errlen, -EINVAL, "command too long (%zu bytes, max %d)", len, MAX_LINE);
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    size_t lead = 0;
    while (lead < len && (line[lead] == ' ' || line[lead] == '\t'))
        lead++;
    if (lead == len || line[lead] == '#') {
        out->op = CTL_CMD_NOP;
        return 0;
    }
    char buf[MAX_LINE + MAX_WORDS + 1];
    char *w[MAX_WORDS];
    int n = split(line, len, buf, w);
    if (n == -E2BIG)
        return fu_err(err, errlen, -EINVAL, "too many arguments (max %d)", CTL_MAX_ARGS);
    if (n < 0)
        return fu_err(err, errlen, -EINVAL, "control characters in command");
    const char *cmd = w[0];
    if (!strcmp(cmd, "ram")) {
        int force = n == 3 && !strcmp(w[2], "force");
        if (n != 2 && !force)
            return fu_err(err, errlen, -EINVAL, "usage: ram SIZE [force] (e.g. ram 2G)");
        uint64_t v;
        int rc = fu_parse_ram(w[1], force, &v);
        if (rc == -E2BIG) {
            char b[32];
            return fu_err(err, errlen, -EINVAL, "ram: %.40s is more than the physical RAM (%s); "
                          "write 'ram %.40s force' to set it anyway", w[1], fu_format_size(fu_phys_ram(), b, sizeof b),
                          w[1]);
        }
        if (rc == -ERANGE)
            return fu_err(err, errlen, -EINVAL, "ram: %.40s is too large", w[1]);
        if (rc < 0)
            return fu_err(err, errlen, -EINVAL, "ram: bad size '%.40s' (decimal with a unit: 512M, 2G or 25%%)", w[1]);
        if (v < FFS_MIN_BUDGET)
            return fu_err(err, errlen, -EINVAL, "ram: %.40s is below the minimum of 4M", w[1]);
        out->op = CTL_CMD_RAM;
        out->value = v;
        return 0;
    }
    if (!strcmp(cmd, "drop")) {
        if (n != 1)
            return fu_err(err, errlen, -EINVAL, "usage: drop (no arguments)");
        out->op = CTL_CMD_DROP;
        return 0;
    }
    if (!strcmp(cmd, "pin") || !strcmp(cmd, "unpin")) {
        int pin = cmd[0] == 'p';
        if (pin && n < 2)
            return fu_err(err, errlen, -EINVAL, "usage: pin GROUP [GROUP...]");
        for (int i = 1; i < n; i++) {
            size_t l = strlen(w[i]);
            if (l >= CTL_ARG_LEN)
                return fu_err(err, errlen, -EINVAL, "%s: group name too long: '%.40s...'", cmd, w[i]);
            memcpy(out->args[i - 1], w[i], l + 1);
        }
        out->n_args = (size_t)(n - 1);
        out->op = pin ? CTL_CMD_PIN : CTL_CMD_UNPIN;
        return 0;
    }
    if (!strcmp(cmd, "prefetch")) {
        if (n != 2 || (strcmp(w[1], "on") && strcmp(w[1], "off")))
            return fu_err(err, errlen, -EINVAL, "usage: prefetch on|off");
        out->op = CTL_CMD_PREFETCH;
        out->value = !strcmp(w[1], "on");
        return 0;
    }
    if (!strcmp(cmd, "prefetch-depth")) {
        if (n != 2)
            return fu_err(err, errlen, -EINVAL, "usage: prefetch-depth N (1..%d)", CTL_MAX_DEPTH);
        char *end;
        errno = 0;
        unsigned long v = strtoul(w[1], &end, 10);
        if (errno || *end || w[1][0] == '-' || w[1][0] == '+' || v < 1 || v > CTL_MAX_DEPTH)
            return fu_err(err, errlen, -EINVAL, "prefetch-depth: '%s' is not a number in 1..%d", w[1],
                          CTL_MAX_DEPTH);
        out->op = CTL_CMD_PREFETCH_DEPTH;
        out->value = v;
        return 0;
    }
    return fu_err(err, errlen, -EINVAL, "unknown command '%.40s' (known: ram, drop, pin, unpin, prefetch, "
                  "prefetch-depth)", cmd);
}

size_t ctl_escape(const char *in, size_t len, char *out, size_t outlen)
{
    size_t o = 0;
    if (!outlen)
        return 0;
    for (size_t i = 0; i < len;) {
        const uint8_t *p = (const uint8_t *)in + i;
        size_t l = fu_utf8_seq(p, len - i);
        char tmp[5];
        size_t tl;
        if (l == 1 && (*p < 0x20 || *p == 0x7f || *p == '\\')) {
            tl = *p == '\\' ? 2 : 4;
            if (*p == '\\')
                memcpy(tmp, "\\\\", 2);
            else
                snprintf(tmp, sizeof tmp, "\\x%02x", *p);
        } else if (l == 0) {
            tl = 4;
            snprintf(tmp, sizeof tmp, "\\x%02x", *p);
            l = 1;
        } else {
            tl = l;
            memcpy(tmp, p, l);
        }
        if (o + tl >= outlen)
            break;
        memcpy(out + o, tmp, tl);
        o += tl;
        i += l;
    }
    out[o] = '\0';
    return o;
}
