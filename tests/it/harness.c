/* harness.c — real-mount test harness: temp mountpoints, the flashfs daemon as a child,
 * waiting for the mount, control files, clean (and forced) unmounts, running programs
 * with captured output. See harness.h for the contract and the guardian design. */
#include "harness.h"
#include "sha256.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ================================================================ small helpers */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static int errf(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int errf(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* Encode a wait() status as "exit code, or 128+signal". */
static int decode_status(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -EINVAL;
}

/* Run a command quietly, ignoring its result (used on cleanup paths). */
static void run_quiet(const char *const *argv, int timeout_ms)
{
    it_run_t r;
    if (it_run(argv, timeout_ms, &r) == 0)
        it_run_free(&r);
}

/* ================================================================ paths */

const char *it_build_dir(void)
{
    const char *b = getenv("FLASHFS_BUILD");
    return b && *b ? b : "build";
}

void it_build_path(const char *name, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s", it_build_dir(), name);
}

int it_tmpdir(char *out, size_t outlen)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    if ((size_t)snprintf(out, outlen, "%s/flashfs-it-XXXXXX", base) >= outlen)
        return -ENAMETOOLONG;
    return mkdtemp(out) ? 0 : -errno;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)ftw;
    int r = (flag == FTW_DP) ? rmdir(path) : unlink(path);
    return r < 0 && errno != ENOENT ? -1 : 0;
}

int it_rm_rf(const char *path)
{
    if (!path || !*path)
        return -EINVAL;
    if (nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
        return errno == ENOENT ? 0 : -errno;
    return 0;
}

char *it_mpath(const it_mount_t *m, const char *rel, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s", m->mnt, rel);
    return out;
}

/* ================================================================ mountinfo */

/* Undo the octal escapes (\040 for space, ...) of a /proc/self/mountinfo field, in place. */
static void unescape_octal(char *s)
{
    char *w = s;
    for (char *r = s; *r; ) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
            r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 4;
        } else {
            *w++ = *r++;
        }
    }
    *w = 0;
}

/* Canonical path without touching the last component (a stale FUSE mountpoint fails
 * every stat with ENOTCONN, so realpath() of it would fail). */
static int canon_parent(const char *path, char *out, size_t outlen)
{
    char tmp[PATH_MAX], real[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    size_t n = strlen(tmp);
    while (n > 1 && tmp[n - 1] == '/')
        tmp[--n] = 0;
    char *slash = strrchr(tmp, '/');
    const char *base;
    if (!slash) {
        if (!getcwd(real, sizeof real))
            return -errno;
        base = tmp;
    } else {
        *slash = 0;
        base = slash + 1;
        if (!realpath(slash == tmp ? "/" : tmp, real))
            return -errno;
    }
    if (!*base)
        return snprintf(out, outlen, "%s", real) >= (int)outlen ? -ENAMETOOLONG : 0;
    if (snprintf(out, outlen, "%s%s%s", real, strcmp(real, "/") ? "/" : "", base) >= (int)outlen)
        return -ENAMETOOLONG;
    return 0;
}

int it_is_mountpoint(const char *path)
{
    char want[PATH_MAX];
    int rc = canon_parent(path, want, sizeof want);
    if (rc)
        return rc;
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return -errno;
    char line[8192];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        /* id parent major:minor root MOUNTPOINT options ... */
        char *save = NULL, *tok = strtok_r(line, " ", &save);
        for (int i = 0; tok && i < 4; i++)
            tok = strtok_r(NULL, " ", &save);
        if (!tok)
            continue;
        unescape_octal(tok);
        found = strcmp(tok, want) == 0;
    }
    fclose(f);
    return found;
}

/* ================================================================ guardian */

/* Messages on the guardian pipe: 'P' + pid (daemon pid), 'Q' (all clean, quit). EOF
 * without 'Q' means the test process died: clean up after it. */
typedef struct {
    char tag;
    int32_t pid;
} guard_msg_t;

static void guard_cleanup(const char *dir, const char *mnt, pid_t pid)
{
    if (pid > 0 && kill(pid, 0) == 0) {
        kill(pid, SIGTERM);
        for (int i = 0; i < 100 && kill(pid, 0) == 0 && it_is_mountpoint(mnt) == 1; i++)
            sleep_ms(30);
    }
    if (it_is_mountpoint(mnt) == 1) {
        const char *u[] = { "fusermount3", "-u", mnt, NULL };
        run_quiet(u, 5000);
    }
    if (it_is_mountpoint(mnt) == 1) {
        const char *uz[] = { "fusermount3", "-uz", mnt, NULL };
        run_quiet(uz, 5000);
    }
    if (it_is_mountpoint(mnt) == 1) {
        const char *ul[] = { "umount", "-l", mnt, NULL };
        run_quiet(ul, 5000);
    }
    if (pid > 0 && kill(pid, 0) == 0) {
        sleep_ms(200);
        kill(pid, SIGKILL);
    }
    if (it_is_mountpoint(mnt) != 1)
        it_rm_rf(dir);
    fprintf(stderr, "it-guardian: test died; cleaned up mount %s (daemon pid %d)\n", mnt, (int)pid);
}

/* Body of the guardian process (never returns). */
static void guard_main(int rfd, const char *dir, const char *mnt)
{
    setsid();
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    if (rfd != 3) {
        dup2(rfd, 3);
        close(rfd);
    }
    for (int fd = 4; fd < 1024; fd++) /* never hold another mount's pipe or a test's pipes */
        close(fd);
    int nul = open("/dev/null", O_RDWR);
    if (nul >= 0) {
        dup2(nul, 0);
        dup2(nul, 1);
        close(nul);
    }
    pid_t pid = 0;
    for (;;) {
        guard_msg_t msg;
        ssize_t n = read(3, &msg, sizeof msg);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == (ssize_t)sizeof msg && msg.tag == 'P') {
            pid = msg.pid;
            continue;
        }
        if (n == (ssize_t)sizeof msg && msg.tag == 'Q')
            _exit(0);
        break; /* EOF or garbage: the test is gone */
    }
    guard_cleanup(dir, mnt, pid);
    _exit(0);
}

static int guard_start(it_mount_t *m)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    pid_t g = fork();
    if (g < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return -e;
    }
    if (g == 0) {
        close(p[1]);
        guard_main(p[0], m->dir, m->mnt);
    }
    close(p[0]);
    m->guard_pid = g;
    m->guard_fd = p[1];
    return 0;
}

static void guard_send(it_mount_t *m, char tag, pid_t pid)
{
    if (m->guard_fd < 0)
        return;
    guard_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.tag = tag;
    msg.pid = (int32_t)pid;
    ssize_t n;
    do {
        n = write(m->guard_fd, &msg, sizeof msg);
    } while (n < 0 && errno == EINTR);
}

static void guard_stop(it_mount_t *m)
{
    if (m->guard_fd >= 0) {
        guard_send(m, 'Q', 0);
        close(m->guard_fd);
        m->guard_fd = -1;
    }
    if (m->guard_pid > 0) {
        while (waitpid(m->guard_pid, NULL, 0) < 0 && errno == EINTR) {
        }
        m->guard_pid = 0;
    }
}

/* ================================================================ mounts */

int it_mount_prepare(it_mount_t *m, const char *model_dir, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    m->guard_fd = -1;
    int rc = it_tmpdir(m->dir, sizeof m->dir);
    if (rc)
        return errf(err, errlen, rc, "mkdtemp: %s", strerror(-rc));
    snprintf(m->mnt, sizeof m->mnt, "%s/mnt", m->dir);
    snprintf(m->log, sizeof m->log, "%s/daemon.log", m->dir);
    snprintf(m->model, sizeof m->model, "%s", model_dir ? model_dir : "");
    if (mkdir(m->mnt, 0755) < 0) {
        rc = -errno;
        it_rm_rf(m->dir);
        return errf(err, errlen, rc, "mkdir %s: %s", m->mnt, strerror(-rc));
    }
    rc = guard_start(m);
    if (rc) {
        it_rm_rf(m->dir);
        return errf(err, errlen, rc, "guardian: %s", strerror(-rc));
    }
    return 0;
}

/* Last ~1.5 KB of the daemon log, for error messages. */
static void log_tail(const it_mount_t *m, char *out, size_t outlen)
{
    char *txt = NULL;
    size_t len = 0;
    out[0] = 0;
    if (it_slurp(m->log, &txt, &len) == 0) {
        size_t keep = outlen - 1 < 1500 ? outlen - 1 : 1500;
        const char *s = len > keep ? txt + len - keep : txt;
        snprintf(out, outlen, "%s", s);
    }
    free(txt);
}

/* fork+exec flashfs with its output going to m->log; the child gets its own process
 * group and SIGTERM when we die. Returns the pid or -errno. */
static pid_t spawn_daemon(it_mount_t *m, int fg, const char *const *args)
{
    char bin[PATH_MAX];
    it_build_path("flashfs", bin, sizeof bin);
    size_t na = 0;
    while (args && args[na])
        na++;
    const char **argv = calloc(na + 5, sizeof *argv);
    if (!argv)
        return -ENOMEM;
    size_t k = 0;
    argv[k++] = bin;
    if (fg)
        argv[k++] = "-f";
    for (size_t i = 0; i < na; i++)
        argv[k++] = args[i];
    argv[k++] = m->model;
    argv[k++] = m->mnt;
    argv[k] = NULL;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        free(argv);
        return -e;
    }
    if (pid == 0) {
        setpgid(0, 0);
        if (fg)
            prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        int lfd = open(m->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (lfd >= 0) {
            dup2(lfd, 1);
            dup2(lfd, 2);
        }
        if (nul >= 0)
            dup2(nul, 0);
        execv(bin, (char *const *)argv);
        dprintf(2, "harness: exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    free(argv);
    return pid;
}

/* Find the pid of a running flashfs whose last argument is mnt (daemon mode). */
static pid_t find_daemon_pid(const char *mnt)
{
    for (int tries = 0; tries < 20; tries++) {
        DIR *d = opendir("/proc");
        if (!d)
            return 0;
        pid_t found = 0;
        struct dirent *de;
        while (!found && (de = readdir(d))) {
            char *end;
            long pid = strtol(de->d_name, &end, 10);
            if (pid <= 0 || *end || pid == (long)getpid())
                continue;
            char path[300], buf[8192];
            snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                continue;
            ssize_t n = read(fd, buf, sizeof buf - 1);
            close(fd);
            if (n <= 0)
                continue;
            buf[n] = 0;
            /* cmdline: NUL-separated arguments; argv[0] names flashfs, the last is MNT */
            const char *last = buf;
            for (const char *p = buf; p < buf + n; p += strlen(p) + 1)
                last = p;
            if (strstr(buf, "flashfs") && strcmp(last, mnt) == 0)
                found = (pid_t)pid;
        }
        closedir(d);
        if (found)
            return found;
        sleep_ms(50);
    }
    return 0;
}

int it_mount_wait(it_mount_t *m, int timeout_ms, int *status)
{
    char ctl[PATH_MAX + 16];
    snprintf(ctl, sizeof ctl, "%s/.flashfs", m->mnt);
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        if (m->is_child && m->pid > 0) {
            int st;
            pid_t r = waitpid(m->pid, &st, WNOHANG);
            if (r == m->pid) {
                m->pid = 0;
                if (status)
                    *status = decode_status(st);
                return -ECHILD;
            }
        } else if (m->pid > 0 && kill(m->pid, 0) < 0 && errno == ESRCH) {
            if (status)
                *status = -1;
            return -ECHILD;
        }
        struct stat st;
        if (it_is_mountpoint(m->mnt) == 1 && stat(ctl, &st) == 0)
            return 0;
        if (now_ms() > deadline)
            return -ETIMEDOUT;
        sleep_ms(20);
    }
}

int it_mount_launch(it_mount_t *m, int fg, const char *const *args, char *err, size_t errlen)
{
    char tail[1600];
    pid_t pid = spawn_daemon(m, fg, args);
    if (pid < 0)
        return errf(err, errlen, (int)pid, "fork: %s", strerror((int)-pid));
    if (fg) {
        m->pid = pid;
        m->is_child = 1;
        guard_send(m, 'P', pid);
    } else {
        /* the foreground part of a daemonizing flashfs exits once the mount is up */
        int st = 0;
        pid_t r;
        uint64_t deadline = now_ms() + IT_MOUNT_TIMEOUT_MS;
        while ((r = waitpid(pid, &st, WNOHANG)) == 0 && now_ms() < deadline)
            sleep_ms(20);
        if (r == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            log_tail(m, tail, sizeof tail);
            return errf(err, errlen, -ETIMEDOUT, "flashfs (daemon mode) did not return within %d ms; log:\n%s",
                        IT_MOUNT_TIMEOUT_MS, tail);
        }
        if (decode_status(st) != 0) {
            log_tail(m, tail, sizeof tail);
            return errf(err, errlen, -ECHILD, "flashfs (daemon mode) exited with %d; log:\n%s",
                        decode_status(st), tail);
        }
        m->pid = find_daemon_pid(m->mnt);
        m->is_child = 0;
        if (m->pid > 0)
            guard_send(m, 'P', m->pid);
    }
    int status = 0;
    int rc = it_mount_wait(m, IT_MOUNT_TIMEOUT_MS, &status);
    if (rc == -ECHILD) {
        log_tail(m, tail, sizeof tail);
        return errf(err, errlen, rc, "flashfs exited with status %d before mounting %s; log:\n%s", status,
                    m->mnt, tail);
    }
    if (rc) {
        log_tail(m, tail, sizeof tail);
        return errf(err, errlen, rc, "%s not mounted (with .flashfs) after %d ms; log:\n%s", m->mnt,
                    IT_MOUNT_TIMEOUT_MS, tail);
    }
    m->mounted = 1;
    return 0;
}

static int start_common(it_mount_t *m, int fg, const char *model_dir, const char *const *args, char *err,
                        size_t errlen)
{
    int rc = it_mount_prepare(m, model_dir, err, errlen);
    if (rc)
        return rc;
    rc = it_mount_launch(m, fg, args, err, errlen);
    if (rc)
        it_mount_cleanup(m);
    return rc;
}

int it_mount_start(it_mount_t *m, const char *model_dir, const char *const *args, char *err, size_t errlen)
{
    return start_common(m, 1, model_dir, args, err, errlen);
}

int it_mount_start_daemon(it_mount_t *m, const char *model_dir, const char *const *args, char *err,
                          size_t errlen)
{
    return start_common(m, 0, model_dir, args, err, errlen);
}

int it_mount_reap(it_mount_t *m, int timeout_ms)
{
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
    if (m->pid <= 0)
        return -ECHILD;
    for (;;) {
        if (m->is_child) {
            int st;
            pid_t r = waitpid(m->pid, &st, WNOHANG);
            if (r == m->pid) {
                m->pid = 0;
                guard_send(m, 'P', 0);
                return decode_status(st);
            }
            if (r < 0 && errno != EINTR)
                return -errno;
        } else if (kill(m->pid, 0) < 0 && errno == ESRCH) {
            m->pid = 0;
            guard_send(m, 'P', 0);
            return 0; /* not our child: its exit code is not observable */
        }
        if (now_ms() > deadline)
            return -ETIMEDOUT;
        sleep_ms(20);
    }
}

int it_mount_stop(it_mount_t *m)
{
    int ret = 0;
    if (m->mounted || it_is_mountpoint(m->mnt) == 1) {
        int ok = 0;
        for (int i = 0; i < 50 && !ok; i++) { /* EBUSY while the kernel still holds a file */
            const char *u[] = { "fusermount3", "-u", m->mnt, NULL };
            it_run_t r;
            if (it_run(u, 10000, &r) == 0) {
                ok = r.status == 0;
                it_run_free(&r);
            }
            if (!ok)
                sleep_ms(100);
        }
        m->mounted = 0;
        if (!ok)
            ret = -EBUSY;
    }
    if (m->pid > 0) {
        int st = it_mount_reap(m, IT_STOP_TIMEOUT_MS);
        if (ret == 0)
            ret = st;
    }
    it_mount_cleanup(m);
    return ret;
}

void it_mount_cleanup(it_mount_t *m)
{
    if (!m || !m->dir[0])
        return;
    if (m->pid > 0) {
        if (m->is_child && waitpid(m->pid, NULL, WNOHANG) == m->pid) {
            m->pid = 0;
        } else {
            kill(m->pid, SIGTERM);
            if (it_mount_reap(m, 3000) == -ETIMEDOUT) {
                kill(m->pid, SIGKILL);
                it_mount_reap(m, 3000);
            }
        }
    }
    if (it_is_mountpoint(m->mnt) == 1) {
        const char *u[] = { "fusermount3", "-u", m->mnt, NULL };
        run_quiet(u, 5000);
    }
    if (it_is_mountpoint(m->mnt) == 1) {
        const char *uz[] = { "fusermount3", "-uz", m->mnt, NULL };
        run_quiet(uz, 5000);
    }
    if (it_is_mountpoint(m->mnt) == 1) {
        const char *ul[] = { "umount", "-l", m->mnt, NULL };
        run_quiet(ul, 5000);
    }
    m->mounted = 0;
    guard_stop(m);
    if (it_is_mountpoint(m->mnt) != 1)
        it_rm_rf(m->dir);
    m->dir[0] = 0;
}

void it_mount_dump_log(const it_mount_t *m)
{
    char *txt = NULL;
    size_t len = 0;
    if (it_slurp(m->log, &txt, &len) == 0) {
        fprintf(stderr, "---- flashfs log (%s) ----\n%s---- end of log ----\n", m->log, txt);
        free(txt);
    }
}

/* ================================================================ control directory */

int it_ctl_read(const it_mount_t *m, const char *name, char **out, size_t *len)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/.flashfs/%s", m->mnt, name);
    return it_slurp(p, out, len);
}

int it_ctl_write(const it_mount_t *m, const char *cmd)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/.flashfs/control", m->mnt);
    size_t n = strlen(cmd);
    char *line = malloc(n + 2);
    if (!line)
        return -ENOMEM;
    memcpy(line, cmd, n);
    if (n == 0 || cmd[n - 1] != '\n')
        line[n++] = '\n';
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = -errno;
        free(line);
        return e;
    }
    int rc = 0;
    ssize_t w = write(fd, line, n);
    if (w < 0)
        rc = -errno;
    else if ((size_t)w != n)
        rc = -EIO;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    free(line);
    return rc;
}

/* ================================================================ running programs */

typedef struct {
    char *buf;
    size_t len, cap;
} growbuf_t;

static int gb_read(growbuf_t *b, int fd)
{
    if (b->cap - b->len < 4097) {
        size_t nc = b->cap ? b->cap * 2 : 8192;
        char *nb = realloc(b->buf, nc);
        if (!nb)
            return -ENOMEM;
        b->buf = nb;
        b->cap = nc;
    }
    ssize_t n = read(fd, b->buf + b->len, 4096);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 1 : -errno;
    b->len += (size_t)n;
    b->buf[b->len] = 0;
    return n == 0 ? 0 : 1;
}

static char *gb_take(growbuf_t *b, size_t *len)
{
    if (!b->buf) {
        b->buf = calloc(1, 1);
        b->len = 0;
    }
    *len = b->len;
    return b->buf;
}

int it_run(const char *const *argv, int timeout_ms, it_run_t *r)
{
    memset(r, 0, sizeof *r);
    r->status = -1;
    int po[2], pe[2];
    if (pipe2(po, O_CLOEXEC) < 0)
        return -errno;
    if (pipe2(pe, O_CLOEXEC) < 0) {
        int e = errno;
        close(po[0]);
        close(po[1]);
        return -e;
    }
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(po[0]); close(po[1]); close(pe[0]); close(pe[1]);
        return -e;
    }
    if (pid == 0) {
        setpgid(0, 0);
        int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (nul >= 0)
            dup2(nul, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        if (strchr(argv[0], '/'))
            execv(argv[0], (char *const *)argv);
        else
            execvp(argv[0], (char *const *)argv);
        dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    growbuf_t bo = { 0 }, be = { 0 };
    int open_o = 1, open_e = 1, reaped = 0, st = 0, rc = 0;
    uint64_t deadline = timeout_ms > 0 ? now_ms() + (uint64_t)timeout_ms : UINT64_MAX;
    while (open_o || open_e || !reaped) {
        if (!reaped) {
            pid_t w = waitpid(pid, &st, WNOHANG);
            if (w == pid) {
                reaped = 1;
                /* a grandchild may keep our pipes: drain briefly, then stop */
                uint64_t grace = now_ms() + 500;
                if (grace < deadline)
                    deadline = grace;
            }
        }
        uint64_t t = now_ms();
        if (t >= deadline) {
            if (!reaped) {
                killpg(pid, SIGKILL);
                kill(pid, SIGKILL);
                waitpid(pid, &st, 0);
                reaped = 1;
                r->timed_out = 1;
            }
            break;
        }
        struct pollfd pf[2];
        int np = 0;
        if (open_o)
            pf[np++] = (struct pollfd){ .fd = po[0], .events = POLLIN };
        if (open_e)
            pf[np++] = (struct pollfd){ .fd = pe[0], .events = POLLIN };
        int wait = (int)(deadline - t < 50 ? deadline - t : 50);
        if (np == 0) {
            sleep_ms(wait > 0 ? wait : 1);
            continue;
        }
        int n = poll(pf, (nfds_t)np, wait);
        if (n <= 0)
            continue;
        for (int i = 0; i < np; i++) {
            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            int is_o = pf[i].fd == po[0];
            int g = gb_read(is_o ? &bo : &be, pf[i].fd);
            if (g < 0 && g != -ENOMEM)
                g = 0;
            if (g == -ENOMEM)
                rc = -ENOMEM;
            if (g <= 0) {
                if (is_o)
                    open_o = 0;
                else
                    open_e = 0;
            }
        }
    }
    close(po[0]);
    close(pe[0]);
    r->status = decode_status(st);
    r->out = gb_take(&bo, &r->out_len);
    r->err = gb_take(&be, &r->err_len);
    if (!r->out || !r->err)
        rc = -ENOMEM;
    if (rc)
        it_run_free(r);
    return rc;
}

void it_run_free(it_run_t *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
    r->out_len = r->err_len = 0;
}

int it_count_lines(const char *s)
{
    int n = 0;
    while (s && *s) {
        const char *e = strchr(s, '\n');
        size_t l = e ? (size_t)(e - s) : strlen(s);
        int blank = 1;
        for (size_t i = 0; i < l; i++)
            if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
                blank = 0;
        n += !blank;
        s = e ? e + 1 : s + l;
    }
    return n;
}

/* ================================================================ files */

int it_slurp(const char *path, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    growbuf_t b = { 0 };
    int g;
    while ((g = gb_read(&b, fd)) > 0) {
    }
    close(fd);
    if (g < 0) {
        free(b.buf);
        return g;
    }
    *out = gb_take(&b, len);
    return *out ? 0 : -ENOMEM;
}

int it_copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -errno;
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        int e = -errno;
        close(in);
        return e;
    }
    static char buf[1 << 16];
    int rc = 0;
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : 0;
            break;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                rc = -errno;
                break;
            }
            off += w;
        }
        if (rc)
            break;
    }
    close(in);
    if (close(out) < 0 && rc == 0)
        rc = -errno;
    return rc;
}

int it_sha256_file(const char *path, size_t bufsize, char out[65])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char *buf = malloc(bufsize ? bufsize : 1);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    sha256_ctx_t c;
    sha256_init(&c);
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, buf, bufsize);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            break;
        }
        if (n == 0)
            break;
        sha256_update(&c, buf, (size_t)n);
    }
    close(fd);
    free(buf);
    if (rc)
        return rc;
    uint8_t d[32];
    sha256_final(&c, d);
    sha256_to_hex(d, out);
    return 0;
}
