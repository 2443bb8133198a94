/* test_tpl_reference.c — chat templates against transformers' own output: every `chat` entry of
 * ../shared/fixtures/tokenizers/NAME/reference.json (llama3_1, qwen3, llama2, gptoss) — messages,
 * the text apply_chat_template(messages, add_generation_prompt=True) rendered, and its ids —
 * rendered from the real tokenizer folder (NAME.tar.xz, unpacked into a temporary directory)
 * to the identical text and, through our tokenizer, the identical ids. A family whose
 * reference has no chat entries (its tokenizer_config.json has no template) must report
 * -ENOENT, not render something. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fu_util.h"
#include "json_util.h"
#include "template.h"
#include "tokenizer.h"

#define FIXDIR "../shared/fixtures/tokenizers"

static const char *const families[] = { "llama3_1", "qwen3", "llama2", "gptoss" };

static cJSON *read_json(const char *path)
{
    char *txt, err[256] = "";
    size_t len;
    cJSON *j = NULL;
    ck_assert_msg(fu_read_file(path, 64u << 20, &txt, &len) == 0, "cannot read %s", path);
    ck_assert_msg(js_parse(txt, len, 0, path, &j, err, sizeof err) == 0, "%s", err);
    tpl_json_mark_floats(j, txt, len);
    free(txt);
    return j;
}

/* Unpack NAME.tar.xz into a new temporary directory; returns the model folder in dir. */
static void unpack(const char *name, char *tmp, size_t tlen, char *dir, size_t dlen)
{
    char cmd[1024];
    snprintf(tmp, tlen, "/tmp/tpl_ref_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    snprintf(cmd, sizeof cmd, "tar xJf %s/%s/%s.tar.xz -C %s", FIXDIR, name, name, tmp);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
    snprintf(dir, dlen, "%s/%s", tmp, name);
}

static void cleanup(const char *tmp)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(reference_chat)
{
    const char *name = families[_i];
    char path[512], tmp[64], dir[256], err[512] = "";
    snprintf(path, sizeof path, "%s/%s/reference.json", FIXDIR, name);
    cJSON *ref = read_json(path);
    const cJSON *chat = cJSON_GetObjectItemCaseSensitive(ref, "chat"), *e;
    ck_assert_msg(cJSON_IsArray(chat), "%s: no chat array", path);
    unpack(name, tmp, sizeof tmp, dir, sizeof dir);
    tpl_chat_t *c = NULL;
    int rc = tpl_chat_load(dir, &c, err, sizeof err);
    if (cJSON_GetArraySize(chat) == 0) {
        /* no template in the folder, so transformers had nothing to render */
        ck_assert_msg(rc == -ENOENT, "%s: tpl_chat_load gave %d (%s), want -ENOENT", name, rc, err);
        ck_assert_ptr_nonnull(strstr(err, "has no chat template"));
        ck_assert_ptr_null(c);
        cleanup(tmp);
        cJSON_Delete(ref);
        return;
    }
    ck_assert_msg(rc == 0, "%s: %s", name, err);
    tk_tokenizer_t *tk;
    ck_assert_msg(tk_load(dir, &tk, err, sizeof err) == 0, "%s: %s", name, err);
    int k = 0;
    cJSON_ArrayForEach(e, chat) {
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(e, "messages");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(e, "text");
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(e, "ids");
        ck_assert(cJSON_IsArray(msgs) && cJSON_IsString(text) && cJSON_IsArray(ids));
        char *out;
        size_t len;
        rc = tpl_chat_render(c, msgs, NULL, 1, NULL, &out, &len, err, sizeof err);
        ck_assert_msg(rc == 0, "%s chat %d: %s", name, k, err);
        ck_assert_msg(len == strlen(text->valuestring) && !memcmp(out, text->valuestring, len),
                      "%s chat %d: rendered\n%s\nwant\n%s", name, k, out, text->valuestring);
        int32_t *got;
        size_t n;
        ck_assert_int_eq(tk_encode(tk, out, len, 0, &got, &n), 0);
        ck_assert_msg(n == (size_t)cJSON_GetArraySize(ids), "%s chat %d: %zu ids, want %d", name, k, n,
                      cJSON_GetArraySize(ids));
        size_t i = 0;
        const cJSON *id;
        cJSON_ArrayForEach(id, ids) {
            ck_assert_msg(got[i] == (int32_t)id->valuedouble, "%s chat %d: id %zu is %d, want %d", name, k, i,
                          got[i], (int)id->valuedouble);
            i++;
        }
        free(got);
        free(out);
        k++;
    }
    ck_assert_int_gt(k, 0);
    tk_free(tk);
    tpl_chat_free(c);
    cleanup(tmp);
    cJSON_Delete(ref);
}
END_TEST

Suite *tpl_reference_suite(void)
{
    Suite *s = suite_create("tpl_reference");
    TCase *tc = tcase_create("reference");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, reference_chat, 0, (int)(sizeof families / sizeof families[0]));
    suite_add_tcase(s, tc);
    return s;
}
