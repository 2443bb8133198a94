/* layout.h — the tensor-aware map of a model directory (prefix ly_).
 *
 * Every file of the mount is added with ly_add_file(); safetensors and GGUF files are
 * parsed and every byte range is mapped to its tensor, every tensor to a LAYER GROUP:
 *   "embed"            token embeddings (model.embed_tokens / token_embd)
 *   "layer.N"          model.layers.N.* / blk.N.*
 *   "norm"             final norm (model.norm / output_norm)
 *   "head"             lm_head / output
 *   "other"            tensors of no known group
 * Groups are ordered in execution order: embed, layer.0 .. layer.N-1, norm, head, other.
 * Bytes that belong to no tensor (headers, padding) and files that are not tensor files,
 * or that failed to parse, map to group -1 ("none"). A file that fails to parse is still
 * served as plain bytes; its error string is kept here. */
#ifndef LAYOUT_H
#define LAYOUT_H

#include <stddef.h>
#include <stdint.h>
#include "fu_util.h"

typedef enum { LY_PLAIN = 0, LY_SAFETENSORS, LY_GGUF } ly_kind_t;

typedef struct {
    char *name;
    char dtype[16];             /* "BF16", "F32", "Q8_0", ... */
    int ndim;
    uint64_t shape[8];          /* safetensors order (outermost first); GGUF: ne[] order */
    uint64_t offset;            /* absolute file offset */
    uint64_t length;
    int group;                  /* index into ly_layout_t.groups */
} ly_tensor_t;

typedef struct {
    char *path;                 /* relative to the model directory, e.g. "model-00001-of-00002.safetensors" */
    ly_kind_t kind;
    uint64_t size;
    int parse_error;            /* 0 or -errno from the parser */
    char error[256];            /* reason when parse_error != 0 */
    uint64_t data_start;        /* first byte after the container header (0 for plain) */
    size_t n_tensors;
    ly_tensor_t *tensors;       /* sorted by offset, non-overlapping */
} ly_file_t;

typedef struct {
    char name[32];              /* "embed", "layer.12", "norm", "head", "other" */
    int layer;                  /* N for "layer.N", else -1 */
    uint64_t bytes;             /* total tensor bytes of the group over all files */
    size_t n_tensors;
} ly_group_t;

typedef struct {
    size_t n_files;
    ly_file_t *files;
    size_t n_groups;
    ly_group_t *groups;         /* in execution order after ly_finish() */
    int n_layers;               /* highest layer index + 1 (or from config) */
    uint64_t n_tensors_total;   /* tensors over all files (<= LY_MAX_TENSORS) */
    uint64_t header_bytes;      /* safetensors JSON header bytes over all files (<= LY_MAX_HEADER_TOTAL) */
    char limit_error[200];      /* why ly_add_file returned -E2BIG */
} ly_layout_t;

/* Bounds over ALL files of a model (a sharded model counts once): beyond them the model
 * is refused (ly_add_file: -E2BIG) so that the mount's memory and the `layout` document
 * stay bounded whatever the headers claim. The largest public models (DeepSeek-V3, Kimi
 * K2: ~10^5 tensors, ~15 MB of headers) fit with room to spare. */
#define LY_MAX_TENSORS (1u << 18)               /* 262144 tensors */
#define LY_MAX_HEADER_TOTAL (64ull << 20)       /* 64 MiB of safetensors headers */

/* Initialise an empty layout. */
void ly_init(ly_layout_t *ly);

/* Add one file: parse it by its name (*.safetensors, *.gguf) through rd; anything else,
 * or a parse failure, is kept as a plain file. Returns the file index (>= 0), -ENOMEM, or
 * -E2BIG when the model would pass LY_MAX_TENSORS or LY_MAX_HEADER_TOTAL (reason in
 * ly->limit_error; the file is not added). */
int ly_add_file(ly_layout_t *ly, const char *relpath, fu_read_fn rd, void *ctx, uint64_t size);

/* Assign tensors to groups, order groups in execution order. Call once after all
 * ly_add_file() calls. 0 or -ENOMEM. */
int ly_finish(ly_layout_t *ly);

/* Index of the tensor of file f containing offset off, or -1 (binary search). */
long ly_tensor_at(const ly_file_t *f, uint64_t off);

/* Group of the byte at offset off in file f, or -1 when it belongs to no tensor. */
int ly_group_at(const ly_file_t *f, uint64_t off);

/* File by relative path, or NULL. */
ly_file_t *ly_find_file(const ly_layout_t *ly, const char *relpath);

/* The layout as a JSON document (malloc'd string, pretty or compact), NULL on ENOMEM. */
char *ly_to_json(const ly_layout_t *ly, int pretty);

struct cJSON;
/* The compact document, built one tensor at a time (peak memory ~ the text); extra, when
 * not NULL, may add members to file i's object (before "tensors"); < 0 fails it. */
char *ly_to_json_extra(const ly_layout_t *ly, int (*extra)(void *ctx, size_t file, struct cJSON *obj), void *ctx);

/* Release everything. */
void ly_free(ly_layout_t *ly);

#endif
