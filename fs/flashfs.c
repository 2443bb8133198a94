/* flashfs.c — the flashfs command: check the invocation, build the mount, serve it.
 *
 *   flashfs [options] MODEL_DIR MOUNTPOINT
 *
 * Every check that can fail (options, MODEL_DIR, MOUNTPOINT, /dev/fuse, layout) runs in
 * the foreground before daemonizing, so a bad invocation prints one line on stderr and
 * exits with its FFS_EXIT_* code. Threads (evictor, helper) start after daemonizing. */
#include "ffs.h"
#include "ffs_io.h"
#include "ffs_watch.h"
#include "ffs_check.h"
#include "ffs_exit.h"
#include "ffs_opts.h"
#include "fu_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* Readahead window we ask of the mount's bdi: 1 MiB, so sequential readers get 1 MiB
 * READ requests (libfuse 3.14 negotiates max_pages = 256, i.e. 1 MiB per request). */
#define BDI_READ_AHEAD_KB 1024
/* Without tensor files flashfs has no layer order to prefetch by, and the kernel's
 * read-ahead is all a sequential reader gets: 4 MiB keeps 4 READs in flight (a disk
 * needs that queue depth; measured 0.59 -> 1.11 x direct for a cold sequential read of a
 * plain file). With tensor files the prefetcher reads ahead by layers, and a deeper
 * kernel read-ahead only pulls streamed chunks in early (+2-4 % backing bytes per cycle). */
#define BDI_READ_AHEAD_KB_PLAIN 4096

typedef struct {
    ffs_t *fs;
    const char *mountpoint;
} post_mount_t;

/* After the session answers requests: raise read_ahead_kb of the mount's bdi (root only;
 * the kernel initialises it from max_readahead, often 128 KiB) and record the result. */
static void *post_mount(void *arg)
{
    post_mount_t *p = arg;
    struct stat st;
    if (stat(p->mountpoint, &st) < 0)
        return NULL;
    char path[128];
    snprintf(path, sizeof path, "/sys/class/bdi/%u:%u/read_ahead_kb", major(st.st_dev), minor(st.st_dev));
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        char v[32];
        int n = snprintf(v, sizeof v, "%d\n", p->fs->ca.n_cyc ? BDI_READ_AHEAD_KB : BDI_READ_AHEAD_KB_PLAIN);
        if (fu_write_full(fd, v, (size_t)n) < 0)
            fu_log(FU_LOG_DEBUG, "%s: cannot raise read_ahead_kb", path);
        close(fd);
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char v[32];
        ssize_t n = read(fd, v, sizeof v - 1);
        if (n > 0) {
            v[n] = '\0';
            p->fs->bdi_read_ahead_kb = (unsigned)strtoul(v, NULL, 10);
        }
        close(fd);
    }
    return NULL;
}

/* ",", "\" in an -o value must be escaped for fuse_opt. */
static char *opt_escape(const char *s)
{
    size_t n = strlen(s);
    char *r = malloc(2 * n + 1), *q = r;
    if (!r)
        return NULL;
    for (; *s; s++) {
        if (*s == ',' || *s == '\\')
            *q++ = '\\';
        *q++ = *s;
    }
    *q = '\0';
    return r;
}

static int add_default_opts(ffs_opts_t *o, const char *fsname)
{
    char *esc = opt_escape(fsname);
    if (!esc)
        return -ENOMEM;
    size_t n = strlen(esc) + 64;
    char *v = malloc(n);
    if (!v) {
        free(esc);
        return -ENOMEM;
    }
    /* default_permissions: the kernel checks the mirrored modes (and `control`'s 0644). */
    snprintf(v, n, "fsname=%s,subtype=flashfs,default_permissions", esc);
    free(esc);
    int rc = fuse_opt_add_arg(&o->args, "-o") || fuse_opt_add_arg(&o->args, v);
    free(v);
    return rc ? -ENOMEM : 0;
}

/* Mount and serve until unmounted. Every step is undone in reverse order on every path
 * (libfuse's passthrough_ll.c order): the prefetcher and the evictor stop while the
 * session they use still exists, then unmount, signal handlers, session. */
static int serve(ffs_t *fs, ffs_opts_t *o)
{
    if (add_default_opts(o, fs->tree.model_real) < 0) {
        fprintf(stderr, "flashfs: out of memory\n");
        return FFS_EXIT_INTERNAL;
    }
    struct fuse_session *se = fuse_session_new(&o->args, ffs_lowlevel_ops(), sizeof(struct fuse_lowlevel_ops), fs);
    if (!se)
        return FFS_EXIT_USAGE; /* libfuse printed which option it rejected */
    fs->se = se;
    int code = FFS_EXIT_INTERNAL, rc;
    if (fuse_set_signal_handlers(se) != 0) {
        fprintf(stderr, "flashfs: cannot install signal handlers\n");
        goto out_session;
    }
    if (fuse_session_mount(se, o->mountpoint) != 0) {
        fprintf(stderr, "flashfs: mounting %s failed\n", o->mountpoint);
        code = FFS_EXIT_MOUNT_FAILED;
        goto out_signals;
    }
    if (ffs_io_install(se) < 0)
        fu_log(FU_LOG_WARN, "cannot install the session I/O: O_TMPFILE will fail with EOPNOTSUPP");
    char b[32];
    fu_log(FU_LOG_INFO, "mounted %s on %s: %zu files, budget %s", o->model_dir, o->mountpoint,
           fs->n_backing_files, fu_format_size(atomic_load(&fs->ca.budget), b, sizeof b));
    if (fuse_daemonize(o->foreground) != 0)
        goto out_unmount;
    if (!o->foreground)
        fu_log_to_syslog(1);
    if ((rc = ca_start(&fs->ca, se)) < 0) {
        fu_log(FU_LOG_ERR, "cannot start the evictor: %s", strerror(-rc));
        goto out_unmount;
    }
    if ((rc = pf_start(&fs->pf, &fs->ca, &fs->prefetch_on, &fs->prefetch_depth)) < 0) {
        fu_log(FU_LOG_ERR, "cannot start the prefetcher: %s", strerror(-rc));
        goto out_cache;
    }
    code = FFS_EXIT_OK;
    ffs_watch_t watch;              /* backing files changing under the mount */
    int have_watch = ffs_watch_start(&watch, fs) == 0;
    if (!have_watch)
        fu_log(FU_LOG_WARN, "cannot start the backing-file watcher: changed files will not be noticed");
    post_mount_t pm = { fs, o->mountpoint };
    pthread_t helper;
    int have_helper = pthread_create(&helper, NULL, post_mount, &pm) == 0;
    struct fuse_loop_config *cfg = fuse_loop_cfg_create();
    if (!cfg) {
        code = FFS_EXIT_INTERNAL;
    } else {
        fuse_loop_cfg_set_max_threads(cfg, 10);
        /* The loop returns the number of the signal that ended it (SIGINT, SIGTERM,
         * SIGHUP: a clean shutdown), 0 after `fusermount3 -u`, or -errno. */
        int lrc = fuse_session_loop_mt(se, cfg);
        if (lrc < 0) {
            fu_log(FU_LOG_ERR, "session loop failed: %s", strerror(-lrc));
            code = FFS_EXIT_INTERNAL;
        }
        fuse_loop_cfg_destroy(cfg);
    }
    if (have_helper)
        pthread_join(helper, NULL);
    if (have_watch)
        ffs_watch_stop(&watch);
    pf_stop(&fs->pf);
out_cache:
    ca_stop(&fs->ca);
out_unmount:
    fuse_session_unmount(se);
out_signals:
    fuse_remove_signal_handlers(se);
out_session:
    fuse_session_destroy(se);
    fs->se = NULL;
    return code;
}

int main(int argc, char **argv)
{
    fu_log_init("flashfs", FU_LOG_INFO);
    ffs_opts_t o;
    char err[512] = "";
    int code = ffs_opts_parse(argc, argv, &o, err, sizeof err);
    if (code) {
        fprintf(stderr, "flashfs: %s\n", err);
        ffs_opts_free(&o);
        return code;
    }
    if (o.show_help) {
        ffs_opts_usage(argv[0]);
        ffs_opts_free(&o);
        return FFS_EXIT_OK;
    }
    if (o.show_version) {
        printf("flashfs %s (libfuse %s)\n", FFS_VERSION, fuse_pkgversion());
        ffs_opts_free(&o);
        return FFS_EXIT_OK;
    }
    if (o.debug)
        fu_log_init("flashfs", FU_LOG_DEBUG);
    if ((code = ffs_check_model_dir(&o.model_dir, err, sizeof err)) ||
        (code = ffs_check_mountpoint(o.mountpoint, err, sizeof err)) ||
        (code = ffs_check_dev_fuse(err, sizeof err))) {
        fprintf(stderr, "flashfs: %s\n", err);
        ffs_opts_free(&o);
        return code;
    }
    ffs_t *fs = calloc(1, sizeof *fs);
    if (!fs) {
        fprintf(stderr, "flashfs: out of memory\n");
        ffs_opts_free(&o);
        return FFS_EXIT_INTERNAL;
    }
    int rc = ffs_build(fs, &o, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "flashfs: %s\n", err[0] ? err : strerror(-rc));
        ffs_destroy(fs);
        free(fs);
        ffs_opts_free(&o);
        return rc == -ENOMEM ? FFS_EXIT_INTERNAL : FFS_EXIT_MODEL_DIR;
    }
    if ((rc = ffs_trace_open(fs)) < 0)
        fprintf(stderr, "flashfs: warning: FLASHFS_TRACE=%s: %s (no trace)\n", getenv("FLASHFS_TRACE"), strerror(-rc));
    code = serve(fs, &o);
    ffs_destroy(fs);
    free(fs);
    ffs_opts_free(&o);
    return code;
}
