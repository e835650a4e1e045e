/*
 * log.c - line logging to stderr.
 *
 * Each line is formatted into a stack buffer with a UTC timestamp and
 * level, then written with one write(2): atomic for lines under PIPE_BUF
 * when stderr is a pipe, and never interleaved mid-line by stdio locking.
 * The rate limiter keeps a per-site window in relaxed atomics; losing a
 * race only lets one extra line through.
 *
 * Log lines quote client bytes (USERNAME, origins, JWT claims, HTTP
 * paths), so the formatted message is escaped here, once, for every call
 * site: a byte that could end the line, forge another one or drive a
 * terminal (C0 controls such as CR, LF, NUL and ESC, DEL, C1 controls,
 * bidirectional overrides, line separators, bytes that are not valid
 * UTF-8) becomes \xNN, and a backslash becomes \\, so every escape in
 * the log is ours and the message can be read back unambiguously. Valid
 * printable UTF-8 is kept as is.
 */
#include "core/log.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = SE_LOG_INFO;
static _Atomic int log_format = SE_LOG_TEXT;

static const char *const level_name[] = {"error", "warn", "info", "debug"};

void se_log_set_level(int level)
{
    atomic_store(&log_level, level);
}

int se_log_get_level(void)
{
    return atomic_load_explicit(&log_level, memory_order_relaxed);
}

void se_log_set_format(int format)
{
    atomic_store(&log_format, format == SE_LOG_JSON ? SE_LOG_JSON : SE_LOG_TEXT);
}

int se_log_format_parse(const char *name)
{
    if (strcasecmp(name, "text") == 0)
        return SE_LOG_TEXT;
    if (strcasecmp(name, "json") == 0)
        return SE_LOG_JSON;
    return -1;
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

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, at most U+10FFFF), or 0; *cp gets the code point. */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len;
    uint32_t c, min;

    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2, c = s[0] & 0x1f, min = 0x80;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3, c = s[0] & 0x0f, min = 0x800;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4, c = s[0] & 0x07, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

/* Code points a terminal or viewer acts on: C1 controls, line and
 * paragraph separators, bidirectional embeddings, overrides, isolates. */
static bool cp_is_control(uint32_t c)
{
    return (c >= 0x80 && c <= 0x9f) || c == 0x2028 || c == 0x2029 ||
           (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c == 0x200e ||
           c == 0x200f || c == 0x061c;
}

size_t se_log_escape(char *dst, size_t cap, const char *src, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0, i = 0;

    if (cap == 0)
        return 0;
    while (i < len) {
        uint32_t cp = 0;
        size_t k = s[i] >= 0x80 ? utf8_seq(s + i, len - i, &cp) : 0;
        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\') {
            if (o + 1 >= cap)
                break;
            dst[o++] = (char)s[i++];
        } else if (s[i] == '\\') {
            if (o + 2 >= cap)
                break;
            dst[o++] = '\\';
            dst[o++] = '\\';
            i++;
        } else if (k > 0 && !cp_is_control(cp)) {
            if (o + k >= cap)
                break;
            memcpy(dst + o, s + i, k);
            o += k;
            i += k;
        } else {
            /* One escape per byte: a control code point is escaped whole. */
            size_t n = k > 0 ? k : 1;
            if (o + 4 * n >= cap)
                break;
            for (size_t j = 0; j < n; j++, i++) {
                dst[o++] = '\\';
                dst[o++] = 'x';
                dst[o++] = hex[s[i] >> 4];
                dst[o++] = hex[s[i] & 15];
            }
        }
    }
    dst[o] = '\0';
    return o;
}

bool se_text_clean(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;

    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k;
        if (s[i] >= 0x20 && s[i] < 0x7f) {
            i++;
            continue;
        }
        if (s[i] < 0x80 || !(k = utf8_seq(s + i, len - i, &cp)) || cp_is_control(cp))
            return false;
        i += k;
    }
    return true;
}

/*
 * Append src (already se_log_escape()d: printable, no control bytes) to
 * dst[o..cap) as the inside of a JSON string: only '"' and '\\' need an
 * escape. Never splits one; returns the new length.
 */
static size_t json_append(char *dst, size_t o, size_t cap, const char *src, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        bool esc = src[i] == '"' || src[i] == '\\';
        if (o + 1 + esc >= cap)
            break;
        if (esc)
            dst[o++] = '\\';
        dst[o++] = src[i];
    }
    return o;
}

void se_logv(int level, const char *fmt, va_list ap)
{
    /* esc leaves room for the text prefix within 2 * SE_LOG_LINE_MAX; the
     * JSON form may double what it quotes, hence line's size. */
    char line[4 * SE_LOG_LINE_MAX], msg[SE_LOG_LINE_MAX], esc[2 * SE_LOG_LINE_MAX - 64],
        stamp[40];
    struct timespec ts;
    struct tm tm;
    size_t n, elen = 0;
    int r;

    if (level > se_log_get_level())
        return;
    if (level < 0 || level > SE_LOG_DEBUG)
        level = SE_LOG_ERR;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ", ts.tv_nsec / 1000000);
    r = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (r > 0) /* truncated messages are cut, never their escapes */
        elen = se_log_escape(esc, sizeof(esc), msg,
                             (size_t)r < sizeof(msg) ? (size_t)r : sizeof(msg) - 1);
    if (atomic_load_explicit(&log_format, memory_order_relaxed) == SE_LOG_JSON) {
        r = snprintf(line, sizeof(line), "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"", stamp,
                     level_name[level]);
        n = json_append(line, (size_t)r, sizeof(line) - 3, esc, elen);
        line[n++] = '"';
        line[n++] = '}';
    } else {
        r = snprintf(line, sizeof(line), "%s %s ", stamp, level_name[level]);
        n = (size_t)r;
        memcpy(line + n, esc, elen);
        n += elen;
    }
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
