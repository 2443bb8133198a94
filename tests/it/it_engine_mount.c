/* it_engine_mount.c — flashgen streaming its weights through a real flashfs mount whose RAM
 * budget is smaller than the model: logits / top-5 / greedy parity with the reference for
 * every fixture incl. the MLX-quantized ones (streamed, and resident as a control), an MLX
 * folder packed with flashfs-pack, and the flashgen command line on
 * the mounted demo model reproducing the reference's greedy text. */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/eng_testutil.h"
#include "harness.h"

static const char *const fixtures[] = { "tests/fixtures/demo", "tests/fixtures/dev/llama-sp-f32",
                                        "tests/fixtures/dev/qwen2-bl-bf16",
                                        "tests/fixtures/mlx/demo-mlx-4bit",
                                        "tests/fixtures/mlx/demo-mlx-8bit-g32",
                                        "tests/fixtures/mlx/qwen2-mlx-4bit-tied" };
#define N_FIX (int)(sizeof fixtures / sizeof *fixtures)

/* Mount budget: 4 MiB (the daemon's minimum) is below the demo model's 13 MB. */
static const char *const mount_args[] = { "--ram", "4M", NULL };

static void mount_model(it_mount_t *m, const char *model)
{
    char err[1024];
    ck_assert_msg(it_mount_start(m, model, mount_args, err, sizeof err) == 0, "%s", err);
}

START_TEST(parity_through_mount)
{
    it_mount_t m;
    mount_model(&m, fixtures[_i]);
    etu_ref_t r;
    etu_load_ref(fixtures[_i], &r);   /* the reference is read from the original folder */
    em_opts_t stream = { .n_threads = 2, .mode = EM_STREAM };
    double ws = etu_check_parity(m.mnt, &stream, &r, 1e-3);
    em_opts_t resident = { .n_threads = 2, .mode = EM_RESIDENT };
    double wr = etu_check_parity(m.mnt, &resident, &r, 1e-3);
    printf("mount parity %-34s streamed worst %.3g, resident worst %.3g\n", fixtures[_i], ws, wr);
    etu_free_ref(&r);
    ck_assert_int_eq(it_mount_stop(&m), 0);
}
END_TEST

START_TEST(mlx_packed_through_mount)
{
    /* An MLX-quantized folder packed with flashfs-pack, mounted: same numbers. */
    const char *model = "tests/fixtures/mlx/demo-mlx-4bit";
    char tmp[] = "/tmp/flashgen-mlxpack-XXXXXX", out[512], prog[1024];
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    snprintf(out, sizeof out, "%s/packed", tmp);
    it_build_path("flashfs-pack", prog, sizeof prog);
    const char *argv[] = { prog, model, out, "--quiet", "--verify", NULL };
    it_run_t pr;
    ck_assert_int_eq(it_run(argv, 120000, &pr), 0);
    ck_assert_msg(pr.status == 0, "flashfs-pack failed (%d): %s", pr.status, pr.err);
    it_run_free(&pr);
    it_mount_t m;
    mount_model(&m, out);
    etu_ref_t r;
    etu_load_ref(model, &r);
    em_opts_t stream = { .n_threads = 2, .mode = EM_STREAM };
    double ws = etu_check_parity(m.mnt, &stream, &r, 1e-3);
    printf("packed mount parity %-34s streamed worst %.3g\n", model, ws);
    etu_free_ref(&r);
    ck_assert_int_eq(it_mount_stop(&m), 0);
    const char *rm[] = { "rm", "-rf", tmp, NULL };
    ck_assert_int_eq(it_run(rm, 30000, &pr), 0);
    ck_assert_int_eq(pr.status, 0);
    it_run_free(&pr);
}
END_TEST

START_TEST(cli_demo_through_mount)
{
    const char *model = fixtures[0];
    char path[1024], *text = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/reference.json", model);
    ck_assert_int_eq(it_slurp(path, &text, &len), 0);
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    ck_assert_ptr_nonnull(root);
    const cJSON *p0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "prompts"), 0);
    const char *prompt = cJSON_GetObjectItemCaseSensitive(p0, "prompt")->valuestring;
    const char *want = cJSON_GetObjectItemCaseSensitive(p0, "greedy_text")->valuestring;
    int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(p0, "greedy"));
    char nbuf[16];
    snprintf(nbuf, sizeof nbuf, "%d", n);

    it_mount_t m;
    mount_model(&m, model);
    char prog[1024];
    it_build_path("flashgen", prog, sizeof prog);
    /* Streaming with a flashgen budget smaller than the model too. */
    const char *argv[] = { prog, "-m", m.mnt, "-p", prompt, "-n", nbuf, "--greedy", "--ignore-eos",
                           "--stream", "--ram", "8M", "--stats", "-t", "2", NULL };
    it_run_t r;
    ck_assert_int_eq(it_run(argv, 120000, &r), 0);
    ck_assert_msg(r.status == 0, "flashgen failed (%d): %s", r.status, r.err);
    ck_assert_msg(r.out_len == strlen(want) + 1 && !memcmp(r.out, want, strlen(want)) && r.out[r.out_len - 1] == '\n',
                  "flashgen printed '%s', reference '%s'", r.out, want);
    ck_assert_msg(strstr(r.err, "decode_tok_s:") && strstr(r.err, "peak_rss:") && strstr(r.err, "streaming"),
                  "no stats: %s", r.err);
    it_run_free(&r);
    cJSON_Delete(root);
    ck_assert_int_eq(it_mount_stop(&m), 0);
}
END_TEST

Suite *it_engine_mount_suite(void)
{
    Suite *s = suite_create("it_engine_mount");
    TCase *tc = tcase_create("engine_mount");
    tcase_set_timeout(tc, IT_TCASE_TIMEOUT);
    tcase_add_loop_test(tc, parity_through_mount, 0, N_FIX);
    tcase_add_test(tc, cli_demo_through_mount);
    tcase_add_test(tc, mlx_packed_through_mount);
    suite_add_tcase(s, tc);
    return s;
}
