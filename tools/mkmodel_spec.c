/* mkmodel_spec.c — presets with real model shapes and the tensor list of a model. */
#include "mkmodel.h"
#include "fu_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- presets ------------------------------------------------------------------------
 * Shapes from the published config.json of each model. The vocabulary is not taken from
 * the preset (the bundled tokenizer decides it, see mm_preset); real_vocab documents it. */

typedef struct {
    const char *name, *type;
    int hidden, layers, heads, kv_heads, head_dim, ffn, real_vocab, max_pos;
    double rope_theta, rms_eps;
    const char *rope_type;
    double factor, low, high;
    int orig_max, tie, bias, sliding;
} preset_t;

static const preset_t presets[] = {
    { "llama-3.2-1b", "llama", 2048, 16, 32, 8, 64, 8192, 128256, 131072,
      500000.0, 1e-5, "llama3", 32.0, 1.0, 4.0, 8192, 1, 0, 0 },
    { "llama-3.2-3b", "llama", 3072, 28, 24, 8, 128, 8192, 128256, 131072,
      500000.0, 1e-5, "llama3", 32.0, 1.0, 4.0, 8192, 1, 0, 0 },
    { "llama-3.1-8b", "llama", 4096, 32, 32, 8, 128, 14336, 128256, 131072,
      500000.0, 1e-5, "llama3", 8.0, 1.0, 4.0, 8192, 0, 0, 0 },
    { "qwen2.5-0.5b", "qwen2", 896, 24, 14, 2, 64, 4864, 151936, 32768,
      1000000.0, 1e-6, "default", 1.0, 0, 0, 0, 1, 1, 32768 },
    { "mistral-7b", "mistral", 4096, 32, 32, 8, 128, 14336, 32768, 32768,
      1000000.0, 1e-5, "default", 1.0, 0, 0, 0, 0, 0, 0 },
    /* small models for tests: a Llama with GQA, and a Qwen2 with biases and tied head */
    { "tiny", "llama", 64, 2, 4, 2, 16, 160, 0, 256,
      10000.0, 1e-5, "default", 1.0, 0, 0, 0, 0, 0, 0 },
    { "tiny-qwen2", "qwen2", 64, 2, 4, 2, 16, 176, 0, 256,
      1000000.0, 1e-6, "default", 1.0, 0, 0, 0, 1, 1, 0 },
};

const char *const mm_preset_names[] = {
    "llama-3.2-1b", "llama-3.2-3b", "llama-3.1-8b", "qwen2.5-0.5b", "mistral-7b",
    "tiny", "tiny-qwen2", NULL
};

int mm_preset(const char *name, mm_spec_t *s)
{
    for (size_t i = 0; i < sizeof presets / sizeof *presets; i++) {
        const preset_t *p = &presets[i];
        if (strcasecmp(p->name, name) != 0)
            continue;
        memset(s, 0, sizeof *s);
        snprintf(s->name, sizeof s->name, "%s", p->name);
        snprintf(s->model_type, sizeof s->model_type, "%s", p->type);
        s->hidden = p->hidden;
        s->layers = p->layers;
        s->heads = p->heads;
        s->kv_heads = p->kv_heads;
        s->head_dim = p->head_dim;
        s->ffn = p->ffn;
        s->vocab = 0;
        s->real_vocab = p->real_vocab;
        s->max_pos = p->max_pos;
        s->rope_theta = p->rope_theta;
        s->rms_eps = p->rms_eps;
        snprintf(s->rope_type, sizeof s->rope_type, "%s", p->rope_type);
        s->rope_factor = p->factor;
        s->rope_low_freq = p->low;
        s->rope_high_freq = p->high;
        s->rope_orig_max_pos = p->orig_max;
        s->tie = p->tie;
        s->qkv_bias = p->bias;
        s->sliding_window = p->sliding;
        return 0;
    }
    return -ENOENT;
}

int mm_spec_check(mm_spec_t *s, char *err, size_t errlen)
{
    if (!s->name[0])
        snprintf(s->name, sizeof s->name, "custom");
    if (!s->model_type[0])
        snprintf(s->model_type, sizeof s->model_type, "llama");
    if (strcmp(s->model_type, "llama") && strcmp(s->model_type, "mistral") &&
        strcmp(s->model_type, "qwen2"))
        return fu_err(err, errlen, -EINVAL, "model type '%s': llama, mistral or qwen2", s->model_type);
    if (!s->rope_type[0])
        snprintf(s->rope_type, sizeof s->rope_type, "default");
    if (s->kv_heads <= 0)
        s->kv_heads = s->heads;
    /* bounds keep every product below 2^40 elements and the names short */
    const struct { const char *n; int v, max; } f[] = {
        { "hidden", s->hidden, 1 << 17 }, { "layers", s->layers, 10000 },
        { "heads", s->heads, 1024 }, { "kv-heads", s->kv_heads, 1024 },
        { "ffn", s->ffn, 1 << 19 }, { "vocab", s->vocab, 1 << 22 },
    };
    for (size_t i = 0; i < sizeof f / sizeof *f; i++)
        if (f[i].v <= 0 || f[i].v > f[i].max)
            return fu_err(err, errlen, -EINVAL, "--%s %d: must be in 1..%d", f[i].n, f[i].v, f[i].max);
    if (s->head_dim <= 0) {
        if (s->hidden % s->heads)
            return fu_err(err, errlen, -EINVAL, "--hidden %d is not a multiple of --heads %d",
                          s->hidden, s->heads);
        s->head_dim = s->hidden / s->heads;
    }
    if (s->head_dim % 2 || s->head_dim > 4096)
        return fu_err(err, errlen, -EINVAL, "head dim %d: must be even and at most 4096", s->head_dim);
    if (s->heads % s->kv_heads)
        return fu_err(err, errlen, -EINVAL, "--heads %d is not a multiple of --kv-heads %d",
                      s->heads, s->kv_heads);
    if (s->max_pos <= 0)
        s->max_pos = 4096;
    if (s->rope_theta <= 0)
        s->rope_theta = 10000.0;
    if (s->rms_eps <= 0)
        s->rms_eps = 1e-5;
    if (strcmp(s->model_type, "qwen2") == 0)
        s->qkv_bias = 1;
    return 0;
}

/* ---- tensors --------------------------------------------------------------------------- */

/* 64-bit FNV-1a: the stream key of a tensor, from its name. */
static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

typedef struct {
    mm_tensor_t *v;
    size_t n, cap;
    int err;
} tl_t;

static void add(tl_t *l, const char *hf, const char *gg, uint64_t rows, uint64_t cols,
                int ndim, mm_init_t init, int permute, int layer)
{
    if (l->err)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        mm_tensor_t *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            l->err = -ENOMEM;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    mm_tensor_t *t = &l->v[l->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->hf_name, sizeof t->hf_name, "%s", hf);
    snprintf(t->gg_name, sizeof t->gg_name, "%s", gg);
    t->ndim = ndim;
    t->rows = ndim == 1 ? 1 : rows;
    t->cols = cols;
    t->init = init;
    t->permute_heads = permute;
    t->layer = layer;
    t->id = fnv1a(hf[0] ? hf : gg);
}

/* One decoder layer. HF state-dict order is attention (q, k, v, o), MLP (gate, up, down),
 * then the two norms; GGUF files written here use execution order (norm before the
 * block it normalizes). Only the llama family permutes q/k rows in GGUF (llama.cpp
 * applies rope to adjacent pairs; qwen2 uses the NEOX form and needs no permutation). */
static void add_layer(tl_t *l, const mm_spec_t *s, int i, int gguf)
{
    char hf[96], gg[64];
    uint64_t H = (uint64_t)s->hidden, F = (uint64_t)s->ffn;
    uint64_t Q = (uint64_t)s->heads * (uint64_t)s->head_dim;
    uint64_t KV = (uint64_t)s->kv_heads * (uint64_t)s->head_dim;
    int perm = strcmp(s->model_type, "qwen2") != 0;
    const char *proj[3] = { "q", "k", "v" };
    const char *ggp[3] = { "attn_q", "attn_k", "attn_v" };
    uint64_t prow[3] = { Q, KV, KV };
    int pperm[3] = { perm ? s->heads : 0, perm ? s->kv_heads : 0, 0 };

#define ADD(HFN, GGN, R, C, ND, INIT, PERM) do { \
        snprintf(hf, sizeof hf, "model.layers.%d.%s", i, HFN); \
        snprintf(gg, sizeof gg, "blk.%d.%s", i, GGN); \
        add(l, hf, gg, R, C, ND, INIT, PERM, i); } while (0)

    if (gguf)
        ADD("input_layernorm.weight", "attn_norm.weight", 1, H, 1, MM_INIT_NORM, 0);
    for (int p = 0; p < 3; p++) {
        char a[40], b[32];
        snprintf(a, sizeof a, "self_attn.%s_proj.weight", proj[p]);
        snprintf(b, sizeof b, "%s.weight", ggp[p]);
        ADD(a, b, prow[p], H, 2, MM_INIT_WEIGHT, pperm[p]);
        if (s->qkv_bias) {
            snprintf(a, sizeof a, "self_attn.%s_proj.bias", proj[p]);
            snprintf(b, sizeof b, "%s.bias", ggp[p]);
            ADD(a, b, 1, prow[p], 1, MM_INIT_BIAS, 0);
        }
    }
    ADD("self_attn.o_proj.weight", "attn_output.weight", H, Q, 2, MM_INIT_WEIGHT, 0);
    if (gguf)
        ADD("post_attention_layernorm.weight", "ffn_norm.weight", 1, H, 1, MM_INIT_NORM, 0);
    ADD("mlp.gate_proj.weight", "ffn_gate.weight", F, H, 2, MM_INIT_WEIGHT, 0);
    ADD("mlp.up_proj.weight", "ffn_up.weight", F, H, 2, MM_INIT_WEIGHT, 0);
    ADD("mlp.down_proj.weight", "ffn_down.weight", H, F, 2, MM_INIT_WEIGHT, 0);
    if (!gguf) {
        ADD("input_layernorm.weight", "attn_norm.weight", 1, H, 1, MM_INIT_NORM, 0);
        ADD("post_attention_layernorm.weight", "ffn_norm.weight", 1, H, 1, MM_INIT_NORM, 0);
    }
#undef ADD
}

int mm_tensors(const mm_spec_t *s, int gguf, mm_tensor_t **out, size_t *n)
{
    tl_t l = { 0 };
    uint64_t H = (uint64_t)s->hidden, V = (uint64_t)s->vocab;
    add(&l, "model.embed_tokens.weight", "token_embd.weight", V, H, 2, MM_INIT_WEIGHT, 0, -1);
    if (gguf && strcmp(s->rope_type, "llama3") == 0)
        add(&l, "", "rope_freqs.weight", 1, (uint64_t)s->head_dim / 2, 1, MM_INIT_ROPE_FREQS, 0, -1);
    for (int i = 0; i < s->layers; i++)
        add_layer(&l, s, i, gguf);
    add(&l, "model.norm.weight", "output_norm.weight", 1, H, 1, MM_INIT_NORM, 0, -1);
    if (!s->tie)
        add(&l, "lm_head.weight", "output.weight", V, H, 2, MM_INIT_WEIGHT, 0, -1);
    if (l.err) {
        free(l.v);
        return l.err;
    }
    *out = l.v;
    *n = l.n;
    return 0;
}

uint64_t mm_numel(const mm_tensor_t *t)
{
    return t->rows * t->cols;
}

size_t mm_dtype_size(mm_dtype_t d)
{
    return d == MM_F32 ? 4 : 2;
}

int mm_dtype_parse(const char *s)
{
    if (!strcasecmp(s, "bf16") || !strcasecmp(s, "bfloat16"))
        return MM_BF16;
    if (!strcasecmp(s, "f16") || !strcasecmp(s, "fp16") || !strcasecmp(s, "float16"))
        return MM_F16;
    if (!strcasecmp(s, "f32") || !strcasecmp(s, "fp32") || !strcasecmp(s, "float32"))
        return MM_F32;
    return -1;
}
