/* seedgen.c — writes the seed corpora of the fuzz targets from the fixtures (prefix sg_).
 *
 *   seedgen CORPUS_DIR
 *
 * run from the repository root; creates CORPUS_DIR/<target>/ for every fuzz target and
 * fills it with:
 *   - safetensors / GGUF fixtures as virtual files (tests/fuzz/fuzz_vfile.h): the header
 *     only, plus a u64 tail length standing for the tensor data, so a 13 MB model becomes
 *     a seed of its header size;
 *   - small synthetic files made here, covering what the fixtures do not: every
 *     safetensors dtype and __metadata__, every GGUF KV type (nested arrays, strings),
 *     GGUF v2 and v3, a custom general.alignment;
 *   - the JSON fixtures as they are (config.json, model.safetensors.index.json,
 *     tokenizer.json), and the test strings of every reference.json for the encoder,
 *     each prefixed with its selector byte.
 * Committed hand-made seeds live in tests/fuzz/seeds/<target>/ and are used as well. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fu_util.h"
#include "pack.h"
#include <sys/mman.h>
#include <unistd.h>

static const char *sg_out;
static int sg_count;

/* ---- output helpers ------------------------------------------------------------ */

typedef struct {
    unsigned char *p;
    size_t len, cap;
    int oom;
} sg_buf_t;

static void put(sg_buf_t *b, const void *d, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 4096);
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void put_u8(sg_buf_t *b, unsigned v) { unsigned char c = (unsigned char)v; put(b, &c, 1); }

static void put_le(sg_buf_t *b, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        put_u8(b, (unsigned)(v >> (8 * i)) & 0xff);
}

static void put_str(sg_buf_t *b, const char *s) { put(b, s, strlen(s)); }

/* Write prefix (may be NULL) + data + optional u64 tail to CORPUS/target/name. */
static int emit(const char *target, const char *name, const char *prefix, const void *data,
                size_t len, int with_tail, uint64_t tail)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", sg_out, target);
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return -errno;
    snprintf(path, sizeof path, "%s/%s/%s", sg_out, target, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -errno;
    if (prefix)
        fwrite(prefix, 1, strlen(prefix), f);
    fwrite(data, 1, len, f);
    if (with_tail)
        for (int i = 0; i < 8; i++)
            fputc((int)(tail >> (8 * i)) & 0xff, f);
    int rc = fclose(f) == 0 ? 0 : -EIO;
    if (rc == 0)
        sg_count++;
    return rc;
}

/* A virtual-file seed for the container target and for the layout target (prefix byte). */
static void emit_vfile(const char *target, const char *name, const void *head, size_t head_len,
                       uint64_t tail, const char *layout_sel)
{
    emit(target, name, NULL, head, head_len, 1, tail);
    emit("fuzz_layout", name, layout_sel, head, head_len, 1, tail);
}

/* ---- fixtures as virtual files ------------------------------------------------- */

static int slurp(const char *path, char **out, size_t *len)
{
    return fu_read_file(path, 64u << 20, out, len);
}

static void seed_safetensors_fixture(const char *path, const char *name)
{
    char *d;
    size_t n;
    if (slurp(path, &d, &n) != 0 || n < 8) {
        fprintf(stderr, "seedgen: %s: unreadable, skipped\n", path);
        return;
    }
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | (unsigned char)d[i];
    if (hl <= n - 8)
        emit_vfile("fuzz_safetensors", name, d, (size_t)(8 + hl), n - 8 - hl, "\x00");
    free(d);
}

/* Walk a GGUF header without the project's parser: returns the end of the tensor-info
 * section (0 when the walk fails). With out != NULL the header is also copied to out with
 * every array cut to its first max_arr elements, and *align gets general.alignment. */
static uint64_t gguf_walk(const unsigned char *b, size_t n, sg_buf_t *out, uint64_t max_arr,
                          uint64_t *align)
{
    size_t p = 0;
    int copy = 1;
#define NEED(k) do { if ((k) > n - p) return 0; } while (0)
#define SKIP(k) do { NEED(k); if (out && copy) put(out, b + p, (size_t)(k)); p += (k); } while (0)
#define RD(var, k) do { NEED(k); var = 0; for (int i_ = (k) - 1; i_ >= 0; i_--) var = var << 8 | b[p + (size_t)i_]; SKIP(k); } while (0)
    uint64_t magic, ver, nt, nkv, len, t, at, cnt, nd;
    RD(magic, 4);
    RD(ver, 4);
    if (magic != 0x46554747u || ver < 2)
        return 0;
    RD(nt, 8);
    RD(nkv, 8);
    static const int sz[13] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };
    for (uint64_t k = 0; k < nkv; k++) {
        RD(len, 8);
        NEED(len);
        int is_align = len == 17 && memcmp(b + p, "general.alignment", 17) == 0;
        SKIP(len);
        RD(t, 4);
        if (t > 12)
            return 0;
        if (t == 9) {
            RD(at, 4);
            copy = 0;
            RD(cnt, 8);
            copy = 1;
            if (at > 12 || at == 9)
                return 0;
            if (out)
                put_le(out, cnt < max_arr ? cnt : max_arr, 8);
            for (uint64_t i = 0; i < cnt; i++) {
                copy = i < max_arr;
                if (at == 8) {
                    RD(len, 8);
                    SKIP(len);
                } else {
                    SKIP((size_t)sz[at]);
                }
            }
            copy = 1;
        } else if (t == 8) {
            RD(len, 8);
            SKIP(len);
        } else {
            uint64_t v;
            RD(v, (size_t)sz[t]);
            if (is_align && t == 4 && align)
                *align = v;
        }
    }
    for (uint64_t k = 0; k < nt; k++) {
        RD(len, 8);
        SKIP(len);
        RD(nd, 4);
        if (nd > 4)
            return 0;
        SKIP(nd * 8 + 12);
    }
#undef RD
#undef SKIP
#undef NEED
    return p;
}

/* A GGUF fixture as a virtual-file seed, its arrays (the vocabulary: 130 KB of the
 * demo's header) cut to 8 elements: every KV and tensor info of the real file stays, the
 * tensor offsets (relative to the data section) and the data size are unchanged. */
static void seed_gguf_fixture(const char *path, const char *name)
{
    char *d;
    size_t n;
    if (slurp(path, &d, &n) != 0) {
        fprintf(stderr, "seedgen: %s: unreadable, skipped\n", path);
        return;
    }
    sg_buf_t b = { 0 };
    uint64_t align = 32;
    uint64_t end = gguf_walk((const unsigned char *)d, n, &b, 8, &align);
    if (end == 0 || align == 0 || (align & (align - 1)) != 0) {
        fprintf(stderr, "seedgen: %s: not a GGUF header this walker reads, skipped\n", path);
    } else {
        uint64_t data = (end + align - 1) / align * align;
        while (b.len % align)
            put_u8(&b, 0);
        if (!b.oom && data <= n)
            emit_vfile("fuzz_gguf", name, b.p, b.len, n - data, "\x01");
    }
    free(b.p);
    free(d);
}

/* ---- packed files ------------------------------------------------------------------ */

/* Pack a small model file with tiny frames (so that one seed holds many frames of
 * every transform), grouped and not, into fuzz_pack seeds. */
static void seed_pack(const char *name, const unsigned char *data, size_t len, size_t hdr)
{
    /* regions: the header as is, then the data in slices of every transform */
    pk_region_t reg[64];
    size_t nreg = 0;
    static const uint8_t tr[] = { PK_T_BF16, PK_T_G2, PK_T_G4, PK_T_NONE };
    reg[nreg++] = (pk_region_t){ .off = 0, .len = hdr, .transform = PK_T_NONE, .klass = PK_K_HEADER };
    for (size_t off = hdr; off < len && nreg < 64; nreg++) {
        size_t n = len - off < 700 ? len - off : 700;
        if (nreg == 63)
            n = len - off;
        reg[nreg] = (pk_region_t){ .off = off, .len = n, .transform = tr[nreg % 4], .klass = PK_K_OTHER };
        off += n;
    }
    char err[256] = "";
    for (int group = 0; group < 2; group++) {
        int in = memfd_create("seed-in", MFD_CLOEXEC), out = memfd_create("seed-out", MFD_CLOEXEC);
        pk_wopts_t o = { .level = 1, .threads = 1, .group = group, .frame_size = 256 };
        char *buf = NULL;
        off_t sz;
        if (in >= 0 && out >= 0 && fu_write_full(in, data, len) == 0 &&
            pk_write(in, len, reg, nreg, out, &o, NULL, err, sizeof err) == 0 &&
            (sz = lseek(out, 0, SEEK_END)) > 0 && (buf = malloc((size_t)sz)) &&
            fu_pread_full(out, buf, (size_t)sz, 0) == 0) {
            char nm[128];
            snprintf(nm, sizeof nm, "%s%s", name, group ? "-grouped" : "");
            emit("fuzz_pack", nm, NULL, buf, (size_t)sz, 0, 0);
        } else {
            fprintf(stderr, "seedgen: packing %s failed: %s\n", name, err);
        }
        free(buf);
        if (in >= 0)
            close(in);
        if (out >= 0)
            close(out);
    }
}

/* ---- synthetic safetensors ------------------------------------------------------ */

static void seed_safetensors_synthetic(void)
{
    static const struct { const char *dt; int size; } dts[] = {
        { "BOOL", 1 }, { "U8", 1 }, { "I8", 1 }, { "I16", 2 }, { "U16", 2 }, { "F16", 2 },
        { "BF16", 2 }, { "I32", 4 }, { "U32", 4 }, { "F32", 4 }, { "I64", 8 }, { "U64", 8 },
        { "F64", 8 }, { "F8_E4M3", 1 }, { "F8_E5M2", 1 },
    };
    sg_buf_t js = { 0 };
    put_str(&js, "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"caf\xc3\xa9 \\u00e9\"}");
    uint64_t off = 0;
    char tmp[256];
    for (size_t i = 0; i < sizeof dts / sizeof dts[0]; i++) {
        uint64_t n = (uint64_t)(i + 1) * 2 * (uint64_t)dts[i].size;
        snprintf(tmp, sizeof tmp, ",\"model.layers.%zu.t_%s\":{\"dtype\":\"%s\",\"shape\":[%zu,2],"
                 "\"data_offsets\":[%llu,%llu]}", i % 3, dts[i].dt, dts[i].dt, i + 1,
                 (unsigned long long)off, (unsigned long long)(off + n));
        put_str(&js, tmp);
        off += n;
    }
    snprintf(tmp, sizeof tmp, ",\"model.embed_tokens.weight\":{\"dtype\":\"F32\",\"shape\":[],"
             "\"data_offsets\":[%llu,%llu]},\"lm_head.weight\":{\"dtype\":\"F16\",\"shape\":[0,4],"
             "\"data_offsets\":[%llu,%llu]}}", (unsigned long long)off,
             (unsigned long long)(off + 4), (unsigned long long)(off + 4),
             (unsigned long long)(off + 4));
    put_str(&js, tmp);
    off += 4;
    while (js.len % 8)
        put_u8(&js, ' ');
    sg_buf_t f = { 0 };
    put_le(&f, js.len, 8);
    put(&f, js.p, js.len);
    if (!f.oom && !js.oom) {
        emit_vfile("fuzz_safetensors", "synthetic-all-dtypes", f.p, f.len, off, "\x00");
        /* the whole file (pseudo-random data) for the packed-file seeds */
        uint32_t x = 12345;
        for (uint64_t i = 0; i < off; i++) {
            x = x * 1103515245u + 12345u;
            put_u8(&f, (x >> 16) & 0xff);
        }
        if (!f.oom)
            seed_pack("synthetic-all-dtypes.safetensors", f.p, f.len, 8 + js.len);
    }
    /* the empty model: {} */
    sg_buf_t e = { 0 };
    put_le(&e, 2, 8);
    put_str(&e, "{}");
    if (!e.oom)
        emit_vfile("fuzz_safetensors", "synthetic-empty", e.p, e.len, 0, "\x00");
    free(js.p);
    free(f.p);
    free(e.p);
}

/* ---- synthetic GGUF ---------------------------------------------------------------- */

static void gg_str(sg_buf_t *b, const char *s)
{
    put_le(b, strlen(s), 8);
    put_str(b, s);
}

static void gg_kv_hdr(sg_buf_t *b, const char *key, unsigned type)
{
    gg_str(b, key);
    put_le(b, type, 4);
}

/* A GGUF with every KV type and three tensors (F32, F16, Q8_0). */
static void seed_gguf_synthetic(unsigned version, unsigned alignment, const char *name)
{
    sg_buf_t b = { 0 };
    put_str(&b, "GGUF");
    put_le(&b, version, 4);
    put_le(&b, 3, 8);                   /* tensors */
    put_le(&b, 16, 8);                  /* KV pairs */
    gg_kv_hdr(&b, "general.architecture", 8); gg_str(&b, "llama");
    gg_kv_hdr(&b, "general.alignment", 4); put_le(&b, alignment, 4);
    gg_kv_hdr(&b, "k.u8", 0); put_le(&b, 200, 1);
    gg_kv_hdr(&b, "k.i8", 1); put_le(&b, 0x80, 1);
    gg_kv_hdr(&b, "k.u16", 2); put_le(&b, 65535, 2);
    gg_kv_hdr(&b, "k.i16", 3); put_le(&b, 0x8000, 2);
    gg_kv_hdr(&b, "llama.block_count", 4); put_le(&b, 1, 4);
    gg_kv_hdr(&b, "k.i32", 5); put_le(&b, 0xffffffffu, 4);
    gg_kv_hdr(&b, "k.f32", 6); put_le(&b, 0x3f800000u, 4);
    gg_kv_hdr(&b, "k.bool", 7); put_le(&b, 1, 1);
    gg_kv_hdr(&b, "k.u64", 10); put_le(&b, UINT64_MAX, 8);
    gg_kv_hdr(&b, "k.i64", 11); put_le(&b, 1ull << 63, 8);
    gg_kv_hdr(&b, "k.f64", 12); put_le(&b, 0x3ff0000000000000ull, 8);
    gg_kv_hdr(&b, "tokenizer.ggml.tokens", 9); put_le(&b, 8, 4); put_le(&b, 3, 8);
    gg_str(&b, "<s>"); gg_str(&b, "\xc4\xa0the"); gg_str(&b, "");
    gg_kv_hdr(&b, "tokenizer.ggml.scores", 9); put_le(&b, 6, 4); put_le(&b, 2, 8);
    put_le(&b, 0, 4); put_le(&b, 0xbf800000u, 4);
    gg_kv_hdr(&b, "k.empty_arr", 9); put_le(&b, 0, 4); put_le(&b, 0, 8);
    /* tensor infos: name, n_dims, ne[], type, offset (relative, aligned) */
    uint64_t off = 0;
    gg_str(&b, "token_embd.weight"); put_le(&b, 2, 4); put_le(&b, 8, 8); put_le(&b, 4, 8);
    put_le(&b, 0, 4); put_le(&b, off, 8);                       /* F32 8x4 = 128 B */
    off += (128 + alignment - 1) / alignment * alignment;
    gg_str(&b, "blk.0.attn_q.weight"); put_le(&b, 1, 4); put_le(&b, 64, 8);
    put_le(&b, 1, 4); put_le(&b, off, 8);                       /* F16 64 = 128 B */
    off += (128 + alignment - 1) / alignment * alignment;
    gg_str(&b, "output.weight"); put_le(&b, 2, 4); put_le(&b, 32, 8); put_le(&b, 2, 8);
    put_le(&b, 8, 4); put_le(&b, off, 8);                       /* Q8_0 64 = 2 blocks of 34 B */
    off += 68;
    while (b.len % alignment)
        put_u8(&b, 0);
    if (!b.oom) {
        emit_vfile("fuzz_gguf", name, b.p, b.len, off, "\x01");
        for (uint64_t i = 0; i < off; i++)
            put_u8(&b, (unsigned)(i * 7 + 3) & 0xff);
        if (!b.oom && version == 3)
            seed_pack("synthetic.gguf", b.p, b.len, b.len - off);
    }
    free(b.p);
}

/* ---- JSON fixtures --------------------------------------------------------------- */

static void seed_copy(const char *target, const char *path, const char *name, const char *prefix)
{
    char *d;
    size_t n;
    if (slurp(path, &d, &n) != 0) {
        fprintf(stderr, "seedgen: %s: unreadable, skipped\n", path);
        return;
    }
    emit(target, name, prefix, d, n, 0, 0);
    free(d);
}

/* ---- small tokenizers -------------------------------------------------------------- */

/* 1 when the merge entry e ("a b" or ["a", "b"]) joins two kept pieces into a kept one. */
static int merge_kept(const cJSON *vocab, const cJSON *e)
{
    char a[256], bb[256], ab[512];
    if (cJSON_IsString(e)) {
        const char *sp = strchr(e->valuestring, ' ');
        if (!sp || (size_t)(sp - e->valuestring) >= sizeof a || strlen(sp + 1) >= sizeof bb)
            return 0;
        snprintf(a, sizeof a, "%.*s", (int)(sp - e->valuestring), e->valuestring);
        snprintf(bb, sizeof bb, "%s", sp + 1);
    } else if (cJSON_GetArraySize(e) == 2 && cJSON_IsString(cJSON_GetArrayItem(e, 0)) &&
               cJSON_IsString(cJSON_GetArrayItem(e, 1))) {
        snprintf(a, sizeof a, "%s", cJSON_GetArrayItem(e, 0)->valuestring);
        snprintf(bb, sizeof bb, "%s", cJSON_GetArrayItem(e, 1)->valuestring);
    } else {
        return 0;
    }
    snprintf(ab, sizeof ab, "%s%s", a, bb);
    return cJSON_GetObjectItemCaseSensitive(vocab, a) && cJSON_GetObjectItemCaseSensitive(vocab, bb) &&
           cJSON_GetObjectItemCaseSensitive(vocab, ab);
}

/* A fixture tokenizer.json cut to the ids below keep (its added tokens, byte alphabet and
 * first merged pieces) and the merges among them, printed compact: the same pipeline as
 * the fixture at a few KB instead of up to 270 KB, so fuzz_tokenizer parses it ~50x
 * faster. extra != 0 adds a non-special normalized added token and an lstrip/rstrip
 * special one; metaspace != 0 turns the normalizer (Prepend + Replace) into NFC and
 * a Metaspace pre-tokenizer and decoder, the other SentencePiece layout. */
static void seed_tokenizer_small(const char *path, const char *name, int keep, int extra,
                                 int metaspace)
{
    char *d;
    size_t n;
    if (slurp(path, &d, &n) != 0) {
        fprintf(stderr, "seedgen: %s: unreadable, skipped\n", path);
        return;
    }
    cJSON *root = cJSON_ParseWithLength(d, n);
    free(d);
    cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges) || !cJSON_IsArray(added)) {
        fprintf(stderr, "seedgen: %s: not a BPE tokenizer.json, skipped\n", path);
        cJSON_Delete(root);
        return;
    }
    for (cJSON *e = vocab->child, *next; e; e = next) {
        next = e->next;
        if (!cJSON_IsNumber(e) || e->valuedouble >= keep)
            cJSON_Delete(cJSON_DetachItemViaPointer(vocab, e));
    }
    for (cJSON *e = merges->child, *next; e; e = next) {
        next = e->next;
        if (!merge_kept(vocab, e))
            cJSON_Delete(cJSON_DetachItemViaPointer(merges, e));
    }
    for (cJSON *e = added->child, *next; e; e = next) {
        next = e->next;
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        if (!cJSON_IsNumber(id) || id->valuedouble >= keep)
            cJSON_Delete(cJSON_DetachItemViaPointer(added, e));
    }
    if (extra) {                    /* ids right after the kept vocabulary */
        char tok[256];
        snprintf(tok, sizeof tok, "{\"id\":%d,\"content\":\" hello\",\"single_word\":true,"
                 "\"lstrip\":false,\"rstrip\":false,\"normalized\":true,\"special\":false}", keep);
        cJSON_AddItemToArray(added, cJSON_Parse(tok));
        snprintf(tok, sizeof tok, "{\"id\":%d,\"content\":\"<|tool|>\",\"single_word\":false,"
                 "\"lstrip\":true,\"rstrip\":true,\"normalized\":false,\"special\":true}", keep + 1);
        cJSON_AddItemToArray(added, cJSON_Parse(tok));
    }
    if (metaspace) {
        cJSON_ReplaceItemInObjectCaseSensitive(root, "normalizer", cJSON_Parse("{\"type\":\"NFC\"}"));
        cJSON_ReplaceItemInObjectCaseSensitive(root, "pre_tokenizer", cJSON_Parse(
            "{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"first\","
            "\"split\":false}"));
        cJSON_ReplaceItemInObjectCaseSensitive(root, "decoder", cJSON_Parse(
            "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},"
            "{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"first\"}]}"));
    }
    char *js = cJSON_PrintUnformatted(root);
    if (js)
        emit("fuzz_tokenizer", name, NULL, js, strlen(js), 0, 0);
    else
        fprintf(stderr, "seedgen: %s: out of memory, skipped\n", path);
    free(js);
    cJSON_Delete(root);
}

/* The test strings of reference.json "tokenizer" (array of objects with "text"), each
 * with the selector byte of tokenizer tk_index (plain and with special tokens). */
static void seed_encoder(const char *ref_path, int tk_index)
{
    char *d;
    size_t n;
    if (slurp(ref_path, &d, &n) != 0)
        return;
    cJSON *root = cJSON_ParseWithLength(d, n);
    free(d);
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(root, "tokenizer");
    const cJSON *it;
    int i = 0;
    cJSON_ArrayForEach(it, tok) {
        const cJSON *t = cJSON_IsString(it) ? it : cJSON_GetObjectItemCaseSensitive(it, "text");
        if (!cJSON_IsString(t))
            continue;
        char name[64], sel[2] = { (char)(tk_index + 3 * (i & 1)), 0 };
        snprintf(name, sizeof name, "ref-%d-%d", tk_index, i++);
        /* a zero selector byte would end the prefix string: write it as data instead */
        if (sel[0] == 0) {
            size_t l = strlen(t->valuestring);
            char *buf = malloc(l + 1);
            if (buf) {
                buf[0] = 0;
                memcpy(buf + 1, t->valuestring, l);
                emit("fuzz_tk_encode", name, NULL, buf, l + 1, 0, 0);
                free(buf);
            }
        } else {
            emit("fuzz_tk_encode", name, sel, t->valuestring, strlen(t->valuestring), 0, 0);
        }
    }
    cJSON_Delete(root);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: seedgen CORPUS_DIR   (run from the repository root)\n");
        return 2;
    }
    sg_out = argv[1];
    if (mkdir(sg_out, 0755) < 0 && errno != EEXIST) {
        perror(sg_out);
        return 1;
    }
    seed_safetensors_fixture("tests/fixtures/demo/model-00001-of-00002.safetensors", "demo-1");
    seed_safetensors_fixture("tests/fixtures/demo/model-00002-of-00002.safetensors", "demo-2");
    seed_safetensors_fixture("tests/fixtures/dev/llama-sp-f32/model.safetensors", "llama-sp-f32");
    seed_safetensors_fixture("tests/fixtures/dev/qwen2-bl-bf16/model.safetensors", "qwen2-bl-bf16");
    seed_safetensors_synthetic();
    seed_gguf_fixture("tests/fixtures/gguf/demo-bf16.gguf", "demo-bf16");
    seed_gguf_fixture("tests/fixtures/gguf/demo-q8_0.gguf", "demo-q8_0");
    seed_gguf_synthetic(3, 32, "synthetic-v3");
    seed_gguf_synthetic(2, 64, "synthetic-v2-align64");

    static const char *const mlx[] = { "demo-mlx-4bit", "demo-mlx-8bit-g32", "qwen2-mlx-4bit-tied" };
    char mpath[512];
    for (size_t i = 0; i < 3; i++) {
        snprintf(mpath, sizeof mpath, "tests/fixtures/mlx/%s/config.json", mlx[i]);
        seed_copy("fuzz_hf_quant", mpath, mlx[i], NULL);
    }
    static const char *const models[] = { "demo", "dev/llama-sp-f32", "dev/qwen2-bl-bf16" };
    char path[512], name[128];
    for (size_t i = 0; i < 3; i++) {
        const char *tag = strrchr(models[i], '/') ? strrchr(models[i], '/') + 1 : models[i];
        snprintf(path, sizeof path, "tests/fixtures/%s/config.json", models[i]);
        snprintf(name, sizeof name, "%s-config", tag);
        seed_copy("fuzz_hf_config", path, name, NULL);
        /* fuzz_tokenizer: small copies of the three pipelines (the fixtures themselves,
         * up to 270 KB, made each execution slow), plus the Metaspace variant */
        snprintf(path, sizeof path, "tests/fixtures/%s/tokenizer.json", models[i]);
        static const int keeps[] = { 300, 40 };
        for (int k = 0; k < 2; k++) {
            snprintf(name, sizeof name, "%s-tokenizer-%d", tag, keeps[k]);
            seed_tokenizer_small(path, name, keeps[k], k == 0, 0);
            if (strstr(models[i], "-sp-")) {
                snprintf(name, sizeof name, "%s-metaspace-%d", tag, keeps[k]);
                seed_tokenizer_small(path, name, keeps[k], k == 0, 1);
            }
        }
    }
    seed_copy("fuzz_hf_index", "tests/fixtures/demo/model.safetensors.index.json", "demo-index", NULL);
    /* fuzz_tk_encode selector: 0 demo, 1 qwen2, 2 llama-sp (+3: with special tokens) */
    seed_encoder("tests/fixtures/demo/reference.json", 0);
    seed_encoder("tests/fixtures/dev/qwen2-bl-bf16/reference.json", 1);
    seed_encoder("tests/fixtures/dev/llama-sp-f32/reference.json", 2);
    printf("seedgen: %d seeds in %s\n", sg_count, sg_out);
    return 0;
}
