/* st_writer.h — safetensors header writer (prefix sw_).
 *
 * A safetensors file is: u64 little-endian N, N bytes of JSON
 * {"__metadata__": {k: v, ...}, "name": {"dtype": "BF16", "shape": [..],
 * "data_offsets": [begin, end]}, ...}, then the data section. Like the reference
 * implementation, the JSON is padded with spaces so that the data section starts at a
 * multiple of 8, and tensors are laid out contiguously in the order given. */
#ifndef ST_WRITER_H
#define ST_WRITER_H

#include <stddef.h>
#include <stdint.h>

#define SW_MAX_DIMS 8

typedef struct {
    const char *name;
    const char *dtype;          /* "BF16", "F16", "F32", ... */
    int ndim;
    uint64_t shape[SW_MAX_DIMS];
    uint64_t nbytes;            /* product(shape) * element size, checked by the caller */
} sw_tensor_t;

/* Build the complete header (8-byte length + padded JSON) for n tensors laid out in the
 * given order; meta: n_meta key/value string pairs for "__metadata__" (may be 0).
 * *out is malloc'd, *len its size (a multiple of 8). 0, -ENOMEM, or -EINVAL (bad ndim). */
int sw_header(const sw_tensor_t *t, size_t n, const char *const *meta_keys,
              const char *const *meta_vals, size_t n_meta, char **out, size_t *len,
              char *err, size_t errlen);

#endif
