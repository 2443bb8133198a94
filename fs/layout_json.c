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
#include <stdlib.h>

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

char *ly_to_json(const ly_layout_t *ly, int pretty)
{
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
