/* control_packed.c — the packed-file part of the mount's statistics: how many mounted
 * files are zstd-packed, their logical (served) vs stored (on-disk) bytes, and frame
 * decode failures. Walks the file tree's sources; documented in docs/control.md. */
#include "control.h"
#include "ffs.h"
#include "pack.h"
#include "layout.h"
#include "source.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* A file node is packed when its source is of kind "packed". */
static int src_packed(const src_t *s)
{
    return s && s->ops && s->ops->kind && strcmp(s->ops->kind, "packed") == 0;
}

/* The node's current source: the watcher may swap it (the old one stays allocated until
 * unmount), so load it atomically once. NULL for non-files. */
static src_t *node_src(const ffs_node_t *n)
{
    return n->kind == FFS_N_FILE ? __atomic_load_n(&n->src, __ATOMIC_ACQUIRE) : NULL;
}

void ctl_packed_totals(struct ffs *fs, ctl_packed_t *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 1; i <= fs->tree.n_nodes; i++) {
        src_t *s = node_src(ffs_tree_node(&fs->tree, i));
        if (!src_packed(s))
            continue;
        out->files++;
        out->logical_bytes += s->size;
        out->stored_bytes += s->stored_size;
        out->corrupt_frames += pk_src_errors(s);
        out->stored_bytes_read += pk_src_stored_read(s);
    }
    /* ratio = stored / logical: below 1 when packing saved space; 0 when nothing is packed */
    out->ratio = out->logical_bytes ? (double)out->stored_bytes / (double)out->logical_bytes : 0.0;
}

int ctl_packed_file(struct ffs *fs, size_t ino, uint64_t *logical, uint64_t *stored)
{
    ffs_node_t *n = ffs_tree_node(&fs->tree, ino);
    src_t *s = n ? node_src(n) : NULL;
    if (!s)
        return 0;
    *logical = s->size;
    *stored = s->stored_size;
    return src_packed(s);
}

/* ---- layout: stored size and packed flag per file -----------------------------------
 * The layout module knows nothing of sources: its file entry k gets the members of the
 * first file node whose ly_index is k (links to one file share the entry). */
static int layout_extra(void *ctx, size_t file, cJSON *o)
{
    src_t *const *srcs = ctx;
    src_t *src = srcs[file];
    if (!src)
        return 0;
    return cJSON_AddNumberToObject(o, "stored_size", (double)src->stored_size) &&
                   cJSON_AddBoolToObject(o, "packed", src_packed(src))
               ? 0
               : -1;
}

char *ctl_layout_json(struct ffs *fs)
{
    src_t **srcs = calloc(fs->ly.n_files + 1, sizeof *srcs);
    if (!srcs)
        return NULL;
    for (size_t i = 1; i <= fs->tree.n_nodes; i++) {
        ffs_node_t *n = ffs_tree_node(&fs->tree, i);
        src_t *src = node_src(n);
        if (src && n->ly_index >= 0 && (size_t)n->ly_index < fs->ly.n_files && !srcs[n->ly_index])
            srcs[n->ly_index] = src;
    }
    char *s = ly_to_json_extra(&fs->ly, layout_extra, srcs);
    free(srcs);
    if (!s)
        return NULL;
    size_t l = strlen(s);
    char *out = realloc(s, l + 2);
    if (!out) {
        free(s);
        return NULL;
    }
    out[l] = '\n';
    out[l + 1] = '\0';
    return out;
}
