/* pk_bench.c — helper of tools/bench_pack.sh (build/tests/pk_bench).
 *
 *   pk_bench gen FILE MIB [SEED]        write a synthetic bf16 safetensors file of ~MIB MiB:
 *                                       Llama-like tensors of N(0, 0.02) weights (norms 1.0)
 *   pk_bench decode FILE THREADS REPS   decode every frame of a packed file held in memory
 *                                       (pure decompression, no disk) on THREADS threads,
 *                                       REPS times; prints the medians "MB/s-total MB/s-per-thread
 *                                       MB-per-CPU-second" (logical bytes; the last one is
 *                                       immune to other load on the machine)
 *   pk_bench ratio FILE...              sum of logical and stored sizes of the files (packed
 *                                       or plain, via src_open): "logical stored ratio" */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "pack.h"
#include "source.h"

/* ---- gen ---------------------------------------------------------------------------------- */

static uint64_t rs;
static double unif(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return ((double)(rs >> 11) + 0.5) / 9007199254740992.0;
}

/* bf16 of a float: round to nearest even on the upper 16 bits. */
static uint16_t bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

static int gen(const char *path, uint64_t mib, uint64_t seed)
{
    rs = seed * 0x9E3779B97F4A7C15ull + 1;
    /* hidden 1024, ffn 2816: per layer q,k,v,o (4 x 1024^2), gate/up/down (3 x 1024 x 2816),
     * 2 norms; layers until the size is reached */
    const uint64_t h = 1024, f = 2816;
    uint64_t layer = (4 * h * h + 3 * h * f) * 2 + 2 * h * 2;
    uint64_t nl = mib * 1048576 / layer;
    if (nl < 1)
        nl = 1;
    char *json = malloc(nl * 9 * 160 + 64);
    if (!json)
        return -ENOMEM;
    size_t jl = 0;
    uint64_t off = 0;
    jl += (size_t)sprintf(json + jl, "{");
    static const char *names[] = { "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                   "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj", "input_layernorm",
                                   "post_attention_layernorm" };
    uint64_t rows[] = { h, h, h, h, f, f, h, h, h }, cols[] = { h, h, h, h, h, h, f, 0, 0 };
    for (uint64_t l = 0; l < nl; l++)
        for (int t = 0; t < 9; t++) {
            uint64_t n = cols[t] ? rows[t] * cols[t] : rows[t];
            if (cols[t])
                jl += (size_t)sprintf(json + jl, "%s\"model.layers.%llu.%s.weight\":{\"dtype\":\"BF16\",\"shape\":[%llu,%llu],"
                                      "\"data_offsets\":[%llu,%llu]}", jl > 1 ? "," : "", (unsigned long long)l, names[t],
                                      (unsigned long long)rows[t], (unsigned long long)cols[t],
                                      (unsigned long long)off, (unsigned long long)(off + 2 * n));
            else
                jl += (size_t)sprintf(json + jl, "%s\"model.layers.%llu.%s.weight\":{\"dtype\":\"BF16\",\"shape\":[%llu],"
                                      "\"data_offsets\":[%llu,%llu]}", jl > 1 ? "," : "", (unsigned long long)l, names[t],
                                      (unsigned long long)rows[t], (unsigned long long)off,
                                      (unsigned long long)(off + 2 * n));
            off += 2 * n;
        }
    jl += (size_t)sprintf(json + jl, "}");
    while ((8 + jl) % 8)
        json[jl++] = ' ';
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        free(json);
        return -errno;
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)((uint64_t)jl >> (8 * i));
    fwrite(len8, 1, 8, fp);
    fwrite(json, 1, jl, fp);
    uint16_t buf[4096];
    for (uint64_t l = 0; l < nl; l++)
        for (int t = 0; t < 9; t++) {
            uint64_t n = cols[t] ? rows[t] * cols[t] : rows[t];
            for (uint64_t i = 0; i < n;) {
                size_t k = 0;
                for (; k < 4096 && i < n; k += 2, i += 2) {
                    /* Box-Muller: two N(0, 0.02) values per pair of uniforms */
                    double r = sqrt(-2.0 * log(unif())), a = 2.0 * M_PI * unif();
                    buf[k] = cols[t] ? bf16((float)(0.02 * r * cos(a))) : bf16(1.0f);
                    buf[k + 1] = cols[t] ? bf16((float)(0.02 * r * sin(a))) : bf16(1.0f);
                }
                fwrite(buf, 2, k, fp);
            }
        }
    free(json);
    return fclose(fp) == 0 ? 0 : -EIO;
}

/* ---- decode ------------------------------------------------------------------------------- */

typedef struct {
    const pk_table_t *t;
    fu_mem_t *m;
    uint32_t first, step;
    uint64_t bytes;
    int rc;
} dec_t;

static void *dec_thread(void *arg)
{
    dec_t *d = arg;
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    uint32_t maxc = 0;
    for (uint32_t i = 0; i < d->t->n_frames; i++)
        if (d->t->frames[i].csize > maxc)
            maxc = d->t->frames[i].csize;
    uint8_t *c = malloc(maxc), *tmp = malloc(d->t->max_dsize + 1), *out = malloc(d->t->max_dsize + 1);
    if (!dc || !c || !tmp || !out)
        d->rc = -ENOMEM;
    for (uint32_t i = d->first; d->rc == 0 && i < d->t->n_frames; i += d->step) {
        const pk_frame_t *f = &d->t->frames[i];
        if (!f->dsize)
            continue;
        d->rc = pk_frame_decode(fu_mem_read, d->m, f, dc, c, tmp, out, NULL, 0);
        d->bytes += f->dsize;
    }
    ZSTD_freeDCtx(dc);
    free(c);
    free(tmp);
    free(out);
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int decode(const char *path, int threads, int reps)
{
    char *data, err[256];
    size_t n;
    int rc = fu_read_file(path, (size_t)16 << 30, &data, &n);
    if (rc < 0)
        return rc;
    fu_mem_t m = { data, n };
    pk_table_t t;
    if ((rc = pk_table_parse(fu_mem_read, &m, n, &t, err, sizeof err)) < 0) {
        fprintf(stderr, "pk_bench: %s: %s\n", path, err);
        free(data);
        return rc;
    }
    double *mbs = calloc((size_t)reps, sizeof *mbs), *cpu = calloc((size_t)reps, sizeof *cpu);
    for (int r = 0; r < reps && rc == 0; r++) {
        dec_t d[64];
        pthread_t th[64];
        struct timespec c0, c1;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
        uint64_t t0 = fu_now_ns(), bytes = 0;
        for (int i = 0; i < threads; i++) {
            d[i] = (dec_t){ &t, &m, (uint32_t)i, (uint32_t)threads, 0, 0 };
            pthread_create(&th[i], NULL, dec_thread, &d[i]);
        }
        for (int i = 0; i < threads; i++) {
            pthread_join(th[i], NULL);
            bytes += d[i].bytes;
            if (d[i].rc)
                rc = d[i].rc;
        }
        mbs[r] = (double)bytes / 1e6 / ((double)(fu_now_ns() - t0) / 1e9);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
        double cs = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
        cpu[r] = cs > 0 ? (double)bytes / 1e6 / cs : 0;
    }
    qsort(mbs, (size_t)reps, sizeof *mbs, cmp_d);
    qsort(cpu, (size_t)reps, sizeof *cpu, cmp_d);
    if (rc == 0)
        printf("%.1f %.1f %.1f\n", mbs[reps / 2], mbs[reps / 2] / threads, cpu[reps / 2]);
    free(mbs);
    free(cpu);
    pk_table_free(&t);
    free(data);
    return rc;
}

/* ---- ratio -------------------------------------------------------------------------------- */

static int ratio(int n, char **files)
{
    uint64_t lg = 0, st = 0;
    char err[256];
    for (int i = 0; i < n; i++) {
        src_t *s;
        int rc = src_open(AT_FDCWD, files[i], &s, err, sizeof err);
        if (rc < 0) {
            fprintf(stderr, "pk_bench: %s\n", err);
            return rc;
        }
        lg += s->size;
        st += s->stored_size;
        src_close(s);
    }
    printf("%llu %llu %.4f\n", (unsigned long long)lg, (unsigned long long)st, lg ? (double)st / (double)lg : 1.0);
    return 0;
}

int main(int argc, char **argv)
{
    int rc = -EINVAL;
    if (argc >= 4 && strcmp(argv[1], "gen") == 0)
        rc = gen(argv[2], strtoull(argv[3], NULL, 10), argc > 4 ? strtoull(argv[4], NULL, 10) : 1);
    else if (argc == 5 && strcmp(argv[1], "decode") == 0)
        rc = decode(argv[2], atoi(argv[3]) < 1 ? 1 : atoi(argv[3]) > 64 ? 64 : atoi(argv[3]),
                    atoi(argv[4]) < 1 ? 1 : atoi(argv[4]));
    else if (argc >= 3 && strcmp(argv[1], "ratio") == 0)
        rc = ratio(argc - 2, argv + 2);
    else
        fprintf(stderr, "usage: pk_bench gen FILE MIB [SEED] | decode FILE THREADS REPS | ratio FILE...\n");
    if (rc < 0 && rc != -EINVAL)
        fprintf(stderr, "pk_bench: %s\n", strerror(-rc));
    return rc < 0;
}
