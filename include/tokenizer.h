/* tokenizer.h — Hugging Face tokenizer.json encoding and decoding (prefix tk_).
 *
 * Supported: byte-level BPE (GPT-2, Llama 3, Qwen2: Split regex + ByteLevel) and
 * SentencePiece-style BPE with byte fallback (Llama 2, Mistral: classic normalizer form
 * and Metaspace pre-tokenizer form), with the NFC normalizer of Qwen2 files. Added/special
 * tokens split the text first. Token ids are int32_t. All functions return 0 or -errno;
 * err gets a reason. A loaded tokenizer is read-only: tk_encode/tk_decode may run on
 * several threads at once (a tk_stream_t belongs to one thread). See docs/tokenizer.md. */
#ifndef TOKENIZER_H
#define TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct tk_tokenizer tk_tokenizer_t;

/* Load tokenizer.json (+ tokenizer_config.json and config.json for BOS/EOS when present)
 * from a model directory. -ENOTSUP with err naming what is unsupported. */
int tk_load(const char *model_dir, tk_tokenizer_t **out, char *err, size_t errlen);

/* Load from the text of a tokenizer.json held in memory (no side files: BOS comes only
 * from the post-processor, no EOS). Same errors as tk_load. */
int tk_load_json(const char *json, size_t len, tk_tokenizer_t **out, char *err, size_t errlen);

/* Free (NULL-safe). */
void tk_free(tk_tokenizer_t *tk);

/* Encode len bytes of text. add_special: add BOS etc. as the post-processor says.
 * *ids is malloc'd (caller frees). Invalid UTF-8 is tokenized byte by byte, never a crash. */
int tk_encode(const tk_tokenizer_t *tk, const char *text, size_t len, int add_special,
              int32_t **ids, size_t *n_ids);

/* Decode ids to text like tokenizer.decode(ids) (special tokens kept). *text is malloc'd,
 * NUL-terminated; invalid UTF-8 becomes U+FFFD as in transformers. */
int tk_decode(const tk_tokenizer_t *tk, const int32_t *ids, size_t n, char **text, size_t *len);

/* Vocabulary size (highest id + 1, including added tokens). */
size_t tk_vocab_size(const tk_tokenizer_t *tk);

/* BOS id or -1. */
int32_t tk_bos_id(const tk_tokenizer_t *tk);

/* EOS ids (may be several); returns the count, fills up to max. */
size_t tk_eos_ids(const tk_tokenizer_t *tk, int32_t *ids, size_t max);

/* Text of one token (raw vocab string), or NULL for an out-of-range id. */
const char *tk_token_text(const tk_tokenizer_t *tk, int32_t id);

/* Streaming decoder for generation: push ids one at a time; text is emitted as soon as
 * it forms complete UTF-8, partial characters are held back. */
typedef struct tk_stream tk_stream_t;

/* New streaming decoder over tk (which must outlive it). NULL on ENOMEM. */
tk_stream_t *tk_stream_new(const tk_tokenizer_t *tk);

/* Push one id; *text, *len get the newly completed text (pointer valid until the next call). */
int tk_stream_push(tk_stream_t *st, int32_t id, const char **text, size_t *len);

/* Flush held-back bytes (as U+FFFD if incomplete). */
int tk_stream_flush(tk_stream_t *st, const char **text, size_t *len);

/* Free (NULL-safe). */
void tk_stream_free(tk_stream_t *st);

/* `flashgen tokenize` subcommand: argv[0] is "tokenize". Returns a process exit code. */
int tk_cli_main(int argc, char **argv);

#endif
