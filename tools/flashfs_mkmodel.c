/* flashfs_mkmodel.c — the flashfs-mkmodel command: synthetic models with real shapes
 * (see docs/flashfs-mkmodel.1). */
#include "mkmodel.h"
#include "fu_util.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_SHARD 5000000000ull     /* save_pretrained's default max_shard_size "5GB" */

static void usage(FILE *f)
{
    fprintf(f,
"usage: flashfs-mkmodel OUT --preset NAME [options]\n"
"       flashfs-mkmodel OUT --hidden H --layers L --heads A [--kv-heads K] --ffn F [options]\n"
"Writes a synthetic model with real shapes: a Hugging Face folder OUT (config.json,\n"
"safetensors shards + index, tokenizer files), or with --format gguf the file OUT if it\n"
"ends in .gguf, else OUT/model.gguf.\n"
"  --preset NAME        llama-3.2-1b llama-3.2-3b llama-3.1-8b qwen2.5-0.5b mistral-7b\n"
"                       tiny tiny-qwen2 (shape options given too override the preset)\n"
"  --hidden H --layers L --heads A --kv-heads K --head-dim D --ffn F --vocab V\n"
"  --type llama|mistral|qwen2   architecture of a custom shape (default llama)\n"
"  --tie | --no-tie     tie lm_head to the embeddings (default: the preset's; custom no)\n"
"  --dtype bf16|f16|f32 (default bf16)   --format safetensors|gguf (default safetensors)\n"
"  --shard-size SIZE    max tensor bytes per safetensors shard (default 5GB = 5e9)\n"
"  --seed S             (default 0): the same seed gives the same bytes\n"
"  --tokenizer DIR      tokenizer files to copy / convert (default: the bundled demo,\n"
"                       PREFIX/share/flashfs/demo once installed, tests/fixtures/demo in\n"
"                       the source tree); the vocabulary defaults to its size\n"
"  --threads N          generator threads (default: online CPUs, at most 4)\n"
"  --quant mlxB         MLX affine quantization (B bits: 2 3 4 5 6 8), as mlx-lm convert writes it\n"
"  --group G            its group size: 32, 64 (default) or 128\n"
"  --force              overwrite an existing model   --quiet  no progress bar\n"
"  --list-presets       print the presets and exit\n");
}

static void list_presets(void)
{
    printf("%-14s %-8s %6s %6s %5s %4s %6s %6s %4s %7s\n", "preset", "type", "hidden", "layers",
           "heads", "kv", "hdim", "ffn", "tie", "vocab*");
    for (int i = 0; mm_preset_names[i]; i++) {
        mm_spec_t s;
        mm_preset(mm_preset_names[i], &s);
        printf("%-14s %-8s %6d %6d %5d %4d %6d %6d %4s %7d\n", s.name, s.model_type, s.hidden,
               s.layers, s.heads, s.kv_heads, s.head_dim, s.ffn, s.tie ? "yes" : "no", s.real_vocab);
    }
    printf("* vocabulary of the real model; the default is the tokenizer's (demo: 4096), --vocab sets it\n");
}

static int is_tok_dir(const char *d)
{
    char p[PATH_MAX];
    int n = snprintf(p, sizeof p, "%s/tokenizer.json", d);
    return n > 0 && (size_t)n < sizeof p && access(p, R_OK) == 0;
}

/* The bundled demo tokenizer: next to the binary (build/../tests/fixtures/demo in the
 * source tree, BINDIR/../share/flashfs/demo once installed by `make install`), or in the
 * current directory (the repository root). */
static int find_demo(char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *dir = dirname(exe);
        const char *rel[] = { "../tests/fixtures/demo", "../../tests/fixtures/demo",
                              "../share/flashfs/demo" };
        for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
            snprintf(out, len, "%s/%s", dir, rel[i]);
            if (is_tok_dir(out))
                return 0;
        }
    }
    snprintf(out, len, "tests/fixtures/demo");
    return is_tok_dir(out) ? 0 : -ENOENT;
}

static int parse_int(const char *opt, const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v <= 0 || v > INT_MAX) {
        fprintf(stderr, "flashfs-mkmodel: --%s '%s': expected a positive integer\n", opt, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int has_model(const char *dir)
{
    const char *names[] = { "config.json", "model.safetensors", "model.safetensors.index.json",
                            "model.gguf" };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char p[PATH_MAX];
        int n = snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        if (n > 0 && (size_t)n < sizeof p && access(p, F_OK) == 0)
            return 1;
    }
    return 0;
}

enum { O_HIDDEN = 256, O_LAYERS, O_HEADS, O_KV, O_HDIM, O_FFN, O_VOCAB, O_TYPE, O_TIE, O_NOTIE,
       O_DTYPE, O_FORMAT, O_SHARD, O_SEED, O_TOK, O_THREADS, O_FORCE, O_QUIET, O_LIST, O_QUANT, O_GROUP, O_PRESET };

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "preset", 1, 0, O_PRESET }, { "hidden", 1, 0, O_HIDDEN }, { "layers", 1, 0, O_LAYERS },
        { "heads", 1, 0, O_HEADS }, { "kv-heads", 1, 0, O_KV }, { "head-dim", 1, 0, O_HDIM },
        { "ffn", 1, 0, O_FFN }, { "vocab", 1, 0, O_VOCAB }, { "type", 1, 0, O_TYPE },
        { "tie", 0, 0, O_TIE }, { "no-tie", 0, 0, O_NOTIE }, { "dtype", 1, 0, O_DTYPE },
        { "format", 1, 0, O_FORMAT }, { "shard-size", 1, 0, O_SHARD }, { "seed", 1, 0, O_SEED },
        { "tokenizer", 1, 0, O_TOK }, { "threads", 1, 0, O_THREADS }, { "force", 0, 0, O_FORCE },
        { "quiet", 0, 0, O_QUIET }, { "list-presets", 0, 0, O_LIST }, { "help", 0, 0, 'h' },
        { "quant", 1, 0, O_QUANT }, { "group", 1, 0, O_GROUP },
        { 0, 0, 0, 0 }
    };
    mm_spec_t s;
    memset(&s, 0, sizeof s);
    int ov[O_PRESET + 1] = { 0 }, set[O_PRESET + 1] = { 0 };
    const char *preset = NULL, *tok = NULL, *format = "safetensors", *type = NULL;
    int dtype = MM_BF16, force = 0, quiet = 0, tie = -1, qbits = 0, qgroup = 64;
    uint64_t shard = DEFAULT_SHARD, seed = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return 0;
        case O_LIST: list_presets(); return 0;
        case O_PRESET: preset = optarg; break;
        case O_HIDDEN: case O_LAYERS: case O_HEADS: case O_KV: case O_HDIM: case O_FFN:
        case O_VOCAB: case O_THREADS:
            for (int k = 0; lo[k].name; k++)
                if (lo[k].val == c && parse_int(lo[k].name, optarg, &ov[c]) != 0)
                    return 1;
            set[c] = 1;
            break;
        case O_TYPE: type = optarg; break;
        case O_TIE: tie = 1; break;
        case O_NOTIE: tie = 0; break;
        case O_DTYPE:
            if ((dtype = mm_dtype_parse(optarg)) < 0) {
                fprintf(stderr, "flashfs-mkmodel: --dtype '%s': bf16, f16 or f32\n", optarg);
                return 1;
            }
            break;
        case O_FORMAT: format = optarg; break;
        case O_SHARD:
            if (fu_parse_size(optarg, &shard) != 0 || shard == 0) {
                fprintf(stderr, "flashfs-mkmodel: --shard-size '%s': expected a size (2G, 500M)\n", optarg);
                return 1;
            }
            break;
        case O_SEED: {
            char *end;
            errno = 0;
            seed = strtoull(optarg, &end, 0);
            if (errno || end == optarg || *end) {
                fprintf(stderr, "flashfs-mkmodel: --seed '%s': expected an integer\n", optarg);
                return 1;
            }
            break;
        }
        case O_TOK: tok = optarg; break;
        case O_FORCE: force = 1; break;
        case O_QUIET: quiet = 1; break;
        case O_QUANT:
            if (strncmp(optarg, "mlx", 3) || !optarg[3] || optarg[4] ||
                !strchr("234568", optarg[3])) {
                fprintf(stderr, "flashfs-mkmodel: --quant '%s': mlx2, mlx3, mlx4, mlx5, mlx6 or mlx8\n",
                        optarg);
                return 1;
            }
            qbits = optarg[3] - '0';
            break;
        case O_GROUP:
            qgroup = atoi(optarg);
            if (qgroup != 32 && qgroup != 64 && qgroup != 128) {
                fprintf(stderr, "flashfs-mkmodel: --group '%s': 32, 64 or 128\n", optarg);
                return 1;
            }
            break;
        default: usage(stderr); return 1;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 1;
    }
    const char *out = argv[optind];
    int gguf = strcmp(format, "gguf") == 0;
    if (!gguf && strcmp(format, "safetensors") != 0) {
        fprintf(stderr, "flashfs-mkmodel: --format '%s': safetensors or gguf\n", format);
        return 1;
    }
    if (gguf && qbits) {
        fprintf(stderr, "flashfs-mkmodel: --quant is for safetensors folders (llama-quantize makes GGUF ones)\n");
        return 1;
    }

    /* ---- the shape ---- */
    if (preset && mm_preset(preset, &s) != 0) {
        fprintf(stderr, "flashfs-mkmodel: unknown preset '%s' (--list-presets)\n", preset);
        return 1;
    }
    if (!preset && !(set[O_HIDDEN] && set[O_LAYERS] && set[O_HEADS] && set[O_FFN])) {
        fprintf(stderr, "flashfs-mkmodel: give --preset NAME, or --hidden, --layers, --heads and --ffn\n");
        return 1;
    }
    if (type)
        snprintf(s.model_type, sizeof s.model_type, "%s", type);
    int *dst[] = { [O_HIDDEN - O_HIDDEN] = &s.hidden, [O_LAYERS - O_HIDDEN] = &s.layers,
                   [O_HEADS - O_HIDDEN] = &s.heads, [O_KV - O_HIDDEN] = &s.kv_heads,
                   [O_HDIM - O_HIDDEN] = &s.head_dim, [O_FFN - O_HIDDEN] = &s.ffn,
                   [O_VOCAB - O_HIDDEN] = &s.vocab };
    for (int o = O_HIDDEN; o <= O_VOCAB; o++)
        if (set[o])
            *dst[o - O_HIDDEN] = ov[o];
    if (preset && (set[O_HIDDEN] || set[O_HEADS]) && !set[O_HDIM])
        s.head_dim = 0;                     /* recompute from the new shape */
    if (tie >= 0)
        s.tie = tie;

    /* ---- the tokenizer ---- */
    char demo[PATH_MAX];
    if (!tok) {
        if (find_demo(demo, sizeof demo) != 0) {
            fprintf(stderr, "flashfs-mkmodel: the bundled demo tokenizer was not found (looked in "
                            "../share/flashfs/demo and ../tests/fixtures/demo next to the binary, "
                            "and tests/fixtures/demo in the current directory); "
                            "pass --tokenizer DIR\n");
            return 1;
        }
        tok = demo;
    }
    char err[512] = "";
    mm_vocab_t v;
    if (mm_vocab_load(tok, &v, err, sizeof err) != 0) {
        fprintf(stderr, "flashfs-mkmodel: tokenizer %s: %s\n", tok, err);
        return 1;
    }
    if (!set[O_VOCAB])
        s.vocab = (int)v.n_tokens;
    if ((size_t)s.vocab < v.n_tokens) {
        fprintf(stderr, "flashfs-mkmodel: --vocab %d is smaller than the tokenizer's %zu tokens\n",
                s.vocab, v.n_tokens);
        mm_vocab_free(&v);
        return 1;
    }
    if (mm_spec_check(&s, err, sizeof err) != 0) {
        fprintf(stderr, "flashfs-mkmodel: %s\n", err);
        mm_vocab_free(&v);
        return 1;
    }

    mm_opts_t o = { .spec = s, .dtype = (mm_dtype_t)dtype, .seed = seed, .shard_size = shard,
                    .tokenizer_dir = tok, .progress = !quiet && isatty(2), .bos = v.bos, .eos = v.eos };
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    o.threads = set[O_THREADS] ? ov[O_THREADS] : ncpu < 1 ? 1 : ncpu > 4 ? 4 : (int)ncpu;

    /* ---- write ---- */
    char path[PATH_MAX];
    size_t ol = strlen(out);
    int rc;
    uint64_t t0 = fu_now_ns();
    if (gguf) {
        if (ol > 5 && strcmp(out + ol - 5, ".gguf") == 0) {
            snprintf(path, sizeof path, "%s", out);
        } else {
            mkdir(out, 0755);
            snprintf(path, sizeof path, "%s/model.gguf", out);
        }
        if (!force && access(path, F_OK) == 0) {
            fprintf(stderr, "flashfs-mkmodel: %s exists (--force overwrites)\n", path);
            mm_vocab_free(&v);
            return 1;
        }
        rc = mm_vocab_pad(&v, (size_t)s.vocab);
        if (rc == 0)
            rc = mm_write_gguf(&o, &v, path, err, sizeof err);
    } else {
        snprintf(path, sizeof path, "%s", out);
        if (!force && has_model(out)) {
            fprintf(stderr, "flashfs-mkmodel: %s already holds a model (--force overwrites)\n", out);
            mm_vocab_free(&v);
            return 1;
        }
        rc = mm_write_hf(&o, out, err, sizeof err);
        if (rc == 0 && qbits)
            rc = mm_quantize_mlx(out, qbits, qgroup, err, sizeof err);
    }
    mm_vocab_free(&v);
    if (rc != 0) {
        fprintf(stderr, "flashfs-mkmodel: %s\n", err[0] ? err : strerror(-rc));
        return 1;
    }

    /* ---- summary ---- */
    mm_tensor_t *t;
    size_t nt;
    uint64_t params = 0;
    if (mm_tensors(&o.spec, gguf, &t, &nt) == 0) {
        for (size_t i = 0; i < nt; i++)
            params += mm_numel(&t[i]);
        free(t);
    }
    double secs = (double)(fu_now_ns() - t0) / 1e9;
    if (!quiet)
        printf("%s: %s (%s) %d layers, hidden %d, heads %d/%d, ffn %d, vocab %d, %.3f G params, "
               "%s %s, seed %" PRIu64 ", %.1f s\n", path, s.name, s.model_type, s.layers, s.hidden,
               s.heads, s.kv_heads, s.ffn, s.vocab, (double)params / 1e9,
               dtype == MM_F32 ? "f32" : dtype == MM_F16 ? "f16" : "bf16", format, seed, secs);
    if (!quiet && qbits)
        printf("%s: MLX affine %d bits, group %d\n", path, qbits, qgroup);
    return 0;
}
