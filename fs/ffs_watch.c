/* ffs_watch.c — backing files that change under the mount (see ffs_watch.h). */
#include "ffs_watch.h"
#include "ffs.h"
#include "pack.h"
#include "fu_util.h"
#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* w->state bits per node */
enum { WS_ODD_LOGGED = 1, WS_FAIL_LOGGED = 2 };

/* Guards the attributes the watcher changes (st) against the FUSE handlers copying them:
 * a reader never sees the new mode with the old owner. One mount per process. */
static pthread_mutex_t attr_mu = PTHREAD_MUTEX_INITIALIZER;

void ffs_watch_attr(const ffs_node_t *n, struct stat *out)
{
    pthread_mutex_lock(&attr_mu);
    *out = n->st;
    pthread_mutex_unlock(&attr_mu);
}

/* Copy the attributes a user can see change (mode, owner, times, size) from st into n.
 * size is the logical size served (a packed file's differs from st_size). */
static void set_attrs(ffs_node_t *n, const struct stat *st, uint64_t size)
{
    pthread_mutex_lock(&attr_mu);
    n->st.st_mode = st->st_mode;
    n->st.st_uid = st->st_uid;
    n->st.st_gid = st->st_gid;
    n->st.st_size = (off_t)size;
    n->st.st_blocks = (blkcnt_t)((size + 511) / 512);
    n->st.st_mtim = st->st_mtim;
    n->st.st_ctim = st->st_ctim;
    pthread_mutex_unlock(&attr_mu);
}

/* 1 when the file at the path is not the one src serves (content). */
static int changed(const src_t *s, const struct stat *st)
{
    int64_t mt = (int64_t)st->st_mtim.tv_sec * 1000000000ll + st->st_mtim.tv_nsec;
    return st->st_dev != s->dev || st->st_ino != s->ino || (uint64_t)st->st_size != s->stored_size ||
           mt != s->mtime_ns;
}

/* 1 when the mode, owner or ctime of the file differ from what the node shows. */
static int attrs_changed(const ffs_node_t *n, const struct stat *st)
{
    return st->st_mode != n->st.st_mode || st->st_uid != n->st.st_uid || st->st_gid != n->st.st_gid ||
           st->st_ctim.tv_sec != n->st.st_ctim.tv_sec || st->st_ctim.tv_nsec != n->st.st_ctim.tv_nsec;
}

/* Room for one more retired source (so that the switch cannot fail half-way). */
static int reserve_retired(ffs_watch_t *w)
{
    if (w->n_retired < w->cap_retired)
        return 0;
    size_t cap = w->cap_retired ? 2 * w->cap_retired : 8;
    src_t **n = realloc(w->retired, cap * sizeof *n);
    if (!n)
        return -ENOMEM;
    w->retired = n;
    w->cap_retired = cap;
    return 0;
}

/* Tell the kernel that ino's attributes (and, when data, its pages) are stale. From the
 * watcher thread, never from a request handler. */
static void inval(ffs_t *fs, const ffs_node_t *n, uint64_t ino, int data)
{
    if (!fs->se)
        return;
    int rc = fuse_lowlevel_notify_inval_inode(fs->se, ino, data ? 0 : -1, 0);
    if (rc < 0 && rc != -ENOENT)
        fu_log(FU_LOG_WARN, "%s: invalidating the kernel cache failed: %s", n->display, strerror(-rc));
}

/* Switch node n (index i) to the regular file behind pathfd (fstat st). A failure (a
 * corrupt packed file, no /proc to re-open through) is logged once and tried again at
 * the next pass; the old file is served meanwhile. */
static int refresh(ffs_watch_t *w, size_t i, ffs_node_t *n, int pathfd, const struct stat *st)
{
    ffs_t *fs = w->fs;
    uint64_t ino = (uint64_t)i + 1;
    src_t *old = n->src, *nw = NULL;
    char err[256];
    int rc = src_open_path(pathfd, st, n->relpath, &nw, err, sizeof err);
    if (rc < 0) {
        if (!w->state || !(w->state[i] & WS_FAIL_LOGGED))
            fu_log(FU_LOG_ERR, "backing file %s changed and cannot be opened again: %s (the file opened before "
                   "is served)", n->display, err);
        if (w->state)
            w->state[i] |= WS_FAIL_LOGGED;
        return rc;
    }
    if (w->state)
        w->state[i] &= (uint8_t)~WS_FAIL_LOGGED;
    if (n->ly_index >= 0 && fs->ly.files[n->ly_index].n_tensors)
        pk_src_defer_readahead(nw, &fs->prefetch_on); /* as ffs_build */
    /* the cache first (its chunk table grows to the new size, old prefetched bytes are
     * dropped), then the READ path's source: a READ that sees the new size finds a table
     * that covers it */
    ca_file_t *f = n->cache;
    if (reserve_retired(w) < 0 || (f && ca_file_replace(&fs->ca, f, nw->size, nw) < 0)) {
        src_close(nw);
        return -ENOMEM;
    }
    w->retired[w->n_retired++] = old;
    fu_log(FU_LOG_WARN, "backing file %s changed (inode %llu -> %llu, size %llu -> %llu, mode %04o -> %04o): "
           "serving the new file, cached pages dropped", n->display, (unsigned long long)old->ino,
           (unsigned long long)st->st_ino, (unsigned long long)old->size, (unsigned long long)nw->size,
           (unsigned)(n->st.st_mode & 07777), (unsigned)(st->st_mode & 07777));
    set_attrs(n, st, nw->size);
    __atomic_store_n(&n->src, nw, __ATOMIC_RELEASE);
    inval(fs, n, ino, 1);
    return 0;
}

/* The path of n is no longer a regular file reachable without links: keep serving the
 * file opened before (like an unlinked open file), log it once. */
static void odd(ffs_watch_t *w, size_t i, const ffs_node_t *n, const char *what)
{
    if (w->state && (w->state[i] & WS_ODD_LOGGED))
        return;
    if (w->state)
        w->state[i] |= WS_ODD_LOGGED;
    fu_log(FU_LOG_WARN, "backing file %s %s: not opened; the mount keeps serving the file it had open", n->display,
           what);
}

static const char *kind_of(mode_t m)
{
    return S_ISLNK(m) ? "is a symbolic link now" : S_ISDIR(m) ? "is a directory now"
         : S_ISFIFO(m) ? "is a FIFO now" : S_ISSOCK(m) ? "is a socket now"
         : S_ISCHR(m) || S_ISBLK(m) ? "is a device now" : "is not a regular file now";
}

int ffs_watch_pass(ffs_watch_t *w)
{
    ffs_t *fs = w->fs;
    int n_changed = 0;
    for (size_t i = 0; i < fs->tree.n_nodes; i++) {
        ffs_node_t *n = &fs->tree.nodes[i];
        if (n->kind != FFS_N_FILE || !n->src || !n->relpath)
            continue;
        /* O_PATH, beneath the root, no link in any component: opens nothing, never
         * blocks, never reaches outside MODEL_DIR */
        int pfd = fu_open_beneath(fs->tree.rootfd, n->relpath);
        if (pfd < 0) {
            if (pfd != -ENOENT)
                odd(w, i, n, pfd == -ELOOP || pfd == -ENOTDIR || pfd == -EXDEV
                                 ? "has a symbolic link in its path now" : "cannot be looked up");
            continue;               /* gone: keep serving the open file */
        }
        struct stat st;
        if (fstat(pfd, &st) != 0) {
            close(pfd);
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            odd(w, i, n, kind_of(st.st_mode));
            close(pfd);
            continue;
        }
        if (w->state)
            w->state[i] &= (uint8_t)~WS_ODD_LOGGED;
        if (changed(n->src, &st)) {
            if (refresh(w, i, n, pfd, &st) == 0)
                n_changed++;
        } else if (attrs_changed(n, &st)) {
            /* chmod, chown: with default_permissions the kernel checks the mirrored
             * attributes, so they must follow at once */
            fu_log(FU_LOG_INFO, "backing file %s: mode %04o -> %04o, owner %u:%u -> %u:%u", n->display,
                   (unsigned)(n->st.st_mode & 07777), (unsigned)(st.st_mode & 07777), (unsigned)n->st.st_uid,
                   (unsigned)n->st.st_gid, (unsigned)st.st_uid, (unsigned)st.st_gid);
            set_attrs(n, &st, n->src->size);
            inval(fs, n, (uint64_t)i + 1, 0);
            n_changed++;
        }
        close(pfd);
    }
    return n_changed;
}

static void *watch_main(void *arg)
{
    ffs_watch_t *w = arg;
    while (!atomic_load(&w->stop)) {
        struct timespec ts = { w->interval_ms / 1000, (long)(w->interval_ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
        if (!atomic_load(&w->stop))
            ffs_watch_pass(w);
    }
    return NULL;
}

int ffs_watch_init(ffs_watch_t *w, ffs_t *fs)
{
    memset(w, 0, sizeof *w);
    w->fs = fs;
    w->interval_ms = FFS_WATCH_MS;
    atomic_init(&w->stop, 0);
    w->state = calloc(fs->tree.n_nodes ? fs->tree.n_nodes : 1, 1);
    return w->state ? 0 : -ENOMEM;
}

int ffs_watch_start(ffs_watch_t *w, ffs_t *fs)
{
    int rc = ffs_watch_init(w, fs);
    if (rc < 0)
        return rc;
    if (pthread_create(&w->thr, NULL, watch_main, w) != 0) {
        free(w->state);
        w->state = NULL;
        return -EAGAIN;
    }
    w->running = 1;
    return 0;
}

void ffs_watch_stop(ffs_watch_t *w)
{
    if (w->running) {
        atomic_store(&w->stop, 1);
        pthread_join(w->thr, NULL);
        w->running = 0;
    }
    for (size_t i = 0; i < w->n_retired; i++)
        src_close(w->retired[i]);
    free(w->retired);
    free(w->state);
    w->state = NULL;
    w->retired = NULL;
    w->n_retired = w->cap_retired = 0;
}
