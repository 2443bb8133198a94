/* ffs_tree.h — the static inode table of a flashfs mount (prefix ffs_tree_).
 *
 * MODEL_DIR is scanned once at mount time. Every directory and every distinct backing
 * file becomes one node; the FUSE inode number of nodes[i] is i + 1 (nodes[0] is the
 * root, FUSE_ROOT_ID). Symbolic links whose target stays inside MODEL_DIR are followed:
 * the link shows as the file (or directory) it points to, and several links to one file
 * (a Hugging Face cache snapshot pointing into ../../blobs/) share one inode, like hard
 * links. Links that escape MODEL_DIR, dangling links, and special files are HIDDEN (not
 * listed); each is logged once at mount time. The control directory ".flashfs" is added
 * at the root by the caller (ffs_tree_add_ctl). */
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
    char *relpath;              /* canonical path of the backing file, relative to MODEL_DIR */
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
    int rootfd;                 /* O_PATH|O_DIRECTORY fd of MODEL_DIR */
    char *root_real;            /* realpath of MODEL_DIR */
    size_t n_hidden;            /* links or special files not shown */
} ffs_tree_t;

/* Scan model_dir into t. 0 or -errno with a reason in err. */
int ffs_tree_scan(ffs_tree_t *t, const char *model_dir, char *err, size_t errlen);

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
