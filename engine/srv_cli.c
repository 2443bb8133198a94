/* srv_cli.c — `flashgen serve`: load the model, tokenizer and chat template, start the worker
 * and the HTTP server (see docs/serve.md).
 *
 *   flashgen serve -m MODEL_DIR [--host 127.0.0.1] [--port 8080] [--ram SIZE] [-c CTX]
 *                  [-t N] [--kv f32|f16|q8] [--alias NAME] [--max-body SIZE] [-n N]
 * Exit status: 0 stopped by SIGINT/SIGTERM, 1 usage, 2 the model or tokenizer could not be
 * loaded, 3 the address could not be bound. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eng_gguf.h"
#include "fu_util.h"
#include "hf_config.h"
#include "srv_internal.h"

enum { SV_OK = 0, SV_USAGE = 1, SV_LOAD = 2, SV_BIND = 3 };

static void usage(FILE *f)
{
    fputs("usage: flashgen serve -m MODEL_DIR [--host 127.0.0.1] [--port 8080] [--ram SIZE] [-c CTX]\n"
          "                      [-t N] [--kv f32|f16|q8] [--alias NAME] [--max-body SIZE] [-n N]\n"
          "OpenAI-compatible API: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health\n",
          f);
}

enum { O_HOST = 256, O_PORT, O_RAM, O_KV, O_ALIAS, O_MAXBODY };

int srv_cli_main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "model", required_argument, 0, 'm' }, { "host", required_argument, 0, O_HOST },
        { "port", required_argument, 0, O_PORT }, { "ram", required_argument, 0, O_RAM },
        { "ctx", required_argument, 0, 'c' }, { "threads", required_argument, 0, 't' },
        { "kv", required_argument, 0, O_KV }, { "alias", required_argument, 0, O_ALIAS },
        { "max-body", required_argument, 0, O_MAXBODY }, { "n-predict", required_argument, 0, 'n' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 } };
    const char *model = NULL, *host = "127.0.0.1", *alias = NULL;
    long port = 8080, ctx = 4096, threads = sysconf(_SC_NPROCESSORS_ONLN), n_predict = 512;
    uint64_t ram = 0, max_body = 1 << 20;
    int c;
    em_kv_t kv = EM_KV_F32;
    if (threads < 1)
        threads = 1;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:c:t:n:h", lo, NULL)) != -1) {
        const char *bad = NULL;
        switch (c) {
        case 'm': model = optarg; break;
        case O_HOST: host = optarg; break;
        case O_PORT: if (fu_parse_long(optarg, 1, 65535, &port)) bad = "--port"; break;
        case O_RAM: if (fu_parse_size(optarg, &ram) || !ram) bad = "--ram"; break;
        case 'c': if (fu_parse_long(optarg, 16, 1 << 24, &ctx)) bad = "-c"; break;
        case 't': if (fu_parse_long(optarg, 1, 256, &threads)) bad = "-t"; break;
        case 'n': if (fu_parse_long(optarg, 1, 1 << 24, &n_predict)) bad = "-n"; break;
        case O_KV: if (em_kv_parse(optarg, &kv)) bad = "--kv"; break;
        case O_ALIAS: alias = optarg; break;
        case O_MAXBODY: if (fu_parse_size(optarg, &max_body) || max_body < 1024) bad = "--max-body"; break;
        case 'h': usage(stdout); return SV_OK;
        case ':': fprintf(stderr, "flashgen serve: %s needs a value\n", argv[optind - 1]); return SV_USAGE;
        default: fprintf(stderr, "flashgen serve: unknown option %s\n", argv[optind - 1]); usage(stderr); return SV_USAGE;
        }
        if (bad) {
            fprintf(stderr, "flashgen serve: bad value for %s: '%s'\n", bad, optarg);
            return SV_USAGE;
        }
    }
    if (!model || optind < argc) {
        fprintf(stderr, "flashgen serve: %s\n", model ? "unexpected argument" : "-m MODEL_DIR is required");
        usage(stderr);
        return SV_USAGE;
    }
    static srv_t s;
    char err[1024] = "", path[4096];
    hc_config_t cfg;
    int rc, code = SV_OK;
    if ((rc = ew_load_config(model, &cfg, path, sizeof path, err, sizeof err))) {
        if (err[0] && strstr(err, path))
            fprintf(stderr, "flashgen serve: %s\n", err);
        else
            fprintf(stderr, "flashgen serve: %s: %s\n", path, err[0] ? err : strerror(-rc));
        return SV_LOAD;
    }
    if (cfg.max_position_embeddings > 0 && ctx > cfg.max_position_embeddings)
        ctx = cfg.max_position_embeddings;
    s.capacity = (int)ctx;
    s.default_max_tokens = (int)n_predict;
    s.max_body = (size_t)max_body;
    if (alias) {
        snprintf(s.model_id, sizeof s.model_id, "%s", alias);
    } else {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s", model);
        size_t l = strlen(tmp);
        while (l > 1 && tmp[l - 1] == '/')
            tmp[--l] = 0;
        snprintf(s.model_id, sizeof s.model_id, "%s", basename(tmp));
    }
    if ((rc = tk_load(model, &s.tk, err, sizeof err))) {
        fprintf(stderr, "flashgen serve: tokenizer of %s: %s\n", model, err[0] ? err : strerror(-rc));
        return SV_LOAD;
    }
    if ((rc = tpl_chat_load(model, &s.tpl, err, sizeof err))) {
        if (rc != -ENOENT) {
            fprintf(stderr, "flashgen serve: %s\n", err);
            tk_free(s.tk);
            return SV_LOAD;
        }
        fprintf(stderr, "flashgen serve: %s: /v1/chat/completions will answer 400\n", err);
        s.tpl = NULL;
    }
    em_opts_t eo = { .n_threads = (int)threads, .capacity = s.capacity, .kv = kv, .ram = ram };
    if ((rc = em_open(&s.m, model, &eo, err, sizeof err))) {
        fprintf(stderr, "flashgen serve: %s\n", err);
        tpl_chat_free(s.tpl);
        tk_free(s.tk);
        return SV_LOAD;
    }
    s.vocab = em_config(s.m)->vocab_size;
    s.n_eos = tk_eos_ids(s.tk, s.eos, 48);
    for (int i = 0; i < cfg.n_eos && s.n_eos < sizeof s.eos / sizeof s.eos[0]; i++)
        s.eos[s.n_eos++] = cfg.eos_token_ids[i];
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    if ((rc = srv_worker_start(&s))) {
        fprintf(stderr, "flashgen serve: cannot start the worker: %s\n", strerror(-rc));
        code = SV_LOAD;
    } else {
        if ((rc = srv_http_run(&s, host, (int)port, err, sizeof err))) {
            fprintf(stderr, "flashgen serve: %s\n", err);
            code = rc == -EINVAL ? SV_USAGE : SV_BIND;
        }
        srv_worker_stop(&s);
    }
    free(s.kv.v);
    em_close(s.m);
    tpl_chat_free(s.tpl);
    tk_free(s.tk);
    return code;
}
