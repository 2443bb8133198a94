/* source.h — the backing store of one mounted file (prefix src_).
 *
 * A source gives the LOGICAL bytes of a model file: a plain file is read as is; a packed
 * file (zstd seekable format written by flashfs-pack) is decompressed range by range.
 * Reads bypass or drop the backing page cache (O_DIRECT where the filesystem allows it,
 * else posix_fadvise(POSIX_FADV_DONTNEED) after the read), so that memory held for the
 * model is only what flashfs accounts for. Sources are thread-safe for concurrent reads. */
#ifndef SOURCE_H
#define SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct src src_t;

/* Operations of one kind of source (plain, packed). */
typedef struct {
    const char *kind;                                            /* "plain", "packed" */
    int (*read)(src_t *s, void *buf, size_t len, uint64_t off);  /* exact range, 0 or -errno */
    void (*close)(src_t *s);
} src_ops_t;

struct src {
    const src_ops_t *ops;
    int fd;                     /* backing file descriptor */
    uint64_t size;              /* logical size */
    uint64_t stored_size;       /* bytes on disk */
    dev_t dev;                  /* identity of the backing file, to detect replacement */
    ino_t ino;
    int64_t mtime_ns;
    void *priv;                 /* kind-specific state */
};

/* Open the backing file relpath under directory fd dirfd (links followed, for tools
 * given a path by their user), detecting packed files. Only a regular file is opened
 * (-EINVAL otherwise; never blocks on a FIFO). 0 or -errno; err gets a reason. */
int src_open(int dirfd, const char *relpath, src_t **out, char *err, size_t errlen);

/* The mount's open: relpath under the containment root rootfd, no symbolic link in any
 * component, never outside rootfd (fu_open_beneath), a regular file only (-ELOOP when
 * the path is a link, -EINVAL for other non-regular files). 0 or -errno, reason in err. */
int src_open_beneath(int rootfd, const char *relpath, src_t **out, char *err, size_t errlen);

/* Open the regular file behind the O_PATH descriptor pathfd whose fstat is *st (from
 * fu_open_beneath; pathfd stays the caller's); name is for messages. -ELOOP for a link,
 * -EINVAL for another non-regular file, -ESTALE when the inode is not *st's. */
struct stat;
int src_open_path(int pathfd, const struct stat *st, const char *name, src_t **out, char *err, size_t errlen);

/* Read exactly len logical bytes at off (caller clips to src->size). 0 or -errno. */
int src_read(src_t *s, void *buf, size_t len, uint64_t off);

/* fu_read_fn adapter: ctx is a src_t *. */
int src_read_fn(void *ctx, void *buf, size_t len, uint64_t off);

/* Close and free (NULL-safe). */
void src_close(src_t *s);

/* Plain-file source over an open fd (takes ownership). 0 or -errno. */
int src_plain_open(int fd, src_t **out);

/* If fd is a packed file, open it as a packed source (takes ownership of fd on success)
 * and return 1; return 0 when it is not packed (fd untouched), or -errno when it looks
 * packed but is corrupt (err says why). Implemented by the packed-file module. */
int src_packed_try_open(int fd, src_t **out, char *err, size_t errlen);

#endif
