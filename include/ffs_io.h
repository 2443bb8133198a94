/* ffs_io.h — /dev/fuse I/O of the mount's session (prefix ffs_io_): answers FUSE_TMPFILE
 * with EROFS itself (libfuse 3.14 has no tmpfile operation). */
#ifndef FFS_IO_H
#define FFS_IO_H

#include <fuse_lowlevel.h>

/* After fuse_session_mount: route the session's reads and writes through ffs_io.c. 0 or
 * -EINVAL (then libfuse's own I/O stays, and O_TMPFILE gets EOPNOTSUPP). */
int ffs_io_install(struct fuse_session *se);

#endif
