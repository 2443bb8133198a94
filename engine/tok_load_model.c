/* tok_load_model.c — load the BPE model and the added tokens from tokenizer.json.
 *
 *   "model": {"type": "BPE", "vocab": {"tok": id, ...},
 *             "merges": ["a b", ...] or [["a", "b"], ...],   (rank = index)
 *             "unk_token", "byte_fallback", "fuse_unk", "ignore_merges", ...}
 * A merge (a, b) produces the token a+b; all three must be in the vocabulary.
 * Later duplicates of a merge overwrite earlier ones (as a HashMap collect does). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fu_util.h"
#include "tok_internal.h"

static int jbool(const cJSON *o, const char *k, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v);
    return def;
}

/* A non-empty string option that we do not support. */
static int nonempty_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) && v->valuestring[0];
}

static int load_vocab(tk_tokenizer_t *tk, const cJSON *vocab, char *err, size_t errlen)
{
    size_t count = 0, bytes = 0;
    int64_t max_id = -1;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > INT32_MAX - 1 ||
            e->valuedouble != (double)(int64_t)e->valuedouble || !e->string)
            return fu_err(err, errlen, -EINVAL, "tokenizer.json: bad vocab entry");
        size_t l = strlen(e->string);
        if (l > UINT32_MAX || bytes > SIZE_MAX - l - 1)
            return fu_err(err, errlen, -EINVAL, "tokenizer.json: vocab too large");
        bytes += l + 1;
        count++;
        if ((int64_t)e->valuedouble > max_id)
            max_id = (int64_t)e->valuedouble;
    }
    /* Token tables are indexed by id: ids must be (nearly) dense, or a single entry with a
     * huge id would allocate gigabytes (found by fuzz_tokenizer). */
    if (max_id >= 0 && (uint64_t)max_id >= 2 * (uint64_t)count + 1024)
        return fu_err(err, errlen, -EINVAL, "tokenizer.json: vocab id %lld is far beyond its %zu entries (ids must be dense)",
                      (long long)max_id, count);
    tk->n_tok = (size_t)(max_id + 1);
    tk->arena = malloc(bytes ? bytes : 1);
    tk->tok_str = calloc(tk->n_tok ? tk->n_tok : 1, sizeof *tk->tok_str);
    tk->tok_len = calloc(tk->n_tok ? tk->n_tok : 1, sizeof *tk->tok_len);
    if (!tk->arena || !tk->tok_str || !tk->tok_len || tk_strmap_init(&tk->vocab, count))
        return fu_err(err, errlen, -ENOMEM, "tokenizer: out of memory");
    size_t off = 0;
    cJSON_ArrayForEach(e, vocab) {
        size_t l = strlen(e->string);
        int32_t id = (int32_t)e->valuedouble;
        char *p = tk->arena + off;
        memcpy(p, e->string, l + 1);
        off += l + 1;
        tk->tok_str[id] = p;
        tk->tok_len[id] = (uint32_t)l;
        if (tk_strmap_put(&tk->vocab, p, l, id))
            return fu_err(err, errlen, -ENOMEM, "tokenizer: out of memory");
    }
    return 0;
}

/* Split a merge entry into its two parts (pointers into the JSON). */
static int merge_parts(const cJSON *m, const char **a, size_t *al, const char **b, size_t *bl)
{
    if (cJSON_IsString(m)) {
        const char *s = m->valuestring, *sp = strchr(s, ' ');
        if (!sp || strchr(sp + 1, ' '))
            return -EINVAL; /* exactly one space */
        *a = s;
        *al = (size_t)(sp - s);
        *b = sp + 1;
        *bl = strlen(sp + 1);
        return 0;
    }
    if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2) {
        const cJSON *x = cJSON_GetArrayItem(m, 0), *y = cJSON_GetArrayItem(m, 1);
        if (!cJSON_IsString(x) || !cJSON_IsString(y))
            return -EINVAL;
        *a = x->valuestring;
        *al = strlen(*a);
        *b = y->valuestring;
        *bl = strlen(*b);
        return 0;
    }
    return -EINVAL;
}

static int load_merges(tk_tokenizer_t *tk, const cJSON *merges, char *err, size_t errlen)
{
    int n = cJSON_IsArray(merges) ? cJSON_GetArraySize(merges) : 0;
    if (tk_pairmap_init(&tk->merges, (size_t)n))
        return fu_err(err, errlen, -ENOMEM, "tokenizer: out of memory");
    tk_buf_t cat = {0};
    uint32_t rank = 0;
    const cJSON *m;
    int rc = 0;
    cJSON_ArrayForEach(m, merges) {
        const char *a, *b;
        size_t al, bl;
        if (merge_parts(m, &a, &al, &b, &bl)) {
            rc = fu_err(err, errlen, -EINVAL, "tokenizer.json: merge %u is malformed", rank);
            break;
        }
        int32_t ia = tk_strmap_get(&tk->vocab, a, al), ib = tk_strmap_get(&tk->vocab, b, bl);
        cat.len = 0;
        if ((rc = tk_buf_add(&cat, a, al)) || (rc = tk_buf_add(&cat, b, bl)))
            break;
        int32_t ic = tk_strmap_get(&tk->vocab, cat.p, cat.len);
        if (ia < 0 || ib < 0 || ic < 0) {
            rc = fu_err(err, errlen, -EINVAL, "tokenizer.json: merge %u uses a token not in the vocabulary",
                        rank);
            break;
        }
        if ((rc = tk_pairmap_put(&tk->merges, ia, ib, rank, ic)))
            break;
        rank++;
    }
    tk_buf_free(&cat);
    return rc;
}

int tk_load_model(tk_tokenizer_t *tk, const cJSON *model, char *err, size_t errlen)
{
    int rc;
    if (!cJSON_IsObject(model))
        return fu_err(err, errlen, -EINVAL, "tokenizer.json: no model");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "BPE") != 0)
        return fu_err(err, errlen, -ENOTSUP, "tokenizer model type '%s' is not supported (only BPE)",
                      type->valuestring);
    if (!cJSON_IsString(type) && !merges)
        return fu_err(err, errlen, -ENOTSUP, "tokenizer model without type or merges is not supported");
    if (!cJSON_IsObject(vocab))
        return fu_err(err, errlen, -EINVAL, "tokenizer.json: model.vocab missing");
    if (nonempty_str(model, "continuing_subword_prefix") || nonempty_str(model, "end_of_word_suffix"))
        return fu_err(err, errlen, -ENOTSUP,
                      "BPE continuing_subword_prefix/end_of_word_suffix are not supported");
    if ((rc = load_vocab(tk, vocab, err, errlen)) || (rc = load_merges(tk, merges, err, errlen)))
        return rc;
    tk->ignore_merges = jbool(model, "ignore_merges", 0);
    tk->byte_fallback = jbool(model, "byte_fallback", 0);
    tk->fuse_unk = jbool(model, "fuse_unk", 0);
    tk->unk_id = -1;
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (cJSON_IsString(unk)) {
        tk->unk_id = tk_strmap_get(&tk->vocab, unk->valuestring, strlen(unk->valuestring));
        if (tk->unk_id < 0)
            return fu_err(err, errlen, -EINVAL, "tokenizer.json: unk_token '%s' not in the vocabulary",
                          unk->valuestring);
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        tk->byte_id[b] = tk_strmap_get(&tk->vocab, name, 6);
    }
    /* Cache of 1-character tokens for code points below U+0800 (covers ASCII and every
     * byte-level character). */
    tk->char_id = malloc(0x800 * sizeof *tk->char_id);
    if (!tk->char_id)
        return fu_err(err, errlen, -ENOMEM, "tokenizer: out of memory");
    for (uint32_t cp = 0; cp < 0x800; cp++) {
        char c[4];
        size_t l = tk_utf8_put(cp, c);
        tk->char_id[cp] = tk_strmap_get(&tk->vocab, c, l);
    }
    tk->mark_split = tk_bpe_mark_split_ok(tk);
    return 0;
}

/* ---- added tokens ---------------------------------------------------------------- */

int32_t tk_lookup(const tk_tokenizer_t *tk, const char *s, size_t len)
{
    for (size_t i = 0; i < tk->n_added; i++)
        if (tk->added[i].len == len && memcmp(tk->added[i].content, s, len) == 0)
            return tk->added[i].id;
    return tk_strmap_get(&tk->vocab, s, len);
}

int tk_load_added(tk_tokenizer_t *tk, const cJSON *arr, char *err, size_t errlen)
{
    int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
    if (n == 0)
        return 0;
    tk->added = calloc((size_t)n, sizeof *tk->added);
    if (!tk->added)
        return fu_err(err, errlen, -ENOMEM, "tokenizer: out of memory");
    const cJSON *e;
    tk_buf_t norm = {0};
    int rc = 0;
    cJSON_ArrayForEach(e, arr) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble > INT32_MAX - 1 ||
            !cJSON_IsString(content)) {
            rc = fu_err(err, errlen, -EINVAL, "tokenizer.json: bad added_tokens entry");
            break;
        }
        /* The id -> added token table spans every id: as for the vocab, an id far beyond
         * the tokens would allocate gigabytes (found by fuzz_tokenizer: 1.3 GB for 100 bytes). */
        if ((uint64_t)id->valuedouble >= 2 * ((uint64_t)tk->n_tok + (uint64_t)n) + 1024) {
            rc = fu_err(err, errlen, -EINVAL, "tokenizer.json: added token id %.0f is far beyond the "
                        "%zu tokens of the vocabulary", id->valuedouble, tk->n_tok);
            break;
        }
        tk_added_t *a = &tk->added[tk->n_added];
        a->id = (int32_t)id->valuedouble;
        a->len = strlen(content->valuestring);
        a->content = strdup(content->valuestring);
        a->single_word = (uint8_t)jbool(e, "single_word", 0);
        a->lstrip = (uint8_t)jbool(e, "lstrip", 0);
        a->rstrip = (uint8_t)jbool(e, "rstrip", 0);
        a->special = (uint8_t)jbool(e, "special", 0);
        a->normalized = (uint8_t)jbool(e, "normalized", !a->special);
        if (!a->content) {
            rc = fu_err(err, errlen, -ENOMEM, "tokenizer: out of memory");
            break;
        }
        tk->n_added++;
        /* Normalized tokens match the normalized text, so their pattern is normalized too. */
        if (a->normalized && tk->n_norm) {
            if ((rc = tk_normalize(tk, a->content, a->len, &norm)))
                break;
            a->match = malloc(norm.len + 1);
            if (!a->match) {
                rc = -ENOMEM;
                break;
            }
            memcpy(a->match, norm.p, norm.len + 1);
            a->match_len = norm.len;
        } else {
            a->match = a->content;
            a->match_len = a->len;
        }
        tk_trie_t *t = a->normalized ? &tk->trie_norm : &tk->trie_raw;
        if ((rc = tk_trie_add(t, a->match, a->match_len, (int32_t)(tk->n_added - 1))))
            break;
    }
    tk_buf_free(&norm);
    if (rc == -ENOMEM)
        fu_err(err, errlen, rc, "tokenizer: out of memory");
    return rc;
}
