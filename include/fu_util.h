/* fu_util.h — small shared helpers: sizes, checked arithmetic, full reads, logging, UTF-8.
 *
 * Conventions used across flashfs (see docs/hacking.md):
 *   - functions return 0 on success or a negative errno value (-EINVAL, -EIO, ...);
 *   - human-readable detail goes into a caller-supplied `char *err, size_t errlen` buffer;
 *   - only the edges (CLI main(), FUSE replies) turn codes into messages or exit codes. */
#ifndef FU_UTIL_H
#define FU_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

/* A positional reader: fill buf with exactly len bytes at off. Returns 0, or -errno
 * (-EIO for a short read past the end). Parsers take one of these so that they work
 * on plain files, packed files and memory buffers alike. */
typedef int (*fu_read_fn)(void *ctx, void *buf, size_t len, uint64_t off);

/* Memory-backed reader context for fu_read_fn (fu_mem_read). */
typedef struct {
    const void *data;
    size_t size;
} fu_mem_t;

/* fu_read_fn over a fu_mem_t. */
int fu_mem_read(void *ctx, void *buf, size_t len, uint64_t off);

/* fu_read_fn over a file descriptor passed as (void *)(intptr_t)fd; uses pread. */
int fu_fd_read(void *ctx, void *buf, size_t len, uint64_t off);

/* pread exactly len bytes (retrying short reads and EINTR). 0, -EIO at EOF, or -errno. */
int fu_pread_full(int fd, void *buf, size_t len, uint64_t off);

/* Open path read-only and give its size: the start of every *_parse_path(). 0, or -errno
 * with "PATH: cannot open/stat (reason)" in err. The caller closes *fd. */
int fu_open_sized(const char *path, int *fd, uint64_t *size, char *err, size_t errlen);

/* Open relpath under the directory rootfd without following any symbolic link in any
 * component and without leaving rootfd (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, or a
 * component walk where openat2 is missing): an O_PATH descriptor (a trailing link gives
 * the link itself), or -errno (-ELOOP for a link in the path, -EXDEV for an
 * escape). Never opens the file itself, so it never blocks on a FIFO. (fs/util_open.c) */
int fu_open_beneath(int rootfd, const char *relpath);

/* fu_open_beneath with open flags of the caller for the last component (O_NOFOLLOW added:
 * O_PATH, or O_RDONLY | O_DIRECTORY for a directory); "" opens the root itself. fd or -errno. */
int fu_open_beneath_flags(int rootfd, const char *relpath, int flags);

/* fu_open_beneath's fallback for kernels without openat2 (exposed for tests): the same
 * by walking one component at a time with O_PATH|O_NOFOLLOW; "." and ".." are refused. */
int fu_open_beneath_walk(int rootfd, const char *relpath);

/* Reopen the O_PATH descriptor pathfd, whose fstat is *want (a regular file), read-only
 * and non-blocking through /proc/self/fd; the result is verified to be that same inode
 * (-ESTALE if not, -EINVAL when *want is not a regular file). fd or -errno. */
struct stat;
int fu_reopen_regular(int pathfd, const struct stat *want);

/* write exactly len bytes (retrying short writes and EINTR). 0 or -errno. */
int fu_write_full(int fd, const void *buf, size_t len);

/* Copy the contents of src to dst (created or truncated, mode 0644). 0 or -errno. */
int fu_copy_file(const char *src, const char *dst);

/* Read a whole file of at most max_len bytes into a NUL-terminated malloc'd buffer.
 * -EFBIG when larger than max_len. */
int fu_read_file(const char *path, size_t max_len, char **out, size_t *out_len);

/* Parse a size: "123", "64K", "1.5G", "2GiB", "512MB" (binary units), or "25%" of
 * physical RAM; decimal digits only (no hex, no exponent, no sign). Result in bytes.
 * -EINVAL for garbage, -ERANGE when it does not fit 64 bits. */
int fu_parse_size(const char *s, uint64_t *out);

/* A RAM budget: fu_parse_size, and -E2BIG when it exceeds physical RAM unless force. */
int fu_parse_ram(const char *s, int force, uint64_t *out);

/* Format bytes as "1.50 GiB" into buf. Returns buf. */
char *fu_format_size(uint64_t bytes, char *buf, size_t len);

/* Physical RAM in bytes (sysconf), 0 if unknown. */
uint64_t fu_phys_ram(void);

/* UTF-8 (fs/util_utf8.c), by RFC 3629: no overlong forms, no surrogates, nothing past
 * U+10FFFF. fu_utf8_prefix: how many leading bytes of s[0..n) (n >= 1) are a well-formed,
 * possibly truncated start of one sequence (0 when s[0] cannot start one), with the length
 * s[0] announces in *full (1..4, 0 for a bad lead byte); the sequence is complete and valid
 * exactly when the result equals a nonzero *full. A result r < *full makes s[0..max(r,1))
 * the maximal ill-formed subpart (the unit of U+FFFD replacement). */
size_t fu_utf8_prefix(const uint8_t *s, size_t n, size_t *full);
/* Length 1..4 of the complete, well-formed UTF-8 sequence at s[0..n) (n >= 1), else 0. */
size_t fu_utf8_seq(const uint8_t *s, size_t n);

/* Checked arithmetic: return 1 on overflow, else store the result and return 0. */
static inline int fu_add_u64(uint64_t a, uint64_t b, uint64_t *r) { return __builtin_add_overflow(a, b, r); }
static inline int fu_mul_u64(uint64_t a, uint64_t b, uint64_t *r) { return __builtin_mul_overflow(a, b, r); }

/* Monotonic clock in nanoseconds. */
uint64_t fu_now_ns(void);

/* Logging: one line to stderr (or syslog once fu_log_to_syslog is set), prefixed by
 * the program name and level. */
enum { FU_LOG_ERR = 0, FU_LOG_WARN = 1, FU_LOG_INFO = 2, FU_LOG_DEBUG = 3 };
/* Set the program name and the most verbose level printed (default FU_LOG_INFO). */
void fu_log_init(const char *prog, int level);
/* Route further log lines to syslog (daemonized mount) when on != 0. */
void fu_log_to_syslog(int on);
/* Print one log line at the given level (printf-style, no trailing newline needed). */
void fu_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* snprintf into an error buffer (NULL-safe); always returns the code passed in. */
int fu_err(char *err, size_t errlen, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A whole decimal integer in [lo, hi] (no trailing text). 0 or -EINVAL. (util_num.c) */
int fu_parse_long(const char *s, long lo, long hi, long *v);

/* A whole floating-point number in [lo, hi] (no trailing text, no NaN). 0 or -EINVAL. */
int fu_parse_double(const char *s, double lo, double hi, double *v);

#endif
