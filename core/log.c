/*
 * log.c - line logging to stderr.
 *
 * Each line is formatted into a stack buffer with a UTC timestamp and
 * level, then written with one write(2): atomic for lines under PIPE_BUF
 * when stderr is a pipe, and never interleaved mid-line by stdio locking.
 * The rate limiter keeps a per-site window in relaxed atomics; losing a
 * race only lets one extra line through.
 */
#include "core/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = SE_LOG_INFO;

static const char *const level_name[] = {"error", "warn", "info", "debug"};

void se_log_set_level(int level)
{
    atomic_store(&log_level, level);
}

int se_log_get_level(void)
{
    return atomic_load_explicit(&log_level, memory_order_relaxed);
}

int se_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(name, level_name[i]) == 0)
            return i;
    if (strcasecmp(name, "warning") == 0)
        return SE_LOG_WARN;
    return -1;
}

void se_logv(int level, const char *fmt, va_list ap)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    size_t n;
    int r;

    if (level > se_log_get_level())
        return;
    if (level < 0 || level > SE_LOG_DEBUG)
        level = SE_LOG_ERR;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    r = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s ", ts.tv_nsec / 1000000,
                 level_name[level]);
    if (r > 0)
        n += (size_t)r;
    r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    if (r > 0)
        n += (size_t)r;
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2; /* truncated: keep the newline */
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w; /* nowhere to report a failed log write */
}

void se_log(int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    se_logv(level, fmt, ap);
    va_end(ap);
}

void se_log_rl(struct se_log_rl *rl, int level, const char *fmt, ...)
{
    struct timespec ts;
    va_list ap;
    int64_t now, start;
    int dropped = 0;

    if (level > se_log_get_level())
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    now = ts.tv_sec;
    start = __atomic_load_n(&rl->window_start, __ATOMIC_RELAXED);
    if (now != start &&
        __atomic_compare_exchange_n(&rl->window_start, &start, now, 0, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED)) {
        dropped = __atomic_exchange_n(&rl->suppressed, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&rl->count, 0, __ATOMIC_RELAXED);
    }
    if (__atomic_add_fetch(&rl->count, 1, __ATOMIC_RELAXED) > SE_LOG_RL_PER_SEC) {
        __atomic_add_fetch(&rl->suppressed, 1, __ATOMIC_RELAXED);
        return;
    }
    if (dropped > 0)
        se_log(level, "(%d similar messages suppressed)", dropped);
    va_start(ap, fmt);
    se_logv(level, fmt, ap);
    va_end(ap);
}

void se_log_rl_flush(struct se_log_rl *rl, int level, const char *what)
{
    struct timespec ts;
    int64_t now, start;

    if (level > se_log_get_level() || __atomic_load_n(&rl->suppressed, __ATOMIC_RELAXED) == 0)
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    now = ts.tv_sec;
    start = __atomic_load_n(&rl->window_start, __ATOMIC_RELAXED);
    /* Only a window that has ended, and only one thread per window. */
    if (now == start || !__atomic_compare_exchange_n(&rl->window_start, &start, now, 0,
                                                     __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        return;
    int dropped = __atomic_exchange_n(&rl->suppressed, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&rl->count, 0, __ATOMIC_RELAXED);
    if (dropped > 0)
        se_log(level, "(%d similar messages suppressed: %s)", dropped, what);
}
