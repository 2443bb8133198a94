/* eng_gguf.c — a GGUF model file (llama.cpp) as an ew_model_t: hyperparameters from the
 * metadata, tensors by their GGUF names, read by pread like the safetensors folders.
 *
 * Names: token_embd, blk.N.attn_norm, blk.N.attn_{q,k,v,output} (+ .bias for qwen2 q/k/v),
 * blk.N.ffn_norm, blk.N.ffn_{gate,up,down}, output_norm, output (absent: tied to token_embd).
 * GGUF dims are ne[] order (innermost first): a [rows][cols] matrix has ne = {cols, rows}.
 * llama.cpp's converter permutes the q/k rows of llama models so that RoPE pairs are
 * adjacent (x[2i], x[2i+1]); the model then applies RoPE in that interleaved form
 * (rope_interleaved), which gives the same attention as rotate-half on the original rows. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eng_gguf.h"

static const gg_tensor_t *egg_tensor(const gg_file_t *g, const char *name)
{
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (!strcmp(g->tensors[i].name, name))
            return &g->tensors[i];
    return NULL;
}

/* An unsigned integer KV (any integer type); -ENOENT when absent, -EINVAL when not an integer. */
static int egg_uint(const gg_file_t *g, const char *key, uint64_t *v)
{
    const gg_kv_t *kv = gg_find_kv(g, key);
    if (!kv)
        return -ENOENT;
    switch (kv->type) {
    case GG_T_UINT8: case GG_T_UINT16: case GG_T_UINT32: case GG_T_UINT64:
        *v = kv->num.u;
        return 0;
    case GG_T_INT8: case GG_T_INT16: case GG_T_INT32: case GG_T_INT64:
        if (kv->num.i < 0)
            return -EINVAL;
        *v = (uint64_t)kv->num.i;
        return 0;
    default:
        return -EINVAL;
    }
}

static int egg_float(const gg_file_t *g, const char *key, double *v)
{
    const gg_kv_t *kv = gg_find_kv(g, key);
    if (!kv)
        return -ENOENT;
    if (kv->type != GG_T_FLOAT32 && kv->type != GG_T_FLOAT64)
        return -EINVAL;
    *v = kv->num.f;
    return 0;
}

/* {arch}.suffix as a positive int <= HC_MAX_DIM (or HC_MAX_LAYERS); def when absent and
 * def >= 0. */
static int egg_dim(ew_model_t *m, const char *arch, const char *suffix, long def, long max, int *out,
                   char *err, size_t errlen)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    uint64_t v = 0;
    int rc = egg_uint(m->gguf, key, &v);
    if (rc == -ENOENT && def >= 0) {
        *out = (int)def;
        return 0;
    }
    if (rc == -ENOENT)
        return fu_err(err, errlen, -EINVAL, "%s: metadata %s is missing", m->dir, key);
    if (rc || v == 0 || v > (uint64_t)max)
        return fu_err(err, errlen, -EINVAL, "%s: metadata %s is not an integer in 1..%ld", m->dir, key, max);
    *out = (int)v;
    return 0;
}

static int egg_config(ew_model_t *m, char *err, size_t errlen)
{
    const gg_file_t *g = m->gguf;
    hc_config_t *c = &m->cfg;
    const gg_kv_t *a = gg_find_kv(g, "general.architecture");
    if (!a || a->type != GG_T_STRING)
        return fu_err(err, errlen, -EINVAL, "%s: metadata general.architecture is missing", m->dir);
    if (strcmp(a->str, "llama") && strcmp(a->str, "qwen2"))
        return fu_err(err, errlen, -ENOTSUP,
                      "%s: general.architecture \"%.40s\" is not supported (supported: llama, qwen2)", m->dir,
                      a->str);
    const char *arch = a->str;
    snprintf(c->model_type, sizeof c->model_type, "%s", arch);
    int rc;
    if ((rc = egg_dim(m, arch, "embedding_length", -1, HC_MAX_DIM, &c->hidden_size, err, errlen)) ||
        (rc = egg_dim(m, arch, "feed_forward_length", -1, HC_MAX_DIM, &c->intermediate_size, err, errlen)) ||
        (rc = egg_dim(m, arch, "block_count", -1, HC_MAX_LAYERS, &c->num_hidden_layers, err, errlen)) ||
        (rc = egg_dim(m, arch, "attention.head_count", -1, HC_MAX_DIM, &c->num_attention_heads, err, errlen)) ||
        (rc = egg_dim(m, arch, "attention.head_count_kv", c->num_attention_heads, HC_MAX_DIM,
                      &c->num_key_value_heads, err, errlen)) ||
        (rc = egg_dim(m, arch, "attention.key_length", c->hidden_size / c->num_attention_heads, HC_MAX_DIM,
                      &c->head_dim, err, errlen)) ||
        (rc = egg_dim(m, arch, "context_length", 0, HC_MAX_DIM, &c->max_position_embeddings, err, errlen)))
        return rc;
    char key[128];
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", arch);
    if (egg_float(g, key, &c->rms_norm_eps))
        return fu_err(err, errlen, -EINVAL, "%s: metadata %s is missing or not a float", m->dir, key);
    c->rope_theta = 10000;
    snprintf(key, sizeof key, "%s.rope.freq_base", arch);
    if ((rc = egg_float(g, key, &c->rope_theta)) && rc != -ENOENT)
        return fu_err(err, errlen, -EINVAL, "%s: metadata %s is not a float", m->dir, key);
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    const gg_kv_t *rs = gg_find_kv(g, key);
    if (rs && (rs->type != GG_T_STRING || strcmp(rs->str, "none")))
        return fu_err(err, errlen, -ENOTSUP, "%s: metadata %s: RoPE scaling is not supported for GGUF models",
                      m->dir, key);
    const gg_tensor_t *e = egg_tensor(g, "token_embd.weight");
    if (!e)
        return fu_err(err, errlen, -ENOENT, "%s: tensor token_embd.weight not found", m->dir);
    if (e->n_dims != 2 || e->ne[1] == 0 || e->ne[1] > HC_MAX_DIM)
        return fu_err(err, errlen, -EINVAL, "%s: tensor token_embd.weight is not a [vocab, hidden] matrix",
                      m->dir);
    c->vocab_size = (int)e->ne[1];
    snprintf(c->hidden_act, sizeof c->hidden_act, "silu");
    snprintf(c->rope_type, sizeof c->rope_type, "default");
    c->rope_factor = 1;
    c->use_sliding_window = -1;
    c->bos_token_id = -1;
    m->rope_interleaved = !strcmp(arch, "llama");
    return ew_check_config(c, m->dir, err, errlen);
}

/* Find name with logical shape [rows][cols] (rows == 0: a vector of cols). */
static int egg_find(ew_model_t *m, const char *name, ew_tensor_t *t, int required, int rows, int cols,
                    char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    const gg_tensor_t *s = egg_tensor(m->gguf, name);
    if (!s) {
        if (required)
            return fu_err(err, errlen, -ENOENT, "%s: tensor %s not found", m->dir, name);
        return 0;
    }
    ek_dtype_t dt;
    switch (s->type) {
    case 0: dt = EK_F32; break;
    case 1: dt = EK_F16; break;
    case 30: dt = EK_BF16; break;
    case 8: dt = EK_Q8_0; break;
    case 2: dt = EK_Q4_0; break;
    case 12: dt = EK_Q4_K; break;
    case 14: dt = EK_Q6_K; break;
    default:
        return fu_err(err, errlen, -ENOTSUP,
                      "%s: tensor %s has type %s (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)",
                      m->dir, name, gg_type_name(s->type));
    }
    int want_nd = rows > 0 ? 2 : 1;
    int ok = s->n_dims == (uint32_t)want_nd && s->ne[0] == (uint64_t)cols &&
             (want_nd == 1 || s->ne[1] == (uint64_t)rows);
    if (!ok) {
        char got[128] = "", *p = got;
        for (uint32_t d = 0; d < s->n_dims && p < got + sizeof got - 24; d++)
            p += sprintf(p, "%s%llu", d ? ", " : "", (unsigned long long)s->ne[d]);
        if (want_nd == 1)
            return fu_err(err, errlen, -EINVAL, "%s: tensor %s has ne [%s], expected [%d]", m->dir, name, got,
                          cols);
        return fu_err(err, errlen, -EINVAL, "%s: tensor %s has ne [%s], expected [%d, %d] (ne order: "
                      "columns first)", m->dir, name, got, cols, rows);
    }
    int be, bb;
    if (ek_gq_block(dt, &be, &bb) && rows == 0)
        return fu_err(err, errlen, -ENOTSUP, "%s: tensor %s: a %s vector is not supported", m->dir, name,
                      gg_type_name(s->type));
    if (ek_gq_block(dt, &be, &bb) && cols % be)
        return fu_err(err, errlen, -EINVAL, "%s: tensor %s: %d columns are not whole %s blocks of %d", m->dir,
                      name, cols, gg_type_name(s->type), be);
    uint64_t need = (uint64_t)(rows > 0 ? rows : 1) * ek_row_bytes(dt, (size_t)cols), end;
    if (s->length != need || fu_add_u64(s->offset, s->length, &end) || end > m->files[0].size)
        return fu_err(err, errlen, -EINVAL, "%s: tensor %s: data out of bounds", m->dir, name);
    t->present = 1;
    t->file = 0;
    t->offset = s->offset;
    t->length = s->length;
    t->dt = dt;
    t->rows = rows > 0 ? rows : 1;
    t->cols = cols;
    t->name = s->name;
    return 0;
}

static int egg_layer(ew_model_t *m, int l, char *err, size_t errlen)
{
    const hc_config_t *c = &m->cfg;
    ew_layer_t *L = &m->layers[l];
    const int H = c->hidden_size, F = c->intermediate_size;
    const int QD = (int)((int64_t)c->num_attention_heads * c->head_dim);
    const int KV = (int)((int64_t)c->num_key_value_heads * c->head_dim);
    static const char *const nm[EW_NMAT] = { "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate",
                                             "ffn_up", "ffn_down" };
    const int rows[EW_NMAT] = { QD, KV, KV, H, F, F, H };
    const int cols[EW_NMAT] = { H, H, H, QD, H, H, F };
    int qwen = !strcmp(c->model_type, "qwen2");
    char name[160];
    int rc;
    for (int i = 0; i < EW_NMAT; i++) {
        snprintf(name, sizeof name, "blk.%d.%s.weight", l, nm[i]);
        if ((rc = egg_find(m, name, &L->mat[i], 1, rows[i], cols[i], err, errlen)))
            return rc;
        snprintf(name, sizeof name, "blk.%d.%s.bias", l, nm[i]);
        if ((rc = egg_find(m, name, &L->bias[i], qwen && i <= EW_V, 0, rows[i], err, errlen)))
            return rc;
    }
    snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
    if ((rc = egg_find(m, name, &L->attn_norm, 1, 0, H, err, errlen)))
        return rc;
    snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l);
    return egg_find(m, name, &L->ffn_norm, 1, 0, H, err, errlen);
}

int ew_gguf_open(ew_model_t *m, const char *path, char *err, size_t errlen)
{
    m->files = calloc(1, sizeof *m->files);
    m->gguf = calloc(1, sizeof *m->gguf);
    if (!m->files || !m->gguf)
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    ew_file_t *f = &m->files[0];
    snprintf(f->path, sizeof f->path, "%s", m->dir);
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0)
        return fu_err(err, errlen, -errno, "%s: %s", path, strerror(errno));
    m->n_files = 1;
    struct stat sb;
    if (fstat(f->fd, &sb) < 0)
        return fu_err(err, errlen, -errno, "%s: %s", path, strerror(errno));
    f->size = (uint64_t)sb.st_size;
    char why[256] = "";
    int rc = gg_parse(fu_fd_read, (void *)(intptr_t)f->fd, f->size, m->gguf, why, sizeof why);
    if (rc)
        return fu_err(err, errlen, rc, "%s: %s", path, why[0] ? why : strerror(-rc));
    if ((rc = egg_config(m, err, errlen)))
        return rc;
    const hc_config_t *c = &m->cfg;
    if (!(m->layers = calloc((size_t)c->num_hidden_layers, sizeof *m->layers)))
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    if ((rc = egg_find(m, "token_embd.weight", &m->embed, 1, c->vocab_size, c->hidden_size, err, errlen)) ||
        (rc = egg_find(m, "output_norm.weight", &m->norm, 1, 0, c->hidden_size, err, errlen)) ||
        (rc = egg_find(m, "output.weight", &m->head, 0, c->vocab_size, c->hidden_size, err, errlen)))
        return rc;
    if (!m->head.present) {
        m->head = m->embed;
        m->tied = 1;
    }
    for (int l = 0; l < c->num_hidden_layers; l++)
        if ((rc = egg_layer(m, l, err, errlen)))
            return rc;
    return 0;
}

int ew_load_config(const char *model, hc_config_t *cfg, char *path, size_t pathlen, char *err, size_t errlen)
{
    int g = gg_model_path(model, path, pathlen);
    if (g == 2)
        return fu_err(err, errlen, -EINVAL, "%s holds several GGUF files: name one with -m %s", model, path);
    if (g == 1) {
        ew_model_t *m = calloc(1, sizeof *m);
        if (!m)
            return fu_err(err, errlen, -ENOMEM, "out of memory");
        int rc = ew_open(m, path, err, errlen);
        if (!rc)
            *cfg = m->cfg;
        ew_close(m);
        free(m);
        return rc;
    }
    if ((size_t)snprintf(path, pathlen, "%s/config.json", model) >= pathlen)
        return fu_err(err, errlen, -ENAMETOOLONG, "%s: path too long", model);
    return hc_load(path, cfg, err, errlen);
}
