/* ffs_check.h — checks of a flashfs invocation done before mounting (prefix ffs_check_).
 * Each returns 0 or an FFS_EXIT_* code with one line of explanation in err. */
#ifndef FFS_CHECK_H
#define FFS_CHECK_H

#include <stddef.h>

/* MODEL_DIR exists, is a directory and can be read. */
int ffs_check_model_dir(const char *path, char *err, size_t errlen);

/* MOUNTPOINT exists, is a directory, is not a stale mount (ENOTCONN), is not already a
 * mount, and is empty. */
int ffs_check_mountpoint(const char *path, char *err, size_t errlen);

/* /dev/fuse exists and can be opened read-write. */
int ffs_check_dev_fuse(char *err, size_t errlen);

#endif
