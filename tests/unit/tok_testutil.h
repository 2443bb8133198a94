/* tok_testutil.h — helpers shared by the tokenizer unit tests (tests/unit/test_tok_*.c). */
#ifndef TOK_TESTUTIL_H
#define TOK_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

/* Load a tokenizer from JSON text written with ` for " (readable C literals); fails the
 * test when loading fails. */
tk_tokenizer_t *tt_load(const char *json_bq);
/* Like tt_load but returns the tk_load_json code and leaves the error text in err. */
int tt_try_load(const char *json_bq, char *err, size_t errlen);
/* Encode s (NUL-terminated) and return the ids as "1 2 3" in a static buffer. */
const char *tt_ids(const tk_tokenizer_t *tk, const char *s, int add_special);
/* The pre-tokenizer pieces of s joined by '|' (static buffer). */
const char *tt_pieces(const tk_tokenizer_t *tk, const char *s);
/* decode(ids) as a malloc'd string (the test fails on error). */
char *tt_decode(const tk_tokenizer_t *tk, const int32_t *ids, size_t n);

#endif
