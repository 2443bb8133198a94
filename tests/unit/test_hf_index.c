/* test_hf_index.c — model.safetensors.index.json: the demo fixture against its shards,
 * and malformed indexes (unsafe shard paths, bad types, duplicates, bad JSON). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hf_index.h"
#include "safetensors.h"

static int parse(const char *json, hi_index_t *ix, char *err, size_t errlen)
{
    return hi_parse(json, strlen(json), ix, err, errlen);
}

START_TEST(small_valid)
{
    hi_index_t ix;
    char err[256] = "";
    const char *j = "{\"metadata\":{\"total_size\":1234},\"weight_map\":{\"b\":\"s2.safetensors\","
                    "\"a\":\"s1.safetensors\",\"c\":\"s2.safetensors\",\"d\":\"sub/s3.safetensors\"}}";
    ck_assert_msg(parse(j, &ix, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(ix.total_size, 1234);
    ck_assert_uint_eq(ix.n_entries, 4);
    ck_assert_uint_eq(ix.n_files, 3);
    ck_assert_str_eq(ix.files[0], "s2.safetensors"); /* first-seen order */
    ck_assert_str_eq(ix.files[1], "s1.safetensors");
    ck_assert_str_eq(ix.entries[0].tensor, "b");      /* JSON order */
    ck_assert_str_eq(hi_file_for(&ix, "c"), "s2.safetensors");
    ck_assert_str_eq(hi_file_for(&ix, "a"), "s1.safetensors");
    ck_assert_ptr_null(hi_file_for(&ix, "zz"));
    hi_free(&ix);
    hi_free(&ix);
    /* metadata is optional */
    ck_assert_int_eq(parse("{\"weight_map\":{\"a\":\"x.safetensors\"}}", &ix, err, sizeof err), 0);
    ck_assert_uint_eq(ix.total_size, 0);
    hi_free(&ix);
}
END_TEST

START_TEST(malformed)
{
    struct { const char *json; const char *want; } cases[] = {
        { "{\"weight_map\":{\"a\":\"/etc/passwd\"}}", "unsafe" },
        { "{\"weight_map\":{\"a\":\"../x.safetensors\"}}", "unsafe" },
        { "{\"weight_map\":{\"a\":\"d/../../x\"}}", "unsafe" },
        { "{\"weight_map\":{\"a\":\"d//x\"}}", "unsafe" },
        { "{\"weight_map\":{\"a\":\"\"}}", "unsafe" },
        { "{\"weight_map\":{\"a\":\"..\"}}", "unsafe" },
        { "{\"weight_map\":{\"a\":\"x.safeten../s\"}}", "unsafe" },
        { "{\"weight_map\":{\"a\":\"dir/\"}}", "unsafe" },
        { "{\"weight_map\":{\"a\":5}}", "not a string" },
        { "{\"weight_map\":{\"a\":\"x\",\"a\":\"y\"}}", "duplicate" },
        { "{\"weight_map\":{\"\":\"x\"}}", "empty tensor name" },
        { "{\"weight_map\":[]}", "weight_map" },
        { "{\"metadata\":{}}", "weight_map" },
        { "{\"weight_map\":{}}", "empty" },
        { "{\"metadata\":{\"total_size\":-5},\"weight_map\":{\"a\":\"x\"}}", "total_size" },
        { "{\"metadata\":{\"total_size\":\"5\"},\"weight_map\":{\"a\":\"x\"}}", "total_size" },
        { "{\"metadata\":3,\"weight_map\":{\"a\":\"x\"}}", "metadata" },
        { "[]", "top level" },
        { "{\"weight_map\":{\"a\":\"x\"}", "malformed" },
        { "{\"weight_map\":{\"a\xc3\":\"x\"}}", "UTF-8" },
        { "{\"weight_map\":{\"a\":\"x\\u0000y\"}}", "u0000" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        hi_index_t ix;
        char err[256] = "";
        ck_assert_msg(parse(cases[i].json, &ix, err, sizeof err) == -EINVAL, "case %zu accepted", i);
        ck_assert_msg(strstr(err, cases[i].want) != NULL, "case %zu: '%s' lacks '%s'", i, err, cases[i].want);
        ck_assert_uint_eq(ix.n_entries, 0);
        ck_assert_ptr_null(ix.files);
    }
}
END_TEST

START_TEST(deep_json)
{
    size_t depth = 3000;
    char *j = malloc(6 * depth + 64);
    ck_assert_ptr_nonnull(j);
    size_t n = (size_t)sprintf(j, "{\"weight_map\":");
    for (size_t i = 0; i < depth; i++)
        j[n++] = '{', j[n++] = '\"', j[n++] = 'a', j[n++] = '\"', j[n++] = ':';
    j[n++] = '1';
    for (size_t i = 0; i <= depth; i++)
        j[n++] = '}';
    hi_index_t ix;
    char err[256] = "";
    ck_assert_int_eq(hi_parse(j, n, &ix, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "nested"));
    free(j);
}
END_TEST

/* The demo index lists every tensor of its shards and nothing else. */
START_TEST(demo_fixture)
{
    const char *dir = "tests/fixtures/demo";
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    hi_index_t ix;
    char err[256] = "";
    ck_assert_msg(hi_load(path, &ix, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_ge(ix.n_files, 2);
    size_t tensors = 0;
    uint64_t bytes = 0;
    for (size_t s = 0; s < ix.n_files; s++) {
        snprintf(path, sizeof path, "%s/%s", dir, ix.files[s]);
        st_file_t f;
        ck_assert_msg(st_parse_path(path, &f, err, sizeof err) == 0, "%s: %s", path, err);
        for (size_t i = 0; i < f.n_tensors; i++) {
            const char *shard = hi_file_for(&ix, f.tensors[i].name);
            ck_assert_ptr_nonnull(shard);
            ck_assert_str_eq(shard, ix.files[s]);
            bytes += f.tensors[i].length;
        }
        tensors += f.n_tensors;
        st_free(&f);
    }
    ck_assert_uint_eq(tensors, ix.n_entries);
    ck_assert_uint_eq(bytes, ix.total_size);
    hi_free(&ix);
    ck_assert_int_eq(hi_load("tests/fixtures/demo/missing.index.json", &ix, err, sizeof err), -ENOENT);
}
END_TEST

Suite *hf_index_suite(void)
{
    Suite *s = suite_create("hf_index");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, small_valid);
    tcase_add_test(tc, malformed);
    tcase_add_test(tc, deep_json);
    tcase_add_test(tc, demo_fixture);
    suite_add_tcase(s, tc);
    return s;
}
