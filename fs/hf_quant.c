/* hf_quant.c — the MLX "quantization" section of a config.json (see hf_quant.h). */
#include "hf_quant.h"
#include "fu_util.h"
#include "json_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HQ_MAX_FILE (16u * 1024 * 1024)
#define HQ_MAX_OVERRIDES 65536

static int hq_bits_ok(int b)
{
    return b == 2 || b == 3 || b == 4 || b == 5 || b == 6 || b == 8;
}

static int hq_group_ok(int g)
{
    return g == 32 || g == 64 || g == 128;
}

/* bits/group_size/mode of one object (a missing key keeps *bits / *group). `what` names it. */
static int hq_params(const cJSON *o, const char *key, int *bits, int *group, char *err, size_t errlen)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "mode");
    if (m && !cJSON_IsNull(m)) {
        if (!cJSON_IsString(m))
            return fu_err(err, errlen, -EINVAL, "config.json: %s.mode is not a string", key);
        if (strcmp(m->valuestring, "affine"))
            return fu_err(err, errlen, -ENOTSUP,
                          "config.json: %s mode \"%.32s\" is not supported (only affine: mxfp4, "
                          "mxfp8 and nvfp4 are not)", key, m->valuestring);
    }
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "bits");
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "group_size");
    if (b && !js_get_int(b, 0, 1 << 20, bits))
        return fu_err(err, errlen, -EINVAL, "config.json: %s.bits is not a small integer", key);
    if (g && !js_get_int(g, 0, 1 << 20, group))
        return fu_err(err, errlen, -EINVAL, "config.json: %s.group_size is not a small integer", key);
    if (!hq_bits_ok(*bits))
        return fu_err(err, errlen, -EINVAL,
                      "config.json: %s bits %d is not supported (2, 3, 4, 5, 6 or 8)", key, *bits);
    if (!hq_group_ok(*group))
        return fu_err(err, errlen, -EINVAL,
                      "config.json: %s group_size %d is not supported (32, 64 or 128)", key, *group);
    return 0;
}

static int hq_section(const cJSON *s, const char *key, hc_quant_t *q, char *err, size_t errlen)
{
    if (!cJSON_IsObject(s))
        return fu_err(err, errlen, -EINVAL, "config.json: %s is not an object", key);
    const cJSON *meth = cJSON_GetObjectItemCaseSensitive(s, "quant_method");
    if (meth)
        return fu_err(err, errlen, -ENOTSUP,
                      "config.json: %s.quant_method \"%.32s\" is not supported (only MLX affine "
                      "quantization)", key, cJSON_IsString(meth) ? meth->valuestring : "?");
    if (!cJSON_GetObjectItemCaseSensitive(s, "bits") || !cJSON_GetObjectItemCaseSensitive(s, "group_size"))
        return fu_err(err, errlen, -EINVAL, "config.json: %s needs bits and group_size", key);
    int rc = hq_params(s, key, &q->bits, &q->group, err, errlen);
    if (rc)
        return rc;
    q->present = 1;
    int n = 0;
    for (const cJSON *e = s->child; e; e = e->next)
        if (cJSON_IsObject(e) || cJSON_IsBool(e))
            n++;
    if (n > HQ_MAX_OVERRIDES)
        return fu_err(err, errlen, -EINVAL, "config.json: %s has too many module overrides", key);
    if (n && !(q->over = calloc((size_t)n, sizeof *q->over)))
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    for (const cJSON *e = s->child; e; e = e->next) {
        if (!cJSON_IsObject(e) && !cJSON_IsBool(e))
            continue;
        hc_qover_t *o = &q->over[q->n_over];
        if (!(o->module = strdup(e->string)))
            return fu_err(err, errlen, -ENOMEM, "out of memory");
        q->n_over++;
        o->bits = q->bits;
        o->group = q->group;
        o->quantized = cJSON_IsObject(e) || cJSON_IsTrue(e);
        if (cJSON_IsObject(e) && (rc = hq_params(e, e->string, &o->bits, &o->group, err, errlen)))
            return rc;
    }
    return 0;
}

int hc_quant_parse(const char *json, size_t len, hc_quant_t *q, char *err, size_t errlen)
{
    memset(q, 0, sizeof *q);
    cJSON *root = NULL;
    int rc = js_parse(json, len, 0, "config.json", &root, err, errlen);
    if (rc)
        return rc;
    const char *key = "quantization";
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!s || cJSON_IsNull(s)) {
        key = "quantization_config";
        s = cJSON_GetObjectItemCaseSensitive(root, key);
    }
    if (s && !cJSON_IsNull(s))
        rc = hq_section(s, key, q, err, errlen);
    cJSON_Delete(root);
    if (rc)
        hc_quant_free(q);
    return rc;
}

int hc_quant_load(const char *path, hc_quant_t *q, char *err, size_t errlen)
{
    memset(q, 0, sizeof *q);
    char *text = NULL;
    size_t len = 0;
    int rc = fu_read_file(path, HQ_MAX_FILE, &text, &len);
    if (rc)
        return fu_err(err, errlen, rc, "%s: cannot read (%s)", path, strerror(-rc));
    rc = hc_quant_parse(text, len, q, err, errlen);
    free(text);
    return rc;
}

int hc_quant_for(const hc_quant_t *q, const char *module, int *bits, int *group)
{
    if (!q->present)
        return 0;
    for (int i = 0; i < q->n_over; i++)
        if (!strcmp(q->over[i].module, module)) {
            *bits = q->over[i].bits;
            *group = q->over[i].group;
            return q->over[i].quantized;
        }
    *bits = q->bits;
    *group = q->group;
    return 1;
}

void hc_quant_free(hc_quant_t *q)
{
    for (int i = 0; i < q->n_over; i++)
        free(q->over[i].module);
    free(q->over);
    q->over = NULL;
    q->n_over = 0;
}
