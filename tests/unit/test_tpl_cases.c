/* test_tpl_cases.c — every construct of the template subset against Jinja2 itself:
 * tests/fixtures/templates/cases.json holds snippets and the text Jinja2 rendered for them in
 * transformers' chat-template environment (made by make_cases.py there); error cases fail in
 * Jinja2 and must fail here with the template line in the message. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fu_util.h"
#include "json_util.h"
#include "template.h"

#define CASES "tests/fixtures/templates/cases.json"

static cJSON *load_cases(void)
{
    char *txt, err[256] = "";
    size_t len;
    cJSON *j = NULL;
    ck_assert_msg(fu_read_file(CASES, 16u << 20, &txt, &len) == 0, "cannot read " CASES);
    ck_assert_msg(js_parse(txt, len, 0, CASES, &j, err, sizeof err) == 0, "%s", err);
    tpl_json_mark_floats(j, txt, len);
    free(txt);
    return j;
}

/* Render src with vars: 0 and *out, or the error code with err filled. */
static int render(const char *src, const cJSON *vars, char **out, char *err, size_t errlen)
{
    tpl_template_t *t;
    size_t len;
    int rc = tpl_compile(src, strlen(src), &t, err, errlen);
    if (rc)
        return rc;
    rc = tpl_render(t, vars, out, &len, err, errlen);
    if (rc == 0)
        ck_assert_uint_eq(strlen(*out), len);
    tpl_template_free(t);
    return rc;
}

START_TEST(jinja2_cases)
{
    cJSON *j = load_cases();
    const cJSON *vars = cJSON_GetObjectItemCaseSensitive(j, "vars");
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(j, "cases"), *c;
    int n = 0, bad = 0;
    cJSON_ArrayForEach(c, cases) {
        const char *name = cJSON_GetObjectItemCaseSensitive(c, "name")->valuestring;
        const char *src = cJSON_GetObjectItemCaseSensitive(c, "template")->valuestring;
        const char *want = cJSON_GetObjectItemCaseSensitive(c, "out")->valuestring;
        char err[512] = "", *out = NULL;
        int rc = render(src, vars, &out, err, sizeof err);
        if (rc || strcmp(out, want)) { /* report every differing case, then fail */
            fprintf(stderr, "case %s:\n got  [%s]\n want [%s]\n", name, rc ? err : out, want);
            bad++;
        }
        free(out);
        n++;
    }
    ck_assert_msg(bad == 0, "%d of %d cases differ from Jinja2 (see stderr)", bad, n);
    ck_assert_int_ge(n, 40);
    cJSON_Delete(j);
}
END_TEST

START_TEST(jinja2_errors)
{
    cJSON *j = load_cases();
    const cJSON *vars = cJSON_GetObjectItemCaseSensitive(j, "vars");
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(j, "errors"), *c;
    int n = 0;
    cJSON_ArrayForEach(c, cases) {
        const char *name = cJSON_GetObjectItemCaseSensitive(c, "name")->valuestring;
        const char *src = cJSON_GetObjectItemCaseSensitive(c, "template")->valuestring;
        int line = cJSON_GetObjectItemCaseSensitive(c, "line")->valueint;
        char err[512] = "", *out = NULL, want[64];
        int rc = render(src, vars, &out, err, sizeof err);
        ck_assert_msg(rc == -EINVAL, "error case %s: rc %d, output [%s]", name, rc, out ? out : "");
        snprintf(want, sizeof want, "template line %d: ", line);
        ck_assert_msg(!strncmp(err, want, strlen(want)), "error case %s: message \"%s\" does not start with \"%s\"",
                      name, err, want);
        n++;
    }
    ck_assert_int_ge(n, 15);
    cJSON_Delete(j);
}
END_TEST

/* Exact messages for a few errors, and constructs outside the subset (valid Jinja that we
 * refuse rather than render differently). */
START_TEST(error_messages)
{
    static const struct { const char *src, *msg; } cases[] = {
        { "a\n{{ raise_exception('Conversation roles must alternate') }}",
          "template line 2: raise_exception: Conversation roles must alternate" },
        { "{{ x|frobnicate }}", "template line 1: unknown filter 'frobnicate'" },
        { "\n{% include 'other.jinja' %}", "template line 2: unknown tag 'include'" },
        { "{% extends 'base' %}", "template line 1: unknown tag 'extends'" },
        { "{% raw %}{{ x }}{% endraw %}", "template line 1: unknown tag 'raw'" },
        { "{% for x in y recursive %}{% endfor %}", "template line 1: recursive for loops are not supported" },
        { "\n\n{% for x in y %}", "template line 3: 'for' block opened here has no {% endfor %}" },
        { "{% if 1 %}\n{% endfor %}", "template line 2: unexpected {% endfor %}" },
        { "{{ 'x'.zfill(3) }}", "template line 1: unknown str method 'zfill'" },
        { "{{ y is frob }}", "template line 1: unknown test 'frob' (or missing argument)" },
        { "{{ nope.a }}", "template line 1: 'nope' is undefined (attribute access)" },
        { "{{ 'a' + 1 }}", "template line 1: unsupported operand types for +: str and int" },
        { "{{ 1 // 0 }}", "template line 1: division by zero" },
        { "{{ 9223372036854775807 + 1 }}", "template line 1: integer overflow in +" },
        { "{{ x|tojson }}", "template line 1: tojson: Object of type Undefined is not JSON serializable" },
        { "{{ range(10000000)|length }}", "template line 1: range of 10000000 items is too long" },
        { "x {{ 'abc }}", "template line 1: unterminated string" },
        { "{{ a @ b }}", "template line 1: unexpected character '@'" },
        { "{% set ns = namespace() %}{% set x.y = 1 %}",
          "template line 1: cannot assign attribute 'y' on 'x': not a namespace" },
        { "{% macro m(a) %}{% endmacro %}{{ m(b=1) }}", "template line 1: macro 'm' has no parameter 'b'" },
        { "{{ 1 < 'a' }}", "template line 1: '<' not supported between int and str" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512] = "", *out = NULL;
        int rc = render(cases[i].src, NULL, &out, err, sizeof err);
        ck_assert_msg(rc < 0, "%s rendered [%s]", cases[i].src, out ? out : "");
        ck_assert_msg(!strcmp(err, cases[i].msg), "%s:\n got  \"%s\"\n want \"%s\"", cases[i].src, err, cases[i].msg);
    }
}
END_TEST

START_TEST(limits)
{
    char err[512] = "", *out = NULL;
    /* a macro that calls itself forever stops at the nesting limit */
    int rc = render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}\n{{ f(0) }}", NULL, &out, err, sizeof err);
    ck_assert_int_eq(rc, -E2BIG);
    ck_assert_str_eq(err, "template line 1: macro calls nested too deeply");
    /* quadratic growth is stopped by the output/arena limits, not by the machine */
    rc = render("{% set ns = namespace(s='xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx') %}"
                "{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
                NULL, &out, err, sizeof err);
    ck_assert_int_eq(rc, -ENOMEM);
    ck_assert_ptr_nonnull(strstr(err, "out of memory"));
    /* deep expression nesting is a syntax error, not a stack overflow */
    char deep[4200];
    size_t o = 0;
    o += (size_t)snprintf(deep + o, sizeof deep - o, "{{ ");
    for (int i = 0; i < 1000; i++)
        deep[o++] = '(';
    deep[o++] = '1';
    for (int i = 0; i < 1000; i++)
        deep[o++] = ')';
    snprintf(deep + o, sizeof deep - o, " }}");
    rc = render(deep, NULL, &out, err, sizeof err);
    ck_assert_int_eq(rc, -EINVAL);
    ck_assert_str_eq(err, "template line 1: expression nested too deeply");
}
END_TEST

START_TEST(strftime_now)
{
    char err[256] = "", *out = NULL, want[64];
    time_t t0 = time(NULL);
    struct tm tm;
    int rc = render("{{ strftime_now('%Y') }}|{{ strftime_now('plain') }}", NULL, &out, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    localtime_r(&t0, &tm);
    snprintf(want, sizeof want, "%04d|plain", tm.tm_year + 1900);
    ck_assert_str_eq(out, want);
    free(out);
}
END_TEST

/* Floats of the input JSON stay floats (1.0 prints as 1.0), integers stay integers. */
START_TEST(json_numbers)
{
    const char *txt = "{\"a\": 1.0, \"b\": 2, \"c\": [\"1.5\", 3e2, -0.5, 7], \"d\": 9007199254740993}";
    cJSON *v = cJSON_Parse(txt);
    char err[256] = "", *out = NULL;
    ck_assert_ptr_nonnull(v);
    tpl_json_mark_floats(v, txt, strlen(txt));
    int rc = render("{{ a }} {{ b }} {{ c }} {{ c|tojson }}", v, &out, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_str_eq(out, "1.0 2 ['1.5', 300.0, -0.5, 7] [\"1.5\", 300.0, -0.5, 7]");
    free(out);
    cJSON_Delete(v);
}
END_TEST

Suite *tpl_cases_suite(void)
{
    Suite *s = suite_create("tpl_cases");
    TCase *tc = tcase_create("cases");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, jinja2_cases);
    tcase_add_test(tc, jinja2_errors);
    tcase_add_test(tc, error_messages);
    tcase_add_test(tc, limits);
    tcase_add_test(tc, strftime_now);
    tcase_add_test(tc, json_numbers);
    suite_add_tcase(s, tc);
    return s;
}
