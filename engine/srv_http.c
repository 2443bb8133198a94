/* srv_http.c — the HTTP side of `flashgen serve` on libmicrohttpd (a thread per connection):
 * routes (POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health), body
 * size limit (413), OpenAI-style error bodies, streamed answers as server-sent events read
 * from the job while the worker writes them, and client disconnects cancelling the job. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fu_util.h"
#include "srv_internal.h"

typedef struct {
    tk_buf_t body;
    int too_large;
} conn_t;

typedef struct {
    srv_t *s;
    srv_job_t *j;
} stream_t;

static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *json)
{
    const char *body = json ? json : "{}";
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_error(struct MHD_Connection *c, int status, const char *msg, const char *type,
                                   const char *param, const char *code)
{
    char *e = srv_error_json(msg, type, param, code);
    enum MHD_Result r = reply(c, status, e);
    free(e);
    return r;
}

/* Streamed body: the job's bytes as the worker appends them. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    stream_t *st = cls;
    srv_t *s = st->s;
    srv_job_t *j = st->j;
    pthread_mutex_lock(&s->mu);
    while (j->out.len <= pos && !j->done)
        pthread_cond_wait(&s->cv, &s->mu);
    ssize_t n;
    if (j->out.len > pos) {
        size_t k = j->out.len - (size_t)pos;
        if (k > max)
            k = max;
        memcpy(buf, j->out.p + pos, k);
        n = (ssize_t)k;
    } else {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void stream_free(void *cls)
{
    stream_t *st = cls;
    pthread_mutex_lock(&st->s->mu);
    st->j->cancelled = 1; /* the client is done (or gone): stop generating for it */
    pthread_mutex_unlock(&st->s->mu);
    srv_job_unref(st->s, st->j);
    free(st);
}

static int conn_fd(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

static enum MHD_Result completion(srv_t *s, struct MHD_Connection *c, int chat, conn_t *cc)
{
    int status;
    char *err = NULL;
    srv_job_t *j = srv_parse_request(s, chat, cc->body.p ? cc->body.p : "", cc->body.len, &status, &err);
    if (!j) {
        enum MHD_Result r = reply(c, status, err);
        free(err);
        return r;
    }
    j->fd = conn_fd(c);
    srv_enqueue(s, j);
    if (j->stream) {
        stream_t *st = malloc(sizeof *st);
        struct MHD_Response *r = st ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st,
                                                                         stream_free) : NULL;
        if (!r) {
            free(st);
            pthread_mutex_lock(&s->mu);
            j->cancelled = 1;
            pthread_mutex_unlock(&s->mu);
            srv_job_unref(s, j);
            return reply_error(c, 500, "out of memory", "server_error", NULL, NULL);
        }
        st->s = s;
        st->j = j;
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
        MHD_destroy_response(r);
        return ret;
    }
    /* not streamed: this connection's thread waits for the whole answer */
    pthread_mutex_lock(&s->mu);
    while (!j->done)
        pthread_cond_wait(&s->cv, &s->mu);
    char *body = j->out.len ? strndup(j->out.p, j->out.len) : NULL;
    status = j->out.len ? j->status : 500;
    pthread_mutex_unlock(&s->mu);
    srv_job_unref(s, j);
    enum MHD_Result r = body ? reply(c, status, body)
                             : reply_error(c, 500, "the request was not answered", "server_error", NULL, NULL);
    free(body);
    return r;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    srv_t *s = cls;
    conn_t *cc = *con_cls;
    (void)version;
    if (!cc) {
        if (!(cc = calloc(1, sizeof *cc)))
            return MHD_NO;
        *con_cls = cc;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!cc->too_large && cc->body.len + *upload_size > s->max_body)
            cc->too_large = 1;
        if (!cc->too_large && tk_buf_add(&cc->body, upload, *upload_size))
            cc->too_large = 1;
        *upload_size = 0;
        return MHD_YES;
    }
    int post = !strcmp(method, "POST"), get = !strcmp(method, "GET");
    if (cc->too_large)
        return reply_error(c, 413, "request body too large", "invalid_request_error", NULL, "request_too_large");
    if (get && !strcmp(url, "/health"))
        return reply(c, 200, "{\"status\":\"ok\"}");
    if (get && !strcmp(url, "/v1/models")) {
        char buf[600];
        snprintf(buf, sizeof buf,
                 "{\"object\":\"list\",\"data\":[{\"id\":\"%s\",\"object\":\"model\",\"created\":0,\"owned_by\":\"flashgen\"}]}",
                 s->model_id);
        return reply(c, 200, buf);
    }
    if (post && !strcmp(url, "/v1/chat/completions"))
        return completion(s, c, 1, cc);
    if (post && !strcmp(url, "/v1/completions"))
        return completion(s, c, 0, cc);
    char m[300];
    snprintf(m, sizeof m, "no route %s %.200s", method, url);
    return reply_error(c, 404, m, "invalid_request_error", NULL, "not_found");
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    conn_t *cc = *con_cls;
    (void)cls;
    (void)c;
    (void)toe;
    if (cc) {
        tk_buf_free(&cc->body);
        free(cc);
        *con_cls = NULL;
    }
}

int srv_http_run(srv_t *s, const char *host, int port, char *err, size_t errlen)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
        return fu_err(err, errlen, -EINVAL, "--host %s is not an IPv4 address", host);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* every thread started from here on too */
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                                            (uint16_t)port, NULL, NULL, handler, s,
                                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a,
                                            MHD_OPTION_NOTIFY_COMPLETED, completed, s,
                                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)3600,
                                            MHD_OPTION_END);
    if (!d)
        return fu_err(err, errlen, -EADDRINUSE, "cannot listen on %s:%d (in use, or no permission)", host, port);
    fprintf(stderr, "flashgen serve: %s on http://%s:%d/v1\n", s->model_id, host, port);
    int sig;
    sigdelset(&set, SIGPIPE);
    sigwait(&set, &sig);
    fprintf(stderr, "flashgen serve: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    /* wake connections waiting for answers, then stop */
    srv_worker_stop(s);
    MHD_stop_daemon(d);
    return 0;
}
