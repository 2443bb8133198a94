/* it_mount_ctl.c — .flashfs/layout, stats and metrics of real mounts, checked against
 * the project's own parsers run on the backing files: the demo model (tensor list from
 * model.safetensors.index.json + each shard's safetensors header) and the GGUF fixtures
 * (gg_parse_path). Every tensor must be listed with its dtype, shape, absolute offset,
 * length and layer group; the groups' totals must add up; stats must have its documented
 * keys; metrics must be valid Prometheus text (prom_check.c) that agrees with stats. */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gguf.h"
#include "harness.h"
#include "hf_config.h"
#include "hf_index.h"
#include "prom_check.h"
#include "safetensors.h"

/* ---- expected layout, derived from the parsers -------------------------------------- */

typedef struct {
    const char *name;
    const char *dtype;
    int ndim;
    uint64_t shape[8];
    uint64_t offset, length;
    char group[32];
} exp_tensor_t;

typedef struct {
    char group[32];
    int layer;
    double bytes, tensors;
} exp_group_t;

/* Layer group of a tensor by its name, written independently of fs/layout.c:
 * model.layers.N. / blk.N. -> layer.N; embeddings, final norm and head by name. */
static void group_of(const char *name, char *out, size_t len, int *layer)
{
    const char *pfx[] = { "model.layers.", "blk." };
    *layer = -1;
    for (int i = 0; i < 2; i++) {
        size_t n = strlen(pfx[i]);
        if (!strncmp(name, pfx[i], n)) {
            char *end;
            long v = strtol(name + n, &end, 10);
            if (end != name + n && *end == '.') {
                *layer = (int)v;
                snprintf(out, len, "layer.%ld", v);
                return;
            }
        }
    }
    if (!strncmp(name, "model.embed_tokens.", 19) || !strncmp(name, "token_embd.", 11))
        snprintf(out, len, "embed");
    else if (!strncmp(name, "model.norm.", 11) || !strncmp(name, "output_norm.", 12))
        snprintf(out, len, "norm");
    else if (!strncmp(name, "lm_head.", 8) || !strncmp(name, "output.", 7))
        snprintf(out, len, "head");
    else
        snprintf(out, len, "other");
}

/* Rank of a group in execution order: embed, layer.0.., norm, head, other. */
static long group_rank(const char *g, int layer)
{
    if (!strcmp(g, "embed"))
        return 0;
    if (layer >= 0)
        return 1 + layer;
    if (!strcmp(g, "norm"))
        return 1000000;
    if (!strcmp(g, "head"))
        return 1000001;
    return 1000002;
}

static void add_group(exp_group_t *gs, int *ng, const char *g, int layer, uint64_t bytes)
{
    for (int i = 0; i < *ng; i++)
        if (!strcmp(gs[i].group, g)) {
            gs[i].bytes += (double)bytes;
            gs[i].tensors += 1;
            return;
        }
    snprintf(gs[*ng].group, sizeof gs[*ng].group, "%s", g);
    gs[*ng].layer = layer;
    gs[*ng].bytes = (double)bytes;
    gs[*ng].tensors = 1;
    (*ng)++;
}

/* ---- JSON access -------------------------------------------------------------------- */

static const cJSON *obj(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    ck_assert_msg(v != NULL, "JSON key \"%s\" missing", k);
    return v;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = obj(o, k);
    ck_assert_msg(cJSON_IsNumber(v), "JSON key \"%s\" is not a number", k);
    return v->valuedouble;
}

static const cJSON *layout_file(const cJSON *layout, const char *path)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, obj(layout, "files"))
    {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(f, "path");
        if (cJSON_IsString(p) && !strcmp(p->valuestring, path))
            return f;
    }
    ck_abort_msg("layout lists no file \"%s\"", path);
    return NULL;
}

/* The layout entry of file `path` lists exactly the expected tensors. */
static void check_file(const cJSON *layout, const char *path, const char *kind, const char *backing,
                       uint64_t data_start, const exp_tensor_t *ex, size_t n)
{
    const cJSON *f = layout_file(layout, path);
    struct stat st;
    ck_assert_int_eq(stat(backing, &st), 0);
    ck_assert_str_eq(cJSON_GetStringValue(obj(f, "kind")), kind);
    ck_assert_msg(cJSON_IsNull(obj(f, "error")), "%s: layout error %s", path,
                  cJSON_IsString(obj(f, "error")) ? obj(f, "error")->valuestring : "?");
    ck_assert_msg(num(f, "size") == (double)st.st_size, "%s: size", path);
    ck_assert_msg(num(f, "data_start") == (double)data_start, "%s: data_start %.0f, parser says %llu", path,
                  num(f, "data_start"), (unsigned long long)data_start);
    const cJSON *ts = obj(f, "tensors");
    ck_assert_msg((size_t)cJSON_GetArraySize(ts) == n, "%s: %d tensors in the layout, %zu by the parser", path,
                  cJSON_GetArraySize(ts), n);
    for (size_t i = 0; i < n; i++) {
        const cJSON *t = NULL, *it;
        cJSON_ArrayForEach(it, ts)
        {
            if (!strcmp(cJSON_GetStringValue(obj(it, "name")), ex[i].name)) {
                ck_assert_msg(t == NULL, "%s: tensor %s listed twice", path, ex[i].name);
                t = it;
            }
        }
        ck_assert_msg(t != NULL, "%s: tensor %s missing from the layout", path, ex[i].name);
        ck_assert_msg(!strcmp(cJSON_GetStringValue(obj(t, "dtype")), ex[i].dtype), "%s: dtype %s, expected %s",
                      ex[i].name, cJSON_GetStringValue(obj(t, "dtype")), ex[i].dtype);
        ck_assert_msg(num(t, "offset") == (double)ex[i].offset, "%s: offset %.0f, expected %llu", ex[i].name,
                      num(t, "offset"), (unsigned long long)ex[i].offset);
        ck_assert_msg(num(t, "length") == (double)ex[i].length, "%s: length", ex[i].name);
        const cJSON *g = obj(t, "group");
        ck_assert_msg(cJSON_IsString(g) && !strcmp(g->valuestring, ex[i].group), "%s: group %s, expected %s",
                      ex[i].name, cJSON_IsString(g) ? g->valuestring : "null", ex[i].group);
        const cJSON *shape = obj(t, "shape");
        ck_assert_int_eq(cJSON_GetArraySize(shape), ex[i].ndim);
        for (int d = 0; d < ex[i].ndim; d++)
            ck_assert_msg(cJSON_GetArrayItem(shape, d)->valuedouble == (double)ex[i].shape[d], "%s: shape[%d]",
                          ex[i].name, d);
    }
}

/* The layout's groups are exactly the expected ones, in execution order, with totals. */
static void check_groups(const cJSON *layout, exp_group_t *gs, int ng, int n_layers)
{
    const cJSON *arr = obj(layout, "groups");
    ck_assert_msg(cJSON_GetArraySize(arr) == ng, "%d groups in the layout, expected %d", cJSON_GetArraySize(arr), ng);
    long prev = -1;
    const cJSON *g;
    cJSON_ArrayForEach(g, arr)
    {
        const char *name = cJSON_GetStringValue(obj(g, "name"));
        ck_assert_ptr_nonnull(name);
        int k = -1;
        for (int i = 0; i < ng; i++)
            if (!strcmp(gs[i].group, name))
                k = i;
        ck_assert_msg(k >= 0, "unexpected group %s", name);
        ck_assert_msg(num(g, "layer") == gs[k].layer, "group %s: layer", name);
        ck_assert_msg(num(g, "bytes") == gs[k].bytes, "group %s: %.0f bytes, expected %.0f", name, num(g, "bytes"),
                      gs[k].bytes);
        ck_assert_msg(num(g, "tensors") == gs[k].tensors, "group %s: tensors", name);
        long r = group_rank(name, gs[k].layer);
        ck_assert_msg(r > prev, "group %s out of execution order", name);
        prev = r;
    }
    ck_assert_msg(num(layout, "n_layers") == n_layers, "n_layers %.0f, expected %d", num(layout, "n_layers"),
                  n_layers);
}

/* Parse a control file as JSON (the caller frees). */
static cJSON *ctl_json(const it_mount_t *m, const char *name)
{
    char *txt = NULL;
    size_t len = 0;
    ck_assert_int_eq(it_ctl_read(m, name, &txt, &len), 0);
    cJSON *js = cJSON_ParseWithLength(txt, len);
    ck_assert_msg(js != NULL, ".flashfs/%s is not JSON:\n%.2000s", name, txt);
    free(txt);
    return js;
}

/* stats: documented keys and types, every group of the layout, counters after reads. */
static void check_stats(const it_mount_t *m, exp_group_t *gs, int ng, double bytes_read)
{
    cJSON *s = ctl_json(m, "stats");
    ck_assert_msg(num(s, "budget_bytes") > 0, "budget_bytes");
    const cJSON *r = obj(s, "resident_bytes");
    ck_assert_msg(num(r, "total") == num(r, "daemon") + num(r, "page_cache"), "resident total != daemon + page_cache");
    ck_assert(cJSON_IsObject(obj(s, "files")) || cJSON_IsArray(obj(s, "files")));
    const cJSON *groups = obj(s, "groups");
    for (int i = 0; i < ng; i++)
        ck_assert_msg(cJSON_GetObjectItemCaseSensitive(groups, gs[i].group) != NULL, "stats.groups lacks %s",
                      gs[i].group);
    ck_assert_msg(num(s, "hits") + num(s, "misses") > 0, "no READ counted");
    ck_assert_msg(num(s, "backing_bytes_read") >= bytes_read, "backing_bytes_read %.0f < %.0f bytes read",
                  num(s, "backing_bytes_read"), bytes_read);
    ck_assert(num(s, "evictions") >= 0);
    ck_assert(cJSON_IsObject(obj(s, "prefetch")));
    const cJSON *rs = obj(s, "read_sizes");
    ck_assert(cJSON_IsObject(rs));
    double nreq = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, rs)
    {
        ck_assert(cJSON_IsNumber(b));
        nreq += b->valuedouble;
    }
    ck_assert_msg(nreq > 0, "read_sizes counted no request");
    ck_assert(num(s, "uptime_s") >= 0);
    ck_assert_msg(num(s, "errors") == 0, "errors");

    /* metrics: valid exposition, every family flashfs_, agrees with stats */
    char *txt = NULL, err[512];
    size_t len = 0;
    ck_assert_int_eq(it_ctl_read(m, "metrics", &txt, &len), 0);
    pc_stats_t ps;
    ck_assert_msg(pc_validate(txt, &ps, err, sizeof err) == 0, "metrics: %s\n%.3000s", err, txt);
    ck_assert_int_ge(ps.families, 5);
    for (const char *l = txt; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (*l != '#' && *l != '\n')
            ck_assert_msg(!strncmp(l, "flashfs_", 8), "metric without the flashfs_ prefix: %.80s", l);
    double v;
    ck_assert_msg(pc_sample(txt, "flashfs_budget_bytes", "", &v) == 0, "no flashfs_budget_bytes");
    ck_assert_msg(v == num(s, "budget_bytes"), "flashfs_budget_bytes %.0f != stats %.0f", v, num(s, "budget_bytes"));
    for (int i = 0; i < ng; i++) {
        char lab[64];
        snprintf(lab, sizeof lab, "group=\"%s\"", gs[i].group);
        ck_assert_msg(pc_sample(txt, "flashfs_group_resident_bytes", lab, &v) == 0, "metrics lack group %s",
                      gs[i].group);
    }
    free(txt);
    cJSON_Delete(s);
}

/* Read every file of the list through the mount; returns the bytes read. */
static double read_all(const it_mount_t *m, const char *const *rel, size_t n)
{
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        char p[4200], h[65];
        struct stat st;
        ck_assert_int_eq(stat(it_mpath(m, rel[i], p, sizeof p), &st), 0);
        ck_assert_int_eq(it_sha256_file(p, 1 << 20, h), 0);
        total += (double)st.st_size;
    }
    return total;
}

START_TEST(demo_layout_stats_metrics)
{
    const char *dir = "tests/fixtures/demo";
    char err[512], p[4200];
    hi_index_t ix;
    ck_assert_msg(hi_load("tests/fixtures/demo/model.safetensors.index.json", &ix, err, sizeof err) == 0, "%s", err);
    hc_config_t cfg;
    ck_assert_msg(hc_load("tests/fixtures/demo/config.json", &cfg, err, sizeof err) == 0, "%s", err);
    it_mount_t m;
    ck_assert_msg(it_mount_start(&m, dir, NULL, err, sizeof err) == 0, "%s", err);
    cJSON *layout = ctl_json(&m, "layout");

    exp_group_t gs[128];
    int ng = 0, max_layer = -1;
    size_t total_tensors = 0;
    for (size_t fi = 0; fi < ix.n_files; fi++) {
        st_file_t sf;
        snprintf(p, sizeof p, "%s/%s", dir, ix.files[fi]);
        ck_assert_msg(st_parse_path(p, &sf, err, sizeof err) == 0, "%s: %s", p, err);
        exp_tensor_t *ex = calloc(sf.n_tensors + 1, sizeof *ex);
        ck_assert_ptr_nonnull(ex);
        for (size_t i = 0; i < sf.n_tensors; i++) {
            const st_tensor_t *t = &sf.tensors[i];
            int layer;
            ex[i] = (exp_tensor_t){ .name = t->name, .dtype = st_dtype_name(t->dtype), .ndim = t->ndim,
                                    .offset = t->offset, .length = t->length };
            memcpy(ex[i].shape, t->shape, sizeof t->shape);
            group_of(t->name, ex[i].group, sizeof ex[i].group, &layer);
            add_group(gs, &ng, ex[i].group, layer, t->length);
            max_layer = layer > max_layer ? layer : max_layer;
            /* the index and the shard agree */
            const char *shard = hi_file_for(&ix, t->name);
            ck_assert_msg(shard && !strcmp(shard, ix.files[fi]), "%s: index says shard %s", t->name,
                          shard ? shard : "(none)");
        }
        check_file(layout, ix.files[fi], "safetensors", p, sf.data_start, ex, sf.n_tensors);
        total_tensors += sf.n_tensors;
        free(ex);
        st_free(&sf);
    }
    ck_assert_uint_eq(total_tensors, ix.n_entries); /* every tensor of the index: 57 for the demo */
    ck_assert_int_eq(max_layer + 1, cfg.num_hidden_layers);
    check_groups(layout, gs, ng, cfg.num_hidden_layers);
    cJSON_Delete(layout);

    const char *files[] = { "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "config.json" };
    double bytes = read_all(&m, files, 3);
    check_stats(&m, gs, ng, bytes);
    ck_assert_int_eq(it_mount_stop(&m), 0);
    hi_free(&ix);
}
END_TEST

START_TEST(gguf_layout_stats_metrics)
{
    const char *dir = "tests/fixtures/gguf";
    const char *names[] = { "demo-q8_0.gguf", "demo-bf16.gguf" };
    char err[512], p[4200];
    it_mount_t m;
    ck_assert_msg(it_mount_start(&m, dir, NULL, err, sizeof err) == 0, "%s", err);
    cJSON *layout = ctl_json(&m, "layout");
    exp_group_t gs[128];
    int ng = 0, max_layer = -1, n_layers_kv = -1;
    for (int fi = 0; fi < 2; fi++) {
        gg_file_t gf;
        snprintf(p, sizeof p, "%s/%s", dir, names[fi]);
        ck_assert_msg(gg_parse_path(p, &gf, err, sizeof err) == 0, "%s: %s", p, err);
        ck_assert_uint_gt(gf.n_tensors, 0);
        exp_tensor_t *ex = calloc(gf.n_tensors, sizeof *ex);
        ck_assert_ptr_nonnull(ex);
        for (size_t i = 0; i < gf.n_tensors; i++) {
            const gg_tensor_t *t = &gf.tensors[i];
            int layer;
            ex[i] = (exp_tensor_t){ .name = t->name, .dtype = gg_type_name(t->type), .ndim = (int)t->n_dims,
                                    .offset = t->offset, .length = t->length };
            for (uint32_t d = 0; d < t->n_dims && d < GG_MAX_DIMS; d++)
                ex[i].shape[d] = t->ne[d];
            group_of(t->name, ex[i].group, sizeof ex[i].group, &layer);
            add_group(gs, &ng, ex[i].group, layer, t->length);
            max_layer = layer > max_layer ? layer : max_layer;
        }
        const gg_kv_t *kv = gg_find_kv(&gf, "llama.block_count");
        if (kv)
            n_layers_kv = (int)kv->num.u;
        check_file(layout, names[fi], "gguf", p, gf.data_start, ex, gf.n_tensors);
        free(ex);
        gg_free(&gf);
    }
    ck_assert_int_eq(max_layer + 1, n_layers_kv);
    check_groups(layout, gs, ng, max_layer + 1);
    cJSON_Delete(layout);
    double bytes = read_all(&m, names, 2);
    check_stats(&m, gs, ng, bytes);
    ck_assert_int_eq(it_mount_stop(&m), 0);
}
END_TEST

/* ---- the validator itself must reject what Prometheus rejects ------------------------ */

START_TEST(prom_validator)
{
    char err[256];
    pc_stats_t st;
    const char *good = "# HELP a_total Things.\n# TYPE a_total counter\na_total 3\n"
                       "# HELP b Sizes.\n# TYPE b gauge\nb{k=\"x\",j=\"a\\\"b\\\\c\\n\"} 1.5e3\nb{k=\"y\",} -Inf 123\n"
                       "# HELP h Latency.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
                       "h_sum 0.3\nh_count 2\n\n";
    ck_assert_msg(pc_validate(good, &st, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(st.families, 3);
    ck_assert_int_eq(st.samples, 7);
    double v;
    ck_assert_int_eq(pc_sample(good, "a_total", "", &v), 0);
    ck_assert(v == 3);
    ck_assert_int_eq(pc_sample(good, "b", "k=\"y\",", &v), 0); /* labels compared verbatim */
    ck_assert(v < -1e300);
    ck_assert_int_eq(pc_sample(good, "b", "k=\"z\"", &v), -1);
    const char *bad[] = {
        "a 1\n",                                                           /* no HELP/TYPE */
        "# TYPE a gauge\na 1\n",                                           /* no HELP */
        "# HELP a x\n# TYPE a gauge\na one\n",                             /* value */
        "# HELP a x\n# TYPE a gauge\na 1",                                 /* no final newline */
        "# HELP a x\n# TYPE a gauge\n1a 1\n",                              /* name */
        "# HELP a x\n# TYPE a gauge\na{1k=\"v\"} 1\n",                     /* label name */
        "# HELP a x\n# TYPE a gauge\na{k=v} 1\n",                          /* unquoted */
        "# HELP a x\n# TYPE a gauge\na{k=\"v\\t\"} 1\n",                   /* escape */
        "# HELP a x\n# TYPE a gauge\na{k=\"v\",k=\"w\"} 1\n",              /* label twice */
        "# HELP a x\n# TYPE a gauge\na 1\na 2\n",                          /* duplicate */
        "# HELP a x\n# TYPE a gauge\na 1\n# HELP b y\n# TYPE b gauge\nb 1\na{k=\"v\"} 2\n", /* not contiguous */
        "# HELP a x\n# TYPE a gauge\na 1\n# HELP a y\n",                   /* HELP twice / after samples */
        "# HELP a x\n# TYPE a metric\na 1\n",                              /* type */
        "# HELP a x\n# TYPE a gauge\na 1 2 3\n",                           /* garbage */
        "# HELP a x\n# TYPE a gauge\na nan\n",                             /* only NaN is NaN */
        "# HELP a x\n# TYPE a gauge\n",                                    /* fine: no samples */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = pc_validate(bad[i], &st, err, sizeof err);
        if (i == sizeof bad / sizeof bad[0] - 1)
            ck_assert_msg(rc == 0, "case %zu: %s", i, err);
        else
            ck_assert_msg(rc == -1, "case %zu accepted: %s", i, bad[i]);
    }
}
END_TEST

Suite *it_mount_ctl_suite(void)
{
    Suite *s = suite_create("it_mount_ctl");
    TCase *tc = tcase_create("ctl");
    tcase_set_timeout(tc, IT_TCASE_TIMEOUT);
    tcase_add_test(tc, prom_validator);
    tcase_add_test(tc, demo_layout_stats_metrics);
    tcase_add_test(tc, gguf_layout_stats_metrics);
    suite_add_tcase(s, tc);
    return s;
}
