/* gguf.h — parser for GGUF v2/v3 files (prefix gg_).
 *
 * Layout: magic "GGUF", u32 version, u64 tensor count, u64 KV count, KV pairs
 * (string key, u32 type, value; arrays nest), tensor infos (name, u32 n_dims,
 * u64 ne[n_dims], u32 ggml type, u64 offset relative to the data section), padding to
 * general.alignment (default 32), data section. All little-endian. Counts, string
 * lengths, dims and offsets are bounds-checked against the file size. */
#ifndef GGUF_H
#define GGUF_H

#include <stddef.h>
#include <stdint.h>
#include "fu_util.h"

#define GG_MAX_DIMS 4

/* KV value types of GGUF. */
enum {
    GG_T_UINT8 = 0, GG_T_INT8, GG_T_UINT16, GG_T_INT16, GG_T_UINT32, GG_T_INT32,
    GG_T_FLOAT32, GG_T_BOOL, GG_T_STRING, GG_T_ARRAY, GG_T_UINT64, GG_T_INT64, GG_T_FLOAT64
};

typedef struct {
    char *key;
    uint32_t type;          /* GG_T_* */
    uint32_t arr_type;      /* element type when type == GG_T_ARRAY */
    uint64_t arr_len;       /* element count when type == GG_T_ARRAY */
    uint64_t value_offset;  /* file offset of the value (for arrays: of the first element) */
    union { uint64_t u; int64_t i; double f; } num; /* scalar numbers and bools */
    char *str;              /* GG_T_STRING value (NUL-terminated), else NULL */
} gg_kv_t;

typedef struct {
    char *name;
    uint32_t n_dims;
    uint64_t ne[GG_MAX_DIMS];
    uint32_t type;          /* ggml type id (0 F32, 1 F16, 8 Q8_0, 30 BF16, ...) */
    uint64_t offset;        /* ABSOLUTE file offset */
    uint64_t length;        /* bytes, from the type's block size */
} gg_tensor_t;

typedef struct {
    uint32_t version;
    uint64_t n_kv, n_tensors;
    gg_kv_t *kv;
    gg_tensor_t *tensors;   /* in file order of tensor infos */
    uint32_t alignment;
    uint64_t data_start;    /* absolute offset of the aligned data section */
    uint64_t file_size;
} gg_file_t;

/* Parse a GGUF file of file_size bytes read through rd. 0 or -errno; err gets a reason. */
int gg_parse(fu_read_fn rd, void *ctx, uint64_t file_size, gg_file_t *out, char *err, size_t errlen);

/* Open path and gg_parse it. */
int gg_parse_path(const char *path, gg_file_t *out, char *err, size_t errlen);

/* Release what gg_parse allocated (safe on a zeroed or failed gg_file_t). */
void gg_free(gg_file_t *f);

/* KV pair by key, or NULL. */
const gg_kv_t *gg_find_kv(const gg_file_t *f, const char *key);

/* Name of a ggml type id ("BF16", "Q8_0"), "UNKNOWN" if not known. */
const char *gg_type_name(uint32_t type);

/* Bytes for n elements of a ggml type (block-quantized types need n % block == 0);
 * 0 with -EINVAL semantics for unknown types or a partial block. Sets *ok. */
uint64_t gg_type_nbytes(uint32_t type, uint64_t n, int *ok);

/* Read a string-array KV value of f (file descriptor fd) into *out (kv->arr_len malloc'd
 * strings; free with gg_strings_free). 0 or -errno; err names the key. */
int gg_read_strings(int fd, const gg_file_t *f, const gg_kv_t *kv, char ***out, char *err, size_t errlen);

/* Free n strings from gg_read_strings (NULL-safe). */
void gg_strings_free(char **s, uint64_t n);

/* Read an INT32/UINT32-array KV value into *out (malloc'd, kv->arr_len entries). */
int gg_read_i32s(int fd, const gg_file_t *f, const gg_kv_t *kv, int32_t **out, char *err, size_t errlen);

/* Which GGUF model an -m argument names: 1 with its path in path (arg itself when it is a
 * regular *.gguf file; DIR/NAME.gguf when arg is a folder without config.json holding one
 * *.gguf), 2 when such a folder holds several (path gets the first), 0 otherwise. */
int gg_model_path(const char *arg, char *path, size_t n);

#endif
