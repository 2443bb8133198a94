/* eng_model.c — forward pass of Llama / Mistral / Qwen2 (see eng_model.h for the math).
 *
 * Tokens are processed in batches: every matrix product of a layer runs over the whole
 * batch at once (prefill), or over one vector (decode). Small per-layer tensors (norm
 * weights, biases) are widened to f32 at open and stay in memory; the big matrices come
 * from the loader one unit (layer) at a time. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eng_kernels.h"
#include "eng_hint.h"
#include "eng_loader.h"
#include "eng_mlx.h"
#include "eng_model.h"
#include "eng_pool.h"
#include "eng_weights.h"
#include "fu_util.h"

typedef struct {
    float *attn_norm, *ffn_norm;
    float *bias[EW_NMAT];       /* NULL when absent */
    void *kc, *vc;              /* KV cache [capacity][kv_dim] in f32, f16 or int8 (q8) */
    float *ks, *vs;             /* q8: scales [capacity][n_kv_heads], else NULL */
    uint16_t *kr, *vr;          /* q8: f16 ring [R][kv_dim] of the window, position p at p % R */
} em_layer_t;

struct em_model {
    ew_model_t w;
    hc_config_t *c;
    el_loader_t *ld;
    eh_hint_t hint;             /* flashfs hint channel (fd -1 when none) */
    ep_pool_t *pool;
    em_opts_t o;
    em_layer_t *layers;
    float *final_norm;
    float *inv_freq;            /* head_dim / 2 RoPE frequencies */
    ek_dtype_t kv_dt;           /* f32 / f16 caches: element type */
    int q8;                     /* q8 cache: int8 codes + scales (+ f16 window ring) */
    int W, R;                   /* q8: window positions, ring rows (0: no ring) */
    int codes;                  /* q8: int8 codes kept (0 when the window covers the capacity) */
    int *rtag;                  /* q8: position held by each ring row (-1: none) */
    int pos;
    int H, F, V, NH, NKV, HD, QD, KVD, B;
    /* activations, B rows each */
    float *x, *xn, *q, *k, *v, *att, *g, *u, *cos_, *sin_;
    float *scores;              /* n_threads x capacity */
    float *logits;              /* logits_rows x V */
    int logits_rows;
    em_info_t info;
};

/* ---- RoPE frequencies ---------------------------------------------------------------
 * inv_freq[i] = 1 / theta^(2i/d) computed in f32 like transformers, then scaled:
 *   linear: inv_freq / factor
 *   llama3: wavelength w = 2 pi / inv_freq; long waves (w > orig/low) are divided by the
 *           factor, short waves (w < orig/high) kept, the band between interpolated with
 *           s = (orig / w - low) / (high - low): (1 - s) f / factor + s f. */
static void em_rope_freqs(const hc_config_t *c, float *inv)
{
    int d = c->head_dim;
    float base = (float)c->rope_theta;
    for (int i = 0; i < d / 2; i++) {
        float e = (float)(2 * i) / (float)d;
        inv[i] = 1.0f / powf(base, e);
    }
    if (!strcmp(c->rope_type, "linear")) {
        for (int i = 0; i < d / 2; i++)
            inv[i] = inv[i] / (float)c->rope_factor;
    } else if (!strcmp(c->rope_type, "llama3")) {
        float factor = (float)c->rope_factor, lo = (float)c->rope_low_freq_factor;
        float hi = (float)c->rope_high_freq_factor, old = (float)c->rope_original_max_pos;
        float lo_wave = old / lo, hi_wave = old / hi;
        for (int i = 0; i < d / 2; i++) {
            float f = inv[i], wave = (float)(2.0 * M_PI) / f;
            float fl = wave > lo_wave ? f / factor : f;
            if (!(wave < hi_wave) && !(wave > lo_wave)) {
                float s = (old / wave - lo) / (hi - lo);
                fl = (1.0f - s) * fl / factor + s * fl;
            }
            inv[i] = fl;
        }
    }
}

/* cos/sin of the rotate-half layout for one position: entries i and i + d/2 share a freq. */
static void em_rope_row(const em_model_t *m, int pos, float *cs, float *sn)
{
    int h2 = m->HD / 2;
    for (int i = 0; i < h2; i++) {
        float a = (float)pos * m->inv_freq[i];
        cs[i] = cs[i + h2] = (float)cos((double)a);
        sn[i] = sn[i + h2] = (float)sin((double)a);
    }
}

int em_kv_parse(const char *s, em_kv_t *kv)
{
    if (!strcmp(s, "f32"))
        *kv = EM_KV_F32;
    else if (!strcmp(s, "f16"))
        *kv = EM_KV_F16;
    else if (!strcmp(s, "q8"))
        *kv = EM_KV_Q8;
    else
        return -EINVAL;
    return 0;
}

uint64_t em_kv_row_bytes(em_kv_t kv, int n_kv_heads, int head_dim)
{
    uint64_t kvd = (uint64_t)n_kv_heads * (uint64_t)head_dim;
    switch (kv) {
    case EM_KV_F16: return 2 * 2 * kvd;
    case EM_KV_Q8: return 2 * (kvd + 4 * (uint64_t)n_kv_heads);
    default: return 2 * 4 * kvd;
    }
}

/* RoPE on adjacent pairs (x[2i], x[2i+1]) with frequency i: the q/k rows of a llama GGUF
 * (llama.cpp permutes them so), equal to rotate-half on the original rows. */
static void em_rope_pairs(float *x, int n_heads, int head_dim, const float *cs, const float *sn)
{
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * head_dim;
        for (int i = 0; i < head_dim / 2; i++) {
            float a = v[2 * i], b = v[2 * i + 1];
            v[2 * i] = a * cs[i] - b * sn[i];
            v[2 * i + 1] = b * cs[i] + a * sn[i];
        }
    }
}

/* ---- open / close ------------------------------------------------------------------- */

static void *em_zalloc(size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 64))
        return NULL;
    memset(p, 0, n);
    return p;
}

static int em_read_small(em_model_t *m, const ew_tensor_t *t, float **dst, uint64_t *fixed, char *err,
                         size_t errlen)
{
    *dst = NULL;
    if (!t->present)
        return 0;
    size_t n = (size_t)t->rows * t->cols;
    if (!(*dst = em_zalloc(n * sizeof(float))))
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    *fixed += n * sizeof(float);
    return ew_read_f32(&m->w, t, *dst, err, errlen);
}

int em_open(em_model_t **out, const char *dir, const em_opts_t *opts, char *err, size_t errlen)
{
    uint64_t t0 = fu_now_ns();
    *out = NULL;
    em_model_t *m = calloc(1, sizeof *m);
    if (!m)
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    m->hint.fd = -1;
    m->o = *opts;
    if (m->o.n_threads <= 0)
        m->o.n_threads = 2;
    if (m->o.max_batch <= 0)
        m->o.max_batch = 128;
    ek_init(m->o.portable);
    int rc = ew_open(&m->w, dir, err, errlen);
    if (rc) {
        free(m);
        return rc;
    }
    m->c = &m->w.cfg;
    const hc_config_t *c = m->c;
    if (m->o.capacity <= 0 || m->o.capacity > (1 << 24)) {
        rc = fu_err(err, errlen, -EINVAL, "bad context capacity %d", m->o.capacity);
        goto fail;
    }
    if ((rc = ew_check_context(&m->w, m->o.capacity, err, errlen)))
        goto fail;
    m->H = c->hidden_size;
    m->F = c->intermediate_size;
    m->V = c->vocab_size;
    m->NH = c->num_attention_heads;
    m->NKV = c->num_key_value_heads;
    m->HD = c->head_dim;
    /* ew_open checked NH x HD and NKV x HD <= HC_MAX_DIM in 64 bits (hc_check_shapes) */
    m->QD = (int)((int64_t)m->NH * m->HD);
    m->KVD = (int)((int64_t)m->NKV * m->HD);
    m->B = m->o.max_batch < m->o.capacity ? m->o.max_batch : m->o.capacity;
    m->kv_dt = m->o.kv == EM_KV_F16 ? EK_F16 : EK_F32;
    m->q8 = m->o.kv == EM_KV_Q8;
    if (m->q8) {
        /* a token at position n-1 reads positions >= n - W from the ring; a batch writes up
         * to B rows, so W + B - 1 rows never overwrite one a token of the batch still reads */
        m->W = m->o.kv_window == 0 ? EM_KV_WINDOW : m->o.kv_window < 0 ? 0 : m->o.kv_window;
        if (m->W > m->o.capacity)
            m->W = m->o.capacity;
        m->R = m->W ? m->W + m->B - 1 : 0;
        if (m->R > m->o.capacity)
            m->R = m->o.capacity;
        /* a window as long as the context: every position a token reads is in the ring
         * (ring row p holds position p), so no int8 codes are needed */
        m->codes = m->W < m->o.capacity;
    }
    uint64_t fixed = 0;

    /* Small tensors, RoPE, KV cache, activations. */
    m->layers = calloc((size_t)c->num_hidden_layers, sizeof *m->layers);
    m->inv_freq = em_zalloc((size_t)m->HD / 2 * sizeof(float));
    if (!m->layers || !m->inv_freq) {
        rc = fu_err(err, errlen, -ENOMEM, "out of memory");
        goto fail;
    }
    em_rope_freqs(c, m->inv_freq);
    if ((rc = em_read_small(m, &m->w.norm, &m->final_norm, &fixed, err, errlen)))
        goto fail;
    /* per layer and cache (keys or values): the elements, and for q8 the scales */
    size_t kv_bytes = (size_t)m->o.capacity * m->KVD * (m->q8 ? (size_t)m->codes : ek_dtype_size(m->kv_dt));
    size_t kv_sbytes = m->q8 && m->codes ? (size_t)m->o.capacity * m->NKV * sizeof(float) : 0;
    size_t kv_rbytes = (size_t)m->R * m->KVD * sizeof(uint16_t);
    if (m->R) {
        if (!(m->rtag = malloc((size_t)m->R * sizeof *m->rtag))) {
            rc = fu_err(err, errlen, -ENOMEM, "out of memory");
            goto fail;
        }
        for (int i = 0; i < m->R; i++)
            m->rtag[i] = -1;
        fixed += (size_t)m->R * sizeof *m->rtag;
    }
    for (int l = 0; l < c->num_hidden_layers; l++) {
        em_layer_t *L = &m->layers[l];
        ew_layer_t *W = &m->w.layers[l];
        if ((rc = em_read_small(m, &W->attn_norm, &L->attn_norm, &fixed, err, errlen)) ||
            (rc = em_read_small(m, &W->ffn_norm, &L->ffn_norm, &fixed, err, errlen)))
            goto fail;
        for (int i = 0; i < EW_NMAT; i++)
            if ((rc = em_read_small(m, &W->bias[i], &L->bias[i], &fixed, err, errlen)))
                goto fail;
        int bad = 0;
        if (kv_bytes) {
            L->kc = em_zalloc(kv_bytes);
            L->vc = em_zalloc(kv_bytes);
            bad |= !L->kc || !L->vc;
        }
        if (kv_sbytes) {
            L->ks = em_zalloc(kv_sbytes);
            L->vs = em_zalloc(kv_sbytes);
            bad |= !L->ks || !L->vs;
        }
        if (m->R) {
            L->kr = em_zalloc(kv_rbytes);
            L->vr = em_zalloc(kv_rbytes);
            bad |= !L->kr || !L->vr;
        }
        size_t per_layer = 2 * (kv_bytes + kv_sbytes + kv_rbytes);
        if (bad) {
            rc = fu_err(err, errlen, -ENOMEM, "out of memory for the KV cache (%zu bytes per layer)",
                        per_layer);
            goto fail;
        }
        fixed += per_layer;
        m->info.kv_bytes += per_layer;
    }
    size_t B = (size_t)m->B;
    float **bufs[] = { &m->x, &m->xn, &m->q, &m->k, &m->v, &m->att, &m->g, &m->u, &m->cos_, &m->sin_ };
    size_t dims[] = { (size_t)m->H, (size_t)m->H, (size_t)m->QD, (size_t)m->KVD, (size_t)m->KVD,
                      (size_t)m->QD, (size_t)m->F, (size_t)m->F, (size_t)m->HD, (size_t)m->HD };
    for (size_t i = 0; i < sizeof dims / sizeof *dims; i++) {
        if (!(*bufs[i] = em_zalloc(B * dims[i] * sizeof(float)))) {
            rc = fu_err(err, errlen, -ENOMEM, "out of memory for activations");
            goto fail;
        }
        fixed += B * dims[i] * sizeof(float);
    }
    m->scores = em_zalloc((size_t)m->o.n_threads * (size_t)m->o.capacity * sizeof(float));
    m->logits = em_zalloc((size_t)m->V * sizeof(float));
    m->logits_rows = 1;
    if (!m->scores || !m->logits) {
        rc = fu_err(err, errlen, -ENOMEM, "out of memory");
        goto fail;
    }
    fixed += ((size_t)m->o.n_threads * (size_t)m->o.capacity + (size_t)m->V) * sizeof(float);

    /* Resident or streamed. */
    uint64_t total = 0;
    for (int l = 0; l <= c->num_hidden_layers; l++) {
        const ew_tensor_t *ts = l < c->num_hidden_layers ? m->w.layers[l].mat : &m->w.head;
        int n = l < c->num_hidden_layers ? EW_NMAT : 1;
        for (int i = 0; i < n; i++)
            total += ew_q_bytes(&ts[i]);
    }
    int stream = m->o.mode == EM_STREAM;
    uint64_t budget = 0;
    if (m->o.mode == EM_AUTO && m->o.ram && fixed + total > m->o.ram)
        stream = 1;
    if (stream && m->o.ram) {
        uint64_t need = fixed + el_slot_bytes(&m->w);
        if (need > m->o.ram) {
            char a[32], b[32];
            rc = fu_err(err, errlen, -ENOMEM,
                        "--ram %s is too small for this model: streaming needs at least %s "
                        "(two layer buffers, KV cache and activations)",
                        fu_format_size(m->o.ram, a, sizeof a), fu_format_size(need, b, sizeof b));
            goto fail;
        }
        budget = m->o.ram - need;
    }
    if ((rc = ep_create(m->o.n_threads, &m->pool))) {
        fu_err(err, errlen, rc, "cannot start %d threads", m->o.n_threads);
        goto fail;
    }
    if ((rc = el_create(&m->w, stream, budget, &m->ld, err, errlen)))
        goto fail;
    m->info.n_units = el_n_units(m->ld);
    m->info.n_resident = el_n_resident(m->ld);
    m->info.streaming = m->info.n_resident < m->info.n_units;
    /* streaming from a flashfs mount: say which layer comes next (docs/control.md, hint) */
    if (m->info.streaming && m->o.hint && eh_open(&m->hint, dir) == 0) {
        el_set_hint(m->ld, &m->hint);
        m->info.hinting = 1;
    }
    m->info.model_bytes = total;
    for (int u = 0; u < m->info.n_units; u++)
        if (el_is_resident(m->ld, u))
            m->info.resident_bytes += el_unit_bytes(m->ld, u);
    m->info.fixed_bytes = fixed;
    m->info.slot_bytes = el_slot_bytes(&m->w);
    m->info.kv = m->q8 ? "q8" : m->kv_dt == EK_F16 ? "f16" : "f32";
    m->info.kv_window = m->W;
    m->info.isa = ek_isa();
    m->info.load_ns = fu_now_ns() - t0;
    *out = m;
    return 0;
fail:
    em_close(m);
    return rc;
}

void em_close(em_model_t *m)
{
    if (!m)
        return;
    el_destroy(m->ld);
    eh_close(&m->hint);
    ep_destroy(m->pool);
    if (m->layers && m->c) {
        for (int l = 0; l < m->c->num_hidden_layers; l++) {
            em_layer_t *L = &m->layers[l];
            free(L->attn_norm);
            free(L->ffn_norm);
            for (int i = 0; i < EW_NMAT; i++)
                free(L->bias[i]);
            free(L->kc);
            free(L->vc);
            free(L->ks);
            free(L->vs);
            free(L->kr);
            free(L->vr);
        }
    }
    free(m->layers);
    free(m->final_norm);
    free(m->inv_freq);
    free(m->rtag);
    float *bufs[] = { m->x, m->xn, m->q, m->k, m->v, m->att, m->g, m->u, m->cos_, m->sin_,
                      m->scores, m->logits };
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]);
    ew_close(&m->w);
    free(m);
}

const hc_config_t *em_config(const em_model_t *m)
{
    return m->c;
}

int em_pos(const em_model_t *m)
{
    return m->pos;
}

void em_reset(em_model_t *m)
{
    m->pos = 0;
}

void em_truncate(em_model_t *m, int pos)
{
    if (pos >= 0 && pos <= m->pos)
        m->pos = pos;
}

uint64_t em_bytes_read(const em_model_t *m)
{
    return atomic_load(&m->w.bytes_read);
}

void em_info(const em_model_t *m, em_info_t *info)
{
    *info = m->info;
    info->hints_sent = m->hint.sent;
}

/* ---- attention ------------------------------------------------------------------------
 * One task per (token, head): scores over the cached positions 0..p (causal: a token sees
 * itself and earlier ones), softmax, weighted sum of the values. */
typedef struct {
    em_model_t *m;
    em_layer_t *L;
    int T, p0;
} em_att_job_t;

static void em_att_task(void *ctx, int ci, int cn, int tid)
{
    em_att_job_t *j = ctx;
    em_model_t *m = j->m;
    const int HD = m->HD, group = m->NH / m->NKV;
    const size_t es = ek_dtype_size(m->kv_dt);
    const float scale = 1.0f / sqrtf((float)HD);
    float *sc = m->scores + (size_t)tid * m->o.capacity;
    long lo, hi;
    ep_range((long)j->T * m->NH, ci, cn, 1, &lo, &hi);
    for (long task = lo; task < hi; task++) {
        int t = (int)(task / m->NH), h = (int)(task % m->NH), kvh = h / group;
        int n = j->p0 + t + 1;
        float *q = m->q + (size_t)t * m->QD + (size_t)h * HD;
        const int g16 = m->w.gguf && m->kv_dt == EK_F16;   /* ggml: f16 K/V take f16 inputs */
        if (g16)
            for (int i = 0; i < HD; i++)
                q[i] = ek_f16_to_f32(ek_f32_to_f16(q[i]));
        if (m->q8) {
            /* codes of head kvh at position p: [p][KVD] + kvh * HD, scale [p][NKV] + kvh;
             * positions >= n - W from the f16 ring when it holds them */
            const int8_t *kq = (const int8_t *)j->L->kc + (size_t)kvh * HD;
            const int8_t *vq = (const int8_t *)j->L->vc + (size_t)kvh * HD;
            const float *ks = j->L->ks + kvh, *vs = j->L->vs + kvh;
            const size_t row = (size_t)m->KVD, srow = (size_t)m->NKV;
            const uint16_t *kr = m->R ? j->L->kr + (size_t)kvh * HD : NULL;
            const uint16_t *vr = m->R ? j->L->vr + (size_t)kvh * HD : NULL;
            const int wlo = n - m->W;
            for (int p = 0; p < n; p++) {
                int slot = m->R ? p % m->R : 0;
                if (p >= wlo && m->R && m->rtag[slot] == p)
                    sc[p] = ek_dot(q, kr + (size_t)slot * row, EK_F16, HD) * scale;
                else
                    sc[p] = ek_dot_q8(q, kq + (size_t)p * row, HD) * ks[(size_t)p * srow] * scale;
            }
            ek_softmax(sc, n);
            float *o = m->att + (size_t)t * m->QD + (size_t)h * HD;
            memset(o, 0, (size_t)HD * sizeof(float));
            for (int p = 0; p < n; p++) {
                int slot = m->R ? p % m->R : 0;
                if (p >= wlo && m->R && m->rtag[slot] == p)
                    ek_axpy(o, sc[p], vr + (size_t)slot * row, EK_F16, HD);
                else
                    ek_axpy_q8(o, sc[p] * vs[(size_t)p * srow], vq + (size_t)p * row, HD);
            }
            continue;
        }
        const char *kc = (const char *)j->L->kc + (size_t)kvh * HD * es;
        const char *vc = (const char *)j->L->vc + (size_t)kvh * HD * es;
        const size_t row = (size_t)m->KVD * es;
        for (int p = 0; p < n; p++)
            sc[p] = ek_dot(q, kc + (size_t)p * row, m->kv_dt, HD) * scale;
        ek_softmax(sc, n);
        if (g16)
            for (int p = 0; p < n; p++)
                sc[p] = ek_f16_to_f32(ek_f32_to_f16(sc[p]));
        float *o = m->att + (size_t)t * m->QD + (size_t)h * HD;
        memset(o, 0, (size_t)HD * sizeof(float));
        for (int p = 0; p < n; p++)
            ek_axpy(o, sc[p], vc + (size_t)p * row, m->kv_dt, HD);
    }
}

/* ---- one layer over a batch of T tokens at positions p0.. ----------------------------- */

/* Matrix i of a unit from the loader's pointers (quantized: with its scales and biases). */
static void em_mat(ek_mat_t *w, const void *const *ptr, int i, const ew_tensor_t *t)
{
    memset(w, 0, sizeof *w);
    w->data = ptr[i];
    w->dt = t->dt;
    w->rows = t->rows;
    w->cols = t->cols;
    if (t->dt == EK_QAFF) {
        w->scales = ptr[EW_NMAT + i];
        w->biases = ptr[2 * EW_NMAT + i];
        w->sdt = t->qs->dt;
        w->bits = t->qbits;
        w->group = t->qgroup;
    }
}

static void em_layer(em_model_t *m, int l, const void *const *ptr, int T, int p0)
{
    em_layer_t *L = &m->layers[l];
    const ew_layer_t *W = &m->w.layers[l];
    ek_mat_t w[EW_NMAT];
    for (int i = 0; i < EW_NMAT; i++)
        em_mat(&w[i], ptr, i, &W->mat[i]);
    const float eps = (float)m->c->rms_norm_eps;
    const size_t H = (size_t)m->H;

    /* attention block */
    for (int t = 0; t < T; t++)
        ek_rmsnorm(m->xn + t * H, m->x + t * H, L->attn_norm, m->H, eps);
    {
        const ek_mat_t *mw[3] = { &w[EW_Q], &w[EW_K], &w[EW_V] };
        const float *mb[3] = { L->bias[EW_Q], L->bias[EW_K], L->bias[EW_V] };
        float *mo[3] = { m->q, m->k, m->v };
        const int ld[3] = { m->QD, m->KVD, m->KVD };
        ek_matmul_n(m->pool, 3, mw, mb, m->xn, T, mo, ld);
    }
    const size_t es = ek_dtype_size(m->kv_dt);
    for (int t = 0; t < T; t++) {
        float *q = m->q + (size_t)t * m->QD, *k = m->k + (size_t)t * m->KVD;
        if (m->w.rope_interleaved) {
            em_rope_pairs(q, m->NH, m->HD, m->cos_ + (size_t)t * m->HD, m->sin_ + (size_t)t * m->HD);
            em_rope_pairs(k, m->NKV, m->HD, m->cos_ + (size_t)t * m->HD, m->sin_ + (size_t)t * m->HD);
        } else {
            ek_rope(q, m->NH, m->HD, m->cos_ + (size_t)t * m->HD, m->sin_ + (size_t)t * m->HD);
            ek_rope(k, m->NKV, m->HD, m->cos_ + (size_t)t * m->HD, m->sin_ + (size_t)t * m->HD);
        }
        char *kd = (char *)L->kc + (size_t)(p0 + t) * m->KVD * es;
        char *vd = (char *)L->vc + (size_t)(p0 + t) * m->KVD * es;
        const float *v = m->v + (size_t)t * m->KVD;
        if (m->q8) {
            size_t p = (size_t)(p0 + t);
            int8_t *kq = (int8_t *)L->kc + p * m->KVD, *vq = (int8_t *)L->vc + p * m->KVD;
            for (int h = 0; m->codes && h < m->NKV; h++) {
                L->ks[p * m->NKV + h] = ek_q8_quant(kq + (size_t)h * m->HD, k + (size_t)h * m->HD, m->HD);
                L->vs[p * m->NKV + h] = ek_q8_quant(vq + (size_t)h * m->HD, v + (size_t)h * m->HD, m->HD);
            }
            if (m->R) {
                uint16_t *kr = L->kr + (p % (size_t)m->R) * m->KVD, *vr = L->vr + (p % (size_t)m->R) * m->KVD;
                for (int i = 0; i < m->KVD; i++) {
                    kr[i] = ek_f32_to_f16(k[i]);
                    vr[i] = ek_f32_to_f16(v[i]);
                }
            }
        } else if (m->kv_dt == EK_F32) {
            memcpy(kd, k, (size_t)m->KVD * 4);
            memcpy(vd, v, (size_t)m->KVD * 4);
        } else {
            for (int i = 0; i < m->KVD; i++) {
                ((uint16_t *)kd)[i] = ek_f32_to_f16(k[i]);
                ((uint16_t *)vd)[i] = ek_f32_to_f16(v[i]);
            }
        }
    }
    em_att_job_t aj = { m, L, T, p0 };
    long tasks = (long)T * m->NH, chunks = 4l * ep_threads(m->pool);
    if (tasks * (p0 + T) * m->HD < 16384)
        chunks = 1;
    ep_run(m->pool, (int)(tasks < chunks ? tasks : chunks), em_att_task, &aj);
    ek_matmul(m->pool, &w[EW_O], L->bias[EW_O], m->att, T, m->x, m->H, 1);

    /* MLP block */
    for (int t = 0; t < T; t++)
        ek_rmsnorm(m->xn + t * H, m->x + t * H, L->ffn_norm, m->H, eps);
    {
        const ek_mat_t *mw[2] = { &w[EW_GATE], &w[EW_UP] };
        const float *mb[2] = { L->bias[EW_GATE], L->bias[EW_UP] };
        float *mo[2] = { m->g, m->u };
        const int ld[2] = { m->F, m->F };
        ek_matmul_n(m->pool, 2, mw, mb, m->xn, T, mo, ld);
    }
    ek_silu_mul(m->g, m->u, (size_t)T * (size_t)m->F);
    if (m->w.gguf && w[EW_DOWN].dt == EK_F16)   /* as ggml: f16 weights take f16 inputs */
        for (size_t i = 0; i < (size_t)T * (size_t)m->F; i++)
            m->g[i] = ek_f16_to_f32(ek_f32_to_f16(m->g[i]));
    ek_matmul(m->pool, &w[EW_DOWN], L->bias[EW_DOWN], m->g, T, m->x, m->H, 1);
}

/* ---- forward ------------------------------------------------------------------------- */

static int em_batch(em_model_t *m, const int32_t *ids, int T, float *logits, int all, char *err,
                    size_t errlen)
{
    const int p0 = m->pos, nl = m->c->num_hidden_layers;
    int rc;
    for (int t = 0; t < T; t++) {
        if ((rc = ew_read_rows_f32(&m->w, &m->w.embed, ids[t], 1, m->x + (size_t)t * m->H, err, errlen)))
            return rc;
        em_rope_row(m, p0 + t, m->cos_ + (size_t)t * m->HD, m->sin_ + (size_t)t * m->HD);
    }
    /* q8: the ring rows of this batch's positions (every layer writes them before its attention) */
    for (int t = 0; m->R && t < T; t++)
        m->rtag[(p0 + t) % m->R] = p0 + t;
    const void *ptr[EL_MAX_ITEMS];
    for (int l = 0; l < nl; l++) {
        if ((rc = el_acquire(m->ld, l, ptr, err, errlen)))
            return rc;
        em_layer(m, l, ptr, T, p0);
        el_release(m->ld, l);
    }
    /* final norm and head: every token, or only the last */
    int first = all ? 0 : T - 1, n = T - first;
    for (int t = first; t < T; t++)
        ek_rmsnorm(m->xn + (size_t)(t - first) * m->H, m->x + (size_t)t * m->H, m->final_norm, m->H,
                   (float)m->c->rms_norm_eps);
    if ((rc = el_acquire(m->ld, nl, ptr, err, errlen)))
        return rc;
    ek_mat_t head;
    em_mat(&head, ptr, 0, &m->w.head);
    ek_matmul(m->pool, &head, NULL, m->xn, n, logits, m->V, 0);
    el_release(m->ld, nl);
    m->pos += T;
    return 0;
}

int em_forward(em_model_t *m, const int32_t *ids, int T, int all_logits, const float **logits,
               char *err, size_t errlen)
{
    if (T <= 0)
        return fu_err(err, errlen, -EINVAL, "no tokens");
    if (T > m->o.capacity - m->pos)
        return fu_err(err, errlen, -ENOSPC, "context full: %d + %d tokens > %d", m->pos, T, m->o.capacity);
    for (int t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= m->V)
            return fu_err(err, errlen, -EINVAL, "token id %d out of range (vocab %d)", (int)ids[t], m->V);
    int rows = all_logits ? T : 1;
    if (rows > m->logits_rows) {
        float *nl = em_zalloc((size_t)rows * m->V * sizeof(float));
        if (!nl)
            return fu_err(err, errlen, -ENOMEM, "out of memory for logits");
        free(m->logits);
        m->logits = nl;
        m->logits_rows = rows;
    }
    for (int done = 0; done < T;) {
        int n = T - done < m->B ? T - done : m->B;
        float *dst = all_logits ? m->logits + (size_t)done * m->V : m->logits;
        int rc = em_batch(m, ids + done, n, dst, all_logits, err, errlen);
        if (rc)
            return rc;
        done += n;
    }
    *logits = m->logits;
    return 0;
}
