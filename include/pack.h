/* pack.h — packed model files: the zstd seekable format plus byte grouping (prefix pk_).
 *
 * A packed file (written by flashfs-pack, described precisely in docs/packed.md) is a
 * sequence of frames, every one valid for the standard `zstd -d`:
 *
 *   frame 0      flashfs header, a zstd SKIPPABLE frame (magic 0x184D2A5B): tag "FFSPACK1",
 *                version, frame count, logical size, one transform byte per frame, check
 *   frames 1..n  zstd frames, each independently compressed, content size and content
 *                checksum present; frame i decompresses to Decompressed_Size bytes that,
 *                after inverting its transform, are the logical bytes of frame i
 *   last         the seek table of zstd's contrib/seekable_format (skippable magic
 *                0x184D2A5E, entries of u32 Compressed_Size / u32 Decompressed_Size,
 *                footer u32 Number_Of_Frames, u8 descriptor, u32 magic 0x8F92EAB1)
 *
 * The header frame is counted in the seek table (decompressed size 0), so the seek
 * table stays exactly the standard one. Frames without a transform decompress with
 * `zstd -d` to the original bytes; grouped frames decompress to their byte planes.
 *
 * Byte grouping splits elements of k bytes into k planes (all byte 0s, then all byte 1s,
 * ...): exponent bytes of floats then sit together and compress to ~2.6 bits each. */
#ifndef PACK_H
#define PACK_H

#include <stddef.h>
#include <stdint.h>
#include "fu_util.h"

#define PK_ZSTD_MAGIC       0xFD2FB528u /* zstd frame */
#define PK_HDR_MAGIC        0x184D2A5Bu /* skippable frame: flashfs header */
#define PK_SEEK_MAGIC       0x184D2A5Eu /* skippable frame: seek table */
#define PK_SEEKABLE_MAGIC   0x8F92EAB1u /* last 4 bytes of a seekable file */
#define PK_TAG              "FFSPACK1"  /* 8 bytes at the start of the header payload */
#define PK_VERSION          1u
#define PK_FOOTER_SIZE      9u          /* u32 frames + u8 descriptor + u32 magic */
#define PK_ENTRY_SIZE       8u          /* u32 compressed + u32 decompressed (no checksum) */
#define PK_HDR_FIXED        28u         /* tag 8 + version 4 + frames 4 + size 8 + flags 4 */
#define PK_MAX_FRAMES       0x8000000u  /* as zstd's seekable library */
#define PK_MAX_FRAME_SIZE   (64u << 20) /* largest decompressed frame the reader accepts */
#define PK_DEFAULT_FRAME    (1u << 20)  /* writer's target frame size */

/* Per-frame transforms (one byte per frame in the header). */
enum {
    PK_T_SKIP = 0,   /* skippable frame, no logical bytes (the header itself) */
    PK_T_NONE = 1,   /* bytes as is */
    PK_T_G2 = 2,     /* 2 planes: byte 0 of every element, then byte 1 (f16, i16) */
    PK_T_BF16 = 3,   /* bf16: planes of (sign<<7 | mantissa) and the 8-bit exponent */
    PK_T_G4 = 4,     /* 4 planes (f32, i32) */
    PK_T_COUNT
};

/* Element size a transform groups (1 for PK_T_NONE/PK_T_SKIP). */
unsigned pk_transform_width(unsigned t);

/* Name of a transform ("none", "g2", "bf16", "g4", "skip"), "?" for others. */
const char *pk_transform_name(unsigned t);

/* Apply transform t to len bytes (in -> out, no overlap). A tail of len % width bytes
 * is copied at the end unchanged. */
void pk_group(unsigned t, const uint8_t *in, uint8_t *out, size_t len);

/* Invert pk_group (in -> out, no overlap). */
void pk_ungroup(unsigned t, const uint8_t *in, uint8_t *out, size_t len);

/* ---- the frame table of a packed file ------------------------------------------ */

typedef struct {
    uint64_t coff;      /* offset of the frame in the packed file */
    uint64_t loff;      /* logical offset of its first byte */
    uint32_t csize;     /* bytes on disk */
    uint32_t dsize;     /* logical (= decompressed) bytes */
    uint8_t transform;  /* PK_T_* */
} pk_frame_t;

typedef struct {
    uint64_t file_size;     /* packed (stored) size */
    uint64_t logical_size;  /* original size */
    uint32_t n_frames;      /* entries of the seek table, header frame included */
    uint32_t max_dsize;     /* largest frame's decompressed size */
    pk_frame_t *frames;
} pk_table_t;

/* Check value (FNV-1a 32) stored after the first n bytes of a header payload. */
uint32_t pk_header_check(const uint8_t *payload, size_t n);

/* Does the file look packed? 1 if it starts with the flashfs header frame (magic + tag),
 * 0 if not, -errno on read errors. Only the first 16 bytes are read. */
int pk_probe(fu_read_fn rd, void *ctx, uint64_t file_size);

/* Parse and bounds-check the header frame and the seek table of a packed file:
 * sizes add up to the file size and the logical size, counts fit in the file, every
 * frame is at most PK_MAX_FRAME_SIZE, transforms are known. 0 or -errno (-EINVAL
 * malformed, -EIO truncated, -ENOMEM); err gets a reason. */
int pk_table_parse(fu_read_fn rd, void *ctx, uint64_t file_size, pk_table_t *out,
                   char *err, size_t errlen);

/* Release a table (safe on a zeroed or failed one). */
void pk_table_free(pk_table_t *t);

/* Index of the frame holding logical byte off (frames with dsize 0 are never returned);
 * t->n_frames if off >= logical size. */
uint32_t pk_table_find(const pk_table_t *t, uint64_t off);

/* Decompress frame f of a packed file into out (f->dsize bytes, logical order).
 * cbuf (>= f->csize bytes) and tmp (>= f->dsize bytes, used for grouped frames) are
 * caller scratch. dctx is a ZSTD_DCtx *. 0, -EIO for a corrupt frame (err says why),
 * or a read error. */
int pk_frame_decode(fu_read_fn rd, void *ctx, const pk_frame_t *f, void *dctx,
                    uint8_t *cbuf, uint8_t *tmp, uint8_t *out, char *err, size_t errlen);

/* Decode frame f from its compressed bytes cbuf (f->csize bytes, already read) into out,
 * with tmp as for pk_frame_decode. 0 or -EIO (err says why). */
int pk_frame_decode_buf(const pk_frame_t *f, void *dctx, const uint8_t *cbuf, uint8_t *tmp,
                        uint8_t *out, char *err, size_t errlen);

/* ---- reader: thread-safe logical reads of an open packed file ------------------- */

typedef struct pk_reader pk_reader_t;

/* Open a reader over fd (not owned; must stay open) named name (for log lines).
 * 0 or -errno as pk_table_parse. */
int pk_reader_open(int fd, const char *name, pk_reader_t **out, char *err, size_t errlen);

/* Read exactly len logical bytes at off (within the logical size). Thread-safe.
 * 0, or -EIO when a frame of the range is corrupt (logged once per frame with the file
 * name and frame number; counted), or another -errno. */
int pk_reader_read(pk_reader_t *r, void *buf, size_t len, uint64_t off);

/* The table of an open reader. */
const pk_table_t *pk_reader_table(const pk_reader_t *r);

/* Frames of this reader that failed to decode (each failure counted). */
/* Compressed bytes read from r's file for frames so far (O_DIRECT reads count their
 * aligned blocks): what the disk delivered, to set against the logical bytes served. */
uint64_t pk_reader_stored_read(const pk_reader_t *r);
uint64_t pk_reader_errors(const pk_reader_t *r);

/* Run the reader's own one-frame sequential read-ahead only while *busy is 0 (NULL:
 * always). The mount passes its "prefetch on" flag for files it prefetches along the
 * layer order: below that prefetcher the read-ahead decodes frames nobody asks for
 * (the frame after a streamed run is resident), ~6 % more stored bytes per cycle. */
void pk_reader_defer_readahead(pk_reader_t *r, const _Atomic int *busy);

/* Close (NULL-safe). Does not close the fd. */
void pk_reader_close(pk_reader_t *r);

/* Frame decode failures of a packed source (src_open of a packed file); 0 for a
 * source of another kind. For the mount's statistics. */
struct src;
/* pk_reader_stored_read of a packed source (0 for another kind of source). */
uint64_t pk_src_stored_read(const struct src *s);
uint64_t pk_src_errors(const struct src *s);

/* pk_reader_defer_readahead for a packed source; nothing for another kind. */
void pk_src_defer_readahead(struct src *s, const _Atomic int *busy);

/* Frame decode failures of every packed reader of this process since start. */
uint64_t pk_errors(void);

/* ---- writer ----------------------------------------------------------------------- */

/* One region of the input with a transform; the writer cuts it into frames. */
typedef struct {
    uint64_t off, len;
    uint8_t transform;      /* PK_T_NONE, PK_T_G2, PK_T_BF16, PK_T_G4 */
    uint8_t klass;          /* statistics bucket (PK_K_*) */
} pk_region_t;

/* Statistics buckets of the summary table. */
enum { PK_K_HEADER = 0, PK_K_BF16, PK_K_F16, PK_K_F32, PK_K_QUANT, PK_K_OTHER, PK_K_COUNT };

/* Name of a statistics bucket ("hdr+table" = file headers plus the packed file's own
 * header frame and seek table, "bf16", ...). */
const char *pk_klass_name(unsigned k);

typedef struct {
    uint64_t in_bytes[PK_K_COUNT], out_bytes[PK_K_COUNT];
} pk_stats_t;

typedef struct {
    int level;              /* zstd level (default 3 when 0) */
    int threads;            /* compression threads (default 1 when <= 0) */
    int group;              /* apply the regions' transforms (0: all PK_T_NONE) */
    uint32_t frame_size;    /* target frame size (default PK_DEFAULT_FRAME) */
    /* progress: called from the writing thread with bytes done so far (may be NULL) */
    void (*progress)(void *arg, uint64_t done);
    void *progress_arg;
} pk_wopts_t;

/* Plan the regions of a model file read through rd: the header, one region per tensor
 * (transform from its dtype), gaps. Safetensors and GGUF are parsed with st_parse /
 * gg_parse; anything else (or an unparsable file) becomes one PK_T_NONE region and
 * *warned is set with the reason in err. Regions cover [0, file_size) in order.
 * 0 or -ENOMEM/-EIO (read errors). */
int pk_plan(fu_read_fn rd, void *ctx, uint64_t file_size, const char *name,
            pk_region_t **out, size_t *n_out, int *warned, char *err, size_t errlen);

/* Pack in_fd (file_size bytes) into out_fd (empty, positioned at 0) along the regions
 * (covering [0, file_size) in order). Frames never cross a region boundary except that
 * consecutive small regions of one transform share a frame. Stats are added to *st
 * (may be NULL). 0 or -errno; err gets a reason. */
int pk_write(int in_fd, uint64_t file_size, const pk_region_t *regions, size_t n_regions,
             int out_fd, const pk_wopts_t *opt, pk_stats_t *st, char *err, size_t errlen);

#endif
