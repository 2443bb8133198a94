/* mkmodel_hf.c — writing a synthetic model as a Hugging Face folder: config.json
 * (transformers 5 form), safetensors shards and model.safetensors.index.json, the way
 * save_pretrained lays them out:
 *   - tensors are assigned to shards in state-dict order (embed, layer 0 .. N-1, norm,
 *     lm_head), a new shard starting when the next tensor would exceed the shard size;
 *   - inside each shard file the tensors are sorted by name (as the safetensors library
 *     does), so "model.layers.10.*" precedes "model.layers.2.*" on disk;
 *   - one shard is written as model.safetensors without an index, several as
 *     model-0000i-of-0000n.safetensors plus the index (metadata.total_size, weight_map).
 * Files are written under a temporary name and renamed when complete; config.json is
 * written last, so a folder with a config.json is complete. */
#include "mkmodel.h"
#include "st_writer.h"
#include "fu_util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- config.json ------------------------------------------------------------------- */

static const char *dtype_torch(mm_dtype_t d)
{
    return d == MM_F32 ? "float32" : d == MM_F16 ? "float16" : "bfloat16";
}

static void add_id(cJSON *o, const char *key, int id)
{
    if (id >= 0)
        cJSON_AddNumberToObject(o, key, id);
    else
        cJSON_AddNullToObject(o, key);
}

char *mm_config_json(const mm_opts_t *o)
{
    const mm_spec_t *s = &o->spec;
    int qwen = strcmp(s->model_type, "qwen2") == 0, llama = strcmp(s->model_type, "llama") == 0;
    const char *arch = qwen ? "Qwen2ForCausalLM" : llama ? "LlamaForCausalLM" : "MistralForCausalLM";
    cJSON *c = cJSON_CreateObject();
    if (!c)
        return NULL;
    /* keys in sorted order, as save_pretrained writes them */
    cJSON *a = cJSON_AddArrayToObject(c, "architectures");
    cJSON_AddItemToArray(a, cJSON_CreateString(arch));
    if (llama)
        cJSON_AddFalseToObject(c, "attention_bias");
    cJSON_AddNumberToObject(c, "attention_dropout", 0.0);
    add_id(c, "bos_token_id", o->bos);
    cJSON_AddStringToObject(c, "dtype", dtype_torch(o->dtype));
    add_id(c, "eos_token_id", o->eos);
    cJSON *fm = cJSON_AddObjectToObject(c, "flashfs_mkmodel");   /* provenance */
    cJSON_AddStringToObject(fm, "preset", s->name);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    cJSON_AddStringToObject(fm, "seed", seed);
    cJSON_AddNumberToObject(c, "head_dim", s->head_dim);
    cJSON_AddStringToObject(c, "hidden_act", "silu");
    cJSON_AddNumberToObject(c, "hidden_size", s->hidden);
    cJSON_AddNumberToObject(c, "initializer_range", 0.02);
    cJSON_AddNumberToObject(c, "intermediate_size", s->ffn);
    if (qwen) {
        cJSON *lt = cJSON_AddArrayToObject(c, "layer_types");
        for (int i = 0; i < s->layers; i++)
            cJSON_AddItemToArray(lt, cJSON_CreateString("full_attention"));
    }
    cJSON_AddNumberToObject(c, "max_position_embeddings", s->max_pos);
    if (qwen)
        cJSON_AddNumberToObject(c, "max_window_layers", s->layers);
    if (llama)
        cJSON_AddFalseToObject(c, "mlp_bias");
    cJSON_AddStringToObject(c, "model_type", s->model_type);
    cJSON_AddNumberToObject(c, "num_attention_heads", s->heads);
    cJSON_AddNumberToObject(c, "num_hidden_layers", s->layers);
    cJSON_AddNumberToObject(c, "num_key_value_heads", s->kv_heads);
    cJSON_AddNullToObject(c, "pad_token_id");
    if (llama)
        cJSON_AddNumberToObject(c, "pretraining_tp", 1);
    cJSON_AddNumberToObject(c, "rms_norm_eps", s->rms_eps);
    cJSON *rp = cJSON_AddObjectToObject(c, "rope_parameters");
    if (strcmp(s->rope_type, "llama3") == 0) {
        cJSON_AddNumberToObject(rp, "factor", s->rope_factor);
        cJSON_AddNumberToObject(rp, "high_freq_factor", s->rope_high_freq);
        cJSON_AddNumberToObject(rp, "low_freq_factor", s->rope_low_freq);
        cJSON_AddNumberToObject(rp, "original_max_position_embeddings", s->rope_orig_max_pos);
    }
    cJSON_AddNumberToObject(rp, "rope_theta", s->rope_theta);
    cJSON_AddStringToObject(rp, "rope_type", s->rope_type);
    if (!llama) {
        if (s->sliding_window > 0)
            cJSON_AddNumberToObject(c, "sliding_window", s->sliding_window);
        else
            cJSON_AddNullToObject(c, "sliding_window");
    }
    cJSON_AddBoolToObject(c, "tie_word_embeddings", s->tie);
    cJSON_AddTrueToObject(c, "use_cache");
    if (qwen)
        cJSON_AddFalseToObject(c, "use_sliding_window");
    cJSON_AddNumberToObject(c, "vocab_size", s->vocab);
    char *text = cJSON_Print(c);
    cJSON_Delete(c);
    return text;
}

/* ---- helpers -------------------------------------------------------------------------- */

static int write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int rc = fu_write_full(fd, text, strlen(text));
    if (rc == 0)
        rc = fu_write_full(fd, "\n", 1);
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    return rc;
}

/* mkdir -p */
static int make_dirs(const char *dir)
{
    char p[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof p)
        return -ENAMETOOLONG;
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0)
            continue;
        char c = p[i];
        p[i] = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            return -errno;
        p[i] = c;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return -errno;
    return S_ISDIR(sb.st_mode) ? 0 : -ENOTDIR;
}

/* qsort_r comparator: indices into the tensor array ctx, by Hugging Face name. */
static int by_name(const void *a, const void *b, void *ctx)
{
    const mm_tensor_t *t = ctx;
    return strcmp(t[*(const size_t *)a].hf_name, t[*(const size_t *)b].hf_name);
}

/* ---- shards -------------------------------------------------------------------------------- */

/* Write shard file `name` with tensors idx[0..n) (sorted by name here). */
static int write_shard(const mm_opts_t *o, mm_stream_t *st, const char *dir, const char *name,
                       const mm_tensor_t *t, size_t *idx, size_t n, char *err, size_t errlen)
{
    const char *dt = o->dtype == MM_F32 ? "F32" : o->dtype == MM_F16 ? "F16" : "BF16";
    size_t esz = mm_dtype_size(o->dtype);
    qsort_r(idx, n, sizeof *idx, by_name, (void *)t);
    sw_tensor_t *sw = calloc(n ? n : 1, sizeof *sw);
    if (!sw)
        return fu_err(err, errlen, -ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const mm_tensor_t *x = &t[idx[i]];
        sw[i].name = x->hf_name;
        sw[i].dtype = dt;
        sw[i].ndim = x->ndim;
        sw[i].shape[0] = x->ndim == 1 ? x->cols : x->rows;
        sw[i].shape[1] = x->cols;
        sw[i].nbytes = mm_numel(x) * esz;
    }
    static const char *const mk[] = { "format" }, *const mv[] = { "pt" };
    char *hdr;
    size_t hlen;
    int rc = sw_header(sw, n, mk, mv, 1, &hdr, &hlen, err, errlen);
    free(sw);
    if (rc != 0)
        return rc;
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        free(hdr);
        return fu_err(err, errlen, -errno, "%s: %s", tmp, strerror(errno));
    }
    rc = fu_write_full(fd, hdr, hlen);
    free(hdr);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = mm_stream_tensor(st, fd, &t[idx[i]], 0, o->dtype);
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0) {
        unlink(tmp);
        return fu_err(err, errlen, rc, "writing %s: %s", path, strerror(-rc));
    }
    return 0;
}

/* model.safetensors.index.json: weight_map sorted by tensor name. */
static int write_index(const char *dir, const mm_tensor_t *t, size_t nt, const int *shard_of,
                       int nshards, uint64_t total_size, uint64_t params)
{
    cJSON *ix = cJSON_CreateObject();
    if (!ix)
        return -ENOMEM;
    cJSON *md = cJSON_AddObjectToObject(ix, "metadata");
    cJSON_AddNumberToObject(md, "total_parameters", (double)params);
    cJSON_AddNumberToObject(md, "total_size", (double)total_size);
    cJSON *wm = cJSON_AddObjectToObject(ix, "weight_map");
    size_t *ord = malloc((nt ? nt : 1) * sizeof *ord);
    if (!ord) {
        cJSON_Delete(ix);
        return -ENOMEM;
    }
    for (size_t i = 0; i < nt; i++)
        ord[i] = i;
    qsort_r(ord, nt, sizeof *ord, by_name, (void *)t);
    for (size_t i = 0; i < nt; i++) {
        char name[64];
        snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", shard_of[ord[i]] + 1, nshards);
        cJSON_AddStringToObject(wm, t[ord[i]].hf_name, name);
    }
    free(ord);
    char *text = cJSON_Print(ix);
    cJSON_Delete(ix);
    if (!text)
        return -ENOMEM;
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    int rc = write_text(path, text);
    free(text);
    return rc;
}

int mm_write_hf(const mm_opts_t *o, const char *dir, char *err, size_t errlen)
{
    int rc = make_dirs(dir);
    if (rc != 0)
        return fu_err(err, errlen, rc, "%s: %s", dir, strerror(-rc));
    mm_tensor_t *t;
    size_t nt;
    if ((rc = mm_tensors(&o->spec, 0, &t, &nt)) != 0)
        return fu_err(err, errlen, rc, "out of memory");
    size_t esz = mm_dtype_size(o->dtype);
    int *shard_of = calloc(nt, sizeof *shard_of);
    size_t *idx = calloc(nt, sizeof *idx);
    if (!shard_of || !idx) {
        rc = fu_err(err, errlen, -ENOMEM, "out of memory");
        goto out;
    }
    /* shard assignment in state-dict order */
    uint64_t total = 0, params = 0, cur = 0;
    int nsh = 1;
    for (size_t i = 0; i < nt; i++) {
        uint64_t b = mm_numel(&t[i]) * esz;
        if (cur > 0 && cur + b > o->shard_size) {
            nsh++;
            cur = 0;
        }
        cur += b;
        shard_of[i] = nsh - 1;
        total += b;
        params += mm_numel(&t[i]);
    }
    mm_stream_t *st = mm_stream_new(o, total);
    if (!st) {
        rc = fu_err(err, errlen, -ENOMEM, "out of memory");
        goto out;
    }
    for (int s = 0; s < nsh && rc == 0; s++) {
        size_t n = 0;
        for (size_t i = 0; i < nt; i++)
            if (shard_of[i] == s)
                idx[n++] = i;
        char name[64];
        if (nsh == 1)
            snprintf(name, sizeof name, "model.safetensors");
        else
            snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, nsh);
        rc = write_shard(o, st, dir, name, t, idx, n, err, errlen);
    }
    mm_stream_free(st);
    if (rc == 0 && nsh > 1 && (rc = write_index(dir, t, nt, shard_of, nsh, total, params)) != 0)
        fu_err(err, errlen, rc, "writing the index: %s", strerror(-rc));
    if (rc == 0 && o->tokenizer_dir) {
        int copied;
        rc = mm_copy_tokenizer(o->tokenizer_dir, dir, &copied, err, errlen);
    }
    if (rc == 0) {
        char *cfg = mm_config_json(o), path[4096];
        snprintf(path, sizeof path, "%s/config.json", dir);
        rc = cfg ? write_text(path, cfg) : -ENOMEM;
        free(cfg);
        if (rc != 0)
            fu_err(err, errlen, rc, "writing %s: %s", path, strerror(-rc));
    }
out:
    free(shard_of);
    free(idx);
    free(t);
    return rc;
}
