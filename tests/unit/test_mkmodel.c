/* test_mkmodel.c — flashfs-mkmodel's writers checked with the project's own parsers:
 * tiny presets as Hugging Face folders (config, shards, index) and as GGUF (metadata,
 * tensors, tokenizer metadata against the converter-written demo GGUF), byte-level
 * determinism, and the element-type conversions. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf.h"
#include "hf_config.h"
#include "hf_index.h"
#include "layout.h"
#include "mkmodel.h"
#include "safetensors.h"

#define DEMO "tests/fixtures/demo"
#define DEMO_GGUF "tests/fixtures/gguf/demo-bf16.gguf"

/* ---- helpers ------------------------------------------------------------------------ */

static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static void tmpdir(char *buf, size_t len)
{
    snprintf(buf, len, "/tmp/ffs-mkmodel-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(buf));
}

/* Options for a preset with the demo tokenizer (vocabulary = the tokenizer's). */
static mm_opts_t opts(const char *preset, uint64_t seed, mm_dtype_t dt, uint64_t shard,
                      mm_vocab_t *v)
{
    mm_opts_t o;
    char err[256] = "";
    memset(&o, 0, sizeof o);
    ck_assert_int_eq(mm_preset(preset, &o.spec), 0);
    ck_assert_msg(mm_vocab_load(DEMO, v, err, sizeof err) == 0, "%s", err);
    o.spec.vocab = (int)v->n_tokens;
    ck_assert_msg(mm_spec_check(&o.spec, err, sizeof err) == 0, "%s", err);
    o.dtype = dt;
    o.seed = seed;
    o.shard_size = shard;
    o.tokenizer_dir = DEMO;
    o.threads = 2;
    o.bos = v->bos;
    o.eos = v->eos;
    return o;
}

static char *slurp(const char *path, size_t *len)
{
    char *buf = NULL;
    ck_assert_int_eq(fu_read_file(path, 1u << 30, &buf, len), 0);
    return buf;
}

static void path_of(char *out, size_t len, const char *dir, const char *name)
{
    int n = snprintf(out, len, "%s/%s", dir, name);
    ck_assert(n > 0 && (size_t)n < len);
}

/* Mean and standard deviation of n bf16 values. */
static void bf16_stats(const uint16_t *v, size_t n, double *mean, double *sd)
{
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)v[i] << 16;
        float f;
        memcpy(&f, &u, 4);
        s += f;
        s2 += (double)f * f;
    }
    *mean = s / (double)n;
    *sd = sqrt(s2 / (double)n - *mean * *mean);
}

/* ---- Hugging Face folder -------------------------------------------------------------- */

/* Check a written HF folder against the spec: config, index, every tensor. */
static void check_hf(const char *dir, const mm_opts_t *o, int expect_index)
{
    char p[4096], err[256] = "";
    hc_config_t c;
    path_of(p, sizeof p, dir, "config.json");
    ck_assert_msg(hc_load(p, &c, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(c.model_type, o->spec.model_type);
    ck_assert_int_eq(c.hidden_size, o->spec.hidden);
    ck_assert_int_eq(c.num_hidden_layers, o->spec.layers);
    ck_assert_int_eq(c.num_attention_heads, o->spec.heads);
    ck_assert_int_eq(c.num_key_value_heads, o->spec.kv_heads);
    ck_assert_int_eq(c.head_dim, o->spec.head_dim);
    ck_assert_int_eq(c.intermediate_size, o->spec.ffn);
    ck_assert_int_eq(c.vocab_size, o->spec.vocab);
    ck_assert_int_eq(c.tie_word_embeddings, o->spec.tie);
    ck_assert_int_eq(c.attention_bias, o->spec.qkv_bias);
    ck_assert(fabs(c.rope_theta - o->spec.rope_theta) < 1e-6 * o->spec.rope_theta);
    ck_assert(fabs(c.rms_norm_eps - o->spec.rms_eps) < 1e-12);
    ck_assert_int_eq(c.bos_token_id, o->bos);
    ck_assert_int_eq(c.n_eos, 1);
    ck_assert_int_eq(c.eos_token_ids[0], o->eos);
    /* the tokenizer was copied */
    path_of(p, sizeof p, dir, "tokenizer.json");
    ck_assert_int_eq(access(p, R_OK), 0);

    mm_tensor_t *t;
    size_t nt;
    ck_assert_int_eq(mm_tensors(&o->spec, 0, &t, &nt), 0);
    hi_index_t ix = { 0 };
    path_of(p, sizeof p, dir, "model.safetensors.index.json");
    int have_index = access(p, F_OK) == 0;
    ck_assert_int_eq(have_index, expect_index);
    if (have_index) {
        ck_assert_msg(hi_load(p, &ix, err, sizeof err) == 0, "%s", err);
        ck_assert_uint_eq(ix.n_entries, nt);
    }
    size_t nfiles = have_index ? ix.n_files : 1;
    uint64_t data_total = 0;
    size_t seen = 0;
    for (size_t f = 0; f < nfiles; f++) {
        st_file_t sf;
        path_of(p, sizeof p, dir, have_index ? ix.files[f] : "model.safetensors");
        ck_assert_msg(st_parse_path(p, &sf, err, sizeof err) == 0, "%s: %s", p, err);
        ck_assert_uint_eq(sf.data_start % 8, 0);
        data_total += sf.file_size - sf.data_start;
        for (size_t i = 0; i < sf.n_tensors; i++) {
            /* sorted by name on disk, as the safetensors library writes */
            if (i > 0)
                ck_assert_int_lt(strcmp(sf.tensors[i - 1].name, sf.tensors[i].name), 0);
            if (have_index)
                ck_assert_str_eq(hi_file_for(&ix, sf.tensors[i].name), ix.files[f]);
        }
        for (size_t i = 0; i < nt; i++) {
            const st_tensor_t *x = st_find(&sf, t[i].hf_name);
            if (!x)
                continue;
            seen++;
            ck_assert_int_eq(x->dtype, o->dtype == MM_BF16 ? ST_DT_BF16 :
                                       o->dtype == MM_F16 ? ST_DT_F16 : ST_DT_F32);
            ck_assert_int_eq(x->ndim, t[i].ndim);
            if (t[i].ndim == 2) {
                ck_assert_uint_eq(x->shape[0], t[i].rows);
                ck_assert_uint_eq(x->shape[1], t[i].cols);
            } else {
                ck_assert_uint_eq(x->shape[0], t[i].cols);
            }
        }
        st_free(&sf);
    }
    ck_assert_uint_eq(seen, nt);                   /* every tensor exactly once */
    if (have_index)
        ck_assert_uint_eq(ix.total_size, data_total);
    hi_free(&ix);
    free(t);
}

START_TEST(hf_tiny_sharded)
{
    mm_vocab_t v;
    char dir[64], err[256] = "";
    tmpdir(dir, sizeof dir);
    mm_opts_t o = opts("tiny", 7, MM_BF16, 256 * 1024, &v);
    ck_assert_msg(mm_write_hf(&o, dir, err, sizeof err) == 0, "%s", err);
    check_hf(dir, &o, 1);

    /* the names and shapes are the transformers ones */
    char p[4096];
    st_file_t sf;
    hi_index_t ix;
    path_of(p, sizeof p, dir, "model.safetensors.index.json");
    ck_assert_int_eq(hi_load(p, &ix, err, sizeof err), 0);
    ck_assert_uint_gt(ix.n_files, 1);
    path_of(p, sizeof p, dir, hi_file_for(&ix, "model.layers.1.self_attn.k_proj.weight"));
    ck_assert_int_eq(st_parse_path(p, &sf, err, sizeof err), 0);
    const st_tensor_t *k = st_find(&sf, "model.layers.1.self_attn.k_proj.weight");
    ck_assert_ptr_nonnull(k);
    ck_assert_uint_eq(k->shape[0], (uint64_t)o.spec.kv_heads * o.spec.head_dim);
    ck_assert_uint_eq(k->shape[1], (uint64_t)o.spec.hidden);
    st_free(&sf);

    /* value statistics: weights ~ N(0, 0.02), norm weights ~ 1 */
    path_of(p, sizeof p, dir, hi_file_for(&ix, "model.embed_tokens.weight"));
    ck_assert_int_eq(st_parse_path(p, &sf, err, sizeof err), 0);
    const st_tensor_t *e = st_find(&sf, "model.embed_tokens.weight");
    size_t len;
    char *raw = slurp(p, &len);
    double mean, sd;
    bf16_stats((const uint16_t *)(raw + e->offset), e->length / 2, &mean, &sd);
    ck_assert_msg(fabs(mean) < 0.001 && fabs(sd - 0.02) < 0.001, "embed mean %g sd %g", mean, sd);
    free(raw);
    st_free(&sf);
    path_of(p, sizeof p, dir, hi_file_for(&ix, "model.norm.weight"));
    ck_assert_int_eq(st_parse_path(p, &sf, err, sizeof err), 0);
    e = st_find(&sf, "model.norm.weight");
    raw = slurp(p, &len);
    bf16_stats((const uint16_t *)(raw + e->offset), e->length / 2, &mean, &sd);
    ck_assert_msg(fabs(mean - 1) < 0.01 && sd > 0.005 && sd < 0.04, "norm mean %g sd %g", mean, sd);
    free(raw);
    st_free(&sf);
    hi_free(&ix);
    mm_vocab_free(&v);
    rm_tree(dir);
}
END_TEST

START_TEST(hf_qwen2_single_file)
{
    mm_vocab_t v;
    char dir[64], err[256] = "";
    tmpdir(dir, sizeof dir);
    mm_opts_t o = opts("tiny-qwen2", 1, MM_F32, 5000000000ull, &v);
    ck_assert_msg(mm_write_hf(&o, dir, err, sizeof err) == 0, "%s", err);
    check_hf(dir, &o, 0);
    char p[4096];
    st_file_t sf;
    path_of(p, sizeof p, dir, "model.safetensors");
    ck_assert_int_eq(st_parse_path(p, &sf, err, sizeof err), 0);
    ck_assert_ptr_nonnull(st_find(&sf, "model.layers.0.self_attn.q_proj.bias"));
    ck_assert_ptr_null(st_find(&sf, "lm_head.weight"));          /* tied */
    st_free(&sf);
    mm_vocab_free(&v);
    rm_tree(dir);
}
END_TEST

/* Every regular file of two folders has identical bytes (or not). */
static int same_files(const char *a, const char *b)
{
    DIR *d = opendir(a);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int same = 1, n = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char pa[4096], pb[4096];
        path_of(pa, sizeof pa, a, e->d_name);
        path_of(pb, sizeof pb, b, e->d_name);
        size_t la, lb;
        char *x = slurp(pa, &la), *y = slurp(pb, &lb);
        if (la != lb || memcmp(x, y, la) != 0)
            same = 0;
        free(x);
        free(y);
        n++;
    }
    closedir(d);
    ck_assert_int_gt(n, 3);
    return same;
}

START_TEST(deterministic)
{
    mm_vocab_t v;
    char a[64], b[64], c[64], err[256] = "";
    tmpdir(a, sizeof a);
    tmpdir(b, sizeof b);
    tmpdir(c, sizeof c);
    mm_opts_t o = opts("tiny", 42, MM_BF16, 300 * 1024, &v);
    ck_assert_msg(mm_write_hf(&o, a, err, sizeof err) == 0, "%s", err);
    o.threads = 1;                                   /* thread count must not matter */
    ck_assert_msg(mm_write_hf(&o, b, err, sizeof err) == 0, "%s", err);
    o.seed = 43;
    o.threads = 2;
    ck_assert_msg(mm_write_hf(&o, c, err, sizeof err) == 0, "%s", err);
    ck_assert(same_files(a, b));
    ck_assert(!same_files(a, c));
    mm_vocab_free(&v);
    rm_tree(a);
    rm_tree(b);
    rm_tree(c);
}
END_TEST

/* ---- GGUF ------------------------------------------------------------------------------ */

static const gg_kv_t *kv(const gg_file_t *g, const char *key)
{
    const gg_kv_t *k = gg_find_kv(g, key);
    ck_assert_msg(k != NULL, "missing %s", key);
    return k;
}

START_TEST(gguf_tiny)
{
    mm_vocab_t v;
    char dir[64], path[128], err[256] = "";
    tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/model.gguf", dir);
    mm_opts_t o = opts("tiny", 7, MM_BF16, 0, &v);
    ck_assert_msg(mm_write_gguf(&o, &v, path, err, sizeof err) == 0, "%s", err);

    gg_file_t g, demo;
    ck_assert_msg(gg_parse_path(path, &g, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(gg_parse_path(DEMO_GGUF, &demo, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(g.version, 3);
    ck_assert_uint_eq(g.alignment, 32);
    ck_assert_uint_eq(kv(&g, "general.alignment")->num.u, 32);
    ck_assert_uint_eq(g.data_start % 32, 0);
    ck_assert_str_eq(kv(&g, "general.architecture")->str, "llama");
    ck_assert_uint_eq(kv(&g, "llama.block_count")->num.u, (uint64_t)o.spec.layers);
    ck_assert_uint_eq(kv(&g, "llama.embedding_length")->num.u, (uint64_t)o.spec.hidden);
    ck_assert_uint_eq(kv(&g, "llama.feed_forward_length")->num.u, (uint64_t)o.spec.ffn);
    ck_assert_uint_eq(kv(&g, "llama.attention.head_count")->num.u, (uint64_t)o.spec.heads);
    ck_assert_uint_eq(kv(&g, "llama.attention.head_count_kv")->num.u, (uint64_t)o.spec.kv_heads);
    ck_assert_uint_eq(kv(&g, "llama.context_length")->num.u, (uint64_t)o.spec.max_pos);
    ck_assert(fabs(kv(&g, "llama.rope.freq_base")->num.f - o.spec.rope_theta) < 1e-3);
    ck_assert(fabs(kv(&g, "llama.attention.layer_norm_rms_epsilon")->num.f - o.spec.rms_eps) < 1e-9);

    /* tokenizer metadata: as llama.cpp's converter wrote it for the same tokenizer */
    const char *same_kv[] = { "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens",
                              "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
                              "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                              "general.file_type" };
    for (size_t i = 0; i < sizeof same_kv / sizeof *same_kv; i++) {
        const gg_kv_t *a = kv(&g, same_kv[i]), *b = kv(&demo, same_kv[i]);
        ck_assert_uint_eq(a->type, b->type);
        ck_assert_uint_eq(a->arr_len, b->arr_len);
        ck_assert_uint_eq(a->num.u, b->num.u);
        if (a->str)
            ck_assert_str_eq(a->str, b->str);
    }
    /* array contents: compare the raw bytes of tokens .. merges (contiguous, same order) */
    const gg_kv_t *ta = kv(&g, "tokenizer.ggml.tokens"), *tb = kv(&demo, "tokenizer.ggml.tokens");
    const gg_kv_t *ma = kv(&g, "tokenizer.ggml.bos_token_id"), *mb = kv(&demo, "tokenizer.ggml.bos_token_id");
    size_t la, lb;
    char *fa = slurp(path, &la), *fb = slurp(DEMO_GGUF, &lb);
    uint64_t na = ma->value_offset - ta->value_offset, nb = mb->value_offset - tb->value_offset;
    ck_assert_uint_eq(na, nb);
    ck_assert(memcmp(fa + ta->value_offset, fb + tb->value_offset, na) == 0);

    /* tensors: names, ne (HF shape reversed), types (1-D F32), aligned offsets */
    mm_tensor_t *t;
    size_t nt;
    ck_assert_int_eq(mm_tensors(&o.spec, 1, &t, &nt), 0);
    ck_assert_uint_eq(g.n_tensors, nt);
    for (size_t i = 0; i < nt; i++) {
        const gg_tensor_t *x = &g.tensors[i];
        ck_assert_str_eq(x->name, t[i].gg_name);
        ck_assert_uint_eq(x->n_dims, (uint32_t)t[i].ndim);
        ck_assert_uint_eq(x->ne[0], t[i].cols);
        if (t[i].ndim == 2)
            ck_assert_uint_eq(x->ne[1], t[i].rows);
        ck_assert_uint_eq(x->type, t[i].ndim == 1 ? 0 : 30);
        ck_assert_uint_eq((x->offset - g.data_start) % 32, 0);
        /* the demo GGUF has a tensor of the same name: same type */
        for (uint64_t j = 0; j < demo.n_tensors; j++)
            if (!strcmp(demo.tensors[j].name, x->name))
                ck_assert_uint_eq(demo.tensors[j].type, x->type);
    }
    ck_assert_str_eq(g.tensors[0].name, "token_embd.weight");

    /* the same seed as safetensors gives the same values: v unpermuted, q row-permuted */
    char hdir[64];
    tmpdir(hdir, sizeof hdir);
    o.shard_size = 5000000000ull;
    ck_assert_msg(mm_write_hf(&o, hdir, err, sizeof err) == 0, "%s", err);
    char sp[4096];
    st_file_t sf;
    path_of(sp, sizeof sp, hdir, "model.safetensors");
    ck_assert_int_eq(st_parse_path(sp, &sf, err, sizeof err), 0);
    size_t ls;
    char *fs = slurp(sp, &ls);
    const st_tensor_t *sv = st_find(&sf, "model.layers.1.self_attn.v_proj.weight");
    const st_tensor_t *sq = st_find(&sf, "model.layers.1.self_attn.q_proj.weight");
    const gg_tensor_t *gv = NULL, *gq = NULL;
    for (uint64_t j = 0; j < g.n_tensors; j++) {
        if (!strcmp(g.tensors[j].name, "blk.1.attn_v.weight"))
            gv = &g.tensors[j];
        if (!strcmp(g.tensors[j].name, "blk.1.attn_q.weight"))
            gq = &g.tensors[j];
    }
    ck_assert(sv && sq && gv && gq);
    ck_assert_uint_eq(sv->length, gv->length);
    ck_assert(memcmp(fs + sv->offset, fa + gv->offset, sv->length) == 0);
    /* llama.cpp's permutation: disk row h*hd + 2i + j holds HF row h*hd + j*hd/2 + i */
    uint64_t hd = (uint64_t)o.spec.head_dim, rowb = (uint64_t)o.spec.hidden * 2;
    ck_assert(memcmp(fs + sq->offset, fa + gq->offset, sq->length) != 0);
    for (uint64_t r = 0; r < (uint64_t)o.spec.heads * hd; r++) {
        uint64_t h = r / hd, w = r % hd, src = h * hd + (w % 2) * (hd / 2) + w / 2;
        ck_assert(memcmp(fs + sq->offset + src * rowb, fa + gq->offset + r * rowb, rowb) == 0);
    }
    free(fs);
    st_free(&sf);
    rm_tree(hdir);

    free(fa);
    free(fb);
    free(t);
    gg_free(&g);
    gg_free(&demo);
    mm_vocab_free(&v);
    rm_tree(dir);
}
END_TEST

START_TEST(gguf_vocab_padding)
{
    mm_vocab_t v;
    char dir[64], path[128], err[256] = "";
    tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/x.gguf", dir);
    mm_opts_t o = opts("tiny-qwen2", 3, MM_F16, 0, &v);
    size_t n0 = v.n_tokens;
    o.spec.vocab = (int)n0 + 10;
    ck_assert_int_eq(mm_write_gguf(&o, &v, path, err, sizeof err), -EINVAL); /* not padded */
    ck_assert_int_eq(mm_vocab_pad(&v, n0 + 10), 0);
    ck_assert_msg(mm_write_gguf(&o, &v, path, err, sizeof err) == 0, "%s", err);
    gg_file_t g;
    ck_assert_msg(gg_parse_path(path, &g, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(kv(&g, "general.architecture")->str, "qwen2");
    ck_assert_uint_eq(kv(&g, "tokenizer.ggml.tokens")->arr_len, n0 + 10);
    ck_assert_uint_eq(kv(&g, "qwen2.vocab_size")->num.u, n0 + 10);
    int bias = 0, output = 0;
    for (uint64_t j = 0; j < g.n_tensors; j++) {
        bias += strstr(g.tensors[j].name, "attn_q.bias") != NULL;
        output += !strcmp(g.tensors[j].name, "output.weight");
        if (!strcmp(g.tensors[j].name, "token_embd.weight")) {
            ck_assert_uint_eq(g.tensors[j].type, 1);                /* F16 */
            ck_assert_uint_eq(g.tensors[j].ne[1], n0 + 10);
        }
    }
    ck_assert_int_eq(bias, o.spec.layers);
    ck_assert_int_eq(output, 0);                                    /* tied */
    gg_free(&g);
    mm_vocab_free(&v);
    rm_tree(dir);
}
END_TEST

/* ---- element types and the generator ---------------------------------------------------- */

START_TEST(conversions)
{
    /* IEEE binary16 encodings: 1.0, -2.0, the largest finite, overflow, 2^-24 (smallest
     * subnormal), half of it (ties to even: 0), 1 + 2^-11 (a tie: even mantissa kept) */
    ck_assert_uint_eq(mm_f32_to_f16(1.0f), 0x3c00);
    ck_assert_uint_eq(mm_f32_to_f16(-2.0f), 0xc000);
    ck_assert_uint_eq(mm_f32_to_f16(65504.0f), 0x7bff);
    ck_assert_uint_eq(mm_f32_to_f16(70000.0f), 0x7c00);
    ck_assert_uint_eq(mm_f32_to_f16(ldexpf(1, -24)), 0x0001);
    ck_assert_uint_eq(mm_f32_to_f16(ldexpf(1, -25)), 0x0000);
    ck_assert_uint_eq(mm_f32_to_f16(1.0f + ldexpf(1, -11)), 0x3c00);
    ck_assert_uint_eq(mm_f32_to_f16(1.0f + 3 * ldexpf(1, -11)), 0x3c02);
    /* bfloat16: the upper half, rounded to nearest even */
    ck_assert_uint_eq(mm_f32_to_bf16(1.0f), 0x3f80);
    ck_assert_uint_eq(mm_f32_to_bf16(1.0f + ldexpf(1, -8)), 0x3f80);      /* tie -> even */
    ck_assert_uint_eq(mm_f32_to_bf16(1.0f + 3 * ldexpf(1, -8)), 0x3f82);  /* tie -> even */
    ck_assert_uint_eq(mm_f32_to_bf16(-0.0f), 0x8000);
}
END_TEST

START_TEST(generator_ranges)
{
    /* any element range gives the same values as element by element */
    mm_spec_t s;
    mm_tensor_t *t;
    size_t nt;
    ck_assert_int_eq(mm_preset("tiny", &s), 0);
    s.vocab = 100;
    ck_assert_int_eq(mm_spec_check(&s, NULL, 0), 0);
    ck_assert_int_eq(mm_tensors(&s, 0, &t, &nt), 0);
    float whole[4096], part[4096];
    mm_fill(&s, 5, &t[1], 0, MM_F32, 0, 4096, whole);
    mm_fill(&s, 5, &t[1], 0, MM_F32, 1001, 77, part);
    ck_assert(memcmp(whole + 1001, part, 77 * sizeof(float)) == 0);
    for (int e = 0; e < 4096; e += 331)
        ck_assert(whole[e] == mm_value(5, &t[1], (uint64_t)e));
    /* different tensors, different streams */
    mm_fill(&s, 5, &t[2], 0, MM_F32, 0, 1024, part);
    ck_assert(memcmp(whole, part, 1024 * sizeof(float)) != 0);
    free(t);
}
END_TEST

/* ---- layout: the groups a mount and the streaming benchmark see ---------------------------- */

/* Add every file of dir to a layout (tensor files are parsed by their names). */
static void layout_of(const char *dir, ly_layout_t *ly)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    ly_init(ly);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char p[4096];
        size_t len;
        path_of(p, sizeof p, dir, e->d_name);
        char *buf = slurp(p, &len);
        fu_mem_t m = { buf, len };
        ck_assert_int_ge(ly_add_file(ly, e->d_name, fu_mem_read, &m, len), 0);
        free(buf);
    }
    closedir(d);
    ck_assert_int_eq(ly_finish(ly), 0);
}

START_TEST(layout_groups)
{
    mm_vocab_t v;
    char dir[64], gdir[64], path[128], err[256] = "";
    tmpdir(dir, sizeof dir);
    tmpdir(gdir, sizeof gdir);
    mm_opts_t o = opts("tiny", 9, MM_BF16, 200 * 1024, &v);
    ck_assert_msg(mm_write_hf(&o, dir, err, sizeof err) == 0, "%s", err);
    snprintf(path, sizeof path, "%s/model.gguf", gdir);
    ck_assert_msg(mm_write_gguf(&o, &v, path, err, sizeof err) == 0, "%s", err);
    const char *dirs[2] = { dir, gdir };
    for (int k = 0; k < 2; k++) {
        ly_layout_t ly;
        layout_of(dirs[k], &ly);
        /* embed, layer.0 .. layer.L-1, norm, head: every tensor in a known group */
        ck_assert_int_eq(ly.n_layers, o.spec.layers);
        ck_assert_uint_eq(ly.n_groups, (size_t)o.spec.layers + 3);
        ck_assert_str_eq(ly.groups[0].name, "embed");
        ck_assert_str_eq(ly.groups[ly.n_groups - 1].name, "head");
        mm_tensor_t *t;
        size_t nt;
        ck_assert_int_eq(mm_tensors(&o.spec, k, &t, &nt), 0);
        uint64_t layer_bytes = 0, want = 0;
        for (size_t i = 0; i < nt; i++)
            if (t[i].layer == 1)
                want += mm_numel(&t[i]) * (k && t[i].ndim == 1 ? 4 : 2);
        for (size_t g = 0; g < ly.n_groups; g++)
            if (ly.groups[g].layer == 1)
                layer_bytes = ly.groups[g].bytes;
        ck_assert_uint_eq(layer_bytes, want);
        for (size_t f = 0; f < ly.n_files; f++)
            ck_assert_msg(ly.files[f].parse_error == 0, "%s: %s", ly.files[f].path, ly.files[f].error);
        free(t);
        ly_free(&ly);
    }
    mm_vocab_free(&v);
    rm_tree(dir);
    rm_tree(gdir);
}
END_TEST

/* Every preset's config.json reads back through hc_parse with the preset's values. */
START_TEST(configs_all_presets)
{
    for (int i = 0; mm_preset_names[i]; i++) {
        mm_opts_t o;
        char err[256] = "";
        memset(&o, 0, sizeof o);
        ck_assert_int_eq(mm_preset(mm_preset_names[i], &o.spec), 0);
        o.spec.vocab = o.spec.real_vocab > 0 ? o.spec.real_vocab : 4096;
        ck_assert_msg(mm_spec_check(&o.spec, err, sizeof err) == 0, "%s", err);
        o.bos = 1;
        o.eos = 2;
        char *json = mm_config_json(&o);
        ck_assert_ptr_nonnull(json);
        hc_config_t c;
        ck_assert_msg(hc_parse(json, strlen(json), &c, err, sizeof err) == 0, "%s: %s",
                      mm_preset_names[i], err);
        ck_assert_str_eq(c.model_type, o.spec.model_type);
        ck_assert_int_eq(c.hidden_size, o.spec.hidden);
        ck_assert_int_eq(c.num_hidden_layers, o.spec.layers);
        ck_assert_int_eq(c.num_key_value_heads, o.spec.kv_heads);
        ck_assert_int_eq(c.head_dim, o.spec.head_dim);
        ck_assert_int_eq(c.vocab_size, o.spec.vocab);
        ck_assert_int_eq(c.tie_word_embeddings, o.spec.tie);
        ck_assert_str_eq(c.rope_type, o.spec.rope_type);
        ck_assert(fabs(c.rope_theta - o.spec.rope_theta) < 1e-6 * o.spec.rope_theta);
        if (strcmp(o.spec.rope_type, "llama3") == 0) {
            ck_assert(fabs(c.rope_factor - o.spec.rope_factor) < 1e-9);
            ck_assert(fabs(c.rope_low_freq_factor - o.spec.rope_low_freq) < 1e-9);
            ck_assert(fabs(c.rope_high_freq_factor - o.spec.rope_high_freq) < 1e-9);
            ck_assert_int_eq(c.rope_original_max_pos, o.spec.rope_orig_max_pos);
        }
        ck_assert_int_eq(c.bos_token_id, 1);
        ck_assert_int_eq(c.eos_token_ids[0], 2);
        free(json);
    }
}
END_TEST

Suite *mkmodel_suite(void)
{
    Suite *s = suite_create("mkmodel");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, hf_tiny_sharded);
    tcase_add_test(tc, hf_qwen2_single_file);
    tcase_add_test(tc, deterministic);
    tcase_add_test(tc, gguf_tiny);
    tcase_add_test(tc, gguf_vocab_padding);
    tcase_add_test(tc, conversions);
    tcase_add_test(tc, generator_ranges);
    tcase_add_test(tc, layout_groups);
    tcase_add_test(tc, configs_all_presets);
    suite_add_tcase(s, tc);
    return s;
}
