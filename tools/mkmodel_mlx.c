/* mkmodel_mlx.c — turn a Hugging Face folder into an MLX affine-quantized one in place
 * (flashfs-mkmodel --quant): every 2-D ".weight" whose input size is a multiple of the group
 * becomes P.weight (U32 codes), P.scales and P.biases (in the weight's dtype), as mlx-lm's
 * convert writes them; the rest is copied. The result is one model.safetensors (tensors
 * sorted by name) and config.json gains "quantization" and "quantization_config".
 *
 * Per group (mlx affine_quantize): n = 2^bits - 1; scale = max((max - min) / n, 1e-7),
 * negated unless |min| > |max|; edge = min or max accordingly; q0 = rint(edge / scale);
 * when q0 != 0, scale = edge / q0; bias = q0 ? edge : 0; q = clip(rint((w - bias) / scale),
 * 0, n); codes packed LSB first. */
#include "mkmodel.h"
#include "fu_util.h"
#include "hf_index.h"
#include "safetensors.h"
#include "st_writer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char name[160];
    int src_file;
    const st_tensor_t *src;
    int part;                   /* 0 copy, 1 codes, 2 scales, 3 biases */
    sw_tensor_t out;
} mq_item_t;

static int mq_cmp(const void *a, const void *b)
{
    return strcmp(((const mq_item_t *)a)->name, ((const mq_item_t *)b)->name);
}

static float mq_widen(const void *p, st_dtype_t dt, size_t i)
{
    uint16_t h;
    switch (dt) {
    case ST_DT_F32: return ((const float *)p)[i];
    case ST_DT_BF16: {
        h = ((const uint16_t *)p)[i];
        uint32_t u = (uint32_t)h << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    default: {
        h = ((const uint16_t *)p)[i];
        uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
        float f = e == 0 ? ldexpf((float)m, -24) : e == 31 ? INFINITY : ldexpf((float)(m | 0x400), (int)e - 25);
        return sign ? -f : f;
    }
    }
}

static float mq_store(void *p, st_dtype_t dt, size_t i, float f)
{
    if (dt == ST_DT_F32) {
        ((float *)p)[i] = f;
        return f;
    }
    uint16_t h = dt == ST_DT_BF16 ? mm_f32_to_bf16(f) : mm_f32_to_f16(f);
    ((uint16_t *)p)[i] = h;
    return mq_widen(p, dt, i);
}

/* Quantize one matrix [r][c] read from fd at off into codes / scales / biases. */
static int mq_quantize(int fd, const st_tensor_t *s, int bits, int group, uint8_t *codes, void *scales,
                       void *biases)
{
    const uint64_t r = s->shape[0], c = s->shape[1];
    const size_t es = st_dtype_size(s->dtype), ng = (size_t)(c / (uint64_t)group);
    const float n = (float)((1 << bits) - 1);
    void *row = malloc((size_t)c * es);
    if (!row)
        return -ENOMEM;
    const size_t rb = (size_t)c * (size_t)bits / 8;
    memset(codes, 0, (size_t)r * rb);
    for (uint64_t i = 0; i < r; i++) {
        int rc = fu_pread_full(fd, row, (size_t)c * es, s->offset + i * c * es);
        if (rc) {
            free(row);
            return rc;
        }
        uint8_t *out = codes + i * rb;
        for (size_t g = 0; g < ng; g++) {
            float mx = -INFINITY, mn = INFINITY;
            for (int k = 0; k < group; k++) {
                float w = mq_widen(row, s->dtype, g * group + (size_t)k);
                mx = w > mx ? w : mx;
                mn = w < mn ? w : mn;
            }
            int mask = fabsf(mn) > fabsf(mx);
            float sc = fmaxf((mx - mn) / n, 1e-7f);
            sc = mask ? sc : -sc;
            float edge = mask ? mn : mx, q0 = rintf(edge / sc);
            if (q0 != 0)
                sc = edge / q0;
            float bi = q0 != 0 ? edge : 0.0f;
            float ssc = mq_store(scales, s->dtype, i * ng + g, sc);
            float sbi = mq_store(biases, s->dtype, i * ng + g, bi);
            (void)ssc;
            (void)sbi;
            for (int k = 0; k < group; k++) {
                size_t e = g * group + (size_t)k;
                float q = rintf((mq_widen(row, s->dtype, e) - bi) / sc);
                q = q < 0 ? 0 : q > n ? n : q;
                uint64_t bit = (uint64_t)e * (uint64_t)bits;
                uint32_t v = (uint32_t)q << (bit & 7);
                out[bit >> 3] |= (uint8_t)v;
                if ((bit & 7) + (uint64_t)bits > 8)
                    out[(bit >> 3) + 1] |= (uint8_t)(v >> 8);
            }
        }
    }
    free(row);
    return 0;
}

static int mq_config(const char *dir, int bits, int group)
{
    char path[1100], *text = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/config.json", dir);
    int rc = fu_read_file(path, 1u << 24, &text, &len);
    if (rc)
        return rc;
    cJSON *c = cJSON_ParseWithLength(text, len);
    free(text);
    if (!c)
        return -EINVAL;
    const char *keys[2] = { "quantization", "quantization_config" };
    for (int i = 0; i < 2; i++) {
        cJSON_DeleteItemFromObjectCaseSensitive(c, keys[i]);
        cJSON *q = cJSON_AddObjectToObject(c, keys[i]);
        cJSON_AddNumberToObject(q, "group_size", group);
        cJSON_AddNumberToObject(q, "bits", bits);
        cJSON_AddStringToObject(q, "mode", "affine");
    }
    char *out = cJSON_Print(c);
    cJSON_Delete(c);
    if (!out)
        return -ENOMEM;
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    rc = fd < 0 ? -errno : fu_write_full(fd, out, strlen(out));
    if (!rc)
        rc = fu_write_full(fd, "\n", 1);
    if (fd >= 0)
        close(fd);
    free(out);
    return rc;
}

int mm_quantize_mlx(const char *dir, int bits, int group, char *err, size_t errlen)
{
    char path[1100], why[256] = "";
    hi_index_t ix;
    memset(&ix, 0, sizeof ix);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    int sharded = access(path, F_OK) == 0, rc = 0;
    if (sharded && (rc = hi_load(path, &ix, why, sizeof why)))
        return fu_err(err, errlen, rc, "%s: %s", path, why);
    size_t nf = sharded ? ix.n_files : 1;
    st_file_t *st = calloc(nf, sizeof *st);
    int *fds = calloc(nf, sizeof *fds);
    mq_item_t *it = NULL;
    size_t n = 0, cap = 0;
    uint8_t *codes = NULL;
    void *scales = NULL, *biases = NULL;
    int out = -1;
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s/model.safetensors.mlx-tmp", dir);
    if (!st || !fds) {
        rc = fu_err(err, errlen, -ENOMEM, "out of memory");
        goto done;
    }
    for (size_t f = 0; f < nf; f++)
        fds[f] = -1;
    for (size_t f = 0; f < nf && !rc; f++) {
        snprintf(path, sizeof path, "%s/%s", dir, sharded ? ix.files[f] : "model.safetensors");
        if ((rc = st_parse_path(path, &st[f], why, sizeof why))) {
            rc = fu_err(err, errlen, rc, "%s: %s", path, why);
            break;
        }
        if ((fds[f] = open(path, O_RDONLY | O_CLOEXEC)) < 0)
            rc = fu_err(err, errlen, -errno, "%s: %s", path, strerror(errno));
        for (size_t t = 0; t < st[f].n_tensors && !rc; t++) {
            const st_tensor_t *s = &st[f].tensors[t];
            size_t l = strlen(s->name);
            int q = s->ndim == 2 && l > 7 && !strcmp(s->name + l - 7, ".weight") &&
                    (s->dtype == ST_DT_BF16 || s->dtype == ST_DT_F16 || s->dtype == ST_DT_F32) &&
                    s->shape[1] % (uint64_t)group == 0 && l < 140;
            for (int p = q ? 1 : 0; p <= (q ? 3 : 0) && !rc; p++) {
                if (n == cap) {
                    cap = cap ? 2 * cap : 256;
                    mq_item_t *nit = realloc(it, cap * sizeof *it);
                    if (!nit) {
                        rc = fu_err(err, errlen, -ENOMEM, "out of memory");
                        break;
                    }
                    it = nit;
                }
                mq_item_t *m = &it[n++];
                memset(m, 0, sizeof *m);
                m->src_file = (int)f;
                m->src = s;
                m->part = p;
                snprintf(m->name, sizeof m->name, "%.*s%s", (int)(p ? l - 7 : l), s->name,
                         p == 0 ? "" : p == 1 ? ".weight" : p == 2 ? ".scales" : ".biases");
                m->out.ndim = s->ndim;
                memcpy(m->out.shape, s->shape, sizeof(uint64_t) * (size_t)s->ndim);
                m->out.dtype = st_dtype_name(s->dtype);
                m->out.nbytes = s->length;
                if (p == 1) {
                    m->out.dtype = "U32";
                    m->out.shape[1] = s->shape[1] * (uint64_t)bits / 32;
                    m->out.nbytes = s->shape[0] * m->out.shape[1] * 4;
                } else if (p) {
                    m->out.shape[1] = s->shape[1] / (uint64_t)group;
                    m->out.nbytes = s->shape[0] * m->out.shape[1] * st_dtype_size(s->dtype);
                }
            }
        }
    }
    if (rc)
        goto done;
    qsort(it, n, sizeof *it, mq_cmp);
    sw_tensor_t *hdr_t = malloc(n * sizeof *hdr_t);
    char *hdr = NULL;
    size_t hlen = 0;
    if (!hdr_t) {
        rc = fu_err(err, errlen, -ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        hdr_t[i] = it[i].out;
        hdr_t[i].name = it[i].name;     /* qsort moved the items */
    }
    const char *mk[] = { "format" }, *mv[] = { "mlx" };
    rc = sw_header(hdr_t, n, mk, mv, 1, &hdr, &hlen, why, sizeof why);
    free(hdr_t);
    if (rc) {
        rc = fu_err(err, errlen, rc, "safetensors header: %s", why);
        goto done;
    }
    out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    rc = out < 0 ? -errno : fu_write_full(out, hdr, hlen);
    free(hdr);
    const st_tensor_t *cur = NULL;      /* the matrix whose parts are in the buffers */
    for (size_t i = 0; i < n && !rc; i++) {
        mq_item_t *m = &it[i];
        const st_tensor_t *s = m->src;
        if (m->part == 0) {
            void *buf = malloc(s->length ? s->length : 1);
            if (!buf)
                rc = -ENOMEM;
            else if (!(rc = fu_pread_full(fds[m->src_file], buf, s->length, s->offset)))
                rc = fu_write_full(out, buf, s->length);
            free(buf);
            continue;
        }
        if (cur != s) {
            free(codes);
            free(scales);
            free(biases);
            uint64_t ng = s->shape[0] * (s->shape[1] / (uint64_t)group);
            codes = malloc(s->shape[0] * s->shape[1] * (uint64_t)bits / 8);
            scales = malloc(ng * st_dtype_size(s->dtype));
            biases = malloc(ng * st_dtype_size(s->dtype));
            if (!codes || !scales || !biases) {
                rc = -ENOMEM;
                break;
            }
            if ((rc = mq_quantize(fds[m->src_file], s, bits, group, codes, scales, biases)))
                break;
            cur = s;
        }
        rc = fu_write_full(out, m->part == 1 ? (void *)codes : m->part == 2 ? scales : biases,
                           m->out.nbytes);
    }
    if (out >= 0 && close(out) && !rc)
        rc = -errno;
    if (rc) {
        rc = fu_err(err, errlen, rc, "%s: %s", tmp, strerror(-rc));
        unlink(tmp);
        goto done;
    }
    for (size_t f = 0; f < nf; f++) {
        snprintf(path, sizeof path, "%s/%s", dir, sharded ? ix.files[f] : "model.safetensors");
        unlink(path);
    }
    if (sharded) {
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (rename(tmp, path))
        rc = fu_err(err, errlen, -errno, "%s: %s", path, strerror(errno));
    else if ((rc = mq_config(dir, bits, group)))
        rc = fu_err(err, errlen, rc, "%s/config.json: cannot add the quantization section", dir);
done:
    free(codes);
    free(scales);
    free(biases);
    free(it);
    if (st)
        for (size_t f = 0; f < nf; f++)
            st_free(&st[f]);
    if (fds)
        for (size_t f = 0; f < nf; f++)
            if (fds[f] >= 0)
                close(fds[f]);
    free(st);
    free(fds);
    hi_free(&ix);
    return rc;
}
