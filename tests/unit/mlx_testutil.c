/* mlx_testutil.c — the tests' own MLX affine quantizer and tiny model writer. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlx_testutil.h"
#include "st_writer.h"

static uint64_t mtu_rng(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static float mtu_unif(uint64_t *s)
{
    return (float)((mtu_rng(s) >> 40) / (double)(1u << 24)) * 2.0f - 1.0f;
}

/* Round f to a value of dtype dt; store it at dst[i]; return it as f32. */
static float mtu_store(void *dst, ek_dtype_t dt, size_t i, float f)
{
    if (dt == EK_F32) {
        ((float *)dst)[i] = f;
        return f;
    }
    if (dt == EK_F16) {
        uint16_t h = ek_f32_to_f16(f);
        ((uint16_t *)dst)[i] = h;
        return ek_f16_to_f32(h);
    }
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t h = (uint16_t)(u >> 16);   /* truncation: any bf16 value will do */
    ((uint16_t *)dst)[i] = h;
    return ek_bf16_to_f32(h);
}

void mtu_pack(const uint8_t *q, size_t n, int bits, uint8_t *out)
{
    if (bits == 2 || bits == 4 || bits == 8) {
        int per = 32 / bits;
        for (size_t w = 0; w < n / (size_t)per; w++) {
            uint32_t word = 0;
            for (int k = 0; k < per; k++)
                word |= (uint32_t)q[w * per + k] << (k * bits);
            for (int b = 0; b < 4; b++)
                out[w * 4 + b] = (uint8_t)(word >> (8 * b));
        }
        return;
    }
    int el = bits == 6 ? 4 : 8, nb = bits == 5 ? 5 : 3;
    for (size_t p = 0; p < n / (size_t)el; p++) {
        uint64_t pack = 0;
        for (int k = 0; k < el; k++)
            pack |= (uint64_t)q[p * el + k] << (k * bits);
        for (int b = 0; b < nb; b++)
            out[p * nb + b] = (uint8_t)(pack >> (8 * b));
    }
}

void mtu_qmat_make(mtu_qmat_t *m, int rows, int cols, int bits, int group, ek_dtype_t sdt, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->rows = rows;
    m->cols = cols;
    m->bits = bits;
    m->group = group;
    m->sdt = sdt;
    size_t n = (size_t)rows * cols, ng = n / (size_t)group, es = sdt == EK_F32 ? 4 : 2;
    m->q = malloc(n);
    m->packed = calloc(n * (size_t)bits / 8 + 8, 1);
    m->scales = malloc(ng * es);
    m->biases = malloc(ng * es);
    m->w = malloc(n * sizeof(float));
    ck_assert(m->q && m->packed && m->scales && m->biases && m->w);
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++)
        m->q[i] = (uint8_t)(mtu_rng(&s) >> 58 & ((1u << bits) - 1));
    for (size_t i = 0; i < n; i += 97)        /* the extremes too */
        m->q[i] = (uint8_t)((1u << bits) - 1);
    for (size_t g = 0; g < ng; g++) {
        float sc = mtu_store(m->scales, sdt, g, (0.05f + 0.05f * mtu_unif(&s)) / (float)(1 << bits));
        float bi = mtu_store(m->biases, sdt, g, 0.05f * mtu_unif(&s));
        for (int k = 0; k < group; k++) {
            size_t i = g * (size_t)group + (size_t)k;
            m->w[i] = sc * (float)m->q[i] + bi;
        }
    }
    mtu_pack(m->q, n, bits, m->packed);
}

void mtu_qmat_free(mtu_qmat_t *m)
{
    free(m->q);
    free(m->packed);
    free(m->scales);
    free(m->biases);
    free(m->w);
    memset(m, 0, sizeof *m);
}

/* ---- tiny models ------------------------------------------------------------------ */

#define MT_H 128
#define MT_F 256
#define MT_V 256
#define MT_L 2
#define MT_MAXT 64

typedef struct {
    sw_tensor_t t[MT_MAXT * 3];
    const void *data[MT_MAXT * 3];
    void *owned[MT_MAXT * 3];
    size_t n;
} mt_file_t;

static void mt_add(mt_file_t *f, const char *name, const char *dtype, uint64_t r, uint64_t c, uint64_t nb,
                   const void *data, void *owned)
{
    ck_assert(f->n < sizeof f->t / sizeof *f->t);
    sw_tensor_t *t = &f->t[f->n];
    t->name = strdup(name);
    t->dtype = dtype;
    t->ndim = r ? 2 : 1;
    t->shape[0] = r ? r : c;
    t->shape[1] = c;
    t->nbytes = nb;
    f->data[f->n] = data;
    f->owned[f->n] = owned;
    f->n++;
}

static void mt_write(mt_file_t *f, const char *dir)
{
    char *hdr = NULL, err[256], path[1024];
    size_t len = 0;
    const char *mk[] = { "format" }, *mv[] = { "mlx" };
    ck_assert_int_eq(sw_header(f->t, f->n, mk, mv, 1, &hdr, &len, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *o = fopen(path, "wb");
    ck_assert_ptr_nonnull(o);
    ck_assert_uint_eq(fwrite(hdr, 1, len, o), len);
    for (size_t i = 0; i < f->n; i++) {
        ck_assert_uint_eq(fwrite(f->data[i], 1, f->t[i].nbytes, o), f->t[i].nbytes);
        free((void *)f->t[i].name);
        free(f->owned[i]);
    }
    fclose(o);
    free(hdr);
}

static const char *mt_sdt_name(ek_dtype_t dt)
{
    return dt == EK_F32 ? "F32" : dt == EK_F16 ? "F16" : "BF16";
}

/* One matrix P [r][c]: quantized into q (per spec) and f32 into f. */
static void mt_matrix(mt_file_t *q, mt_file_t *f, const char *mod, int r, int c, int bits, int group,
                      ek_dtype_t sdt, uint64_t seed)
{
    char name[256];
    snprintf(name, sizeof name, "%s.weight", mod);
    size_t n = (size_t)r * c;
    if (!bits) {
        float *w = malloc(n * sizeof(float)), *w2 = malloc(n * sizeof(float));
        ck_assert(w && w2);
        uint64_t s = seed + 7;
        for (size_t i = 0; i < n; i++)
            w[i] = 0.08f * mtu_unif(&s);
        memcpy(w2, w, n * sizeof(float));
        mt_add(q, name, "F32", (uint64_t)r, (uint64_t)c, n * 4, w, w);
        mt_add(f, name, "F32", (uint64_t)r, (uint64_t)c, n * 4, w2, w2);
        return;
    }
    mtu_qmat_t m;
    mtu_qmat_make(&m, r, c, bits, group, sdt, seed);
    size_t ng = n / (size_t)group, es = sdt == EK_F32 ? 4 : 2;
    mt_add(q, name, "U32", (uint64_t)r, (uint64_t)c * bits / 32, n * bits / 8, m.packed, m.packed);
    snprintf(name, sizeof name, "%s.scales", mod);
    mt_add(q, name, mt_sdt_name(sdt), (uint64_t)r, (uint64_t)(c / group), ng * es, m.scales, m.scales);
    snprintf(name, sizeof name, "%s.biases", mod);
    mt_add(q, name, mt_sdt_name(sdt), (uint64_t)r, (uint64_t)(c / group), ng * es, m.biases, m.biases);
    snprintf(name, sizeof name, "%s.weight", mod);
    mt_add(f, name, "F32", (uint64_t)r, (uint64_t)c, n * 4, m.w, m.w);
    free(m.q);
}

static void mt_norm(mt_file_t *q, mt_file_t *f, const char *name, uint64_t seed)
{
    float *a = malloc(MT_H * 4), *b = malloc(MT_H * 4);
    ck_assert(a && b);
    uint64_t s = seed;
    for (int i = 0; i < MT_H; i++)
        a[i] = b[i] = 1.0f + 0.2f * mtu_unif(&s);
    mt_add(q, name, "F32", 0, MT_H, MT_H * 4, a, a);
    mt_add(f, name, "F32", 0, MT_H, MT_H * 4, b, b);
}

static void mt_config(const char *dir, int bits, int group, const mtu_qspec_t *specs, int n_specs)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *o = fopen(path, "w");
    ck_assert_ptr_nonnull(o);
    fprintf(o, "{\"model_type\": \"llama\", \"hidden_size\": %d, \"intermediate_size\": %d,\n"
               " \"num_hidden_layers\": %d, \"num_attention_heads\": 4, \"num_key_value_heads\": 2,\n"
               " \"vocab_size\": %d, \"rms_norm_eps\": 1e-5, \"tie_word_embeddings\": false",
            MT_H, MT_F, MT_L, MT_V);
    if (bits) {
        fprintf(o, ",\n \"quantization\": {\"group_size\": %d, \"bits\": %d, \"mode\": \"affine\"", group,
                bits);
        for (int i = 0; i < n_specs; i++) {
            if (specs[i].bits)
                fprintf(o, ",\n   \"%s\": {\"group_size\": %d, \"bits\": %d}", specs[i].module,
                        specs[i].group, specs[i].bits);
            else
                fprintf(o, ",\n   \"%s\": false", specs[i].module);
        }
        fprintf(o, "}");
    }
    fprintf(o, "}\n");
    fclose(o);
}

void mtu_write_models(const char *qdir, const char *fdir, int default_bits, int default_group,
                      const mtu_qspec_t *specs, int n_specs, uint64_t seed)
{
    static mt_file_t q, f;
    memset(&q, 0, sizeof q);
    memset(&f, 0, sizeof f);
    static const char *const nm[7] = { "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                       "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj" };
    const int rows[7] = { MT_H, 64, 64, MT_H, MT_F, MT_F, MT_H };
    const int cols[7] = { MT_H, MT_H, MT_H, MT_H, MT_H, MT_H, MT_F };
    char mod[128], name[160];
    uint64_t sd = seed * 1000;
    for (int l = -1; l <= MT_L; l++) {
        int nmat = l < 0 || l == MT_L ? 1 : 7;
        for (int i = 0; i < nmat; i++) {
            int r = rows[i], c = cols[i];
            if (l < 0) {
                snprintf(mod, sizeof mod, "model.embed_tokens");
                r = MT_V, c = MT_H;
            } else if (l == MT_L) {
                snprintf(mod, sizeof mod, "lm_head");
                r = MT_V, c = MT_H;
            } else {
                snprintf(mod, sizeof mod, "model.layers.%d.%s", l, nm[i]);
            }
            int bits = default_bits, group = default_group;
            ek_dtype_t sdt = EK_BF16;
            for (int s = 0; s < n_specs; s++)
                if (!strcmp(specs[s].module, mod)) {
                    bits = specs[s].bits;
                    group = specs[s].group;
                    sdt = specs[s].sdt;
                }
            mt_matrix(&q, &f, mod, r, c, bits, group, sdt, ++sd);
            if (l >= 0 && l < MT_L && i == 0) {
                snprintf(name, sizeof name, "model.layers.%d.input_layernorm.weight", l);
                mt_norm(&q, &f, name, ++sd);
            }
            if (l >= 0 && l < MT_L && i == 3) {
                snprintf(name, sizeof name, "model.layers.%d.post_attention_layernorm.weight", l);
                mt_norm(&q, &f, name, ++sd);
            }
        }
        if (l == MT_L - 1)
            mt_norm(&q, &f, "model.norm.weight", ++sd);
    }
    mt_write(&q, qdir);
    mt_write(&f, fdir);
    mt_config(qdir, default_bits, default_group, specs, n_specs);
    mt_config(fdir, 0, 0, NULL, 0);
}
