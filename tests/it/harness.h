/* harness.h — real-mount test harness for the integration tests (prefix it_).
 *
 * Typical use inside a libcheck test:
 *
 *     it_mount_t m;
 *     char err[512];
 *     const char *args[] = { "--ram", "64M", NULL };
 *     ck_assert_msg(it_mount_start(&m, "tests/fixtures/demo", args, err, sizeof err) == 0, "%s", err);
 *     ... read files under m.mnt, it_ctl_read(&m, "stats", &txt, &len) ...
 *     ck_assert_int_eq(it_mount_stop(&m), 0);     // fusermount3 -u + reap; daemon exit status
 *
 * Robustness: every mount gets a GUARDIAN process (own session) connected to the test by
 * a pipe. When the test process dies for any reason (failed ck_assert -> _exit, libcheck
 * timeout -> SIGKILL of the test's process group, crash), the pipe reads EOF and the
 * guardian terminates the daemon, unmounts (fusermount3 -u, then lazy) and removes the
 * temp directory, so a failing test never leaves a mount behind. The daemon runs in its
 * own process group too (a process-group SIGKILL of the test must not leave a stale mount).
 *
 * The daemon binary is ${FLASHFS_BUILD:-build}/flashfs, relative to the repository root
 * (tests run from the repository root). Its stderr goes to m.log (dumped by
 * it_mount_dump_log, and quoted in errors of it_mount_start).
 * harness.c: mounts and the guardian; harness_util.c: it_run, clock and file helpers. */
#ifndef IT_HARNESS_H
#define IT_HARNESS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IT_MOUNT_TIMEOUT_MS 15000   /* how long it_mount_start waits for the mount */
#define IT_STOP_TIMEOUT_MS 15000    /* how long it_mount_stop waits for the daemon to exit */
#define IT_TCASE_TIMEOUT 300        /* seconds: use with tcase_set_timeout (libcheck's default is 4) */

typedef struct {
    char dir[PATH_MAX / 2];     /* private temp directory (mkdtemp), holds mnt/ and daemon.log */
    char mnt[PATH_MAX];         /* the mountpoint: dir/mnt */
    char log[PATH_MAX];         /* the daemon's stderr+stdout: dir/daemon.log */
    char model[PATH_MAX];       /* MODEL_DIR as passed */
    pid_t pid;                  /* daemon pid (foreground child, or found in /proc in daemon mode) */
    int is_child;               /* pid is our child (foreground mode): reap it with waitpid */
    int mounted;                /* it_mount_start succeeded and no stop yet */
    pid_t guard_pid;            /* the guardian process */
    int guard_fd;               /* write end of the guardian pipe, -1 when none */
} it_mount_t;

/* ---- paths -------------------------------------------------------------------------- */

/* The build directory: $FLASHFS_BUILD or "build". */
const char *it_build_dir(void);

/* path of a program in the build dir, e.g. it_build_path("flashfs") or "tests/randread". */
void it_build_path(const char *name, char *out, size_t outlen);

/* Create a fresh private temp directory /tmp/flashfs-it-XXXXXX. 0 or -errno. */
int it_tmpdir(char *out, size_t outlen);

/* Remove a directory tree (no symlink following, stays on one filesystem). 0 or -errno. */
int it_rm_rf(const char *path);

/* ---- mounts ------------------------------------------------------------------------- */

/* Prepare m (temp dir with an empty mnt/, guardian) without starting a daemon: for tests
 * that run flashfs themselves on m->mnt (bad invocations). Undo with it_mount_cleanup. */
int it_mount_prepare(it_mount_t *m, const char *model_dir, char *err, size_t errlen);

/* Start `flashfs -f [args...] MODEL_DIR MNT` (args is NULL-terminated, may be NULL) as a
 * child and wait until it is mounted. 0, or -errno with the reason (and the daemon's log
 * tail) in err; on failure everything is cleaned up already. */
int it_mount_start(it_mount_t *m, const char *model_dir, const char *const *args, char *err, size_t errlen);

/* Same in daemon mode (no -f: flashfs forks itself into the background and its parent
 * exits); the daemon's pid is then found in /proc by its mountpoint argument. */
int it_mount_start_daemon(it_mount_t *m, const char *model_dir, const char *const *args, char *err,
                          size_t errlen);

/* Start the daemon on an m from it_mount_prepare (foreground when fg != 0) and wait
 * for the mount. Like it_mount_start but keeps m on failure (caller cleans up). */
int it_mount_launch(it_mount_t *m, int fg, const char *const *args, char *err, size_t errlen);

/* Wait until m->mnt is a FUSE mount answering stat(MNT/.flashfs) or the daemon exited.
 * 0, -ETIMEDOUT, or -ECHILD when the daemon died (its status in *status if not NULL). */
int it_mount_wait(it_mount_t *m, int timeout_ms, int *status);

/* Unmount with `fusermount3 -u` and reap the daemon. Returns its exit status (0..255),
 * 128+signal when it was killed, or -errno (-ETIMEDOUT when it did not exit; it is then
 * killed). Removes the temp directory. Always leaves m cleaned up. A non-zero result
 * prints the daemon's log to stderr. */
int it_mount_stop(it_mount_t *m);

/* Reap a foreground daemon that is exiting by itself (after a signal was sent to it):
 * exit status as for it_mount_stop, -ETIMEDOUT if it does not exit in timeout_ms. Does
 * not unmount or clean up. */
int it_mount_reap(it_mount_t *m, int timeout_ms);

/* Force everything down (SIGTERM/SIGKILL the daemon, fusermount3 -u / lazy umount,
 * remove the temp dir, release the guardian). Safe to call twice or on a zeroed m. */
void it_mount_cleanup(it_mount_t *m);

/* Print the daemon log to stderr (for failing tests). */
void it_mount_dump_log(const it_mount_t *m);

/* 1 when path is a mountpoint in /proc/self/mountinfo, 0 when not (or when it does not
 * exist), -errno on error. */
int it_is_mountpoint(const char *path);

/* Build "m->mnt/rel" into out. Returns out. */
char *it_mpath(const it_mount_t *m, const char *rel, char *out, size_t outlen);

/* ---- control directory -------------------------------------------------------------- */

/* Read MNT/.flashfs/<name> into a NUL-terminated malloc'd string. 0 or -errno. */
int it_ctl_read(const it_mount_t *m, const char *name, char **out, size_t *len);

/* Write one command (a newline is appended if missing) to MNT/.flashfs/control in a
 * single write(). 0, or -errno of the open/write (e.g. -EINVAL for a bad command). */
int it_ctl_write(const it_mount_t *m, const char *cmd);

/* ---- running programs --------------------------------------------------------------- */

/* Result of it_run. */
typedef struct {
    int status;                 /* exit status 0..255, 128+signal when killed, -1 if not run */
    int timed_out;              /* 1 when killed because of the timeout */
    char *out;                  /* captured stdout (NUL-terminated, malloc'd) */
    char *err;                  /* captured stderr */
    size_t out_len, err_len;
} it_run_t;

/* Run argv (argv[0] looked up in PATH unless it contains '/') with stdin from /dev/null,
 * capturing stdout and stderr, killing it after timeout_ms (0 = no limit). 0 when it was
 * run (see r->status), -errno when it could not be started. Free with it_run_free. */
int it_run(const char *const *argv, int timeout_ms, it_run_t *r);

/* Release what it_run allocated. */
void it_run_free(it_run_t *r);

/* In a forked child before exec: default dispositions for SIGINT, SIGTERM, SIGHUP,
 * SIGPIPE, ... and an empty signal mask (a background job of a non-interactive shell
 * inherits SIGINT ignored, and libfuse keeps an ignored SIGINT ignored). */
void it_child_reset_signals(void);

/* In a forked child as uid/gid `uid` (no supplementary groups): the errno of
 * open(path, flags), 0 when it opened. Fails the test when the child cannot switch. */
int it_open_errno_as(unsigned uid, const char *path, int flags);

/* The allowance over a RAM budget for "daemon RSS + page cache <= budget + base" checks:
 * base, plus what the idle daemon `pid` holds beyond 16 MiB (its fixed memory is part of
 * base), plus 64 MiB in an AddressSanitizer build (its quarantine keeps freed memory
 * resident while a test runs). Page-cache-only bounds need no allowance. */
uint64_t it_mem_allowance(pid_t pid, uint64_t base);

/* Number of non-empty lines of s (for "one line on stderr" checks). */
int it_count_lines(const char *s);

/* Monotonic clock in milliseconds. */
uint64_t it_now_ms(void);

/* Sleep ms milliseconds (restarts after signals). */
void it_sleep_ms(int ms);

/* A wait() status as "exit code 0..255, or 128+signal". */
int it_decode_status(int wstatus);

/* ---- files -------------------------------------------------------------------------- */

/* Read a whole file into a malloc'd buffer (NUL-terminated). 0 or -errno. */
int it_slurp(const char *path, char **out, size_t *len);

/* sha256 of a file read with read() in chunks of bufsize bytes; hex into out[65]. 0 or -errno. */
int it_sha256_file(const char *path, size_t bufsize, char out[65]);

#endif
