/* ffs.h — the state of one flashfs mount and its FUSE low-level operations (prefix ffs_).
 *
 * ffs_build() scans MODEL_DIR (ffs_tree), opens every backing file (source.h), parses
 * the tensor layout (layout.h), registers every file with the cache (cache.h) and adds
 * the control directory `.flashfs/`. ffs_lowlevel_ops() serves it read-only. */
#ifndef FFS_H
#define FFS_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <fuse_lowlevel.h>

#include "cache.h"
#include "ffs_opts.h"
#include "ffs_tree.h"
#include "layout.h"
#include "prefetch.h"
#include "stats.h"

#define FFS_VERSION "0.1.0"

/* Control files of `.flashfs/` (see docs/control.md). */
enum { CTL_STATS = 0, CTL_METRICS, CTL_LAYOUT, CTL_CONTROL, CTL_LAST_ERROR, CTL_HINT, CTL_N };

/* Names of the control files, indexed by CTL_*. */
extern const char *const ffs_ctl_names[CTL_N];

/* Name of the control directory at the mount root. */
#define FFS_CTL_DIR ".flashfs"

typedef struct ffs {
    ffs_tree_t tree;
    ly_layout_t ly;
    ca_t ca;
    pf_t pf;
    sx_stats_t sx;
    struct fuse_session *se;
    uid_t owner;                    /* uid that mounted: only it may write `control` */
    gid_t owner_gid;
    uint64_t ctl_dir_ino;
    uint64_t ctl_ino[CTL_N];
    _Atomic uint64_t *nlookup;      /* kernel lookup count per inode (index ino - 1) */
    pthread_mutex_t err_mu;
    char last_error[512];           /* reason of the last rejected control command (escaped) */
    _Atomic uint64_t err_gen;       /* bumped whenever last_error changes */
    pthread_mutex_t cmd_mu;         /* control commands run one at a time */
    struct ctl_reg *ctl;            /* open control files (control_fh.c) */
    int have_mu;                    /* err_mu and cmd_mu initialised */
    _Atomic int prefetch_on;
    _Atomic int prefetch_depth;
    unsigned conn_max_readahead;    /* negotiated at FUSE init */
    unsigned conn_max_read;
    unsigned conn_max_write;
    unsigned bdi_read_ahead_kb;     /* read_ahead_kb of the mount's bdi after our adjustment */
    size_t n_backing_files;
    int trace_fd;                   /* READ trace (FLASHFS_TRACE=FILE, ffs_trace.c), -1 when off */
    uint8_t *pinned;                /* per layout group: pinned by `pin` (n = ly.n_groups) */
} ffs_t;

/* Build the mount state for MODEL_DIR with the given budget. 0 or -errno, reason in err. */
int ffs_build(ffs_t *fs, const ffs_opts_t *o, char *err, size_t errlen);

/* Release everything ffs_build created (after the session ended). */
void ffs_destroy(ffs_t *fs);

/* The FUSE low-level operation table (userdata must be the ffs_t *). */
const struct fuse_lowlevel_ops *ffs_lowlevel_ops(void);

/* Answer a READ of model file n (ffs_read.c). */
void ffs_read_model(fuse_req_t req, ffs_t *fs, ffs_node_t *n, size_t size, off_t off);

/* Open the READ trace named by $FLASHFS_TRACE (a debugging aid: one line per READ of a
 * model file, see docs/design.md "How llama.cpp reads through the mount"). 0, or -errno
 * when the variable is set but the file cannot be created (the mount goes on without). */
int ffs_trace_open(ffs_t *fs);

/* Append one READ to the trace (no-op when off): time, requesting thread, inode, offset,
 * length, the chunk's layer group and cyclic position, the reader position after it, and
 * whether prefetched buffers served it. */
void ffs_trace_read(ffs_t *fs, fuse_req_t req, const ca_file_t *f, uint64_t off, size_t len, int hit);

/* Remember a control-command error for `.flashfs/last_error` (escaped with ctl_escape);
 * an empty msg clears it. */
void ffs_set_last_error(ffs_t *fs, const char *msg);

#endif
