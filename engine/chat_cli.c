/* chat_cli.c — `flashgen chat`: an interactive multi-turn chat on the terminal through the
 * model's chat template (see docs/flashgen.1).
 *
 *   flashgen chat -m MODEL_DIR [--system TEXT] [-n N] [--temp T] [--top-k K] [--top-p P]
 *                 [--min-p P] [--seed S] [--greedy] [-c CTX] [-t N] [--ram SIZE] [--kv f32|f16|q8]
 *                 [--stats]
 * Each line of standard input is a user turn; the answer streams to standard output, ending
 * with a newline. `/reset` forgets the conversation, `/exit` (or end of input) ends. Ctrl-C
 * stops the answer being generated, not the program. The KV cache is kept across turns: a
 * turn prefills only the tokens after the longest prefix its prompt shares with what the cache
 * holds (the cache past that prefix is dropped: templates may re-render earlier turns, and an
 * answer's text may tokenize differently from the ids generated).
 * Generation stops at every EOS id (config.json, generation_config.json, tokenizer_config.json).
 * Exit status: 0 ok, 1 usage, 2 the model, tokenizer or template could not be loaded, 4 a
 * generation failed. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "eng_gen.h"
#include "eng_gguf.h"
#include "eng_model.h"
#include "eng_sampler.h"
#include "fu_util.h"
#include "hf_config.h"
#include "template.h"
#include "tok_util.h"
#include "tokenizer.h"
#include "chat_cli.h"

enum { CH_OK = 0, CH_USAGE = 1, CH_LOAD = 2, CH_GEN = 4 };

static volatile sig_atomic_t g_stop;

static void on_sigint(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *f)
{
    fputs("usage: flashgen chat -m MODEL_DIR [--system TEXT] [-n N] [--temp T] [--top-k K] [--top-p P]\n"
          "                     [--min-p P] [--seed S] [--greedy] [-c CTX] [-t N] [--ram SIZE]\n"
          "                     [--kv f32|f16|q8] [--stats]\n"
          "Type a message per line; /reset starts over, /exit quits, Ctrl-C stops an answer.\n", f);
}

typedef struct {
    em_model_t *m;
    tk_tokenizer_t *tk;
    tpl_chat_t *tpl;
    smp_t *smp;
    tk_ids_t kv;            /* the tokens the KV cache holds, in order */
    int32_t eos[64];
    size_t n_eos;
    int n_predict, stats, vocab, capacity;
    float *lg;
} chat_t;

static int is_eos(const chat_t *c, int32_t id)
{
    for (size_t i = 0; i < c->n_eos; i++)
        if (c->eos[i] == id)
            return 1;
    return 0;
}

/* One turn: render messages, prefill what the cache lacks, generate; the answer text goes to
 * *answer (malloc'd). 0, or -errno with err (the turn is then dropped by the caller). */
static int turn(chat_t *c, const cJSON *msgs, char **answer, char *err, size_t errlen)
{
    char *prompt = NULL;
    size_t plen;
    int32_t *ids = NULL;
    size_t n;
    tk_buf_t text = { 0 };
    tk_stream_t *ts = NULL;
    int rc = tpl_chat_render(c->tpl, msgs, NULL, 1, NULL, &prompt, &plen, err, errlen);
    if (rc)
        return rc;
    rc = tk_encode(c->tk, prompt, plen, 0, &ids, &n);
    free(prompt);
    if (rc)
        return fu_err(err, errlen, rc, "cannot tokenize the prompt");
    if (n == 0 || n > (size_t)c->capacity) {
        free(ids);
        return fu_err(err, errlen, -ENOSPC, "the conversation has %zu tokens, the context %d: /reset to start over",
                      n, c->capacity);
    }
    /* reuse the longest common prefix of the cache; the last prompt token is always fed */
    size_t keep = 0;
    while (keep < c->kv.n && keep + 1 < n && c->kv.v[keep] == ids[keep])
        keep++;
    if (keep < c->kv.n) { /* earlier turns re-rendered differently: drop the cache past the prefix */
        em_truncate(c->m, (int)keep);
        c->kv.n = keep;
    }
    const float *logits;
    uint64_t t0 = fu_now_ns();
    if ((rc = em_forward(c->m, ids + keep, (int)(n - keep), 0, &logits, err, errlen)) ||
        tk_ids_add(&c->kv, ids + keep, n - keep)) {
        em_reset(c->m);
        c->kv.n = 0;
        free(ids);
        return rc ? rc : fu_err(err, errlen, -ENOMEM, "out of memory");
    }
    uint64_t t_prefill = fu_now_ns() - t0;
    if (!(ts = tk_stream_new(c->tk))) {
        free(ids);
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    }
    int gen = 0, stopped = 0;
    t0 = fu_now_ns();
    for (int i = 0; i < c->n_predict && !rc; i++) {
        if (g_stop) {
            stopped = 1;
            break;
        }
        memcpy(c->lg, logits, (size_t)c->vocab * sizeof *c->lg);
        int32_t id = smp_sample(c->smp, c->lg, c->kv.v, c->kv.n);
        gen++;
        if (is_eos(c, id))
            break;
        const char *t;
        size_t l;
        if (tk_stream_push(ts, id, &t, &l) == 0 && l) {
            fwrite(t, 1, l, stdout);
            fflush(stdout);
            if (tk_buf_add(&text, t, l))
                rc = fu_err(err, errlen, -ENOMEM, "out of memory");
        }
        if (i + 1 == c->n_predict || c->kv.n >= (size_t)c->capacity)
            break;
        if (!rc && !(rc = em_forward(c->m, &id, 1, 0, &logits, err, errlen)) && tk_ids_push(&c->kv, id))
            rc = fu_err(err, errlen, -ENOMEM, "out of memory");
    }
    const char *t;
    size_t l;
    if (tk_stream_flush(ts, &t, &l) == 0 && l) {
        fwrite(t, 1, l, stdout);
        if (tk_buf_add(&text, t, l))
            rc = fu_err(err, errlen, -ENOMEM, "out of memory");
    }
    fputc('\n', stdout);
    fflush(stdout);
    if (c->stats)
        fprintf(stderr, "[prefilled %zu of %zu prompt tokens in %.3f s, %d generated in %.3f s%s]\n",
                n - keep, n, t_prefill / 1e9, gen, (fu_now_ns() - t0) / 1e9, stopped ? ", stopped" : "");
    g_stop = 0;
    tk_stream_free(ts);
    free(ids);
    if (!rc && tk_buf_add(&text, "", 0))
        rc = fu_err(err, errlen, -ENOMEM, "out of memory");
    if (rc) {
        tk_buf_free(&text);
        em_reset(c->m);
        c->kv.n = 0;
        return rc;
    }
    *answer = text.p;
    return 0;
}

/* Read one line of input (without the newline) into b; 1 line, 0 end of input, -EINTR on
 * Ctrl-C at the prompt. */
static int read_line(tk_buf_t *b)
{
    b->len = 0;
    for (;;) {
        int ch = getchar();
        if (ch == EOF) {
            if (ferror(stdin) && errno == EINTR) {
                clearerr(stdin);
                return -EINTR;
            }
            return b->len ? 1 : 0;
        }
        if (ch == '\n')
            break;
        char cc = (char)ch;
        if (tk_buf_add(b, &cc, 1))
            return -ENOMEM;
    }
    return tk_buf_add(b, "", 0) ? -ENOMEM : 1;
}

static int add_message(cJSON *msgs, const char *role, const char *content)
{
    cJSON *m = cJSON_CreateObject();
    if (!m || !cJSON_AddStringToObject(m, "role", role) || !cJSON_AddStringToObject(m, "content", content) ||
        !cJSON_AddItemToArray(msgs, m)) {
        cJSON_Delete(m);
        return -ENOMEM;
    }
    return 0;
}

static cJSON *new_conversation(const char *system)
{
    cJSON *msgs = cJSON_CreateArray();
    if (msgs && system && add_message(msgs, "system", system)) {
        cJSON_Delete(msgs);
        return NULL;
    }
    return msgs;
}

enum { O_SYSTEM = 256, O_TEMP, O_TOPK, O_TOPP, O_MINP, O_SEED, O_GREEDY, O_RAM, O_KV, O_STATS };

int chat_cli_main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "model", required_argument, 0, 'm' }, { "system", required_argument, 0, O_SYSTEM },
        { "n-predict", required_argument, 0, 'n' }, { "ctx", required_argument, 0, 'c' },
        { "threads", required_argument, 0, 't' }, { "temp", required_argument, 0, O_TEMP },
        { "top-k", required_argument, 0, O_TOPK }, { "top-p", required_argument, 0, O_TOPP },
        { "min-p", required_argument, 0, O_MINP }, { "seed", required_argument, 0, O_SEED },
        { "greedy", no_argument, 0, O_GREEDY }, { "ram", required_argument, 0, O_RAM },
        { "kv", required_argument, 0, O_KV }, { "stats", no_argument, 0, O_STATS },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 } };
    const char *model = NULL, *system = NULL;
    long n_predict = 512, ctx = 4096, threads = sysconf(_SC_NPROCESSORS_ONLN), v;
    double d;
    uint64_t ram = 0;
    int stats = 0, c;
    em_kv_t kv = EM_KV_F32;
    smp_params_t sp = { .temp = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f, .repeat_penalty = 1.0f,
                        .seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) };
    if (threads < 1)
        threads = 1;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:n:c:t:h", lo, NULL)) != -1) {
        const char *bad = NULL;
        switch (c) {
        case 'm': model = optarg; break;
        case O_SYSTEM: system = optarg; break;
        case 'n': if (fu_parse_long(optarg, 1, 1 << 24, &n_predict)) bad = "-n"; break;
        case 'c': if (fu_parse_long(optarg, 16, 1 << 24, &ctx)) bad = "-c"; break;
        case 't': if (fu_parse_long(optarg, 1, 256, &threads)) bad = "-t"; break;
        case O_TEMP: if (fu_parse_double(optarg, 0, 100, &d)) bad = "--temp"; else sp.temp = (float)d; break;
        case O_TOPK: if (fu_parse_long(optarg, 0, 1 << 24, &v)) bad = "--top-k"; else sp.top_k = (int)v; break;
        case O_TOPP: if (fu_parse_double(optarg, 0, 1, &d)) bad = "--top-p"; else sp.top_p = (float)d; break;
        case O_MINP: if (fu_parse_double(optarg, 0, 1, &d)) bad = "--min-p"; else sp.min_p = (float)d; break;
        case O_SEED: if (fu_parse_long(optarg, 0, 0x7fffffff, &v)) bad = "--seed"; else sp.seed = (uint64_t)v + 1; break;
        case O_GREEDY: sp.temp = 0; break;
        case O_RAM: if (fu_parse_size(optarg, &ram) || ram == 0) bad = "--ram"; break;
        case O_KV: if (em_kv_parse(optarg, &kv)) bad = "--kv"; break;
        case O_STATS: stats = 1; break;
        case 'h': usage(stdout); return CH_OK;
        case ':': fprintf(stderr, "flashgen chat: %s needs a value\n", argv[optind - 1]); return CH_USAGE;
        default: fprintf(stderr, "flashgen chat: unknown option %s\n", argv[optind - 1]); usage(stderr); return CH_USAGE;
        }
        if (bad) {
            fprintf(stderr, "flashgen chat: bad value for %s: '%s'\n", bad, optarg);
            return CH_USAGE;
        }
    }
    if (!model || optind < argc) {
        fprintf(stderr, "flashgen chat: %s\n", model ? "unexpected argument" : "-m MODEL_DIR is required");
        usage(stderr);
        return CH_USAGE;
    }
    char err[1024] = "", path[4096];
    hc_config_t cfg;
    chat_t ch = { .n_predict = (int)n_predict, .stats = stats };
    int rc, code = CH_OK;
    if ((rc = ew_load_config(model, &cfg, path, sizeof path, err, sizeof err))) {
        if (err[0] && strstr(err, path))
            fprintf(stderr, "flashgen chat: %s\n", err);
        else
            fprintf(stderr, "flashgen chat: %s: %s\n", path, err[0] ? err : strerror(-rc));
        return CH_LOAD;
    }
    if (cfg.max_position_embeddings > 0 && ctx > cfg.max_position_embeddings)
        ctx = cfg.max_position_embeddings;
    ch.capacity = (int)ctx;
    if ((rc = tk_load(model, &ch.tk, err, sizeof err))) {
        fprintf(stderr, "flashgen chat: tokenizer of %s: %s\n", model, err[0] ? err : strerror(-rc));
        return CH_LOAD;
    }
    if ((rc = tpl_chat_load(model, &ch.tpl, err, sizeof err))) {
        fprintf(stderr, "flashgen chat: %s\n", err);
        tk_free(ch.tk);
        return CH_LOAD;
    }
    em_opts_t eo = { .n_threads = (int)threads, .capacity = ch.capacity, .kv = kv, .ram = ram };
    if ((rc = em_open(&ch.m, model, &eo, err, sizeof err))) {
        fprintf(stderr, "flashgen chat: %s\n", err);
        tpl_chat_free(ch.tpl);
        tk_free(ch.tk);
        return CH_LOAD;
    }
    ch.vocab = em_config(ch.m)->vocab_size;
    ch.n_eos = tk_eos_ids(ch.tk, ch.eos, 48);
    for (int i = 0; i < cfg.n_eos && ch.n_eos < sizeof ch.eos / sizeof ch.eos[0]; i++)
        ch.eos[ch.n_eos++] = cfg.eos_token_ids[i];
    cJSON *msgs = new_conversation(system);
    tk_buf_t line = { 0 };
    ch.lg = malloc((size_t)ch.vocab * sizeof *ch.lg);
    if (!msgs || !ch.lg || smp_create(&sp, ch.vocab, &ch.smp)) {
        fprintf(stderr, "flashgen chat: out of memory\n");
        code = CH_GEN;
        goto out;
    }
    struct sigaction sa = { .sa_handler = on_sigint }; /* no SA_RESTART: Ctrl-C interrupts a read */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    int tty = isatty(STDIN_FILENO);
    for (;;) {
        if (tty)
            fputs("> ", stderr);
        g_stop = 0;
        rc = read_line(&line);
        if (rc == -EINTR) {
            fputc('\n', stderr);
            continue;
        }
        if (rc <= 0)
            break;
        if (!strcmp(line.p, "/exit"))
            break;
        if (!strcmp(line.p, "/reset")) {
            cJSON_Delete(msgs);
            msgs = new_conversation(system);
            em_reset(ch.m);
            ch.kv.n = 0;
            if (!msgs) {
                code = CH_GEN;
                break;
            }
            fputs("[conversation reset]\n", stderr);
            continue;
        }
        if (!line.len)
            continue;
        char *answer = NULL;
        if (add_message(msgs, "user", line.p)) {
            code = CH_GEN;
            break;
        }
        if ((rc = turn(&ch, msgs, &answer, err, sizeof err))) {
            fprintf(stderr, "flashgen chat: %s\n", err);
            cJSON_DeleteItemFromArray(msgs, cJSON_GetArraySize(msgs) - 1);
            if (rc == -ENOMEM || rc == -EIO) {
                code = CH_GEN;
                break;
            }
            continue;
        }
        rc = add_message(msgs, "assistant", answer);
        free(answer);
        if (rc) {
            code = CH_GEN;
            break;
        }
    }
out:
    tk_buf_free(&line);
    cJSON_Delete(msgs);
    free(ch.lg);
    free(ch.kv.v);
    smp_free(ch.smp);
    em_close(ch.m);
    tpl_chat_free(ch.tpl);
    tk_free(ch.tk);
    return code;
}
