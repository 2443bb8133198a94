/* pack_format.c — the packed file format: detection, the header frame and the seek
 * table (parsed and bounds-checked), frame lookup and single-frame decoding (prefix pk_).
 *
 * Layout (all integers little-endian; docs/packed.md has the full description):
 *
 *   [header frame]   u32 0x184D2A5B | u32 Frame_Size = 32 + n | payload:
 *                    "FFSPACK1" | u32 version | u32 n | u64 logical size | u32 flags (0)
 *                    | u8 transform[n] | u32 FNV-1a of the payload before it
 *   [zstd frames]    frames 1..n-1
 *   [seek table]     u32 0x184D2A5E | u32 Frame_Size = n * E + 9 | n entries of
 *                    (u32 Compressed_Size, u32 Decompressed_Size[, u32 checksum]) |
 *                    u32 n | u8 descriptor | u32 0x8F92EAB1
 *
 * Everything read from the file is checked before use: the counts agree, the entries
 * add up exactly to the file size (minus the seek table) and to the logical size,
 * and no frame exceeds PK_MAX_FRAME_SIZE, so a hostile table cannot make the reader
 * allocate or read beyond reason. */
#include "pack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

/* ---- little-endian helpers ------------------------------------------------------ */

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* FNV-1a, 32 bits: the header's integrity check (a flipped transform byte would
 * otherwise decode to wrong bytes silently; zstd's own checksums cover the frames). */
static uint32_t fnv1a32(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

uint32_t pk_header_check(const uint8_t *payload, size_t n)
{
    return fnv1a32(payload, n);
}

/* ---- detection ------------------------------------------------------------------ */

int pk_probe(fu_read_fn rd, void *ctx, uint64_t file_size)
{
    uint8_t b[16];
    if (file_size < sizeof b)
        return 0;
    int rc = rd(ctx, b, sizeof b, 0);
    if (rc < 0)
        return rc;
    return le32(b) == PK_HDR_MAGIC && memcmp(b + 8, PK_TAG, 8) == 0;
}

/* ---- table ---------------------------------------------------------------------- */

void pk_table_free(pk_table_t *t)
{
    if (!t)
        return;
    free(t->frames);
    memset(t, 0, sizeof *t);
}

int pk_table_parse(fu_read_fn rd, void *ctx, uint64_t file_size, pk_table_t *out,
                   char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    uint8_t b[16];
    int rc;
    if (file_size < 16 + PK_FOOTER_SIZE)
        return fu_err(err, errlen, -EIO, "packed file truncated (%llu bytes)",
                      (unsigned long long)file_size);
    if ((rc = rd(ctx, b, 16, 0)) < 0)
        return fu_err(err, errlen, rc, "cannot read header frame");
    if (le32(b) != PK_HDR_MAGIC || memcmp(b + 8, PK_TAG, 8) != 0)
        return fu_err(err, errlen, -EINVAL, "not a flashfs packed file");
    uint32_t hdr_fsize = le32(b + 4);

    /* Footer: the last 9 bytes. A missing magic means the file was cut short. */
    uint8_t foot[PK_FOOTER_SIZE];
    if ((rc = rd(ctx, foot, sizeof foot, file_size - PK_FOOTER_SIZE)) < 0)
        return fu_err(err, errlen, rc, "cannot read seek table footer");
    if (le32(foot + 5) != PK_SEEKABLE_MAGIC)
        return fu_err(err, errlen, -EIO, "truncated packed file: no seek table at the end");
    uint32_t n = le32(foot);
    uint8_t desc = foot[4];
    if (desc & 0x7c)
        return fu_err(err, errlen, -EINVAL, "seek table descriptor 0x%02x has reserved bits", desc);
    uint32_t esize = (desc & 0x80) ? 12 : PK_ENTRY_SIZE;
    if (n < 1 || n > PK_MAX_FRAMES)
        return fu_err(err, errlen, -EINVAL, "seek table frame count %u out of range", n);

    /* Seek table frame: 8 + n * esize + 9 bytes, ending the file. */
    uint64_t seek_size = 8 + (uint64_t)n * esize + PK_FOOTER_SIZE;
    uint64_t hdr_size = 8 + (uint64_t)PK_HDR_FIXED + n + 4;
    if (seek_size > file_size || hdr_size > file_size - seek_size)
        return fu_err(err, errlen, -EINVAL, "seek table of %u frames does not fit in %llu bytes",
                      n, (unsigned long long)file_size);
    if ((rc = rd(ctx, b, 8, file_size - seek_size)) < 0)
        return fu_err(err, errlen, rc, "cannot read seek table");
    if (le32(b) != PK_SEEK_MAGIC || le32(b + 4) != seek_size - 8)
        return fu_err(err, errlen, -EINVAL, "seek table frame header does not match its footer");
    if (hdr_fsize != hdr_size - 8)
        return fu_err(err, errlen, -EINVAL, "header frame size %u does not match %u frames",
                      hdr_fsize, n);

    /* Header payload and entries: both bounded by the file size checked above. */
    uint8_t *hdr = malloc(hdr_size);
    uint8_t *ent = malloc((size_t)n * esize);
    pk_frame_t *fr = calloc(n, sizeof *fr);
    if (!hdr || !ent || !fr) {
        rc = fu_err(err, errlen, -ENOMEM, "out of memory for %u frames", n);
        goto fail;
    }
    if ((rc = rd(ctx, hdr, hdr_size, 0)) < 0 ||
        (rc = rd(ctx, ent, (size_t)n * esize, file_size - seek_size + 8)) < 0) {
        fu_err(err, errlen, rc, "cannot read header or seek table");
        goto fail;
    }
    const uint8_t *p = hdr + 8;
    uint32_t version = le32(p + 8), hn = le32(p + 12), flags = le32(p + 24);
    uint64_t logical = le64(p + 16);
    rc = -EINVAL;
    if (version != PK_VERSION) {
        fu_err(err, errlen, rc, "packed format version %u not supported", version);
        goto fail;
    }
    if (hn != n || flags != 0) {
        fu_err(err, errlen, rc, "header says %u frames (flags %u), seek table %u", hn, flags, n);
        goto fail;
    }
    if (le32(p + PK_HDR_FIXED + n) != fnv1a32(p, PK_HDR_FIXED + (size_t)n)) {
        fu_err(err, errlen, rc, "header check value mismatch (corrupt header frame)");
        goto fail;
    }

    uint64_t coff = 0, loff = 0, cbound = ZSTD_compressBound(PK_MAX_FRAME_SIZE);
    uint32_t max_d = 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *e = ent + (size_t)i * esize;
        uint32_t cs = le32(e), ds = le32(e + 4);
        uint8_t t = p[PK_HDR_FIXED + i];
        if (t >= PK_T_COUNT) {
            fu_err(err, errlen, rc, "frame %u: unknown transform %u", i, t);
            goto fail;
        }
        if (i == 0 && (t != PK_T_SKIP || cs != hdr_size || ds != 0)) {
            fu_err(err, errlen, rc, "frame 0 is not the header frame");
            goto fail;
        }
        if (t == PK_T_SKIP ? (ds != 0 || cs < 8)
                           : (ds == 0 || ds > PK_MAX_FRAME_SIZE || cs < 9 || cs > cbound)) {
            fu_err(err, errlen, rc, "frame %u: sizes %u/%u out of range", i, cs, ds);
            goto fail;
        }
        fr[i] = (pk_frame_t){ .coff = coff, .loff = loff, .csize = cs, .dsize = ds, .transform = t };
        if (fu_add_u64(coff, cs, &coff) || fu_add_u64(loff, ds, &loff) ||
            coff > file_size - seek_size) {
            fu_err(err, errlen, rc, "frame %u: extends past the seek table", i);
            goto fail;
        }
        if (ds > max_d)
            max_d = ds;
    }
    if (coff != file_size - seek_size || loff != logical) {
        fu_err(err, errlen, rc, "frames add up to %llu/%llu bytes, file has %llu/%llu",
               (unsigned long long)coff, (unsigned long long)loff,
               (unsigned long long)(file_size - seek_size), (unsigned long long)logical);
        goto fail;
    }
    free(hdr);
    free(ent);
    out->file_size = file_size;
    out->logical_size = logical;
    out->n_frames = n;
    out->max_dsize = max_d;
    out->frames = fr;
    return 0;
fail:
    free(hdr);
    free(ent);
    free(fr);
    return rc;
}

uint32_t pk_table_find(const pk_table_t *t, uint64_t off)
{
    if (off >= t->logical_size)
        return t->n_frames;
    /* Rightmost frame with loff <= off: a skippable frame shares its loff with the
     * data frame after it, so the rightmost one is the data frame. */
    uint32_t lo = 0, hi = t->n_frames; /* invariant: frames[lo].loff <= off */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->frames[mid].loff <= off)
            lo = mid;
        else
            hi = mid;
    }
    while (lo < t->n_frames && t->frames[lo].dsize == 0)
        lo++;
    return lo;
}

/* ---- one frame -------------------------------------------------------------------- */

int pk_frame_decode(fu_read_fn rd, void *ctx, const pk_frame_t *f, void *dctx,
                    uint8_t *cbuf, uint8_t *tmp, uint8_t *out, char *err, size_t errlen)
{
    int rc = rd(ctx, cbuf, f->csize, f->coff);
    if (rc < 0)
        return fu_err(err, errlen, rc, "read of %u bytes at %llu failed", f->csize,
                      (unsigned long long)f->coff);
    return pk_frame_decode_buf(f, dctx, cbuf, tmp, out, err, errlen);
}

int pk_frame_decode_buf(const pk_frame_t *f, void *dctx, const uint8_t *cbuf, uint8_t *tmp,
                        uint8_t *out, char *err, size_t errlen)
{
    if (le32(cbuf) != PK_ZSTD_MAGIC)
        return fu_err(err, errlen, -EIO, "not a zstd frame");
    unsigned long long cs = ZSTD_getFrameContentSize(cbuf, f->csize);
    if (cs != f->dsize)
        return fu_err(err, errlen, -EIO, "frame content size does not match the seek table");
    size_t fs = ZSTD_findFrameCompressedSize(cbuf, f->csize);
    if (ZSTD_isError(fs) || fs != f->csize)
        return fu_err(err, errlen, -EIO, "frame length does not match the seek table");
    uint8_t *dst = f->transform == PK_T_NONE ? out : tmp;
    size_t r = ZSTD_decompressDCtx(dctx, dst, f->dsize, cbuf, f->csize);
    if (ZSTD_isError(r))
        return fu_err(err, errlen, -EIO, "zstd: %s", ZSTD_getErrorName(r));
    if (r != f->dsize)
        return fu_err(err, errlen, -EIO, "frame decoded to %zu bytes, expected %u", r, f->dsize);
    if (f->transform != PK_T_NONE)
        pk_ungroup(f->transform, tmp, out, f->dsize);
    return 0;
}
