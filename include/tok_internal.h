/* tok_internal.h — the tokenizer's internal model shared by engine/tok_*.c (prefix tk_).
 *
 * Encoding pipeline (as in Hugging Face `tokenizers`):
 *   text -> split on added tokens that are not normalized (tok_added.c)
 *        -> each remaining chunk: normalizer (tok_normalize.c)
 *        -> split on normalized added tokens
 *        -> pre-tokenizer: a list of ops turning a chunk into pieces (tok_pretok.c,
 *           regex matchers in tok_regex.c, byte-level map in tok_bytelevel.c)
 *        -> model: BPE on each piece (tok_bpe.c)
 *        -> post-processor: special ids around the sequence (tok_encode.c).
 * Decoding: ids -> token strings -> decoder ops (tok_decode.c). */
#ifndef TOK_INTERNAL_H
#define TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tok_hash.h"
#include "tok_util.h"
#include "tokenizer.h"

/* ---- normalizers ---- */
enum { TK_NORM_PREPEND = 1, TK_NORM_REPLACE, TK_NORM_NFC };
typedef struct {
    int kind;
    char *a, *b; /* PREPEND: a = text; REPLACE: a = pattern, b = content */
    size_t alen, blen;
} tk_norm_op_t;

/* ---- pre-tokenizers ---- */
enum { TK_PRE_SPLIT = 1, TK_PRE_BYTELEVEL, TK_PRE_METASPACE };
/* Split behaviours (tokenizers' SplitDelimiterBehavior). */
enum { TK_SPLIT_REMOVED = 1, TK_SPLIT_ISOLATED, TK_SPLIT_MERGED_PREV, TK_SPLIT_MERGED_NEXT,
       TK_SPLIT_CONTIGUOUS };
/* The pre-tokenizer regexes recognised by their exact pattern text (tok_regex.c). */
enum { TK_RE_NONE = 0, TK_RE_GPT2, TK_RE_LLAMA3, TK_RE_QWEN2 };
/* Metaspace prepend schemes. */
enum { TK_PREPEND_ALWAYS = 1, TK_PREPEND_FIRST, TK_PREPEND_NEVER };
typedef struct {
    int kind;
    int regex;        /* SPLIT: TK_RE_* or TK_RE_NONE for a literal string */
    char *lit;        /* SPLIT literal / METASPACE replacement (UTF-8) */
    size_t lit_len;
    int behavior;     /* SPLIT */
    int invert;       /* SPLIT */
    int add_prefix_space, use_regex; /* BYTELEVEL */
    int prepend_scheme, split;       /* METASPACE */
} tk_pre_op_t;

/* ---- decoders ---- */
enum { TK_DEC_BYTELEVEL = 1, TK_DEC_REPLACE, TK_DEC_BYTEFALLBACK, TK_DEC_FUSE, TK_DEC_STRIP,
       TK_DEC_METASPACE };
typedef struct {
    int kind;
    char *a, *b; /* REPLACE: pattern, content; METASPACE: a = replacement */
    size_t alen, blen;
    uint32_t ch;             /* STRIP: the character stripped */
    size_t start, stop;      /* STRIP */
    int prepend_scheme;      /* METASPACE */
} tk_dec_op_t;

/* ---- added tokens ---- */
typedef struct {
    int32_t id;
    char *content; /* as written in tokenizer.json */
    size_t len;
    char *match;   /* the text matched: content, or normalized content if normalized */
    size_t match_len;
    uint8_t single_word, lstrip, rstrip, normalized, special;
} tk_added_t;

/* Byte trie over added-token match strings, for leftmost-longest matching. */
typedef struct {
    int32_t child, sibling; /* node indices, -1 = none */
    int32_t token;          /* index into tk->added, -1 = not a terminal */
    uint8_t byte;
} tk_trie_node_t;

typedef struct {
    tk_trie_node_t *node;
    size_t n, cap;
    uint8_t first[32]; /* bitmap of first bytes of all keys */
} tk_trie_t;

struct tk_tokenizer {
    /* BPE model */
    char *arena;              /* all vocab strings, NUL-terminated */
    const char **tok_str;     /* id -> model string (NULL = no such id) */
    uint32_t *tok_len;
    size_t n_tok;             /* size of tok_str (highest model id + 1) */
    tk_strmap_t vocab;
    tk_pairmap_t merges;
    int ignore_merges, byte_fallback, fuse_unk;
    int32_t unk_id;           /* -1 = none */
    int32_t byte_id[256];     /* id of "<0xNN>" or -1 */
    int32_t *char_id;         /* id of each code point < 0x800 as a 1-char token, or -1 */
    int mark_split;           /* tk_bpe_mark_split_ok() */

    /* added tokens */
    tk_added_t *added;
    size_t n_added;
    int32_t *added_of;        /* id -> index into added, -1 (vocab_size entries) */
    tk_trie_t trie_raw, trie_norm;

    /* pipeline */
    tk_norm_op_t *norm;
    size_t n_norm;
    tk_pre_op_t *pre;
    size_t n_pre;
    tk_dec_op_t *dec;
    size_t n_dec;
    int has_decoder;
    int32_t *pp_prefix, *pp_suffix; /* post-processor ids around a single sequence */
    size_t n_prefix, n_suffix;

    int32_t bos;
    int32_t eos[8];
    size_t n_eos;
    size_t vocab_size;
};

/* ---- loading (tok_load_*.c) ---- */
typedef struct cJSON cJSON;
/* Load model (BPE vocab, merges, options) from tokenizer.json's "model". */
int tk_load_model(tk_tokenizer_t *tk, const cJSON *model, char *err, size_t errlen);
/* Load added_tokens (after the model and normalizer). */
int tk_load_added(tk_tokenizer_t *tk, const cJSON *arr, char *err, size_t errlen);
/* Load normalizer, pre_tokenizer, decoder and post_processor. */
int tk_load_pipeline(tk_tokenizer_t *tk, const cJSON *root, char *err, size_t errlen);
/* Load the tokenizer of a GGUF model file (tok_gguf.c). */
int tk_load_gguf(const char *path, tk_tokenizer_t **out, char *err, size_t errlen);
/* Free what tk_load_pipeline allocated. */
void tk_free_pipeline(tk_tokenizer_t *tk);
/* Text of token id (added tokens first, then the model) and its length; NULL if none. */
const char *tk_token_str(const tk_tokenizer_t *tk, int32_t id, size_t *len);
/* Id of a token string: added tokens first, then the model vocabulary; -1 if none. */
int32_t tk_lookup(const tk_tokenizer_t *tk, const char *s, size_t len);

/* ---- tok_bytelevel.c ---- */
/* GPT-2 byte -> code point map (printable bytes map to themselves, others to 256+). */
uint32_t tk_byte_to_cp(uint8_t b);
/* Inverse: the byte of code point cp, or -1 when cp is not in the map. */
int tk_cp_to_byte(uint32_t cp);
/* Append the byte-level form of s[0..n) (each byte as the UTF-8 of its mapped char). */
int tk_bytelevel_map(tk_buf_t *out, const uint8_t *s, size_t n);

/* ---- tok_regex.c ---- */
/* Recognise a Split/ByteLevel regex by its exact text: TK_RE_* or TK_RE_NONE. */
int tk_re_identify(const char *pattern);
/* The exact pattern text of TK_RE_* re, or NULL. */
const char *tk_re_pattern(int re);
/* Length of the match of regex re starting exactly at s[pos] (0 = no match there). */
size_t tk_re_match_at(int re, const uint8_t *s, size_t n, size_t pos);

/* ---- tok_normalize.c ---- */
/* Apply the normalizer ops to s[0..n) into out (out is reset first). */
int tk_normalize(const tk_tokenizer_t *tk, const char *s, size_t n, tk_buf_t *out);

/* ---- tok_decode.c ---- */
/* The byte of a byte-fallback token "<0xNN>" (t[0..n)), or -1. */
int tk_byte_token(const char *t, size_t n);

/* ---- tok_added.c ---- */
/* Add key (the added token index tok) to a trie. 0 or -ENOMEM. */
int tk_trie_add(tk_trie_t *t, const char *key, size_t len, int32_t tok);
/* Free a trie. */
void tk_trie_free(tk_trie_t *t);
/* One segment of a text split on added tokens: [start, end) and the added-token index
 * (-1 = ordinary text). */
typedef struct {
    size_t start, end;
    int32_t tok;
} tk_seg_t;
typedef struct {
    tk_seg_t *v;
    size_t n, cap;
} tk_segs_t;
/* Split s[0..n) on the added tokens of trie t (leftmost-longest, honouring single_word,
 * lstrip, rstrip); segments cover the text, empty ordinary segments are dropped. */
int tk_added_split(const tk_tokenizer_t *tk, const tk_trie_t *t, const char *s, size_t n,
                   tk_segs_t *out);

/* ---- tok_pretok.c ---- */
#define TK_MAX_PRE 8 /* pre-tokenizer ops at most (after flattening Sequence) */
/* Per-op scratch buffers, reused across calls. */
typedef struct {
    tk_buf_t a[TK_MAX_PRE], b[TK_MAX_PRE];
} tk_pre_scratch_t;
/* Receives each final piece of the pre-tokenizer. 0 or -errno (stops the run). */
typedef int (*tk_piece_fn)(void *ctx, const char *s, size_t n);
/* Run the pre-tokenizer on s[0..n) (first = the text starts the original input) and call
 * fn for every resulting piece, in order. */
int tk_pretokenize(const tk_tokenizer_t *tk, const char *s, size_t n, int first,
                   tk_pre_scratch_t *scr, tk_piece_fn fn, void *ctx);
/* Free scratch buffers. */
void tk_pre_scratch_free(tk_pre_scratch_t *scr);

/* ---- tok_bpe.c ---- */
/* Scratch memory reused across pieces. */
typedef struct {
    void *sym, *heap;
    size_t sym_cap, heap_cap;
} tk_bpe_scratch_t;
/* BPE-encode one piece, appending ids. 0 or -ENOMEM. */
int tk_bpe_piece(const tk_tokenizer_t *tk, const char *s, size_t n, tk_ids_t *out,
                 tk_bpe_scratch_t *scr);
/* 1 when no vocabulary token contains U+2581 right after another character than U+2581
 * (and U+2581 itself is a token): then BPE may cut texts before such marks. */
int tk_bpe_mark_split_ok(const tk_tokenizer_t *tk);
/* Free scratch memory. */
void tk_bpe_scratch_free(tk_bpe_scratch_t *scr);

#endif
