/* ffs_opts.h — the flashfs command line (prefix ffs_opts_).
 *
 *   flashfs [options] MODEL_DIR MOUNTPOINT
 *
 * Options work both as flags and as -o mount options so that mount.fuse3 can start the
 * daemon from /etc/fstab (`/models/x /mnt/flash fuse.flashfs ram=2G 0 0` becomes
 * `flashfs /models/x /mnt/flash -o rw,ram=2G`). Everything flashfs does not know is kept
 * in `fuse_args` and handed to libfuse (standard FUSE options: allow_other, ...). */
#ifndef FFS_OPTS_H
#define FFS_OPTS_H

#include <stddef.h>
#include <stdint.h>
#include <fuse_lowlevel.h>

typedef struct {
    char *model_dir;            /* first positional argument (malloc'd) */
    char *mountpoint;           /* second positional argument (malloc'd) */
    char *ram;                  /* --ram / -o ram= text, NULL when absent */
    uint64_t budget;            /* parsed RAM budget in bytes */
    int foreground;             /* -f (or -d) */
    int debug;                  /* -d */
    int show_help;              /* -h / --help */
    int show_version;           /* -V / --version */
    int prefetch;               /* -o prefetch / noprefetch (default on) */
    int force;                  /* --force / -o force: accept --ram above physical RAM */
    struct fuse_args args;      /* what libfuse gets (argv[0] + unknown options) */
} ffs_opts_t;

/* Smallest accepted RAM budget (4 MiB). */
#define FFS_MIN_BUDGET (4ull << 20)

/* Default RAM budget when --ram is absent: this percentage of physical RAM. */
#define FFS_DEFAULT_RAM_PCT 50

/* Parse argv into o (o is initialised here). 0, or a FFS_EXIT_* code with one line of
 * explanation in err. Help and version requests return 0 with show_help/show_version set. */
int ffs_opts_parse(int argc, char **argv, ffs_opts_t *o, char *err, size_t errlen);

/* Print the --help text to stdout. */
void ffs_opts_usage(const char *prog);

/* Release what ffs_opts_parse allocated (NULL-safe). */
void ffs_opts_free(ffs_opts_t *o);

#endif
