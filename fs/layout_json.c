/* layout_json.c — the layout as JSON (served as .flashfs/layout):
 *
 *   {"files": [{"path": "model-00001-of-00002.safetensors", "kind": "safetensors|gguf|plain",
 *               "size": N, "data_start": N, "error": null | "reason",
 *               "tensors": [{"name": "...", "dtype": "BF16", "shape": [..], "offset": N,
 *                            "length": N, "group": "layer.3"}, ...]}, ...],
 *    "groups": [{"name": "embed", "layer": -1, "bytes": N, "tensors": N}, ...],  (execution order)
 *    "n_layers": N}
 *
 * Offsets are absolute file offsets; numbers are exact up to 2^53 (JSON doubles). */
#include "layout.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *kind_name(ly_kind_t k)
{
    return k == LY_SAFETENSORS ? "safetensors" : k == LY_GGUF ? "gguf" : "plain";
}

/* Add a number member; 0 on success, -1 on allocation failure. */
static int add_num(cJSON *o, const char *k, double v)
{
    return cJSON_AddNumberToObject(o, k, v) ? 0 : -1;
}

static cJSON *tensor_json(const ly_layout_t *ly, const ly_tensor_t *t)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON *shape = cJSON_AddArrayToObject(o, "shape");
    int bad = !cJSON_AddStringToObject(o, "name", t->name) || !cJSON_AddStringToObject(o, "dtype", t->dtype) ||
              !shape;
    for (int d = 0; !bad && d < t->ndim && d < 8; d++) {
        cJSON *n = cJSON_CreateNumber((double)t->shape[d]);
        bad = !n || !cJSON_AddItemToArray(shape, n);
    }
    bad = bad || add_num(o, "offset", (double)t->offset) || add_num(o, "length", (double)t->length);
    if (!bad) {
        if (t->group >= 0 && (size_t)t->group < ly->n_groups)
            bad = !cJSON_AddStringToObject(o, "group", ly->groups[t->group].name);
        else
            bad = !cJSON_AddNullToObject(o, "group");
    }
    if (bad) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *file_json(const ly_layout_t *ly, const ly_file_t *f)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    int bad = !cJSON_AddStringToObject(o, "path", f->path) || !cJSON_AddStringToObject(o, "kind", kind_name(f->kind)) ||
              add_num(o, "size", (double)f->size) || add_num(o, "data_start", (double)f->data_start);
    if (!bad)
        bad = f->parse_error ? !cJSON_AddStringToObject(o, "error", f->error) : !cJSON_AddNullToObject(o, "error");
    cJSON *ts = bad ? NULL : cJSON_AddArrayToObject(o, "tensors");
    bad = bad || !ts;
    for (size_t i = 0; !bad && i < f->n_tensors; i++) {
        cJSON *t = tensor_json(ly, &f->tensors[i]);
        bad = !t || !cJSON_AddItemToArray(ts, t);
    }
    if (bad) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* ---- compact output, streamed: one small cJSON object at a time, so the peak memory
 * is about the text itself (a model at LY_MAX_TENSORS: ~30 MB of text, instead of a tree
 * of ~10 nodes per tensor). */

typedef struct {
    char *b;
    size_t len, cap;
    int bad;
} jb_t;

static void jb_put(jb_t *j, const char *s, size_t n)
{
    if (j->bad)
        return;
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 4096;
        while (cap < j->len + n + 1)
            cap *= 2;
        char *nb = realloc(j->b, cap);
        if (!nb) {
            j->bad = 1;
            return;
        }
        j->b = nb;
        j->cap = cap;
    }
    memcpy(j->b + j->len, s, n);
    j->len += n;
    j->b[j->len] = '\0';
}

static void jb_str(jb_t *j, const char *s)
{
    jb_put(j, s, strlen(s));
}

/* Append o (compact) and delete it; with open != 0 without its closing brace. */
static void jb_obj(jb_t *j, cJSON *o, int open)
{
    char *t = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!t) {
        j->bad = 1;
        return;
    }
    size_t n = strlen(t);
    jb_put(j, t, open && n ? n - 1 : n);
    free(t);
}

char *ly_to_json_extra(const ly_layout_t *ly, int (*extra)(void *ctx, size_t file, cJSON *obj), void *ctx)
{
    jb_t j = { NULL, 0, 0, 0 };
    jb_str(&j, "{\"files\":[");
    for (size_t i = 0; !j.bad && i < ly->n_files; i++) {
        const ly_file_t *f = &ly->files[i];
        ly_file_t head = *f;
        head.n_tensors = 0; /* the tensors are streamed below */
        cJSON *o = file_json(ly, &head);
        cJSON_DeleteItemFromObjectCaseSensitive(o, "tensors");
        if (o && extra && extra(ctx, i, o) < 0) {
            cJSON_Delete(o);
            o = NULL;
        }
        if (i)
            jb_str(&j, ",");
        jb_obj(&j, o, 1);
        jb_str(&j, ",\"tensors\":[");
        for (size_t t = 0; !j.bad && t < f->n_tensors; t++) {
            if (t)
                jb_str(&j, ",");
            jb_obj(&j, tensor_json(ly, &f->tensors[t]), 0);
        }
        jb_str(&j, "]}");
    }
    jb_str(&j, "],\"groups\":[");
    for (size_t i = 0; !j.bad && i < ly->n_groups; i++) {
        const ly_group_t *g = &ly->groups[i];
        cJSON *o = cJSON_CreateObject();
        if (o && (!cJSON_AddStringToObject(o, "name", g->name) || add_num(o, "layer", g->layer) ||
                  add_num(o, "bytes", (double)g->bytes) || add_num(o, "tensors", (double)g->n_tensors))) {
            cJSON_Delete(o);
            o = NULL;
        }
        if (i)
            jb_str(&j, ",");
        jb_obj(&j, o, 0);
    }
    char tail[64];
    snprintf(tail, sizeof tail, "],\"n_layers\":%d}", ly->n_layers);
    jb_str(&j, tail);
    if (j.bad) {
        free(j.b);
        return NULL;
    }
    return j.b;
}

char *ly_to_json(const ly_layout_t *ly, int pretty)
{
    if (!pretty)
        return ly_to_json_extra(ly, NULL, NULL);
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    cJSON *files = cJSON_AddArrayToObject(root, "files");
    int bad = !files;
    for (size_t i = 0; !bad && i < ly->n_files; i++) {
        cJSON *f = file_json(ly, &ly->files[i]);
        bad = !f || !cJSON_AddItemToArray(files, f);
    }
    cJSON *groups = bad ? NULL : cJSON_AddArrayToObject(root, "groups");
    bad = bad || !groups;
    for (size_t i = 0; !bad && i < ly->n_groups; i++) {
        const ly_group_t *g = &ly->groups[i];
        cJSON *o = cJSON_CreateObject();
        bad = !o || !cJSON_AddItemToArray(groups, o);
        if (bad) {
            cJSON_Delete(o);
            break;
        }
        bad = !cJSON_AddStringToObject(o, "name", g->name) || add_num(o, "layer", g->layer) ||
              add_num(o, "bytes", (double)g->bytes) || add_num(o, "tensors", (double)g->n_tensors);
    }
    bad = bad || add_num(root, "n_layers", ly->n_layers);
    char *s = bad ? NULL : (pretty ? cJSON_Print(root) : cJSON_PrintUnformatted(root));
    cJSON_Delete(root);
    return s;
}
