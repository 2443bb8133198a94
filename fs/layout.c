/* layout.c — the tensor-aware map of a model directory: which byte of which file belongs
 * to which tensor, and which tensor to which layer group.
 *
 * Files are added one by one (ly_add_file): *.safetensors and *.gguf headers are parsed,
 * their tensors copied into one common form (ly_tensor_t, sorted by offset); config.json
 * and *.index.json are parse-checked so that a broken one shows its reason in the layout.
 * ly_finish() then classifies every tensor name into a group and orders the groups in
 * execution order:  embed, layer.0 .. layer.N-1, norm, head, other.
 *
 *   safetensors (HF names)        GGUF (llama.cpp names)      group
 *   model.embed_tokens.*          token_embd.*                embed
 *   model.layers.N.*              blk.N.*                     layer.N
 *   model.norm.*                  output_norm.*               norm
 *   lm_head.*                     output.*                    head
 *   anything else                                             other
 *
 * Lookups by offset are binary searches over a file's sorted, non-overlapping tensors. */
#include "layout.h"
#include "gguf.h"
#include "hf_config.h"
#include "hf_index.h"
#include "safetensors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LY_MAX_INDEX_FILE (64u << 20) /* index files are checked up to this size (huge models: ~10 MB) */
#define LY_MAX_CONFIG_FILE (1u << 20) /* config.json files are a few KiB */
#define LY_MAX_LAYER 4096            /* larger "layer numbers" are treated as "other" */

/* ------------------------------------------------------------- naming --- */

enum { G_EMBED, G_LAYER, G_NORM, G_HEAD, G_OTHER };

static int has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* Layer number after prefix p ("model.layers." / "blk.") followed by '.', else -1. */
static int layer_after(const char *s, const char *p)
{
    if (!has_prefix(s, p))
        return -1;
    s += strlen(p);
    if (*s < '0' || *s > '9')
        return -1;
    long n = 0;
    while (*s >= '0' && *s <= '9') {
        n = n * 10 + (*s - '0');
        if (n > LY_MAX_LAYER)
            return -1;
        s++;
    }
    return *s == '.' ? (int)n : -1;
}

/* Classify a tensor name: G_* and, for G_LAYER, the layer number. */
static int classify(const char *name, int *layer)
{
    *layer = -1;
    if ((*layer = layer_after(name, "model.layers.")) >= 0 || (*layer = layer_after(name, "blk.")) >= 0)
        return G_LAYER;
    if (has_prefix(name, "model.embed_tokens.") || has_prefix(name, "token_embd."))
        return G_EMBED;
    if (has_prefix(name, "model.norm.") || has_prefix(name, "output_norm."))
        return G_NORM;
    if (has_prefix(name, "lm_head.") || has_prefix(name, "output."))
        return G_HEAD;
    return G_OTHER;
}

/* ------------------------------------------------------------ lifetime --- */

void ly_init(ly_layout_t *ly)
{
    memset(ly, 0, sizeof *ly);
}

static void free_file(ly_file_t *f)
{
    for (size_t i = 0; i < f->n_tensors; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    free(f->path);
    f->tensors = NULL;
    f->n_tensors = 0;
}

void ly_free(ly_layout_t *ly)
{
    if (!ly)
        return;
    for (size_t i = 0; i < ly->n_files; i++)
        free_file(&ly->files[i]);
    free(ly->files);
    free(ly->groups);
    memset(ly, 0, sizeof *ly);
}

/* ------------------------------------------------------- file parsing --- */

static int cmp_tensor(const void *a, const void *b)
{
    const ly_tensor_t *x = a, *y = b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return x->length < y->length ? -1 : x->length > y->length;
}

static int from_safetensors(ly_file_t *f, fu_read_fn rd, void *ctx)
{
    st_file_t st;
    int rc = st_parse(rd, ctx, f->size, &st, f->error, sizeof f->error);
    if (rc)
        return rc;
    f->data_start = st.data_start;
    if (st.n_tensors) {
        f->tensors = calloc(st.n_tensors, sizeof *f->tensors);
        if (!f->tensors) {
            st_free(&st);
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < st.n_tensors; i++) {
        ly_tensor_t *t = &f->tensors[i];
        const st_tensor_t *s = &st.tensors[i];
        t->name = s->name; /* take ownership */
        st.tensors[i].name = NULL;
        snprintf(t->dtype, sizeof t->dtype, "%s", st_dtype_name(s->dtype));
        t->ndim = s->ndim;
        memcpy(t->shape, s->shape, sizeof t->shape);
        t->offset = s->offset;
        t->length = s->length;
        t->group = -1;
        f->n_tensors++;
    }
    st_free(&st); /* names already moved out: st_free skips NULL */
    return 0;
}

static int from_gguf(ly_file_t *f, fu_read_fn rd, void *ctx)
{
    gg_file_t gg;
    int rc = gg_parse(rd, ctx, f->size, &gg, f->error, sizeof f->error);
    if (rc)
        return rc;
    f->data_start = gg.data_start;
    if (gg.n_tensors) {
        f->tensors = calloc((size_t)gg.n_tensors, sizeof *f->tensors);
        if (!f->tensors) {
            gg_free(&gg);
            return -ENOMEM;
        }
    }
    for (uint64_t i = 0; i < gg.n_tensors; i++) {
        ly_tensor_t *t = &f->tensors[i];
        gg_tensor_t *g = &gg.tensors[i];
        t->name = g->name;
        g->name = NULL;
        snprintf(t->dtype, sizeof t->dtype, "%s", gg_type_name(g->type));
        t->ndim = (int)g->n_dims;
        for (uint32_t d = 0; d < g->n_dims; d++)
            t->shape[d] = g->ne[d];
        t->offset = g->offset;
        t->length = g->length;
        t->group = -1;
        f->n_tensors++;
    }
    gg_free(&gg);
    /* GGUF keeps tensor-info order; the layout wants offset order (parser checked overlaps). */
    if (f->n_tensors > 1)
        qsort(f->tensors, f->n_tensors, sizeof *f->tensors, cmp_tensor);
    return 0;
}

/* Read a small JSON file through rd into a NUL-terminated buffer. */
static int read_small(ly_file_t *f, fu_read_fn rd, void *ctx, uint64_t max, char **out)
{
    *out = NULL;
    if (f->size > max)
        return fu_err(f->error, sizeof f->error, -EFBIG, "file of %llu bytes is larger than the %llu accepted",
                      (unsigned long long)f->size, (unsigned long long)max);
    char *text = malloc((size_t)f->size + 1);
    if (!text)
        return -ENOMEM;
    int rc = rd(ctx, text, (size_t)f->size, 0);
    if (rc) {
        free(text);
        return fu_err(f->error, sizeof f->error, rc, "read error");
    }
    text[f->size] = '\0';
    *out = text;
    return 0;
}

/* config.json / *.safetensors.index.json: parse only to report a broken file. */
static int check_json(ly_file_t *f, fu_read_fn rd, void *ctx, int is_index)
{
    char *text;
    int rc = read_small(f, rd, ctx, is_index ? LY_MAX_INDEX_FILE : LY_MAX_CONFIG_FILE, &text);
    if (rc)
        return rc;
    if (is_index) {
        hi_index_t ix;
        rc = hi_parse(text, (size_t)f->size, &ix, f->error, sizeof f->error);
        hi_free(&ix);
    } else {
        hc_config_t c;
        rc = hc_parse(text, (size_t)f->size, &c, f->error, sizeof f->error);
    }
    free(text);
    return rc;
}

/* The model-wide bounds before parsing: the safetensors header length (first 8 bytes) or
 * the GGUF tensor count (bytes 8..15 after magic and version) against what is left. 0, or
 * -E2BIG with the reason in ly->limit_error. An unreadable prefix is left to the parser. */
static int precheck(ly_layout_t *ly, const char *relpath, int kind, fu_read_fn rd, void *ctx, uint64_t size)
{
    uint8_t b[16];
    if (size < 16 || rd(ctx, b, sizeof b, 0) < 0)
        return 0;
    uint64_t v = 0;
    int at = kind == LY_SAFETENSORS ? 0 : 8;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[at + i];
    int counted = kind == LY_SAFETENSORS && v <= ST_MAX_HEADER && v <= size - 8;
    if (counted && ly->header_bytes + v > LY_MAX_HEADER_TOTAL) {
        snprintf(ly->limit_error, sizeof ly->limit_error, "%.80s: the safetensors headers of the model pass the "
                 "limit of %llu MiB in total (LY_MAX_HEADER_TOTAL)", relpath, LY_MAX_HEADER_TOTAL >> 20);
        return -E2BIG;
    }
    if (kind == LY_GGUF && !memcmp(b, "GGUF", 4) && v > LY_MAX_TENSORS - ly->n_tensors_total) {
        snprintf(ly->limit_error, sizeof ly->limit_error, "%.80s: the model has more than %u tensors "
                 "(LY_MAX_TENSORS)", relpath, LY_MAX_TENSORS);
        return -E2BIG;
    }
    if (counted)
        ly->header_bytes += v;
    return 0;
}

int ly_add_file(ly_layout_t *ly, const char *relpath, fu_read_fn rd, void *ctx, uint64_t size)
{
    int kind = ends_with(relpath, ".safetensors") ? LY_SAFETENSORS : ends_with(relpath, ".gguf") ? LY_GGUF : LY_PLAIN;
    if (kind != LY_PLAIN) {
        int prc = precheck(ly, relpath, kind, rd, ctx, size);
        if (prc < 0)
            return prc;
    }
    ly_file_t *nf = realloc(ly->files, (ly->n_files + 1) * sizeof *nf);
    if (!nf)
        return -ENOMEM;
    ly->files = nf;
    ly_file_t *f = &ly->files[ly->n_files];
    memset(f, 0, sizeof *f);
    f->path = strdup(relpath);
    if (!f->path)
        return -ENOMEM;
    f->size = size;

    const char *base = strrchr(relpath, '/');
    base = base ? base + 1 : relpath;
    int rc = 0;
    if (ends_with(relpath, ".safetensors")) {
        f->kind = LY_SAFETENSORS;
        rc = from_safetensors(f, rd, ctx);
    } else if (ends_with(relpath, ".gguf")) {
        f->kind = LY_GGUF;
        rc = from_gguf(f, rd, ctx);
    } else if (strcmp(relpath, "config.json") == 0) {
        rc = check_json(f, rd, ctx, 0);
    } else if (ends_with(base, ".safetensors.index.json")) {
        rc = check_json(f, rd, ctx, 1);
    }
    if (rc == -ENOMEM) {
        free_file(f);
        return -ENOMEM;
    }
    if (!rc && f->n_tensors > LY_MAX_TENSORS - ly->n_tensors_total) {
        snprintf(ly->limit_error, sizeof ly->limit_error, "%.80s: the model has more than %u tensors "
                 "(LY_MAX_TENSORS)", relpath, LY_MAX_TENSORS);
        free_file(f);
        return -E2BIG;
    }
    ly->n_tensors_total += f->n_tensors;
    if (rc) {
        /* Served as plain bytes; the reason stays in the layout (the caller logs it). */
        free_file(f);
        f->path = strdup(relpath);
        if (!f->path)
            return -ENOMEM;
        f->kind = LY_PLAIN;
        f->data_start = 0;
        f->parse_error = rc;
        if (!f->error[0])
            snprintf(f->error, sizeof f->error, "%s", strerror(-rc));
    }
    return (int)ly->n_files++;
}

/* ------------------------------------------------------------- groups --- */

int ly_finish(ly_layout_t *ly)
{
    /* Pass 1: what exists. */
    int max_layer = -1, have[5] = { 0 };
    for (size_t i = 0; i < ly->n_files; i++)
        for (size_t j = 0; j < ly->files[i].n_tensors; j++) {
            int layer, g = classify(ly->files[i].tensors[j].name, &layer);
            have[g] = 1;
            if (g == G_LAYER && layer > max_layer)
                max_layer = layer;
        }
    /* Group table in execution order; every layer 0..max gets a group. */
    size_t n = (size_t)have[G_EMBED] + (size_t)(max_layer + 1) + (size_t)have[G_NORM] +
               (size_t)have[G_HEAD] + (size_t)have[G_OTHER];
    ly_group_t *gs = n ? calloc(n, sizeof *gs) : NULL;
    if (n && !gs)
        return -ENOMEM;
    int first[5] = { -1, -1, -1, -1, -1 };
    size_t k = 0;
    static const char *names[5] = { "embed", "layer", "norm", "head", "other" };
    for (int g = 0; g < 5; g++) {
        if (g == G_LAYER) {
            first[g] = (int)k;
            for (int l = 0; l <= max_layer; l++, k++) {
                snprintf(gs[k].name, sizeof gs[k].name, "layer.%d", l);
                gs[k].layer = l;
            }
        } else if (have[g]) {
            first[g] = (int)k;
            snprintf(gs[k].name, sizeof gs[k].name, "%s", names[g]);
            gs[k].layer = -1;
            k++;
        }
    }
    /* Pass 2: assign and count. */
    for (size_t i = 0; i < ly->n_files; i++)
        for (size_t j = 0; j < ly->files[i].n_tensors; j++) {
            ly_tensor_t *t = &ly->files[i].tensors[j];
            int layer, g = classify(t->name, &layer);
            t->group = first[g] + (g == G_LAYER ? layer : 0);
            gs[t->group].bytes += t->length;
            gs[t->group].n_tensors++;
        }
    free(ly->groups);
    ly->groups = gs;
    ly->n_groups = n;
    ly->n_layers = max_layer + 1;
    return 0;
}

/* ------------------------------------------------------------- lookups --- */

long ly_tensor_at(const ly_file_t *f, uint64_t off)
{
    /* Last tensor whose offset <= off, then check that off is inside it. */
    size_t lo = 0, hi = f->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->tensors[mid].offset <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return -1;
    const ly_tensor_t *t = &f->tensors[lo - 1];
    return off - t->offset < t->length ? (long)(lo - 1) : -1;
}

int ly_group_at(const ly_file_t *f, uint64_t off)
{
    long i = ly_tensor_at(f, off);
    return i < 0 ? -1 : f->tensors[i].group;
}

ly_file_t *ly_find_file(const ly_layout_t *ly, const char *relpath)
{
    for (size_t i = 0; i < ly->n_files; i++)
        if (strcmp(ly->files[i].path, relpath) == 0)
            return &ly->files[i];
    return NULL;
}
