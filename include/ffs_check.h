/* ffs_check.h — checks of a flashfs invocation done before mounting (prefix ffs_check_).
 * Each returns 0 or an FFS_EXIT_* code with one line of explanation in err. */
#ifndef FFS_CHECK_H
#define FFS_CHECK_H

#include <stddef.h>

/* Resolve the MODEL_DIR argument *model_dir (a Hugging Face cache repository or ORG/NAME
 * becomes its refs/main snapshot, see hf_cache.h; *model_dir is replaced by the path to
 * mount) and check that it exists, is a directory and can be read. */
int ffs_check_model_dir(char **model_dir, char *err, size_t errlen);

/* MOUNTPOINT exists, is a directory, is not a stale mount (ENOTCONN), is not already a
 * mount, and is empty. */
int ffs_check_mountpoint(const char *path, char *err, size_t errlen);

/* /dev/fuse exists and can be opened read-write. */
int ffs_check_dev_fuse(char *err, size_t errlen);

#endif
