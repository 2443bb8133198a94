/* mkmodel_tok.c — the tokenizer of a synthetic model: copying its files into a Hugging
 * Face folder, and turning tokenizer.json into GGUF tokenizer.ggml.* metadata. */
#include "mkmodel.h"
#include "fu_util.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOK_JSON_MAX (256u << 20)

/* ---- GGUF vocabulary --------------------------------------------------------------- */

/* GGUF token types (llama.cpp llama_token_type). */
enum { TT_NORMAL = 1, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5 };

void mm_vocab_free(mm_vocab_t *v)
{
    for (size_t i = 0; v->tokens && i < v->n_tokens; i++)
        free(v->tokens[i]);
    free(v->tokens);
    free(v->types);
    for (size_t i = 0; v->merges && i < v->n_merges; i++)
        free(v->merges[i]);
    free(v->merges);
    memset(v, 0, sizeof *v);
}

int mm_vocab_pad(mm_vocab_t *v, size_t n)
{
    if (n <= v->n_tokens)
        return 0;
    char **t = realloc(v->tokens, n * sizeof *t);
    if (!t)
        return -ENOMEM;
    v->tokens = t;
    int32_t *ty = realloc(v->types, n * sizeof *ty);
    if (!ty)
        return -ENOMEM;
    v->types = ty;
    for (size_t i = v->n_tokens; i < n; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "[PAD%zu]", i);
        t[i] = strdup(buf);
        ty[i] = TT_UNUSED;
        if (!t[i]) {
            v->n_tokens = i;
            return -ENOMEM;
        }
    }
    v->n_tokens = n;
    return 0;
}

/* Is there a ByteLevel pre-tokenizer (alone or in a Sequence)? */
static int has_bytelevel(const cJSON *pre)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(pre, "type");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "ByteLevel") == 0)
        return 1;
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(pre, "pretokenizers");
    const cJSON *it;
    cJSON_ArrayForEach(it, seq)
        if (has_bytelevel(it))
            return 1;
    return 0;
}

/* tokenizer.ggml.pre from the Split regex: Llama 3 groups digits by 1..3, Qwen2 splits
 * single digits; anything else is the GPT-2 default. */
static void pre_name(const cJSON *pre, char *out, size_t len)
{
    snprintf(out, len, "default");
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(pre, "pretokenizers");
    const cJSON *it;
    cJSON_ArrayForEach(it, seq) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(it, "pattern");
        const cJSON *re = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
        if (!cJSON_IsString(re))
            continue;
        if (strstr(re->valuestring, "\\p{N}{1,3}"))
            snprintf(out, len, "llama-bpe");
        else if (strstr(re->valuestring, "\\p{N}|"))
            snprintf(out, len, "qwen2");
    }
}

/* Id of a token string (vocab or added tokens), or -1. */
static int token_id(const mm_vocab_t *v, const char *s)
{
    for (size_t i = 0; i < v->n_tokens; i++)
        if (v->tokens[i] && strcmp(v->tokens[i], s) == 0)
            return (int)i;
    return -1;
}

/* bos_token / eos_token of tokenizer_config.json: a string or {"content": ...}. */
static int special_id(const mm_vocab_t *v, const cJSON *cfg, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsObject(it))
        it = cJSON_GetObjectItemCaseSensitive(it, "content");
    return cJSON_IsString(it) ? token_id(v, it->valuestring) : -1;
}

static int set_token(mm_vocab_t *v, long id, const char *s, int type)
{
    if (id < 0 || (size_t)id >= v->n_tokens)
        return -EINVAL;
    char *d = strdup(s);
    if (!d)
        return -ENOMEM;
    free(v->tokens[id]);
    v->tokens[id] = d;
    v->types[id] = type;
    return 0;
}

static int load_merges(mm_vocab_t *v, const cJSON *merges)
{
    size_t n = (size_t)cJSON_GetArraySize(merges);
    v->merges = calloc(n ? n : 1, sizeof *v->merges);
    if (!v->merges)
        return -ENOMEM;
    const cJSON *m;
    cJSON_ArrayForEach(m, merges) {
        char *s = NULL;
        if (cJSON_IsString(m)) {            /* old form: "a b" */
            s = strdup(m->valuestring);
        } else if (cJSON_GetArraySize(m) == 2) { /* new form: ["a", "b"] */
            const cJSON *a = cJSON_GetArrayItem(m, 0), *b = cJSON_GetArrayItem(m, 1);
            if (!cJSON_IsString(a) || !cJSON_IsString(b))
                return -EINVAL;
            size_t la = strlen(a->valuestring), lb = strlen(b->valuestring);
            s = malloc(la + lb + 2);
            if (s) {
                memcpy(s, a->valuestring, la);
                s[la] = ' ';
                memcpy(s + la + 1, b->valuestring, lb + 1);
            }
        } else {
            return -EINVAL;
        }
        if (!s)
            return -ENOMEM;
        v->merges[v->n_merges++] = s;
    }
    return 0;
}

static int vocab_from_json(mm_vocab_t *v, const cJSON *root, char *err, size_t errlen)
{
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "BPE") != 0)
        return fu_err(err, errlen, -ENOTSUP, "tokenizer.json: only BPE tokenizers are supported");
    v->byte_level = has_bytelevel(pre);
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges))
        return fu_err(err, errlen, -EINVAL, "tokenizer.json: model.vocab or model.merges missing");
    /* size: highest id + 1 over the vocabulary and the added tokens */
    double maxid = -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble >= (1 << 22))
            return fu_err(err, errlen, -EINVAL, "tokenizer.json: bad id of '%s'", it->string);
        if (it->valuedouble > maxid)
            maxid = it->valuedouble;
    }
    cJSON_ArrayForEach(it, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble >= (1 << 22))
            return fu_err(err, errlen, -EINVAL, "tokenizer.json: bad added token id");
        if (id->valuedouble > maxid)
            maxid = id->valuedouble;
    }
    if (maxid < 0)
        return fu_err(err, errlen, -EINVAL, "tokenizer.json: empty vocabulary");
    if (mm_vocab_pad(v, (size_t)maxid + 1) != 0)   /* every id starts as "[PADi]" */
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    int rc = 0;
    cJSON_ArrayForEach(it, vocab)
        if (rc == 0)
            rc = set_token(v, (long)it->valuedouble, it->string, TT_NORMAL);
    cJSON_ArrayForEach(it, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(it, "content");
        const cJSON *special = cJSON_GetObjectItemCaseSensitive(it, "special");
        if (rc == 0 && cJSON_IsString(content))
            rc = set_token(v, (long)id->valuedouble, content->valuestring,
                           cJSON_IsTrue(special) ? TT_CONTROL : TT_USER);
    }
    if (rc == 0)
        rc = load_merges(v, merges);
    if (rc != 0)
        return fu_err(err, errlen, rc, "tokenizer.json: %s", rc == -ENOMEM ? "out of memory" : "bad entry");
    pre_name(pre, v->pre, sizeof v->pre);
    return 0;
}

int mm_vocab_load(const char *dir, mm_vocab_t *v, char *err, size_t errlen)
{
    memset(v, 0, sizeof *v);
    v->bos = v->eos = -1;
    char path[4096];
    char *text = NULL;
    size_t len;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    int rc = fu_read_file(path, TOK_JSON_MAX, &text, &len);
    if (rc != 0)
        return fu_err(err, errlen, rc, "%s: %s", path, strerror(-rc));
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root)
        return fu_err(err, errlen, -EINVAL, "%s: not valid JSON", path);
    rc = vocab_from_json(v, root, err, errlen);
    cJSON_Delete(root);
    if (rc != 0) {
        mm_vocab_free(v);
        return rc;
    }
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    if (fu_read_file(path, TOK_JSON_MAX, &text, &len) == 0) {
        cJSON *cfg = cJSON_ParseWithLength(text, len);
        free(text);
        if (cfg) {
            v->bos = special_id(v, cfg, "bos_token");
            v->eos = special_id(v, cfg, "eos_token");
            cJSON_Delete(cfg);
        }
    }
    return 0;
}

/* ---- copying the tokenizer files ------------------------------------------------------ */

static int is_tokenizer_file(const char *n)
{
    static const char *const names[] = {
        "special_tokens_map.json", "vocab.json", "merges.txt", "added_tokens.json",
        "generation_config.json", "chat_template.jinja", "chat_template.json", NULL
    };
    if (strncmp(n, "tokenizer", 9) == 0)
        return 1;
    for (int i = 0; names[i]; i++)
        if (strcmp(n, names[i]) == 0)
            return 1;
    return 0;
}

int mm_copy_tokenizer(const char *src, const char *dst, int *copied, char *err, size_t errlen)
{
    *copied = 0;
    DIR *d = opendir(src);
    if (!d)
        return fu_err(err, errlen, -errno, "tokenizer directory %s: %s", src, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (!is_tokenizer_file(e->d_name))
            continue;
        char a[4096], b[4096];
        struct stat sb;
        snprintf(a, sizeof a, "%s/%s", src, e->d_name);
        snprintf(b, sizeof b, "%s/%s", dst, e->d_name);
        if (stat(a, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        rc = fu_copy_file(a, b);
        if (rc != 0)
            fu_err(err, errlen, rc, "copying %s: %s", a, strerror(-rc));
        else
            (*copied)++;
    }
    closedir(d);
    return rc;
}
