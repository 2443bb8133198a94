/* ffs_build.c — assembling the mount state: scan, open sources, parse the layout,
 * register files with the cache, add the control directory. */
#include "control.h"
#include "ffs.h"
#include "pack.h"
#include "fu_util.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

const char *const ffs_ctl_names[CTL_N] = { "stats", "metrics", "layout", "control", "last_error", "hint" };

/* Modes of the control files: owner-only (owner = the mounting uid, see add_control_dir).
 * stats, metrics and layout name files from every directory of the model, including
 * ones other users may not list; with allow_other they must not read them. */
static const mode_t ctl_modes[CTL_N] = { 0400, 0400, 0400, 0600, 0400, 0600 };

/* group_at callback for ca_add_file over one layout file. */
static int group_at(void *ctx, uint64_t off)
{
    return ly_group_at(ctx, off);
}

/* Allow one descriptor per backing file (two with O_DIRECT) plus FUSE's own. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* Warn (stderr, before daemonizing) when the mount will show nothing useful: no file at
 * all, everything hidden, or no model file (*.safetensors, *.gguf, a packed file). */
static void warn_content(const ffs_t *fs, const char *model_dir)
{
    const ffs_tree_t *t = &fs->tree;
    if (t->n_files == 0) {
        if (t->n_hidden == 0) {
            fu_log(FU_LOG_WARN, "%s is empty%s: the mount shows no files", model_dir,
                   t->n_dirs ? " (only directories)" : "");
            return;
        }
        fu_log(FU_LOG_WARN, "%s: the mount shows no files: all %zu entries are hidden (%zu symlinks that escape "
               "the %s or dangle, %zu fifos/sockets/devices, %zu others)%s", model_dir, t->n_hidden,
               t->n_hidden_link, t->model_rel[0] ? "Hugging Face cache repository" : "model directory",
               t->n_hidden_special, t->n_hidden - t->n_hidden_link - t->n_hidden_special,
               t->n_hidden_link && !t->model_rel[0]
                   ? "; a Hugging Face cache snapshot is mounted in place (.../models--ORG--NAME/snapshots/REV, "
                     "the models--ORG--NAME directory, or ORG/NAME), not from a copy or a link"
                   : "");
        return;
    }
    for (size_t i = 1; i <= t->n_nodes; i++) {
        const ffs_node_t *n = ffs_tree_node(t, i);
        if (n->kind != FFS_N_FILE)
            continue;
        if ((n->display && (ends_with(n->display, ".safetensors") || ends_with(n->display, ".gguf"))) ||
            (n->src && !strcmp(n->src->ops->kind, "packed")))
            return;
    }
    fu_log(FU_LOG_WARN, "%s has no model file (*.safetensors, *.gguf or a flashfs-pack file): its %zu files are "
           "served without layer prefetch%s", model_dir, t->n_files,
           t->n_hidden ? " (some entries are hidden, see above)" : "");
}

static int add_control_dir(ffs_t *fs)
{
    long d = ffs_tree_add(&fs->tree, 1, FFS_CTL_DIR, FFS_N_CTL_DIR, 0555);
    if (d < 0)
        return (int)d;
    fs->ctl_dir_ino = (uint64_t)d;
    for (int i = 0; i < CTL_N; i++) {
        long n = ffs_tree_add(&fs->tree, (uint64_t)d, ffs_ctl_names[i], FFS_N_CTL_FILE, ctl_modes[i]);
        if (n < 0)
            return (int)n;
        ffs_node_t *node = ffs_tree_node(&fs->tree, (uint64_t)n);
        node->ctl_id = i;
        node->st.st_uid = fs->owner;
        node->st.st_gid = fs->owner_gid;
        fs->ctl_ino[i] = (uint64_t)n;
    }
    return 0;
}

int ffs_build(ffs_t *fs, const ffs_opts_t *o, char *err, size_t errlen)
{
    memset(fs, 0, sizeof *fs);
    fs->trace_fd = -1;
    fs->owner = getuid();
    fs->owner_gid = getgid();
    ly_init(&fs->ly);
    sx_init(&fs->sx);
    atomic_store(&fs->prefetch_on, o->prefetch);
    atomic_store(&fs->prefetch_depth, 1);
    if (pthread_mutex_init(&fs->err_mu, NULL))
        return -ENOMEM;
    if (pthread_mutex_init(&fs->cmd_mu, NULL)) {
        pthread_mutex_destroy(&fs->err_mu);
        return -ENOMEM;
    }
    fs->have_mu = 1;
    if (ctl_reg_new(&fs->ctl) < 0)
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    int rc = ca_init(&fs->ca, o->budget, &fs->sx);
    if (rc < 0)
        return fu_err(err, errlen, rc, "cache: %s", strerror(-rc));
    atomic_store(&fs->ca.pf_off, !o->prefetch);
    rc = ffs_tree_scan(&fs->tree, o->model_dir, err, errlen);
    if (rc < 0)
        return rc;
    raise_nofile();
    /* Open every backing file and feed it to the layout parser. */
    size_t n_model_nodes = fs->tree.n_nodes;
    for (size_t i = 1; i <= n_model_nodes; i++) {
        ffs_node_t *n = ffs_tree_node(&fs->tree, i);
        if (n->kind != FFS_N_FILE)
            continue;
        char e[256] = "";
        rc = src_open_beneath(fs->tree.rootfd, n->relpath, &n->src, e, sizeof e);
        if (rc < 0) {
            fu_log(FU_LOG_WARN, "%s: %s (reads will fail with EIO)", n->display, e);
            n->src = NULL;
            continue;
        }
        if (n->src->dev != n->bdev || n->src->ino != n->bino) {
            /* a component of relpath became a link after the scan: never serve its target */
            fu_log(FU_LOG_WARN, "%s: replaced while mounting (reads will fail with EIO)", n->display);
            src_close(n->src);
            n->src = NULL;
            continue;
        }
        n->st.st_size = (off_t)n->src->size;
        n->st.st_blocks = (blkcnt_t)((n->src->size + 511) / 512);
        int idx = ly_add_file(&fs->ly, n->display, src_read_fn, n->src, n->src->size);
        if (idx < 0)
            return fu_err(err, errlen, idx, "layout: %s", idx == -E2BIG ? fs->ly.limit_error : strerror(-idx));
        n->ly_index = idx;
        if (fs->ly.files[idx].parse_error)
            fu_log(FU_LOG_WARN, "%s: served as plain bytes: %s", n->display, fs->ly.files[idx].error);
        fs->n_backing_files++;
    }
    warn_content(fs, o->model_dir);
    rc = ly_finish(&fs->ly);
    if (rc < 0)
        return fu_err(err, errlen, rc, "layout: %s", strerror(-rc));
    if (fs->ly.n_groups) {
        fs->pinned = calloc(fs->ly.n_groups, 1);
        if (!fs->pinned)
            return -ENOMEM;
    }
    for (size_t i = 1; i <= n_model_nodes; i++) {
        ffs_node_t *n = ffs_tree_node(&fs->tree, i);
        if (n->kind != FFS_N_FILE || !n->src)
            continue;
        ly_file_t *lf = n->ly_index >= 0 ? &fs->ly.files[n->ly_index] : NULL;
        n->cache = ca_add_file(&fs->ca, i, n->src->size, n->display, lf ? group_at : NULL, lf);
        if (!n->cache)
            return fu_err(err, errlen, -ENOMEM, "out of memory");
        ((ca_file_t *)n->cache)->src = n->src;
        if (lf && lf->n_tensors)
            pk_src_defer_readahead(n->src, &fs->prefetch_on); /* the prefetcher reads ahead */
    }
    uint64_t *gb = fs->ly.n_groups ? calloc(fs->ly.n_groups, sizeof *gb) : NULL;
    if (fs->ly.n_groups && !gb)
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    for (size_t g = 0; g < fs->ly.n_groups; g++)
        gb[g] = fs->ly.groups[g].bytes;
    for (size_t i = 1; i <= n_model_nodes; i++) {
        ffs_node_t *n = ffs_tree_node(&fs->tree, i);
        if (n->kind != FFS_N_FILE || !n->cache || n->ly_index < 0)
            continue;
        const ly_file_t *lf = &fs->ly.files[n->ly_index];
        for (size_t t = 0; t < lf->n_tensors; t++)
            ca_note_tensor(&fs->ca, n->cache, lf->tensors[t].offset, lf->tensors[t].length, lf->tensors[t].group, gb,
                           fs->ly.n_groups);
    }
    rc = ca_build_order(&fs->ca, fs->ly.n_groups, gb);
    free(gb);
    if (rc < 0)
        return fu_err(err, errlen, rc, "cache order: %s", strerror(-rc));
    rc = add_control_dir(fs);
    if (rc < 0)
        return fu_err(err, errlen, rc, "control directory: %s", strerror(-rc));
    fs->nlookup = calloc(fs->tree.n_nodes, sizeof *fs->nlookup);
    if (!fs->nlookup)
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    /* header parsing (a JSON tree per safetensors header) freed far more than the mount
     * keeps: give it back to the system instead of holding it for the mount's lifetime */
    malloc_trim(0);
    return 0;
}

void ffs_destroy(ffs_t *fs)
{
    if (fs->trace_fd >= 0)
        close(fs->trace_fd);
    fs->trace_fd = -1;
    pf_stop(&fs->pf);
    ca_stop(&fs->ca);
    ca_free(&fs->ca);
    ly_free(&fs->ly);
    ffs_tree_free(&fs->tree);
    free(fs->nlookup);
    free(fs->pinned);
    ctl_reg_free(fs->ctl);
    fs->ctl = NULL;
    if (fs->have_mu) {
        pthread_mutex_destroy(&fs->err_mu);
        pthread_mutex_destroy(&fs->cmd_mu);
    }
}

void ffs_set_last_error(ffs_t *fs, const char *msg)
{
    pthread_mutex_lock(&fs->err_mu);
    if (strcmp(fs->last_error, msg)) {
        ctl_escape(msg, strlen(msg), fs->last_error, sizeof fs->last_error);
        atomic_fetch_add(&fs->err_gen, 1);
    }
    pthread_mutex_unlock(&fs->err_mu);
}
