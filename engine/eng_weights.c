/* eng_weights.c — open a model folder, find and check its tensors, read them by pread.
 *
 * Tensor names (Llama, Mistral and Qwen2 share them):
 *   model.embed_tokens.weight                    [vocab, hidden]
 *   model.layers.N.input_layernorm.weight        [hidden]
 *   model.layers.N.self_attn.{q,k,v,o}_proj.weight  q: [heads*hd, hidden], k/v: [kv_heads*hd,
 *                                                hidden], o: [hidden, heads*hd]; optional .bias
 *   model.layers.N.post_attention_layernorm.weight [hidden]
 *   model.layers.N.mlp.{gate,up,down}_proj.weight  gate/up: [ffn, hidden], down: [hidden, ffn]
 *   model.norm.weight                            [hidden]
 *   lm_head.weight                               [vocab, hidden] (absent or tied: embed_tokens)
 * Biases are required where the architecture has them (qwen2 q/k/v; attention_bias and
 * mlp_bias in a llama config) and used whenever the checkpoint has them. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eng_gguf.h"
#include "eng_mlx.h"
#include "eng_weights.h"
#include "hf_index.h"
#include "safetensors.h"

const char *const ew_supported_types = "llama, mistral, qwen2";

struct ew_shards {
    st_file_t *st;              /* one per file */
};

/* ---- config checks ---------------------------------------------------------------- */

int ew_check_config(const hc_config_t *c, const char *path, char *err, size_t errlen)
{
    if (strcmp(c->model_type, "llama") && strcmp(c->model_type, "mistral") &&
        strcmp(c->model_type, "qwen2"))
        return fu_err(err, errlen, -ENOTSUP, "%s: model_type \"%s\" is not supported (supported: %s)",
                      path, c->model_type, ew_supported_types);
    struct { const char *name; long v; } pos[] = {
        { "hidden_size", c->hidden_size }, { "intermediate_size", c->intermediate_size },
        { "num_hidden_layers", c->num_hidden_layers },
        { "num_attention_heads", c->num_attention_heads },
        { "num_key_value_heads", c->num_key_value_heads }, { "head_dim", c->head_dim },
        { "vocab_size", c->vocab_size },
    };
    for (size_t i = 0; i < sizeof pos / sizeof *pos; i++)
        if (pos[i].v <= 0 || pos[i].v > HC_MAX_DIM)
            return fu_err(err, errlen, -EINVAL, "%s: field %s is missing or out of range (%ld)",
                          path, pos[i].name, pos[i].v);
    /* the derived shapes (heads x head_dim) in 64 bits, against the same bound */
    char why[256];
    if (hc_check_shapes(c, why, sizeof why))
        return fu_err(err, errlen, -EINVAL, "%s: %s", path, why + (strncmp(why, "config.json: ", 13) ? 0 : 13));
    if (c->head_dim % 2)
        return fu_err(err, errlen, -EINVAL, "%s: head_dim %d must be even for RoPE", path, c->head_dim);
    if (c->num_attention_heads % c->num_key_value_heads)
        return fu_err(err, errlen, -EINVAL,
                      "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", path,
                      c->num_attention_heads, c->num_key_value_heads);
    if (!(c->rms_norm_eps > 0) || c->rms_norm_eps > 1)
        return fu_err(err, errlen, -EINVAL, "%s: field rms_norm_eps is missing or out of range", path);
    if (!(c->rope_theta > 0))
        return fu_err(err, errlen, -EINVAL, "%s: field rope_theta is out of range", path);
    if (c->hidden_act[0] && strcmp(c->hidden_act, "silu"))
        return fu_err(err, errlen, -ENOTSUP, "%s: hidden_act \"%s\" is not supported (only silu)",
                      path, c->hidden_act);
    if (c->rope_type[0] && strcmp(c->rope_type, "default") && strcmp(c->rope_type, "llama3") &&
        strcmp(c->rope_type, "linear"))
        return fu_err(err, errlen, -ENOTSUP,
                      "%s: rope type \"%s\" is not supported (supported: default, linear, llama3)",
                      path, c->rope_type);
    if (!strcmp(c->rope_type, "llama3") &&
        (!(c->rope_factor > 0) || !(c->rope_high_freq_factor > c->rope_low_freq_factor) ||
         !(c->rope_low_freq_factor > 0) || c->rope_original_max_pos <= 0))
        return fu_err(err, errlen, -EINVAL,
                      "%s: rope_scaling llama3 needs factor, low_freq_factor < high_freq_factor and "
                      "original_max_position_embeddings", path);
    if (!strcmp(c->rope_type, "linear") && !(c->rope_factor > 0))
        return fu_err(err, errlen, -EINVAL, "%s: rope_scaling linear needs a positive factor", path);
    return 0;
}

int ew_check_context(const ew_model_t *m, int ctx, char *err, size_t errlen)
{
    const hc_config_t *c = &m->cfg;
    int sliding = c->sliding_window > 0 &&
                  (!strcmp(c->model_type, "mistral") ? c->use_sliding_window != 0
                                                     : c->use_sliding_window == 1);
    if (sliding && c->sliding_window < ctx)
        return fu_err(err, errlen, -ENOTSUP,
                      "%s/config.json: sliding_window %d is smaller than the context %d: sliding-window "
                      "attention is not supported (use -c %d or less)",
                      m->dir, c->sliding_window, ctx, c->sliding_window);
    return 0;
}

/* ---- tensors ---------------------------------------------------------------------- */

static int ew_find(ew_model_t *m, const char *name, ew_tensor_t *t, int required, int rows, int cols,
                   char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    for (int f = 0; f < m->n_files; f++) {
        const st_tensor_t *s = st_find(&m->shards->st[f], name);
        if (!s)
            continue;
        ek_dtype_t dt;
        switch (s->dtype) {
        case ST_DT_F32: dt = EK_F32; break;
        case ST_DT_F16: dt = EK_F16; break;
        case ST_DT_BF16: dt = EK_BF16; break;
        case ST_DT_U32:
            if (rows > 0)       /* MLX-quantized matrix */
                return ew_q_find(m, f, s, t, rows, cols, err, errlen);
            /* fall through */
        default:
            return fu_err(err, errlen, -ENOTSUP, "%s: tensor %s has dtype %s (supported: F32, F16, BF16)",
                          m->files[f].path, name, st_dtype_name(s->dtype));
        }
        int want_nd = rows > 0 ? 2 : 1;
        int ok = s->ndim == want_nd &&
                 (want_nd == 1 ? s->shape[0] == (uint64_t)cols
                               : s->shape[0] == (uint64_t)rows && s->shape[1] == (uint64_t)cols);
        if (!ok) {
            char got[128] = "", *p = got;
            for (int d = 0; d < s->ndim && p < got + sizeof got - 24; d++)
                p += sprintf(p, "%s%llu", d ? ", " : "", (unsigned long long)s->shape[d]);
            if (want_nd == 1)
                return fu_err(err, errlen, -EINVAL, "%s: tensor %s has shape [%s], expected [%d] (from config.json)",
                              m->files[f].path, name, got, cols);
            return fu_err(err, errlen, -EINVAL,
                          "%s: tensor %s has shape [%s], expected [%d, %d] (from config.json)",
                          m->files[f].path, name, got, rows, cols);
        }
        uint64_t need = (uint64_t)(rows > 0 ? rows : 1) * (uint64_t)cols * ek_dtype_size(dt), end;
        if (s->length != need || fu_add_u64(s->offset, s->length, &end) || end > m->files[f].size)
            return fu_err(err, errlen, -EINVAL, "%s: tensor %s: data out of bounds", m->files[f].path, name);
        t->present = 1;
        t->file = f;
        t->offset = s->offset;
        t->length = s->length;
        t->dt = dt;
        t->rows = rows > 0 ? rows : 1;
        t->cols = cols;
        t->name = s->name;
        return rows > 0 ? ew_q_check_plain(m, name, err, errlen) : 0;
    }
    if (required)
        return fu_err(err, errlen, -ENOENT, "%s: tensor %s not found in the model's safetensors files",
                      m->dir, name);
    return 0;
}

static int ew_find_layer(ew_model_t *m, int l, char *err, size_t errlen)
{
    const hc_config_t *c = &m->cfg;
    ew_layer_t *L = &m->layers[l];
    const int H = c->hidden_size, F = c->intermediate_size;
    /* bounded by HC_MAX_DIM (ew_check_config) */
    const int QD = (int)((int64_t)c->num_attention_heads * c->head_dim);
    const int KV = (int)((int64_t)c->num_key_value_heads * c->head_dim);
    static const char *const nm[EW_NMAT] = { "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                             "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj",
                                             "mlp.down_proj" };
    const int rows[EW_NMAT] = { QD, KV, KV, H, F, F, H };
    const int cols[EW_NMAT] = { H, H, H, QD, H, H, F };
    int qwen = !strcmp(c->model_type, "qwen2");
    char name[160];
    int rc;
    for (int i = 0; i < EW_NMAT; i++) {
        snprintf(name, sizeof name, "model.layers.%d.%s.weight", l, nm[i]);
        if ((rc = ew_find(m, name, &L->mat[i], 1, rows[i], cols[i], err, errlen)))
            return rc;
        int need_bias = i <= EW_V ? (qwen || c->attention_bias)
                                  : i == EW_O ? (!qwen && c->attention_bias) : c->mlp_bias;
        snprintf(name, sizeof name, "model.layers.%d.%s.bias", l, nm[i]);
        if ((rc = ew_find(m, name, &L->bias[i], need_bias, 0, rows[i], err, errlen)))
            return rc;
    }
    snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", l);
    if ((rc = ew_find(m, name, &L->attn_norm, 1, 0, H, err, errlen)))
        return rc;
    snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", l);
    return ew_find(m, name, &L->ffn_norm, 1, 0, H, err, errlen);
}

/* ---- files ------------------------------------------------------------------------ */

static int ew_add_file(ew_model_t *m, const char *name, char *err, size_t errlen)
{
    ew_file_t *f = &m->files[m->n_files];
    if ((size_t)snprintf(f->path, sizeof f->path, "%s/%s", m->dir, name) >= sizeof f->path)
        return fu_err(err, errlen, -ENAMETOOLONG, "%s/%s: path too long", m->dir, name);
    f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0)
        return fu_err(err, errlen, -errno, "%s: %s", f->path, strerror(errno));
    m->n_files++;
    struct stat sb;
    if (fstat(f->fd, &sb) < 0)
        return fu_err(err, errlen, -errno, "%s: %s", f->path, strerror(errno));
    f->size = (uint64_t)sb.st_size;
    char why[256] = "";
    int rc = st_parse_path(f->path, &m->shards->st[m->n_files - 1], why, sizeof why);
    if (rc)
        return fu_err(err, errlen, rc, "%s: %s", f->path, why[0] ? why : strerror(-rc));
    return 0;
}

static int ew_open_files(ew_model_t *m, char *err, size_t errlen)
{
    char path[600], why[256] = "";
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", m->dir);
    hi_index_t ix;
    memset(&ix, 0, sizeof ix);
    size_t n = 1;
    int sharded = access(path, F_OK) == 0, rc;
    if (sharded) {
        if ((rc = hi_load(path, &ix, why, sizeof why)))
            return fu_err(err, errlen, rc, "%s: %s", path, why);
        n = ix.n_files;
        if (n == 0 || n > 100000) {
            hi_free(&ix);
            return fu_err(err, errlen, -EINVAL, "%s: no shard files listed", path);
        }
    } else {
        snprintf(path, sizeof path, "%s/model.safetensors", m->dir);
        if (access(path, F_OK) != 0)
            return fu_err(err, errlen, -ENOENT,
                          "%s: no model.safetensors or model.safetensors.index.json", m->dir);
    }
    m->files = calloc(n, sizeof *m->files);
    m->shards = calloc(1, sizeof *m->shards);
    if (m->shards)
        m->shards->st = calloc(n, sizeof *m->shards->st);
    if (!m->files || !m->shards || !m->shards->st) {
        hi_free(&ix);
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        m->files[i].fd = -1;
    rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = ew_add_file(m, sharded ? ix.files[i] : "model.safetensors", err, errlen);
    hi_free(&ix);
    return rc;
}

/* ---- public ----------------------------------------------------------------------- */

int ew_open(ew_model_t *m, const char *dir, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    atomic_init(&m->bytes_read, 0);
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    if (dl >= sizeof m->dir - 64)
        return fu_err(err, errlen, -ENAMETOOLONG, "%s: path too long", dir);
    memcpy(m->dir, dir, dl);
    m->dir[dl] = 0;
    char path[600], why[256] = "";
    int g = gg_model_path(m->dir, path, sizeof path);
    if (g == 2)
        return fu_err(err, errlen, -EINVAL, "%s holds several GGUF files: name one with -m %s", m->dir, path);
    if (g == 1) {
        if (strlen(path) >= sizeof m->dir)
            return fu_err(err, errlen, -ENAMETOOLONG, "%s: path too long", path);
        memcpy(m->dir, path, strlen(path) + 1);
        int rc = ew_gguf_open(m, path, err, errlen);
        if (rc)
            ew_close(m);
        return rc;
    }
    snprintf(path, sizeof path, "%s/config.json", m->dir);
    int rc = hc_load(path, &m->cfg, why, sizeof why);
    if (rc && why[0] && strstr(why, path))
        return fu_err(err, errlen, rc, "%s", why);
    if (rc)
        return fu_err(err, errlen, rc, "%s: %s", path, why[0] ? why : strerror(-rc));
    if ((rc = ew_check_config(&m->cfg, path, err, errlen)))
        return rc;
    if ((rc = hc_quant_load(path, &m->quant, why, sizeof why)))
        return fu_err(err, errlen, rc, "%s: %s", path,
                      strncmp(why, "config.json: ", 13) ? why : why + 13);
    if ((rc = ew_open_files(m, err, errlen)))
        goto fail;
    const hc_config_t *c = &m->cfg;
    m->layers = calloc((size_t)c->num_hidden_layers, sizeof *m->layers);
    m->cap_qparts = 2 * (EW_NMAT * c->num_hidden_layers + 2);
    m->qparts = calloc((size_t)m->cap_qparts, sizeof *m->qparts);
    if (!m->layers || !m->qparts) {
        rc = fu_err(err, errlen, -ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = ew_find(m, "model.embed_tokens.weight", &m->embed, 1, c->vocab_size, c->hidden_size, err,
                      errlen)) ||
        (rc = ew_find(m, "model.norm.weight", &m->norm, 1, 0, c->hidden_size, err, errlen)))
        goto fail;
    if (!c->tie_word_embeddings &&
        (rc = ew_find(m, "lm_head.weight", &m->head, 0, c->vocab_size, c->hidden_size, err, errlen)))
        goto fail;
    if (!m->head.present) {
        m->head = m->embed;
        m->tied = 1;
    }
    for (int l = 0; l < c->num_hidden_layers; l++)
        if ((rc = ew_find_layer(m, l, err, errlen)))
            goto fail;
    return 0;
fail:
    ew_close(m);
    return rc;
}

int ew_pread(ew_model_t *m, int f, void *buf, size_t len, uint64_t off, char *err, size_t errlen)
{
    int rc = fu_pread_full(m->files[f].fd, buf, len, off);
    if (rc == -EIO)
        return fu_err(err, errlen, rc, "%s: short read of %zu bytes at offset %llu (file truncated?)",
                      m->files[f].path, len, (unsigned long long)off);
    if (rc)
        return fu_err(err, errlen, rc, "%s: read failed: %s", m->files[f].path, strerror(-rc));
    atomic_fetch_add(&m->bytes_read, len);
    return 0;
}

int ew_read_rows_f32(ew_model_t *m, const ew_tensor_t *t, int row, int n, float *dst, char *err,
                     size_t errlen)
{
    if (row < 0 || n < 0 || row + n > t->rows)
        return fu_err(err, errlen, -ERANGE, "%s: row %d out of range (%d rows)", t->name, row, t->rows);
    if (t->dt == EK_QAFF)
        return ew_q_read_rows(m, t, row, n, dst, err, errlen);
    size_t rb = ek_row_bytes(t->dt, (size_t)t->cols);
    uint64_t off = t->offset + (uint64_t)row * rb;
    if (t->dt == EK_F32)
        return ew_pread(m, t->file, dst, rb * (size_t)n, off, err, errlen);
    size_t total = (size_t)t->cols * (size_t)n;
    void *tmp = malloc(rb * (size_t)n);
    if (!tmp)
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    int rc = ew_pread(m, t->file, tmp, rb * (size_t)n, off, err, errlen);
    if (!rc)
        ek_to_f32(dst, tmp, t->dt, total);
    free(tmp);
    return rc;
}

int ew_read_f32(ew_model_t *m, const ew_tensor_t *t, float *dst, char *err, size_t errlen)
{
    return ew_read_rows_f32(m, t, 0, t->rows, dst, err, errlen);
}

const st_tensor_t *ew_lookup(const ew_model_t *m, const char *name, int *file)
{
    if (!m->shards)
        return NULL;
    for (int f = 0; f < m->n_files; f++) {
        const st_tensor_t *s = st_find(&m->shards->st[f], name);
        if (s) {
            *file = f;
            return s;
        }
    }
    return NULL;
}

void ew_close(ew_model_t *m)
{
    hc_quant_free(&m->quant);
    free(m->qparts);
    m->qparts = NULL;
    if (m->files)
        for (int i = 0; i < m->n_files; i++)
            if (m->files[i].fd >= 0)
                close(m->files[i].fd);
    if (m->shards) {
        if (m->shards->st)
            for (int i = 0; i < m->n_files; i++)
                st_free(&m->shards->st[i]);
        free(m->shards->st);
        free(m->shards);
    }
    if (m->gguf)
        gg_free(m->gguf);
    free(m->gguf);
    m->gguf = NULL;
    free(m->files);
    free(m->layers);
    m->files = NULL;
    m->shards = NULL;
    m->layers = NULL;
    m->n_files = 0;
}
