/* ffs_watch.h — detection of backing files that change under a mount (prefix ffs_watch_).
 *
 * A watcher thread compares, every FFS_WATCH_MS, the identity of every backing file
 * (device, inode, size, mtime, through its path under MODEL_DIR) with the source the
 * mount serves. When a file was replaced (a new inode at the path) or changed in place
 * (size or mtime; e.g. truncated), it
 *   - opens the file again and serves the new bytes from then on (the old source stays
 *     open until unmount, so reads already running on it finish safely),
 *   - drops what is cached: prefetch buffers, residency accounting, and the kernel's
 *     pages and attributes of the inode (fuse_lowlevel_notify_inval_inode), so no reader,
 *     not even one holding an old descriptor or mapping, sees a stale byte or one past
 *     the new end,
 *   - logs one line naming the file ("backing file X changed ...").
 * A file that disappeared keeps being served from its open descriptor (as any local
 * filesystem does for an unlinked open file). */
#ifndef FFS_WATCH_H
#define FFS_WATCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#define FFS_WATCH_MS 100

struct ffs;
struct src;

typedef struct {
    struct ffs *fs;
    pthread_t thr;
    int running;
    _Atomic int stop;
    struct src **retired;       /* replaced sources, closed at ffs_watch_stop */
    size_t n_retired, cap_retired;
} ffs_watch_t;

/* Start the watcher of fs (after the session is mounted: it needs fs->se). 0 or -errno. */
int ffs_watch_start(ffs_watch_t *w, struct ffs *fs);

/* One pass over every backing file; returns the number of files found changed. */
int ffs_watch_pass(ffs_watch_t *w);

/* Stop the thread and close the retired sources (NULL-safe on a never-started w). */
void ffs_watch_stop(ffs_watch_t *w);

#endif
