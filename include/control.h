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

/* Parse one command line (no newline; len bytes, not NUL-terminated). Pure: no side
 * effects. 0, or -EINVAL with the reason in err. */
int ctl_parse(const char *line, size_t len, ctl_cmd_t *out, char *err, size_t errlen);

/* Execute every line of buf (commands separated by newlines). Stops at the first bad
 * command: -EINVAL and the reason goes to last_error. 0 when all succeeded. */
int ctl_exec(struct ffs *fs, const char *buf, size_t len);

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
