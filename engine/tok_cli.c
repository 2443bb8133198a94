/* tok_cli.c — `flashgen tokenize`: print the ids of a text, or the text of ids.
 *
 *   flashgen tokenize -m MODEL_DIR [--special] [--tokens] [TEXT]
 *       ids of TEXT (or of stdin, byte for byte, when TEXT is absent), space separated;
 *       --special adds the post-processor's tokens (BOS), --tokens prints "id<TAB>token"
 *       lines instead.
 *   flashgen tokenize -m MODEL_DIR --decode [IDS...]
 *       the decoded text of the ids (arguments or stdin; separated by spaces or commas,
 *       brackets ignored so that a pasted Python list works).
 * Exit status: 0 ok, 1 usage, 2 the tokenizer could not be loaded, 3 other errors. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eng_folder.h"
#include "tok_util.h"
#include "tokenizer.h"

enum { CLI_OK = 0, CLI_USAGE = 1, CLI_LOAD = 2, CLI_FAIL = 3 };

static void usage(FILE *f)
{
    fputs("usage: flashgen tokenize -m MODEL_DIR [--special] [--tokens] [TEXT]\n"
          "       flashgen tokenize -m MODEL_DIR --decode [IDS...]\n"
          "Without TEXT/IDS, reads standard input.\n",
          f);
}

static int read_stdin(tk_buf_t *b)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        if (tk_buf_add(b, chunk, n))
            return -ENOMEM;
    if (ferror(stdin))
        return -EIO;
    return tk_buf_add(b, "", 0);
}

/* Parse ids out of free text: numbers separated by anything but digits and '-'. */
static int parse_ids(const char *s, tk_ids_t *ids)
{
    while (*s) {
        if (isdigit((unsigned char)*s)) {
            char *end;
            errno = 0;
            long v = strtol(s, &end, 10);
            if (errno || v > INT32_MAX)
                return -ERANGE;
            if (tk_ids_push(ids, (int32_t)v))
                return -ENOMEM;
            s = end;
        } else if (*s == '-' || !(isspace((unsigned char)*s) || strchr(",[]()", *s))) {
            return -EINVAL;
        } else {
            s++;
        }
    }
    return 0;
}

static int do_decode(const tk_tokenizer_t *tk, const tk_ids_t *ids)
{
    char *text;
    size_t len;
    int rc = tk_decode(tk, ids->v, ids->n, &text, &len);
    if (rc) {
        fprintf(stderr, "flashgen tokenize: decode failed: %s\n", strerror(-rc));
        return CLI_FAIL;
    }
    fwrite(text, 1, len, stdout);
    fputc('\n', stdout);
    free(text);
    return CLI_OK;
}

static int do_encode(const tk_tokenizer_t *tk, const char *text, size_t len, int special, int tokens)
{
    int32_t *ids;
    size_t n;
    int rc = tk_encode(tk, text, len, special, &ids, &n);
    if (rc) {
        fprintf(stderr, "flashgen tokenize: encode failed: %s\n", strerror(-rc));
        return CLI_FAIL;
    }
    for (size_t i = 0; i < n; i++) {
        if (tokens) {
            const char *t = tk_token_text(tk, ids[i]);
            printf("%d\t%s\n", ids[i], t ? t : "");
        } else {
            printf(i ? " %d" : "%d", ids[i]);
        }
    }
    if (!tokens)
        putchar('\n');
    free(ids);
    return CLI_OK;
}

int tk_cli_main(int argc, char **argv)
{
    const char *model = NULL;
    int special = 0, decode = 0, tokens = 0, i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) && i + 1 < argc)
            model = argv[++i];
        else if (strcmp(a, "--special") == 0)
            special = 1;
        else if (strcmp(a, "--decode") == 0)
            decode = 1;
        else if (strcmp(a, "--tokens") == 0)
            tokens = 1;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return CLI_OK;
        } else if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if (a[0] == '-' && a[1] && !decode) {
            fprintf(stderr, "flashgen tokenize: unknown option %s\n", a);
            usage(stderr);
            return CLI_USAGE;
        } else {
            break;
        }
    }
    if (!model) {
        usage(stderr);
        return CLI_USAGE;
    }
    char err[512] = "", note[512];
    char *dir = NULL;                   /* a Hugging Face cache repository or ORG/NAME: its snapshot */
    if (ef_resolve(model, &dir, note, sizeof note, err, sizeof err) < 0) {
        fprintf(stderr, "flashgen tokenize: %s\n", err[0] ? err : "out of memory");
        return CLI_LOAD;
    }
    tk_tokenizer_t *tk;
    int rc = tk_load(dir, &tk, err, sizeof err);
    free(dir);
    if (rc) {
        fprintf(stderr, "flashgen tokenize: %s\n", err[0] ? err : strerror(-rc));
        return CLI_LOAD;
    }
    tk_buf_t in = {0};
    int status = CLI_OK;
    if (i < argc) { /* the remaining arguments, joined by spaces */
        for (int k = i; k < argc && !rc; k++)
            if (!(rc = tk_buf_add(&in, argv[k], strlen(argv[k]))) && k + 1 < argc)
                rc = tk_buf_add(&in, " ", 1);
    } else {
        rc = read_stdin(&in);
    }
    if (!rc && !in.p)
        rc = tk_buf_add(&in, "", 0);
    if (rc) {
        fprintf(stderr, "flashgen tokenize: reading input: %s\n", strerror(-rc));
        status = CLI_FAIL;
    } else if (decode) {
        tk_ids_t ids = {0};
        if ((rc = parse_ids(in.p, &ids))) {
            fprintf(stderr, "flashgen tokenize: --decode expects token ids\n");
            status = CLI_USAGE;
        } else {
            status = do_decode(tk, &ids);
        }
        free(ids.v);
    } else {
        status = do_encode(tk, in.p, in.len, special, tokens);
    }
    tk_buf_free(&in);
    tk_free(tk);
    return status;
}
