/* test_layout.c — the tensor layout: the demo and GGUF fixtures mapped to layer groups
 * (expectations from their index/config/KV metadata), name classification, offset lookups,
 * failed files kept as plain bytes with their reason, and the JSON document. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fu_util.h"
#include "gguf.h"
#include "hf_config.h"
#include "hf_index.h"
#include "layout.h"

/* ------------------------------------------------------------- helpers --- */

/* Add one file from disk under relpath. */
static int add_path(ly_layout_t *ly, const char *path, const char *relpath)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    struct stat sb;
    ck_assert_int_eq(fstat(fd, &sb), 0);
    int idx = ly_add_file(ly, relpath, fu_fd_read, (void *)(intptr_t)fd, (uint64_t)sb.st_size);
    close(fd);
    return idx;
}

/* Add every regular file of a directory (not recursive). */
static void add_dir(ly_layout_t *ly, const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ck_assert_int_ge(add_path(ly, path, e->d_name), 0);
    }
    closedir(d);
}

static int group_index(const ly_layout_t *ly, const char *name)
{
    for (size_t i = 0; i < ly->n_groups; i++)
        if (strcmp(ly->groups[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* Every tensor's first and last byte maps back to it; the byte before data_start to none. */
static void check_lookups(const ly_file_t *f)
{
    for (size_t i = 0; i < f->n_tensors; i++) {
        const ly_tensor_t *t = &f->tensors[i];
        if (t->length == 0)
            continue;
        ck_assert_int_eq(ly_tensor_at(f, t->offset), (long)i);
        ck_assert_int_eq(ly_tensor_at(f, t->offset + t->length - 1), (long)i);
        ck_assert_int_eq(ly_group_at(f, t->offset + t->length / 2), t->group);
        ck_assert_int_ge(t->group, 0);
        if (i)
            ck_assert_uint_ge(t->offset, f->tensors[i - 1].offset + f->tensors[i - 1].length);
    }
    if (f->data_start)
        ck_assert_int_eq(ly_group_at(f, f->data_start - 1), -1);
    ck_assert_int_eq(ly_tensor_at(f, 0), -1);
    ck_assert_int_eq(ly_tensor_at(f, f->size), -1);
    ck_assert_int_eq(ly_tensor_at(f, UINT64_MAX), -1);
}

/* Groups are embed, layer.0..n-1, norm, head[, other] in this order, layers equal in size. */
static void check_group_order(const ly_layout_t *ly, int n_layers)
{
    ck_assert_int_eq(ly->n_layers, n_layers);
    ck_assert_uint_ge(ly->n_groups, (size_t)n_layers + 3);
    ck_assert_str_eq(ly->groups[0].name, "embed");
    ck_assert_int_eq(ly->groups[0].layer, -1);
    for (int l = 0; l < n_layers; l++) {
        char name[32];
        snprintf(name, sizeof name, "layer.%d", l);
        ck_assert_str_eq(ly->groups[1 + l].name, name);
        ck_assert_int_eq(ly->groups[1 + l].layer, l);
        ck_assert_uint_eq(ly->groups[1 + l].n_tensors, ly->groups[1].n_tensors);
        ck_assert_uint_gt(ly->groups[1 + l].bytes, 0);
    }
    ck_assert_str_eq(ly->groups[1 + n_layers].name, "norm");
    ck_assert_str_eq(ly->groups[2 + n_layers].name, "head");
    ck_assert_uint_eq(ly->groups[1 + n_layers].n_tensors, 1);
    ck_assert_uint_eq(ly->groups[2 + n_layers].n_tensors, 1);
}

/* ------------------------------------------------------------ fixtures --- */

START_TEST(demo_model)
{
    hi_index_t ix;
    hc_config_t cfg;
    char err[256] = "";
    ck_assert_int_eq(hi_load("tests/fixtures/demo/model.safetensors.index.json", &ix, err, sizeof err), 0);
    ck_assert_int_eq(hc_load("tests/fixtures/demo/config.json", &cfg, err, sizeof err), 0);

    ly_layout_t ly;
    ly_init(&ly);
    add_dir(&ly, "tests/fixtures/demo");
    ck_assert_int_eq(ly_finish(&ly), 0);

    size_t tensors = 0, st_files = 0;
    for (size_t i = 0; i < ly.n_files; i++) {
        const ly_file_t *f = &ly.files[i];
        ck_assert_msg(f->parse_error == 0, "%s: %s", f->path, f->error);
        if (f->kind == LY_SAFETENSORS) {
            st_files++;
            check_lookups(f);
            for (size_t j = 0; j < f->n_tensors; j++)
                ck_assert_str_eq(hi_file_for(&ix, f->tensors[j].name), f->path);
        } else {
            ck_assert_uint_eq(f->n_tensors, 0);
            ck_assert_int_eq(ly_group_at(f, 0), -1);
        }
        tensors += f->n_tensors;
    }
    ck_assert_uint_eq(st_files, ix.n_files);
    ck_assert_uint_eq(tensors, ix.n_entries);
    check_group_order(&ly, cfg.num_hidden_layers);
    uint64_t bytes = 0;
    size_t gt = 0;
    for (size_t g = 0; g < ly.n_groups; g++)
        bytes += ly.groups[g].bytes, gt += ly.groups[g].n_tensors;
    ck_assert_uint_eq(bytes, ix.total_size);
    ck_assert_uint_eq(gt, ix.n_entries);
    ck_assert_int_lt(group_index(&ly, "other"), 0); /* every demo tensor has a known group */

    /* specific names land in their groups */
    const ly_file_t *f = ly_find_file(&ly, hi_file_for(&ix, "model.layers.3.mlp.up_proj.weight"));
    ck_assert_ptr_nonnull(f);
    for (size_t j = 0; j < f->n_tensors; j++)
        if (strcmp(f->tensors[j].name, "model.layers.3.mlp.up_proj.weight") == 0)
            ck_assert_str_eq(ly.groups[f->tensors[j].group].name, "layer.3");
    ck_assert_ptr_null(ly_find_file(&ly, "nope"));

    /* finishing twice gives the same groups */
    size_t ng = ly.n_groups;
    ck_assert_int_eq(ly_finish(&ly), 0);
    ck_assert_uint_eq(ly.n_groups, ng);
    ly_free(&ly);
    hi_free(&ix);
}
END_TEST

/* MLX-quantized folders: P.scales / P.biases belong to P's group (layer N, embed, head), so
 * prefetch and the resident set treat them with their weight. */
START_TEST(mlx_fixture_groups)
{
    ly_layout_t ly;
    ly_init(&ly);
    add_dir(&ly, "tests/fixtures/mlx/demo-mlx-4bit");
    ck_assert_int_eq(ly_finish(&ly), 0);
    int n_quant_parts = 0;
    for (size_t i = 0; i < ly.n_files; i++) {
        const ly_file_t *f = &ly.files[i];
        ck_assert_msg(f->parse_error == 0, "%s: %s", f->path, f->error);
        for (size_t j = 0; j < f->n_tensors; j++) {
            const char *name = f->tensors[j].name;
            size_t l = strlen(name);
            if (l < 7 || (strcmp(name + l - 7, ".scales") && strcmp(name + l - 7, ".biases")))
                continue;
            n_quant_parts++;
            char want[32];
            int layer;
            if (sscanf(name, "model.layers.%d.", &layer) == 1)
                snprintf(want, sizeof want, "layer.%d", layer);
            else
                snprintf(want, sizeof want, "%s", !strncmp(name, "lm_head.", 8) ? "head" : "embed");
            ck_assert_msg(f->tensors[j].group >= 0 && !strcmp(ly.groups[f->tensors[j].group].name, want),
                          "%s in group %s, want %s", name,
                          f->tensors[j].group >= 0 ? ly.groups[f->tensors[j].group].name : "none", want);
        }
    }
    /* 6 layers x 6 quantized matrices (down_proj stays bf16) + embed + lm_head, 2 parts each */
    ck_assert_int_eq(n_quant_parts, 2 * (6 * 6 + 2));
    ly_free(&ly);
}
END_TEST

START_TEST(gguf_fixtures)
{
    const char *paths[] = { "tests/fixtures/gguf/demo-q8_0.gguf", "tests/fixtures/gguf/demo-bf16.gguf" };
    for (int p = 0; p < 2; p++) {
        gg_file_t gg;
        char err[256] = "";
        ck_assert_int_eq(gg_parse_path(paths[p], &gg, err, sizeof err), 0);
        const gg_kv_t *bc = gg_find_kv(&gg, "llama.block_count");
        ck_assert_ptr_nonnull(bc);

        ly_layout_t ly;
        ly_init(&ly);
        ck_assert_int_eq(add_path(&ly, paths[p], strrchr(paths[p], '/') + 1), 0);
        ck_assert_int_eq(ly_finish(&ly), 0);
        const ly_file_t *f = &ly.files[0];
        ck_assert_int_eq(f->kind, LY_GGUF);
        ck_assert_uint_eq(f->n_tensors, gg.n_tensors);
        ck_assert_uint_eq(f->data_start, gg.data_start);
        check_lookups(f);
        check_group_order(&ly, (int)bc->num.u);
        /* shapes and dtypes carried over (GGUF ne[] order) */
        for (uint64_t i = 0; i < gg.n_tensors; i++) {
            const gg_tensor_t *t = &gg.tensors[i];
            long j = ly_tensor_at(f, t->offset);
            ck_assert_int_ge(j, 0);
            ck_assert_str_eq(f->tensors[j].name, t->name);
            ck_assert_str_eq(f->tensors[j].dtype, gg_type_name(t->type));
            ck_assert_int_eq(f->tensors[j].ndim, (int)t->n_dims);
            ck_assert_uint_eq(f->tensors[j].shape[0], t->ne[0]);
        }
        ly_free(&ly);
        gg_free(&gg);
    }
}
END_TEST

/* ----------------------------------------------------- synthetic files --- */

/* A safetensors image of U8 tensors with the given names and lengths, back to back. */
static unsigned char *make_st(const char **names, const uint64_t *lens, int n, size_t *size)
{
    char json[4096];
    size_t k = 0;
    uint64_t off = 0;
    k += (size_t)snprintf(json + k, sizeof json - k, "{");
    for (int i = 0; i < n; i++) {
        k += (size_t)snprintf(json + k, sizeof json - k, "%s\"%s\":{\"dtype\":\"U8\",\"shape\":[%llu],"
                              "\"data_offsets\":[%llu,%llu]}", i ? "," : "", names[i],
                              (unsigned long long)lens[i], (unsigned long long)off,
                              (unsigned long long)(off + lens[i]));
        off += lens[i];
    }
    k += (size_t)snprintf(json + k, sizeof json - k, "}");
    ck_assert_uint_lt(k, sizeof json);
    *size = 8 + k + (size_t)off;
    unsigned char *b = calloc(1, *size);
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)k >> (8 * i));
    memcpy(b + 8, json, k);
    return b;
}

static int add_mem(ly_layout_t *ly, const char *relpath, const void *data, size_t size)
{
    fu_mem_t m = { data, size };
    return ly_add_file(ly, relpath, fu_mem_read, &m, size);
}

START_TEST(classification)
{
    const char *names[] = { "lm_head.weight", "model.layers.2.mlp.w", "blk.0.attn_q.weight", "output.weight",
                            "output_norm.weight", "model.norm.weight", "model.embed_tokens.weight",
                            "token_embd.weight", "model.layers.x.y", "rope_freqs.weight",
                            "model.layers.1", "blk.99999999999999999999.a", "model.layers.10.z" };
    const char *want[] = { "head", "layer.2", "layer.0", "head", "norm", "norm", "embed", "embed", "other",
                           "other", "other", "other", "layer.10" };
    uint64_t lens[13] = { 3, 5, 7, 2, 4, 6, 8, 1, 9, 10, 11, 12, 13 };
    size_t size;
    unsigned char *b = make_st(names, lens, 13, &size);
    ly_layout_t ly;
    ly_init(&ly);
    ck_assert_int_eq(add_mem(&ly, "sub/m.safetensors", b, size), 0);
    ck_assert_int_eq(ly_finish(&ly), 0);
    ck_assert_int_eq(ly.n_layers, 11);
    /* embed, 11 layers (layer.1 and layer.3..9 empty), norm, head, other */
    ck_assert_uint_eq(ly.n_groups, 1 + 11 + 3);
    ck_assert_str_eq(ly.groups[ly.n_groups - 1].name, "other");
    ck_assert_uint_eq(ly.groups[group_index(&ly, "layer.5")].n_tensors, 0);
    const ly_file_t *f = ly_find_file(&ly, "sub/m.safetensors");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 13; i++) {
        int found = 0;
        for (size_t j = 0; j < f->n_tensors; j++)
            if (strcmp(f->tensors[j].name, names[i]) == 0) {
                ck_assert_msg(strcmp(ly.groups[f->tensors[j].group].name, want[i]) == 0, "%s -> %s, want %s",
                              names[i], ly.groups[f->tensors[j].group].name, want[i]);
                found = 1;
            }
        ck_assert(found);
    }
    ck_assert_uint_eq(ly.groups[group_index(&ly, "norm")].bytes, lens[4] + lens[5]);
    ck_assert_uint_eq(ly.groups[group_index(&ly, "other")].n_tensors, 4);
    check_lookups(f);
    ly_free(&ly);
    free(b);
}
END_TEST

START_TEST(gaps_and_empty_tensors)
{
    /* a [0,10), zero-length z at 10, gap [10,20), b [20,30) */
    const char *j = "{\"a\":{\"dtype\":\"U8\",\"shape\":[10],\"data_offsets\":[0,10]},"
                    "\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[10,10]},"
                    "\"b\":{\"dtype\":\"U8\",\"shape\":[10],\"data_offsets\":[20,30]}}";
    size_t jl = strlen(j), size = 8 + jl + 30;
    unsigned char *b = calloc(1, size);
    ck_assert_ptr_nonnull(b);
    b[0] = (unsigned char)jl;
    memcpy(b + 8, j, jl);
    ly_layout_t ly;
    ly_init(&ly);
    ck_assert_int_eq(add_mem(&ly, "x.safetensors", b, size), 0);
    ck_assert_int_eq(ly_finish(&ly), 0);
    const ly_file_t *f = &ly.files[0];
    ck_assert_uint_eq(f->n_tensors, 3);
    uint64_t ds = f->data_start;
    ck_assert_str_eq(f->tensors[ly_tensor_at(f, ds + 9)].name, "a");
    ck_assert_int_eq(ly_tensor_at(f, ds + 10), -1);
    ck_assert_int_eq(ly_tensor_at(f, ds + 19), -1);
    ck_assert_str_eq(f->tensors[ly_tensor_at(f, ds + 20)].name, "b");
    ck_assert_int_eq(ly_tensor_at(f, ds + 30), -1);
    ck_assert_uint_eq(ly.n_groups, 1); /* only "other" */
    ly_free(&ly);
    free(b);
}
END_TEST

START_TEST(failed_files_are_plain)
{
    ly_layout_t ly;
    ly_init(&ly);
    const char bad_st[] = "\x14\0\0\0\0\0\0\0{\"a\":{\"dtype\":\"Q9\"}}";
    int i0 = add_mem(&ly, "broken.safetensors", bad_st, sizeof bad_st - 1);
    const char bad_gg[] = "GGUF\x01\0\0\0";
    int i1 = add_mem(&ly, "old.gguf", bad_gg, sizeof bad_gg - 1);
    const char cfg[] = "{\"model_type\":\"llama\"}";
    int i2 = add_mem(&ly, "config.json", cfg, sizeof cfg - 1);
    const char ix[] = "{\"weight_map\":{\"a\":\"../../etc/passwd\"}}";
    int i3 = add_mem(&ly, "model.safetensors.index.json", ix, sizeof ix - 1);
    const char txt[] = "hello";
    int i4 = add_mem(&ly, "README.md", txt, sizeof txt - 1);
    int i5 = add_mem(&ly, "empty.safetensors", "", 0);
    /* a valid GGUF without tensors (header padded to 32 bytes) and one without KVs either */
    unsigned char gg0[32] = { 'G', 'G', 'U', 'F', 3 };
    int i6 = add_mem(&ly, "empty.gguf", gg0, sizeof gg0);
    ck_assert_int_eq(i0, 0);
    ck_assert_int_eq(i5, 5);
    ck_assert_int_eq(ly_finish(&ly), 0);
    int idx[] = { i0, i1, i2, i3, i5 };
    for (size_t k = 0; k < sizeof idx / sizeof *idx; k++) {
        const ly_file_t *f = &ly.files[idx[k]];
        ck_assert_msg(f->parse_error < 0, "%s parsed", f->path);
        ck_assert_int_eq(f->kind, LY_PLAIN);
        ck_assert_uint_eq(f->n_tensors, 0);
        ck_assert_str_ne(f->error, "");
        ck_assert_int_eq(ly_group_at(f, 0), -1);
    }
    ck_assert_ptr_nonnull(strstr(ly.files[i0].error, "unknown dtype 'Q9'"));
    ck_assert_ptr_nonnull(strstr(ly.files[i1].error, "version 1"));
    ck_assert_ptr_nonnull(strstr(ly.files[i2].error, "hidden_size"));
    ck_assert_ptr_nonnull(strstr(ly.files[i3].error, "unsafe"));
    ck_assert_int_eq(ly.files[i4].parse_error, 0);
    ck_assert_int_eq(ly.files[i6].parse_error, 0);
    ck_assert_int_eq(ly.files[i6].kind, LY_GGUF);
    ck_assert_uint_eq(ly.files[i6].n_tensors, 0);
    ck_assert_uint_eq(ly.files[i6].data_start, 32);
    ck_assert_uint_eq(ly.files[i4].size, 5);
    ck_assert_uint_eq(ly.n_groups, 0);
    ck_assert_int_eq(ly.n_layers, 0);

    /* the JSON shows the reasons */
    char *s = ly_to_json(&ly, 0);
    ck_assert_ptr_nonnull(s);
    cJSON *root = cJSON_Parse(s);
    ck_assert_ptr_nonnull(root);
    cJSON *files = cJSON_GetObjectItemCaseSensitive(root, "files");
    ck_assert_int_eq(cJSON_GetArraySize(files), 7);
    cJSON *f0 = cJSON_GetArrayItem(files, i0), *f4 = cJSON_GetArrayItem(files, i4);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(f0, "kind")->valuestring, "plain");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(f0, "error")->valuestring, ly.files[i0].error);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(f4, "error")));
    cJSON_Delete(root);
    free(s);
    ly_free(&ly);
    ly_free(&ly);
}
END_TEST

/* A config.json over the 1 MiB read limit is rejected before any read (fuzz_layout keeps
 * its virtual config.json files small, so this path is tested here). */
START_TEST(big_config_not_read)
{
    size_t size = (1u << 20) + 1;
    char *big = calloc(1, size);
    ck_assert_ptr_nonnull(big);
    memcpy(big, "{}", 2);
    ly_layout_t ly;
    ly_init(&ly);
    ck_assert_int_eq(add_mem(&ly, "config.json", big, size), 0);
    ck_assert_int_eq(add_mem(&ly, "config.json", big, size - 1), 1);
    ck_assert_int_eq(ly_finish(&ly), 0);
    ck_assert_int_eq(ly.files[0].parse_error, -EFBIG);
    ck_assert_int_eq(ly.files[0].kind, LY_PLAIN);
    ck_assert_ptr_nonnull(strstr(ly.files[0].error, "larger than"));
    ck_assert_int_ne(ly.files[1].parse_error, -EFBIG);  /* read, then rejected as JSON */
    ly_free(&ly);
    free(big);
}
END_TEST

/* The JSON document of the demo: schema, every tensor, groups consistent with the struct. */
START_TEST(json_document)
{
    ly_layout_t ly;
    ly_init(&ly);
    add_dir(&ly, "tests/fixtures/demo");
    int before = (int)ly.n_files;
    ck_assert_int_eq(add_path(&ly, "tests/fixtures/gguf/demo-q8_0.gguf", "gguf/demo-q8_0.gguf"), before);
    ck_assert_int_eq(ly_finish(&ly), 0);
    for (int pretty = 0; pretty < 2; pretty++) {
        char *s = ly_to_json(&ly, pretty);
        ck_assert_ptr_nonnull(s);
        cJSON *root = cJSON_Parse(s);
        ck_assert_ptr_nonnull(root);
        cJSON *files = cJSON_GetObjectItemCaseSensitive(root, "files");
        ck_assert_int_eq(cJSON_GetArraySize(files), (int)ly.n_files);
        size_t n = 0;
        cJSON *f;
        int i = 0;
        cJSON_ArrayForEach(f, files) {
            const ly_file_t *lf = &ly.files[i++];
            ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(f, "path")->valuestring, lf->path);
            const char *kind = cJSON_GetObjectItemCaseSensitive(f, "kind")->valuestring;
            ck_assert_str_eq(kind, lf->kind == LY_SAFETENSORS ? "safetensors" : lf->kind == LY_GGUF ? "gguf" : "plain");
            ck_assert_uint_eq((uint64_t)cJSON_GetObjectItemCaseSensitive(f, "size")->valuedouble, lf->size);
            ck_assert_uint_eq((uint64_t)cJSON_GetObjectItemCaseSensitive(f, "data_start")->valuedouble, lf->data_start);
            ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(f, "error")));
            cJSON *ts = cJSON_GetObjectItemCaseSensitive(f, "tensors");
            ck_assert_int_eq(cJSON_GetArraySize(ts), (int)lf->n_tensors);
            cJSON *t;
            size_t j = 0;
            cJSON_ArrayForEach(t, ts) {
                const ly_tensor_t *lt = &lf->tensors[j++];
                ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(t, "name")->valuestring, lt->name);
                ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(t, "dtype")->valuestring, lt->dtype);
                ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(t, "group")->valuestring, ly.groups[lt->group].name);
                ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(t, "shape")), lt->ndim);
                ck_assert_uint_eq((uint64_t)cJSON_GetObjectItemCaseSensitive(t, "offset")->valuedouble, lt->offset);
                ck_assert_uint_eq((uint64_t)cJSON_GetObjectItemCaseSensitive(t, "length")->valuedouble, lt->length);
            }
            n += j;
        }
        size_t want = 0;
        for (size_t k = 0; k < ly.n_files; k++)
            want += ly.files[k].n_tensors;
        ck_assert_uint_eq(n, want);
        cJSON *groups = cJSON_GetObjectItemCaseSensitive(root, "groups");
        ck_assert_int_eq(cJSON_GetArraySize(groups), (int)ly.n_groups);
        cJSON *g;
        size_t k = 0, gsum = 0;
        cJSON_ArrayForEach(g, groups) {
            ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(g, "name")->valuestring, ly.groups[k].name);
            ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(g, "layer")->valueint, ly.groups[k].layer);
            ck_assert_uint_eq((uint64_t)cJSON_GetObjectItemCaseSensitive(g, "bytes")->valuedouble, ly.groups[k].bytes);
            gsum += (size_t)cJSON_GetObjectItemCaseSensitive(g, "tensors")->valueint;
            k++;
        }
        ck_assert_uint_eq(gsum, want);
        ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(root, "n_layers")->valueint, ly.n_layers);
        cJSON_Delete(root);
        free(s);
    }
    ly_free(&ly);
}
END_TEST

/* ------------------------------------------- model-wide bounds (issue 13 item 5) --- */

/* A safetensors image of n one-byte U8 tensors "t0".."t{n-1}" (malloc'd). */
static unsigned char *many_tensors(uint32_t n, size_t *size)
{
    size_t cap = (size_t)n * 72 + 16, k = 0;
    char *json = malloc(cap);
    ck_assert_ptr_nonnull(json);
    json[k++] = '{';
    for (uint32_t i = 0; i < n; i++)
        k += (size_t)snprintf(json + k, cap - k, "%s\"t%u\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[%u,%u]}",
                              i ? "," : "", i, i, i + 1);
    json[k++] = '}';
    *size = 8 + k + n;
    unsigned char *b = calloc(1, *size);
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)k >> (8 * i));
    memcpy(b + 8, json, k);
    free(json);
    return b;
}

/* More tensors than LY_MAX_TENSORS over two shards: the second shard is refused with
 * -E2BIG and a reason naming the limit; each shard alone is fine. */
START_TEST(tensor_count_bound_over_shards)
{
    size_t sa, sb;
    unsigned char *a = many_tensors(LY_MAX_TENSORS / 2 + 1, &sa);
    unsigned char *b = many_tensors(LY_MAX_TENSORS / 2, &sb);
    ly_layout_t ly;
    ly_init(&ly);
    ck_assert_int_eq(add_mem(&ly, "model-00001-of-00002.safetensors", a, sa), 0);
    ck_assert_uint_eq(ly.files[0].n_tensors, LY_MAX_TENSORS / 2 + 1);
    ck_assert_int_eq(add_mem(&ly, "model-00002-of-00002.safetensors", b, sb), -E2BIG);
    ck_assert_str_eq(ly.limit_error, "model-00002-of-00002.safetensors: the model has more than 262144 tensors "
                                     "(LY_MAX_TENSORS)");
    ck_assert_uint_eq(ly.n_files, 1);
    ck_assert_uint_eq(ly.n_tensors_total, LY_MAX_TENSORS / 2 + 1);
    ly_free(&ly);
    /* exactly the limit is accepted */
    ly_init(&ly);
    free(a);
    a = many_tensors(LY_MAX_TENSORS / 2, &sa);
    ck_assert_int_eq(add_mem(&ly, "a.safetensors", a, sa), 0);
    ck_assert_int_eq(add_mem(&ly, "b.safetensors", b, sb), 1);
    ck_assert_uint_eq(ly.n_tensors_total, LY_MAX_TENSORS);
    ck_assert_int_eq(ly_finish(&ly), 0);
    /* the layout text stays proportional: compact JSON, < 128 bytes per tensor here */
    char *j = ly_to_json(&ly, 0);
    ck_assert_ptr_nonnull(j);
    ck_assert_uint_lt(strlen(j), (size_t)LY_MAX_TENSORS * 128);
    free(j);
    ly_free(&ly);
    free(a);
    free(b);
}
END_TEST

/* fu_read_fn of a file whose first 8 bytes announce a header of ctx bytes, zeros after. */
static int claim_read(void *ctx, void *buf, size_t len, uint64_t off)
{
    uint64_t n = *(uint64_t *)ctx;
    memset(buf, ' ', len);
    for (uint64_t i = off; i < off + len && i < 8; i++)
        ((unsigned char *)buf)[i - off] = (unsigned char)(n >> (8 * i));
    return 0;
}

/* Safetensors headers add up over shards: past LY_MAX_HEADER_TOTAL the next shard is
 * refused before its header is read; a GGUF announcing too many tensors likewise. */
START_TEST(header_bytes_bound_over_shards)
{
    ly_layout_t ly;
    ly_init(&ly);
    uint64_t n = 40ull << 20; /* 40 MiB of (blank, invalid) JSON each */
    ck_assert_int_eq(ly_add_file(&ly, "a.safetensors", claim_read, &n, n + 8 + 4096), 0);
    ck_assert_int_ne(ly.files[0].parse_error, 0); /* blanks are no JSON: served plain */
    ck_assert_uint_eq(ly.header_bytes, n);
    ck_assert_int_eq(ly_add_file(&ly, "b.safetensors", claim_read, &n, n + 8 + 4096), -E2BIG);
    ck_assert_str_eq(ly.limit_error, "b.safetensors: the safetensors headers of the model pass the limit of 64 MiB "
                                     "in total (LY_MAX_HEADER_TOTAL)");
    /* a claim larger than the file is the parser's error, not counted */
    uint64_t big = 50ull << 20;
    ck_assert_int_eq(ly_add_file(&ly, "c.safetensors", claim_read, &big, 4096), 1);
    ck_assert_uint_eq(ly.header_bytes, n);
    ly_free(&ly);

    unsigned char gg[64] = { 'G', 'G', 'U', 'F', 3, 0, 0, 0 };
    uint64_t nt = LY_MAX_TENSORS + 1ull;
    memcpy(gg + 8, &nt, 8);
    ly_init(&ly);
    ck_assert_int_eq(add_mem(&ly, "m.gguf", gg, sizeof gg), -E2BIG);
    ck_assert_str_eq(ly.limit_error, "m.gguf: the model has more than 262144 tensors (LY_MAX_TENSORS)");
    ly_free(&ly);
}
END_TEST

Suite *layout_suite(void)
{
    Suite *s = suite_create("layout");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, demo_model);
    tcase_add_test(tc, gguf_fixtures);
    tcase_add_test(tc, mlx_fixture_groups);
    tcase_add_test(tc, classification);
    tcase_add_test(tc, gaps_and_empty_tensors);
    tcase_add_test(tc, failed_files_are_plain);
    tcase_add_test(tc, big_config_not_read);
    tcase_add_test(tc, json_document);
    tcase_add_test(tc, tensor_count_bound_over_shards);
    tcase_add_test(tc, header_bytes_bound_over_shards);
    suite_add_tcase(s, tc);
    return s;
}
