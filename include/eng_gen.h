/* eng_gen.h — the generation loop behind flashgen: prompt checks, prefill, sampling,
 * streaming text output, statistics (prefix eg_). */
#ifndef ENG_GEN_H
#define ENG_GEN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "eng_model.h"
#include "eng_sampler.h"
#include "tokenizer.h"

typedef struct {
    int n_predict;              /* tokens to generate */
    int ignore_eos;             /* keep going past EOS */
    smp_params_t sampling;
    const int32_t *eos;         /* EOS ids */
    size_t n_eos;
} eg_params_t;

typedef struct {
    int n_prompt, n_gen;
    uint64_t prefill_ns, decode_ns;   /* decode: the n_gen - 1 single-token steps */
    uint64_t bytes_read;
    int32_t *tokens;            /* generated ids (malloc'd; free with eg_stats_free) */
} eg_stats_t;

/* 1 when s[0..len) is valid UTF-8 (no overlongs, surrogates or values past U+10FFFF). On
 * failure *bad_off gets the offset of the first bad byte (may be NULL). */
int eg_utf8_valid(const char *s, size_t len, size_t *bad_off);

/* Generate after prompt[0..n) on m (positions from 0). Text goes to out as it forms
 * (through tk's streaming decoder; out may be NULL). 0 or -errno with err. */
int eg_generate(em_model_t *m, const tk_tokenizer_t *tk, const int32_t *prompt, int n,
                const eg_params_t *p, FILE *out, eg_stats_t *st, char *err, size_t errlen);

/* Free what eg_generate put in st. */
void eg_stats_free(eg_stats_t *st);

/* Peak resident set size of this process in bytes (VmHWM), 0 if unknown. */
uint64_t eg_peak_rss(void);

#endif
