/* safetensors.h — parser for the safetensors container (prefix st_).
 *
 * Format: 8-byte little-endian header length N, then N bytes of UTF-8 JSON
 * {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {string: string}}, then the data section; data_offsets are relative
 * to the data section start (8 + N). Every integer taken from the file is bounds-checked:
 * header size (<= ST_MAX_HEADER and <= file), offsets inside the file, no overlaps,
 * length == product(shape) * dtype size. */
#ifndef SAFETENSORS_H
#define SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "fu_util.h"

#define ST_MAX_HEADER (100u * 1024 * 1024) /* refuse larger JSON headers */
#define ST_MAX_DIMS 8

/* Element types of safetensors (and the subset the engine computes with). */
typedef enum {
    ST_DT_UNKNOWN = 0,
    ST_DT_BOOL, ST_DT_U8, ST_DT_I8, ST_DT_I16, ST_DT_U16, ST_DT_F16, ST_DT_BF16,
    ST_DT_I32, ST_DT_U32, ST_DT_F32, ST_DT_I64, ST_DT_U64, ST_DT_F64,
    ST_DT_F8_E4M3, ST_DT_F8_E5M2,
    ST_DT_COUNT
} st_dtype_t;

typedef struct {
    char *name;                 /* tensor name, NUL-terminated UTF-8 */
    st_dtype_t dtype;
    int ndim;
    uint64_t shape[ST_MAX_DIMS];
    uint64_t offset;            /* ABSOLUTE file offset of the first byte */
    uint64_t length;            /* bytes */
} st_tensor_t;

typedef struct {
    uint64_t header_len;        /* N */
    uint64_t data_start;        /* 8 + N */
    uint64_t file_size;
    size_t n_tensors;
    st_tensor_t *tensors;       /* sorted by offset */
} st_file_t;

/* Parse a safetensors file of file_size bytes read through rd. 0 or -errno
 * (-EINVAL malformed, -EFBIG header too large, -ENOMEM, read errors); err gets a reason. */
int st_parse(fu_read_fn rd, void *ctx, uint64_t file_size, st_file_t *out, char *err, size_t errlen);

/* Open path and st_parse it. */
int st_parse_path(const char *path, st_file_t *out, char *err, size_t errlen);

/* Release what st_parse allocated (safe on a zeroed or failed st_file_t). */
void st_free(st_file_t *f);

/* Tensor by exact name, or NULL. */
const st_tensor_t *st_find(const st_file_t *f, const char *name);

/* Dtype from its safetensors name ("BF16"), ST_DT_UNKNOWN if not known. */
st_dtype_t st_dtype_from_name(const char *s);

/* Safetensors name of a dtype ("BF16"), "UNKNOWN" for others. */
const char *st_dtype_name(st_dtype_t t);

/* Size in bytes of one element, 0 for ST_DT_UNKNOWN. */
size_t st_dtype_size(st_dtype_t t);

#endif
