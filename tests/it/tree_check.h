/* tree_check.h — compare a mounted directory tree with its backing tree (prefix tc_).
 * Used by the integration tests of the mount (content, read-only, HF cache layout). */
#ifndef IT_TREE_CHECK_H
#define IT_TREE_CHECK_H

#include <stddef.h>

/* Counters filled by tc_compare_tree. */
typedef struct {
    size_t files;               /* regular files whose bytes were compared */
    size_t dirs;                /* directories compared */
    size_t escaping;            /* backing links that escape the root (checked: not followed) */
    unsigned long long bytes;   /* bytes hashed through the mount */
} tc_stats_t;

/* Compare mounted (a directory of the mount) with backing (the same directory of
 * MODEL_DIR; backing_root is MODEL_DIR itself, for the symlink containment rule):
 *   - every backing entry that is a file or directory, or a symlink resolving inside
 *     backing_root, is listed in the mount with the type, permission bits and size of
 *     its (resolved) target, and a file's sha256 read through the mount with read()
 *     calls of bufsize bytes equals the backing sha256;
 *   - a symlink resolving outside backing_root (or dangling) is not followed: if the
 *     mount shows the name at all, its content is not the target's content;
 *   - the mount lists no other names, except ".flashfs" at the mount root (is_root).
 * Recurses into directories. 0 when everything matches, else -1 with the first
 * difference in err. */
int tc_compare_tree(const char *backing_root, const char *backing, const char *mounted, int is_root, size_t bufsize,
                    tc_stats_t *st, char *err, size_t errlen);

/* Digest of a tree (relative paths, types, modes, owners, sizes, mtimes, link targets
 * and sha256 of file contents, in sorted order, without following links) into hex[65].
 * Detects any change made to a backing directory. 0 or -errno. */
int tc_tree_digest(const char *dir, char hex[65]);

#endif
