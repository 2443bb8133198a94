/* ffs_exit.h — exit codes of the flashfs command (documented in docs/flashfs.1). */
#ifndef FFS_EXIT_H
#define FFS_EXIT_H

enum {
    FFS_EXIT_OK = 0,
    FFS_EXIT_USAGE = 1,         /* bad option, missing argument, bad --ram value */
    FFS_EXIT_MODEL_DIR = 2,     /* MODEL_DIR missing, unreadable or not a directory */
    FFS_EXIT_MNT_MISSING = 3,   /* mountpoint missing or not a directory */
    FFS_EXIT_MNT_NOT_EMPTY = 4, /* mountpoint is not empty */
    FFS_EXIT_MNT_BUSY = 5,      /* mountpoint is already a (live) mount */
    FFS_EXIT_MNT_STALE = 6,     /* stale mount of a dead daemon: run `fusermount3 -u MOUNTPOINT` */
    FFS_EXIT_NO_FUSE = 7,       /* /dev/fuse missing or not usable */
    FFS_EXIT_MOUNT_FAILED = 8,  /* the kernel mount or the session failed otherwise */
    FFS_EXIT_INTERNAL = 9       /* out of memory, thread creation, ... */
};

#endif
