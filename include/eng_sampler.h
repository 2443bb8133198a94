/* eng_sampler.h — choosing the next token from logits (prefix smp_).
 *
 * Order of operations: repetition penalty on every token already in the context
 * (logit > 0: divided by r, else multiplied, as in transformers), then greedy argmax when
 * temp <= 0; otherwise logits / temp, top-k, softmax, min-p (drop p < min_p * p_max),
 * top-p (smallest prefix of the sorted tokens with mass >= top_p), renormalise and draw
 * with a seeded xorshift64* generator. */
#ifndef ENG_SAMPLER_H
#define ENG_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    float temp;                 /* <= 0: greedy */
    int top_k;                  /* <= 0: off */
    float top_p;                /* >= 1: off */
    float min_p;                /* <= 0: off */
    float repeat_penalty;       /* 1: off */
    uint64_t seed;
} smp_params_t;

typedef struct smp smp_t;

/* New sampler over a vocabulary of n_vocab. 0 or -ENOMEM. */
int smp_create(const smp_params_t *p, int n_vocab, smp_t **out);

/* Index of the largest value (first on ties, like torch.argmax). */
int smp_argmax(const float *x, int n);

/* Choose the next token. logits is modified (penalty, temperature). history: the tokens
 * in the context so far (for the repetition penalty). */
int32_t smp_sample(smp_t *s, float *logits, const int32_t *history, size_t n_history);

/* Free (NULL-safe). */
void smp_free(smp_t *s);

#endif
