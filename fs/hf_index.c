/* hf_index.c — read model.safetensors.index.json, the tensor -> shard map of a sharded
 * checkpoint. Shard names are plain file names relative to the model directory: an
 * absolute path or one with a ".." component could point outside it and is refused. */
#include "hf_index.h"
#include "fu_util.h"
#include "json_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HI_MAX_FILE (256u << 20) /* the largest published indexes are a few MB */

void hi_free(hi_index_t *ix)
{
    if (!ix)
        return;
    for (size_t i = 0; i < ix->n_entries; i++)
        free(ix->entries[i].tensor);
    for (size_t i = 0; i < ix->n_files; i++)
        free(ix->files[i]);
    free(ix->entries);
    free(ix->files);
    memset(ix, 0, sizeof *ix);
}

const char *hi_file_for(const hi_index_t *ix, const char *tensor)
{
    for (size_t i = 0; i < ix->n_entries; i++)
        if (strcmp(ix->entries[i].tensor, tensor) == 0)
            return ix->files[ix->entries[i].file];
    return NULL;
}

/* A shard name we are willing to open under the model directory: relative, no empty
 * component, and no ".." anywhere (stricter than needed, simple to state and check). */
static int safe_relpath(const char *s)
{
    if (s[0] == '\0' || s[0] == '/' || strstr(s, "..") || strstr(s, "//"))
        return 0;
    return s[strlen(s) - 1] != '/';
}

/* Index of shard name s in ix->files, adding it when new. -ENOMEM on failure. */
static long file_index(hi_index_t *ix, size_t *cap, const char *s)
{
    /* Real indexes name a handful of shards, so a linear scan is fine. */
    for (size_t i = 0; i < ix->n_files; i++)
        if (strcmp(ix->files[i], s) == 0)
            return (long)i;
    if (ix->n_files == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        char **p = realloc(ix->files, nc * sizeof *p);
        if (!p)
            return -ENOMEM;
        ix->files = p;
        *cap = nc;
    }
    ix->files[ix->n_files] = strdup(s);
    if (!ix->files[ix->n_files])
        return -ENOMEM;
    return (long)ix->n_files++;
}

static int cmp_entry_name(const void *a, const void *b)
{
    return strcmp(((const hi_entry_t *const *)a)[0]->tensor, ((const hi_entry_t *const *)b)[0]->tensor);
}

static int parse_root(const cJSON *root, hi_index_t *ix, char *err, size_t errlen)
{
    if (!cJSON_IsObject(root))
        return fu_err(err, errlen, -EINVAL, "index: top level is not an object");
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(root, "metadata");
    if (md && !cJSON_IsNull(md)) {
        if (!cJSON_IsObject(md))
            return fu_err(err, errlen, -EINVAL, "index: 'metadata' is not an object");
        const cJSON *ts = cJSON_GetObjectItemCaseSensitive(md, "total_size");
        if (ts && !js_get_u64(ts, &ix->total_size))
            return fu_err(err, errlen, -EINVAL, "index: 'metadata.total_size' is not a non-negative integer");
    }
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(wm))
        return fu_err(err, errlen, -EINVAL, "index: missing or non-object 'weight_map'");
    size_t n = (size_t)cJSON_GetArraySize(wm); /* bounded by the parsed text */
    if (n == 0)
        return fu_err(err, errlen, -EINVAL, "index: empty 'weight_map'");
    ix->entries = calloc(n, sizeof *ix->entries);
    if (!ix->entries)
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    size_t cap = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, wm) {
        if (e->string[0] == '\0')
            return fu_err(err, errlen, -EINVAL, "index: empty tensor name in 'weight_map'");
        if (!cJSON_IsString(e) || !e->valuestring)
            return fu_err(err, errlen, -EINVAL, "index: weight_map['%s'] is not a string", e->string);
        if (!safe_relpath(e->valuestring))
            return fu_err(err, errlen, -EINVAL, "index: weight_map['%s'] names an unsafe shard path '%s'",
                          e->string, e->valuestring);
        long fi = file_index(ix, &cap, e->valuestring);
        if (fi < 0)
            return fu_err(err, errlen, -ENOMEM, "out of memory");
        hi_entry_t *en = &ix->entries[ix->n_entries];
        en->tensor = strdup(e->string);
        if (!en->tensor)
            return fu_err(err, errlen, -ENOMEM, "out of memory");
        en->file = (size_t)fi;
        ix->n_entries++;
    }
    /* The same tensor in two places would make the map ambiguous. */
    const hi_entry_t **by = malloc(ix->n_entries * sizeof *by);
    if (!by)
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    for (size_t i = 0; i < ix->n_entries; i++)
        by[i] = &ix->entries[i];
    qsort(by, ix->n_entries, sizeof *by, cmp_entry_name);
    int rc = 0;
    for (size_t i = 1; i < ix->n_entries && !rc; i++)
        if (strcmp(by[i - 1]->tensor, by[i]->tensor) == 0)
            rc = fu_err(err, errlen, -EINVAL, "index: duplicate tensor '%s' in 'weight_map'", by[i]->tensor);
    free(by);
    return rc;
}

int hi_parse(const char *json, size_t len, hi_index_t *out, char *err, size_t errlen)
{
    hi_index_t ix;
    memset(&ix, 0, sizeof ix);
    memset(out, 0, sizeof *out);
    cJSON *root = NULL;
    int rc = js_parse(json, len, 0, "index", &root, err, errlen);
    if (rc)
        return rc;
    rc = parse_root(root, &ix, err, errlen);
    cJSON_Delete(root);
    if (rc) {
        hi_free(&ix);
        return rc;
    }
    *out = ix;
    return 0;
}

int hi_load(const char *path, hi_index_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    char *text = NULL;
    size_t len = 0;
    int rc = fu_read_file(path, HI_MAX_FILE, &text, &len);
    if (rc)
        return fu_err(err, errlen, rc, "%s: cannot read (%s)", path, strerror(-rc));
    rc = hi_parse(text, len, out, err, errlen);
    free(text);
    return rc;
}
