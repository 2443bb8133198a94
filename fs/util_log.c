/* util_log.c — one-line logging to stderr or syslog, error-buffer formatting, clock. */
#include "fu_util.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static const char *log_prog = "flashfs";
static int log_level = FU_LOG_INFO;
static int log_syslog;

void fu_log_init(const char *prog, int level)
{
    if (prog)
        log_prog = prog;
    log_level = level;
}

void fu_log_to_syslog(int on)
{
    if (on && !log_syslog)
        openlog(log_prog, LOG_PID, LOG_DAEMON);
    log_syslog = on;
}

void fu_log(int level, const char *fmt, ...)
{
    static const char *names[] = { "error", "warning", "info", "debug" };
    static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
    if (level > log_level || level < 0)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (log_syslog)
        syslog(prio[level], "%s", line);
    else
        fprintf(stderr, "%s: %s: %s\n", log_prog, names[level], line);
}

int fu_err(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

uint64_t fu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
