/* harness_util.c — the integration harness's process and file helpers: it_run (a
 * program with captured stdout/stderr and a timeout), whole-file reads, file sha256,
 * and the clock helpers. See harness.h. */
#include <check.h>
#include "harness.h"
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ================================================================ children */

void it_child_reset_signals(void)
{
    /* A job started in the background by a non-interactive shell inherits SIGINT and
     * SIGQUIT ignored, and libfuse only installs its exit handlers over SIG_DFL: reset
     * so that the daemon under test sees what it sees when a user starts it. */
    static const int sigs[] = { SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2 };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* ================================================================ clock */

uint64_t it_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void it_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Encode a wait() status as "exit code, or 128+signal". */
int it_decode_status(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -EINVAL;
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
        it_child_reset_signals();
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
    uint64_t deadline = timeout_ms > 0 ? it_now_ms() + (uint64_t)timeout_ms : UINT64_MAX;
    while (open_o || open_e || !reaped) {
        if (!reaped) {
            pid_t w = waitpid(pid, &st, WNOHANG);
            if (w == pid) {
                reaped = 1;
                /* a grandchild may keep our pipes: drain briefly, then stop */
                uint64_t grace = it_now_ms() + 500;
                if (grace < deadline)
                    deadline = grace;
            }
        }
        uint64_t t = it_now_ms();
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
            it_sleep_ms(wait > 0 ? wait : 1);
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
    r->status = it_decode_status(st);
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

int it_open_errno_as(unsigned uid, const char *path, int flags)
{
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(pfd[0]);
        int e = 0;
        if (setgroups(0, NULL) || setgid((gid_t)uid) || setuid((uid_t)uid)) {
            e = -1;
        } else {
            int fd = open(path, flags);
            e = fd < 0 ? errno : 0;
        }
        if (write(pfd[1], &e, sizeof e) != (ssize_t)sizeof e)
            _exit(2);
        _exit(0);
    }
    close(pfd[1]);
    int e = -2;
    ck_assert_int_eq(read(pfd[0], &e, sizeof e), (ssize_t)sizeof e);
    close(pfd[0]);
    int st;
    waitpid(pid, &st, 0);
    ck_assert_int_ne(e, -1);
    return e;
}

uint64_t it_mem_allowance(pid_t pid, uint64_t base)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    uint64_t kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtoull(line + 6, NULL, 10);
    if (f)
        fclose(f);
    uint64_t idle = kb * 1024, fixed = UINT64_C(16) << 20;
    uint64_t allow = base + (idle > fixed ? idle - fixed : 0);
#if defined(__SANITIZE_ADDRESS__)
    allow += UINT64_C(64) << 20;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    allow += UINT64_C(64) << 20;
#endif
#endif
    return allow;
}
