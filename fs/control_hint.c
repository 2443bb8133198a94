/* control_hint.c — lines written to `.flashfs/hint` (see control.h, docs/control.md). */
#include "control.h"
#include "ffs.h"
#include "fu_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char hint_help[] =
    "# write one hint per line (see docs/control.md):\n"
    "#   at GROUP   the reader is about to read layer group GROUP (embed, layer.N, norm, head, other)\n"
    "#   release    READs steer the reader position again\n";

/* A refused hint: counted, reason in last_error (which escapes what is not printable). */
static int refuse(ffs_t *fs, const char *fmt, const char *a, size_t alen)
{
    char arg[CTL_ARG_LEN * 2], msg[512];
    if (alen >= sizeof arg)
        alen = sizeof arg - 1;
    memcpy(arg, a, alen);
    arg[alen] = '\0';
    snprintf(msg, sizeof msg, fmt, arg);
    ffs_set_last_error(fs, msg);
    sx_add(&fs->sx.hint_errors, 1);
    return -EINVAL;
}

int ctl_hint_line(ffs_t *fs, const char *line, size_t len)
{
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    while (len > i && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r'))
        len--;
    if (i == len || line[i] == '#')
        return 0;
    const char *w = line + i;
    size_t wl = 0;
    while (i + wl < len && line[i + wl] != ' ' && line[i + wl] != '\t')
        wl++;
    size_t j = i + wl;
    while (j < len && (line[j] == ' ' || line[j] == '\t'))
        j++;
    const char *arg = line + j;
    size_t al = len - j;
    if (wl == 7 && !memcmp(w, "release", 7)) {
        if (al)
            return refuse(fs, "hint: 'release' takes no argument (got '%s')", arg, al);
        ca_hint_release(&fs->ca);
        sx_add(&fs->sx.hints, 1);
        return 0;
    }
    if (!(wl == 2 && !memcmp(w, "at", 2)))
        return refuse(fs, "hint: unknown hint '%s' (at GROUP | release)", w, wl);
    if (!al)
        return refuse(fs, "hint: 'at' needs a layer group%s", "", 0);
    for (size_t g = 0; g < fs->ly.n_groups; g++) {
        const char *name = fs->ly.groups[g].name;
        if (strlen(name) != al || memcmp(name, arg, al))
            continue;
        int rc = ca_hint_at(&fs->ca, g);
        if (rc < 0)
            return refuse(fs, "hint: group '%s' has no tensor bytes to prefetch", arg, al);
        sx_add(&fs->sx.hints, 1);
        pf_kick(&fs->pf);
        return 0;
    }
    return refuse(fs, "hint: unknown group '%s' (see .flashfs/layout)", arg, al);
}

char *ctl_hint_text(ffs_t *fs)
{
    uint64_t until = atomic_load(&fs->ca.hint_until_ns), now = fu_now_ns();
    int g = atomic_load(&fs->ca.hint_group);
    const char *name = g >= 0 && (size_t)g < fs->ly.n_groups ? fs->ly.groups[g].name : "-";
    size_t n = sizeof hint_help + 256;
    char *t = malloc(n);
    if (!t)
        return NULL;
    snprintf(t, n, "%sactive %d\nlast %s\nhints %llu\nrefused %llu\n", hint_help, until > now, name,
             (unsigned long long)sx_get(&fs->sx.hints), (unsigned long long)sx_get(&fs->sx.hint_errors));
    return t;
}
