/* control.c — contents of `.flashfs/` files and execution of control commands.
 * Field meanings are documented in docs/control.md; keep both in sync. */
#include "control.h"
#include "ffs.h"
#include "fu_util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- resident bytes per layer group ------------------------------------------------
 * Walk the resident page runs of every tensor file and attribute each page to the group
 * of its first byte (ly_group_at); pages of headers/padding belong to no group. */

typedef struct {
    const ly_file_t *lf;
    uint64_t *per_group;
    size_t n_groups;
    uint64_t size;
} group_acc_t;

static void acc_run(void *ctx, uint64_t off, uint64_t len)
{
    group_acc_t *a = ctx;
    for (uint64_t o = off; o < off + len; o += CA_PAGE) {
        int g = ly_group_at(a->lf, o);
        if (g < 0 || (size_t)g >= a->n_groups)
            continue;
        uint64_t n = o + CA_PAGE > a->size ? a->size - o : CA_PAGE;
        a->per_group[g] += n;
    }
}

/* Resident bytes of every group (malloc'd array of ly.n_groups), NULL on ENOMEM. */
static uint64_t *group_residency(ffs_t *fs)
{
    uint64_t *pg = calloc(fs->ly.n_groups + 1, sizeof *pg);
    if (!pg)
        return NULL;
    for (size_t i = 1; i <= fs->tree.n_nodes; i++) {
        ffs_node_t *n = ffs_tree_node(&fs->tree, i);
        if (n->kind != FFS_N_FILE || !n->cache || n->ly_index < 0 || (size_t)n->ly_index >= fs->ly.n_files)
            continue;
        group_acc_t a = { &fs->ly.files[n->ly_index], pg, fs->ly.n_groups, (uint64_t)n->st.st_size };
        ca_file_foreach(n->cache, acc_run, &a);
    }
    return pg;
}

static double uptime_s(ffs_t *fs)
{
    return (double)(fu_now_ns() - fs->sx.start_ns) / 1e9;
}

/* ---- stats (JSON) ----------------------------------------------------------------- */

#define NUM(obj, key, v) cJSON_AddNumberToObject(obj, key, (double)(v))

char *ctl_stats_json(ffs_t *fs)
{
    sx_stats_t *s = &fs->sx;
    uint64_t *pg = group_residency(fs);
    cJSON *o = cJSON_CreateObject();
    if (!o || !pg) {
        free(pg);
        cJSON_Delete(o);
        return NULL;
    }
    uint64_t pc = atomic_load(&fs->ca.pc_pages) * CA_PAGE, dm = atomic_load(&fs->ca.daemon_bytes);
    NUM(o, "budget_bytes", atomic_load(&fs->ca.budget));
    cJSON *r = cJSON_AddObjectToObject(o, "resident_bytes");
    NUM(r, "total", pc + dm);
    NUM(r, "daemon", dm);
    NUM(r, "page_cache", pc);
    NUM(o, "resident_set_bytes", atomic_load(&fs->ca.resident_set));
    cJSON *ad = cJSON_AddObjectToObject(o, "admission");
    if (ad) {
        NUM(ad, "waits", sx_get(&s->admit_waits));
        NUM(ad, "wait_ms", (double)sx_get(&s->admit_wait_ns) / 1e6);
        NUM(ad, "over_budget", sx_get(&s->admit_over));
    }
    cJSON *files = cJSON_AddObjectToObject(o, "files");
    for (size_t i = 1; i <= fs->tree.n_nodes; i++) {
        ffs_node_t *n = ffs_tree_node(&fs->tree, i);
        if (n->kind == FFS_N_FILE && n->cache && files)
            NUM(files, n->display, ca_file_resident(n->cache));
    }
    cJSON *groups = cJSON_AddObjectToObject(o, "groups");
    for (size_t g = 0; g < fs->ly.n_groups && groups; g++)
        NUM(groups, fs->ly.groups[g].name, pg[g]);
    cJSON *pinned = cJSON_AddArrayToObject(o, "pinned");
    for (size_t g = 0; g < fs->ly.n_groups && pinned && fs->pinned; g++)
        if (__atomic_load_n(&fs->pinned[g], __ATOMIC_RELAXED))
            cJSON_AddItemToArray(pinned, cJSON_CreateString(fs->ly.groups[g].name));
    NUM(o, "hits", sx_get(&s->hits));
    NUM(o, "misses", sx_get(&s->misses));
    NUM(o, "read_requests", sx_get(&s->reads));
    NUM(o, "read_bytes", sx_get(&s->read_bytes));
    NUM(o, "backing_bytes_read", sx_get(&s->backing_bytes));
    NUM(o, "backing_reads", sx_get(&s->backing_reads));
    /* effective read rate: logical bytes the backing store delivered (after decompression
     * for packed files) per second spent in those reads, in MB/s (1e6 bytes) */
    uint64_t bns = sx_get(&s->backing_ns);
    NUM(o, "backing_read_ms", (double)bns / 1e6);
    NUM(o, "effective_read_rate_mb_s", bns ? (double)sx_get(&s->backing_bytes) * 1e3 / (double)bns : 0.0);
    NUM(o, "evictions", sx_get(&s->evictions));
    NUM(o, "evicted_bytes", sx_get(&s->evicted_bytes));
    cJSON *p = cJSON_AddObjectToObject(o, "prefetch");
    if (p) {
        cJSON_AddBoolToObject(p, "enabled", atomic_load(&fs->prefetch_on));
        NUM(p, "depth", atomic_load(&fs->prefetch_depth));
        NUM(p, "issued", sx_get(&s->pf_issued));
        NUM(p, "used", sx_get(&s->pf_used));
        NUM(p, "wasted", sx_get(&s->pf_wasted));
        NUM(p, "late", sx_get(&s->pf_late));
        NUM(p, "pushed_bytes", sx_get(&s->pf_pushed));
    }
    cJSON *hn = cJSON_AddObjectToObject(o, "hints");
    if (hn) {
        int hg = atomic_load(&fs->ca.hint_group);
        NUM(hn, "accepted", sx_get(&s->hints));
        NUM(hn, "refused", sx_get(&s->hint_errors));
        cJSON_AddBoolToObject(hn, "active", atomic_load(&fs->ca.hint_until_ns) > fu_now_ns());
        cJSON_AddStringToObject(hn, "last_group",
                                hg >= 0 && (size_t)hg < fs->ly.n_groups ? fs->ly.groups[hg].name : "");
    }
    NUM(o, "stall_ms", (double)sx_get(&s->stall_ns) / 1e6);
    cJSON_AddStringToObject(o, "access_pattern", atomic_load(&fs->ca.mode) == CA_MODE_CYCLIC ? "cyclic" : "random");
    NUM(o, "cycles", sx_get(&s->cycles));
    NUM(o, "backing_bytes_last_cycle", atomic_load(&fs->ca.last_cycle_bytes));
    NUM(o, "model_chunks", fs->ca.n_cyc);
    cJSON *rs = cJSON_AddObjectToObject(o, "read_sizes");
    for (int b = 0; b < SX_RS_N && rs; b++)
        NUM(rs, sx_rs_names[b], sx_get(&s->read_sizes[b]));
    cJSON *k = cJSON_AddObjectToObject(o, "kernel");
    if (k) {
        NUM(k, "max_readahead", fs->conn_max_readahead);
        NUM(k, "max_read", fs->conn_max_read);
        NUM(k, "max_write", fs->conn_max_write);
        NUM(k, "bdi_read_ahead_kb", fs->bdi_read_ahead_kb);
    }
    cJSON *cf = cJSON_AddObjectToObject(o, "control_files");
    if (cf && fs->ctl) {
        uint64_t nopen, nbytes;
        ctl_reg_usage(fs->ctl, &nopen, &nbytes);
        NUM(cf, "open", nopen);
        NUM(cf, "snapshot_bytes", nbytes);
    }
    NUM(o, "uptime_s", uptime_s(fs));
    NUM(o, "errors", sx_get(&s->errors));
    ctl_packed_t pk;
    ctl_packed_totals(fs, &pk);
    cJSON *po = cJSON_AddObjectToObject(o, "packed");
    if (po) {
        NUM(po, "files", pk.files);
        NUM(po, "logical_bytes", pk.logical_bytes);
        NUM(po, "stored_bytes", pk.stored_bytes);
        NUM(po, "ratio", pk.ratio);
        NUM(po, "corrupt_frames", pk.corrupt_frames);
        NUM(po, "stored_bytes_read", pk.stored_bytes_read);
    }
    cJSON *pf = cJSON_AddObjectToObject(o, "packed_files");
    for (size_t i = 1; i <= fs->tree.n_nodes && pf; i++) {
        uint64_t lg, st;
        if (!ctl_packed_file(fs, i, &lg, &st))
            continue;
        cJSON *e = cJSON_AddObjectToObject(pf, ffs_tree_node(&fs->tree, i)->display);
        if (e) {
            NUM(e, "logical", lg);
            NUM(e, "stored", st);
        }
    }
    free(pg);
    char *txt = cJSON_Print(o);
    cJSON_Delete(o);
    if (!txt)
        return NULL;
    size_t l = strlen(txt);
    char *out = realloc(txt, l + 2);
    if (!out) {
        free(txt);
        return NULL;
    }
    out[l] = '\n';
    out[l + 1] = '\0';
    return out;
}

/* ---- metrics (Prometheus text exposition format) ----------------------------------- */

typedef struct {
    char *buf;
    size_t len, cap;
    int oom;
} sb_t;

static void sb_printf(sb_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sb_t *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *nb = realloc(b->buf, cap);
        if (!nb) {
            b->oom = 1;
            return;
        }
        b->buf = nb;
        b->cap = cap;
    }
}

/* A label value with \, " and newline escaped as the exposition format requires. */
static void sb_label(sb_t *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            sb_printf(b, "\\\\");
        else if (*v == '"')
            sb_printf(b, "\\\"");
        else if (*v == '\n')
            sb_printf(b, "\\n");
        else
            sb_printf(b, "%c", *v);
    }
}

static void head(sb_t *b, const char *name, const char *type, const char *help)
{
    sb_printf(b, "# HELP flashfs_%s %s\n# TYPE flashfs_%s %s\n", name, help, name, type);
}

static void metric(sb_t *b, const char *name, const char *type, const char *help, double v)
{
    head(b, name, type, help);
    sb_printf(b, "flashfs_%s %.17g\n", name, v);
}

char *ctl_metrics_text(ffs_t *fs)
{
    sx_stats_t *s = &fs->sx;
    sb_t b = { NULL, 0, 0, 0 };
    sb_printf(&b, "%s", "");
    uint64_t pc = atomic_load(&fs->ca.pc_pages) * CA_PAGE, dm = atomic_load(&fs->ca.daemon_bytes);
    metric(&b, "budget_bytes", "gauge", "RAM budget of the mount in bytes.", (double)atomic_load(&fs->ca.budget));
    head(&b, "resident_bytes", "gauge", "Bytes held for the mount, by where they live.");
    sb_printf(&b, "flashfs_resident_bytes{source=\"daemon\"} %llu\n", (unsigned long long)dm);
    sb_printf(&b, "flashfs_resident_bytes{source=\"page_cache\"} %llu\n", (unsigned long long)pc);
    metric(&b, "resident_set_bytes", "gauge", "Bytes of the planned resident set (kept across cycles).",
           (double)atomic_load(&fs->ca.resident_set));
    metric(&b, "admission_waits_total", "counter", "READs that waited for room under the budget.",
           (double)sx_get(&s->admit_waits));
    metric(&b, "admission_wait_seconds_total", "counter", "Time READs waited for room under the budget.",
           (double)sx_get(&s->admit_wait_ns) / 1e9);
    metric(&b, "admission_over_budget_total", "counter", "READs served over the budget after waiting in vain.",
           (double)sx_get(&s->admit_over));
    head(&b, "file_resident_bytes", "gauge", "Resident bytes of each mounted file.");
    for (size_t i = 1; i <= fs->tree.n_nodes; i++) {
        ffs_node_t *n = ffs_tree_node(&fs->tree, i);
        if (n->kind != FFS_N_FILE || !n->cache)
            continue;
        sb_printf(&b, "flashfs_file_resident_bytes{path=\"");
        sb_label(&b, n->display);
        sb_printf(&b, "\"} %llu\n", (unsigned long long)ca_file_resident(n->cache));
    }
    uint64_t *pg = group_residency(fs);
    if (!pg) {
        free(b.buf);
        return NULL;
    }
    head(&b, "group_resident_bytes", "gauge", "Resident bytes of each layer group.");
    for (size_t g = 0; g < fs->ly.n_groups; g++) {
        sb_printf(&b, "flashfs_group_resident_bytes{group=\"");
        sb_label(&b, fs->ly.groups[g].name);
        sb_printf(&b, "\"} %llu\n", (unsigned long long)pg[g]);
    }
    free(pg);
    metric(&b, "hits_total", "counter", "READ requests served from daemon buffers.", (double)sx_get(&s->hits));
    metric(&b, "misses_total", "counter", "READ requests that read the backing store.", (double)sx_get(&s->misses));
    metric(&b, "read_bytes_total", "counter", "Bytes returned to READ requests.", (double)sx_get(&s->read_bytes));
    metric(&b, "backing_read_bytes_total", "counter", "Bytes read from backing files.",
           (double)sx_get(&s->backing_bytes));
    metric(&b, "evictions_total", "counter", "Chunks invalidated to honour the budget or a drop.",
           (double)sx_get(&s->evictions));
    metric(&b, "evicted_bytes_total", "counter", "Resident bytes released by evictions.",
           (double)sx_get(&s->evicted_bytes));
    head(&b, "prefetch_total", "counter", "Prefetched chunks by outcome.");
    sb_printf(&b, "flashfs_prefetch_total{outcome=\"issued\"} %llu\n", (unsigned long long)sx_get(&s->pf_issued));
    sb_printf(&b, "flashfs_prefetch_total{outcome=\"used\"} %llu\n", (unsigned long long)sx_get(&s->pf_used));
    sb_printf(&b, "flashfs_prefetch_total{outcome=\"wasted\"} %llu\n", (unsigned long long)sx_get(&s->pf_wasted));
    sb_printf(&b, "flashfs_prefetch_total{outcome=\"late\"} %llu\n", (unsigned long long)sx_get(&s->pf_late));
    metric(&b, "prefetch_pushed_bytes_total", "counter",
           "Prefetched bytes pushed into the mount's page cache ahead of the reader (notify_store).",
           (double)sx_get(&s->pf_pushed));
    head(&b, "hints_total", "counter", "Lines written to .flashfs/hint by outcome.");
    sb_printf(&b, "flashfs_hints_total{outcome=\"accepted\"} %llu\n", (unsigned long long)sx_get(&s->hints));
    sb_printf(&b, "flashfs_hints_total{outcome=\"refused\"} %llu\n", (unsigned long long)sx_get(&s->hint_errors));
    metric(&b, "backing_read_seconds_total", "counter", "Time spent in successful backing reads (demand and prefetch).",
           (double)sx_get(&s->backing_ns) / 1e9);
    metric(&b, "stall_seconds_total", "counter", "Time READ requests waited on the backing store.",
           (double)sx_get(&s->stall_ns) / 1e9);
    metric(&b, "cycles_total", "counter", "Completed cyclic passes over the model.", (double)sx_get(&s->cycles));
    metric(&b, "backing_bytes_last_cycle", "gauge", "Bytes read from backing files during the last full cycle.",
           (double)atomic_load(&fs->ca.last_cycle_bytes));
    metric(&b, "cyclic_reader", "gauge", "1 when READs follow the cyclic layer order, else 0.",
           atomic_load(&fs->ca.mode) == CA_MODE_CYCLIC ? 1.0 : 0.0);
    head(&b, "read_requests_total", "counter", "READ requests by size bucket (upper bound).");
    for (int k = 0; k < SX_RS_N; k++)
        sb_printf(&b, "flashfs_read_requests_total{size=\"%s\"} %llu\n", sx_rs_names[k],
                  (unsigned long long)sx_get(&s->read_sizes[k]));
    metric(&b, "errors_total", "counter", "READ requests answered with an error.", (double)sx_get(&s->errors));
    metric(&b, "uptime_seconds", "gauge", "Seconds since the mount started.", uptime_s(fs));
    ctl_packed_t pk;
    ctl_packed_totals(fs, &pk);
    metric(&b, "packed_files", "gauge", "Mounted files served from zstd-packed backing files.", (double)pk.files);
    metric(&b, "packed_logical_bytes", "gauge", "Logical (served) bytes of the packed files.",
           (double)pk.logical_bytes);
    metric(&b, "packed_stored_bytes", "gauge", "On-disk bytes of the packed files.", (double)pk.stored_bytes);
    metric(&b, "packed_ratio", "gauge", "Stored over logical bytes of the packed files (0 when none).", pk.ratio);
    metric(&b, "packed_corrupt_frames_total", "counter", "Packed frames that failed to decode.",
           (double)pk.corrupt_frames);
    metric(&b, "packed_stored_bytes_read_total", "counter",
           "Compressed bytes read from the packed files (what the disk delivered).",
           (double)pk.stored_bytes_read);
    if (b.oom) {
        free(b.buf);
        return NULL;
    }
    return b.buf;
}

/* ---- rendering ------------------------------------------------------------------- */

static const char control_help[] =
    "# write one command per line (see docs/control.md):\n"
    "#   ram SIZE [force] | drop | pin GROUP... | unpin [GROUP...] | prefetch on|off | prefetch-depth N\n";

int ctl_render(ffs_t *fs, int id, char **out, size_t *len)
{
    char *t = NULL;
    switch (id) {
    case CTL_STATS:
        t = ctl_stats_json(fs);
        break;
    case CTL_METRICS:
        t = ctl_metrics_text(fs);
        break;
    case CTL_LAYOUT:
        t = ctl_layout_json(fs);
        break;
    case CTL_CONTROL:
        t = strdup(control_help);
        break;
    case CTL_HINT:
        t = ctl_hint_text(fs);
        break;
    case CTL_LAST_ERROR:
        pthread_mutex_lock(&fs->err_mu);
        if (fs->last_error[0]) {
            size_t l = strlen(fs->last_error);
            t = malloc(l + 2);
            if (t) {
                memcpy(t, fs->last_error, l);
                t[l] = '\n';
                t[l + 1] = '\0';
            }
        } else {
            t = strdup("");
        }
        pthread_mutex_unlock(&fs->err_mu);
        break;
    default:
        return -EINVAL;
    }
    if (!t)
        return -ENOMEM;
    *out = t;
    *len = strlen(t);
    return 0;
}

/* ---- commands ------------------------------------------------------------------- */

static int group_index(ffs_t *fs, const char *name)
{
    for (size_t g = 0; g < fs->ly.n_groups; g++)
        if (!strcmp(fs->ly.groups[g].name, name))
            return (int)g;
    return -1;
}

static int exec_one(ffs_t *fs, const ctl_cmd_t *c, char *err, size_t errlen)
{
    switch (c->op) {
    case CTL_CMD_NOP:
        return 0;
    case CTL_CMD_RAM:
        ca_set_budget(&fs->ca, c->value);
        return 0;
    case CTL_CMD_DROP:
        ca_drop(&fs->ca);
        return 0;
    case CTL_CMD_PIN:
    case CTL_CMD_UNPIN: {
        int pin = c->op == CTL_CMD_PIN;
        if (!fs->pinned)
            return fu_err(err, errlen, -EINVAL, "%s: the model has no layer groups", pin ? "pin" : "unpin");
        for (size_t i = 0; i < c->n_args; i++)
            if (group_index(fs, c->args[i]) < 0)
                return fu_err(err, errlen, -EINVAL, "%s: unknown group '%s' (see .flashfs/layout)",
                              pin ? "pin" : "unpin", c->args[i]);
        /* fs->pinned changes only here, under cmd_mu; stats reads it byte by byte */
        if (!pin && c->n_args == 0)
            for (size_t g = 0; g < fs->ly.n_groups; g++)
                __atomic_store_n(&fs->pinned[g], 0, __ATOMIC_RELAXED);
        for (size_t i = 0; i < c->n_args; i++)
            __atomic_store_n(&fs->pinned[group_index(fs, c->args[i])], (uint8_t)pin, __ATOMIC_RELAXED);
        ca_set_pins(&fs->ca, fs->pinned, fs->ly.n_groups);
        return 0;
    }
    case CTL_CMD_PREFETCH:
        atomic_store(&fs->prefetch_on, (int)c->value);
        ca_set_prefetch(&fs->ca, (int)c->value);
        return 0;
    case CTL_CMD_PREFETCH_DEPTH:
        atomic_store(&fs->prefetch_depth, (int)c->value);
        ca_set_depth(&fs->ca, (int)c->value);
        return 0;
    }
    return fu_err(err, errlen, -EINVAL, "unsupported command");
}

int ctl_exec_line(ffs_t *fs, const char *line, size_t len)
{
    ctl_cmd_t c;
    char err[256] = "";
    int rc = ctl_parse(line, len, &c, err, sizeof err);
    if (rc == 0)
        rc = exec_one(fs, &c, err, sizeof err);
    if (rc < 0) {
        ffs_set_last_error(fs, err[0] ? err : "command failed");
        return rc;
    }
    if (c.op != CTL_CMD_NOP) {
        ffs_set_last_error(fs, "");
        sx_add(&fs->sx.ctl_commands, 1);
    }
    return 0;
}
