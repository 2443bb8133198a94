/* tok_load.c — tk_load/tk_load_json/tk_free and the vocabulary accessors.
 *
 * BOS: the first id the post-processor puts before the text; else tokenizer_config.json's
 * bos_token; else config.json's bos_token_id; else -1.
 * EOS: the union of config.json eos_token_id, generation_config.json eos_token_id (int or
 * list) and tokenizer_config.json's eos_token, in that order. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fu_util.h"
#include "gguf.h"
#include "tok_internal.h"

#define TK_MAX_JSON (1u << 30) /* 1 GiB: far above any real tokenizer.json */

static void add_eos(tk_tokenizer_t *tk, double v)
{
    if (v < 0 || v > INT32_MAX || v != (double)(int32_t)v)
        return;
    for (size_t i = 0; i < tk->n_eos; i++)
        if (tk->eos[i] == (int32_t)v)
            return;
    if (tk->n_eos < sizeof tk->eos / sizeof tk->eos[0])
        tk->eos[tk->n_eos++] = (int32_t)v;
}

static void add_eos_json(tk_tokenizer_t *tk, const cJSON *v)
{
    const cJSON *e;
    if (cJSON_IsNumber(v))
        add_eos(tk, v->valuedouble);
    else if (cJSON_IsArray(v))
        cJSON_ArrayForEach(e, v) if (cJSON_IsNumber(e)) add_eos(tk, e->valuedouble);
}

/* Id of a tokenizer_config.json token entry: "text" or {"content": "text"}. */
static int32_t token_entry_id(const tk_tokenizer_t *tk, const cJSON *v)
{
    if (cJSON_IsObject(v))
        v = cJSON_GetObjectItemCaseSensitive(v, "content");
    if (!cJSON_IsString(v))
        return -1;
    return tk_lookup(tk, v->valuestring, strlen(v->valuestring));
}

static cJSON *read_json(const char *dir, const char *name)
{
    char path[4096];
    char *txt;
    size_t len;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return NULL;
    if (fu_read_file(path, 64u << 20, &txt, &len))
        return NULL;
    cJSON *j = cJSON_ParseWithLength(txt, len);
    free(txt);
    return j;
}

/* BOS/EOS from the side files of a model directory (missing files are fine). */
static void load_side_files(tk_tokenizer_t *tk, const char *dir)
{
    cJSON *cfg = read_json(dir, "config.json");
    cJSON *gen = read_json(dir, "generation_config.json");
    cJSON *tc = read_json(dir, "tokenizer_config.json");
    if (tk->bos < 0 && tc)
        tk->bos = token_entry_id(tk, cJSON_GetObjectItemCaseSensitive(tc, "bos_token"));
    if (tk->bos < 0 && cfg) {
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(cfg, "bos_token_id");
        if (cJSON_IsNumber(b) && b->valuedouble >= 0 && b->valuedouble <= INT32_MAX)
            tk->bos = (int32_t)b->valuedouble;
    }
    if (cfg)
        add_eos_json(tk, cJSON_GetObjectItemCaseSensitive(cfg, "eos_token_id"));
    if (gen)
        add_eos_json(tk, cJSON_GetObjectItemCaseSensitive(gen, "eos_token_id"));
    if (tc) {
        int32_t e = token_entry_id(tk, cJSON_GetObjectItemCaseSensitive(tc, "eos_token"));
        if (e >= 0)
            add_eos(tk, e);
    }
    cJSON_Delete(cfg);
    cJSON_Delete(gen);
    cJSON_Delete(tc);
}

int tk_load_json(const char *json, size_t len, tk_tokenizer_t **out, char *err, size_t errlen)
{
    *out = NULL;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root)
        return fu_err(err, errlen, -EINVAL, "tokenizer.json: invalid JSON");
    tk_tokenizer_t *tk = calloc(1, sizeof *tk);
    int rc;
    if (!tk) {
        cJSON_Delete(root);
        return fu_err(err, errlen, -ENOMEM, "tokenizer: out of memory");
    }
    tk->bos = -1;
    if ((rc = tk_load_model(tk, cJSON_GetObjectItemCaseSensitive(root, "model"), err, errlen)) ||
        (rc = tk_load_pipeline(tk, root, err, errlen)) ||
        (rc = tk_load_added(tk, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), err, errlen))) {
        cJSON_Delete(root);
        tk_free(tk);
        return rc;
    }
    cJSON_Delete(root);
    tk->vocab_size = tk->n_tok;
    for (size_t i = 0; i < tk->n_added; i++)
        if ((size_t)tk->added[i].id + 1 > tk->vocab_size)
            tk->vocab_size = (size_t)tk->added[i].id + 1;
    /* the post-processor's ids are added to every encoding: they must be tokens */
    for (size_t i = 0; i < tk->n_prefix + tk->n_suffix; i++) {
        int32_t id = i < tk->n_prefix ? tk->pp_prefix[i] : tk->pp_suffix[i - tk->n_prefix];
        if (id < 0 || (size_t)id >= tk->vocab_size) {
            rc = fu_err(err, errlen, -EINVAL, "tokenizer.json: post-processor id %ld is outside the "
                        "vocabulary (%zu tokens)", (long)id, tk->vocab_size);
            tk_free(tk);
            return rc;
        }
    }
    if (tk->n_prefix)
        tk->bos = tk->pp_prefix[0];
    /* id -> added token index, for decoding */
    tk->added_of = malloc((tk->vocab_size ? tk->vocab_size : 1) * sizeof *tk->added_of);
    if (!tk->added_of) {
        tk_free(tk);
        return fu_err(err, errlen, -ENOMEM, "tokenizer: out of memory");
    }
    for (size_t i = 0; i < tk->vocab_size; i++)
        tk->added_of[i] = -1;
    for (size_t i = tk->n_added; i-- > 0;)
        tk->added_of[tk->added[i].id] = (int32_t)i;
    *out = tk;
    return 0;
}

int tk_load(const char *model_dir, tk_tokenizer_t **out, char *err, size_t errlen)
{
    char path[4096];
    char *txt;
    size_t len;
    int rc;
    *out = NULL;
    int g = gg_model_path(model_dir, path, sizeof path);
    if (g == 2)
        return fu_err(err, errlen, -EINVAL, "%s holds several GGUF files: name one with -m %s", model_dir, path);
    if (g == 1)
        return tk_load_gguf(path, out, err, errlen);
    if ((size_t)snprintf(path, sizeof path, "%s/tokenizer.json", model_dir) >= sizeof path)
        return fu_err(err, errlen, -ENAMETOOLONG, "model path too long");
    if ((rc = fu_read_file(path, TK_MAX_JSON, &txt, &len)))
        return fu_err(err, errlen, rc, "%s: %s", path, strerror(-rc));
    rc = tk_load_json(txt, len, out, err, errlen);
    free(txt);
    if (rc)
        return rc;
    load_side_files(*out, model_dir);
    return 0;
}

void tk_free(tk_tokenizer_t *tk)
{
    if (!tk)
        return;
    free(tk->arena);
    free(tk->tok_str);
    free(tk->tok_len);
    free(tk->char_id);
    free(tk->added_of);
    tk_strmap_free(&tk->vocab);
    tk_pairmap_free(&tk->merges);
    for (size_t i = 0; i < tk->n_added; i++) {
        if (tk->added[i].match != tk->added[i].content)
            free(tk->added[i].match);
        free(tk->added[i].content);
    }
    free(tk->added);
    tk_trie_free(&tk->trie_raw);
    tk_trie_free(&tk->trie_norm);
    tk_free_pipeline(tk);
    free(tk);
}

size_t tk_vocab_size(const tk_tokenizer_t *tk) { return tk->vocab_size; }

int32_t tk_bos_id(const tk_tokenizer_t *tk) { return tk->bos; }

size_t tk_eos_ids(const tk_tokenizer_t *tk, int32_t *ids, size_t max)
{
    for (size_t i = 0; i < tk->n_eos && i < max; i++)
        ids[i] = tk->eos[i];
    return tk->n_eos;
}

const char *tk_token_text(const tk_tokenizer_t *tk, int32_t id)
{
    size_t len;
    return tk_token_str(tk, id, &len);
}

const char *tk_token_str(const tk_tokenizer_t *tk, int32_t id, size_t *len)
{
    if (id < 0 || (size_t)id >= tk->vocab_size)
        return NULL;
    int32_t a = tk->added_of[id];
    if (a >= 0) {
        *len = tk->added[a].len;
        return tk->added[a].content;
    }
    if ((size_t)id < tk->n_tok && tk->tok_str[id]) {
        *len = tk->tok_len[id];
        return tk->tok_str[id];
    }
    return NULL;
}
