/* harness.c — real-mount test harness: temp mountpoints, the flashfs daemon as a child,
 * waiting for the mount, control files, clean (and forced) unmounts, running programs
 * with captured output. See harness.h for the contract and the guardian design. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* ================================================================ small helpers */

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
        return rc == -ENOENT ? 0 : rc; /* a path that does not exist is no mountpoint */
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
            it_sleep_ms(30);
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
        it_sleep_ms(200);
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
        it_child_reset_signals();
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
        it_sleep_ms(50);
    }
    return 0;
}

int it_mount_wait(it_mount_t *m, int timeout_ms, int *status)
{
    char ctl[PATH_MAX + 16];
    snprintf(ctl, sizeof ctl, "%s/.flashfs", m->mnt);
    uint64_t deadline = it_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        if (m->is_child && m->pid > 0) {
            int st;
            pid_t r = waitpid(m->pid, &st, WNOHANG);
            if (r == m->pid) {
                m->pid = 0;
                if (status)
                    *status = it_decode_status(st);
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
        if (it_now_ms() > deadline)
            return -ETIMEDOUT;
        it_sleep_ms(20);
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
        uint64_t deadline = it_now_ms() + IT_MOUNT_TIMEOUT_MS;
        while ((r = waitpid(pid, &st, WNOHANG)) == 0 && it_now_ms() < deadline)
            it_sleep_ms(20);
        if (r == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            log_tail(m, tail, sizeof tail);
            return errf(err, errlen, -ETIMEDOUT, "flashfs (daemon mode) did not return within %d ms; log:\n%s",
                        IT_MOUNT_TIMEOUT_MS, tail);
        }
        if (it_decode_status(st) != 0) {
            log_tail(m, tail, sizeof tail);
            return errf(err, errlen, -ECHILD, "flashfs (daemon mode) exited with %d; log:\n%s",
                        it_decode_status(st), tail);
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
    uint64_t deadline = it_now_ms() + (uint64_t)timeout_ms;
    if (m->pid <= 0)
        return -ECHILD;
    for (;;) {
        if (m->is_child) {
            int st;
            pid_t r = waitpid(m->pid, &st, WNOHANG);
            if (r == m->pid) {
                m->pid = 0;
                guard_send(m, 'P', 0);
                return it_decode_status(st);
            }
            if (r < 0 && errno != EINTR)
                return -errno;
        } else if (kill(m->pid, 0) < 0 && errno == ESRCH) {
            m->pid = 0;
            guard_send(m, 'P', 0);
            return 0; /* not our child: its exit code is not observable */
        }
        if (it_now_ms() > deadline)
            return -ETIMEDOUT;
        it_sleep_ms(20);
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
                it_sleep_ms(100);
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
    if (ret != 0) { /* the caller's assertion will fail: show why */
        fprintf(stderr, "it_mount_stop(%s): status %d\n", m->mnt, ret);
        it_mount_dump_log(m);
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

