/* srv_internal.h — `flashgen serve`, the OpenAI-compatible HTTP server (prefix srv_):
 * requests (srv_api.c), the generation worker and its queue (srv_worker.c), the HTTP glue on
 * libmicrohttpd (srv_http.c), the command line (srv_cli.c). See docs/serve.md. */
#ifndef SRV_INTERNAL_H
#define SRV_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "eng_model.h"
#include "srv_cli.h"
#include "eng_sampler.h"
#include "template.h"
#include "tok_util.h"
#include "tokenizer.h"

#define SRV_MAX_STOP 4

/* One completion request, shared by its connection and the worker (refcounted). */
typedef struct srv_job {
    struct srv_job *next;            /* queue link */
    int refs;                        /* under srv_t.mu */
    /* request */
    int chat, stream, include_usage;
    int32_t *ids;                    /* prompt tokens (malloc'd) */
    size_t n_ids;
    int max_tokens;
    smp_params_t sp;
    char *stop[SRV_MAX_STOP];
    int n_stop;
    int fd;                          /* the client's socket (disconnect checks), -1 unknown */
    char id[48];
    long created;
    /* result, under srv_t.mu */
    tk_buf_t out;                    /* bytes for the client: SSE events, or the final JSON */
    int status;                      /* HTTP status of a non-streamed answer */
    size_t cached;                   /* prompt tokens found in the KV cache (not prefilled) */
    int done, cancelled, started;
} srv_job_t;

typedef struct srv {
    em_model_t *m;
    tk_tokenizer_t *tk;
    tpl_chat_t *tpl;                 /* NULL: /v1/chat/completions answers 400 */
    char model_id[256];
    int capacity, vocab, default_max_tokens;
    int32_t eos[64];
    size_t n_eos;
    size_t max_body;
    /* queue and worker */
    pthread_mutex_t mu;
    pthread_cond_t cv;               /* queue changed / job output changed */
    srv_job_t *head, *tail;
    int quit;
    pthread_t worker;
    tk_ids_t kv;                     /* what the KV cache holds (worker only) */
    uint64_t n_requests;
} srv_t;

/* Parse a /v1/chat/completions (chat=1) or /v1/completions body into a new job (refs 1).
 * On a bad request: NULL, *status 400/404 and the OpenAI error JSON in *err_json (malloc'd). */
srv_job_t *srv_parse_request(srv_t *s, int chat, const char *body, size_t len, int *status, char **err_json);

/* OpenAI-style error body {"error": {"message", "type", "param", "code"}} (malloc'd). */
char *srv_error_json(const char *message, const char *type, const char *param, const char *code);

/* Drop a reference (frees at 0). Takes s->mu. */
void srv_job_unref(srv_t *s, srv_job_t *j);

/* Start / stop the generation worker thread. */
int srv_worker_start(srv_t *s);
void srv_worker_stop(srv_t *s);

/* Queue a job (takes a reference for the worker). */
void srv_enqueue(srv_t *s, srv_job_t *j);

/* Start the HTTP server on host:port; blocks until SIGINT/SIGTERM, then stops. 0 or -errno. */
int srv_http_run(srv_t *s, const char *host, int port, char *err, size_t errlen);

#endif
