/* eng_weights.h — a Hugging Face model folder as the engine sees it (prefix ew_).
 *
 * Opens config.json and the safetensors file(s) (single model.safetensors, or shards
 * listed by model.safetensors.index.json), checks that every tensor the architecture
 * needs is there with the dtype and shape the config implies, and reads tensors with
 * pread(2) (never mmap), so the same code works on a plain folder and on a flashfs mount.
 * Supported architectures: llama, mistral, qwen2. */
#ifndef ENG_WEIGHTS_H
#define ENG_WEIGHTS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "eng_kernels.h"
#include "hf_config.h"
#include "hf_quant.h"
#include "gguf.h"
#include "safetensors.h"

/* Where one tensor lives. present == 0 for an optional tensor that is absent.
 * An MLX-quantized matrix (dt EK_QAFF, see eng_mlx.c) keeps its logical rows x cols; the
 * tensor is the packed U32 codes, qs / qb its scales and biases (owned by the model). */
typedef struct ew_tensor {
    int present;
    int file;                   /* index into ew_model_t.files */
    uint64_t offset;            /* absolute file offset */
    uint64_t length;            /* bytes */
    ek_dtype_t dt;
    int rows, cols;             /* 1-D tensors: rows = 1 */
    const char *name;           /* points into the parsed header (valid while open) */
    int qbits, qgroup;          /* EK_QAFF: bits per code, elements per group */
    const struct ew_tensor *qs, *qb;   /* EK_QAFF: scales and biases [rows][cols/qgroup] */
} ew_tensor_t;

/* The big matrices of a decoder layer, in the order the engine streams them. */
enum { EW_Q, EW_K, EW_V, EW_O, EW_GATE, EW_UP, EW_DOWN, EW_NMAT };

typedef struct {
    ew_tensor_t mat[EW_NMAT];   /* weights [out][in] */
    ew_tensor_t bias[EW_NMAT];  /* optional biases [out] */
    ew_tensor_t attn_norm, ffn_norm;
} ew_layer_t;

typedef struct {
    char path[512];             /* shard path (dir + name) */
    int fd;
    uint64_t size;
} ew_file_t;

typedef struct ew_shards ew_shards_t;

typedef struct {
    char dir[512];
    hc_config_t cfg;
    int n_files;
    ew_file_t *files;
    ew_shards_t *shards;        /* parsed headers */
    ew_tensor_t embed, norm, head;  /* head == embed when tied */
    int tied;
    ew_layer_t *layers;         /* cfg.num_hidden_layers */
    atomic_ullong bytes_read;   /* every byte pread from the model files */
    hc_quant_t quant;           /* config.json's MLX quantization section */
    ew_tensor_t *qparts;        /* scales/biases of the quantized matrices */
    int n_qparts, cap_qparts;
    gg_file_t *gguf;            /* a GGUF model file (eng_gguf.c), else NULL */
    int rope_interleaved;       /* q/k rows in llama.cpp's permuted order: RoPE on (2i, 2i+1) */
} ew_model_t;

/* Names of the supported model_type values, for messages. */
extern const char *const ew_supported_types;

/* Open the model folder dir: config, shards, tensor checks. dir may also name a GGUF
 * model (a *.gguf file, or a folder without config.json holding one; eng_gguf.h). 0 or -errno; err names the
 * file or field at fault. On failure *m is left closed (ew_close is still safe). */
int ew_open(ew_model_t *m, const char *dir, char *err, size_t errlen);

/* Reject a sliding-window attention config that would actually slide within ctx tokens
 * (mistral sliding_window, qwen2 use_sliding_window). 0 or -ENOTSUP. */
int ew_check_context(const ew_model_t *m, int ctx, char *err, size_t errlen);

/* pread len bytes at off of file f into buf (counted in bytes_read). 0 or -errno; err names
 * the file (a short read means a truncated file). */
int ew_pread(ew_model_t *m, int f, void *buf, size_t len, uint64_t off, char *err, size_t errlen);

/* Read a whole tensor, widened to f32, into dst (rows*cols floats). */
int ew_read_f32(ew_model_t *m, const ew_tensor_t *t, float *dst, char *err, size_t errlen);

/* Read rows [row, row + n) of a 2-D tensor widened to f32 into dst (n*cols floats). */
int ew_read_rows_f32(ew_model_t *m, const ew_tensor_t *t, int row, int n, float *dst,
                     char *err, size_t errlen);

/* The tensor called name in any of the model's files (*file gets its index), or NULL. */
const st_tensor_t *ew_lookup(const ew_model_t *m, const char *name, int *file);

/* Close files and free (safe on a zeroed or failed model). */
void ew_close(ew_model_t *m);

#endif
