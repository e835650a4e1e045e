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
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum se_log_level { SE_LOG_ERR = 0, SE_LOG_WARN = 1, SE_LOG_INFO = 2, SE_LOG_DEBUG = 3 };

/* Set the threshold; messages above it are discarded. */
void se_log_set_level(int level);
int se_log_get_level(void);
/* Parse "error"|"warn"|"info"|"debug"; returns level or -1. */
int se_log_level_parse(const char *name);

/*
 * Line format: text ("TIMESTAMP LEVEL message", the default) or JSON, one
 * object per line for a SIEM: {"time":"2026-12-07T10:00:00.123Z",
 * "level":"info","msg":"..."}. The message is escaped the same way in
 * both (see se_log_escape), so a JSON msg decodes to exactly the text
 * line's message. Any thread; takes effect for the next line.
 */
enum se_log_format { SE_LOG_TEXT = 0, SE_LOG_JSON = 1 };
void se_log_set_format(int format);
/* Parse "text"|"json"; returns the format or -1. */
int se_log_format_parse(const char *name);

/* A message is formatted into at most this many bytes; the written line
 * (timestamp, level, escaped message) is at most twice that, 4096 bytes
 * (PIPE_BUF: one atomic write), and an escaped message is cut to fit. */
enum { SE_LOG_LINE_MAX = 2048 };

/*
 * Every message is escaped before it is written: C0 controls (CR, LF,
 * NUL, ESC, TAB...), DEL, C1 controls, Unicode line separators and
 * bidirectional controls, and bytes that are not valid UTF-8 become
 * "\xNN"; a backslash becomes "\\". Client bytes therefore cannot end a
 * log line, forge another one or drive a terminal. se_log_escape() is
 * the same transformation for other output that shows client bytes (the
 * CLI's listings): len bytes of src into dst (cap bytes, always
 * NUL-terminated, never a partial escape); returns the length written.
 */
size_t se_log_escape(char *dst, size_t cap, const char *src, size_t len);
/* Is text free of everything se_log_escape() escapes but the backslash:
 * valid UTF-8 with no C0/C1 control, DEL, line separator or bidi
 * control? For names an admin will read (groups, rules, tokens, users). */
bool se_text_clean(const char *text, size_t len);

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
