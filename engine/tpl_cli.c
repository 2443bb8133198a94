/* tpl_cli.c — `flashgen template`: print a model's chat template rendered for messages.
 *
 *   flashgen template -m MODEL --messages FILE.json [--add-generation-prompt] [--tools FILE.json]
 *                     [--var NAME=JSON]... [--ids]
 * FILE.json is a JSON array of messages, or an object with "messages" (and "tools"); "-" is
 * standard input. The prompt is printed exactly, without a newline added; --ids prints its
 * token ids instead (encoded without special tokens, as apply_chat_template(tokenize=True)).
 * Exit status: 0 ok, 1 usage, 2 the model has no usable template or tokenizer, 3 bad
 * messages/tools/--var JSON, 4 render error (raise_exception, undefined, ...). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fu_util.h"
#include "json_util.h"
#include "template.h"
#include "tok_util.h"
#include "tokenizer.h"

enum { TC_OK = 0, TC_USAGE = 1, TC_LOAD = 2, TC_INPUT = 3, TC_RENDER = 4 };

static void usage(FILE *f)
{
    fputs("usage: flashgen template -m MODEL --messages FILE.json [--add-generation-prompt]\n"
          "                         [--tools FILE.json] [--var NAME=JSON]... [--ids]\n"
          "FILE.json: a JSON array of messages, or {\"messages\": [...], \"tools\": [...]}; - is stdin.\n",
          f);
}

static int read_all(const char *path, char **txt, size_t *len)
{
    if (strcmp(path, "-"))
        return fu_read_file(path, 64u << 20, txt, len);
    tk_buf_t b = { 0 };
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        if (tk_buf_add(&b, chunk, n) || b.len > (64u << 20)) {
            tk_buf_free(&b);
            return -ENOMEM;
        }
    if (tk_buf_add(&b, "", 0)) {
        tk_buf_free(&b);
        return -ENOMEM;
    }
    *txt = b.p;
    *len = b.len;
    return 0;
}

/* Parse a JSON file (floats kept as floats). */
static int load_json(const char *path, cJSON **out)
{
    char *txt, err[256] = "";
    size_t len;
    int rc = read_all(path, &txt, &len);
    if (rc) {
        fprintf(stderr, "flashgen template: %s: %s\n", path, strerror(-rc));
        return rc;
    }
    rc = js_parse(txt, len, 0, path, out, err, sizeof err);
    if (rc)
        fprintf(stderr, "flashgen template: %s\n", err);
    else
        tpl_json_mark_floats(*out, txt, len);
    free(txt);
    return rc;
}

static int print_ids(const char *model, const char *text, size_t len)
{
    char err[256] = "";
    tk_tokenizer_t *tk;
    int32_t *ids;
    size_t n;
    int rc = tk_load(model, &tk, err, sizeof err);
    if (rc) {
        fprintf(stderr, "flashgen template: tokenizer of %s: %s\n", model, err[0] ? err : strerror(-rc));
        return TC_LOAD;
    }
    rc = tk_encode(tk, text, len, 0, &ids, &n);
    if (rc == 0) {
        for (size_t i = 0; i < n; i++)
            printf(i ? " %d" : "%d", ids[i]);
        printf("\n");
        free(ids);
    }
    tk_free(tk);
    return rc ? TC_RENDER : TC_OK;
}

int tpl_cli_main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "model", required_argument, 0, 'm' }, { "messages", required_argument, 0, 'M' },
        { "add-generation-prompt", no_argument, 0, 'g' }, { "tools", required_argument, 0, 'T' },
        { "var", required_argument, 0, 'V' }, { "ids", no_argument, 0, 'I' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 } };
    const char *model = NULL, *mfile = NULL, *tfile = NULL;
    int add_gen = 0, ids = 0, c, code = TC_OK;
    cJSON *extra = cJSON_CreateObject(), *msgs = NULL, *tools = NULL;
    if (!extra)
        return TC_LOAD;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:h", lo, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'M': mfile = optarg; break;
        case 'g': add_gen = 1; break;
        case 'T': tfile = optarg; break;
        case 'I': ids = 1; break;
        case 'V': {
            const char *eq = strchr(optarg, '=');
            cJSON *v;
            if (!eq || eq == optarg) {
                fprintf(stderr, "flashgen template: --var wants NAME=JSON, got '%s'\n", optarg);
                cJSON_Delete(extra);
                return TC_USAGE;
            }
            char err[256];
            if (js_parse(eq + 1, strlen(eq + 1), 0, "--var", &v, err, sizeof err)) {
                fprintf(stderr, "flashgen template: --var %.*s: %s\n", (int)(eq - optarg), optarg, err);
                cJSON_Delete(extra);
                return TC_INPUT;
            }
            tpl_json_mark_floats(v, eq + 1, strlen(eq + 1));
            char *name = strndup(optarg, (size_t)(eq - optarg));
            if (!name || !cJSON_AddItemToObject(extra, name, v)) {
                free(name);
                cJSON_Delete(v);
                cJSON_Delete(extra);
                return TC_LOAD;
            }
            free(name);
            break;
        }
        case 'h': usage(stdout); cJSON_Delete(extra); return TC_OK;
        case ':':
            fprintf(stderr, "flashgen template: %s needs a value\n", argv[optind - 1]);
            cJSON_Delete(extra);
            return TC_USAGE;
        default:
            fprintf(stderr, "flashgen template: unknown option %s\n", argv[optind - 1]);
            usage(stderr);
            cJSON_Delete(extra);
            return TC_USAGE;
        }
    }
    if (!model || !mfile || optind < argc) {
        fprintf(stderr, "flashgen template: %s\n", optind < argc ? "unexpected argument" : "-m and --messages are required");
        usage(stderr);
        cJSON_Delete(extra);
        return TC_USAGE;
    }
    char err[512] = "";
    tpl_chat_t *chat = NULL;
    char *out = NULL;
    size_t len = 0;
    int rc = tpl_chat_load(model, &chat, err, sizeof err);
    if (rc) {
        fprintf(stderr, "flashgen template: %s\n", err[0] ? err : strerror(-rc));
        code = TC_LOAD;
    } else if (load_json(mfile, &msgs) || (tfile && load_json(tfile, &tools))) {
        code = TC_INPUT;
    } else {
        cJSON *m = msgs, *t = tools;
        if (cJSON_IsObject(msgs)) {
            m = cJSON_GetObjectItemCaseSensitive(msgs, "messages");
            if (!t) {
                t = cJSON_GetObjectItemCaseSensitive(msgs, "tools");
                if (cJSON_IsNull(t))
                    t = NULL;
            }
        }
        if (!cJSON_IsArray(m)) {
            fprintf(stderr, "flashgen template: %s: expected a JSON array of messages\n", mfile);
            code = TC_INPUT;
        } else if ((rc = tpl_chat_render(chat, m, t, add_gen, extra, &out, &len, err, sizeof err))) {
            fprintf(stderr, "flashgen template: %s\n", err[0] ? err : strerror(-rc));
            code = TC_RENDER;
        } else if (ids) {
            code = print_ids(model, out, len);
        } else if (fwrite(out, 1, len, stdout) != len || fflush(stdout)) {
            code = TC_RENDER;
        }
    }
    free(out);
    tpl_chat_free(chat);
    cJSON_Delete(msgs);
    cJSON_Delete(tools);
    cJSON_Delete(extra);
    return code;
}
