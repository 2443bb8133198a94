/* srv_worker.c — the one generation thread of `flashgen serve`: jobs run in arrival order on
 * the one model; a prompt sharing a prefix with what the KV cache holds prefills only the
 * rest; answers stop at EOS, max_tokens or a stop string (never emitted: streamed text is
 * held back while it could still become one); a client that went away cancels its job. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fu_util.h"
#include "srv_internal.h"

void srv_enqueue(srv_t *s, srv_job_t *j)
{
    pthread_mutex_lock(&s->mu);
    j->refs++;
    j->next = NULL;
    if (s->tail)
        s->tail->next = j;
    else
        s->head = j;
    s->tail = j;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* 1 when the client closed its connection, the job was cancelled or the server is stopping. */
static int gone(srv_t *s, srv_job_t *j)
{
    pthread_mutex_lock(&s->mu);
    int c = j->cancelled || s->quit;
    pthread_mutex_unlock(&s->mu);
    if (c)
        return 1;
    if (j->fd < 0)
        return 0;
    struct pollfd p = { .fd = j->fd, .events = POLLIN | POLLRDHUP };
    if (poll(&p, 1, 0) <= 0)
        return 0;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
        return 1;
    char ch;
    return recv(j->fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* Append bytes for the client and wake its connection. */
static int emit(srv_t *s, srv_job_t *j, const char *p, size_t n)
{
    pthread_mutex_lock(&s->mu);
    int rc = tk_buf_add(&j->out, p, n);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static cJSON *chunk_base(srv_t *s, srv_job_t *j)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "object", j->chat ? (j->stream ? "chat.completion.chunk" : "chat.completion")
                                                 : "text_completion");
    cJSON_AddNumberToObject(o, "created", (double)j->created);
    cJSON_AddStringToObject(o, "model", s->model_id);
    return o;
}

/* usage, with prompt_tokens_details.cached_tokens: the prompt tokens the KV cache already held. */
static void add_usage(cJSON *o, int prompt, int completion, size_t cached)
{
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    if (u) {
        cJSON_AddNumberToObject(u, "prompt_tokens", prompt);
        cJSON_AddNumberToObject(u, "completion_tokens", completion);
        cJSON_AddNumberToObject(u, "total_tokens", prompt + completion);
        cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
        if (d)
            cJSON_AddNumberToObject(d, "cached_tokens", (double)cached);
    }
}

/* One choice object: chat {index, message|delta, finish_reason} or completion {text, ...}. */
static cJSON *choice(srv_job_t *j, const char *text, size_t len, const char *finish, int first)
{
    cJSON *c = cJSON_CreateObject();
    if (!c)
        return NULL;
    cJSON_AddNumberToObject(c, "index", 0);
    char *t = strndup(text ? text : "", len);
    if (!t) {
        cJSON_Delete(c);
        return NULL;
    }
    if (j->chat) {
        cJSON *m = cJSON_AddObjectToObject(c, j->stream ? "delta" : "message");
        if (m && (!j->stream || first))
            cJSON_AddStringToObject(m, "role", "assistant");
        if (m && (!j->stream || text))
            cJSON_AddStringToObject(m, "content", t);
    } else {
        cJSON_AddStringToObject(c, "text", t);
    }
    free(t);
    cJSON_AddNullToObject(c, "logprobs");
    if (finish)
        cJSON_AddStringToObject(c, "finish_reason", finish);
    else
        cJSON_AddNullToObject(c, "finish_reason");
    return c;
}

/* A streamed event "data: {...}\n\n" with one choice (or none, for the usage chunk). */
static int sse(srv_t *s, srv_job_t *j, const char *text, size_t len, const char *finish, int first, int usage_p,
               int usage_c)
{
    cJSON *o = chunk_base(s, j), *arr = o ? cJSON_AddArrayToObject(o, "choices") : NULL;
    if (!arr) {
        cJSON_Delete(o);
        return -ENOMEM;
    }
    if (usage_p < 0) {
        cJSON *c = choice(j, text, len, finish, first);
        if (!c || !cJSON_AddItemToArray(arr, c)) {
            cJSON_Delete(c);
            cJSON_Delete(o);
            return -ENOMEM;
        }
    } else {
        add_usage(o, usage_p, usage_c, j->cached);
    }
    char *js = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!js)
        return -ENOMEM;
    int rc = emit(s, j, "data: ", 6) || emit(s, j, js, strlen(js)) || emit(s, j, "\n\n", 2) ? -ENOMEM : 0;
    free(js);
    return rc;
}

/* Length of the longest suffix of t[0..n) that is a proper prefix of a stop string. */
static size_t holdback(const srv_job_t *j, const char *t, size_t n)
{
    size_t best = 0;
    for (int k = 0; k < j->n_stop; k++) {
        size_t sl = strlen(j->stop[k]);
        for (size_t l = sl - 1; l > best; l--)
            if (l <= n && !memcmp(t + n - l, j->stop[k], l)) {
                best = l;
                break;
            }
    }
    return best;
}

/* Run one job to its end (or its client's disconnect). */
static void run_job(srv_t *s, srv_job_t *j)
{
    char err[256] = "";
    tk_buf_t text = { 0 };
    tk_stream_t *ts = tk_stream_new(s->tk);
    smp_t *smp = NULL;
    float *lg = malloc((size_t)s->vocab * sizeof *lg);
    const char *finish = "length";
    int gen = 0, rc = 0;
    size_t sent = 0;
    if (!ts || !lg || smp_create(&j->sp, s->vocab, &smp)) {
        rc = -ENOMEM;
        goto done;
    }
    /* KV reuse: keep the longest common prefix (the last prompt token is always fed) */
    size_t keep = 0;
    while (keep < s->kv.n && keep + 1 < j->n_ids && s->kv.v[keep] == j->ids[keep])
        keep++;
    em_truncate(s->m, (int)keep);
    s->kv.n = keep;
    j->cached = keep;
    const float *logits;
    if ((rc = em_forward(s->m, j->ids + keep, (int)(j->n_ids - keep), 0, &logits, err, sizeof err)) ||
        (rc = tk_ids_add(&s->kv, j->ids + keep, j->n_ids - keep) ? -ENOMEM : 0)) {
        em_reset(s->m);
        s->kv.n = 0;
        goto done;
    }
    if (j->stream && j->chat && (rc = sse(s, j, "", 0, NULL, 1, -1, 0)))
        goto done;
    for (int i = 0; i < j->max_tokens; i++) {
        if (gone(s, j)) {
            rc = -ECANCELED;
            break;
        }
        memcpy(lg, logits, (size_t)s->vocab * sizeof *lg);
        int32_t id = smp_sample(smp, lg, s->kv.v, s->kv.n);
        gen++;
        int eos = 0;
        for (size_t e = 0; e < s->n_eos; e++)
            eos |= s->eos[e] == id;
        if (eos) {
            finish = "stop";
            break;
        }
        const char *t;
        size_t l;
        if (tk_stream_push(ts, id, &t, &l) == 0 && l && tk_buf_add(&text, t, l)) {
            rc = -ENOMEM;
            break;
        }
        int stopped = 0;
        for (int k = 0; k < j->n_stop && !stopped; k++) {
            const char *f = memmem(text.p ? text.p : "", text.len, j->stop[k], strlen(j->stop[k]));
            if (f) {
                text.len = (size_t)(f - text.p);
                stopped = 1;
            }
        }
        if (stopped) {
            finish = "stop";
            break;
        }
        if (j->stream) {
            size_t ready = text.len - holdback(j, text.p, text.len);
            if (ready > sent && (rc = sse(s, j, text.p + sent, ready - sent, NULL, 0, -1, 0)))
                break;
            if (ready > sent)
                sent = ready;
        }
        if (i + 1 == j->max_tokens || s->kv.n >= (size_t)s->capacity)
            break;
        if ((rc = em_forward(s->m, &id, 1, 0, &logits, err, sizeof err)) ||
            (rc = tk_ids_push(&s->kv, id) ? -ENOMEM : 0)) {
            em_reset(s->m);
            s->kv.n = 0;
            break;
        }
    }
    if (!rc && strcmp(finish, "stop")) { /* flush a held-back partial character */
        const char *t;
        size_t l;
        if (tk_stream_flush(ts, &t, &l) == 0 && l && tk_buf_add(&text, t, l))
            rc = -ENOMEM;
    }
done:
    if (rc == -ECANCELED) {
        /* nothing more to say to a client that left */
    } else if (rc) {
        char *e = srv_error_json(err[0] ? err : strerror(-rc), "server_error", NULL, NULL);
        if (j->stream) {
            emit(s, j, "data: ", 6);
            if (e)
                emit(s, j, e, strlen(e));
            emit(s, j, "\n\n", 2);
        } else {
            pthread_mutex_lock(&s->mu);
            j->status = 500;
            j->out.len = 0;
            pthread_mutex_unlock(&s->mu);
            if (e)
                emit(s, j, e, strlen(e));
        }
        free(e);
    } else if (j->stream) {
        if (text.len > sent)
            sse(s, j, text.p + sent, text.len - sent, NULL, 0, -1, 0);
        sse(s, j, NULL, 0, finish, 0, -1, 0);
        if (j->include_usage)
            sse(s, j, NULL, 0, NULL, 0, (int)j->n_ids, gen);
        emit(s, j, "data: [DONE]\n\n", 14);
    } else {
        cJSON *o = chunk_base(s, j), *arr = o ? cJSON_AddArrayToObject(o, "choices") : NULL;
        cJSON *c = arr ? choice(j, text.p, text.len, finish, 1) : NULL;
        char *js = NULL;
        if (c && cJSON_AddItemToArray(arr, c)) {
            add_usage(o, (int)j->n_ids, gen, j->cached);
            js = cJSON_PrintUnformatted(o);
        } else {
            cJSON_Delete(c);
        }
        cJSON_Delete(o);
        if (js) {
            emit(s, j, js, strlen(js));
        } else {
            char *e = srv_error_json("out of memory", "server_error", NULL, NULL);
            pthread_mutex_lock(&s->mu);
            j->status = 500;
            pthread_mutex_unlock(&s->mu);
            if (e)
                emit(s, j, e, strlen(e));
            free(e);
        }
        free(js);
    }
    tk_buf_free(&text);
    tk_stream_free(ts);
    smp_free(smp);
    free(lg);
}

static void *worker(void *arg)
{
    srv_t *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->head && !s->quit)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->quit) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        srv_job_t *j = s->head;
        s->head = j->next;
        if (!s->head)
            s->tail = NULL;
        j->started = 1;
        pthread_mutex_unlock(&s->mu);
        if (!gone(s, j))
            run_job(s, j);
        pthread_mutex_lock(&s->mu);
        j->done = 1;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        srv_job_unref(s, j);
    }
    /* jobs still queued at shutdown end without an answer */
    pthread_mutex_lock(&s->mu);
    srv_job_t *rest = s->head;
    s->head = s->tail = NULL;
    for (srv_job_t *j = rest; j; j = j->next)
        j->done = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    while (rest) {
        srv_job_t *nx = rest->next;
        srv_job_unref(s, rest);
        rest = nx;
    }
    return NULL;
}

int srv_worker_start(srv_t *s)
{
    return -pthread_create(&s->worker, NULL, worker, s);
}

void srv_worker_stop(srv_t *s)
{
    pthread_mutex_lock(&s->mu);
    int joined = s->quit;
    s->quit = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (!joined)
        pthread_join(s->worker, NULL);
}
