/* ffs_opts.c — command-line and -o option parsing for flashfs (fuse_opt table). */
#include "ffs_opts.h"
#include "ffs_exit.h"
#include "fu_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the option table ----------------------------------------------------------
 * fuse_opt matches each argument (and each comma-separated -o item) against these
 * templates. "%s" stores a strdup'd value at the offset; a plain key calls opt_proc. */

typedef struct {
    ffs_opts_t o;               /* filled by fuse_opt through the offsets below */
    char *err;
    size_t errlen;
    int code;                   /* first error seen (FFS_EXIT_*) */
} parse_ctx_t;

enum { KEY_HELP, KEY_VERSION, KEY_FOREGROUND, KEY_DEBUG };

/* Offsets are relative to the parse context, whose first member is the options. */
#define OPT(t, field, v) { t, offsetof(parse_ctx_t, o.field), v }

static const struct fuse_opt opt_table[] = {
    OPT("--ram %s", ram, 0),
    OPT("--ram=%s", ram, 0),
    OPT("ram=%s", ram, 0),
    OPT("prefetch", prefetch, 1),
    OPT("noprefetch", prefetch, 0),
    OPT("--force", force, 1),
    OPT("force", force, 1),
    FUSE_OPT_KEY("-h", KEY_HELP),
    FUSE_OPT_KEY("--help", KEY_HELP),
    FUSE_OPT_KEY("-V", KEY_VERSION),
    FUSE_OPT_KEY("--version", KEY_VERSION),
    FUSE_OPT_KEY("-f", KEY_FOREGROUND),
    FUSE_OPT_KEY("-d", KEY_DEBUG),
    FUSE_OPT_KEY("debug", KEY_DEBUG),
    FUSE_OPT_END
};


static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
    (void)outargs;
    parse_ctx_t *c = data;
    ffs_opts_t *o = &c->o;
    switch (key) {
    case KEY_HELP:
        o->show_help = 1;
        return 0;
    case KEY_VERSION:
        o->show_version = 1;
        return 0;
    case KEY_FOREGROUND:
        o->foreground = 1;
        return 0;
    case KEY_DEBUG:
        o->debug = 1;
        o->foreground = 1;
        return 1; /* keep: libfuse prints its request trace with -d */
    case FUSE_OPT_KEY_NONOPT:
        if (!o->model_dir) {
            o->model_dir = strdup(arg);
            return o->model_dir ? 0 : -1;
        }
        if (!o->mountpoint) {
            o->mountpoint = strdup(arg);
            return o->mountpoint ? 0 : -1;
        }
        if (!c->code)
            c->code = fu_err(c->err, c->errlen, FFS_EXIT_USAGE, "unexpected argument '%s'", arg);
        return 0;
    case FUSE_OPT_KEY_OPT:
        /* An unknown dash option is an error; an unknown -o item goes to libfuse,
         * which rejects what it does not know either. */
        if (arg[0] == '-' && !c->code) {
            c->code = fu_err(c->err, c->errlen, FFS_EXIT_USAGE, "unknown option '%s'", arg);
            return 0;
        }
        return 1;
    default:
        return 1;
    }
}

int ffs_opts_parse(int argc, char **argv, ffs_opts_t *o, char *err, size_t errlen)
{
    parse_ctx_t c;
    memset(&c, 0, sizeof c);
    c.o.prefetch = 1;
    c.err = err;
    c.errlen = errlen;
    struct fuse_args a = FUSE_ARGS_INIT(argc, argv);
    int prc = fuse_opt_parse(&a, &c, opt_table, opt_proc);
    *o = c.o;
    o->args = a;
    if (prc != 0)
        return fu_err(err, errlen, FFS_EXIT_USAGE, "invalid options (see --help)");
    if (c.code)
        return c.code;
    if (o->show_help || o->show_version)
        return 0;
    if (!o->model_dir || !o->mountpoint)
        return fu_err(err, errlen, FFS_EXIT_USAGE, "usage: flashfs [options] MODEL_DIR MOUNTPOINT (see --help)");
    if (o->ram) {
        int rc = fu_parse_ram(o->ram, o->force, &o->budget);
        char b[32];
        if (rc == -E2BIG)
            return fu_err(err, errlen, FFS_EXIT_USAGE, "--ram %s is more than the physical RAM (%s); add --force to "
                          "use it anyway", o->ram, fu_format_size(fu_phys_ram(), b, sizeof b));
        if (rc < 0)
            return fu_err(err, errlen, FFS_EXIT_USAGE, "bad --ram value '%s' (decimal with a unit: 512M, 2G or 25%%)",
                          o->ram);
    } else {
        o->budget = fu_phys_ram() / 100 * FFS_DEFAULT_RAM_PCT;
        if (!o->budget)
            o->budget = 1ull << 30;
    }
    if (o->budget < FFS_MIN_BUDGET)
        return fu_err(err, errlen, FFS_EXIT_USAGE, "--ram %s is too small (minimum 4M)", o->ram ? o->ram : "");
    return 0;
}

void ffs_opts_usage(const char *prog)
{
    printf("usage: %s [options] MODEL_DIR MOUNTPOINT\n"
           "\n"
           "Mount the model directory MODEL_DIR read-only at MOUNTPOINT, serving it under a hard\n"
           "RAM budget with layer prefetch. Control files live in MOUNTPOINT/.flashfs/.\n"
           "MODEL_DIR may also be a Hugging Face cache snapshot (.../models--ORG--NAME/snapshots/REV,\n"
           "its links into ../../blobs are followed), the repository directory models--ORG--NAME\n"
           "(its refs/main snapshot), or ORG/NAME looked up in $HF_HUB_CACHE or $HF_HOME/hub\n"
           "(default ~/.cache/huggingface/hub).\n"
           "\n"
           "options:\n"
           "    --ram SIZE, -o ram=SIZE   RAM budget (K/M/G suffix or %% of physical RAM;\n"
           "                              default %d%% of physical RAM, minimum 4M)\n"
           "    -o noprefetch             start with the layer prefetcher off\n"
           "    --force, -o force         accept a --ram larger than physical RAM\n"
           "    -o ro                     read-only to the kernel too (ro in /proc/mounts);\n"
           "                              .flashfs/control then refuses commands (EROFS)\n"
           "    -f                        stay in the foreground\n"
           "    -d, -o debug              foreground with libfuse request tracing\n"
           "    -V, --version             print the version and exit\n"
           "    -h, --help                print this help and exit\n"
           "    -o OPT[,OPT...]           standard FUSE mount options (allow_other, fsname=, ...)\n"
           "\n"
           "exit codes: 0 ok, 1 usage, 2 MODEL_DIR, 3 mountpoint missing, 4 mountpoint not empty,\n"
           "            5 already mounted, 6 stale mount, 7 /dev/fuse, 8 mount failed, 9 internal\n"
           "See flashfs(1) and docs/control.md.\n",
           prog, FFS_DEFAULT_RAM_PCT);
}

void ffs_opts_free(ffs_opts_t *o)
{
    if (!o)
        return;
    free(o->model_dir);
    free(o->mountpoint);
    free(o->ram);
    fuse_opt_free_args(&o->args);
    memset(o, 0, sizeof *o);
}
