/* gguf_writer.h — GGUF v3 header writer (prefix gw_).
 *
 * Collects KV pairs and tensor infos, assigns every tensor an offset in the data section
 * aligned to the alignment, and serializes the header: "GGUF", u32 version 3, u64 tensor
 * count, u64 KV count, KV pairs (u64-length string key, u32 type, value), tensor infos
 * (name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset), zero padding up to the
 * aligned start of the data section. All little-endian. The caller then writes each
 * tensor's bytes followed by gw_pad_after() zero bytes. Errors are sticky: building calls
 * return nothing, gw_header() reports the first failure. */
#ifndef GGUF_WRITER_H
#define GGUF_WRITER_H

#include <stddef.h>
#include <stdint.h>

typedef struct gw gw_t;

/* New empty writer with the data alignment (a power of two, GGUF default 32). NULL on ENOMEM. */
gw_t *gw_new(uint32_t alignment);

/* Scalar KV pairs. */
void gw_kv_str(gw_t *g, const char *key, const char *val);
void gw_kv_u32(gw_t *g, const char *key, uint32_t val);
void gw_kv_i32(gw_t *g, const char *key, int32_t val);
void gw_kv_f32(gw_t *g, const char *key, float val);
void gw_kv_bool(gw_t *g, const char *key, int val);

/* Array KV pairs. */
void gw_kv_arr_str(gw_t *g, const char *key, const char *const *vals, size_t n);
void gw_kv_arr_i32(gw_t *g, const char *key, const int32_t *vals, size_t n);

/* Add a tensor info (ne[] in ggml order: fastest dimension first) of nbytes bytes.
 * Returns its offset relative to the data section. */
uint64_t gw_add_tensor(gw_t *g, const char *name, uint32_t n_dims, const uint64_t *ne,
                       uint32_t type, uint64_t nbytes);

/* Zero bytes to write after a tensor of nbytes to reach the next aligned offset. */
uint64_t gw_pad_after(const gw_t *g, uint64_t nbytes);

/* Total size of the data section (aligned tensors, incl. padding after the last). */
uint64_t gw_data_size(const gw_t *g);

/* Serialize the header (up to the aligned data start). *out is malloc'd.
 * 0 or the first error (-ENOMEM, -EINVAL). */
int gw_header(gw_t *g, uint8_t **out, size_t *len);

/* Free (NULL-safe). */
void gw_free(gw_t *g);

#endif
