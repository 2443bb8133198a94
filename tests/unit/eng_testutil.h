/* eng_testutil.h — shared by the engine tests: reference.json loading and the parity check
 * (logits, top-5 and greedy continuation against transformers' reference). */
#ifndef ENG_TESTUTIL_H
#define ENG_TESTUTIL_H

#include <stdint.h>

#include "eng_model.h"

typedef struct {
    int n_ids, n_greedy, V;
    int32_t *ids, *greedy;
    float *last_logits;         /* [V] */
    float *logits;              /* [n_ids][V] or NULL (demo has only last_logits) */
    int32_t *top5;              /* [n_ids][5] */
} etu_prompt_t;

typedef struct {
    int n;
    etu_prompt_t *p;
} etu_ref_t;

/* Load dir/reference.json (fails the test on error). */
void etu_load_ref(const char *dir, etu_ref_t *r);

/* Free what etu_load_ref allocated. */
void etu_free_ref(etu_ref_t *r);

/* Open dir with opts (capacity set per prompt) and check every prompt: logits within tol
 * at every position the reference has, identical top-5 ids, identical greedy ids. Fails
 * the test on a mismatch; returns the worst absolute logits difference seen. */
double etu_check_parity(const char *dir, const em_opts_t *opts, const etu_ref_t *r, double tol);

/* Make a temp dir holding copies of (or symlinks to) the files of src; returns malloc'd path. */
char *etu_copy_model(const char *src);

/* Remove a temp dir made by etu_copy_model (files inside only, one level). */
void etu_rm_model(char *dir);

#endif
