/* pack_write.c — the packed-file writer: cuts regions into frames, compresses them on
 * several threads, writes header frame + zstd frames + seek table (prefix pk_).
 *
 * Frame cutting: a region (one tensor, the file header, a gap) is cut at its own
 * boundaries and at every multiple of frame_size of the FILE offset (moved down to an
 * element boundary of the region, so byte planes stay aligned). Frames thus begin and end
 * on tensor boundaries, and a reader of aligned 1 MiB chunks (the mount's cache unit)
 * touches whole frames, which decode straight into its buffer. A region smaller than
 * frame_size / 16 joins the previous frame when that frame holds whole regions only, has
 * the same transform and class, and the result stays within one frame_size-aligned block
 * (norm vectors and biases do not get a frame each). So a frame is a piece of one region
 * or a run of whole regions.
 *
 * Pipeline: worker threads claim frames in order (at most WINDOW frames ahead of the
 * writer), read their input with pread, apply the transform, compress into the frame's
 * slot; the calling thread writes the slots in order. Memory: WINDOW slots of
 * ~frame_size plus a context per thread, independent of the file size.
 *
 * Compression: zstd at opt->level with content size and content checksum in every frame
 * (so corruption is detected by the decoder). Grouped frames use the fast strategy with
 * a minimum match of 7 and a tiny hash table: byte planes of weights have almost no
 * long repeats, and short matches cost more than Huffman-coded literals (measured on the
 * demo weights: exponent plane 3.3 bits/byte at level 3 defaults, 2.65 with these). */
#include "pack.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

typedef struct {
    uint64_t off;
    uint32_t len;
    uint8_t transform, klass;
} wframe_t;

typedef struct {
    uint8_t *out;
    size_t csize;
    int state;          /* 0 free/claimed, 1 compressed */
} wslot_t;

typedef struct {
    int in_fd;
    const pk_wopts_t *opt;
    wframe_t *fr;
    size_t nf;
    size_t max_len, cap;
    wslot_t *slot;
    size_t window;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t next_claim, next_write;
    int rc;             /* first error */
    char err[200];
} wctx_t;

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

const char *pk_klass_name(unsigned k)
{
    static const char *names[PK_K_COUNT] = { "hdr+table", "bf16", "f16", "f32", "quantized", "other" };
    return k < PK_K_COUNT ? names[k] : "?";
}

/* ---- frame cutting ------------------------------------------------------------------ */

static int cut_frames(const pk_region_t *rg, size_t nr, uint64_t file_size, const pk_wopts_t *opt,
                      uint32_t fs, wframe_t **out, size_t *n_out, char *err, size_t errlen)
{
    size_t cap = 16, n = 0;
    wframe_t *fr = malloc(cap * sizeof *fr);
    if (!fr)
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    uint64_t pos = 0;
    int last_whole = 0; /* the last frame holds whole regions only */
    for (size_t r = 0; r < nr; r++) {
        if (rg[r].off != pos || rg[r].len > file_size - pos) {
            free(fr);
            return fu_err(err, errlen, -EINVAL, "region %zu does not follow the previous one", r);
        }
        pos += rg[r].len;
        if (rg[r].len == 0)
            continue;
        uint8_t t = opt->group ? rg[r].transform : PK_T_NONE;
        if (t == PK_T_SKIP || t >= PK_T_COUNT)
            t = PK_T_NONE;
        uint64_t ro = rg[r].off, rl = rg[r].len;
        if (n > 0 && last_whole && rl < fs / 16 && fr[n - 1].transform == t && fr[n - 1].klass == rg[r].klass &&
            fr[n - 1].len + rl <= fs && fr[n - 1].off / fs == (ro + rl - 1) / fs) {
            fr[n - 1].len += (uint32_t)rl;
            continue;
        }
        /* Cut at every multiple of fs inside the region, moved down to an element
         * boundary of the region (so planes stay aligned). */
        uint64_t w = pk_transform_width(t), start = ro, end = ro + rl;
        last_whole = ro / fs == (end - 1) / fs;
        while (start < end) {
            uint64_t b = (start / fs + 1) * fs, cut = end;
            if (b < end) {
                cut = ro + (b - ro) / w * w;
                if (cut <= start) /* boundary within one element of start: next one */
                    cut = b + fs < end ? ro + (b + fs - ro) / w * w : end;
            }
            if (n == cap) {
                wframe_t *nf = realloc(fr, 2 * cap * sizeof *fr);
                if (!nf) {
                    free(fr);
                    return fu_err(err, errlen, -ENOMEM, "out of memory");
                }
                fr = nf;
                cap *= 2;
            }
            fr[n++] = (wframe_t){ start, (uint32_t)(cut - start), t, rg[r].klass };
            start = cut;
        }
    }
    if (pos != file_size) {
        free(fr);
        return fu_err(err, errlen, -EINVAL, "regions cover %llu of %llu bytes",
                      (unsigned long long)pos, (unsigned long long)file_size);
    }
    if (n + 1 > PK_MAX_FRAMES) {
        free(fr);
        return fu_err(err, errlen, -EFBIG, "too many frames (%zu)", n);
    }
    *out = fr;
    *n_out = n;
    return 0;
}

/* ---- compression workers ------------------------------------------------------------- */

static void fail(wctx_t *c, int rc, const char *msg)
{
    pthread_mutex_lock(&c->mu);
    if (c->rc == 0) {
        c->rc = rc;
        snprintf(c->err, sizeof c->err, "%s", msg);
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static int compress_one(wctx_t *c, ZSTD_CCtx *cc, const wframe_t *f, uint8_t *in, uint8_t *grp,
                        wslot_t *s, char *msg, size_t msglen)
{
    int rc = fu_pread_full(c->in_fd, in, f->len, f->off);
    if (rc < 0)
        return fu_err(msg, msglen, rc, "read at %llu: %s", (unsigned long long)f->off, strerror(-rc));
    const uint8_t *src = in;
    ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, c->opt->level ? c->opt->level : 3);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 1);
    if (f->transform != PK_T_NONE) {
        pk_group(f->transform, in, grp, f->len);
        src = grp;
        ZSTD_CCtx_setParameter(cc, ZSTD_c_strategy, ZSTD_fast);
        ZSTD_CCtx_setParameter(cc, ZSTD_c_minMatch, 7);
        ZSTD_CCtx_setParameter(cc, ZSTD_c_hashLog, 6);
    }
    /* One plane per run of blocks: flushing at each plane boundary ends the zstd block
     * there, so every plane gets its own Huffman table even when planes are smaller than
     * a block (128 KiB). The result is still one frame with its content size. */
    ZSTD_CCtx_setPledgedSrcSize(cc, f->len);
    unsigned w = pk_transform_width(f->transform);
    size_t plane = f->len / w;
    ZSTD_outBuffer ob = { s->out, c->cap, 0 };
    size_t start = 0;
    for (unsigned k = 0; k < w; k++) {
        size_t end = k + 1 == w ? f->len : start + plane;
        ZSTD_inBuffer ib = { src + start, end - start, 0 };
        ZSTD_EndDirective op = k + 1 == w ? ZSTD_e_end : ZSTD_e_flush;
        size_t left;
        do {
            left = ZSTD_compressStream2(cc, &ob, &ib, op);
            if (ZSTD_isError(left))
                return fu_err(msg, msglen, -EIO, "zstd: %s", ZSTD_getErrorName(left));
            if (left && ob.pos == ob.size)
                return fu_err(msg, msglen, -EIO, "zstd: output buffer too small");
        } while (left != 0 || ib.pos < ib.size);
        start = end;
    }
    s->csize = ob.pos;
    return 0;
}

static void *worker(void *arg)
{
    wctx_t *c = arg;
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    uint8_t *in = malloc(c->max_len), *grp = malloc(c->max_len);
    if (!cc || !in || !grp) {
        fail(c, -ENOMEM, "out of memory for a compression thread");
        goto out;
    }
    for (;;) {
        pthread_mutex_lock(&c->mu);
        while (c->rc == 0 && c->next_claim < c->nf && c->next_claim >= c->next_write + c->window)
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->rc != 0 || c->next_claim >= c->nf) {
            pthread_mutex_unlock(&c->mu);
            break;
        }
        size_t i = c->next_claim++;
        pthread_mutex_unlock(&c->mu);
        wslot_t *s = &c->slot[i % c->window];
        char msg[160];
        int rc = compress_one(c, cc, &c->fr[i], in, grp, s, msg, sizeof msg);
        if (rc < 0) {
            fail(c, rc, msg);
            break;
        }
        pthread_mutex_lock(&c->mu);
        s->state = 1;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
out:
    ZSTD_freeCCtx(cc);
    free(in);
    free(grp);
    return NULL;
}

/* ---- writer ----------------------------------------------------------------------------- */

/* Header frame: magic, size, payload (see pack.h / docs/packed.md). */
static int write_header(int fd, const wframe_t *fr, size_t nf, uint64_t logical, uint32_t *hsize)
{
    uint32_t n = (uint32_t)nf + 1;
    size_t plen = PK_HDR_FIXED + (size_t)n + 4;
    uint8_t *b = calloc(1, 8 + plen);
    if (!b)
        return -ENOMEM;
    uint8_t *p = b + 8;
    put32(b, PK_HDR_MAGIC);
    put32(b + 4, (uint32_t)plen);
    memcpy(p, PK_TAG, 8);
    put32(p + 8, PK_VERSION);
    put32(p + 12, n);
    put64(p + 16, logical);
    put32(p + 24, 0);
    p[PK_HDR_FIXED] = PK_T_SKIP;
    for (size_t i = 0; i < nf; i++)
        p[PK_HDR_FIXED + 1 + i] = fr[i].transform;
    put32(p + PK_HDR_FIXED + n, pk_header_check(p, PK_HDR_FIXED + (size_t)n));
    int rc = fu_write_full(fd, b, 8 + plen);
    free(b);
    *hsize = (uint32_t)(8 + plen);
    return rc;
}

static int write_seek_table(int fd, const uint32_t *cs, const wframe_t *fr, size_t nf, uint32_t hsize,
                            uint64_t *size)
{
    uint32_t n = (uint32_t)nf + 1;
    size_t len = 8 + (size_t)n * PK_ENTRY_SIZE + PK_FOOTER_SIZE;
    uint8_t *b = malloc(len);
    if (!b)
        return -ENOMEM;
    put32(b, PK_SEEK_MAGIC);
    put32(b + 4, (uint32_t)(len - 8));
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *e = b + 8 + (size_t)i * PK_ENTRY_SIZE;
        put32(e, i == 0 ? hsize : cs[i - 1]);
        put32(e + 4, i == 0 ? 0 : fr[i - 1].len);
    }
    uint8_t *ft = b + len - PK_FOOTER_SIZE;
    put32(ft, n);
    ft[4] = 0; /* descriptor: no checksums (every zstd frame carries its own) */
    put32(ft + 5, PK_SEEKABLE_MAGIC);
    int rc = fu_write_full(fd, b, len);
    free(b);
    *size = len;
    return rc;
}

int pk_write(int in_fd, uint64_t file_size, const pk_region_t *regions, size_t n_regions,
             int out_fd, const pk_wopts_t *opt, pk_stats_t *st, char *err, size_t errlen)
{
    uint32_t fs = opt->frame_size ? opt->frame_size : PK_DEFAULT_FRAME;
    if (fs < 64 || fs > PK_MAX_FRAME_SIZE - 4)
        return fu_err(err, errlen, -EINVAL, "frame size %u out of range", fs);
    wctx_t c = { .in_fd = in_fd, .opt = opt };
    int rc = cut_frames(regions, n_regions, file_size, opt, fs, &c.fr, &c.nf, err, errlen);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < c.nf; i++)
        if (c.fr[i].len > c.max_len)
            c.max_len = c.fr[i].len;
    c.cap = ZSTD_compressBound(c.max_len ? c.max_len : 1) + 64; /* + block headers of flushes */
    int threads = opt->threads > 0 ? opt->threads : 1;
    c.window = (size_t)threads * 4;
    c.slot = calloc(c.window, sizeof *c.slot);
    uint32_t *cs = malloc((c.nf + 1) * sizeof *cs);
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    int started = 0;
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    if (!c.slot || !cs || !tid) {
        rc = fu_err(err, errlen, -ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < c.window; i++)
        if (!(c.slot[i].out = malloc(c.cap))) {
            rc = fu_err(err, errlen, -ENOMEM, "out of memory");
            goto done;
        }
    uint32_t hsize;
    if ((rc = write_header(out_fd, c.fr, c.nf, file_size, &hsize)) < 0) {
        fu_err(err, errlen, rc, "write: %s", strerror(-rc));
        goto done;
    }
    for (; started < threads; started++)
        if (pthread_create(&tid[started], NULL, worker, &c) != 0)
            break;
    if (started == 0) {
        rc = fu_err(err, errlen, -EAGAIN, "cannot start a compression thread");
        goto done;
    }
    uint64_t done_bytes = 0;
    for (size_t i = 0; i < c.nf; i++) {
        wslot_t *s = &c.slot[i % c.window];
        pthread_mutex_lock(&c.mu);
        while (c.rc == 0 && s->state == 0)
            pthread_cond_wait(&c.cv, &c.mu);
        rc = c.rc;
        pthread_mutex_unlock(&c.mu);
        if (rc < 0) {
            fu_err(err, errlen, rc, "%s", c.err);
            break;
        }
        if ((rc = fu_write_full(out_fd, s->out, s->csize)) < 0) {
            fu_err(err, errlen, rc, "write: %s", strerror(-rc));
            fail(&c, rc, "write failed");
            break;
        }
        cs[i] = (uint32_t)s->csize;
        if (st) {
            st->in_bytes[c.fr[i].klass % PK_K_COUNT] += c.fr[i].len;
            st->out_bytes[c.fr[i].klass % PK_K_COUNT] += s->csize;
        }
        done_bytes += c.fr[i].len;
        if (opt->progress)
            opt->progress(opt->progress_arg, done_bytes);
        pthread_mutex_lock(&c.mu);
        s->state = 0;
        c.next_write++;
        pthread_cond_broadcast(&c.cv);
        pthread_mutex_unlock(&c.mu);
    }
    for (int t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    if (rc == 0) {
        uint64_t tsize;
        if ((rc = write_seek_table(out_fd, cs, c.fr, c.nf, hsize, &tsize)) < 0)
            fu_err(err, errlen, rc, "write: %s", strerror(-rc));
        else if (st)
            st->out_bytes[PK_K_HEADER] += hsize + tsize;
    }
done:
    if (c.slot)
        for (size_t i = 0; i < c.window; i++)
            free(c.slot[i].out);
    free(c.slot);
    free(cs);
    free(tid);
    free(c.fr);
    pthread_mutex_destroy(&c.mu);
    pthread_cond_destroy(&c.cv);
    return rc;
}
