/* control.h — the control directory `.flashfs/`: rendering of stats, metrics, layout and
 * last_error, and parsing/execution of commands written to `control` (prefix ctl_).
 * Everything is documented in docs/control.md. */
#ifndef CONTROL_H
#define CONTROL_H

#include <stddef.h>
#include <stdint.h>

struct ffs;

#define CTL_MAX_ARGS 64
#define CTL_ARG_LEN 32

typedef enum {
    CTL_CMD_NOP = 0,            /* empty line or # comment */
    CTL_CMD_RAM,                /* ram SIZE */
    CTL_CMD_DROP,               /* drop */
    CTL_CMD_PIN,                /* pin GROUP... */
    CTL_CMD_UNPIN,              /* unpin [GROUP...]  (no argument: every group) */
    CTL_CMD_PREFETCH,           /* prefetch on|off */
    CTL_CMD_PREFETCH_DEPTH      /* prefetch-depth N */
} ctl_op_t;

typedef struct {
    ctl_op_t op;
    uint64_t value;             /* RAM: bytes; PREFETCH: 0/1; PREFETCH_DEPTH: N */
    size_t n_args;              /* PIN/UNPIN group names */
    char args[CTL_MAX_ARGS][CTL_ARG_LEN];
} ctl_cmd_t;

/* Largest prefetch depth accepted (groups ahead of the reader). */
#define CTL_MAX_DEPTH 64

/* Longest command line accepted (bytes, without the newline). */
#define CTL_MAX_LINE 4096

/* Parse one command line (no newline; len bytes, not NUL-terminated). Pure: no side
 * effects. 0, or -EINVAL with the reason in err. */
int ctl_parse(const char *line, size_t len, ctl_cmd_t *out, char *err, size_t errlen);

/* Copy in[0..len) to out as text safe to show: well-formed UTF-8 is kept, invalid bytes
 * and control characters become \xNN, a backslash becomes \\; truncated at a character
 * boundary to fit outlen (NUL-terminated). Returns the length written. */
size_t ctl_escape(const char *in, size_t len, char *out, size_t outlen);

/* Execute one command line (no newline) under fs->cmd_mu: 0, or -EINVAL with the reason
 * (escaped) in last_error. A successful command other than a blank line or comment clears
 * last_error. */
int ctl_exec_line(struct ffs *fs, const char *line, size_t len);

/* ---- open files of `.flashfs/` (control_fh.c) ------------------------------------- */

#define CTL_MAX_HANDLES 4096            /* open control files per mount (-ENFILE beyond) */
#define CTL_STALE_CAP (32u << 20)       /* bytes of superseded snapshots still held open */
#define CTL_SHARE_MS 100                /* stats/metrics: an open shares a snapshot this young */

typedef struct ctl_reg ctl_reg_t;

/* Called by ctl_fh_read with the bytes to reply (data NULL when len is 0). */
typedef void (*ctl_reply_fn)(void *ctx, const char *data, size_t len);

/* A registry of open control files for one mount. 0 or -ENOMEM. */
int ctl_reg_new(ctl_reg_t **out);

/* Free the registry and every handle and snapshot (NULL-safe; after the session ended). */
void ctl_reg_free(ctl_reg_t *r);

/* Open handles and bytes of live snapshots right now. */
void ctl_reg_usage(ctl_reg_t *r, uint64_t *open, uint64_t *bytes);

/* Open control file id (rd: take a snapshot; wr: accept commands). Handle number in *fh.
 * 0, -ENOMEM, or -ENFILE (too many open handles, or too many snapshot bytes held). */
int ctl_fh_open(struct ffs *fs, int id, int rd, int wr, uint64_t *fh);

/* Reply up to size bytes at off of handle fh's snapshot through reply. 0 or -EBADF. */
int ctl_fh_read(struct ffs *fs, uint64_t fh, size_t size, uint64_t off, ctl_reply_fn reply, void *ctx);

/* Bytes written to handle fh: execute every completed line. 0, -EINVAL (a line failed or
 * is longer than CTL_MAX_LINE; the rest of buf is dropped), -EBADF, -ENOMEM. */
int ctl_fh_write(struct ffs *fs, uint64_t fh, const char *buf, size_t size);

/* close() of a descriptor of fh: execute a pending line without newline. 0 or -EINVAL. */
int ctl_fh_flush(struct ffs *fs, uint64_t fh);

/* Last close of fh: execute a pending line (errors only to last_error), free the handle
 * once no request uses it. */
void ctl_fh_release(struct ffs *fs, uint64_t fh);

/* Execute one line written to `hint` (no newline): "at GROUP" (the reader is about to read
 * layer group GROUP: the reader position moves there, prefetch starts from it and READs do
 * not move the position for CA_HINT_HOLD_MS), "release" (READs steer again at once), a
 * blank line or # comment. 0, or -EINVAL with the reason in last_error. (control_hint.c) */
int ctl_hint_line(struct ffs *fs, const char *line, size_t len);

/* What `hint` shows when read: usage and the hint state (malloc'd text), NULL on ENOMEM. */
char *ctl_hint_text(struct ffs *fs);

/* Render control file `id` (CTL_* of ffs.h) into a malloc'd buffer. 0 or -ENOMEM. */
int ctl_render(struct ffs *fs, int id, char **out, size_t *len);

/* The stats document (JSON text, malloc'd), NULL on ENOMEM. */
char *ctl_stats_json(struct ffs *fs);

/* The metrics document (Prometheus text exposition format, malloc'd), NULL on ENOMEM. */
char *ctl_metrics_text(struct ffs *fs);


/* Packed-file totals of a mount (docs/control.md "packed"). */
typedef struct {
    uint64_t files;             /* mounted files whose source is packed */
    uint64_t logical_bytes;     /* sum of their logical (served) sizes */
    uint64_t stored_bytes;      /* sum of their on-disk sizes */
    uint64_t corrupt_frames;    /* frame decode failures of their sources */
    uint64_t stored_bytes_read; /* compressed bytes read from their files so far */
    double ratio;               /* stored / logical; 0 when no file is packed */
} ctl_packed_t;

/* Sum the packed-file counters over every mounted file. */
void ctl_packed_totals(struct ffs *fs, ctl_packed_t *out);

/* Logical and stored size of file node ino (when it has a source); returns 1 when its
 * source is packed, 0 otherwise (also for a non-file or a file not yet opened). */
int ctl_packed_file(struct ffs *fs, size_t ino, uint64_t *logical, uint64_t *stored);

/* The layout document: ly_to_json plus, per file entry, "stored_size" (bytes on disk) and
 * "packed" (bool). JSON text, malloc'd; NULL on ENOMEM. */
char *ctl_layout_json(struct ffs *fs);

#endif
