/* ffs_tree.c — scanning MODEL_DIR into the static inode table (see ffs_tree.h).
 *
 * Scan rules, applied to every directory entry in name order:
 *   regular file  -> a file node (one per backing (st_dev, st_ino), shared by every path)
 *   directory     -> a directory node, scanned recursively
 *   symlink       -> resolved with realpath(); when the target is inside the containment
 *                    root (MODEL_DIR, or the models--* repository of a snapshot) it is
 *                    opened beneath rootfd without following links and treated as the
 *                    target file/directory, else (escaping or dangling) the entry is
 *                    hidden; a directory link to one of its own ancestors (a cycle) is
 *                    hidden too
 *   anything else -> hidden (fifos, sockets, devices) */
#include "ffs_tree.h"
#include "fu_util.h"
#include "hf_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_DEPTH 40
#define MAX_NODES (1u << 22)

/* ---- node table ------------------------------------------------------------ */

ffs_node_t *ffs_tree_node(const ffs_tree_t *t, uint64_t ino)
{
    if (ino == 0 || ino > t->n_nodes)
        return NULL;
    return &t->nodes[ino - 1];
}

static long new_node(ffs_tree_t *t, ffs_kind_t kind, uint64_t parent)
{
    if (t->n_nodes >= MAX_NODES)
        return -ENOSPC;
    if (t->n_nodes == t->cap_nodes) {
        size_t cap = t->cap_nodes ? t->cap_nodes * 2 : 64;
        ffs_node_t *n = realloc(t->nodes, cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        t->nodes = n;
        t->cap_nodes = cap;
    }
    ffs_node_t *n = &t->nodes[t->n_nodes++];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->parent = parent;
    n->ly_index = -1;
    n->ctl_id = -1;
    n->st.st_ino = t->n_nodes;
    return (long)t->n_nodes;
}

static int add_dent(ffs_node_t *dir, const char *name, uint64_t ino)
{
    if (dir->n_dents == dir->cap_dents) {
        size_t cap = dir->cap_dents ? dir->cap_dents * 2 : 8;
        ffs_dent_t *d = realloc(dir->dents, cap * sizeof *d);
        if (!d)
            return -ENOMEM;
        dir->dents = d;
        dir->cap_dents = cap;
    }
    char *nm = strdup(name);
    if (!nm)
        return -ENOMEM;
    dir->dents[dir->n_dents].name = nm;
    dir->dents[dir->n_dents].ino = ino;
    dir->n_dents++;
    return 0;
}

static int dent_cmp(const void *a, const void *b)
{
    return strcmp(((const ffs_dent_t *)a)->name, ((const ffs_dent_t *)b)->name);
}

uint64_t ffs_tree_lookup(const ffs_tree_t *t, const ffs_node_t *dir, const char *name)
{
    (void)t;
    if (!dir || (dir->kind != FFS_N_DIR && dir->kind != FFS_N_CTL_DIR) || !dir->n_dents)
        return 0;
    ffs_dent_t key = { (char *)name, 0 };
    const ffs_dent_t *d = bsearch(&key, dir->dents, dir->n_dents, sizeof *d, dent_cmp);
    return d ? d->ino : 0;
}

long ffs_tree_add(ffs_tree_t *t, uint64_t parent, const char *name, ffs_kind_t kind, mode_t mode)
{
    ffs_node_t *p = ffs_tree_node(t, parent);
    if (!p || ffs_tree_lookup(t, p, name))
        return -EEXIST;
    long ino = new_node(t, kind, parent);
    if (ino < 0)
        return ino;
    p = ffs_tree_node(t, parent); /* the table may have moved */
    ffs_node_t *n = ffs_tree_node(t, (uint64_t)ino);
    int isdir = kind == FFS_N_DIR || kind == FFS_N_CTL_DIR;
    n->st.st_mode = (isdir ? S_IFDIR : S_IFREG) | (mode & 07777);
    n->st.st_nlink = isdir ? 2 : 1;
    n->st.st_uid = getuid();
    n->st.st_gid = getgid();
    n->st.st_atim = n->st.st_mtim = n->st.st_ctim = p->st.st_mtim;
    int rc = add_dent(p, name, (uint64_t)ino);
    if (rc < 0)
        return rc;
    if (isdir)
        p->st.st_nlink++;
    qsort(p->dents, p->n_dents, sizeof *p->dents, dent_cmp);
    return ino;
}

/* ---- (dev, ino) -> node map, so that links to one file share its inode ------- */

typedef struct {
    dev_t dev;
    ino_t ino;
    uint64_t node;              /* 0 = empty slot */
} idmap_slot_t;

typedef struct {
    idmap_slot_t *slots;
    size_t cap, used;
} idmap_t;

static size_t id_hash(dev_t d, ino_t i, size_t cap)
{
    uint64_t h = ((uint64_t)d * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)i * 0xC2B2AE3D27D4EB4Full);
    return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

static uint64_t idmap_get(const idmap_t *m, dev_t d, ino_t i)
{
    if (!m->cap)
        return 0;
    for (size_t k = id_hash(d, i, m->cap);; k = (k + 1) & (m->cap - 1)) {
        if (!m->slots[k].node)
            return 0;
        if (m->slots[k].dev == d && m->slots[k].ino == i)
            return m->slots[k].node;
    }
}

static int idmap_put(idmap_t *m, dev_t d, ino_t i, uint64_t node)
{
    if ((m->used + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        idmap_slot_t *s = calloc(cap, sizeof *s);
        if (!s)
            return -ENOMEM;
        for (size_t k = 0; k < m->cap; k++) {
            if (!m->slots[k].node)
                continue;
            size_t j = id_hash(m->slots[k].dev, m->slots[k].ino, cap);
            while (s[j].node)
                j = (j + 1) & (cap - 1);
            s[j] = m->slots[k];
        }
        free(m->slots);
        m->slots = s;
        m->cap = cap;
    }
    size_t k = id_hash(d, i, m->cap);
    while (m->slots[k].node)
        k = (k + 1) & (m->cap - 1);
    m->slots[k] = (idmap_slot_t){ d, i, node };
    m->used++;
    return 0;
}

/* ---- scanning -------------------------------------------------------------- */

typedef struct {
    ffs_tree_t *t;
    idmap_t ids;
    char *err;
    size_t errlen;
} scan_t;

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *r = malloc(la + lb + 2);
    if (!r)
        return NULL;
    if (la) {
        memcpy(r, a, la);
        r[la] = '/';
        memcpy(r + la + 1, b, lb + 1);
    } else {
        memcpy(r, b, lb + 1);
    }
    return r;
}

static int tensor_named(const char *p)
{
    size_t n = strlen(p);
    return (n > 12 && !strcmp(p + n - 12, ".safetensors")) || (n > 5 && !strcmp(p + n - 5, ".gguf"));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* 1 when `anc` equals `rel` or is one of its ancestor directories (both relative). */
static int is_ancestor(const char *anc, const char *rel)
{
    size_t n = strlen(anc);
    if (n == 0)
        return 1;
    return !strncmp(anc, rel, n) && (rel[n] == '\0' || rel[n] == '/');
}

static int scan_dir(scan_t *s, uint64_t dir_ino, const char *rel, const char *disp, int depth, int linked);

int ffs_tree_open_beneath(const ffs_tree_t *t, const char *relpath, int flags)
{
    return fu_open_beneath_flags(t->rootfd, relpath, flags);
}

/* Resolve a symlink at backing path rel. Returns 1 with *target (malloc'd, canonical and
 * relative to the containment root) and *st (of the target, opened beneath rootfd without
 * following links) when the link stays inside the root; 0 when it escapes or dangles, or
 * when a component changed into a link after realpath() (a race: not followed). */
static int resolve_link(scan_t *s, const char *rel, char **target, struct stat *st)
{
    char *abs = join(s->t->root_real, rel);
    if (!abs)
        return -ENOMEM;
    char real[PATH_MAX];
    char *r = realpath(abs, real);
    free(abs);
    if (!r)
        return 0;
    size_t lr = strlen(s->t->root_real);
    const char *tail;
    if (!strcmp(s->t->root_real, "/"))
        tail = real + 1;
    else if (!strncmp(real, s->t->root_real, lr) && (real[lr] == '/' || real[lr] == '\0'))
        tail = real[lr] ? real + lr + 1 : real + lr;
    else
        return 0;
    int fd = ffs_tree_open_beneath(s->t, tail, O_PATH);
    if (fd < 0)
        return fd == -ENOMEM ? -ENOMEM : 0;
    int ok = fstat(fd, st) == 0 && !S_ISLNK(st->st_mode);
    close(fd);
    if (!ok)
        return 0;
    *target = strdup(tail);
    return *target ? 1 : -ENOMEM;
}

/* Preference of a path as a file's display name: tensor-named paths first, then paths
 * that do not pass through a directory link; ties keep the first path seen. */
static int display_score(const char *path, int linked)
{
    return tensor_named(path) * 2 + !linked;
}

static int scan_entry(scan_t *s, uint64_t dir_ino, int dirfd, const char *rel, const char *disp,
                      const char *name, int depth, int linked)
{
    ffs_tree_t *t = s->t;
    int rc = 0;
    char *crel = join(rel, name), *cdisp = join(disp, name), *target = NULL;
    if (!crel || !cdisp) {
        rc = -ENOMEM;
        goto out;
    }
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        fu_log(FU_LOG_WARN, "%s: %s (hidden)", cdisp, strerror(errno));
        t->n_hidden++;
        goto out;
    }
    const char *brel = crel;
    int via_link = 0;
    if (S_ISLNK(st.st_mode)) {
        rc = resolve_link(s, crel, &target, &st);
        if (rc < 0)
            goto out;
        if (rc == 0) {
            fu_log(FU_LOG_INFO, "%s: symlink escapes the %s or dangles (hidden)", cdisp,
                   t->model_rel[0] ? "Hugging Face cache repository" : "model directory");
            t->n_hidden++;
            t->n_hidden_link++;
            goto out;
        }
        rc = 0;
        brel = target;
        via_link = 1;
    }
    if (S_ISREG(st.st_mode)) {
        uint64_t ino = idmap_get(&s->ids, st.st_dev, st.st_ino);
        if (!ino) {
            long n = new_node(t, FFS_N_FILE, dir_ino);
            if (n < 0) {
                rc = (int)n;
                goto out;
            }
            ino = (uint64_t)n;
            ffs_node_t *f = ffs_tree_node(t, ino);
            f->st = st;
            f->st.st_ino = ino;
            f->st.st_nlink = 0;
            f->relpath = strdup(brel);
            f->bdev = st.st_dev;
            f->bino = st.st_ino;
            t->n_files++;
            f->display = cdisp;
            f->display_score = display_score(cdisp, linked);
            cdisp = NULL;
            if (!f->relpath || (rc = idmap_put(&s->ids, st.st_dev, st.st_ino, ino)) < 0) {
                rc = rc ? rc : -ENOMEM;
                goto out;
            }
        } else {
            ffs_node_t *f = ffs_tree_node(t, ino);
            int score = display_score(cdisp, linked);
            if (score > f->display_score) {
                free(f->display);
                f->display = cdisp;
                f->display_score = score;
                cdisp = NULL;
            }
        }
        ffs_tree_node(t, ino)->st.st_nlink++;
        rc = add_dent(ffs_tree_node(t, dir_ino), name, ino);
    } else if (S_ISDIR(st.st_mode)) {
        if (depth >= MAX_DEPTH || (via_link && is_ancestor(brel, rel))) {
            fu_log(FU_LOG_INFO, "%s: directory link cycle or too deep (hidden)", cdisp);
            t->n_hidden++;
            goto out;
        }
        long n = new_node(t, FFS_N_DIR, dir_ino);
        if (n < 0) {
            rc = (int)n;
            goto out;
        }
        ffs_node_t *d = ffs_tree_node(t, (uint64_t)n);
        t->n_dirs++;
        d->st = st;
        d->st.st_ino = (uint64_t)n;
        d->st.st_nlink = 2;
        ffs_tree_node(t, dir_ino)->st.st_nlink++;
        rc = add_dent(ffs_tree_node(t, dir_ino), name, (uint64_t)n);
        if (rc == 0)
            rc = scan_dir(s, (uint64_t)n, brel, cdisp, depth + 1, linked || via_link);
    } else {
        fu_log(FU_LOG_INFO, "%s: not a regular file or directory (hidden)", cdisp);
        t->n_hidden++;
        t->n_hidden_special++;
    }
out:
    free(crel);
    free(cdisp);
    free(target);
    return rc;
}

static int scan_dir(scan_t *s, uint64_t dir_ino, const char *rel, const char *disp, int depth, int linked)
{
    ffs_tree_t *t = s->t;
    int fd = ffs_tree_open_beneath(t, rel, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return fu_err(s->err, s->errlen, fd, "%s: %s", rel[0] ? rel : ".", strerror(-fd));
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = -errno;
        close(fd);
        return e;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (depth == 0 && !strcmp(e->d_name, ".flashfs")) {
            fu_log(FU_LOG_WARN, ".flashfs in the model directory is hidden by the control directory");
            t->n_hidden++;
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                rc = -ENOMEM;
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name))) {
            rc = -ENOMEM;
            break;
        }
        n++;
    }
    if (rc == 0 && n)
        qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = scan_entry(s, dir_ino, dirfd(d), rel, disp, names[i], depth, linked);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    ffs_node_t *dn = ffs_tree_node(t, dir_ino);
    if (rc == 0 && dn->n_dents)
        qsort(dn->dents, dn->n_dents, sizeof *dn->dents, dent_cmp);
    return rc;
}

int ffs_tree_scan(ffs_tree_t *t, const char *model_dir, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    t->rootfd = -1;
    t->model_rel = "";
    char real[PATH_MAX];
    if (!realpath(model_dir, real))
        return fu_err(err, errlen, -errno, "%s: %s", model_dir, strerror(errno));
    size_t rl = hfc_snapshot_repo_len(real);
    t->model_real = strdup(real);
    t->root_real = rl ? strndup(real, rl) : strdup(real);
    if (!t->model_real || !t->root_real)
        return -ENOMEM;
    if (rl) {
        t->model_rel = t->model_real + rl + 1;
        fu_log(FU_LOG_INFO, "%s is a snapshot of the Hugging Face cache repository %s: links into the "
               "repository are followed", real, t->root_real);
    }
    t->rootfd = open(t->root_real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (t->rootfd < 0)
        return fu_err(err, errlen, -errno, "%s: %s", t->root_real, strerror(errno));
    long root = new_node(t, FFS_N_DIR, 1);
    if (root < 0)
        return (int)root;
    int mfd = ffs_tree_open_beneath(t, t->model_rel, O_RDONLY | O_DIRECTORY);
    if (mfd < 0)
        return fu_err(err, errlen, mfd, "%s: %s", model_dir, strerror(-mfd));
    int ok = fstat(mfd, &t->nodes[0].st) == 0;
    int e = errno;
    close(mfd);
    if (!ok)
        return fu_err(err, errlen, -e, "%s: %s", model_dir, strerror(e));
    t->nodes[0].st.st_ino = 1;
    t->nodes[0].st.st_nlink = 2;
    scan_t s = { t, { NULL, 0, 0 }, err, errlen };
    int rc = scan_dir(&s, 1, t->model_rel, "", 0, 0);
    free(s.ids.slots);
    if (rc < 0 && err && !err[0])
        fu_err(err, errlen, rc, "scanning %s: %s", model_dir, strerror(-rc));
    return rc;
}

void ffs_tree_free(ffs_tree_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_nodes; i++) {
        ffs_node_t *n = &t->nodes[i];
        for (size_t k = 0; k < n->n_dents; k++)
            free(n->dents[k].name);
        free(n->dents);
        free(n->relpath);
        free(n->display);
        src_close(n->src);
    }
    free(t->nodes);
    free(t->root_real);
    free(t->model_real);
    if (t->rootfd >= 0)
        close(t->rootfd);
    memset(t, 0, sizeof *t);
    t->rootfd = -1;
    t->model_rel = "";
}
