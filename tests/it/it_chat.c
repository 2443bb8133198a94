/* it_chat.c — `flashgen chat` on the demo model given a chat template (a temp folder of links
 * to tests/fixtures/demo with a tokenizer_config.json that has one): greedy answers equal
 * `flashgen -p` on the same rendered prompt, the second turn prefills only its new tokens,
 * /reset starts over, Ctrl-C stops an answer but not the program, a model without a
 * template is refused. */
#include <check.h>
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fu_util.h"
#include "harness.h"

static char dir[64], prog[PATH_MAX];

static void setup(void)
{
    static const char *const files[] = { "config.json", "generation_config.json", "model.safetensors.index.json",
                                         "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                         "tokenizer.json" };
    char src[2 * PATH_MAX], dst[PATH_MAX], cwd[PATH_MAX];
    snprintf(dir, sizeof dir, "/tmp/it_chat_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(src, sizeof src, "%s/tests/fixtures/demo/%s", cwd, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        ck_assert_int_eq(symlink(src, dst), 0);
    }
    char *txt;
    size_t len;
    ck_assert_int_eq(fu_read_file("tests/fixtures/demo/tokenizer_config.json", 1 << 20, &txt, &len), 0);
    cJSON *tc = cJSON_ParseWithLength(txt, len);
    free(txt);
    ck_assert_ptr_nonnull(tc);
    cJSON_AddStringToObject(tc, "chat_template", "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}");
    char *out = cJSON_Print(tc);
    snprintf(dst, sizeof dst, "%s/tokenizer_config.json", dir);
    FILE *f = fopen(dst, "w");
    ck_assert_ptr_nonnull(f);
    fputs(out, f);
    ck_assert_int_eq(fclose(f), 0);
    free(out);
    cJSON_Delete(tc);
    char rel[PATH_MAX];
    it_build_path("flashgen", rel, sizeof rel);
    ck_assert_ptr_nonnull(realpath(rel, prog)); /* the Ctrl-C script runs it from dir */
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* `flashgen -p prompt -n 16 --greedy`'s text (without the final newline), malloc'd. */
static char *plain(const char *prompt)
{
    const char *argv[] = { prog, "-m", "tests/fixtures/demo", "-p", prompt, "-n", "16", "--greedy", NULL };
    it_run_t r;
    ck_assert_int_eq(it_run(argv, 60000, &r), 0);
    ck_assert_msg(r.status == 0, "flashgen -p: %s", r.err);
    char *s = strdup(r.out);
    it_run_free(&r);
    ck_assert_ptr_nonnull(s);
    size_t n = strlen(s);
    ck_assert(n > 0 && s[n - 1] == '\n');
    s[n - 1] = 0;
    return s;
}

START_TEST(turns_match_plain_generation)
{
    char cmd[2 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "printf 'And God said\\n, Let there be\\n/reset\\nAnd God said\\n/exit\\nnot read\\n' | "
             "%s chat -m %s --greedy -n 16 --stats", prog, dir);
    const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    it_run_t r;
    ck_assert_int_eq(it_run(argv, 60000, &r), 0);
    ck_assert_msg(r.status == 0, "chat: %d %s", r.status, r.err);
    char *a = plain("And God said");
    char second[1024];
    snprintf(second, sizeof second, "And God said%s, Let there be", a);
    char *b = plain(second);
    char want[4096];
    snprintf(want, sizeof want, "%s\n%s\n%s\n", a, b, a);
    ck_assert_msg(!strcmp(r.out, want), "chat printed\n%s\nwant\n%s", r.out, want);
    /* turn 2 reuses the KV cache of turn 1: only the tokens after the shared prefix are fed */
    int p1, n1, p2, n2, p3, n3;
    const char *s = strstr(r.err, "[prefilled ");
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(sscanf(s, "[prefilled %d of %d", &p1, &n1), 2);
    ck_assert_ptr_nonnull(s = strstr(s + 1, "[prefilled "));
    ck_assert_int_eq(sscanf(s, "[prefilled %d of %d", &p2, &n2), 2);
    ck_assert_ptr_nonnull(s = strstr(s + 1, "[prefilled "));
    ck_assert_int_eq(sscanf(s, "[prefilled %d of %d", &p3, &n3), 2);
    ck_assert_int_eq(p1, n1);
    ck_assert_msg(p2 < n2 - 16, "turn 2 prefilled %d of %d tokens", p2, n2);
    ck_assert_int_eq(p3, n3); /* after /reset */
    ck_assert_int_eq(n3, n1);
    ck_assert_ptr_nonnull(strstr(r.err, "[conversation reset]"));
    free(a);
    free(b);
    it_run_free(&r);
}
END_TEST

START_TEST(ctrl_c_stops_the_answer_only)
{
    char cmd[4 * PATH_MAX];
    /* a long answer (up to the 512-token context, one thread, layers streamed) is interrupted as
     * soon as it starts printing; the next turn is still answered */
    snprintf(cmd, sizeof cmd,
             "cd %s && mkfifo in || exit 1; (%s chat -m . --greedy -n 500 --stats -t 1 --ram 9M < in > out 2> err & "
             "echo $! > pid; wait $!; echo \"rc=$?\" > rc) & "
             "exec 3> in; echo 'And God said' >&3; i=0; while [ ! -s out ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done; "
             "kill -INT $(cat pid); sleep 0.5; echo 'And God said' >&3; echo /exit >&3; exec 3>&-; "
             "while [ ! -s rc ]; do sleep 0.05; done; cat rc err",
             dir, prog);
    const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    it_run_t r;
    ck_assert_int_eq(it_run(argv, 120000, &r), 0);
    ck_assert_msg(r.status == 0 && !r.timed_out, "script: %d %s", r.status, r.err);
    ck_assert_msg(!strncmp(r.out, "rc=0\n", 5), "chat exit: %s", r.out);
    const char *s1 = strstr(r.out, "[prefilled "), *s2 = s1 ? strstr(s1 + 1, "[prefilled ") : NULL;
    ck_assert_msg(s1 && s2, "two turns expected: %s", r.out);
    int g1;
    ck_assert_int_eq(sscanf(strstr(s1, "tokens in"), "tokens in %*f s, %d generated", &g1), 1);
    ck_assert_msg(strstr(s1, ", stopped]") && strstr(s1, ", stopped]") < s2, "first answer not stopped: %s", r.out);
    ck_assert_msg(g1 < 400, "the first answer ran to %d tokens", g1);
    it_run_free(&r);
}
END_TEST

START_TEST(no_template)
{
    const char *argv[] = { prog, "chat", "-m", "tests/fixtures/demo", NULL };
    it_run_t r;
    ck_assert_int_eq(it_run(argv, 60000, &r), 0);
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "has no chat template"));
    it_run_free(&r);
}
END_TEST

Suite *it_chat_suite(void)
{
    Suite *s = suite_create("it_chat");
    TCase *tc = tcase_create("chat");
    tcase_set_timeout(tc, IT_TCASE_TIMEOUT);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, turns_match_plain_generation);
    tcase_add_test(tc, ctrl_c_stops_the_answer_only);
    tcase_add_test(tc, no_template);
    suite_add_tcase(s, tc);
    return s;
}
