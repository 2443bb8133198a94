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

/* 1 when the file at the path is not the one src serves. */
static int changed(const src_t *s, const struct stat *st)
{
    int64_t mt = (int64_t)st->st_mtim.tv_sec * 1000000000ll + st->st_mtim.tv_nsec;
    return st->st_dev != s->dev || st->st_ino != s->ino || (uint64_t)st->st_size != s->stored_size ||
           mt != s->mtime_ns;
}

/* Drop the prefetch buffers of f (after waiting for those in flight on the old source)
 * and its residency accounting. */
static void drop_cached(ffs_t *fs, ca_file_t *f)
{
    pthread_mutex_lock(&f->lock);
    for (size_t k = 0; k < f->n_chunks; k++) {
        ca_chunk_t *ch = &f->chunks[k];
        while (ch->pf && ch->pf->state == CA_PF_INFLIGHT)
            pthread_cond_wait(&f->pf_cv, &f->lock);
        if (ch->pf && ch->pf->refs == 0)
            ca_pf_free(&fs->ca, ch);
    }
    pthread_mutex_unlock(&f->lock);
    ca_forget(&fs->ca, f);
}

static int retire(ffs_watch_t *w, src_t *s)
{
    if (w->n_retired == w->cap_retired) {
        size_t cap = w->cap_retired ? 2 * w->cap_retired : 8;
        src_t **n = realloc(w->retired, cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        w->retired = n;
        w->cap_retired = cap;
    }
    w->retired[w->n_retired++] = s;
    return 0;
}

/* Switch node n to the file now at its path. */
static int refresh(ffs_watch_t *w, ffs_node_t *n, uint64_t ino, const struct stat *st)
{
    ffs_t *fs = w->fs;
    src_t *old = n->src, *nw = NULL;
    char err[256];
    int rc = src_open(fs->tree.rootfd, n->relpath, &nw, err, sizeof err);
    if (rc < 0) {
        fu_log(FU_LOG_ERR, "backing file %s changed and cannot be opened again: %s", n->display, err);
        return rc;
    }
    if (n->ly_index >= 0 && fs->ly.files[n->ly_index].n_tensors)
        pk_src_defer_readahead(nw, &fs->prefetch_on); /* as ffs_build */
    if (retire(w, old) < 0) {
        src_close(nw);
        return -ENOMEM;
    }
    fu_log(FU_LOG_WARN, "backing file %s changed (inode %llu -> %llu, size %llu -> %llu): serving the new file, "
           "cached pages dropped", n->display, (unsigned long long)old->ino, (unsigned long long)st->st_ino,
           (unsigned long long)old->size, (unsigned long long)nw->size);
    ca_file_t *f = n->cache;
    if (f) {
        pthread_mutex_lock(&f->lock);
        __atomic_store_n(&f->src, nw, __ATOMIC_RELEASE);
        if (nw->size < f->size)
            f->size = nw->size;     /* the chunk table keeps its size; reads are clipped to the source */
        pthread_mutex_unlock(&f->lock);
    }
    __atomic_store_n(&n->src, nw, __ATOMIC_RELEASE);
    n->st.st_size = (off_t)nw->size;
    n->st.st_mtim = st->st_mtim;
    n->st.st_ctim = st->st_ctim;
    n->st.st_blocks = st->st_blocks;
    if (f)
        drop_cached(fs, f);
    /* from outside any request handler: drop the kernel's pages and attributes */
    if (fs->se) {
        rc = fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);
        if (rc < 0 && rc != -ENOENT)
            fu_log(FU_LOG_WARN, "%s: invalidating the kernel cache failed: %s", n->display, strerror(-rc));
    }
    return 0;
}

int ffs_watch_pass(ffs_watch_t *w)
{
    ffs_t *fs = w->fs;
    int n_changed = 0;
    for (size_t i = 0; i < fs->tree.n_nodes; i++) {
        ffs_node_t *n = &fs->tree.nodes[i];
        if (n->kind != FFS_N_FILE || !n->src || !n->relpath)
            continue;
        struct stat st;
        if (fstatat(fs->tree.rootfd, n->relpath, &st, 0) != 0 || !S_ISREG(st.st_mode))
            continue;               /* gone: keep serving the open file */
        if (changed(n->src, &st) && refresh(w, n, (uint64_t)i + 1, &st) == 0)
            n_changed++;
    }
    return n_changed;
}

static void *watch_main(void *arg)
{
    ffs_watch_t *w = arg;
    while (!atomic_load(&w->stop)) {
        struct timespec ts = { 0, FFS_WATCH_MS * 1000000L };
        nanosleep(&ts, NULL);
        if (!atomic_load(&w->stop))
            ffs_watch_pass(w);
    }
    return NULL;
}

int ffs_watch_start(ffs_watch_t *w, ffs_t *fs)
{
    memset(w, 0, sizeof *w);
    w->fs = fs;
    atomic_init(&w->stop, 0);
    if (pthread_create(&w->thr, NULL, watch_main, w) != 0)
        return -EAGAIN;
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
    w->retired = NULL;
    w->n_retired = w->cap_retired = 0;
}
