/* srv_api.c — OpenAI request bodies to jobs: /v1/chat/completions (messages through the chat
 * template) and /v1/completions (prompt), with model, max_tokens/max_completion_tokens,
 * temperature, top_p, seed, stop, n, stream, stream_options.include_usage; every wrong type
 * or value is a 400 naming the parameter, an unknown model a 404. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fu_util.h"
#include "json_util.h"
#include "srv_internal.h"

char *srv_error_json(const char *message, const char *type, const char *param, const char *code)
{
    cJSON *o = cJSON_CreateObject(), *e = cJSON_CreateObject();
    char *s = NULL;
    if (o && e && cJSON_AddItemToObject(o, "error", e)) {
        e = cJSON_GetObjectItemCaseSensitive(o, "error");
        cJSON_AddStringToObject(e, "message", message);
        cJSON_AddStringToObject(e, "type", type);
        if (param)
            cJSON_AddStringToObject(e, "param", param);
        else
            cJSON_AddNullToObject(e, "param");
        if (code)
            cJSON_AddStringToObject(e, "code", code);
        else
            cJSON_AddNullToObject(e, "code");
        s = cJSON_PrintUnformatted(o);
    } else {
        cJSON_Delete(e);
    }
    cJSON_Delete(o);
    return s;
}

static void job_free(srv_job_t *j)
{
    if (!j)
        return;
    free(j->ids);
    for (int i = 0; i < j->n_stop; i++)
        free(j->stop[i]);
    tk_buf_free(&j->out);
    free(j);
}

void srv_job_unref(srv_t *s, srv_job_t *j)
{
    pthread_mutex_lock(&s->mu);
    int last = --j->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (last)
        job_free(j);
}

typedef struct {
    int status;
    char msg[512];
    const char *param, *code;
} bad_t;

static int bad(bad_t *b, int status, const char *param, const char *code, const char *fmt, const char *arg)
{
    b->status = status;
    b->param = param;
    b->code = code;
    snprintf(b->msg, sizeof b->msg, fmt, arg);
    return -EINVAL;
}

/* A number member in [lo, hi] (absent or null: unchanged). */
static int get_num(const cJSON *o, const char *k, double lo, double hi, int integer, double *v, bad_t *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!x || cJSON_IsNull(x))
        return 0;
    if (!cJSON_IsNumber(x))
        return bad(b, 400, k, "invalid_type", "'%s' must be a number", k);
    double d = x->valuedouble;
    if (!(d >= lo && d <= hi) || (integer && d != (double)(long long)d))
        return bad(b, 400, k, "invalid_value", "'%s' is out of range", k);
    *v = d;
    return 0;
}

/* Message content: a string, or an array of {type: "text", text} parts joined. */
static int content_text(cJSON *msg, bad_t *b)
{
    cJSON *c = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (!c || cJSON_IsString(c) || cJSON_IsNull(c))
        return 0;
    if (!cJSON_IsArray(c))
        return bad(b, 400, "messages", "invalid_type", "%s", "message content must be a string or an array of text parts");
    tk_buf_t t = { 0 };
    const cJSON *p;
    cJSON_ArrayForEach(p, c) {
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(p, "type"), *tx = cJSON_GetObjectItemCaseSensitive(p, "text");
        if (!cJSON_IsString(ty) || strcmp(ty->valuestring, "text") || !cJSON_IsString(tx)) {
            tk_buf_free(&t);
            return bad(b, 400, "messages", "invalid_value", "%s", "only text content parts are supported");
        }
        if (tk_buf_add(&t, tx->valuestring, strlen(tx->valuestring))) {
            tk_buf_free(&t);
            return -ENOMEM;
        }
    }
    cJSON *s = cJSON_CreateString(t.p ? t.p : "");
    tk_buf_free(&t);
    if (!s || !cJSON_ReplaceItemInObjectCaseSensitive(msg, "content", s))
        return -ENOMEM;
    return 0;
}

static int check_messages(cJSON *msgs, bad_t *b)
{
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0)
        return bad(b, 400, "messages", "invalid_type", "%s", "'messages' must be a non-empty array");
    cJSON *m;
    cJSON_ArrayForEach(m, msgs) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsObject(m) || !cJSON_IsString(r))
            return bad(b, 400, "messages", "invalid_type", "%s", "every message needs a string 'role'");
        int rc = content_text(m, b);
        if (rc)
            return rc;
    }
    return 0;
}

static int parse_stop(const cJSON *o, srv_job_t *j, bad_t *b)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "stop"), *e;
    if (!st || cJSON_IsNull(st))
        return 0;
    if (cJSON_IsString(st)) {
        if (!st->valuestring[0])
            return 0;
        return (j->stop[j->n_stop++] = strdup(st->valuestring)) ? 0 : -ENOMEM;
    }
    if (!cJSON_IsArray(st) || cJSON_GetArraySize(st) > SRV_MAX_STOP)
        return bad(b, 400, "stop", "invalid_type", "%s", "'stop' must be a string or an array of at most 4 strings");
    cJSON_ArrayForEach(e, st) {
        if (!cJSON_IsString(e))
            return bad(b, 400, "stop", "invalid_type", "%s", "'stop' must be a string or an array of at most 4 strings");
        if (e->valuestring[0] && !(j->stop[j->n_stop++] = strdup(e->valuestring)))
            return -ENOMEM;
    }
    return 0;
}

/* The prompt tokens of a chat request (template, no added specials) or a completion (BOS). */
static int prompt_ids(srv_t *s, int chat, cJSON *req, srv_job_t *j, bad_t *b)
{
    char *text = NULL, err[400] = "";
    size_t len;
    int rc;
    if (chat) {
        cJSON *msgs = cJSON_GetObjectItemCaseSensitive(req, "messages");
        const cJSON *tools = cJSON_GetObjectItemCaseSensitive(req, "tools");
        if ((rc = check_messages(msgs, b)))
            return rc;
        if (tools && !cJSON_IsNull(tools) && !cJSON_IsArray(tools))
            return bad(b, 400, "tools", "invalid_type", "%s", "'tools' must be an array");
        if (!s->tpl)
            return bad(b, 400, "messages", "unsupported", "%s", "this model has no chat template: use /v1/completions");
        if ((rc = tpl_chat_render(s->tpl, msgs, cJSON_IsArray(tools) ? tools : NULL, 1, NULL, &text, &len, err,
                                  sizeof err)))
            return rc == -ENOMEM ? rc : bad(b, 400, "messages", "invalid_value", "chat template: %s", err);
        rc = tk_encode(s->tk, text, len, 0, &j->ids, &j->n_ids);
        free(text);
        return rc;
    }
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(req, "prompt");
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && cJSON_IsString(cJSON_GetArrayItem(p, 0)))
        p = cJSON_GetArrayItem(p, 0);
    if (!cJSON_IsString(p))
        return bad(b, 400, "prompt", "invalid_type", "%s", "'prompt' must be a string");
    return tk_encode(s->tk, p->valuestring, strlen(p->valuestring), 1, &j->ids, &j->n_ids);
}

srv_job_t *srv_parse_request(srv_t *s, int chat, const char *body, size_t len, int *status, char **err_json)
{
    bad_t b = { .status = 400 };
    char perr[256] = "";
    cJSON *req = NULL;
    srv_job_t *j = calloc(1, sizeof *j);
    int rc = j ? 0 : -ENOMEM;
    double v;
    if (!rc && js_parse(body, len, 0, "request body", &req, perr, sizeof perr))
        rc = bad(&b, 400, NULL, "invalid_json", "invalid JSON: %s", perr);
    if (!rc && !cJSON_IsObject(req))
        rc = bad(&b, 400, NULL, "invalid_type", "%s", "the request body must be a JSON object");
    if (!rc) {
        tpl_json_mark_floats(req, body, len);
        j->refs = 1;
        j->fd = -1;
        j->chat = chat;
        j->status = 200;
        j->created = (long)time(NULL);
        j->max_tokens = s->default_max_tokens;
        j->sp = (smp_params_t){ .temp = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0, .repeat_penalty = 1.0f,
                                .seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)j };
        const cJSON *model = cJSON_GetObjectItemCaseSensitive(req, "model");
        const cJSON *stream = cJSON_GetObjectItemCaseSensitive(req, "stream");
        const cJSON *so = cJSON_GetObjectItemCaseSensitive(req, "stream_options");
        if (model && !cJSON_IsString(model))
            rc = bad(&b, 400, "model", "invalid_type", "%s", "'model' must be a string");
        else if (cJSON_IsString(model) && strcmp(model->valuestring, s->model_id))
            rc = bad(&b, 404, "model", "model_not_found", "The model '%s' does not exist", model->valuestring);
        else if (stream && !cJSON_IsNull(stream) && !cJSON_IsBool(stream))
            rc = bad(&b, 400, "stream", "invalid_type", "%s", "'stream' must be a boolean");
        if (!rc) {
            j->stream = cJSON_IsTrue(stream);
            const cJSON *iu = cJSON_IsObject(so) ? cJSON_GetObjectItemCaseSensitive(so, "include_usage") : NULL;
            j->include_usage = cJSON_IsTrue(iu);
        }
        v = j->max_tokens;
        if (!rc && !(rc = get_num(req, "max_tokens", 1, 1 << 24, 1, &v, &b)) &&
            !(rc = get_num(req, "max_completion_tokens", 1, 1 << 24, 1, &v, &b)))
            j->max_tokens = (int)v;
        v = 1;
        if (!rc && !(rc = get_num(req, "n", 1, 1e9, 1, &v, &b)) && v != 1)
            rc = bad(&b, 400, "n", "invalid_value", "%s", "only n = 1 is supported");
        v = j->sp.temp;
        if (!rc && !(rc = get_num(req, "temperature", 0, 2, 0, &v, &b)))
            j->sp.temp = (float)v;
        v = j->sp.top_p;
        if (!rc && !(rc = get_num(req, "top_p", 0, 1, 0, &v, &b)))
            j->sp.top_p = v > 0 ? (float)v : 1e-6f;
        v = -1;
        if (!rc && !(rc = get_num(req, "seed", -9.2e18, 9.2e18, 1, &v, &b)) && v >= 0)
            j->sp.seed = (uint64_t)v + 1;
        if (!rc)
            rc = parse_stop(req, j, &b);
        if (!rc)
            rc = prompt_ids(s, chat, req, j, &b);
        if (!rc && (j->n_ids == 0 || j->n_ids >= (size_t)s->capacity)) {
            char m[64];
            snprintf(m, sizeof m, "%zu tokens", j->n_ids);
            rc = bad(&b, 400, chat ? "messages" : "prompt", "context_length_exceeded",
                     j->n_ids ? "the prompt has %s, more than the context allows" : "the prompt is empty%s", j->n_ids ? m : "");
        }
        if (!rc && j->n_ids + (size_t)j->max_tokens > (size_t)s->capacity)
            j->max_tokens = s->capacity - (int)j->n_ids;
        snprintf(j->id, sizeof j->id, "%s-%llu", chat ? "chatcmpl" : "cmpl", (unsigned long long)__atomic_add_fetch(&s->n_requests, 1, __ATOMIC_RELAXED));
    }
    cJSON_Delete(req);
    if (rc) {
        job_free(j);
        if (rc == -ENOMEM) {
            *status = 500;
            *err_json = srv_error_json("out of memory", "server_error", NULL, NULL);
        } else {
            *status = b.status;
            *err_json = srv_error_json(b.msg, b.status == 404 ? "invalid_request_error" : "invalid_request_error",
                                       b.param, b.code);
        }
        return NULL;
    }
    return j;
}
