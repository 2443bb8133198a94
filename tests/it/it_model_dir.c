/* it_model_dir.c — model folders that are not what they seem (issue 13, "Real model folders"):
 *   - the mount of an empty directory, of one whose every entry is hidden (an escaping link,
 *     a fifo) or of one without any model file warns on stderr naming why, and still mounts
 *     (exit 0); the demo model gets none of these warnings;
 *   - flashgen -m on a folder holding one GGUF model (no config.json), or on the .gguf file,
 *     runs it (resident and --stream, llama.cpp's first greedy tokens);
 *   - flashgen -m on a folder it cannot read names what it found: several GGUF files ("name
 *     one with -m"), a packed folder ("mount it with flashfs first"), an empty folder, a folder
 *     without config.json; exit status 2. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fu_util.h"
#include "harness.h"

/* Mount dir, wait, and return the daemon's log so far (malloc'd); unmounts, exit 0. */
static char *mount_log(const char *dir)
{
    it_mount_t m;
    char err[2048];
    ck_assert_msg(it_mount_start(&m, dir, NULL, err, sizeof err) == 0, "%s", err);
    char *log = NULL;
    size_t len = 0;
    ck_assert_int_eq(fu_read_file(m.log, 1 << 20, &log, &len), 0);
    ck_assert_int_eq(it_mount_stop(&m), 0);
    return log;
}

static void expect_in(const char *text, const char *want)
{
    ck_assert_msg(strstr(text, want) != NULL, "missing \"%s\" in:\n%s", want, text);
}

START_TEST(mount_warns_empty_hidden_no_model)
{
    char top[1024], d[1200], p[1400], want[4096];
    ck_assert_int_eq(it_tmpdir(top, sizeof top), 0);

    /* empty */
    snprintf(d, sizeof d, "%s/empty", top);
    ck_assert_int_eq(mkdir(d, 0755), 0);
    char *log = mount_log(d);
    snprintf(want, sizeof want, "warning: %s is empty: the mount shows no files", d);
    expect_in(log, want);
    free(log);

    /* everything hidden: a link to /etc/passwd and a fifo */
    snprintf(d, sizeof d, "%s/hidden", top);
    ck_assert_int_eq(mkdir(d, 0755), 0);
    snprintf(p, sizeof p, "%s/config.json", d);
    ck_assert_int_eq(symlink("/etc/passwd", p), 0);
    snprintf(p, sizeof p, "%s/pipe", d);
    ck_assert_int_eq(mkfifo(p, 0644), 0);
    log = mount_log(d);
    snprintf(want, sizeof want, "warning: %s: the mount shows no files: all 2 entries are hidden (1 symlinks that "
             "escape the model directory or dangle, 1 fifos/sockets/devices, 0 others); a Hugging Face cache snapshot "
             "is mounted in place", d);
    expect_in(log, want);
    free(log);

    /* files, but no model file */
    snprintf(d, sizeof d, "%s/notes", top);
    ck_assert_int_eq(mkdir(d, 0755), 0);
    snprintf(p, sizeof p, "%s/README.txt", d);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs("hello\n", f);
    fclose(f);
    log = mount_log(d);
    snprintf(want, sizeof want, "warning: %s has no model file (*.safetensors, *.gguf or a flashfs-pack file): its 1 "
             "files are served without layer prefetch", d);
    expect_in(log, want);
    free(log);

    /* the demo: no such warning */
    log = mount_log("tests/fixtures/demo");
    ck_assert_msg(!strstr(log, "no model file") && !strstr(log, "shows no files"), "unexpected warning:\n%s", log);
    free(log);
    it_rm_rf(top);
}
END_TEST

/* flashgen -m dir -p hi: status 2 and want in stderr. */
static void expect_flashgen(const char *dir, const char *want)
{
    char prog[1024];
    it_build_path("flashgen", prog, sizeof prog);
    const char *argv[] = { prog, "-m", dir, "-p", "hi", "-n", "1", NULL };
    it_run_t r;
    ck_assert_int_eq(it_run(argv, 60000, &r), 0);
    ck_assert_msg(r.status == 2, "flashgen -m %s: status %d, stderr %s", dir, r.status, r.err);
    expect_in(r.err, want);
    ck_assert_msg(!strstr(r.err, "config.json: cannot read"), "flashgen -m %s: %s", dir, r.err);
    it_run_free(&r);
}

/* flashgen -m path --greedy -n 5 "And God said" (--stream): status 0 and the first five tokens of
 * llama.cpp's greedy text (tests/fixtures/gguf/llama_cpp.json: " unto him, Because thou"). */
static void expect_runs(const char *path)
{
    char prog[1024];
    it_build_path("flashgen", prog, sizeof prog);
    for (int stream = 0; stream < 2; stream++) {
        const char *argv[] = { prog, "-m", path, "-p", "And God said", "-n", "5", "--greedy",
                               stream ? "--stream" : "--resident", NULL };
        it_run_t r;
        ck_assert_int_eq(it_run(argv, 60000, &r), 0);
        ck_assert_msg(r.status == 0, "flashgen -m %s: status %d, stderr %s", path, r.status, r.err);
        ck_assert_str_eq(r.out, " unto him, Because thou\n");
        it_run_free(&r);
    }
}

START_TEST(flashgen_names_what_it_found)
{
    char top[1024], d[1200], p[1400], want[4096];
    ck_assert_int_eq(it_tmpdir(top, sizeof top), 0);

    /* a folder holding one GGUF model (and no config.json) is that model; so is the file */
    snprintf(d, sizeof d, "%s/gguf", top);
    ck_assert_int_eq(mkdir(d, 0755), 0);
    snprintf(p, sizeof p, "%s/demo-q8_0.gguf", d);
    ck_assert_int_eq(fu_copy_file("tests/fixtures/gguf/demo-q8_0.gguf", p), 0);
    expect_runs(d);
    expect_runs(p);
    /* two GGUF files: flashgen asks for one */
    snprintf(p, sizeof p, "%s/demo-bf16.gguf", d);
    ck_assert_int_eq(fu_copy_file("tests/fixtures/gguf/demo-bf16.gguf", p), 0);
    snprintf(want, sizeof want, "flashgen: %s holds 2 GGUF files and no config.json: name one with -m (e.g. -m %s/demo-", d,
             d);
    expect_flashgen(d, want);

    snprintf(d, sizeof d, "%s/packed", top);
    char prog[1024];
    it_build_path("flashfs-pack", prog, sizeof prog);
    const char *argv[] = { prog, "tests/fixtures/demo", d, NULL };
    it_run_t r;
    ck_assert_int_eq(it_run(argv, 120000, &r), 0);
    ck_assert_msg(r.status == 0, "flashfs-pack: %s", r.err);
    it_run_free(&r);
    snprintf(want, sizeof want, "flashgen: %s holds files packed by flashfs-pack (model-0000", d);
    expect_flashgen(d, want);
    expect_flashgen(d, "): mount it with flashfs first");

    snprintf(d, sizeof d, "%s/empty", top);
    ck_assert_int_eq(mkdir(d, 0755), 0);
    snprintf(want, sizeof want, "flashgen: %s is empty (-m takes a Hugging Face model folder", d);
    expect_flashgen(d, want);

    snprintf(p, sizeof p, "%s/README.txt", d);
    ck_assert_int_eq(fu_copy_file("tests/fixtures/demo/tokenizer_config.json", p), 0);
    snprintf(want, sizeof want, "flashgen: %s has no config.json: not a Hugging Face model folder (1 other entries)", d);
    expect_flashgen(d, want);
    it_rm_rf(top);
}
END_TEST

Suite *it_model_dir_suite(void)
{
    Suite *s = suite_create("it_model_dir");
    TCase *tc = tcase_create("model_dir");
    tcase_set_timeout(tc, IT_TCASE_TIMEOUT);
    tcase_add_test(tc, mount_warns_empty_hidden_no_model);
    tcase_add_test(tc, flashgen_names_what_it_found);
    suite_add_tcase(s, tc);
    return s;
}
