/* eng_testutil.c — reference.json loading and the parity check used by the engine tests. */
#include <check.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eng_testutil.h"
#include "fu_util.h"

static int32_t *etu_ints(const cJSON *a, int *n)
{
    ck_assert_msg(cJSON_IsArray(a), "reference: expected an array");
    *n = cJSON_GetArraySize(a);
    int32_t *v = calloc((size_t)*n + 1, sizeof *v);
    ck_assert_ptr_nonnull(v);
    int i = 0;
    for (const cJSON *e = a->child; e; e = e->next)
        v[i++] = (int32_t)e->valuedouble;
    return v;
}

static float *etu_floats(const cJSON *a, int *n)
{
    ck_assert_msg(cJSON_IsArray(a), "reference: expected an array");
    *n = cJSON_GetArraySize(a);
    float *v = calloc((size_t)*n + 1, sizeof *v);
    ck_assert_ptr_nonnull(v);
    int i = 0;
    for (const cJSON *e = a->child; e; e = e->next)
        v[i++] = (float)e->valuedouble;
    return v;
}

void etu_load_ref(const char *dir, etu_ref_t *r)
{
    char path[512], *text = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/reference.json", dir);
    ck_assert_int_eq(fu_read_file(path, 64u << 20, &text, &len), 0);
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    ck_assert_msg(root != NULL, "%s: bad JSON", path);
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(root, "prompts");
    ck_assert(cJSON_IsArray(ps));
    r->n = cJSON_GetArraySize(ps);
    ck_assert_int_gt(r->n, 0);
    r->p = calloc((size_t)r->n, sizeof *r->p);
    ck_assert_ptr_nonnull(r->p);
    int k = 0;
    for (const cJSON *pr = ps->child; pr; pr = pr->next, k++) {
        etu_prompt_t *p = &r->p[k];
        int n;
        p->ids = etu_ints(cJSON_GetObjectItemCaseSensitive(pr, "ids"), &p->n_ids);
        p->greedy = etu_ints(cJSON_GetObjectItemCaseSensitive(pr, "greedy"), &p->n_greedy);
        p->last_logits = etu_floats(cJSON_GetObjectItemCaseSensitive(pr, "last_logits"), &p->V);
        const cJSON *t5 = cJSON_GetObjectItemCaseSensitive(pr, "top5");
        ck_assert_int_eq(cJSON_GetArraySize(t5), p->n_ids);
        p->top5 = calloc((size_t)p->n_ids * 5, sizeof *p->top5);
        ck_assert_ptr_nonnull(p->top5);
        int i = 0;
        for (const cJSON *row = t5->child; row; row = row->next, i++) {
            int32_t *v = etu_ints(row, &n);
            ck_assert_int_eq(n, 5);
            memcpy(p->top5 + i * 5, v, 5 * sizeof *v);
            free(v);
        }
        const cJSON *lg = cJSON_GetObjectItemCaseSensitive(pr, "logits");
        if (lg) {
            ck_assert_int_eq(cJSON_GetArraySize(lg), p->n_ids);
            p->logits = calloc((size_t)p->n_ids * p->V, sizeof *p->logits);
            ck_assert_ptr_nonnull(p->logits);
            i = 0;
            for (const cJSON *row = lg->child; row; row = row->next, i++) {
                float *v = etu_floats(row, &n);
                ck_assert_int_eq(n, p->V);
                memcpy(p->logits + (size_t)i * p->V, v, (size_t)n * sizeof *v);
                free(v);
            }
        }
    }
    cJSON_Delete(root);
}

void etu_free_ref(etu_ref_t *r)
{
    for (int i = 0; i < r->n; i++) {
        free(r->p[i].ids);
        free(r->p[i].greedy);
        free(r->p[i].last_logits);
        free(r->p[i].logits);
        free(r->p[i].top5);
    }
    free(r->p);
    r->p = NULL;
    r->n = 0;
}

/* Top-5 ids by descending logit (ties: lower id first, like torch.topk on distinct values). */
static void etu_top5(const float *x, int V, int32_t out[5])
{
    for (int k = 0; k < 5; k++) {
        int best = -1;
        for (int i = 0; i < V; i++) {
            int used = 0;
            for (int j = 0; j < k; j++)
                used |= out[j] == i;
            if (!used && (best < 0 || x[i] > x[best]))
                best = i;
        }
        out[k] = best;
    }
}

static int etu_argmax(const float *x, int V)
{
    int b = 0;
    for (int i = 1; i < V; i++)
        if (x[i] > x[b])
            b = i;
    return b;
}

static double etu_maxdiff(const float *a, const float *b, int n)
{
    double d = 0;
    for (int i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (!(e <= d))
            d = e;      /* NaN propagates as a failure */
    }
    return d;
}

double etu_check_parity(const char *dir, const em_opts_t *opts, const etu_ref_t *r, double tol)
{
    double worst = 0;
    for (int k = 0; k < r->n; k++) {
        const etu_prompt_t *p = &r->p[k];
        em_opts_t o = *opts;
        o.capacity = p->n_ids + p->n_greedy;
        em_model_t *m = NULL;
        char err[512] = "";
        int rc = em_open(&m, dir, &o, err, sizeof err);
        ck_assert_msg(rc == 0, "em_open %s: %s", dir, err);
        ck_assert_int_eq(em_config(m)->vocab_size, p->V);
        const float *lg;
        rc = em_forward(m, p->ids, p->n_ids, 1, &lg, err, sizeof err);
        ck_assert_msg(rc == 0, "forward: %s", err);
        for (int t = 0; t < p->n_ids; t++) {
            const float *row = lg + (size_t)t * p->V;
            int32_t top[5];
            etu_top5(row, p->V, top);
            for (int j = 0; j < 5; j++)
                ck_assert_msg(top[j] == p->top5[t * 5 + j], "%s prompt %d pos %d: top5[%d] %d != ref %d",
                              dir, k, t, j, top[j], p->top5[t * 5 + j]);
            if (p->logits) {
                double d = etu_maxdiff(row, p->logits + (size_t)t * p->V, p->V);
                ck_assert_msg(d <= tol, "%s prompt %d pos %d: logits diff %g", dir, k, t, d);
                if (d > worst)
                    worst = d;
            }
        }
        double d = etu_maxdiff(lg + (size_t)(p->n_ids - 1) * p->V, p->last_logits, p->V);
        ck_assert_msg(d <= tol, "%s prompt %d last logits diff %g", dir, k, d);
        if (d > worst)
            worst = d;
        /* greedy continuation, full length */
        int32_t tok = etu_argmax(lg + (size_t)(p->n_ids - 1) * p->V, p->V);
        for (int i = 0; i < p->n_greedy; i++) {
            ck_assert_msg(tok == p->greedy[i], "%s prompt %d greedy step %d: %d != ref %d", dir, k, i,
                          tok, p->greedy[i]);
            if (i + 1 == p->n_greedy)
                break;
            rc = em_forward(m, &tok, 1, 0, &lg, err, sizeof err);
            ck_assert_msg(rc == 0, "decode: %s", err);
            tok = etu_argmax(lg, p->V);
        }
        em_close(m);
    }
    return worst;
}

char *etu_copy_model(const char *src)
{
    char tmpl[] = "/tmp/flashgen-test-XXXXXX";
    char *dir = mkdtemp(tmpl);
    ck_assert_ptr_nonnull(dir);
    dir = strdup(dir);
    ck_assert_ptr_nonnull(dir);
    DIR *d = opendir(src);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char a[1024], b[1024], *data = NULL;
        size_t len = 0;
        snprintf(a, sizeof a, "%s/%s", src, e->d_name);
        snprintf(b, sizeof b, "%s/%s", dir, e->d_name);
        ck_assert_int_eq(fu_read_file(a, 1u << 30, &data, &len), 0);
        FILE *f = fopen(b, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(data, 1, len, f), len);
        fclose(f);
        free(data);
    }
    closedir(d);
    return dir;
}

void etu_rm_model(char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char a[1024];
            snprintf(a, sizeof a, "%s/%s", dir, e->d_name);
            unlink(a);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}
