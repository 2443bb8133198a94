/* test_gguf.c — GGUF header parsing: the converted demo fixtures (checked against the
 * safetensors model they came from), and malformed files built in memory. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fu_util.h"
#include "gguf.h"
#include "hf_config.h"
#include "hf_index.h"

/* ------------------------------------------------------- a byte builder --- */

typedef struct {
    unsigned char *b;
    size_t n, cap;
} bb_t;

static void put(bb_t *bb, const void *p, size_t n)
{
    if (bb->n + n > bb->cap) {
        bb->cap = (bb->n + n) * 2 + 64;
        bb->b = realloc(bb->b, bb->cap);
        ck_assert_ptr_nonnull(bb->b);
    }
    if (n)
        memcpy(bb->b + bb->n, p, n);
    bb->n += n;
}

static void put_le(bb_t *bb, uint64_t v, int n)
{
    unsigned char b[8];
    for (int i = 0; i < n; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put(bb, b, (size_t)n);
}
#define put_u32(bb, v) put_le(bb, (uint64_t)(v), 4)
#define put_u64(bb, v) put_le(bb, (uint64_t)(v), 8)

static void put_str(bb_t *bb, const char *s)
{
    put_u64(bb, strlen(s));
    put(bb, s, strlen(s));
}

static void put_header(bb_t *bb, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    put(bb, "GGUF", 4);
    put_u32(bb, version);
    put_u64(bb, n_tensors);
    put_u64(bb, n_kv);
}

/* A tensor info: name, dims, type, relative offset. */
static void put_tensor(bb_t *bb, const char *name, uint32_t nd, const uint64_t *ne, uint32_t type, uint64_t off)
{
    put_str(bb, name);
    put_u32(bb, nd);
    for (uint32_t i = 0; i < nd; i++)
        put_u64(bb, ne[i]);
    put_u32(bb, type);
    put_u64(bb, off);
}

/* Pad to align, then append data_len zero bytes. Returns the data start. */
static size_t put_data(bb_t *bb, size_t align, size_t data_len)
{
    while (bb->n % align)
        put(bb, "", 1);
    size_t start = bb->n;
    for (size_t i = 0; i < data_len; i++)
        put(bb, "", 1);
    return start;
}

static int parse_bb(const bb_t *bb, gg_file_t *f, char *err, size_t errlen)
{
    fu_mem_t m = { bb->b, bb->n };
    return gg_parse(fu_mem_read, &m, bb->n, f, err, errlen);
}

static void expect_fail(bb_t *bb, const char *want)
{
    gg_file_t f;
    char err[512] = "";
    int rc = parse_bb(bb, &f, err, sizeof err);
    ck_assert_msg(rc == -EINVAL, "rc %d for a file expected to fail with '%s' (%s)", rc, want, err);
    ck_assert_msg(strstr(err, want) != NULL, "error '%s' lacks '%s'", err, want);
    ck_assert_ptr_null(f.kv);
    ck_assert_ptr_null(f.tensors);
    free(bb->b);
    memset(bb, 0, sizeof *bb);
}

/* A small valid v3 file: 3 KVs (string, u32 alignment 64, string array), 2 tensors. */
static void build_valid(bb_t *bb, uint32_t version)
{
    put_header(bb, version, 2, 3);
    put_str(bb, "general.architecture");
    put_u32(bb, GG_T_STRING);
    put_str(bb, "llama");
    put_str(bb, "general.alignment");
    put_u32(bb, GG_T_UINT32);
    put_u32(bb, 64);
    put_str(bb, "tokenizer.ggml.tokens");
    put_u32(bb, GG_T_ARRAY);
    put_u32(bb, GG_T_STRING);
    put_u64(bb, 3);
    put_str(bb, "a");
    put_str(bb, "");
    put_str(bb, "\xff\xfe"); /* token bytes are kept as stored, not validated */
    uint64_t ne1[2] = { 32, 2 }, ne2[1] = { 8 };
    put_tensor(bb, "blk.0.attn_q.weight", 2, ne1, 8 /* Q8_0: 2 blocks x 34 */, 0);
    put_tensor(bb, "output_norm.weight", 1, ne2, 0 /* F32 */, 128);
    put_data(bb, 64, 128 + 32);
}

/* ------------------------------------------------------------ positive --- */

START_TEST(small_valid)
{
    for (uint32_t v = 2; v <= 3; v++) {
        bb_t bb = { 0 };
        build_valid(&bb, v);
        gg_file_t f;
        char err[256] = "";
        ck_assert_msg(parse_bb(&bb, &f, err, sizeof err) == 0, "%s", err);
        ck_assert_uint_eq(f.version, v);
        ck_assert_uint_eq(f.n_kv, 3);
        ck_assert_uint_eq(f.n_tensors, 2);
        ck_assert_uint_eq(f.alignment, 64);
        ck_assert_uint_eq(f.data_start % 64, 0);
        ck_assert_uint_eq(f.data_start, bb.n - 160);
        ck_assert_str_eq(gg_find_kv(&f, "general.architecture")->str, "llama");
        const gg_kv_t *tok = gg_find_kv(&f, "tokenizer.ggml.tokens");
        ck_assert_uint_eq(tok->arr_type, GG_T_STRING);
        ck_assert_uint_eq(tok->arr_len, 3);
        ck_assert_ptr_null(gg_find_kv(&f, "nope"));
        ck_assert_str_eq(f.tensors[0].name, "blk.0.attn_q.weight");
        ck_assert_uint_eq(f.tensors[0].offset, f.data_start);
        ck_assert_uint_eq(f.tensors[0].length, 2 * 34);
        ck_assert_uint_eq(f.tensors[1].offset, f.data_start + 128);
        ck_assert_uint_eq(f.tensors[1].length, 32);
        ck_assert_uint_eq(f.tensors[1].n_dims, 1);
        gg_free(&f);
        gg_free(&f);
        free(bb.b);
    }
}
END_TEST

START_TEST(scalar_kvs)
{
    bb_t bb = { 0 };
    put_header(&bb, 3, 0, 5);
    put_str(&bb, "i8");
    put_u32(&bb, GG_T_INT8);
    put_le(&bb, 0xFE, 1);
    put_str(&bb, "i32");
    put_u32(&bb, GG_T_INT32);
    put_u32(&bb, 0xFFFFFFF0u);
    put_str(&bb, "f32");
    put_u32(&bb, GG_T_FLOAT32);
    float fv = 1.5f;
    put(&bb, &fv, 4);
    put_str(&bb, "u64");
    put_u32(&bb, GG_T_UINT64);
    put_u64(&bb, 0x123456789abcdefull);
    put_str(&bb, "b");
    put_u32(&bb, GG_T_BOOL);
    put_le(&bb, 1, 1);
    put_data(&bb, 32, 0);
    gg_file_t f;
    char err[256] = "";
    ck_assert_msg(parse_bb(&bb, &f, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(gg_find_kv(&f, "i8")->num.i, -2);
    ck_assert_int_eq(gg_find_kv(&f, "i32")->num.i, -16);
    ck_assert_double_eq(gg_find_kv(&f, "f32")->num.f, 1.5);
    ck_assert_uint_eq(gg_find_kv(&f, "u64")->num.u, 0x123456789abcdefull);
    ck_assert_uint_eq(gg_find_kv(&f, "b")->num.u, 1);
    ck_assert_uint_eq(f.n_tensors, 0);
    ck_assert_uint_eq(f.data_start, f.file_size);
    gg_free(&f);
    /* without the padding the (empty) data section would start past the end */
    bb.n -= 1;
    ck_assert_int_eq(parse_bb(&bb, &f, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "past the end"));
    free(bb.b);
}
END_TEST

START_TEST(type_table)
{
    int ok;
    ck_assert_str_eq(gg_type_name(0), "F32");
    ck_assert_str_eq(gg_type_name(30), "BF16");
    ck_assert_str_eq(gg_type_name(8), "Q8_0");
    ck_assert_str_eq(gg_type_name(12), "Q4_K");
    ck_assert_str_eq(gg_type_name(4), "UNKNOWN");   /* removed Q4_2 */
    ck_assert_str_eq(gg_type_name(1000), "UNKNOWN");
    ck_assert_uint_eq(gg_type_nbytes(0, 10, &ok), 40);
    ck_assert_int_eq(ok, 1);
    ck_assert_uint_eq(gg_type_nbytes(30, 10, &ok), 20);
    ck_assert_uint_eq(gg_type_nbytes(1, 3, &ok), 6);
    ck_assert_uint_eq(gg_type_nbytes(8, 64, &ok), 68);   /* 2 blocks of 2-byte scale + 32 int8 */
    ck_assert_uint_eq(gg_type_nbytes(2, 64, &ok), 36);   /* Q4_0: scale + 16 nibble bytes */
    ck_assert_uint_eq(gg_type_nbytes(12, 512, &ok), 288); /* Q4_K: 2 x 144 */
    ck_assert_uint_eq(gg_type_nbytes(14, 256, &ok), 210); /* Q6_K */
    ck_assert_int_eq(ok, 1);
    gg_type_nbytes(8, 33, &ok);
    ck_assert_int_eq(ok, 0);                              /* partial block */
    gg_type_nbytes(5, 32, &ok);
    ck_assert_int_eq(ok, 0);                              /* unknown */
    gg_type_nbytes(0, UINT64_MAX / 2, &ok);
    ck_assert_int_eq(ok, 0);                              /* overflow */
}
END_TEST

/* Both converted demo files: every tensor of the safetensors model (count from the index,
 * parameters from its metadata), 6 layers from config.json, data inside the file. */
static void check_demo_gguf(const char *path)
{
    hi_index_t ix;
    hc_config_t cfg;
    char err[256] = "";
    ck_assert_msg(hi_load("tests/fixtures/demo/model.safetensors.index.json", &ix, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(hc_load("tests/fixtures/demo/config.json", &cfg, err, sizeof err) == 0, "%s", err);

    gg_file_t f;
    ck_assert_msg(gg_parse_path(path, &f, err, sizeof err) == 0, "%s: %s", path, err);
    ck_assert(f.version == 2 || f.version == 3);
    ck_assert_uint_eq(f.n_tensors, ix.n_entries);
    ck_assert_str_eq(gg_find_kv(&f, "general.architecture")->str, cfg.model_type);
    const gg_kv_t *bc = gg_find_kv(&f, "llama.block_count");
    ck_assert_ptr_nonnull(bc);
    ck_assert_uint_eq(bc->num.u, (uint64_t)cfg.num_hidden_layers);
    const gg_kv_t *tok = gg_find_kv(&f, "tokenizer.ggml.tokens");
    ck_assert_ptr_nonnull(tok);
    ck_assert_uint_eq(tok->arr_len, (uint64_t)cfg.vocab_size);
    ck_assert_uint_eq(f.data_start % f.alignment, 0);

    uint64_t params = 0;
    int per_layer[64] = { 0 };
    for (uint64_t i = 0; i < f.n_tensors; i++) {
        const gg_tensor_t *t = &f.tensors[i];
        ck_assert_uint_ge(t->offset, f.data_start);
        ck_assert_uint_le(t->offset + t->length, f.file_size);
        ck_assert_uint_eq((t->offset - f.data_start) % f.alignment, 0);
        uint64_t n = 1;
        for (uint32_t d = 0; d < t->n_dims; d++)
            n *= t->ne[d];
        int ok;
        ck_assert_uint_eq(gg_type_nbytes(t->type, n, &ok), t->length);
        params += n;
        int layer;
        if (sscanf(t->name, "blk.%d.", &layer) == 1) {
            ck_assert_int_ge(layer, 0);
            ck_assert_int_lt(layer, cfg.num_hidden_layers);
            per_layer[layer]++;
        }
    }
    for (int l = 1; l < cfg.num_hidden_layers; l++)
        ck_assert_int_eq(per_layer[l], per_layer[0]);
    ck_assert_int_gt(per_layer[0], 0);
    /* the index's metadata.total_parameters equals the GGUF element count */
    char *text;
    size_t len;
    ck_assert_int_eq(fu_read_file("tests/fixtures/demo/model.safetensors.index.json", 1 << 20, &text, &len), 0);
    const char *tp = strstr(text, "\"total_parameters\":");
    ck_assert_ptr_nonnull(tp);
    ck_assert_uint_eq(params, strtoull(tp + strlen("\"total_parameters\":"), NULL, 10));
    free(text);
    gg_free(&f);
    hi_free(&ix);
}

START_TEST(demo_fixtures)
{
    check_demo_gguf("tests/fixtures/gguf/demo-q8_0.gguf");
    check_demo_gguf("tests/fixtures/gguf/demo-bf16.gguf");
}
END_TEST

/* ------------------------------------------------------------ negative --- */

START_TEST(header_errors)
{
    bb_t bb = { 0 };
    put(&bb, "GGUX", 4);
    put_u32(&bb, 3);
    put_u64(&bb, 0);
    put_u64(&bb, 0);
    expect_fail(&bb, "magic");
    put_header(&bb, 1, 0, 0);
    expect_fail(&bb, "version 1");
    put_header(&bb, 3u << 24, 0, 0);
    expect_fail(&bb, "big-endian");
    put_header(&bb, 3, 1ull << 62, 0);
    expect_fail(&bb, "tensor count");
    put_header(&bb, 3, 0, UINT64_MAX);
    expect_fail(&bb, "KV count");
    /* counts that fit the file but whose entries are missing: truncated */
    put_header(&bb, 3, 0, 2);
    put_str(&bb, "k");
    put_u32(&bb, GG_T_STRING);
    put_str(&bb, "01234567890123456789");
    put_str(&bb, "x");
    put_u32(&bb, GG_T_UINT64);
    put_u32(&bb, 0);
    expect_fail(&bb, "truncated: x at offset");
    put(&bb, "GG", 2);
    expect_fail(&bb, "truncated");
}
END_TEST

START_TEST(every_truncation)
{
    bb_t bb = { 0 };
    build_valid(&bb, 3);
    gg_file_t f;
    char err[256];
    for (size_t cut = 0; cut < bb.n; cut++) {
        fu_mem_t m = { bb.b, cut };
        ck_assert_msg(gg_parse(fu_mem_read, &m, cut, &f, err, sizeof err) == -EINVAL, "cut %zu accepted", cut);
    }
    free(bb.b);
    /* and a stride through the real header */
    char *text;
    size_t len;
    ck_assert_int_eq(fu_read_file("tests/fixtures/gguf/demo-q8_0.gguf", 64 << 20, &text, &len), 0);
    ck_assert_int_eq(gg_parse(fu_mem_read, &(fu_mem_t){ text, len }, len, &f, err, sizeof err), 0);
    uint64_t hdr = f.data_start;
    gg_free(&f);
    for (size_t cut = 0; cut < hdr; cut += 61) {
        fu_mem_t m = { text, cut };
        ck_assert_int_lt(gg_parse(fu_mem_read, &m, cut, &f, err, sizeof err), 0);
    }
    free(text);
}
END_TEST

START_TEST(string_and_array_limits)
{
    bb_t bb = { 0 };
    /* key length larger than the file */
    put_header(&bb, 3, 0, 1);
    put_u64(&bb, UINT64_MAX);
    put(&bb, "abcdefgh", 8);
    expect_fail(&bb, "exceeds the file");
    /* string value length just over what is left */
    put_header(&bb, 3, 0, 1);
    put_str(&bb, "k");
    put_u32(&bb, GG_T_STRING);
    put_u64(&bb, 5);
    put(&bb, "abcd", 4);
    expect_fail(&bb, "exceeds the file");
    /* array of 2^40 u32: count vs remaining bytes */
    put_header(&bb, 3, 0, 1);
    put_str(&bb, "k");
    put_u32(&bb, GG_T_ARRAY);
    put_u32(&bb, GG_T_UINT32);
    put_u64(&bb, 1ull << 40);
    put_u64(&bb, 0);
    expect_fail(&bb, "array of 1099511627776 elements");
    /* array count whose byte size overflows 64 bits */
    put_header(&bb, 3, 0, 1);
    put_str(&bb, "k");
    put_u32(&bb, GG_T_ARRAY);
    put_u32(&bb, GG_T_UINT64);
    put_u64(&bb, UINT64_MAX / 4);
    put_u64(&bb, 0);
    expect_fail(&bb, "exceeds the file");
    /* array of strings whose element claims too much */
    put_header(&bb, 3, 0, 1);
    put_str(&bb, "k");
    put_u32(&bb, GG_T_ARRAY);
    put_u32(&bb, GG_T_STRING);
    put_u64(&bb, 2);
    put_str(&bb, "ok");
    put_u64(&bb, 1000);
    expect_fail(&bb, "truncated");
    /* unknown value type and unknown element type */
    put_header(&bb, 3, 0, 1);
    put_str(&bb, "k");
    put_u32(&bb, 99);
    put_u64(&bb, 0);
    expect_fail(&bb, "unknown value type 99");
    put_header(&bb, 3, 0, 1);
    put_str(&bb, "k");
    put_u32(&bb, GG_T_ARRAY);
    put_u32(&bb, 13);
    put_u64(&bb, 1);
    put_u64(&bb, 0);
    expect_fail(&bb, "unknown array element type 13");
    /* arrays nested too deeply */
    put_header(&bb, 3, 0, 1);
    put_str(&bb, "k");
    put_u32(&bb, GG_T_ARRAY);
    for (int i = 0; i < 8; i++) {
        put_u32(&bb, GG_T_ARRAY);
        put_u64(&bb, 1);
    }
    put_u32(&bb, GG_T_UINT8);
    put_u64(&bb, 0);
    put_u64(&bb, 0);
    expect_fail(&bb, "nested");
    /* invalid UTF-8, embedded NUL and empty key */
    put_header(&bb, 3, 0, 1);
    put_str(&bb, "ke\xc0\x80y");
    put_u32(&bb, GG_T_UINT8);
    put_le(&bb, 0, 1);
    put_u64(&bb, 0);
    expect_fail(&bb, "UTF-8");
    put_header(&bb, 3, 0, 1);
    put_u64(&bb, 3);
    put(&bb, "a\0b", 3);
    put_u32(&bb, GG_T_UINT8);
    put_le(&bb, 0, 1);
    put_u64(&bb, 0);
    expect_fail(&bb, "UTF-8");
    put_header(&bb, 3, 0, 1);
    put_str(&bb, "");
    put_u32(&bb, GG_T_UINT8);
    put_le(&bb, 0, 1);
    put_u64(&bb, 0);
    expect_fail(&bb, "out of range");
    /* duplicate keys */
    put_header(&bb, 3, 0, 2);
    for (int i = 0; i < 2; i++) {
        put_str(&bb, "dup");
        put_u32(&bb, GG_T_UINT8);
        put_le(&bb, 0, 1);
    }
    put_u64(&bb, 0);
    expect_fail(&bb, "duplicate KV key 'dup'");
}
END_TEST

/* One tensor info with the given fields, followed by data_len bytes of data. */
static void build_one_tensor(bb_t *bb, const char *name, uint32_t nd, const uint64_t *ne, uint32_t type,
                             uint64_t off, size_t data_len)
{
    put_header(bb, 3, 1, 0);
    put_tensor(bb, name, nd, ne, type, off);
    put_data(bb, 32, data_len);
}

START_TEST(tensor_errors)
{
    bb_t bb = { 0 };
    uint64_t ne[5] = { 32, 2, 1, 1, 1 };
    build_one_tensor(&bb, "t", 5, ne, 0, 0, 256);
    expect_fail(&bb, "5 dims");
    build_one_tensor(&bb, "t", 2, ne, 4, 0, 256);
    expect_fail(&bb, "unknown ggml type 4");
    build_one_tensor(&bb, "t", 2, ne, 1000, 0, 256);
    expect_fail(&bb, "unknown ggml type 1000");
    uint64_t big[2] = { 1ull << 40, 1ull << 40 };
    build_one_tensor(&bb, "t", 2, big, 0, 0, 256);
    expect_fail(&bb, "overflows");
    uint64_t neg[1] = { UINT64_MAX };
    build_one_tensor(&bb, "t", 1, neg, 0, 0, 256);
    expect_fail(&bb, "overflows");
    uint64_t odd[2] = { 33, 2 };
    build_one_tensor(&bb, "t", 2, odd, 8, 0, 256);
    expect_fail(&bb, "whole number of Q8_0 blocks");
    build_one_tensor(&bb, "t", 2, ne, 0, 16, 512);
    expect_fail(&bb, "not a multiple of the alignment");
    build_one_tensor(&bb, "t", 2, ne, 0, 0, 255); /* needs 256 bytes */
    expect_fail(&bb, "past the end");
    build_one_tensor(&bb, "t", 2, ne, 0, UINT64_MAX - 31, 256);
    expect_fail(&bb, "past the end");
    build_one_tensor(&bb, "bad\xff", 2, ne, 0, 0, 256);
    expect_fail(&bb, "UTF-8");
    /* tensor infos present but the data section is missing entirely */
    put_header(&bb, 3, 1, 0);
    put_tensor(&bb, "t", 2, ne, 0, 0);
    expect_fail(&bb, "past the end");

    /* two tensors: overlapping, and with the same name */
    put_header(&bb, 3, 2, 0);
    put_tensor(&bb, "a", 2, ne, 0, 0);
    put_tensor(&bb, "b", 2, ne, 0, 128);
    put_data(&bb, 32, 512);
    expect_fail(&bb, "overlap");
    put_header(&bb, 3, 2, 0);
    put_tensor(&bb, "a", 2, ne, 0, 0);
    put_tensor(&bb, "a", 2, ne, 0, 256);
    put_data(&bb, 32, 512);
    expect_fail(&bb, "duplicate tensor name 'a'");

    /* general.alignment: not a power of two, wrong type */
    put_header(&bb, 3, 0, 1);
    put_str(&bb, "general.alignment");
    put_u32(&bb, GG_T_UINT32);
    put_u32(&bb, 48);
    expect_fail(&bb, "power of two");
    put_header(&bb, 3, 0, 1);
    put_str(&bb, "general.alignment");
    put_u32(&bb, GG_T_UINT64);
    put_u64(&bb, 64);
    expect_fail(&bb, "power of two");
    put_header(&bb, 3, 0, 1);
    put_str(&bb, "general.alignment");
    put_u32(&bb, GG_T_UINT32);
    put_u32(&bb, 0);
    expect_fail(&bb, "power of two");
}
END_TEST

/* A reader that fails: the error code comes back, nothing leaks. */
static int failing_read(void *ctx, void *buf, size_t len, uint64_t off)
{
    (void)ctx, (void)buf, (void)len, (void)off;
    return -EIO;
}

START_TEST(reader_error)
{
    gg_file_t f;
    char err[256] = "";
    ck_assert_int_eq(gg_parse(failing_read, NULL, 4096, &f, err, sizeof err), -EIO);
    ck_assert_ptr_nonnull(strstr(err, "read error at offset 0"));
    ck_assert_int_eq(gg_parse_path("tests/fixtures/gguf/missing.gguf", &f, err, sizeof err), -ENOENT);
}
END_TEST

Suite *gguf_suite(void)
{
    Suite *s = suite_create("gguf");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, small_valid);
    tcase_add_test(tc, scalar_kvs);
    tcase_add_test(tc, type_table);
    tcase_add_test(tc, demo_fixtures);
    tcase_add_test(tc, header_errors);
    tcase_add_test(tc, every_truncation);
    tcase_add_test(tc, string_and_array_limits);
    tcase_add_test(tc, tensor_errors);
    tcase_add_test(tc, reader_error);
    suite_add_tcase(s, tc);
    return s;
}
