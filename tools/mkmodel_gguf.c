/* mkmodel_gguf.c — writing a synthetic model as one GGUF v3 file, with the metadata
 * llama.cpp's convert_hf_to_gguf.py writes for Llama / Mistral (architecture "llama")
 * and Qwen2 (architecture "qwen2"):
 *   general.*            architecture, type, name, alignment (32), file_type,
 *                        quantization_version
 *   ARCH.*               block_count, context_length, embedding_length,
 *                        feed_forward_length, attention.head_count(_kv),
 *                        attention.key_length/value_length, rope.freq_base,
 *                        rope.dimension_count, attention.layer_norm_rms_epsilon, vocab_size
 *   tokenizer.ggml.*     model "gpt2", pre, tokens, token_type, merges, bos/eos ids
 * Tensors: token_embd, (rope_freqs for llama3 rope), blk.N.{attn_norm, attn_q, attn_k,
 * attn_v (+ .bias for qwen2), attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down},
 * output_norm, output (absent when tied). One-dimensional tensors are F32, the others
 * the model dtype; ne[] is the Hugging Face shape reversed (fastest dimension first). */
#include "mkmodel.h"
#include "gguf_writer.h"
#include "fu_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GG_ALIGN 32

/* ggml tensor types and llama file types */
enum { GGML_F32 = 0, GGML_F16 = 1, GGML_BF16 = 30 };
enum { FTYPE_ALL_F32 = 0, FTYPE_MOSTLY_F16 = 1, FTYPE_MOSTLY_BF16 = 32 };

static void metadata(gw_t *g, const mm_opts_t *o, const mm_vocab_t *v)
{
    const mm_spec_t *s = &o->spec;
    const char *arch = strcmp(s->model_type, "qwen2") == 0 ? "qwen2" : "llama";
    char k[96];
#define KEY(SUFFIX) (snprintf(k, sizeof k, "%s.%s", arch, SUFFIX), k)
    gw_kv_str(g, "general.architecture", arch);
    gw_kv_str(g, "general.type", "model");
    gw_kv_str(g, "general.name", s->name);
    gw_kv_u32(g, "general.alignment", GG_ALIGN);
    gw_kv_u32(g, KEY("block_count"), (uint32_t)s->layers);
    gw_kv_u32(g, KEY("context_length"), (uint32_t)s->max_pos);
    gw_kv_u32(g, KEY("embedding_length"), (uint32_t)s->hidden);
    gw_kv_u32(g, KEY("feed_forward_length"), (uint32_t)s->ffn);
    gw_kv_u32(g, KEY("attention.head_count"), (uint32_t)s->heads);
    gw_kv_u32(g, KEY("attention.head_count_kv"), (uint32_t)s->kv_heads);
    gw_kv_f32(g, KEY("rope.freq_base"), (float)s->rope_theta);
    gw_kv_f32(g, KEY("attention.layer_norm_rms_epsilon"), (float)s->rms_eps);
    gw_kv_u32(g, KEY("attention.key_length"), (uint32_t)s->head_dim);
    gw_kv_u32(g, KEY("attention.value_length"), (uint32_t)s->head_dim);
    gw_kv_u32(g, "general.file_type", o->dtype == MM_F32 ? FTYPE_ALL_F32 :
              o->dtype == MM_F16 ? FTYPE_MOSTLY_F16 : FTYPE_MOSTLY_BF16);
    gw_kv_u32(g, KEY("vocab_size"), (uint32_t)s->vocab);
    gw_kv_u32(g, KEY("rope.dimension_count"), (uint32_t)s->head_dim);
#undef KEY
    gw_kv_str(g, "tokenizer.ggml.model", "gpt2");
    gw_kv_str(g, "tokenizer.ggml.pre", v->pre);
    gw_kv_arr_str(g, "tokenizer.ggml.tokens", (const char *const *)v->tokens, v->n_tokens);
    gw_kv_arr_i32(g, "tokenizer.ggml.token_type", v->types, v->n_tokens);
    gw_kv_arr_str(g, "tokenizer.ggml.merges", (const char *const *)v->merges, v->n_merges);
    if (v->bos >= 0)
        gw_kv_u32(g, "tokenizer.ggml.bos_token_id", (uint32_t)v->bos);
    if (v->eos >= 0)
        gw_kv_u32(g, "tokenizer.ggml.eos_token_id", (uint32_t)v->eos);
    gw_kv_u32(g, "general.quantization_version", 2);
}

/* Element type of a tensor in the file. */
static mm_dtype_t tensor_dtype(const mm_opts_t *o, const mm_tensor_t *t)
{
    return t->ndim == 1 ? MM_F32 : o->dtype;
}

static uint32_t ggml_type(mm_dtype_t d)
{
    return d == MM_F32 ? GGML_F32 : d == MM_F16 ? GGML_F16 : GGML_BF16;
}

int mm_write_gguf(const mm_opts_t *o, const mm_vocab_t *vocab, const char *path,
                  char *err, size_t errlen)
{
    if (!vocab->byte_level)
        return fu_err(err, errlen, -ENOTSUP,
                      "GGUF tokenizer metadata: only byte-level BPE tokenizers are supported");
    if (vocab->n_tokens != (size_t)o->spec.vocab)
        return fu_err(err, errlen, -EINVAL, "GGUF: %zu tokens for a vocabulary of %d",
                      vocab->n_tokens, o->spec.vocab);
    mm_tensor_t *t;
    size_t nt;
    int rc = mm_tensors(&o->spec, 1, &t, &nt);
    if (rc != 0)
        return fu_err(err, errlen, rc, "out of memory");
    gw_t *g = gw_new(GG_ALIGN);
    if (!g) {
        free(t);
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    }
    metadata(g, o, vocab);
    uint64_t total = 0;
    for (size_t i = 0; i < nt; i++) {
        mm_dtype_t d = tensor_dtype(o, &t[i]);
        uint64_t ne[2] = { t[i].cols, t[i].rows }, nb = mm_numel(&t[i]) * mm_dtype_size(d);
        gw_add_tensor(g, t[i].gg_name, (uint32_t)t[i].ndim, ne, ggml_type(d), nb);
        total += nb;
    }
    uint8_t *hdr = NULL;
    size_t hlen = 0;
    if ((rc = gw_header(g, &hdr, &hlen)) != 0) {
        gw_free(g);
        free(t);
        return fu_err(err, errlen, rc, "building the GGUF header: %s", strerror(-rc));
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    mm_stream_t *st = fd >= 0 ? mm_stream_new(o, total) : NULL;
    if (fd < 0 || !st) {
        rc = fd < 0 ? -errno : -ENOMEM;
        fu_err(err, errlen, rc, "%s: %s", tmp, strerror(-rc));
        if (fd >= 0)
            close(fd);
        free(hdr);
        gw_free(g);
        free(t);
        return rc;
    }
    rc = fu_write_full(fd, hdr, hlen);
    static const uint8_t zeros[GG_ALIGN];
    for (size_t i = 0; i < nt && rc == 0; i++) {
        mm_dtype_t d = tensor_dtype(o, &t[i]);
        rc = mm_stream_tensor(st, fd, &t[i], 1, d);
        uint64_t pad = gw_pad_after(g, mm_numel(&t[i]) * mm_dtype_size(d));
        if (rc == 0 && pad)
            rc = fu_write_full(fd, zeros, (size_t)pad);
    }
    mm_stream_free(st);
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0) {
        unlink(tmp);
        fu_err(err, errlen, rc, "writing %s: %s", path, strerror(-rc));
    }
    free(hdr);
    gw_free(g);
    free(t);
    return rc;
}
