/* ffs_watch.h — detection of backing files that change under a mount (prefix ffs_watch_).
 *
 * A watcher thread looks, every FFS_WATCH_MS, at every backing file through its canonical
 * path under the containment root (ffs_tree_t.rootfd, node relpath) WITHOUT following
 * any symbolic link and without leaving the root: fu_open_beneath (openat2 with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) gives an O_PATH
 * descriptor, which opens nothing and never blocks; fstat on it decides:
 *   - a regular file with another identity (device, inode, size or mtime: replaced,
 *     truncated, rewritten): it is re-opened from that very descriptor (/proc/self/fd,
 *     read-only, non-blocking, inode verified) and served from then on; the old source
 *     stays open until unmount, so reads already running on it finish safely; the cache
 *     drops what it held (ca_file_replace: prefetch buffers, residency; the chunk table
 *     grows when the file grew) and the kernel's pages and attributes of the inode are
 *     invalidated (fuse_lowlevel_notify_inval_inode), so no reader, not even one holding
 *     an old descriptor or mapping, sees a stale byte or one past the new end; the new
 *     file's mode, owner, size and times are shown; one line is logged
 *     ("backing file X changed ...");
 *   - the same file with another mode, owner or ctime (chmod, chown): the node's
 *     attributes are updated and the kernel's cached attributes invalidated, so the
 *     kernel's permission check (default_permissions) uses the new ones on the next
 *     access;
 *   - a path that vanished: the file keeps being served from its open descriptor (as any
 *     local filesystem does for an unlinked open file);
 *   - a path that is now a symbolic link (or has one in a directory component, e.g. a
 *     directory swapped for a link), a FIFO, a device, a socket or a directory: nothing
 *     is opened or followed; the mount keeps serving the file it had open with its
 *     attributes, like a vanished one, and logs it once ("backing file X is a symbolic
 *     link now: not opened ..."). Bytes from outside MODEL_DIR are never served. */
#ifndef FFS_WATCH_H
#define FFS_WATCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include "ffs_tree.h"

#define FFS_WATCH_MS 100

struct ffs;
struct src;

typedef struct {
    struct ffs *fs;
    pthread_t thr;
    int running;
    unsigned interval_ms;       /* between passes (FFS_WATCH_MS) */
    _Atomic int stop;
    uint8_t *state;             /* per node: what was logged already */
    struct src **retired;       /* replaced sources, closed at ffs_watch_stop */
    size_t n_retired, cap_retired;
} ffs_watch_t;

/* Prepare w for fs without a thread (ffs_watch_pass may then be called directly).
 * 0 or -ENOMEM; release with ffs_watch_stop. */
int ffs_watch_init(ffs_watch_t *w, struct ffs *fs);

/* Init and start the watcher thread of fs (after the session is mounted: it needs
 * fs->se). 0 or -errno. */
int ffs_watch_start(ffs_watch_t *w, struct ffs *fs);

/* One pass over every backing file; returns the number of files found changed
 * (content or attributes). */
int ffs_watch_pass(ffs_watch_t *w);

/* Stop the thread and close the retired sources (NULL-safe on a never-started w). */
void ffs_watch_stop(ffs_watch_t *w);

/* Copy the attributes of node n, consistent against a concurrent watcher update. */
void ffs_watch_attr(const ffs_node_t *n, struct stat *out);

#endif
