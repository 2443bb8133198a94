/* control_fh.c — open files of `.flashfs/`: shared snapshots, bounded memory, and command
 * lines accumulated per handle (docs/control.md "Open files and memory", "control").
 *
 * Snapshots. Reading a control file serves a snapshot rendered at open. Snapshots are
 * immutable and reference-counted: an open shares the current snapshot of its file when
 * the state it was rendered from has not changed (state_key) and, for stats/metrics, it is
 * at most CTL_SHARE_MS old, so a thousand opens of `layout` hold one copy. A snapshot
 * lives while handles hold it. Memory is bounded by: at most CTL_MAX_HANDLES open handles
 * (-ENFILE beyond), the current snapshot of each file, and at most CTL_STALE_CAP bytes of
 * older snapshots still held open (a new render that would push past it is refused with
 * -ENFILE). One render per file at a time.
 *
 * Commands. Bytes written to `control` are appended to the handle's line buffer; every
 * complete line is executed under the mount's command mutex (fs->cmd_mu: commands never
 * run concurrently). A line longer than CTL_MAX_LINE is refused. flush/release execute a
 * last line without newline.
 *
 * Handles are numbered (slot + generation in fi->fh, never a pointer): the kernel may
 * still have a READ in flight when RELEASE arrives on another worker, so a handle is freed
 * only when released AND no request references it. */
#include "control.h"
#include "ffs.h"
#include "fu_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ctl_snap {
    char *data;
    size_t len;
    int refs;                   /* handles using it (freed at 0, also when current) */
    int current;                /* r->cur[id] points to it */
    int id;
    uint64_t born_ns;
    uint64_t key;
} ctl_snap_t;

struct ctl_fh {
    uint32_t gen;               /* bumped when the slot is reused */
    int used;
    int id;                     /* CTL_* */
    int writable;
    int refs;                   /* requests using it right now */
    int released;
    ctl_snap_t *snap;           /* readable handles */
    char *line;                 /* writable handles: the unfinished command line */
    size_t line_len;
    int overlong;               /* discarding the rest of a too-long line */
};

struct ctl_reg {
    pthread_mutex_t mu;         /* slots, snapshots, byte counts */
    pthread_mutex_t render_mu[CTL_N];
    struct ctl_fh **slots;      /* handles stay where they are allocated (requests hold
                                 * pointers while the table grows), reused when free */
    size_t n_slots;             /* table size (grows to CTL_MAX_HANDLES) */
    size_t n_open;
    ctl_snap_t *cur[CTL_N];
    size_t stale_bytes;         /* bytes of snapshots that are no longer current */
    size_t cur_bytes;
};

static uint64_t share_ns(int id)
{
    switch (id) {
    case CTL_STATS:
    case CTL_METRICS:
    case CTL_HINT:
        return CTL_SHARE_MS * 1000000ull;
    default:
        return UINT64_MAX;
    }
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
}

/* What the document of file id depends on besides the clock: a snapshot is shared only
 * while this is unchanged. */
static uint64_t state_key(ffs_t *fs, int id)
{
    uint64_t h = (uint64_t)id;
    if (id == CTL_LAST_ERROR)
        return mix(h, atomic_load(&fs->err_gen));
    if (id == CTL_LAYOUT) {
        /* the layout is fixed at mount; only the sources (stored size, packed flag) may
         * change, when the watcher swaps a changed backing file */
        for (size_t i = 1; i <= fs->tree.n_nodes; i++) {
            ffs_node_t *n = ffs_tree_node(&fs->tree, i);
            if (n->kind == FFS_N_FILE)
                h = mix(h, (uint64_t)(uintptr_t)__atomic_load_n(&n->src, __ATOMIC_ACQUIRE));
        }
        return h;
    }
    if (id == CTL_HINT)
        return mix(mix(mix(h, sx_get(&fs->sx.hints)), sx_get(&fs->sx.hint_errors)), atomic_load(&fs->ca.hint_until_ns));
    if (id != CTL_STATS && id != CTL_METRICS)
        return h;
    sx_stats_t *s = &fs->sx;
    _Atomic uint64_t *ctr[] = { &s->reads, &s->backing_reads, &s->evictions, &s->pf_issued, &s->pf_used,
                                &s->pf_wasted, &s->pf_late, &s->pf_pushed, &s->errors, &s->ctl_commands, &s->cycles };
    for (size_t i = 0; i < sizeof ctr / sizeof *ctr; i++)
        h = mix(h, sx_get(ctr[i]));
    h = mix(h, atomic_load(&fs->ca.pc_pages));
    h = mix(h, atomic_load(&fs->ca.daemon_bytes));
    h = mix(h, atomic_load(&fs->ca.budget));
    h = mix(h, (uint64_t)atomic_load(&fs->ca.mode));
    if (id == CTL_STATS) {
        /* stats shows control_files: open handles and snapshot bytes */
        uint64_t nopen, nbytes;
        ctl_reg_usage(fs->ctl, &nopen, &nbytes);
        h = mix(mix(h, nopen), nbytes);
    }
    return h;
}

int ctl_reg_new(ctl_reg_t **out)
{
    ctl_reg_t *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    if (pthread_mutex_init(&r->mu, NULL)) {
        free(r);
        return -ENOMEM;
    }
    for (int i = 0; i < CTL_N; i++)
        if (pthread_mutex_init(&r->render_mu[i], NULL)) {
            while (i-- > 0)
                pthread_mutex_destroy(&r->render_mu[i]);
            pthread_mutex_destroy(&r->mu);
            free(r);
            return -ENOMEM;
        }
    *out = r;
    return 0;
}

static void snap_free(ctl_snap_t *s)
{
    if (s) {
        free(s->data);
        free(s);
    }
}

/* Drop one reference (under r->mu). */
static void snap_unref(ctl_reg_t *r, ctl_snap_t *s)
{
    if (!s || --s->refs > 0)
        return;
    if (s->current) {
        r->cur_bytes -= s->len;
        r->cur[s->id] = NULL;
    } else {
        r->stale_bytes -= s->len;
    }
    snap_free(s);
}

void ctl_reg_free(ctl_reg_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_slots; i++) {
        struct ctl_fh *h = r->slots[i];
        if (h && h->used) {
            snap_unref(r, h->snap);
            free(h->line);
        }
        free(h);
    }
    for (int i = 0; i < CTL_N; i++)
        pthread_mutex_destroy(&r->render_mu[i]);
    free(r->slots);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

void ctl_reg_usage(ctl_reg_t *r, uint64_t *open, uint64_t *bytes)
{
    pthread_mutex_lock(&r->mu);
    *open = r->n_open;
    *bytes = r->cur_bytes + r->stale_bytes;
    pthread_mutex_unlock(&r->mu);
}

/* A reference on a snapshot of file id: the current one when still valid, else a new
 * render that becomes current. 0, -ENOMEM, or -ENFILE when the stale cap is reached. */
static int snap_get(ffs_t *fs, int id, ctl_snap_t **out)
{
    ctl_reg_t *r = fs->ctl;
    pthread_mutex_lock(&r->render_mu[id]);
    uint64_t key = state_key(fs, id), now = fu_now_ns();
    pthread_mutex_lock(&r->mu);
    ctl_snap_t *c = r->cur[id];
    if (c && c->key == key && now - c->born_ns <= share_ns(id)) {
        c->refs++;
        pthread_mutex_unlock(&r->mu);
        pthread_mutex_unlock(&r->render_mu[id]);
        *out = c;
        return 0;
    }
    pthread_mutex_unlock(&r->mu);
    ctl_snap_t *s = calloc(1, sizeof *s);
    int rc = s ? ctl_render(fs, id, &s->data, &s->len) : -ENOMEM;
    if (rc < 0) {
        free(s);
        pthread_mutex_unlock(&r->render_mu[id]);
        return rc;
    }
    s->born_ns = now;
    s->key = key;
    s->refs = 1; /* the caller's */
    s->current = 1;
    s->id = id;
    pthread_mutex_lock(&r->mu);
    c = r->cur[id];
    /* the replaced snapshot (held by handles, else it would be gone) becomes stale */
    if (c && r->stale_bytes + c->len > CTL_STALE_CAP) {
        pthread_mutex_unlock(&r->mu);
        pthread_mutex_unlock(&r->render_mu[id]);
        snap_free(s);
        return -ENFILE;
    }
    if (c) {
        r->cur_bytes -= c->len;
        r->stale_bytes += c->len;
        c->current = 0;
    }
    r->cur[id] = s;
    r->cur_bytes += s->len;
    pthread_mutex_unlock(&r->mu);
    pthread_mutex_unlock(&r->render_mu[id]);
    *out = s;
    return 0;
}

/* Slot for a new handle (under r->mu), NULL when CTL_MAX_HANDLES are open or on ENOMEM. */
static struct ctl_fh *slot_new(ctl_reg_t *r, size_t *idx)
{
    size_t i = 0;
    while (i < r->n_slots && r->slots[i] && r->slots[i]->used)
        i++;
    if (i == r->n_slots) {
        if (r->n_slots >= CTL_MAX_HANDLES)
            return NULL;
        size_t n = r->n_slots ? r->n_slots * 2 : 16;
        if (n > CTL_MAX_HANDLES)
            n = CTL_MAX_HANDLES;
        struct ctl_fh **ns = realloc(r->slots, n * sizeof *ns);
        if (!ns)
            return NULL;
        memset(ns + r->n_slots, 0, (n - r->n_slots) * sizeof *ns);
        r->slots = ns;
        r->n_slots = n;
    }
    if (!r->slots[i] && !(r->slots[i] = calloc(1, sizeof *r->slots[i])))
        return NULL;
    *idx = i;
    return r->slots[i];
}

int ctl_fh_open(ffs_t *fs, int id, int rd, int wr, uint64_t *fh)
{
    ctl_reg_t *r = fs->ctl;
    ctl_snap_t *s = NULL;
    pthread_mutex_lock(&r->mu);
    int full = r->n_open >= CTL_MAX_HANDLES;
    pthread_mutex_unlock(&r->mu);
    if (full)
        return -ENFILE;
    if (rd) {
        int rc = snap_get(fs, id, &s);
        if (rc < 0)
            return rc;
    }
    pthread_mutex_lock(&r->mu);
    size_t i;
    struct ctl_fh *h = slot_new(r, &i);
    if (!h) {
        int e = r->n_slots >= CTL_MAX_HANDLES ? -ENFILE : -ENOMEM;
        snap_unref(r, s);
        pthread_mutex_unlock(&r->mu);
        return e;
    }
    uint32_t gen = h->gen + 1;
    memset(h, 0, sizeof *h);
    h->gen = gen;
    h->used = 1;
    h->id = id;
    h->writable = wr;
    h->snap = s;
    r->n_open++;
    *fh = ((uint64_t)gen << 32) | (uint64_t)(i + 1);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

/* The live, not released handle numbered fh (under r->mu), or NULL. */
static struct ctl_fh *fh_find(ctl_reg_t *r, uint64_t fh)
{
    uint64_t i = (fh & 0xffffffffu);
    if (!i || i > r->n_slots)
        return NULL;
    struct ctl_fh *h = r->slots[i - 1];
    if (!h || !h->used || h->released || h->gen != (uint32_t)(fh >> 32))
        return NULL;
    return h;
}

static void fh_free(ctl_reg_t *r, struct ctl_fh *h)
{
    snap_unref(r, h->snap);
    free(h->line);
    uint32_t gen = h->gen;
    memset(h, 0, sizeof *h);
    h->gen = gen;
    r->n_open--;
}

static void fh_put(ctl_reg_t *r, struct ctl_fh *h)
{
    pthread_mutex_lock(&r->mu);
    if (--h->refs == 0 && h->released)
        fh_free(r, h);
    pthread_mutex_unlock(&r->mu);
}

int ctl_fh_read(ffs_t *fs, uint64_t fh, size_t size, uint64_t off, ctl_reply_fn reply, void *ctx)
{
    ctl_reg_t *r = fs->ctl;
    pthread_mutex_lock(&r->mu);
    struct ctl_fh *h = fh_find(r, fh);
    ctl_snap_t *s = h ? h->snap : NULL;
    if (s)
        h->refs++;
    pthread_mutex_unlock(&r->mu);
    if (!s)
        return -EBADF;
    size_t n = off >= s->len ? 0 : (s->len - off < size ? s->len - off : size);
    reply(ctx, n ? s->data + off : NULL, n);
    fh_put(r, h);
    return 0;
}

/* One complete line of handle h: a command of `control` or a hint of `hint`. */
static int exec_line(ffs_t *fs, const struct ctl_fh *h, const char *line, size_t len)
{
    return h->id == CTL_HINT ? ctl_hint_line(fs, line, len) : ctl_exec_line(fs, line, len);
}

/* Feed buf to the line buffer of h, executing every complete line (under fs->cmd_mu).
 * At the first failing line the rest of buf is discarded: -EINVAL. */
static int feed(ffs_t *fs, struct ctl_fh *h, const char *buf, size_t size)
{
    size_t i = 0;
    while (i < size) {
        const char *nl = memchr(buf + i, '\n', size - i);
        size_t l = nl ? (size_t)(nl - (buf + i)) : size - i;
        if (h->overlong) {
            /* the rest of a refused line: skip through its newline */
            if (nl)
                h->overlong = 0;
            i += l + (nl ? 1 : 0);
            continue;
        }
        if (h->line_len + l > CTL_MAX_LINE) {
            h->line_len = 0;
            h->overlong = !nl;
            char e[96];
            snprintf(e, sizeof e, "command too long (more than %d bytes)", CTL_MAX_LINE);
            ffs_set_last_error(fs, e);
            return -EINVAL;
        }
        if (!h->line) {
            h->line = malloc(CTL_MAX_LINE);
            if (!h->line)
                return -ENOMEM;
        }
        memcpy(h->line + h->line_len, buf + i, l);
        h->line_len += l;
        i += l + (nl ? 1 : 0);
        if (!nl)
            break;
        size_t ll = h->line_len;
        h->line_len = 0;
        int rc = exec_line(fs, h, h->line, ll);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The writable handle fh with a request reference, or NULL. */
static struct ctl_fh *get_writable(ctl_reg_t *r, uint64_t fh)
{
    pthread_mutex_lock(&r->mu);
    struct ctl_fh *h = fh_find(r, fh);
    if (h && h->writable && (h->id == CTL_CONTROL || h->id == CTL_HINT))
        h->refs++;
    else
        h = NULL;
    pthread_mutex_unlock(&r->mu);
    return h;
}

int ctl_fh_write(ffs_t *fs, uint64_t fh, const char *buf, size_t size)
{
    struct ctl_fh *h = get_writable(fs->ctl, fh);
    if (!h)
        return -EBADF;
    pthread_mutex_lock(&fs->cmd_mu);
    int rc = feed(fs, h, buf, size);
    pthread_mutex_unlock(&fs->cmd_mu);
    fh_put(fs->ctl, h);
    return rc;
}

/* Execute a pending last line of h (under fs->cmd_mu). */
static int finish_line(ffs_t *fs, struct ctl_fh *h)
{
    size_t ll = h->line_len;
    int over = h->overlong;
    h->line_len = 0;
    h->overlong = 0;
    if (over || !ll)
        return 0;
    return exec_line(fs, h, h->line, ll);
}

int ctl_fh_flush(ffs_t *fs, uint64_t fh)
{
    struct ctl_fh *h = get_writable(fs->ctl, fh);
    if (!h)
        return 0;
    pthread_mutex_lock(&fs->cmd_mu);
    int rc = finish_line(fs, h);
    pthread_mutex_unlock(&fs->cmd_mu);
    fh_put(fs->ctl, h);
    return rc;
}

void ctl_fh_release(ffs_t *fs, uint64_t fh)
{
    ctl_reg_t *r = fs->ctl;
    struct ctl_fh *h = get_writable(r, fh);
    if (h) {
        pthread_mutex_lock(&fs->cmd_mu);
        (void)finish_line(fs, h);
        pthread_mutex_unlock(&fs->cmd_mu);
        fh_put(r, h);
    }
    pthread_mutex_lock(&r->mu);
    h = fh_find(r, fh);
    if (h) {
        h->released = 1;
        if (h->refs == 0)
            fh_free(r, h);
    }
    pthread_mutex_unlock(&r->mu);
}
