/* flashgen.c — command line of the generation engine (see docs/flashgen.1).
 *
 *   flashgen -m MODEL_DIR -p PROMPT [options]     generate text
 *   flashgen tokenize ...                          the tokenizer's CLI (tk_cli_main)
 *   flashgen template ...                          render the chat template (tpl_cli_main)
 *   flashgen chat ...                              interactive chat (chat_cli_main)
 *   flashgen serve ...                             OpenAI-compatible server (srv_cli_main)
 *
 * Generated text goes to stdout as it is produced (then a newline); statistics and errors
 * go to stderr. Exit status: 0 ok, 1 usage, 2 the model or tokenizer could not be loaded,
 * 3 bad prompt (not UTF-8, longer than the context), 4 generation failed. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chat_cli.h"
#include "eng_folder.h"
#include "srv_cli.h"
#include "eng_gen.h"
#include "eng_gguf.h"
#include "eng_model.h"
#include "fu_util.h"
#include "hf_config.h"
#include "template.h"
#include "tokenizer.h"

enum { FG_OK = 0, FG_USAGE = 1, FG_LOAD = 2, FG_PROMPT = 3, FG_GEN = 4 };

static void usage(FILE *f)
{
    fputs("usage: flashgen -m MODEL_DIR -p PROMPT [options]\n"
          "       flashgen tokenize -m MODEL_DIR [--special] [--tokens] [TEXT]\n"
          "       flashgen template -m MODEL --messages FILE.json [--add-generation-prompt]\n"
          "       flashgen chat -m MODEL_DIR [--system TEXT] [options]\n"
          "       flashgen serve -m MODEL_DIR [--host 127.0.0.1] [--port 8080] [--ram SIZE]\n"
          "  -m, --model DIR        Hugging Face model folder (or a flashfs mount of one), or a\n"
          "                         GGUF model (FILE.gguf, or a folder holding one)\n"
          "  -p, --prompt TEXT      prompt (UTF-8)\n"
          "  -n, --n-predict N      tokens to generate (default 128, capped by the context)\n"
          "      --temp T           temperature (default 0.8; 0 = greedy)\n"
          "      --top-k K          top-k (default 40; 0 = off)\n"
          "      --top-p P          top-p (default 0.95; 1 = off)\n"
          "      --min-p P          min-p (default 0.05; 0 = off)\n"
          "      --repeat-penalty R repetition penalty (default 1.0 = off)\n"
          "      --seed S           random seed (default: time)\n"
          "      --greedy           deterministic argmax decoding (same as --temp 0)\n"
          "      --ignore-eos       do not stop at EOS\n"
          "  -t, --threads N        compute threads (default: online CPUs)\n"
          "  -c, --ctx N            cap the context length (default: max_position_embeddings)\n"
          "      --kv f32|f16|q8    KV cache precision (default f32; q8: int8 with one scale per\n"
          "                         position and kv head, the last --kv-window positions in f16)\n"
          "      --kv-window N      --kv q8: recent positions kept in f16 (default 128; 0: none)\n"
          "      --ram SIZE         memory budget (e.g. 512M, 2G, 25%); streams layers when the\n"
          "                         model does not fit\n"
          "      --stream           stream layers from disk (with --ram: keep what fits)\n"
          "      --resident         load every layer (default when no --ram)\n"
          "      --no-hint          streaming from a flashfs mount: do not tell the mount which\n"
          "                         layer comes next (.flashfs/hint; on by default)\n"
          "      --batch N          prefill batch size (default 128)\n"
          "      --stats            print load time, prefill/decode speed, bytes read, peak RSS\n"
          "  -h, --help             this help\n", f);
}

enum { O_TEMP = 256, O_TOPK, O_TOPP, O_MINP, O_REP, O_SEED, O_GREEDY, O_IGNORE_EOS, O_KV, O_RAM,
       O_STREAM, O_RESIDENT, O_STATS, O_BATCH, O_NO_HINT, O_KV_WINDOW };

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "tokenize"))
        return tk_cli_main(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "template"))
        return tpl_cli_main(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "chat"))
        return chat_cli_main(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "serve"))
        return srv_cli_main(argc - 1, argv + 1);

    static const struct option lo[] = {
        { "model", required_argument, 0, 'm' }, { "prompt", required_argument, 0, 'p' },
        { "n-predict", required_argument, 0, 'n' }, { "threads", required_argument, 0, 't' },
        { "ctx", required_argument, 0, 'c' }, { "temp", required_argument, 0, O_TEMP },
        { "top-k", required_argument, 0, O_TOPK }, { "top-p", required_argument, 0, O_TOPP },
        { "min-p", required_argument, 0, O_MINP }, { "repeat-penalty", required_argument, 0, O_REP },
        { "seed", required_argument, 0, O_SEED }, { "greedy", no_argument, 0, O_GREEDY },
        { "ignore-eos", no_argument, 0, O_IGNORE_EOS }, { "kv", required_argument, 0, O_KV },
        { "ram", required_argument, 0, O_RAM }, { "stream", no_argument, 0, O_STREAM },
        { "resident", no_argument, 0, O_RESIDENT }, { "stats", no_argument, 0, O_STATS },
        { "batch", required_argument, 0, O_BATCH }, { "no-hint", no_argument, 0, O_NO_HINT },
        { "kv-window", required_argument, 0, O_KV_WINDOW }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
    };
    const char *model = NULL, *prompt = NULL;
    long n_predict = 128, ctx_cap = 0, kv_window = EM_KV_WINDOW, threads = sysconf(_SC_NPROCESSORS_ONLN), v, batch = 0;
    double d;
    int stats = 0, ignore_eos = 0, hint = 1;
    em_kv_t kv = EM_KV_F32;
    em_mode_t mode = EM_AUTO;
    uint64_t ram = 0;
    smp_params_t sp = { .temp = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
                        .repeat_penalty = 1.0f, .seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) };
    if (threads < 1)
        threads = 1;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:p:n:t:c:h", lo, NULL)) != -1) {
        const char *bad = NULL;
        switch (c) {
        case 'm': model = optarg; break;
        case 'p': prompt = optarg; break;
        case 'n': if (fu_parse_long(optarg, 0, 1 << 24, &n_predict)) bad = "-n"; break;
        case 't': if (fu_parse_long(optarg, 1, 256, &threads)) bad = "-t"; break;
        case 'c': if (fu_parse_long(optarg, 1, 1 << 24, &ctx_cap)) bad = "-c"; break;
        case O_TEMP: if (fu_parse_double(optarg, 0, 100, &d)) bad = "--temp"; else sp.temp = (float)d; break;
        case O_TOPK: if (fu_parse_long(optarg, 0, 1 << 24, &v)) bad = "--top-k"; else sp.top_k = (int)v; break;
        case O_TOPP: if (fu_parse_double(optarg, 0, 1, &d)) bad = "--top-p"; else sp.top_p = (float)d; break;
        case O_MINP: if (fu_parse_double(optarg, 0, 1, &d)) bad = "--min-p"; else sp.min_p = (float)d; break;
        case O_REP:
            if (fu_parse_double(optarg, 0.01, 100, &d)) bad = "--repeat-penalty"; else sp.repeat_penalty = (float)d;
            break;
        case O_SEED: if (fu_parse_long(optarg, 0, 0x7fffffffl, &v)) bad = "--seed"; else sp.seed = (uint64_t)v + 1; break;
        case O_GREEDY: sp.temp = 0; break;
        case O_IGNORE_EOS: ignore_eos = 1; break;
        case O_KV: if (em_kv_parse(optarg, &kv)) bad = "--kv"; break;
        case O_KV_WINDOW: if (fu_parse_long(optarg, 0, 1 << 24, &kv_window)) bad = "--kv-window"; break;
        case O_RAM: if (fu_parse_size(optarg, &ram) || ram == 0) bad = "--ram"; break;
        case O_STREAM: mode = EM_STREAM; break;
        case O_RESIDENT: mode = EM_RESIDENT; break;
        case O_STATS: stats = 1; break;
        case O_NO_HINT: hint = 0; break;
        case O_BATCH: if (fu_parse_long(optarg, 1, 1 << 16, &batch)) bad = "--batch"; break;
        case 'h': usage(stdout); return FG_OK;
        case ':': fprintf(stderr, "flashgen: %s needs a value\n", argv[optind - 1]); return FG_USAGE;
        default: fprintf(stderr, "flashgen: unknown option %s\n", argv[optind - 1]); usage(stderr); return FG_USAGE;
        }
        if (bad) {
            fprintf(stderr, "flashgen: bad value for %s: '%s'\n", bad, optarg);
            return FG_USAGE;
        }
    }
    if (!model || !prompt || optind < argc) {
        if (optind < argc)
            fprintf(stderr, "flashgen: unexpected argument '%s'\n", argv[optind]);
        else
            fprintf(stderr, "flashgen: %s is required\n", !model ? "-m MODEL_DIR" : "-p PROMPT");
        usage(stderr);
        return FG_USAGE;
    }
    size_t bad_off;
    if (!eg_utf8_valid(prompt, strlen(prompt), &bad_off)) {
        fprintf(stderr, "flashgen: the prompt is not valid UTF-8 (bad byte 0x%02x at offset %zu)\n",
                (unsigned char)prompt[bad_off], bad_off);
        return FG_PROMPT;
    }

    /* The folder: a Hugging Face cache repository or ORG/NAME means its snapshot; name what
     * a folder holds when it is not one flashgen reads (GGUF, packed, empty). */
    char err[1024] = "", path[4096], note[4096];
    char *resolved = NULL;
    if (ef_resolve(model, &resolved, note, sizeof note, err, sizeof err) < 0) {
        fprintf(stderr, "flashgen: %s\n", err[0] ? err : "out of memory");
        return FG_LOAD;
    }
    if (ef_probe(resolved, err, sizeof err)) {
        fprintf(stderr, "flashgen: %s\n", err);
        free(resolved);
        return FG_LOAD;
    }
    char model_dir[3800];
    snprintf(model_dir, sizeof model_dir, "%s", resolved);
    free(resolved);
    model = model_dir;

    /* Config (context length) and tokenizer first: the KV cache is sized from them. */
    hc_config_t cfg;
    int rc = ew_load_config(model, &cfg, path, sizeof path, err, sizeof err);
    if (rc) {
        if (err[0] && strstr(err, path))
            fprintf(stderr, "flashgen: %s\n", err);
        else
            fprintf(stderr, "flashgen: %s: %s\n", path, err[0] ? err : strerror(-rc));
        return FG_LOAD;
    }
    uint64_t t_load = fu_now_ns();
    tk_tokenizer_t *tk = NULL;
    if ((rc = tk_load(model, &tk, err, sizeof err))) {
        fprintf(stderr, "flashgen: tokenizer of %s: %s\n", model, err[0] ? err : strerror(-rc));
        return FG_LOAD;
    }
    int32_t *ids = NULL;
    size_t n_ids = 0;
    if ((rc = tk_encode(tk, prompt, strlen(prompt), 1, &ids, &n_ids)) || n_ids == 0) {
        fprintf(stderr, "flashgen: cannot tokenize the prompt: %s\n", rc ? strerror(-rc) : "no tokens");
        tk_free(tk);
        free(ids);
        return FG_PROMPT;
    }
    long ctx = cfg.max_position_embeddings > 0 ? cfg.max_position_embeddings : 4096;
    if (ctx_cap > 0 && ctx_cap < ctx)
        ctx = ctx_cap;
    if ((long)n_ids > ctx) {
        fprintf(stderr, "flashgen: the prompt has %zu tokens, longer than the context of %ld tokens%s\n",
                n_ids, ctx, ctx_cap ? " (-c)" : "");
        tk_free(tk);
        free(ids);
        return FG_PROMPT;
    }
    if (n_predict > ctx - (long)n_ids)
        n_predict = ctx - (long)n_ids;

    em_opts_t eo = { .n_threads = (int)threads, .capacity = (int)(n_ids + (size_t)n_predict),
                     .kv = kv, .mode = mode, .ram = ram, .max_batch = (int)batch,
                     .hint = hint, .kv_window = kv_window ? (int)kv_window : -1 };
    if (eo.capacity < 1)
        eo.capacity = 1;
    em_model_t *m = NULL;
    if ((rc = em_open(&m, model, &eo, err, sizeof err))) {
        fprintf(stderr, "flashgen: %s\n", err);
        tk_free(tk);
        free(ids);
        return FG_LOAD;
    }
    t_load = fu_now_ns() - t_load;

    int32_t eos[HC_MAX_EOS + 16];
    size_t n_eos = tk_eos_ids(tk, eos, 16);
    for (int i = 0; i < cfg.n_eos; i++)
        eos[n_eos++] = cfg.eos_token_ids[i];
    eg_params_t gp = { .n_predict = (int)n_predict, .ignore_eos = ignore_eos, .sampling = sp,
                       .eos = eos, .n_eos = n_eos };
    eg_stats_t st;
    rc = eg_generate(m, tk, ids, (int)n_ids, &gp, stdout, &st, err, sizeof err);
    fputc('\n', stdout);
    fflush(stdout);
    if (rc)
        fprintf(stderr, "flashgen: %s\n", err);
    if (stats) {
        em_info_t in;
        em_info(m, &in);
        char a[32], b[32], r1[32], r2[32];
        double pf = st.prefill_ns ? st.n_prompt / (st.prefill_ns / 1e9) : 0;
        double dc = st.n_gen > 1 && st.decode_ns ? (st.n_gen - 1) / (st.decode_ns / 1e9) : 0;
        fprintf(stderr,
                "flashgen stats:\n"
                "  load_s:        %.3f\n"
                "  prompt_tokens: %d\n"
                "  prefill_tok_s: %.2f\n"
                "  gen_tokens:    %d\n"
                "  decode_tok_s:  %.2f\n"
                "  bytes_read:    %llu (%s)\n"
                "  peak_rss:      %llu (%s)\n"
                "  mode:          %s, %d of %d units resident (%s of %s weights), %s kernels, %ld threads\n",
                t_load / 1e9, st.n_prompt, pf, st.n_gen, dc, (unsigned long long)st.bytes_read,
                fu_format_size(st.bytes_read, a, sizeof a), (unsigned long long)eg_peak_rss(),
                fu_format_size(eg_peak_rss(), b, sizeof b), in.streaming ? "streaming" : "resident",
                in.n_resident, in.n_units, fu_format_size(in.resident_bytes, r1, sizeof r1),
                fu_format_size(in.model_bytes, r2, sizeof r2), in.isa, threads);
        fprintf(stderr, "  kv_cache:      %llu (%s) in RAM, %s", (unsigned long long)in.kv_bytes,
                fu_format_size(in.kv_bytes, a, sizeof a), in.kv);
        if (!strcmp(in.kv, "q8") && in.kv_window)
            fprintf(stderr, " (f16 window: the last %d positions)", in.kv_window);
        else if (!strcmp(in.kv, "q8"))
            fprintf(stderr, " (no f16 window)");
        fprintf(stderr, ", %d positions\n", eo.capacity);
        if (in.hinting)
            fprintf(stderr, "  mount_hints:   %lu (layer hints to the flashfs mount)\n", in.hints_sent);
    }
    eg_stats_free(&st);
    em_close(m);
    tk_free(tk);
    free(ids);
    return rc ? FG_GEN : FG_OK;
}
