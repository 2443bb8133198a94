/* test_eng_gguf.c — GGUF models in the engine: demo-bf16.gguf against transformers'
 * reference (tests/fixtures/demo/reference.json: logits, top-5, greedy ids), demo-q8_0.gguf
 * and demo-bf16.gguf against llama.cpp's greedy text (tests/fixtures/gguf/llama_cpp.json,
 * llama-simple -n 48), the tokenizer taken from the GGUF metadata against the HF tokenizer
 * ids, and one-line errors for bad GGUF files (made by patching a copy of a fixture). */
#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eng_gguf.h"
#include "eng_model.h"
#include "eng_testutil.h"
#include "fu_util.h"
#include "tokenizer.h"

#define BF16 "tests/fixtures/gguf/demo-bf16.gguf"
#define Q8 "tests/fixtures/gguf/demo-q8_0.gguf"
#define TOL 1e-3

static void parity(const char *file, em_mode_t mode, int portable)
{
    etu_ref_t r;
    etu_load_ref("tests/fixtures/demo", &r);
    em_opts_t o = { .n_threads = 2, .mode = mode, .portable = portable };
    double worst = etu_check_parity(file, &o, &r, TOL);
    printf("gguf parity %s mode %d portable %d: worst |logits diff| %.3g\n", file, (int)mode, portable, worst);
    etu_free_ref(&r);
}

START_TEST(bf16_resident)
{
    parity(BF16, EM_RESIDENT, 0);
}
END_TEST

START_TEST(bf16_stream)
{
    parity(BF16, EM_STREAM, 0);
}
END_TEST

START_TEST(bf16_portable)
{
    parity(BF16, EM_RESIDENT, 1);
}
END_TEST

/* Greedy decoding of every prompt of llama_cpp.json for file, compared as text. */
static void llama_cpp_text(const char *file, em_mode_t mode)
{
    char *txt;
    size_t len;
    ck_assert_int_eq(fu_read_file("tests/fixtures/gguf/llama_cpp.json", 1 << 20, &txt, &len), 0);
    cJSON *root = cJSON_ParseWithLength(txt, len);
    free(txt);
    ck_assert_ptr_nonnull(root);
    const char *base = strrchr(file, '/') + 1;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "llama_cpp"), base);
    ck_assert_int_eq(cJSON_GetArraySize(arr), 4);
    tk_tokenizer_t *tk = NULL;
    char err[512] = "";
    ck_assert_msg(tk_load(file, &tk, err, sizeof err) == 0, "%s", err);
    int32_t eos[8];
    size_t n_eos = tk_eos_ids(tk, eos, 8);
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        const char *prompt = cJSON_GetObjectItemCaseSensitive(e, "prompt")->valuestring;
        const char *want = cJSON_GetObjectItemCaseSensitive(e, "continuation")->valuestring;
        int n_predict = cJSON_GetObjectItemCaseSensitive(e, "n_predict")->valueint;
        int32_t *ids = NULL;
        size_t n_ids = 0;
        ck_assert_int_eq(tk_encode(tk, prompt, strlen(prompt), 1, &ids, &n_ids), 0);
        ck_assert_int_eq(ids[0], tk_bos_id(tk));        /* llama-simple adds BOS */
        em_opts_t o = { .n_threads = 2, .mode = mode, .capacity = (int)n_ids + n_predict, .kv = EM_KV_F16 };
        em_model_t *m = NULL;
        ck_assert_msg(em_open(&m, file, &o, err, sizeof err) == 0, "%s", err);
        int32_t *out = calloc((size_t)n_predict, sizeof *out);
        ck_assert_ptr_nonnull(out);
        const float *lg;
        ck_assert_msg(em_forward(m, ids, (int)n_ids, 0, &lg, err, sizeof err) == 0, "%s", err);
        int n = 0;
        for (; n < n_predict; n++) {
            int V = em_config(m)->vocab_size, best = 0;
            for (int v = 1; v < V; v++)
                if (lg[v] > lg[best])
                    best = v;
            int stop = 0;
            for (size_t k = 0; k < n_eos; k++)
                stop |= best == eos[k];
            if (stop)
                break;
            out[n] = best;
            if (n + 1 < n_predict)
                ck_assert_msg(em_forward(m, &out[n], 1, 0, &lg, err, sizeof err) == 0, "%s", err);
        }
        char *got;
        size_t glen;
        ck_assert_int_eq(tk_decode(tk, out, (size_t)n, &got, &glen), 0);
        if (glen && got[glen - 1] == '\n' && (!*want || want[strlen(want) - 1] != '\n'))
            got[--glen] = 0;    /* llama_cpp.json drops the tool's trailing newline */
        ck_assert_msg(!strcmp(got, want), "%s %s: got [%s] want [%s]", file, prompt, got, want);
        free(got);
        free(out);
        free(ids);
        em_close(m);
    }
    tk_free(tk);
    cJSON_Delete(root);
}

START_TEST(q8_0_llama_cpp_resident)
{
    llama_cpp_text(Q8, EM_RESIDENT);
}
END_TEST

START_TEST(q8_0_llama_cpp_stream)
{
    llama_cpp_text(Q8, EM_STREAM);
}
END_TEST

START_TEST(bf16_llama_cpp)
{
    llama_cpp_text(BF16, EM_RESIDENT);
}
END_TEST

/* The GGUF tokenizer gives the HF tokenizer's ids for every reference text. */
START_TEST(tokenizer_matches_hf)
{
    char *txt;
    size_t len;
    ck_assert_int_eq(fu_read_file("tests/fixtures/demo/reference.json", 16 << 20, &txt, &len), 0);
    cJSON *root = cJSON_ParseWithLength(txt, len);
    free(txt);
    ck_assert_ptr_nonnull(root);
    tk_tokenizer_t *tk = NULL;
    char err[512] = "";
    ck_assert_msg(tk_load(BF16, &tk, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(tk_bos_id(tk), 0);
    int32_t eos[4];
    ck_assert_int_eq(tk_eos_ids(tk, eos, 4), 1);
    ck_assert_int_eq(eos[0], 1);
    const cJSON *e;
    int n = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(root, "tokenizer")) {
        const char *text = cJSON_GetObjectItemCaseSensitive(e, "text")->valuestring;
        for (int special = 0; special < 2; special++) {
            const cJSON *want = cJSON_GetObjectItemCaseSensitive(e, special ? "ids_with_special" : "ids");
            int32_t *ids = NULL;
            size_t n_ids = 0;
            ck_assert_int_eq(tk_encode(tk, text, strlen(text), special, &ids, &n_ids), 0);
            ck_assert_msg(n_ids == (size_t)cJSON_GetArraySize(want), "[%s] special %d: %zu ids, want %d", text,
                          special, n_ids, cJSON_GetArraySize(want));
            for (size_t i = 0; i < n_ids; i++)
                ck_assert_msg(ids[i] == cJSON_GetArrayItem(want, (int)i)->valueint, "[%s] id %zu", text, i);
            free(ids);
        }
        n++;
    }
    ck_assert_int_gt(n, 5);
    tk_free(tk);
    cJSON_Delete(root);
}
END_TEST

/* Q8_0 by hand: d = 0.5 (f16 0x3800), q[j] = j - 16 gives w[j] = (j - 16) / 2; with x all
 * 1.0 (quantized as 127 * f16(1/127)) the product over two blocks is 2 * -8 = -16 within f16 error. */
START_TEST(q8_0_kernel)
{
    unsigned char blk[2 * 34];
    for (int b = 0; b < 2; b++) {
        blk[b * 34] = 0x00;
        blk[b * 34 + 1] = 0x38;
        for (int j = 0; j < 32; j++)
            blk[b * 34 + 2 + j] = (unsigned char)(signed char)(j - 16);
    }
    float w[64];
    ek_q8_dequant(w, blk, 64);
    ck_assert(w[0] == -8.0f && w[16] == 0.0f && w[31] == 7.5f && w[32 + 1] == -7.5f);
    ck_assert_uint_eq(ek_row_bytes(EK_Q8_0, 64), 68);
    float x[64], out = 0;
    for (int i = 0; i < 64; i++)
        x[i] = 1.0f;
    ek_mat_t m = { .data = blk, .dt = EK_Q8_0, .rows = 1, .cols = 64 };
    ep_pool_t *pool = NULL;
    ck_assert_int_eq(ep_create(1, &pool), 0);
    ek_matmul(pool, &m, NULL, x, 1, &out, 1, 0);
    ep_destroy(pool);
    ck_assert_msg(fabsf(out - -16.0f) < 0.02f, "%g", out);
}
END_TEST

/* Q4_0 / Q4_K / Q6_K / Q8_0 dequantization equals gguf-py's on the blocks of
 * tests/fixtures/gguf/dequant.json (tools/gen_gguf_dequant.py), and the product of such a matrix
 * with a one-hot vector picks the dequantized column. */
START_TEST(dequant_matches_gguf_py)
{
    char *txt;
    size_t len;
    ck_assert_int_eq(fu_read_file("tests/fixtures/gguf/dequant.json", 1 << 20, &txt, &len), 0);
    cJSON *root = cJSON_ParseWithLength(txt, len);
    free(txt);
    ck_assert_ptr_nonnull(root);
    static const struct { const char *name; ek_dtype_t dt; } types[] = {
        { "Q4_K", EK_Q4_K }, { "Q6_K", EK_Q6_K }, { "Q4_0", EK_Q4_0 }, { "Q8_0", EK_Q8_0 } };
    ep_pool_t *pool = NULL;
    ck_assert_int_eq(ep_create(2, &pool), 0);
    int seen = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "cases")) {
        const char *ty = cJSON_GetObjectItemCaseSensitive(c, "type")->valuestring;
        const char *hex = cJSON_GetObjectItemCaseSensitive(c, "raw")->valuestring;
        const cJSON *vals = cJSON_GetObjectItemCaseSensitive(c, "values");
        ek_dtype_t dt = EK_F32;
        for (size_t i = 0; i < sizeof types / sizeof *types; i++)
            if (!strcmp(types[i].name, ty))
                dt = types[i].dt;
        ck_assert_msg(dt != EK_F32, "type %s", ty);
        size_t nb = strlen(hex) / 2, n = (size_t)cJSON_GetArraySize(vals);
        unsigned char *raw = malloc(nb);
        float *got = malloc(n * sizeof *got);
        ck_assert(raw && got);
        for (size_t i = 0; i < nb; i++) {
            unsigned v;
            ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
            raw[i] = (unsigned char)v;
        }
        int rows = dt == EK_Q4_K || dt == EK_Q6_K ? 4 : 2, cols = (int)n / rows;
        ck_assert_uint_eq(ek_row_bytes(dt, (size_t)cols) * (size_t)rows, nb);
        ek_gq_dequant(dt, got, raw, n);
        for (size_t i = 0; i < n; i++) {
            double want = cJSON_GetArrayItem(vals, (int)i)->valuedouble;
            ck_assert_msg(fabs(got[i] - want) <= 1e-6 * fmax(1.0, fabs(want)), "%s [%zu]: %.9g != %.9g", ty, i,
                          got[i], want);
        }
        /* column 5 through the matrix product */
        float *x = calloc((size_t)cols, sizeof *x), out[4];
        ck_assert_ptr_nonnull(x);
        x[5] = 1.0f;
        ek_mat_t m = { .data = raw, .dt = dt, .rows = rows, .cols = cols };
        if (dt != EK_Q8_0) {    /* Q8_0 quantizes x: checked in q8_0_kernel */
            ek_matmul(pool, &m, NULL, x, 1, out, rows, 0);
            for (int r = 0; r < rows; r++)
                ck_assert_msg(fabsf(out[r] - got[(size_t)r * cols + 5]) <= 1e-6f, "%s row %d", ty, r);
        }
        free(x);
        free(raw);
        free(got);
        seen++;
    }
    ck_assert_int_eq(seen, 4);
    ep_destroy(pool);
    cJSON_Delete(root);
}
END_TEST

/* ---- bad input: a patched copy of demo-q8_0.gguf ------------------------------------ */

static char *g_img;
static size_t g_len;
static char g_path[64];

static void load_img(void)
{
    ck_assert_int_eq(fu_read_file(Q8, 64u << 20, &g_img, &g_len), 0);
}

/* Offset just past the (unique) byte string s in the image. */
static size_t find(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i + n <= g_len; i++)
        if (!memcmp(g_img + i, s, n))
            return i + n;
    ck_abort_msg("%s not in the image", s);
    return 0;
}

/* Write the image to a temp .gguf and return em_open's error (rc in *rc). */
static const char *open_err(int *rc)
{
    static char err[512];
    snprintf(g_path, sizeof g_path, "/tmp/ffs-gguf-XXXXXX.gguf");
    int fd = mkstemps(g_path, 5);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq((size_t)write(fd, g_img, g_len), g_len);
    close(fd);
    em_opts_t o = { .n_threads = 1, .capacity = 8 };
    em_model_t *m = NULL;
    err[0] = 0;
    *rc = em_open(&m, g_path, &o, err, sizeof err);
    em_close(m);
    unlink(g_path);
    free(g_img);
    g_img = NULL;
    ck_assert_ptr_null(strchr(err, '\n'));
    return err;
}

static void expect(int want_rc, const char *tail)
{
    int rc;
    const char *err = open_err(&rc);
    char want[512];
    snprintf(want, sizeof want, "%s: %s", g_path, tail);
    ck_assert_int_eq(rc, want_rc);
    ck_assert_str_eq(err, want);
}

START_TEST(bad_architecture)
{
    load_img();
    size_t at = find("general.architecture") + 4 + 8;     /* u32 type, u64 length */
    ck_assert(!memcmp(g_img + at, "llama", 5));
    memcpy(g_img + at, "gemma", 5);
    expect(-ENOTSUP, "general.architecture \"gemma\" is not supported (supported: llama, qwen2)");
}
END_TEST

START_TEST(missing_tensor)
{
    load_img();
    size_t at = find("blk.3.ffn_up.weight") - strlen("ffn_up.weight");
    memcpy(g_img + at, "ffn_XX", 6);
    expect(-ENOENT, "tensor blk.3.ffn_up.weight not found");
}
END_TEST

START_TEST(wrong_shape)
{
    load_img();
    size_t at = find("blk.0.attn_k.weight") + 4;           /* u32 n_dims, then ne[0], ne[1] */
    uint64_t ne[2];
    memcpy(ne, g_img + at, 16);
    ck_assert(ne[0] == 256 && ne[1] == 128);
    uint64_t sw[2] = { 128, 256 };
    memcpy(g_img + at, sw, 16);
    expect(-EINVAL, "tensor blk.0.attn_k.weight has ne [128, 256], expected [256, 128] (ne order: columns first)");
}
END_TEST

START_TEST(unsupported_type)
{
    load_img();
    size_t at = find("blk.0.attn_k.weight") + 4 + 16;      /* the ggml type after ne[] */
    uint32_t t;
    memcpy(&t, g_img + at, 4);
    ck_assert_uint_eq(t, 8);
    t = 13;                                                 /* Q5_K: smaller, still in bounds */
    memcpy(g_img + at, &t, 4);
    expect(-ENOTSUP, "tensor blk.0.attn_k.weight has type Q5_K (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)");
}
END_TEST

START_TEST(bad_tokenizer_pre)
{
    load_img();
    size_t at = find("tokenizer.ggml.pre") + 4 + 8;
    ck_assert(!memcmp(g_img + at, "llama-bpe", 9));
    memcpy(g_img + at, "llama-xyz", 9);
    snprintf(g_path, sizeof g_path, "/tmp/ffs-gguf-XXXXXX.gguf");
    int fd = mkstemps(g_path, 5);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq((size_t)write(fd, g_img, g_len), g_len);
    close(fd);
    free(g_img);
    g_img = NULL;
    tk_tokenizer_t *tk = NULL;
    char err[512] = "", want[512];
    int rc = tk_load(g_path, &tk, err, sizeof err);
    unlink(g_path);
    ck_assert_int_eq(rc, -ENOTSUP);
    ck_assert_ptr_null(tk);
    snprintf(want, sizeof want, "%s: tokenizer.ggml.pre \"llama-xyz\" is not supported (supported: llama-bpe, qwen2)",
             g_path);
    ck_assert_str_eq(err, want);
}
END_TEST

/* -m DIR holding one .gguf and no config.json is that model; two .gguf files are refused. */
START_TEST(folder_forms)
{
    char dir[] = "/tmp/ffs-ggdir-XXXXXX", a[128], b[128], path[256], err[512] = "";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(a, sizeof a, "%s/a.gguf", dir);
    snprintf(b, sizeof b, "%s/b.gguf", dir);
    char *abs = realpath(Q8, NULL);
    ck_assert_ptr_nonnull(abs);
    ck_assert_int_eq(symlink(abs, a), 0);
    hc_config_t c;
    ck_assert_msg(ew_load_config(dir, &c, path, sizeof path, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(path, a);
    ck_assert_str_eq(c.model_type, "llama");
    ck_assert_int_eq(c.hidden_size, 256);
    ck_assert_int_eq(c.num_hidden_layers, 6);
    ck_assert_int_eq(c.num_key_value_heads, 4);
    ck_assert_int_eq(c.vocab_size, 4096);
    ck_assert_int_eq(c.max_position_embeddings, 512);
    ck_assert_int_eq(symlink(abs, b), 0);
    ck_assert_int_eq(ew_load_config(dir, &c, path, sizeof path, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "holds several GGUF files: name one with -m"));
    unlink(a);
    unlink(b);
    rmdir(dir);
    free(abs);
}
END_TEST

Suite *eng_gguf_suite(void)
{
    Suite *s = suite_create("eng_gguf");
    TCase *tc = tcase_create("gguf");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, bf16_resident);
    tcase_add_test(tc, bf16_stream);
    tcase_add_test(tc, bf16_portable);
    tcase_add_test(tc, q8_0_llama_cpp_resident);
    tcase_add_test(tc, q8_0_llama_cpp_stream);
    tcase_add_test(tc, bf16_llama_cpp);
    tcase_add_test(tc, tokenizer_matches_hf);
    tcase_add_test(tc, q8_0_kernel);
    tcase_add_test(tc, dequant_matches_gguf_py);
    tcase_add_test(tc, bad_architecture);
    tcase_add_test(tc, missing_tensor);
    tcase_add_test(tc, wrong_shape);
    tcase_add_test(tc, unsupported_type);
    tcase_add_test(tc, bad_tokenizer_pre);
    tcase_add_test(tc, folder_forms);
    suite_add_tcase(s, tc);
    return s;
}
