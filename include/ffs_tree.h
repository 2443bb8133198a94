/* ffs_tree.h — the static inode table of a flashfs mount (prefix ffs_tree_).
 *
 * MODEL_DIR is scanned once at mount time. Every directory and every distinct backing
 * file becomes one node; the FUSE inode number of nodes[i] is i + 1 (nodes[0] is the
 * root, FUSE_ROOT_ID).
 *
 * CONTAINMENT ROOT: MODEL_DIR itself, or — when the realpath of MODEL_DIR is a snapshot of
 * a Hugging Face cache repository, ".../models--ORG--NAME/snapshots/REV" (hf_cache.h) —
 * that repository directory ".../models--ORG--NAME". Symbolic links whose target stays
 * inside the containment root are followed: the link shows as the file (or directory) it
 * points to, and several links to one file (a snapshot's links into ../../blobs/) share one
 * inode, like hard links. Links that escape the containment root, dangling links, and
 * special files are HIDDEN (not listed); each is logged once at mount time.
 *
 * Every backing file's `relpath` is CANONICAL: relative to `rootfd`, without any symlink
 * component (it may lie outside MODEL_DIR, e.g. "blobs/HASH"). The scan opens every
 * directory and link target beneath rootfd without following symlinks (openat2
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), so a path swapped for a link during the scan is
 * hidden, never followed; `bdev`/`bino` record the file the scan saw, and an open of
 * relpath must yield that file. The control directory ".flashfs" is added at the root by
 * the caller (ffs_build). */
#ifndef FFS_TREE_H
#define FFS_TREE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include "source.h"

typedef enum { FFS_N_DIR = 0, FFS_N_FILE, FFS_N_CTL_DIR, FFS_N_CTL_FILE } ffs_kind_t;

typedef struct {
    char *name;
    uint64_t ino;
} ffs_dent_t;

typedef struct {
    ffs_kind_t kind;
    uint64_t parent;            /* inode of the parent directory */
    struct stat st;             /* mirrored attributes; st_ino is the FUSE inode */
    /* directories */
    ffs_dent_t *dents;          /* sorted by name after ffs_tree_scan */
    size_t n_dents, cap_dents;
    /* backing files */
    char *relpath;              /* canonical path of the backing file, relative to rootfd */
    dev_t bdev;                 /* identity of the backing file seen by the scan */
    ino_t bino;
    char *display;              /* path shown in stats/layout: a tensor-named path not under a
                                 * directory link if there is one, else the first path seen */
    int display_score;
    src_t *src;                 /* opened by the caller (NULL until then) */
    int ly_index;               /* index in the layout, -1 when none */
    void *cache;                /* the cache's per-file state (ca_file_t *) */
    /* control files */
    int ctl_id;
} ffs_node_t;

typedef struct {
    ffs_node_t *nodes;
    size_t n_nodes, cap_nodes;
    int rootfd;                 /* O_RDONLY|O_DIRECTORY fd of the containment root */
    char *root_real;            /* realpath of the containment root (MODEL_DIR, or the
                                 * models--* repository when MODEL_DIR is one of its snapshots) */
    char *model_real;           /* realpath of MODEL_DIR: where the scan starts (fsname) */
    const char *model_rel;      /* MODEL_DIR relative to rootfd: "" or "snapshots/REV"
                                 * (points into model_real) */
    size_t n_hidden;            /* entries not shown, of which: */
    size_t n_hidden_link;       /*   links that escape the containment root or dangle */
    size_t n_hidden_special;    /*   fifos, sockets, devices */
    size_t n_dirs;              /* directories shown below the root */
    size_t n_files;             /* distinct backing files shown */
} ffs_tree_t;

/* Scan model_dir into t. 0 or -errno with a reason in err. */
int ffs_tree_scan(ffs_tree_t *t, const char *model_dir, char *err, size_t errlen);

/* Open relpath (relative to t->rootfd; "" is the root) with open flags `flags`, beneath
 * the containment root and without following any symlink (openat2 RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS, or an O_NOFOLLOW walk where openat2 is missing). fd or -errno
 * (-ELOOP when a component is a symlink). */
int ffs_tree_open_beneath(const ffs_tree_t *t, const char *relpath, int flags);

/* Add a node of the given kind under directory inode parent, with entry name `name`.
 * Returns its inode (> 0) or -ENOMEM / -EEXIST. */
long ffs_tree_add(ffs_tree_t *t, uint64_t parent, const char *name, ffs_kind_t kind, mode_t mode);

/* Node of inode ino, or NULL when out of range. */
ffs_node_t *ffs_tree_node(const ffs_tree_t *t, uint64_t ino);

/* Inode of entry `name` in directory node dir, or 0 when absent (binary search). */
uint64_t ffs_tree_lookup(const ffs_tree_t *t, const ffs_node_t *dir, const char *name);

/* Release the table (closes sources). */
void ffs_tree_free(ffs_tree_t *t);

#endif
