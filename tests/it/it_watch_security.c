/* it_watch_security.c — the backing-file watcher against a hostile owner of MODEL_DIR
 * (issue 13, items 1-4). Every case is a root mount with -o allow_other; "the user" is
 * uid/gid 65534 acting in a forked child (setgroups, setgid, setuid).
 *
 *   link_escape         the user, owning MODEL_DIR, replaces config.json by a link to a
 *                       root-only 0600 secret (ln -sf), and swaps a directory for a link
 *                       to a root-only directory (mv sub sub.old; ln -s DIR sub): the
 *                       secret's bytes are never readable through the mount, the files
 *                       keep their old bytes and attributes, each is logged once
 *   grow_replaced       a 3 MiB file replaced (rename over) by a 5 MiB one while 4
 *                       threads read it: afterwards every reader (pread and mmap) gets
 *                       exactly the new file (sha256 of the backing file), the daemon is
 *                       alive and exits 0
 *   grow_under_prefetch the same for a shard of the demo model read cyclically, cold
 *                       every pass (prefetch buffers of the old file in flight and held)
 *   perms_follow        chmod 600, chown to root, rename-over with a 0600 file: the user
 *                       is refused (EACCES) within a few watch passes and stat through
 *                       the mount shows the new mode and owner
 *   fifo_swapped        a FIFO put under a file name (statically, then raced against two
 *                       regular files by a swapping child): later changes of other files
 *                       are still picked up, the daemon exits promptly after unmount */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "sha256.h"

#define USER_ID 65534
#define SECRET "TOP-SECRET-flashfs-it-7f3a9c"
#define WAIT_MS 10000   /* bound for the watcher (every 100 ms) to notice a change */

/* ---- acting as the unprivileged user ------------------------------------------------- */

static void become_user(void)
{
    if (setgroups(0, NULL) != 0 || setgid(USER_ID) != 0 || setuid(USER_ID) != 0)
        _exit(99);
}

/* Run fn(arg) as the user in a child; its return value (0..98) is the result, 99 when
 * the child could not drop privileges. */
static int as_user(int (*fn)(void *), void *arg)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        become_user();
        _exit(fn(arg) & 0x7f);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 99, "the user's child failed (status %d)", st);
    return WEXITSTATUS(st);
}

typedef struct {
    int err;                /* 0, or errno of open/read/stat */
    size_t len;
    struct stat st;
    char data[8192];
} user_res_t;

/* As the user: open path, read up to sizeof data bytes (or only stat it when stat_only). */
static void user_access(const char *path, int stat_only, user_res_t *r)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(p[0]);
        become_user();
        user_res_t *c = calloc(1, sizeof *c);
        if (!c)
            _exit(98);
        if (stat_only) {
            if (stat(path, &c->st) != 0)
                c->err = errno;
        } else {
            int fd = open(path, O_RDONLY);
            if (fd < 0) {
                c->err = errno;
            } else {
                ssize_t n = 0;
                while (c->len < sizeof c->data && (n = read(fd, c->data + c->len, sizeof c->data - c->len)) > 0)
                    c->len += (size_t)n;
                if (n < 0)
                    c->err = errno;
                close(fd);
            }
        }
        ssize_t w = write(p[1], c, sizeof *c);
        _exit(w == (ssize_t)sizeof *c ? 0 : 98);
    }
    close(p[1]);
    size_t got = 0;
    ssize_t n;
    while (got < sizeof *r && (n = read(p[0], (char *)r + got, sizeof *r - got)) > 0)
        got += (size_t)n;
    close(p[0]);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0 && got == sizeof *r, "the user's child failed (status %d)",
                  st);
}

/* ---- files ------------------------------------------------------------------------------ */

static void write_file(const char *path, const void *data, size_t n, mode_t mode, uid_t uid)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
    ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
    ck_assert_int_eq(fchmod(fd, mode), 0);
    ck_assert_int_eq(fchown(fd, uid, uid), 0);
    close(fd);
}

static void write_text(const char *path, const char *text, mode_t mode, uid_t uid)
{
    write_file(path, text, strlen(text), mode, uid);
}

/* Number of daemon log lines containing both a and b. */
static int log_lines(const it_mount_t *m, const char *a, const char *b)
{
    char *txt;
    size_t len;
    if (it_slurp(m->log, &txt, &len) != 0)
        return 0;
    int n = 0;
    for (char *l = txt; l && *l;) {
        char *nl = strchr(l, '\n');
        if (nl)
            *nl = '\0';
        if (strstr(l, a) && strstr(l, b))
            n++;
        l = nl ? nl + 1 : NULL;
    }
    free(txt);
    return n;
}

/* Wait (bounded) until the daemon logged a line with a and b. */
static void wait_log(const it_mount_t *m, const char *a, const char *b)
{
    uint64_t end = it_now_ms() + WAIT_MS;
    while (log_lines(m, a, b) < 1 && it_now_ms() < end)
        it_sleep_ms(20);
    if (log_lines(m, a, b) < 1)
        it_mount_dump_log(m);
    ck_assert_msg(log_lines(m, a, b) >= 1, "no log line with '%s' and '%s'", a, b);
}

/* A test directory: dir (0755, so the user reaches the mount), dir/model owned by the
 * user. */
typedef struct {
    char dir[512];
    char model[600];
    it_mount_t m;
} fixture_t;

static void fixture_init(fixture_t *f, uid_t model_owner)
{
    ck_assert_int_eq(it_tmpdir(f->dir, sizeof f->dir), 0);
    ck_assert_int_eq(chmod(f->dir, 0755), 0);
    snprintf(f->model, sizeof f->model, "%s/model", f->dir);
    ck_assert_int_eq(mkdir(f->model, 0755), 0);
    ck_assert_int_eq(chown(f->model, model_owner, model_owner), 0);
}

static void fixture_mount(fixture_t *f)
{
    char err[2048];
    const char *args[] = { "--ram", "64M", "-o", "allow_other", NULL };
    ck_assert_msg(it_mount_start(&f->m, f->model, args, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(chmod(f->m.dir, 0755), 0);
}

static void fixture_done(fixture_t *f)
{
    ck_assert_int_eq(it_mount_stop(&f->m), 0);
    it_rm_rf(f->dir);
}

static char *path2(char *out, size_t n, const char *a, const char *b)
{
    int k = snprintf(out, n, "%s/%s", a, b);
    ck_assert(k > 0 && (size_t)k < n);
    return out;
}

/* ---- 1. links swapped in by the owner of MODEL_DIR ---------------------------------- */

typedef struct {
    const char *a, *b, *c;
} paths_t;

/* ln -sf a b */
static int do_link_over(void *arg)
{
    const paths_t *p = arg;
    if (unlink(p->b) != 0)
        return 1;
    return symlink(p->a, p->b) != 0 ? 2 : 0;
}

/* mv b c; ln -s a b */
static int do_dir_swap(void *arg)
{
    const paths_t *p = arg;
    if (rename(p->b, p->c) != 0)
        return 1;
    return symlink(p->a, p->b) != 0 ? 2 : 0;
}

static void expect_bytes(const char *mpath, const char *want)
{
    user_res_t *r = calloc(1, sizeof *r);
    ck_assert_ptr_nonnull(r);
    user_access(mpath, 0, r);
    ck_assert_msg(r->err == 0, "%s: %s", mpath, strerror(r->err));
    ck_assert_msg(!memmem(r->data, r->len, SECRET, strlen(SECRET)), "%s served the secret", mpath);
    ck_assert_uint_eq(r->len, strlen(want));
    ck_assert_msg(memcmp(r->data, want, r->len) == 0, "%s: other bytes than the file opened before", mpath);
    free(r);
}

START_TEST(link_escape)
{
    fixture_t f;
    fixture_init(&f, USER_ID);
    char p[PATH_MAX], q[PATH_MAX], secret[PATH_MAX], secdir[PATH_MAX], mp[PATH_MAX];
    /* root-only secrets outside MODEL_DIR: a file, and a directory holding data.txt */
    write_text(path2(secret, sizeof secret, f.dir, "secret"), SECRET "\n", 0600, 0);
    ck_assert_int_eq(mkdir(path2(secdir, sizeof secdir, f.dir, "secdir"), 0700), 0);
    write_text(path2(p, sizeof p, secdir, "data.txt"), SECRET " dir\n", 0600, 0);
    /* the model, owned by the user */
    const char *cfg = "{\"model_type\": \"none\"}\n", *data = "data of sub\n";
    write_text(path2(p, sizeof p, f.model, "config.json"), cfg, 0644, USER_ID);
    ck_assert_int_eq(mkdir(path2(p, sizeof p, f.model, "sub"), 0755), 0);
    ck_assert_int_eq(chown(p, USER_ID, USER_ID), 0);
    write_text(path2(q, sizeof q, p, "data.txt"), data, 0644, USER_ID);
    fixture_mount(&f);

    expect_bytes(it_mpath(&f.m, "config.json", mp, sizeof mp), cfg);
    expect_bytes(it_mpath(&f.m, "sub/data.txt", mp, sizeof mp), data);

    /* ln -sf SECRET MODEL/config.json */
    paths_t a = { secret, path2(p, sizeof p, f.model, "config.json"), NULL };
    ck_assert_int_eq(as_user(do_link_over, &a), 0);
    /* mv MODEL/sub MODEL/sub.old; ln -s SECDIR MODEL/sub */
    char sub[PATH_MAX], old[PATH_MAX];
    paths_t b = { secdir, path2(sub, sizeof sub, f.model, "sub"), path2(old, sizeof old, f.model, "sub.old") };
    ck_assert_int_eq(as_user(do_dir_swap, &b), 0);
    /* the user keeps reading while the watcher passes over the links (every 100 ms) */
    uint64_t until = it_now_ms() + 1500;
    while (it_now_ms() < until) {
        expect_bytes(it_mpath(&f.m, "config.json", mp, sizeof mp), cfg);
        expect_bytes(it_mpath(&f.m, "sub/data.txt", mp, sizeof mp), data);
        it_sleep_ms(50);
    }
    wait_log(&f.m, "config.json", "is a symbolic link now");
    wait_log(&f.m, "sub/data.txt", "symbolic link in its path");

    expect_bytes(it_mpath(&f.m, "config.json", mp, sizeof mp), cfg);
    expect_bytes(it_mpath(&f.m, "sub/data.txt", mp, sizeof mp), data);
    /* nor through root's own reads (the daemon never opened the secrets) */
    char *txt;
    size_t len;
    ck_assert_int_eq(it_slurp(it_mpath(&f.m, "config.json", mp, sizeof mp), &txt, &len), 0);
    ck_assert_str_eq(txt, cfg);
    free(txt);
    ck_assert_int_eq(it_slurp(it_mpath(&f.m, "sub/data.txt", mp, sizeof mp), &txt, &len), 0);
    ck_assert_str_eq(txt, data);
    free(txt);
    /* the attributes stay those of the file opened before, not the secret's */
    user_res_t *r = calloc(1, sizeof *r);
    ck_assert_ptr_nonnull(r);
    user_access(it_mpath(&f.m, "config.json", mp, sizeof mp), 1, r);
    ck_assert_int_eq(r->err, 0);
    ck_assert_uint_eq(r->st.st_mode & 07777, 0644);
    ck_assert_uint_eq(r->st.st_uid, USER_ID);
    ck_assert_uint_eq(r->st.st_size, strlen(cfg));
    free(r);
    /* logged once each, not every pass */
    ck_assert_int_eq(log_lines(&f.m, "config.json", "is a symbolic link now"), 1);
    ck_assert_int_eq(log_lines(&f.m, "sub/data.txt", "symbolic link in its path"), 1);
    fixture_done(&f);
}
END_TEST

/* ---- 2. a file replaced by a larger one, read concurrently ---------------------------- */

#define OLD_SIZE (3u << 20)
#define NEW_SIZE ((5u << 20) + 12345)
#define READERS 4

typedef struct {
    const char *path;
    _Atomic int *stop;
    int errors;
} reader_t;

/* Read the whole file again and again (pread, then mmap of the current size) until stop. */
static void *reader_main(void *arg)
{
    reader_t *r = arg;
    char *buf = malloc(1u << 20);
    if (!buf) {
        r->errors++;
        return NULL;
    }
    while (!atomic_load(r->stop)) {
        int fd = open(r->path, O_RDONLY);
        if (fd < 0) {
            r->errors++;
            break;
        }
        off_t off = 0;
        ssize_t n;
        while ((n = pread(fd, buf, 1u << 20, off)) > 0)
            off += n;
        if (n < 0)
            r->errors++;
        struct stat st;
        if (fstat(fd, &st) == 0 && st.st_size > 0) {
            volatile unsigned char *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
            if (m != MAP_FAILED) {
                unsigned sum = 0;
                for (off_t o = 0; o < st.st_size; o += 4096)
                    sum += m[o];
                (void)sum;
                munmap((void *)m, (size_t)st.st_size);
            }
        }
        close(fd);
    }
    free(buf);
    return NULL;
}

/* sha256 of everything read through a fresh descriptor with pread, and through mmap. */
static void mount_digests(const char *path, size_t want_len, char pread_hex[65], char mmap_hex[65])
{
    ck_assert_int_eq(it_sha256_file(path, 1u << 20, pread_hex), 0);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    ck_assert_uint_eq((uint64_t)st.st_size, want_len);
    void *m = mmap(NULL, want_len, PROT_READ, MAP_SHARED, fd, 0);
    ck_assert_ptr_ne(m, MAP_FAILED);
    sha256_ctx_t c;
    uint8_t d[32];
    sha256_init(&c);
    sha256_update(&c, m, want_len);
    sha256_final(&c, d);
    sha256_to_hex(d, mmap_hex);
    munmap(m, want_len);
    close(fd);
}

START_TEST(grow_replaced)
{
    fixture_t f;
    fixture_init(&f, 0);
    unsigned char *old = malloc(OLD_SIZE), *nw = malloc(NEW_SIZE);
    ck_assert_ptr_nonnull(old);
    ck_assert_ptr_nonnull(nw);
    uint32_t x = 12345;
    for (size_t i = 0; i < OLD_SIZE; i++)
        old[i] = (unsigned char)((x = x * 1664525u + 1013904223u) >> 24);
    for (size_t i = 0; i < NEW_SIZE; i++)
        nw[i] = (unsigned char)((x = x * 1664525u + 1013904223u) >> 24);
    char back[PATH_MAX], tmp[PATH_MAX], mp[PATH_MAX], want_old[65], want_new[65], hp[65], hm[65];
    write_file(path2(back, sizeof back, f.model, "blob.bin"), old, OLD_SIZE, 0644, 0);
    ck_assert_int_eq(it_sha256_file(back, 1u << 16, want_old), 0);
    fixture_mount(&f);
    it_mpath(&f.m, "blob.bin", mp, sizeof mp);
    mount_digests(mp, OLD_SIZE, hp, hm);
    ck_assert_str_eq(hp, want_old);
    ck_assert_str_eq(hm, want_old);

    _Atomic int stop = 0;
    reader_t rd[READERS];
    pthread_t th[READERS];
    for (int i = 0; i < READERS; i++) {
        rd[i] = (reader_t){ mp, &stop, 0 };
        ck_assert_int_eq(pthread_create(&th[i], NULL, reader_main, &rd[i]), 0);
    }
    it_sleep_ms(300);
    /* the 5 MiB file, renamed over the 3 MiB one while the readers run */
    write_file(path2(tmp, sizeof tmp, f.model, ".blob.new"), nw, NEW_SIZE, 0644, 0);
    ck_assert_int_eq(it_sha256_file(tmp, 1u << 16, want_new), 0);
    ck_assert_int_eq(rename(tmp, back), 0);
    wait_log(&f.m, "blob.bin", "changed");
    it_sleep_ms(500);   /* the readers run on across the switch, over the new tail */
    atomic_store(&stop, 1);
    for (int i = 0; i < READERS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(rd[i].errors, 0);
    }
    ck_assert_int_eq(kill(f.m.pid, 0), 0);  /* alive */
    mount_digests(mp, NEW_SIZE, hp, hm);
    ck_assert_str_eq(hp, want_new);
    ck_assert_str_eq(hm, want_new);
    /* the same through the user's descriptors (the file is 0644) */
    user_res_t *r = calloc(1, sizeof *r);
    ck_assert_ptr_nonnull(r);
    user_access(mp, 1, r);
    ck_assert_int_eq(r->err, 0);
    ck_assert_uint_eq((uint64_t)r->st.st_size, NEW_SIZE);
    free(r);
    fixture_done(&f);   /* exit status 0: no crash */
    free(old);
    free(nw);
}
END_TEST

/* A cyclic reader of the demo model's two shards (1 MiB reads in file order, `drop`
 * after every pass so that each pass starts cold), so that the prefetcher holds buffers
 * of the file being replaced. */
typedef struct {
    const it_mount_t *m;
    char paths[2][PATH_MAX];
    _Atomic int *stop;
    int errors;
} cyclic_t;

static void *cyclic_main(void *arg)
{
    cyclic_t *r = arg;
    char *buf = malloc(1u << 20);
    if (!buf) {
        r->errors++;
        return NULL;
    }
    while (!atomic_load(r->stop)) {
        for (int i = 0; i < 2 && !atomic_load(r->stop); i++) {
            int fd = open(r->paths[i], O_RDONLY);
            if (fd < 0) {
                r->errors++;
                continue;
            }
            off_t off = 0;
            ssize_t n;
            while (!atomic_load(r->stop) && (n = pread(fd, buf, 1u << 20, off)) > 0)
                off += n;
            close(fd);
        }
        if (it_ctl_write(r->m, "drop") != 0)
            r->errors++;
    }
    free(buf);
    return NULL;
}

START_TEST(grow_under_prefetch)
{
    static const char *const files[] = { "config.json", "model.safetensors.index.json",
                                         "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" };
    fixture_t f;
    fixture_init(&f, 0);
    char from[PATH_MAX], to[PATH_MAX], err[2048];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(from, sizeof from, "tests/fixtures/demo/%s", files[i]);
        path2(to, sizeof to, f.model, files[i]);
        char *txt;
        size_t len;
        ck_assert_int_eq(it_slurp(from, &txt, &len), 0);
        write_file(to, txt, len, 0644, 0);
        free(txt);
    }
    const char *args[] = { "--ram", "64M", NULL };
    ck_assert_msg(it_mount_start(&f.m, f.model, args, err, sizeof err) == 0, "%s", err);
    _Atomic int stop = 0;
    cyclic_t rd = { .m = &f.m, .stop = &stop };
    it_mpath(&f.m, files[2], rd.paths[0], sizeof rd.paths[0]);
    it_mpath(&f.m, files[3], rd.paths[1], sizeof rd.paths[1]);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, cyclic_main, &rd), 0);
    /* until the prefetcher works */
    uint64_t end = it_now_ms() + WAIT_MS;
    int issued = 0;
    while (!issued && it_now_ms() < end) {
        char *st;
        size_t len;
        ck_assert_int_eq(it_ctl_read(&f.m, "stats", &st, &len), 0);
        char *p = strstr(st, "\"issued\":");
        issued = p && atoi(p + 9) > 0;
        free(st);
        it_sleep_ms(100);
    }
    ck_assert_msg(issued, "no prefetch");
    /* the second shard, replaced by 2.5 MiB more of other bytes while it is read */
    char back[PATH_MAX], tmp[PATH_MAX], want[65], h1[65], h2[65];
    path2(back, sizeof back, f.model, files[3]);
    char *txt;
    size_t len;
    ck_assert_int_eq(it_slurp(back, &txt, &len), 0);
    size_t nlen = len + (5u << 19);
    unsigned char *nw = malloc(nlen);
    ck_assert_ptr_nonnull(nw);
    for (size_t i = 0; i < nlen; i++)
        nw[i] = i < len ? (unsigned char)(txt[i] ^ 0xa5) : (unsigned char)(i * 7);
    free(txt);
    write_file(path2(tmp, sizeof tmp, f.model, ".shard.new"), nw, nlen, 0644, 0);
    free(nw);
    ck_assert_int_eq(it_sha256_file(tmp, 1u << 16, want), 0);
    ck_assert_int_eq(rename(tmp, back), 0);
    wait_log(&f.m, files[3], "changed");
    it_sleep_ms(1000);
    atomic_store(&stop, 1);
    pthread_join(th, NULL);
    ck_assert_int_eq(rd.errors, 0);
    mount_digests(rd.paths[1], nlen, h1, h2);
    ck_assert_str_eq(h1, want);
    ck_assert_str_eq(h2, want);
    /* the other shard is untouched */
    ck_assert_int_eq(it_sha256_file(path2(tmp, sizeof tmp, f.model, files[2]), 1u << 16, want), 0);
    mount_digests(rd.paths[0], 7905192, h1, h2);
    ck_assert_str_eq(h1, want);
    ck_assert_str_eq(h2, want);
    fixture_done(&f);
}
END_TEST

/* ---- 3. permissions follow the backing file ----------------------------------------- */

/* Wait (bounded) until the user's open of mpath fails with EACCES; then check that stat
 * through the mount shows mode and uid. */
static void expect_refused(const char *mpath, mode_t mode, uid_t uid)
{
    user_res_t *r = calloc(1, sizeof *r);
    ck_assert_ptr_nonnull(r);
    uint64_t end = it_now_ms() + WAIT_MS;
    do {
        user_access(mpath, 0, r);
        if (r->err == EACCES)
            break;
        it_sleep_ms(50);
    } while (it_now_ms() < end);
    ck_assert_msg(r->err == EACCES, "%s: the user still gets %s (%zu bytes)", mpath,
                  r->err ? strerror(r->err) : "the bytes", r->len);
    ck_assert_uint_eq(r->len, 0);
    user_access(mpath, 1, r);
    ck_assert_int_eq(r->err, 0);
    ck_assert_uint_eq(r->st.st_mode & 07777, mode);
    ck_assert_uint_eq(r->st.st_uid, uid);
    free(r);
}

static void expect_readable(const char *mpath, const char *want)
{
    user_res_t *r = calloc(1, sizeof *r);
    ck_assert_ptr_nonnull(r);
    user_access(mpath, 0, r);
    ck_assert_msg(r->err == 0, "%s: %s", mpath, strerror(r->err));
    ck_assert_uint_eq(r->len, strlen(want));
    ck_assert(memcmp(r->data, want, r->len) == 0);
    free(r);
}

START_TEST(perms_follow)
{
    fixture_t f;
    fixture_init(&f, 0);
    char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX], tmp[PATH_MAX], mp[PATH_MAX];
    write_text(path2(a, sizeof a, f.model, "a.txt"), "aaa\n", 0644, 0);
    write_text(path2(b, sizeof b, f.model, "b.txt"), "bbb\n", 0600, USER_ID);
    write_text(path2(c, sizeof c, f.model, "c.txt"), "ccc\n", 0644, 0);
    fixture_mount(&f);
    /* the user reads all three (and the kernel caches their attributes) */
    expect_readable(it_mpath(&f.m, "a.txt", mp, sizeof mp), "aaa\n");
    expect_readable(it_mpath(&f.m, "b.txt", mp, sizeof mp), "bbb\n");
    expect_readable(it_mpath(&f.m, "c.txt", mp, sizeof mp), "ccc\n");

    ck_assert_int_eq(chmod(a, 0600), 0);                    /* chmod 600 */
    expect_refused(it_mpath(&f.m, "a.txt", mp, sizeof mp), 0600, 0);
    ck_assert_int_eq(chown(b, 0, 0), 0);                    /* chown root:root */
    expect_refused(it_mpath(&f.m, "b.txt", mp, sizeof mp), 0600, 0);
    write_text(path2(tmp, sizeof tmp, f.model, ".c.new"), "new c, root only\n", 0600, 0);
    ck_assert_int_eq(rename(tmp, c), 0);                    /* rename-over with a 0600 file */
    expect_refused(it_mpath(&f.m, "c.txt", mp, sizeof mp), 0600, 0);
    /* root still reads the new bytes */
    char *txt;
    size_t len;
    ck_assert_int_eq(it_slurp(it_mpath(&f.m, "c.txt", mp, sizeof mp), &txt, &len), 0);
    ck_assert_str_eq(txt, "new c, root only\n");
    free(txt);
    /* and back: chmod 644 lets the user in again */
    ck_assert_int_eq(chmod(a, 0644), 0);
    uint64_t end = it_now_ms() + WAIT_MS;
    user_res_t *r = calloc(1, sizeof *r);
    ck_assert_ptr_nonnull(r);
    do {
        user_access(it_mpath(&f.m, "a.txt", mp, sizeof mp), 0, r);
        if (r->err == 0)
            break;
        it_sleep_ms(50);
    } while (it_now_ms() < end);
    ck_assert_int_eq(r->err, 0);
    ck_assert_uint_eq(r->len, 4);
    free(r);
    fixture_done(&f);
}
END_TEST

/* ---- 4. a FIFO under a file name --------------------------------------------------- */

typedef struct {
    const char *dir;
    int ms;
} swapper_t;

/* Put r1, a FIFO, r2, a FIFO, ... under dir/f1.txt as fast as possible for ms, ending
 * with the FIFO (rename of fresh hard links / FIFOs: the name always exists). */
static void swap_loop(const swapper_t *s)
{
    char r1[PATH_MAX], r2[PATH_MAX], t[PATH_MAX], target[PATH_MAX];
    path2(r1, sizeof r1, s->dir, "r1");
    path2(r2, sizeof r2, s->dir, "r2");
    path2(t, sizeof t, s->dir, ".swap");
    path2(target, sizeof target, s->dir, "f1.txt");
    uint64_t end = it_now_ms() + (uint64_t)s->ms;
    for (unsigned i = 0;; i++) {
        int last = it_now_ms() >= end;
        unlink(t);
        if (i % 2 == 0 || last) {
            if (mkfifo(t, 0644) != 0)
                _exit(1);
        } else if (link(i % 4 == 1 ? r1 : r2, t) != 0) {
            _exit(2);
        }
        if (rename(t, target) != 0)
            _exit(3);
        if (last)
            break;
    }
    _exit(0);
}

START_TEST(fifo_swapped)
{
    fixture_t f;
    fixture_init(&f, 0);
    char p[PATH_MAX], tmp[PATH_MAX], mp[PATH_MAX], *txt;
    size_t len;
    write_text(path2(p, sizeof p, f.model, "f1.txt"), "one\n", 0644, 0);
    write_text(path2(p, sizeof p, f.model, "f2.txt"), "two\n", 0644, 0);
    /* the files the swapper alternates with the FIFO (outside the tree: added after the mount) */
    fixture_mount(&f);
    write_text(path2(p, sizeof p, f.model, "r1"), "regular one\n", 0644, 0);
    write_text(path2(p, sizeof p, f.model, "r2"), "regular two\n", 0644, 0);

    /* a FIFO renamed over f1.txt */
    ck_assert_int_eq(mkfifo(path2(tmp, sizeof tmp, f.model, ".fifo"), 0644), 0);
    ck_assert_int_eq(rename(tmp, path2(p, sizeof p, f.model, "f1.txt")), 0);
    it_sleep_ms(500);   /* several watch passes */
    /* a change of another file is still picked up */
    write_text(path2(tmp, sizeof tmp, f.model, ".f2.new"), "two, changed\n", 0644, 0);
    ck_assert_int_eq(rename(tmp, path2(p, sizeof p, f.model, "f2.txt")), 0);
    wait_log(&f.m, "f2.txt", "changed");
    ck_assert_int_eq(it_slurp(it_mpath(&f.m, "f2.txt", mp, sizeof mp), &txt, &len), 0);
    ck_assert_str_eq(txt, "two, changed\n");
    free(txt);
    /* f1.txt is still served from the file opened before */
    ck_assert_int_eq(it_slurp(it_mpath(&f.m, "f1.txt", mp, sizeof mp), &txt, &len), 0);
    ck_assert_str_eq(txt, "one\n");
    free(txt);

    /* the race: regular files and FIFOs swapped under f1.txt as fast as possible while
     * the watcher looks at it (a check-then-open watcher opens a FIFO and blocks) */
    swapper_t s = { f.model, 3000 };
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        swap_loop(&s);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "swapper failed: %d", st);
    write_text(path2(tmp, sizeof tmp, f.model, ".f2.new"), "two, changed again\n", 0644, 0);
    ck_assert_int_eq(rename(tmp, path2(p, sizeof p, f.model, "f2.txt")), 0);
    uint64_t end = it_now_ms() + WAIT_MS;
    while (log_lines(&f.m, "f2.txt", "changed") < 2 && it_now_ms() < end)
        it_sleep_ms(20);
    ck_assert_msg(log_lines(&f.m, "f2.txt", "changed") == 2, "the watcher stopped after the FIFO race");
    ck_assert_int_eq(it_slurp(it_mpath(&f.m, "f2.txt", mp, sizeof mp), &txt, &len), 0);
    ck_assert_str_eq(txt, "two, changed again\n");
    free(txt);
    /* f1.txt serves one of the regular files the watcher saw, never a FIFO's nothing */
    ck_assert_int_eq(it_slurp(it_mpath(&f.m, "f1.txt", mp, sizeof mp), &txt, &len), 0);
    ck_assert_msg(!strcmp(txt, "one\n") || !strcmp(txt, "regular one\n") || !strcmp(txt, "regular two\n"),
                  "f1.txt: '%s'", txt);
    free(txt);

    /* the static FIFO was logged once (the race may log it once more after a regular
     * file was seen in between) */
    ck_assert_int_ge(log_lines(&f.m, "f1.txt", "is a FIFO now"), 1);

    uint64_t t0 = it_now_ms();
    ck_assert_int_eq(it_mount_stop(&f.m), 0);
    uint64_t dt = it_now_ms() - t0;
    ck_assert_msg(dt < 5000, "the daemon took %llu ms to exit after unmount", (unsigned long long)dt);
    it_rm_rf(f.dir);
}
END_TEST

Suite *it_watch_security_suite(void)
{
    Suite *s = suite_create("it_watch_security");
    TCase *tc = tcase_create("watch_security");
    tcase_set_timeout(tc, IT_TCASE_TIMEOUT);
    tcase_add_test(tc, link_escape);
    tcase_add_test(tc, grow_replaced);
    tcase_add_test(tc, grow_under_prefetch);
    tcase_add_test(tc, perms_follow);
    tcase_add_test(tc, fifo_swapped);
    suite_add_tcase(s, tc);
    return s;
}
