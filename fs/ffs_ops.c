/* ffs_ops.c — FUSE low-level operations of the read-only model mount.
 *
 * Model files are opened with keep_cache (NOT direct_io: libfuse 3.14 cannot negotiate
 * FUSE_DIRECT_IO_ALLOW_MMAP, and direct_io would make MAP_SHARED fail with ENODEV), so
 * the kernel page cache holds served pages and only page-cache misses reach op_read.
 * Every served range is reported to the cache (ca_served) after the reply; the evictor
 * thread invalidates ranges to keep the budget. Control files use direct_io and serve
 * shared snapshots (control_fh.c). Every modifying operation answers EROFS. */
#include "control.h"
#include "ffs.h"
#include "ffs_watch.h"
#include "fu_util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define MODEL_TIMEOUT 86400.0   /* the tree never changes while mounted; ffs_watch.c
                                 * invalidates a file whose backing file changed */
#define CTL_TIMEOUT 1.0

static ffs_t *FS(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

static int is_ctl(const ffs_node_t *n)
{
    return n->kind == FFS_N_CTL_DIR || n->kind == FFS_N_CTL_FILE;
}

static void fill_entry(ffs_t *fs, const ffs_node_t *n, struct fuse_entry_param *e)
{
    memset(e, 0, sizeof *e);
    e->ino = n->st.st_ino;
    ffs_watch_attr(n, &e->attr); /* the watcher may be changing them */
    e->attr_timeout = e->entry_timeout = is_ctl(n) ? CTL_TIMEOUT : MODEL_TIMEOUT;
    (void)fs;
}

/* ---- lookup / forget / attributes ------------------------------------------------ */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    ffs_t *fs = userdata;
    fs->conn_max_readahead = conn->max_readahead;
    fs->conn_max_read = conn->max_read;
    fs->conn_max_write = conn->max_write;
    /* Readahead READs may be sent asynchronously, several in flight per file. */
    if (conn->capable & FUSE_CAP_ASYNC_READ)
        conn->want |= FUSE_CAP_ASYNC_READ;
    /* No auto_inval_data (libfuse turns it on by default): with it the kernel re-asks
     * GETATTR on the next read() after every notify_inval_inode, i.e. after each eviction,
     * a round trip per chunk for a streaming reader. The files do not change while
     * mounted; when a backing file does, ffs_watch.c invalidates it explicitly. */
    conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
    /* requests are read through ffs_io.c (it answers FUSE_TMPFILE): no splice reads */
    conn->want &= ~(unsigned)FUSE_CAP_SPLICE_READ;
    /* O_TRUNC arrives with OPEN (refused for model files, ignored for `control`) */
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
        conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
    fu_log(FU_LOG_INFO, "fuse init: max_readahead=%u max_write=%u max_read=%u", conn->max_readahead,
           conn->max_write, conn->max_read);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    ffs_t *fs = FS(req);
    ffs_node_t *p = ffs_tree_node(&fs->tree, parent);
    if (!p) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    if (p->kind != FFS_N_DIR && p->kind != FFS_N_CTL_DIR) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    uint64_t ino = ffs_tree_lookup(&fs->tree, p, name);
    if (!ino) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    struct fuse_entry_param e;
    fill_entry(fs, ffs_tree_node(&fs->tree, ino), &e);
    atomic_fetch_add(&fs->nlookup[ino - 1], 1);
    if (fuse_reply_entry(req, &e) != 0)
        atomic_fetch_sub(&fs->nlookup[ino - 1], 1);
}

static void forget_one(ffs_t *fs, fuse_ino_t ino, uint64_t n)
{
    ffs_node_t *node = ffs_tree_node(&fs->tree, ino);
    if (!node || ino == FUSE_ROOT_ID)
        return;
    uint64_t old = atomic_load(&fs->nlookup[ino - 1]);
    uint64_t next;
    do {
        next = old > n ? old - n : 0;
    } while (!atomic_compare_exchange_weak(&fs->nlookup[ino - 1], &old, next));
    /* The kernel evicted the inode: its page cache went with it. */
    if (next == 0 && node->kind == FFS_N_FILE && node->cache)
        ca_forget(&fs->ca, node->cache);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    forget_one(FS(req), ino, nlookup);
    fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    for (size_t i = 0; i < count; i++)
        forget_one(FS(req), forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    ffs_node_t *n = ffs_tree_node(&FS(req)->tree, ino);
    if (!n) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    struct stat st;
    ffs_watch_attr(n, &st);
    fuse_reply_attr(req, &st, is_ctl(n) ? CTL_TIMEOUT : MODEL_TIMEOUT);
}

/* Nothing changes attributes: EROFS for the model's files and directories, EPERM for the
 * control files (they take commands, not data: `truncate .flashfs/control` fails). Shells
 * open `control` with O_TRUNC (`>`): FUSE_CAP_ATOMIC_O_TRUNC hands that flag to op_open
 * instead of a SETATTR, so it never arrives here. */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
    (void)attr;
    (void)fi;
    (void)to_set;
    ffs_node_t *n = ffs_tree_node(&FS(req)->tree, ino);
    fuse_reply_err(req, !n ? ENOENT : is_ctl(n) ? EPERM : EROFS);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    (void)ino;
    struct statvfs sv;
    if (fstatvfs(FS(req)->tree.rootfd, &sv) < 0) {
        fuse_reply_err(req, errno);
        return;
    }
    sv.f_bavail = 0; /* nothing can be written here */
    sv.f_favail = 0;
    fuse_reply_statfs(req, &sv);
}

/* ---- directories -------------------------------------------------------------- */

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)fi;
    ffs_t *fs = FS(req);
    ffs_node_t *d = ffs_tree_node(&fs->tree, ino);
    if (!d) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    if (d->kind != FFS_N_DIR && d->kind != FFS_N_CTL_DIR) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    if (size > (1u << 20))
        size = 1u << 20;
    char *buf = malloc(size ? size : 1);
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    size_t pos = 0;
    /* Entry i: 0 ".", 1 "..", 2.. the sorted children; the offset of entry i is i + 1. */
    for (size_t i = off < 0 ? 0 : (size_t)off; i < d->n_dents + 2; i++) {
        struct stat st;
        memset(&st, 0, sizeof st);
        const char *name;
        if (i == 0) {
            name = ".";
            st.st_ino = ino;
            st.st_mode = S_IFDIR;
        } else if (i == 1) {
            name = "..";
            st.st_ino = d->parent;
            st.st_mode = S_IFDIR;
        } else {
            const ffs_dent_t *e = &d->dents[i - 2];
            name = e->name;
            st.st_ino = e->ino;
            st.st_mode = ffs_tree_node(&fs->tree, e->ino)->st.st_mode;
        }
        size_t need = fuse_add_direntry(req, buf + pos, size - pos, name, &st, (off_t)(i + 1));
        if (need > size - pos)
            break;
        pos += need;
    }
    fuse_reply_buf(req, buf, pos);
    free(buf);
}

/* ---- control files ------------------------------------------------------------- */

/* Open control files live in the registry of control_fh.c (shared snapshots, command
 * line buffers); fi->fh holds the handle number. */
static void ctl_open(fuse_req_t req, ffs_t *fs, ffs_node_t *n, struct fuse_file_info *fi)
{
    int acc = fi->flags & O_ACCMODE;
    int wr = acc != O_RDONLY;
    /* default_permissions already checked the modes (owner-only); root passes those */
    if ((wr || (fi->flags & O_TRUNC)) && n->ctl_id != CTL_CONTROL && n->ctl_id != CTL_HINT) {
        fuse_reply_err(req, EACCES);
        return;
    }
    if (wr && fuse_req_ctx(req)->uid != fs->owner) {
        fuse_reply_err(req, EACCES);
        return;
    }
    uint64_t fh;
    int rc = ctl_fh_open(fs, n->ctl_id, acc != O_WRONLY, wr, &fh);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    fi->fh = fh;
    fi->direct_io = 1;
    fi->keep_cache = 0;
    if (fuse_reply_open(req, fi) != 0)
        ctl_fh_release(fs, fh);
}

static void reply_buf(void *ctx, const char *data, size_t len)
{
    fuse_reply_buf(ctx, data, len);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    (void)off;
    ffs_t *fs = FS(req);
    ffs_node_t *n = ffs_tree_node(&fs->tree, ino);
    if (!n || n->kind != FFS_N_CTL_FILE || !fi->fh) {
        fuse_reply_err(req, EROFS);
        return;
    }
    int rc = ctl_fh_write(fs, fi->fh, buf, size);
    if (rc < 0)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_write(req, size);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    ffs_t *fs = FS(req);
    ffs_node_t *n = ffs_tree_node(&fs->tree, ino);
    int rc = n && n->kind == FFS_N_CTL_FILE && fi->fh ? ctl_fh_flush(fs, fi->fh) : 0;
    fuse_reply_err(req, -rc);
}

/* ---- model files -------------------------------------------------------------- */

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    ffs_t *fs = FS(req);
    ffs_node_t *n = ffs_tree_node(&fs->tree, ino);
    if (!n) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    if (n->kind == FFS_N_DIR || n->kind == FFS_N_CTL_DIR) {
        fuse_reply_err(req, EISDIR);
        return;
    }
    if (n->kind == FFS_N_CTL_FILE) {
        ctl_open(req, fs, n, fi);
        return;
    }
    if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
        fuse_reply_err(req, EROFS);
        return;
    }
    if (!n->src) {
        fuse_reply_err(req, EIO);
        return;
    }
    fi->fh = 0;
    fi->keep_cache = 1;
    fi->direct_io = 0;
    fuse_reply_open(req, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    ffs_t *fs = FS(req);
    ffs_node_t *n = ffs_tree_node(&fs->tree, ino);
    if (!n) {
        fuse_reply_err(req, ENOENT);
        return;
    }
    if (n->kind == FFS_N_CTL_FILE && fi->fh) {
        if (off < 0 || ctl_fh_read(fs, fi->fh, size, (uint64_t)off, reply_buf, req) < 0)
            fuse_reply_err(req, off < 0 ? EINVAL : EBADF);
        return;
    }
    if (n->kind != FFS_N_FILE || !n->src || off < 0) {
        fuse_reply_err(req, EIO);
        return;
    }
    ffs_read_model(req, fs, n, size, off);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    ffs_node_t *n = ffs_tree_node(&FS(req)->tree, ino);
    if (n && n->kind == FFS_N_CTL_FILE && fi->fh)
        ctl_fh_release(FS(req), fi->fh);
    fuse_reply_err(req, 0);
}

/* ---- everything that would modify the tree: EROFS ------------------------------- */

static void op_mknod(fuse_req_t req, fuse_ino_t p, const char *name, mode_t mode, dev_t rdev)
{
    (void)p, (void)name, (void)mode, (void)rdev;
    fuse_reply_err(req, EROFS);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t p, const char *name, mode_t mode)
{
    (void)p, (void)name, (void)mode;
    fuse_reply_err(req, EROFS);
}

static void op_unlink(fuse_req_t req, fuse_ino_t p, const char *name)
{
    (void)p, (void)name;
    fuse_reply_err(req, EROFS);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t p, const char *name)
{
    (void)link, (void)p, (void)name;
    fuse_reply_err(req, EROFS);
}

static void op_rename(fuse_req_t req, fuse_ino_t p, const char *name, fuse_ino_t np, const char *nname,
                      unsigned int flags)
{
    (void)p, (void)name, (void)np, (void)nname, (void)flags;
    fuse_reply_err(req, EROFS);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t np, const char *nname)
{
    (void)ino, (void)np, (void)nname;
    fuse_reply_err(req, EROFS);
}

static void op_create(fuse_req_t req, fuse_ino_t p, const char *name, mode_t mode, struct fuse_file_info *fi)
{
    (void)p, (void)name, (void)mode, (void)fi;
    fuse_reply_err(req, EROFS);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
                        int flags)
{
    (void)ino, (void)name, (void)value, (void)size, (void)flags;
    fuse_reply_err(req, EROFS);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    (void)ino, (void)name;
    fuse_reply_err(req, EROFS);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
                         struct fuse_file_info *fi)
{
    (void)ino, (void)mode, (void)off, (void)len, (void)fi;
    fuse_reply_err(req, EROFS);
}

static void op_copy_file_range(fuse_req_t req, fuse_ino_t ii, off_t oi, struct fuse_file_info *fi_in,
                               fuse_ino_t io, off_t oo, struct fuse_file_info *fi_out, size_t len, int flags)
{
    (void)ii, (void)oi, (void)fi_in, (void)io, (void)oo, (void)fi_out, (void)len, (void)flags;
    fuse_reply_err(req, EROFS);
}

static const struct fuse_lowlevel_ops ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .statfs = op_statfs,
    .readdir = op_readdir,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .flush = op_flush,
    .release = op_release,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_unlink,
    .symlink = op_symlink,
    .rename = op_rename,
    .link = op_link,
    .create = op_create,
    .setxattr = op_setxattr,
    .removexattr = op_removexattr,
    .fallocate = op_fallocate,
    .copy_file_range = op_copy_file_range,
};

const struct fuse_lowlevel_ops *ffs_lowlevel_ops(void)
{
    return &ops;
}
