/* it_serve.c — `flashgen serve` on the demo model (given a chat template, in a temp folder of
 * links) on a loopback port, driven with curl and with the official `openai` npm client:
 * non-streamed and streamed chat equal to `flashgen -p` greedy output on the same prompt,
 * completions, stop strings (never emitted), max_tokens, usage, /v1/models, /health, 8
 * concurrent clients, a client killed mid-stream, malformed JSON, wrong types, unknown model,
 * n > 1, unknown route, oversized body, and a clean stop on SIGTERM. */
#include <arpa/inet.h>
#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fu_util.h"
#include "harness.h"

static char dir[64], prog[PATH_MAX], base[64];
static pid_t srv_pid;
static int port;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t l = sizeof a;
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* Run a shell command line; stdout returned (malloc'd), exit status in *status. */
static char *sh(const char *cmd, int *status)
{
    const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    it_run_t r;
    ck_assert_int_eq(it_run(argv, 120000, &r), 0);
    ck_assert_msg(!r.timed_out, "timed out: %s", cmd);
    if (status)
        *status = r.status;
    char *out = strdup(r.out);
    it_run_free(&r);
    ck_assert_ptr_nonnull(out);
    return out;
}

/* POST body to path with curl; returns the response body, *code the HTTP status. */
static char *post(const char *path, const char *body, int *code)
{
    char file[128], cmd[1024];
    snprintf(file, sizeof file, "%s/req.json", dir);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fputs(body, f);
    ck_assert_int_eq(fclose(f), 0);
    snprintf(cmd, sizeof cmd, "curl -sS -N -o %s/resp -w '%%{http_code}' -H 'Content-Type: application/json' "
             "--data-binary @%s %s%s && cat %s/resp", dir, file, base, path, dir);
    int st;
    char *out = sh(cmd, &st);
    ck_assert_msg(st == 0, "curl failed: %s", cmd);
    ck_assert(strlen(out) >= 3);
    char c[4] = { out[0], out[1], out[2], 0 };
    *code = atoi(c);
    memmove(out, out + 3, strlen(out + 3) + 1);
    return out;
}

static void setup(void)
{
    static const char *const files[] = { "config.json", "generation_config.json", "model.safetensors.index.json",
                                         "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                         "tokenizer.json" };
    char src[2 * PATH_MAX], dst[PATH_MAX], cwd[PATH_MAX], rel[PATH_MAX];
    snprintf(dir, sizeof dir, "/tmp/it_serve_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    char mdir[128];
    snprintf(mdir, sizeof mdir, "%s/demo", dir);
    ck_assert_int_eq(mkdir(mdir, 0755), 0);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(src, sizeof src, "%s/tests/fixtures/demo/%s", cwd, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", mdir, files[i]);
        ck_assert_int_eq(symlink(src, dst), 0);
    }
    char *txt;
    size_t len;
    ck_assert_int_eq(fu_read_file("tests/fixtures/demo/tokenizer_config.json", 1 << 20, &txt, &len), 0);
    cJSON *tc = cJSON_ParseWithLength(txt, len);
    free(txt);
    cJSON_AddStringToObject(tc, "chat_template", "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}");
    char *out = cJSON_Print(tc);
    snprintf(dst, sizeof dst, "%s/tokenizer_config.json", mdir);
    FILE *f = fopen(dst, "w");
    ck_assert_ptr_nonnull(f);
    fputs(out, f);
    ck_assert_int_eq(fclose(f), 0);
    free(out);
    cJSON_Delete(tc);
    it_build_path("flashgen", rel, sizeof rel);
    ck_assert_ptr_nonnull(realpath(rel, prog));
    port = free_port();
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    char ports[16], log[128];
    snprintf(ports, sizeof ports, "%d", port);
    snprintf(log, sizeof log, "%s/serve.log", dir);
    srv_pid = fork();
    ck_assert_int_ge(srv_pid, 0);
    if (srv_pid == 0) {
        it_child_reset_signals();
        FILE *lf = freopen(log, "w", stderr);
        (void)lf;
        execl(prog, prog, "serve", "-m", mdir, "--port", ports, "-t", "1", (char *)NULL);
        _exit(127);
    }
    char cmd[256];
    snprintf(cmd, sizeof cmd, "for i in $(seq 200); do curl -s %s/health && exit 0; sleep 0.05; done; exit 1", base);
    int st;
    free(sh(cmd, &st));
    ck_assert_msg(st == 0, "the server did not come up (see %s)", log);
}

static void teardown(void)
{
    int st;
    ck_assert_int_eq(kill(srv_pid, SIGTERM), 0);
    ck_assert_int_eq(waitpid(srv_pid, &st, 0), srv_pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "serve exit status %d", st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* `flashgen -p prompt -n N --greedy` text without the final newline (malloc'd). */
static char *plain(const char *prompt, int n)
{
    char ns[16];
    snprintf(ns, sizeof ns, "%d", n);
    const char *argv[] = { prog, "-m", "tests/fixtures/demo", "-p", prompt, "-n", ns, "--greedy", NULL };
    it_run_t r;
    ck_assert_int_eq(it_run(argv, 60000, &r), 0);
    ck_assert_msg(r.status == 0, "flashgen -p: %s", r.err);
    char *s = strdup(r.out);
    it_run_free(&r);
    s[strlen(s) - 1] = 0;
    return s;
}

static const char *str_at(const cJSON *o, const char *path)
{
    /* path like "choices.0.message.content" */
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *x = o;
    for (char *t = strtok(buf, "."); t && x; t = strtok(NULL, "."))
        x = (*t >= '0' && *t <= '9') ? cJSON_GetArrayItem(x, atoi(t)) : cJSON_GetObjectItemCaseSensitive(x, t);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

static int num_at(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, a), b);
    ck_assert(cJSON_IsNumber(x));
    return x->valueint;
}

/* Concatenated delta contents (chat) or texts of an SSE body; checks it ends with [DONE]. */
static char *sse_text(const char *body, int chat, char *finish, size_t flen)
{
    char *acc = calloc(1, 65536);
    ck_assert_ptr_nonnull(acc);
    size_t n = 0;
    int done = 0;
    finish[0] = 0;
    for (const char *p = body; (p = strstr(p, "data: ")); ) {
        p += 6;
        const char *e = strstr(p, "\n\n");
        ck_assert_ptr_nonnull(e);
        ck_assert_msg(!done, "event after [DONE]");
        if (!strncmp(p, "[DONE]", 6)) {
            done = 1;
        } else {
            cJSON *o = cJSON_ParseWithLength(p, (size_t)(e - p));
            ck_assert_msg(o != NULL, "bad event %.*s", (int)(e - p), p);
            const char *t = str_at(o, chat ? "choices.0.delta.content" : "choices.0.text");
            const char *f = str_at(o, "choices.0.finish_reason");
            if (t) {
                ck_assert(n + strlen(t) < 65536);
                memcpy(acc + n, t, strlen(t));
                n += strlen(t);
            }
            if (f)
                snprintf(finish, flen, "%s", f);
            cJSON_Delete(o);
        }
        p = e;
    }
    ck_assert_msg(done, "no [DONE] in %s", body);
    return acc;
}

START_TEST(chat_and_completions)
{
    int code;
    char *want = plain("And God said", 16), finish[32];
    char *r = post("/v1/chat/completions",
                   "{\"model\": \"demo\", \"messages\": [{\"role\": \"user\", \"content\": \"And God said\"}],"
                   " \"max_tokens\": 16, \"temperature\": 0}", &code);
    ck_assert_int_eq(code, 200);
    cJSON *o = cJSON_Parse(r);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(str_at(o, "choices.0.message.content"), want);
    ck_assert_str_eq(str_at(o, "choices.0.message.role"), "assistant");
    ck_assert_str_eq(str_at(o, "choices.0.finish_reason"), "length");
    ck_assert_str_eq(str_at(o, "object"), "chat.completion");
    ck_assert_int_eq(num_at(o, "usage", "prompt_tokens"), 4);
    ck_assert_int_eq(num_at(o, "usage", "completion_tokens"), 16);
    ck_assert_int_eq(num_at(o, "usage", "total_tokens"), 20);
    const cJSON *cached = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "usage"), "prompt_tokens_details"),
        "cached_tokens");
    ck_assert(cJSON_IsNumber(cached) && cached->valueint == 0); /* the first request */
    cJSON_Delete(o);
    free(r);
    /* streamed: the same text in deltas, then [DONE] */
    r = post("/v1/chat/completions",
             "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"And God said\"}]}],"
             " \"max_tokens\": 16, \"temperature\": 0, \"stream\": true}", &code);
    ck_assert_int_eq(code, 200);
    char *t = sse_text(r, 1, finish, sizeof finish);
    ck_assert_str_eq(t, want);
    ck_assert_str_eq(finish, "length");
    free(t);
    free(r);
    /* completions: BOS + prompt like flashgen -p */
    r = post("/v1/completions", "{\"prompt\": \"And God said\", \"max_tokens\": 16, \"temperature\": 0}", &code);
    ck_assert_int_eq(code, 200);
    o = cJSON_Parse(r);
    ck_assert_str_eq(str_at(o, "choices.0.text"), want);
    ck_assert_str_eq(str_at(o, "object"), "text_completion");
    /* the same 4 ids as the chat prompt: all but the last (always fed) come from the KV cache */
    cached = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "usage"), "prompt_tokens_details"),
        "cached_tokens");
    ck_assert(cJSON_IsNumber(cached) && cached->valueint == 3);
    cJSON_Delete(o);
    free(r);
    /* max_tokens */
    r = post("/v1/completions", "{\"prompt\": \"And God said\", \"max_completion_tokens\": 3, \"temperature\": 0}", &code);
    o = cJSON_Parse(r);
    ck_assert_int_eq(num_at(o, "usage", "completion_tokens"), 3);
    ck_assert_str_eq(str_at(o, "choices.0.finish_reason"), "length");
    cJSON_Delete(o);
    free(r);
    free(want);
}
END_TEST

START_TEST(stop_strings)
{
    int code;
    char *want = plain("And God said", 16), finish[32];
    const char *cut = strstr(want, ", and");
    ck_assert_ptr_nonnull(cut); /* " unto him, Because thou hast asked this thing, and ..." */
    size_t keep = (size_t)(cut - want);
    char *r = post("/v1/completions", "{\"prompt\": \"And God said\", \"max_tokens\": 16, \"temperature\": 0,"
                   " \"stop\": [\"zzz\", \", and\"]}", &code);
    ck_assert_int_eq(code, 200);
    cJSON *o = cJSON_Parse(r);
    const char *text = str_at(o, "choices.0.text");
    ck_assert_uint_eq(strlen(text), keep);
    ck_assert(!strncmp(text, want, keep));
    ck_assert_str_eq(str_at(o, "choices.0.finish_reason"), "stop");
    cJSON_Delete(o);
    free(r);
    r = post("/v1/completions", "{\"prompt\": \"And God said\", \"max_tokens\": 16, \"temperature\": 0,"
             " \"stop\": \", and\", \"stream\": true}", &code);
    char *t = sse_text(r, 0, finish, sizeof finish);
    ck_assert_uint_eq(strlen(t), keep);
    ck_assert(!strncmp(t, want, keep));
    ck_assert_str_eq(finish, "stop");
    ck_assert_ptr_null(strstr(r, ", and")); /* never emitted, not even split over events */
    free(t);
    free(r);
    free(want);
}
END_TEST

START_TEST(errors)
{
    static const struct { const char *path, *body; int code; const char *param, *ecode; } cases[] = {
        { "/v1/chat/completions", "{\"messages\": [", 400, NULL, "invalid_json" },
        { "/v1/chat/completions", "[1]", 400, NULL, "invalid_type" },
        { "/v1/chat/completions", "{\"messages\": \"hi\"}", 400, "messages", "invalid_type" },
        { "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"temperature\": \"hot\"}",
          400, "temperature", "invalid_type" },
        { "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"max_tokens\": 0}",
          400, "max_tokens", "invalid_value" },
        { "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"n\": 2}", 400, "n",
          "invalid_value" },
        { "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"stop\": 5}", 400, "stop",
          "invalid_type" },
        { "/v1/chat/completions", "{\"model\": \"gpt-4\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}", 404,
          "model", "model_not_found" },
        { "/v1/completions", "{\"prompt\": 3}", 400, "prompt", "invalid_type" },
        { "/v1/nothing", "{}", 404, NULL, "not_found" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int code;
        char *r = post(cases[i].path, cases[i].body, &code);
        ck_assert_msg(code == cases[i].code, "%s: status %d (%s)", cases[i].body, code, r);
        cJSON *o = cJSON_Parse(r), *e = cJSON_GetObjectItemCaseSensitive(o, "error");
        ck_assert_msg(cJSON_IsObject(e), "%s: %s", cases[i].body, r);
        ck_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "message")));
        ck_assert_str_eq(str_at(e, "type"), "invalid_request_error");
        const char *p = str_at(e, "param");
        ck_assert_msg(cases[i].param ? p && !strcmp(p, cases[i].param) : !p, "%s: param %s", cases[i].body, r);
        ck_assert_str_eq(str_at(e, "code"), cases[i].ecode);
        cJSON_Delete(o);
        free(r);
    }
    /* oversized body: 413 */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "head -c 2000000 /dev/zero | tr '\\0' a | curl -sS -o /dev/null -w '%%{http_code}' "
             "--data-binary @- %s/v1/completions", base);
    char *o = sh(cmd, NULL);
    ck_assert_str_eq(o, "413");
    free(o);
    snprintf(cmd, sizeof cmd, "curl -sS %s/v1/models; echo; curl -sS %s/health", base, base);
    o = sh(cmd, NULL);
    ck_assert_str_eq(o, "{\"object\":\"list\",\"data\":[{\"id\":\"demo\",\"object\":\"model\",\"created\":0,"
                        "\"owned_by\":\"flashgen\"}]}\n{\"status\":\"ok\"}");
    free(o);
}
END_TEST

START_TEST(concurrent_and_killed_clients)
{
    char *want = plain("And God said", 16), cmd[2048];
    /* a client that goes away in the middle of a long stream */
    snprintf(cmd, sizeof cmd, "curl -sS -N --max-time 0.3 -d '{\"prompt\": \"And God said\", \"max_tokens\": 480, "
             "\"stream\": true}' %s/v1/completions > %s/killed.out; echo $?", base, dir);
    char *o = sh(cmd, NULL);
    ck_assert_str_eq(o, "28\n"); /* curl's timeout: the client hung up mid-stream */
    free(o);
    /* 8 clients at once: all answered, each with the greedy text */
    snprintf(cmd, sizeof cmd, "for i in 1 2 3 4 5 6 7 8; do curl -sS -o %s/c$i -w '%%{http_code}\\n' -d "
             "'{\"messages\": [{\"role\": \"user\", \"content\": \"And God said\"}], \"max_tokens\": 16, "
             "\"temperature\": 0}' %s/v1/chat/completions > %s/s$i & done; wait; cat %s/s1 %s/s2 %s/s3 %s/s4 %s/s5 "
             "%s/s6 %s/s7 %s/s8", dir, base, dir, dir, dir, dir, dir, dir, dir, dir, dir);
    o = sh(cmd, NULL);
    ck_assert_str_eq(o, "200\n200\n200\n200\n200\n200\n200\n200\n");
    free(o);
    long ids[8];
    for (int i = 0; i < 8; i++) {
        char path[128], *txt;
        size_t len;
        snprintf(path, sizeof path, "%s/c%d", dir, i + 1);
        ck_assert_int_eq(fu_read_file(path, 1 << 20, &txt, &len), 0);
        cJSON *j = cJSON_Parse(txt);
        free(txt);
        ck_assert_str_eq(str_at(j, "choices.0.message.content"), want);
        const char *id = str_at(j, "id");
        ck_assert_ptr_nonnull(id);
        ids[i] = strtol(strrchr(id, '-') + 1, NULL, 10);
        cJSON_Delete(j);
    }
    for (int i = 0; i < 8; i++)
        for (int k = i + 1; k < 8; k++)
            ck_assert_int_ne(ids[i], ids[k]);
    free(want);
}
END_TEST

START_TEST(openai_npm_client)
{
    char cmd[3 * PATH_MAX], npmdir[PATH_MAX + 64], cwd[PATH_MAX / 2];
    int st;
    char *o = sh("command -v npm >/dev/null && command -v node >/dev/null && echo yes || echo no", NULL);
    if (strcmp(o, "yes\n")) {
        fprintf(stderr, "it_serve: npm/node absent, skipping the openai client test\n");
        free(o);
        return;
    }
    free(o);
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    snprintf(npmdir, sizeof npmdir, "%s/%s/npm-openai", cwd, it_build_dir());
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cd %s && { [ -d node_modules/openai ] || npm install --silent --no-audit "
             "--no-fund openai@4 >/dev/null 2>&1; } && [ -d node_modules/openai ] && echo ok", npmdir, npmdir);
    o = sh(cmd, &st);
    if (strcmp(o, "ok\n")) {
        fprintf(stderr, "it_serve: npm install openai failed (offline?), skipping the openai client test\n");
        free(o);
        return;
    }
    free(o);
    char js[PATH_MAX + 2048];
    snprintf(js, sizeof js,
             "const OpenAI = require('%s/node_modules/openai');"
             "const c = new OpenAI({ baseURL: '%s/v1', apiKey: 'none' });"
             "(async () => {"
             " const r = await c.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'And God said' }],"
             "   max_tokens: 16, temperature: 0 });"
             " let s = '';"
             " const st = await c.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: 'And God said' }],"
             "   max_tokens: 16, temperature: 0, stream: true });"
             " for await (const ch of st) s += ch.choices[0]?.delta?.content || '';"
             " const m = await c.models.list();"
             " let e = 0; try { await c.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }); }"
             " catch (x) { e = x.status; }"
             " console.log(JSON.stringify([r.choices[0].message.content, s, m.data[0].id, e]));"
             "})().catch(x => { console.error(x); process.exit(1); });",
             npmdir, base);
    char jsfile[128];
    snprintf(jsfile, sizeof jsfile, "%s/client.js", dir);
    FILE *f = fopen(jsfile, "w");
    ck_assert_ptr_nonnull(f);
    fputs(js, f);
    ck_assert_int_eq(fclose(f), 0);
    char run[512];
    snprintf(run, sizeof run, "node %s", jsfile);
    o = sh(run, &st);
    ck_assert_msg(st == 0, "node client failed: %s", o);
    char *want = plain("And God said", 16);
    cJSON *a = cJSON_Parse(o);
    ck_assert_msg(cJSON_IsArray(a), "node printed %s", o);
    ck_assert_str_eq(cJSON_GetArrayItem(a, 0)->valuestring, want);
    ck_assert_str_eq(cJSON_GetArrayItem(a, 1)->valuestring, want);
    ck_assert_str_eq(cJSON_GetArrayItem(a, 2)->valuestring, "demo");
    ck_assert_int_eq(cJSON_GetArrayItem(a, 3)->valueint, 404);
    cJSON_Delete(a);
    free(want);
    free(o);
}
END_TEST

Suite *it_serve_suite(void)
{
    Suite *s = suite_create("it_serve");
    TCase *tc = tcase_create("serve");
    tcase_set_timeout(tc, IT_TCASE_TIMEOUT);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, chat_and_completions);
    tcase_add_test(tc, stop_strings);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, concurrent_and_killed_clients);
    tcase_add_test(tc, openai_npm_client);
    suite_add_tcase(s, tc);
    return s;
}
