/* tk_bench.c — tokenizer throughput: encode (and decode) a generated text of N MB.
 *
 *   build/tests/tk_bench MODEL_DIR [--mb N] [--runs R] [--kind prose|run]
 *
 * prose: deterministic pseudo-English (common words, capitals, punctuation, numbers,
 *        newlines and a few accented/CJK/emoji words) — a typical prompt workload;
 * run:   one character repeated ('a' x N MB) — the worst case for a naive BPE.
 * Prints one line: "<kind> <MB> encode_MBps <median> decode_MBps <median> tokens <n>"
 * (medians over R runs, CPU time of the thread so that a loaded machine does not skew it). Not a test: timings go to `make bench` only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fu_util.h"
#include "tokenizer.h"

static const char *const words[] = {
    "the", "and", "of", "to", "in", "that", "he", "shall", "unto", "for", "his", "I", "a", "they",
    "be", "is", "him", "not", "them", "it", "with", "all", "thou", "thy", "was", "God", "which",
    "my", "me", "said", "but", "ye", "their", "have", "will", "thee", "from", "as", "are", "when",
    "this", "out", "were", "upon", "man", "you", "by", "Israel", "king", "son", "up", "there",
    "hath", "then", "people", "came", "had", "house", "into", "on", "her", "come", "one", "we",
    "children", "before", "your", "also", "day", "land", "men", "against", "shalt", "if", "hand",
    "us", "at", "let", "made", "go", "even", "do", "now", "every", "what", "father", "after",
    "tokenization", "benchmark", "generation", "don't", "we'll", "naïve", "café", "日本語",
    "🙂", "Ünïcödé", "x86_64", "e-mail", "3.14159", "1234567", "(see", "below)", "--", "...",
};

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static char *make_text(const char *kind, size_t n)
{
    char *t = malloc(n + 64);
    if (!t)
        return NULL;
    if (strcmp(kind, "run") == 0) {
        memset(t, 'a', n);
        t[n] = 0;
        return t;
    }
    size_t len = 0, nw = sizeof words / sizeof words[0];
    while (len < n) {
        const char *w = words[next_rand() % nw];
        size_t l = strlen(w);
        if (len + l + 2 > n)
            break;
        memcpy(t + len, w, l);
        len += l;
        uint32_t r = next_rand() % 100;
        t[len++] = r < 3 ? '\n' : r < 8 ? ',' : r < 10 ? '.' : ' ';
        if (r < 10 && len < n)
            t[len++] = ' ';
    }
    while (len < n)
        t[len++] = ' ';
    t[n] = 0;
    return t;
}

/* CPU time of this (single) thread: stable when other processes load the machine. */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *kind = "prose";
    double mb = 1;
    int runs = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--mb") == 0 && i + 1 < argc)
            mb = atof(argv[++i]);
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--kind") == 0 && i + 1 < argc)
            kind = argv[++i];
        else
            dir = argv[i];
    }
    if (!dir || mb <= 0 || runs < 1 || runs > 100) {
        fprintf(stderr, "usage: tk_bench MODEL_DIR [--mb N] [--runs R] [--kind prose|run]\n");
        return 1;
    }
    char err[256] = "";
    tk_tokenizer_t *tk;
    if (tk_load(dir, &tk, err, sizeof err)) {
        fprintf(stderr, "tk_bench: %s\n", err);
        return 2;
    }
    size_t n = (size_t)(mb * 1e6);
    char *text = make_text(kind, n);
    if (!text)
        return 3;
    double enc[100], dec[100];
    size_t ntok = 0;
    for (int r = 0; r < runs; r++) {
        int32_t *ids;
        char *out;
        size_t olen;
        uint64_t t0 = cpu_ns();
        if (tk_encode(tk, text, n, 0, &ids, &ntok))
            return 3;
        uint64_t t1 = cpu_ns();
        if (tk_decode(tk, ids, ntok, &out, &olen))
            return 3;
        uint64_t t2 = cpu_ns();
        if (olen != n || memcmp(out, text, n) != 0)
            fprintf(stderr, "tk_bench: warning: decode(encode(text)) != text\n");
        enc[r] = (double)n / 1e6 / ((double)(t1 - t0) / 1e9);
        dec[r] = (double)n / 1e6 / ((double)(t2 - t1) / 1e9);
        free(ids);
        free(out);
    }
    qsort(enc, (size_t)runs, sizeof enc[0], cmp_d);
    qsort(dec, (size_t)runs, sizeof dec[0], cmp_d);
    printf("%s %.2f encode_MBps %.1f decode_MBps %.1f tokens %zu\n", kind, (double)n / 1e6,
           enc[runs / 2], dec[runs / 2], ntok);
    free(text);
    tk_free(tk);
    return 0;
}
