/* test_safetensors.c — safetensors header parsing: the fixtures (checked against their
 * index), and malformed files built in memory (every rejection the parser promises). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fu_util.h"
#include "safetensors.h"

/* ----------------------------------------------------------- builders --- */

/* A safetensors image: 8-byte LE length, the JSON, then data_len zero bytes.
 * hdr_len_override != 0 writes that value as the header length instead. */
static unsigned char *make_st(const char *json, uint64_t data_len, uint64_t hdr_len_override, size_t *size)
{
    size_t jl = strlen(json);
    *size = 8 + jl + (size_t)data_len;
    unsigned char *b = calloc(1, *size ? *size : 1);
    ck_assert_ptr_nonnull(b);
    uint64_t n = hdr_len_override ? hdr_len_override : jl;
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(n >> (8 * i));
    memcpy(b + 8, json, jl);
    return b;
}

/* Parse json+data; return the code and leave the message in err. */
static int parse_json(const char *json, uint64_t data_len, st_file_t *f, char *err, size_t errlen)
{
    size_t size;
    unsigned char *b = make_st(json, data_len, 0, &size);
    fu_mem_t m = { b, size };
    int rc = st_parse(fu_mem_read, &m, size, f, err, errlen);
    free(b);
    return rc;
}

/* Expect rejection with rc and an error containing want. */
static void expect_fail(const char *json, uint64_t data_len, int rc_want, const char *want)
{
    st_file_t f;
    char err[512] = "";
    int rc = parse_json(json, data_len, &f, err, sizeof err);
    ck_assert_msg(rc == rc_want, "rc %d (want %d) for %.80s: %s", rc, rc_want, json, err);
    ck_assert_msg(strstr(err, want) != NULL, "error '%s' lacks '%s'", err, want);
    ck_assert_uint_eq(f.n_tensors, 0);
    ck_assert_ptr_null(f.tensors);
    st_free(&f);
}

/* ----------------------------------------------------------- positive --- */

START_TEST(small_valid)
{
    const char *j = "{\"__metadata__\":{\"format\":\"pt\"},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]},"
                    "\"a\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,8]},"
                    "\"s\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[32,40]},"
                    "\"z\":{\"dtype\":\"U8\",\"shape\":[0,5],\"data_offsets\":[40,40]}}    ";
    st_file_t f;
    char err[256] = "";
    ck_assert_msg(parse_json(j, 40, &f, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(f.n_tensors, 4);
    ck_assert_uint_eq(f.header_len, strlen(j));
    ck_assert_uint_eq(f.data_start, 8 + strlen(j));
    /* sorted by offset, absolute offsets */
    ck_assert_str_eq(f.tensors[0].name, "a");
    ck_assert_uint_eq(f.tensors[0].offset, f.data_start);
    ck_assert_uint_eq(f.tensors[0].length, 8);
    ck_assert_str_eq(f.tensors[1].name, "b");
    ck_assert_int_eq(f.tensors[1].ndim, 2);
    ck_assert_uint_eq(f.tensors[1].shape[1], 3);
    ck_assert_int_eq(f.tensors[1].dtype, ST_DT_F32);
    const st_tensor_t *s = st_find(&f, "s");
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(s->ndim, 0);
    ck_assert_uint_eq(s->length, 8);
    ck_assert_ptr_null(st_find(&f, "__metadata__"));
    ck_assert_uint_eq(st_find(&f, "z")->length, 0);
    st_free(&f);
    st_free(&f); /* idempotent */
}
END_TEST

START_TEST(dtype_table)
{
    for (int t = ST_DT_BOOL; t < ST_DT_COUNT; t++) {
        ck_assert_int_eq(st_dtype_from_name(st_dtype_name((st_dtype_t)t)), t);
        ck_assert_uint_gt(st_dtype_size((st_dtype_t)t), 0);
    }
    ck_assert_uint_eq(st_dtype_size(ST_DT_BF16), 2);
    ck_assert_uint_eq(st_dtype_size(ST_DT_F64), 8);
    ck_assert_int_eq(st_dtype_from_name("bf16"), ST_DT_UNKNOWN);
    ck_assert_int_eq(st_dtype_from_name(NULL), ST_DT_UNKNOWN);
    ck_assert_str_eq(st_dtype_name(ST_DT_COUNT), "UNKNOWN");
    ck_assert_uint_eq(st_dtype_size(ST_DT_UNKNOWN), 0);
}
END_TEST

/* The demo's shards hold exactly the tensors the index assigns to them. */
START_TEST(demo_shards_match_index)
{
    const char *dir = "tests/fixtures/demo";
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    char *text;
    size_t len;
    ck_assert_int_eq(fu_read_file(path, 1 << 20, &text, &len), 0);
    cJSON *ix = cJSON_ParseWithLength(text, len);
    free(text);
    ck_assert_ptr_nonnull(ix);
    cJSON *wm = cJSON_GetObjectItemCaseSensitive(ix, "weight_map");
    ck_assert(cJSON_IsObject(wm));
    size_t total = (size_t)cJSON_GetArraySize(wm), seen = 0;
    ck_assert_uint_gt(total, 0);
    uint64_t bytes = 0;

    const char *shards[] = { "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" };
    for (int s = 0; s < 2; s++) {
        snprintf(path, sizeof path, "%s/%s", dir, shards[s]);
        st_file_t f;
        char err[256] = "";
        ck_assert_msg(st_parse_path(path, &f, err, sizeof err) == 0, "%s: %s", path, err);
        size_t in_index = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, wm)
            if (strcmp(e->valuestring, shards[s]) == 0) {
                in_index++;
                ck_assert_msg(st_find(&f, e->string) != NULL, "%s not in %s", e->string, shards[s]);
            }
        ck_assert_uint_eq(f.n_tensors, in_index);
        for (size_t i = 0; i < f.n_tensors; i++) {
            const st_tensor_t *t = &f.tensors[i];
            ck_assert_uint_ge(t->offset, f.data_start);
            ck_assert_uint_le(t->offset + t->length, f.file_size);
            if (i)
                ck_assert_uint_ge(t->offset, f.tensors[i - 1].offset + f.tensors[i - 1].length);
            bytes += t->length;
        }
        seen += f.n_tensors;
        st_free(&f);
    }
    ck_assert_uint_eq(seen, total);
    /* metadata.total_size is the sum of all tensor bytes */
    uint64_t ts = (uint64_t)cJSON_GetNumberValue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ix, "metadata"), "total_size"));
    ck_assert_uint_eq(bytes, ts);
    cJSON_Delete(ix);
}
END_TEST

/* ----------------------------------------------------------- negative --- */

START_TEST(short_and_truncated)
{
    st_file_t f;
    char err[256] = "";
    unsigned char tiny[5] = { 1, 0, 0, 0, 0 };
    fu_mem_t m = { tiny, sizeof tiny };
    ck_assert_int_eq(st_parse(fu_mem_read, &m, sizeof tiny, &f, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "shorter"));

    /* header length larger than the file */
    size_t size;
    unsigned char *b = make_st("{}", 0, 1000, &size);
    m = (fu_mem_t){ b, size };
    ck_assert_int_eq(st_parse(fu_mem_read, &m, size, &f, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "exceeds the file size"));
    free(b);

    /* header length over the limit, and absurd (2^64-1) */
    b = make_st("{}", 0, (uint64_t)ST_MAX_HEADER + 1, &size);
    m = (fu_mem_t){ b, size };
    ck_assert_int_eq(st_parse(fu_mem_read, &m, (uint64_t)ST_MAX_HEADER * 4, &f, err, sizeof err), -EFBIG);
    free(b);
    b = make_st("{}", 0, UINT64_MAX, &size);
    m = (fu_mem_t){ b, size };
    ck_assert_int_eq(st_parse(fu_mem_read, &m, size, &f, err, sizeof err), -EFBIG);
    free(b);

    /* the claimed size is larger than what the reader can deliver: a read error */
    b = make_st("{}", 0, 0, &size);
    m = (fu_mem_t){ b, 4 };
    ck_assert_int_eq(st_parse(fu_mem_read, &m, size, &f, err, sizeof err), -EIO);
    free(b);

    /* data truncated: the tensor's end is past the end of the file */
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 15, -EINVAL,
                "past the end");
}
END_TEST

START_TEST(every_truncation_of_a_real_header)
{
    /* Cut the dev fixture at every length up to the end of its header (+ a bit of data):
     * each prefix must fail cleanly (the data section is missing), never crash or leak. */
    char *text;
    size_t len;
    ck_assert_int_eq(fu_read_file("tests/fixtures/dev/qwen2-bl-bf16/model.safetensors", 64 << 20, &text, &len), 0);
    ck_assert_uint_gt(len, 8);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | (unsigned char)text[i];
    ck_assert_uint_lt(n + 8, len);
    st_file_t f;
    char err[256];
    for (size_t cut = 0; cut <= n + 8 + 64 && cut < len; cut++) {
        fu_mem_t m = { text, cut };
        ck_assert_int_lt(st_parse(fu_mem_read, &m, cut, &f, err, sizeof err), 0);
    }
    fu_mem_t m = { text, len };
    ck_assert_int_eq(st_parse(fu_mem_read, &m, len, &f, err, sizeof err), 0);
    st_free(&f);
    free(text);
}
END_TEST

START_TEST(offsets)
{
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[4,12]}}", 12, -EINVAL, "overlap");
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}", 8, -EINVAL, "overlap");
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8, -EINVAL, "begin 8 > end 4");
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[100,104]}}", 8, -EINVAL, "file offset");
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[-4,0]}}", 8, -EINVAL, "data_offsets");
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0.5,4]}}", 8, -EINVAL, "data_offsets");
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,1e300]}}", 8, -EINVAL, "data_offsets");
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0]}}", 8, -EINVAL, "data_offsets");
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":\"0,4\"}}", 8, -EINVAL, "data_offsets");
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[4]}}", 8, -EINVAL, "data_offsets");
}
END_TEST

START_TEST(shapes_and_dtypes)
{
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, -EINVAL,
                "span 8 bytes but shape x F32 needs 12");
    expect_fail("{\"weird\":{\"dtype\":\"Q4_K\",\"shape\":[4],\"data_offsets\":[0,4]}}", 8, -EINVAL,
                "unknown dtype 'Q4_K'");
    expect_fail("{\"a\":{\"dtype\":7,\"shape\":[4],\"data_offsets\":[0,4]}}", 8, -EINVAL, "dtype");
    expect_fail("{\"a\":{\"shape\":[4],\"data_offsets\":[0,4]}}", 8, -EINVAL, "dtype");
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 8,
                -EINVAL, "dims");
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,1]}}", 8, -EINVAL, "shape[0]");
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[\"4\"],\"data_offsets\":[0,4]}}", 8, -EINVAL, "shape[0]");
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"data_offsets\":[0,4]}}", 8, -EINVAL, "shape");
    /* element count overflows 64 bits: 2^52 * 2^52 */
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[4503599627370496,4503599627370496],\"data_offsets\":[0,4]}}",
                8, -EINVAL, "overflow");
    /* bytes overflow: 2^61 elements of 8 bytes */
    expect_fail("{\"a\":{\"dtype\":\"F64\",\"shape\":[2097152,1099511627776],\"data_offsets\":[0,4]}}",
                8, -EINVAL, "overflow");
}
END_TEST

START_TEST(json_structure)
{
    expect_fail("[1,2,3]", 0, -EINVAL, "not a JSON object");
    expect_fail("{\"a\":5}", 0, -EINVAL, "not an object");
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}", 8, -EINVAL, "malformed JSON");
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}xx", 8, -EINVAL, "trailing");
    expect_fail("{\"__metadata__\":7}", 0, -EINVAL, "__metadata__");
    expect_fail("{\"\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 8, -EINVAL, "empty name");
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                "\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}", 8, -EINVAL, "duplicate");
    /* bad UTF-8 in a tensor name and in metadata; error names the file offset (8 + position) */
    const char *j = "{\"bad\xff\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}";
    expect_fail(j, 8, -EINVAL, "invalid UTF-8 in JSON at offset 13");
    expect_fail("{\"__metadata__\":{\"k\":\"\xc3\x28\"}}", 0, -EINVAL, "UTF-8");
    /* NUL inside the name, raw and escaped */
    expect_fail("{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 8, -EINVAL, "u0000");
    /* a raw NUL padding byte */
    st_file_t f;
    char err[256] = "";
    size_t size;
    unsigned char *b = make_st("{}  ", 0, 0, &size);
    b[8 + 2] = 0;
    fu_mem_t m = { b, size };
    ck_assert_int_eq(st_parse(fu_mem_read, &m, size, &f, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "NUL"));
    free(b);
    /* an empty header object is a valid file with no tensors */
    ck_assert_int_eq(parse_json("{}", 0, &f, err, sizeof err), 0);
    ck_assert_uint_eq(f.n_tensors, 0);
    st_free(&f);
}
END_TEST

START_TEST(deep_json)
{
    /* 5000 nested arrays inside __metadata__: refused, not a stack overflow */
    size_t depth = 5000;
    char *j = malloc(2 * depth + 64);
    ck_assert_ptr_nonnull(j);
    size_t n = (size_t)sprintf(j, "{\"__metadata__\":{\"x\":");
    for (size_t i = 0; i < depth; i++)
        j[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        j[n++] = ']';
    strcpy(j + n, "}}");
    expect_fail(j, 0, -EINVAL, "nested deeper");
    free(j);
}
END_TEST

Suite *safetensors_suite(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, small_valid);
    tcase_add_test(tc, dtype_table);
    tcase_add_test(tc, demo_shards_match_index);
    tcase_add_test(tc, short_and_truncated);
    tcase_add_test(tc, every_truncation_of_a_real_header);
    tcase_add_test(tc, offsets);
    tcase_add_test(tc, shapes_and_dtypes);
    tcase_add_test(tc, json_structure);
    tcase_add_test(tc, deep_json);
    suite_add_tcase(s, tc);
    return s;
}
