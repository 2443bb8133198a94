/* tok_gguf.c — the tokenizer of a GGUF model file, from its tokenizer.ggml.* metadata.
 *
 * Supported: tokenizer.ggml.model "gpt2" (byte-level BPE: tokens, merges) with
 * tokenizer.ggml.pre selecting the pre-tokenizer regex as llama.cpp does: "llama-bpe" /
 * "llama3" / "llama-v3" (the Llama 3 regex, whole-word vocabulary hits skip the merges) and
 * "qwen2" (the Qwen2 regex). Tokens of type CONTROL (3) are special added tokens, USER_DEFINED
 * (4) plain added tokens. BOS: tokenizer.ggml.bos_token_id, put before the text when
 * tokenizer.ggml.add_bos_token says so (default: true for llama-bpe, false otherwise, as in
 * llama.cpp); EOS: tokenizer.ggml.eos_token_id and eot_token_id. The metadata is turned into
 * the equivalent tokenizer.json and loaded by tk_load_json, so the encoder is the same code. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fu_util.h"
#include "gguf.h"
#include "tok_internal.h"

typedef struct {
    int fd;
    gg_file_t g;
    char **tok, **merges;
    uint64_t n_tok, n_merges;
    int32_t *types;
} tkg_t;

static int tkg_id(const gg_file_t *g, const char *key, uint64_t n_tok, int32_t *id)
{
    const gg_kv_t *kv = gg_find_kv(g, key);
    *id = -1;
    if (!kv)
        return 0;
    if (kv->type != GG_T_UINT32 && kv->type != GG_T_INT32 && kv->type != GG_T_UINT64 && kv->type != GG_T_INT64)
        return -EINVAL;
    if (kv->num.u >= n_tok)
        return -EINVAL;
    *id = (int32_t)kv->num.u;
    return 0;
}

/* The tokenizer.json equivalent of the metadata. */
static cJSON *tkg_json(const tkg_t *t, int re, int ignore_merges, int32_t bos, int add_bos)
{
    cJSON *root = cJSON_CreateObject(), *model = cJSON_AddObjectToObject(root, "model");
    cJSON *vocab = model ? cJSON_AddObjectToObject(model, "vocab") : NULL;
    cJSON *merges = model ? cJSON_AddArrayToObject(model, "merges") : NULL;
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON *dec = cJSON_AddObjectToObject(root, "decoder");
    if (!vocab || !merges || !added || !pre || !dec)
        goto fail;
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddBoolToObject(model, "ignore_merges", ignore_merges);
    cJSON_AddBoolToObject(model, "byte_fallback", 0);
    for (uint64_t i = 0; i < t->n_tok; i++) {
        if (!cJSON_GetObjectItemCaseSensitive(vocab, t->tok[i]) &&
            !cJSON_AddNumberToObject(vocab, t->tok[i], (double)i))
            goto fail;
        int ty = t->types ? t->types[i] : 1;
        if (ty == 3 || ty == 4) {
            cJSON *a = cJSON_CreateObject();
            if (!a || !cJSON_AddItemToArray(added, a))
                goto fail;
            cJSON_AddNumberToObject(a, "id", (double)i);
            cJSON_AddStringToObject(a, "content", t->tok[i]);
            cJSON_AddBoolToObject(a, "single_word", 0);
            cJSON_AddBoolToObject(a, "lstrip", 0);
            cJSON_AddBoolToObject(a, "rstrip", 0);
            cJSON_AddBoolToObject(a, "normalized", 0);
            cJSON_AddBoolToObject(a, "special", ty == 3);
        }
    }
    for (uint64_t i = 0; i < t->n_merges; i++)
        if (!cJSON_AddItemToArray(merges, cJSON_CreateString(t->merges[i])))
            goto fail;
    cJSON_AddStringToObject(pre, "type", "Sequence");
    cJSON *ops = cJSON_AddArrayToObject(pre, "pretokenizers");
    cJSON *split = cJSON_CreateObject(), *bl = cJSON_CreateObject();
    if (!ops || !split || !cJSON_AddItemToArray(ops, split) || !bl || !cJSON_AddItemToArray(ops, bl))
        goto fail;
    cJSON_AddStringToObject(split, "type", "Split");
    cJSON *pat = cJSON_AddObjectToObject(split, "pattern");
    if (!pat)
        goto fail;
    cJSON_AddStringToObject(pat, "Regex", tk_re_pattern(re));
    cJSON_AddStringToObject(split, "behavior", "Isolated");
    cJSON_AddBoolToObject(split, "invert", 0);
    cJSON_AddStringToObject(bl, "type", "ByteLevel");
    cJSON_AddBoolToObject(bl, "add_prefix_space", 0);
    cJSON_AddBoolToObject(bl, "trim_offsets", 1);
    cJSON_AddBoolToObject(bl, "use_regex", 0);
    cJSON_AddStringToObject(dec, "type", "ByteLevel");
    cJSON_AddBoolToObject(dec, "add_prefix_space", 1);
    cJSON_AddBoolToObject(dec, "trim_offsets", 1);
    cJSON_AddBoolToObject(dec, "use_regex", 1);
    if (add_bos && bos >= 0) {
        cJSON *pp = cJSON_AddObjectToObject(root, "post_processor");
        cJSON *single = pp ? cJSON_AddArrayToObject(pp, "single") : NULL;
        cJSON *sp = cJSON_CreateObject(), *sq = cJSON_CreateObject();
        cJSON *spi = sp ? cJSON_AddObjectToObject(sp, "SpecialToken") : NULL;
        cJSON *sqi = sq ? cJSON_AddObjectToObject(sq, "Sequence") : NULL;
        cJSON *st = pp ? cJSON_AddObjectToObject(pp, "special_tokens") : NULL;
        cJSON *ent = st ? cJSON_AddObjectToObject(st, t->tok[bos]) : NULL;
        cJSON *ids = ent ? cJSON_AddArrayToObject(ent, "ids") : NULL;
        cJSON *toks = ent ? cJSON_AddArrayToObject(ent, "tokens") : NULL;
        if (!single || !spi || !sqi || !ids || !toks || !cJSON_AddItemToArray(single, sp) ||
            !cJSON_AddItemToArray(single, sq))
            goto fail;
        cJSON_AddStringToObject(pp, "type", "TemplateProcessing");
        cJSON_AddStringToObject(spi, "id", t->tok[bos]);
        cJSON_AddNumberToObject(spi, "type_id", 0);
        cJSON_AddStringToObject(sqi, "id", "A");
        cJSON_AddNumberToObject(sqi, "type_id", 0);
        cJSON_AddStringToObject(ent, "id", t->tok[bos]);
        cJSON_AddItemToArray(ids, cJSON_CreateNumber(bos));
        cJSON_AddItemToArray(toks, cJSON_CreateString(t->tok[bos]));
    }
    return root;
fail:
    cJSON_Delete(root);
    return NULL;
}

static int tkg_build(tkg_t *t, const char *path, tk_tokenizer_t **out, char *err, size_t errlen)
{
    const gg_file_t *g = &t->g;
    const gg_kv_t *model = gg_find_kv(g, "tokenizer.ggml.model");
    if (!model || model->type != GG_T_STRING)
        return fu_err(err, errlen, -EINVAL, "%s: metadata tokenizer.ggml.model is missing", path);
    if (strcmp(model->str, "gpt2"))
        return fu_err(err, errlen, -ENOTSUP,
                      "%s: tokenizer.ggml.model \"%.40s\" is not supported (supported: gpt2)", path, model->str);
    const gg_kv_t *pre = gg_find_kv(g, "tokenizer.ggml.pre");
    const char *pn = pre && pre->type == GG_T_STRING ? pre->str : "(missing)";
    int re, llama3 = !strcmp(pn, "llama-bpe") || !strcmp(pn, "llama3") || !strcmp(pn, "llama-v3");
    if (llama3)
        re = TK_RE_LLAMA3;
    else if (!strcmp(pn, "qwen2"))
        re = TK_RE_QWEN2;
    else
        return fu_err(err, errlen, -ENOTSUP,
                      "%s: tokenizer.ggml.pre \"%.40s\" is not supported (supported: llama-bpe, qwen2)", path, pn);
    const gg_kv_t *tk = gg_find_kv(g, "tokenizer.ggml.tokens");
    const gg_kv_t *mg = gg_find_kv(g, "tokenizer.ggml.merges");
    const gg_kv_t *ty = gg_find_kv(g, "tokenizer.ggml.token_type");
    if (!tk || !mg)
        return fu_err(err, errlen, -EINVAL, "%s: metadata tokenizer.ggml.%s is missing", path,
                      !tk ? "tokens" : "merges");
    char why[256] = "";
    int rc;
    if ((rc = gg_read_strings(t->fd, g, tk, &t->tok, why, sizeof why)))
        return fu_err(err, errlen, rc, "%s: %s", path, why);
    t->n_tok = tk->arr_len;
    if (t->n_tok == 0 || t->n_tok > INT32_MAX)
        return fu_err(err, errlen, -EINVAL, "%s: tokenizer.ggml.tokens is empty or too long", path);
    if ((rc = gg_read_strings(t->fd, g, mg, &t->merges, why, sizeof why)))
        return fu_err(err, errlen, rc, "%s: %s", path, why);
    t->n_merges = mg->arr_len;
    if (ty && (rc = gg_read_i32s(t->fd, g, ty, &t->types, why, sizeof why)))
        return fu_err(err, errlen, rc, "%s: %s", path, why);
    if (ty && ty->arr_len != t->n_tok)
        return fu_err(err, errlen, -EINVAL, "%s: tokenizer.ggml.token_type has %llu entries for %llu tokens",
                      path, (unsigned long long)ty->arr_len, (unsigned long long)t->n_tok);
    int32_t bos, eos, eot;
    if (tkg_id(g, "tokenizer.ggml.bos_token_id", t->n_tok, &bos) ||
        tkg_id(g, "tokenizer.ggml.eos_token_id", t->n_tok, &eos) ||
        tkg_id(g, "tokenizer.ggml.eot_token_id", t->n_tok, &eot))
        return fu_err(err, errlen, -EINVAL, "%s: a tokenizer.ggml.*_token_id is not a token id", path);
    const gg_kv_t *ab = gg_find_kv(g, "tokenizer.ggml.add_bos_token");
    int add_bos = ab && ab->type == GG_T_BOOL ? ab->num.u != 0 : llama3;
    cJSON *j = tkg_json(t, re, llama3, bos, add_bos);
    char *txt = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!txt)
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    rc = tk_load_json(txt, strlen(txt), out, why, sizeof why);
    cJSON_free(txt);
    if (rc)
        return fu_err(err, errlen, rc, "%s: tokenizer: %s", path, why);
    (*out)->bos = bos;
    (*out)->n_eos = 0;
    if (eos >= 0)
        (*out)->eos[(*out)->n_eos++] = eos;
    if (eot >= 0 && eot != eos)
        (*out)->eos[(*out)->n_eos++] = eot;
    return 0;
}

int tk_load_gguf(const char *path, tk_tokenizer_t **out, char *err, size_t errlen)
{
    tkg_t t;
    memset(&t, 0, sizeof t);
    *out = NULL;
    if ((t.fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return fu_err(err, errlen, -errno, "%s: %s", path, strerror(errno));
    char why[256] = "";
    int rc = gg_parse_path(path, &t.g, why, sizeof why);
    if (rc)
        rc = fu_err(err, errlen, rc, "%s: %s", path, why[0] ? why : strerror(-rc));
    else
        rc = tkg_build(&t, path, out, err, errlen);
    gg_strings_free(t.tok, t.n_tok);
    gg_strings_free(t.merges, t.n_merges);
    free(t.types);
    gg_free(&t.g);
    close(t.fd);
    return rc;
}
