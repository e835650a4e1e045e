/*
 * log.h - process-wide logging.
 *
 * One line per call, written with a single write(2) so lines from
 * different threads never interleave. Any thread may call. Input-driven
 * errors on hot paths use se_log_rl() so a flood of bad packets costs a
 * counter, not a disk.
 */
#ifndef SE_LOG_H
#define SE_LOG_H

#include <stdarg.h>
#include <stdint.h>

enum se_log_level { SE_LOG_ERR = 0, SE_LOG_WARN = 1, SE_LOG_INFO = 2, SE_LOG_DEBUG = 3 };

/* Set the threshold; messages above it are discarded. */
void se_log_set_level(int level);
int se_log_get_level(void);
/* Parse "error"|"warn"|"info"|"debug"; returns level or -1. */
int se_log_level_parse(const char *name);

void se_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void se_logv(int level, const char *fmt, va_list ap);

/* Rate limit state: one per call site (static), shared by all threads. */
struct se_log_rl {
    int64_t window_start; /* monotonic seconds, atomically updated */
    int count;            /* lines printed in this window */
    int suppressed;       /* lines dropped in this window */
};
#define SE_LOG_RL_PER_SEC 5

/* Like se_log(), at most SE_LOG_RL_PER_SEC lines per second per site. */
void se_log_rl(struct se_log_rl *rl, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* If lines of this site were suppressed in a window that has ended, log
 * "(N similar messages suppressed: what)" now. se_log_rl() prints the
 * count only before the site's next line; call this now and then (a 1 s
 * cron) so the count of a burst is never lost. */
void se_log_rl_flush(struct se_log_rl *rl, int level, const char *what);

#define se_err_log(...) se_log(SE_LOG_ERR, __VA_ARGS__)
#define se_warn(...) se_log(SE_LOG_WARN, __VA_ARGS__)
#define se_info(...) se_log(SE_LOG_INFO, __VA_ARGS__)
#define se_debug(...)                                                                              \
    do {                                                                                           \
        if (se_log_get_level() >= SE_LOG_DEBUG)                                                    \
            se_log(SE_LOG_DEBUG, __VA_ARGS__);                                                     \
    } while (0)

#endif
