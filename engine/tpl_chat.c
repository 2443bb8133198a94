/* tpl_chat.c — a model's chat template: found in chat_template.jinja, tokenizer_config.json's
 * chat_template (string, or list of {name, template} -> "default"), chat_template.json, or a
 * GGUF file's tokenizer.chat_template; rendered with the variables apply_chat_template passes
 * (messages, tools, documents, add_generation_prompt, the special tokens). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fu_util.h"
#include "gguf.h"
#include "json_util.h"
#include "template.h"

#define MAX_FILE (16u << 20)

struct tpl_chat {
    tpl_template_t *t;
    cJSON *tokens;   /* object: bos_token, eos_token, unk_token, pad_token (strings) */
};

void tpl_chat_free(tpl_chat_t *c)
{
    if (!c)
        return;
    tpl_template_free(c->t);
    cJSON_Delete(c->tokens);
    free(c);
}

static int add_token(cJSON *obj, const char *name, const cJSON *v)
{
    if (cJSON_IsObject(v))
        v = cJSON_GetObjectItemCaseSensitive(v, "content");
    if (!cJSON_IsString(v) || !v->valuestring)
        return 0;
    return cJSON_AddStringToObject(obj, name, v->valuestring) ? 0 : -ENOMEM;
}

static int make_chat(const char *src, size_t len, const char *what, tpl_chat_t **out, char *err, size_t errlen)
{
    tpl_chat_t *c = calloc(1, sizeof *c);
    if (!c || !(c->tokens = cJSON_CreateObject())) {
        free(c);
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    }
    char e[300] = "";
    int rc = tpl_compile(src, len, &c->t, e, sizeof e);
    if (rc) {
        tpl_chat_free(c);
        return fu_err(err, errlen, rc, "%s: %s", what, e);
    }
    *out = c;
    return 0;
}

int tpl_chat_from_string(const char *src, size_t len, const char *bos, const char *eos, tpl_chat_t **out,
                         char *err, size_t errlen)
{
    int rc = make_chat(src, len, "chat template", out, err, errlen);
    if (rc)
        return rc;
    if ((bos && !cJSON_AddStringToObject((*out)->tokens, "bos_token", bos)) ||
        (eos && !cJSON_AddStringToObject((*out)->tokens, "eos_token", eos))) {
        tpl_chat_free(*out);
        *out = NULL;
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    }
    return 0;
}

static int read_json(const char *path, cJSON **out, char *err, size_t errlen)
{
    char *txt;
    size_t len;
    int rc = fu_read_file(path, MAX_FILE, &txt, &len);
    if (rc)
        return rc;
    rc = js_parse(txt, len, 0, path, out, err, errlen);
    free(txt);
    return rc;
}

/* The template text of a chat_template value: a string, or the "default" of a named list. */
static int pick_template(const cJSON *ct, const char *path, const char **src, char *err, size_t errlen)
{
    if (cJSON_IsString(ct)) {
        *src = ct->valuestring;
        return 0;
    }
    if (cJSON_IsArray(ct)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, ct) {
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "template");
            if (cJSON_IsString(nm) && !strcmp(nm->valuestring, "default") && cJSON_IsString(t)) {
                *src = t->valuestring;
                return 0;
            }
        }
        return fu_err(err, errlen, -ENOKEY, "%s: chat_template lists no template named \"default\"", path);
    }
    return -ENOENT;
}

/* Text of token id in the GGUF string array tokenizer.ggml.tokens (read from the file, since
 * the parser keeps only the array's offset). Malloc'd, or NULL. */
static char *gguf_token(const char *path, const gg_file_t *f, const char *id_key)
{
    const gg_kv_t *toks = gg_find_kv(f, "tokenizer.ggml.tokens"), *id = gg_find_kv(f, id_key);
    if (!toks || !id || toks->type != GG_T_ARRAY || toks->arr_type != GG_T_STRING ||
        (id->type != GG_T_UINT32 && id->type != GG_T_INT32) || id->num.u >= toks->arr_len)
        return NULL;
    FILE *fp = fopen(path, "rb");
    char *s = NULL;
    if (!fp)
        return NULL;
    if (fseeko(fp, (off_t)toks->value_offset, SEEK_SET) == 0) {
        for (uint64_t i = 0; i <= id->num.u; i++) {
            uint8_t lb[8];
            uint64_t n = 0;
            if (fread(lb, 1, 8, fp) != 8)
                break;
            for (int k = 7; k >= 0; k--)
                n = n << 8 | lb[k];
            if (n > (1u << 20))
                break;
            if (i < id->num.u) {
                if (fseeko(fp, (off_t)n, SEEK_CUR))
                    break;
                continue;
            }
            s = malloc(n + 1);
            if (s && fread(s, 1, n, fp) == n) {
                s[n] = 0;
            } else {
                free(s);
                s = NULL;
            }
        }
    }
    fclose(fp);
    return s;
}

static int load_gguf(const char *path, tpl_chat_t **out, char *err, size_t errlen)
{
    gg_file_t f;
    char e[256] = "";
    int rc = gg_parse_path(path, &f, e, sizeof e);
    if (rc)
        return fu_err(err, errlen, rc, "%s: %s", path, e);
    const gg_kv_t *kv = gg_find_kv(&f, "tokenizer.chat_template");
    if (!kv || !kv->str) {
        rc = fu_err(err, errlen, -ENOENT, "%s has no tokenizer.chat_template", path);
    } else {
        char *bos = gguf_token(path, &f, "tokenizer.ggml.bos_token_id");
        char *eos = gguf_token(path, &f, "tokenizer.ggml.eos_token_id");
        rc = tpl_chat_from_string(kv->str, strlen(kv->str), bos, eos, out, err, errlen);
        free(bos);
        free(eos);
    }
    gg_free(&f);
    return rc;
}

int tpl_chat_load(const char *model, tpl_chat_t **out, char *err, size_t errlen)
{
    char path[4096];
    struct stat st;
    cJSON *tc = NULL;
    char *txt = NULL;
    size_t len = 0;
    const char *src = NULL, *what = NULL;
    int rc;
    *out = NULL;
    if (stat(model, &st) == 0 && S_ISREG(st.st_mode))
        return load_gguf(model, out, err, errlen);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", model);
    if ((rc = read_json(path, &tc, err, errlen)) && rc != -ENOENT)
        return rc == -EINVAL ? rc : fu_err(err, errlen, rc, "%s: %s", path, strerror(-rc));
    /* chat_template.jinja beside it wins, as transformers loads it over the config's value */
    snprintf(path, sizeof path, "%s/chat_template.jinja", model);
    rc = fu_read_file(path, MAX_FILE, &txt, &len);
    if (rc == 0) {
        src = txt;
        what = "chat_template.jinja";
    } else if (rc != -ENOENT) {
        cJSON_Delete(tc);
        return fu_err(err, errlen, rc, "%s: %s", path, strerror(-rc));
    } else if (tc && (rc = pick_template(cJSON_GetObjectItemCaseSensitive(tc, "chat_template"), "tokenizer_config.json",
                                         &src, err, errlen)) != -ENOENT) {
        if (rc) {
            cJSON_Delete(tc);
            return rc == -ENOKEY ? -ENOENT : rc;
        }
        len = strlen(src);
        what = "tokenizer_config.json chat_template";
    } else {
        err[0] = 0;
        cJSON *cj = NULL;
        snprintf(path, sizeof path, "%s/chat_template.json", model);
        if (read_json(path, &cj, err, errlen) == 0) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(cj, "chat_template");
            if (cJSON_IsString(t) && (txt = strdup(t->valuestring))) {
                src = txt;
                len = strlen(txt);
                what = "chat_template.json";
            }
            cJSON_Delete(cj);
        }
    }
    if (!src) {
        cJSON_Delete(tc);
        return fu_err(err, errlen, -ENOENT,
                      "%s has no chat template (no chat_template in tokenizer_config.json, no chat_template.jinja)",
                      model);
    }
    rc = make_chat(src, len, what, out, err, errlen);
    free(txt);
    static const char *const toks[] = { "bos_token", "eos_token", "unk_token", "pad_token" };
    for (size_t i = 0; !rc && tc && i < sizeof toks / sizeof toks[0]; i++)
        if (add_token((*out)->tokens, toks[i], cJSON_GetObjectItemCaseSensitive(tc, toks[i]))) {
            tpl_chat_free(*out);
            *out = NULL;
            rc = fu_err(err, errlen, -ENOMEM, "out of memory");
        }
    cJSON_Delete(tc);
    return rc;
}

int tpl_chat_render(const tpl_chat_t *c, const cJSON *messages, const cJSON *tools, int add_gen,
                    const cJSON *extra, char **out, size_t *len, char *err, size_t errlen)
{
    cJSON *vars = cJSON_CreateObject();
    int rc = 0;
    const cJSON *e;
    if (!vars)
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    /* later items win: tokens, then the call's variables (as template_kwargs in transformers) */
    cJSON_ArrayForEach(e, c->tokens) {
        cJSON *d = cJSON_Duplicate(e, 1);
        if (!d || !cJSON_AddItemToObject(vars, e->string, d))
            rc = -ENOMEM;
    }
    cJSON *m = messages ? cJSON_Duplicate(messages, 1) : cJSON_CreateArray();
    cJSON *t = tools ? cJSON_Duplicate(tools, 1) : cJSON_CreateNull();
    if (!m || !cJSON_AddItemToObject(vars, "messages", m) || !t || !cJSON_AddItemToObject(vars, "tools", t) ||
        !cJSON_AddNullToObject(vars, "documents") || !cJSON_AddBoolToObject(vars, "add_generation_prompt", add_gen))
        rc = -ENOMEM;
    if (extra)
        cJSON_ArrayForEach(e, extra) {
            cJSON *d = cJSON_Duplicate(e, 1);
            if (!d)
                rc = -ENOMEM;
            else if (cJSON_GetObjectItemCaseSensitive(vars, e->string))
                cJSON_ReplaceItemInObjectCaseSensitive(vars, e->string, d);
            else if (!cJSON_AddItemToObject(vars, e->string, d))
                rc = -ENOMEM;
        }
    if (rc)
        rc = fu_err(err, errlen, -ENOMEM, "out of memory");
    else
        rc = tpl_render(c->t, vars, out, len, err, errlen);
    cJSON_Delete(vars);
    return rc;
}
