/*
 * test_log.c - log lines cannot be forged: se_log_escape() vectors (C0,
 * DEL, C1, bidirectional controls, invalid and overlong UTF-8, backslash,
 * truncation never splitting an escape) and se_log() writing exactly one
 * escaped line for a message full of CR, LF and ESC.
 */
#include "core/log.h"
#include "tests/unit/check.h"

#include <jansson.h>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static void esc(const char *in, size_t len, const char *want)
{
    char out[256];

    se_log_escape(out, sizeof(out), in, len);
    CHECK_STR(out, want);
}

static void test_escape_vectors(void)
{
    esc("plain text, 42 = ok", 19, "plain text, 42 = ok");
    esc("a\r\nb", 4, "a\\x0d\\x0ab");
    esc("\x1b[31mred\x1b[0m", 12, "\\x1b[31mred\\x1b[0m");
    esc("nul\0x", 5, "nul\\x00x");
    esc("tab\there\x7f", 9, "tab\\x09here\\x7f");
    esc("back\\slash\\x0a", 14, "back\\\\slash\\\\x0a"); /* our escapes stay unambiguous */
    esc("j\xc3\xbcrgen \xe2\x82\xac \xf0\x9f\x98\x80", 16, "j\xc3\xbcrgen \xe2\x82\xac \xf0\x9f\x98\x80");
    esc("\xff\xfe", 2, "\\xff\\xfe");                      /* not UTF-8 */
    esc("\xc0\xaf", 2, "\\xc0\\xaf");                      /* overlong '/' */
    esc("\xed\xa0\x80", 3, "\\xed\\xa0\\x80");             /* surrogate */
    esc("\xf4\x90\x80\x80", 4, "\\xf4\\x90\\x80\\x80");    /* above U+10FFFF */
    esc("\xc2\x9b" "31m", 5, "\\xc2\\x9b31m");             /* C1 CSI */
    esc("\xe2\x80\xae" "evil", 7, "\\xe2\\x80\\xaeevil");  /* RIGHT-TO-LEFT OVERRIDE */
    esc("\xe2\x80\xa8", 3, "\\xe2\\x80\\xa8");             /* LINE SEPARATOR */
    esc("cut\xe2\x82", 5, "cut\\xe2\\x82");                /* truncated sequence */
}

static void test_escape_bounds(void)
{
    char out[8];

    /* "ab" fits, the next escape (4 bytes) would not: never half of it. */
    CHECK_EQ_INT(se_log_escape(out, sizeof(out), "ab\n\n", 4), 6);
    CHECK_STR(out, "ab\\x0a");
    CHECK_EQ_INT(se_log_escape(out, 1, "abc", 3), 0);
    CHECK_STR(out, "");
    CHECK_EQ_INT(se_log_escape(out, sizeof(out), "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc", 8), 6);
    CHECK_STR(out, "\xc3\xbc\xc3\xbc\xc3\xbc");
}

static void test_text_clean(void)
{
    CHECK(se_text_clean("ops team", 8));
    CHECK(se_text_clean("j\xc3\xbcrgen@example.com", 19));
    CHECK(se_text_clean("back\\slash", 10));
    CHECK(se_text_clean("", 0));
    CHECK(!se_text_clean("ops\x1b[2J", 8));
    CHECK(!se_text_clean("a\rb", 3));
    CHECK(!se_text_clean("a\0b", 3));
    CHECK(!se_text_clean("\x7f", 1));
    CHECK(!se_text_clean("\xc2\x9b", 2));         /* C1 CSI */
    CHECK(!se_text_clean("mal\xe2\x80\xaegnp", 9)); /* RIGHT-TO-LEFT OVERRIDE */
    CHECK(!se_text_clean("\xff", 1));
    CHECK(!se_text_clean("\xc3", 1));
}

/* A message quoting hostile bytes is one line, escaped, on stderr. */
static void test_one_line(void)
{
    char path[] = "/tmp/sedge-test-log-XXXXXX", buf[8192];
    int fd = mkstemp(path), saved = dup(STDERR_FILENO);

    CHECK(fd >= 0 && saved >= 0);
    dup2(fd, STDERR_FILENO);
    se_log(SE_LOG_WARN, "auth failed: user=%s from %s", "x\r\n2026-01-01T00:00:00.000Z info forged\x1b[2J",
           "198.51.100.7");
    /* A message longer than a line is cut, still one line. */
    memset(buf, '\n', 3000);
    buf[3000] = '\0';
    se_log(SE_LOG_WARN, "long %s", buf);
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    unlink(path);
    CHECK(n > 0);
    buf[n > 0 ? n : 0] = '\0';
    int lines = 0;
    for (char *p = buf; *p; p++)
        lines += *p == '\n';
    CHECK_EQ_INT(lines, 2);
    CHECK(strstr(buf, "user=x\\x0d\\x0a2026-01-01T00:00:00.000Z info forged\\x1b[2J from "
                      "198.51.100.7\n") != NULL);
    CHECK(strchr(buf, '\x1b') == NULL && strchr(buf, '\r') == NULL);
    char *second = strchr(buf, '\n') + 1;
    CHECK(strlen(second) <= 4096);
}

/* The JSON form: one object per line whose msg is exactly the text
 * form's message, whatever the client bytes were. */
static void test_json_lines(void)
{
    char path[] = "/tmp/sedge-test-log-XXXXXX", buf[16384];
    int fd = mkstemp(path), saved = dup(STDERR_FILENO);

    CHECK(se_log_format_parse("json") == SE_LOG_JSON && se_log_format_parse("TEXT") == SE_LOG_TEXT);
    CHECK(se_log_format_parse("xml") == -1);
    CHECK(fd >= 0 && saved >= 0);
    dup2(fd, STDERR_FILENO);
    se_log_set_format(SE_LOG_JSON);
    se_log(SE_LOG_WARN, "auth failed: user=%s", "q\"uote\\back\r\n{\"forged\":1}\x1b");
    memset(buf, '"', 3000); /* every byte needs a JSON escape: still one valid line */
    buf[3000] = '\0';
    se_log(SE_LOG_INFO, "long %s", buf);
    se_log_set_format(SE_LOG_TEXT);
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    unlink(path);
    CHECK(n > 0);
    buf[n > 0 ? n : 0] = '\0';
    char *nl = strchr(buf, '\n');
    CHECK(nl != NULL);
    if (!nl)
        return;
    *nl = '\0';
    json_error_t e;
    json_t *o = json_loads(buf, 0, &e);
    CHECK(o != NULL);
    CHECK_STR(json_string_value(json_object_get(o, "level")), "warn");
    CHECK(strlen(json_string_value(json_object_get(o, "time"))) == 24);
    /* what the text format would print: the same escapes, decoded once */
    CHECK_STR(json_string_value(json_object_get(o, "msg")),
              "auth failed: user=q\"uote\\\\back\\x0d\\x0a{\"forged\":1}\\x1b");
    json_decref(o);
    char *second = nl + 1, *end = strchr(second, '\n');
    CHECK(end != NULL && end[1] == '\0');
    if (end)
        *end = '\0';
    o = json_loads(second, 0, &e);
    CHECK(o != NULL);
    CHECK(o && strncmp(json_string_value(json_object_get(o, "msg")), "long \"\"\"", 8) == 0);
    json_decref(o);
}

int main(void)
{
    RUN(test_escape_vectors);
    RUN(test_escape_bounds);
    RUN(test_text_clean);
    RUN(test_one_line);
    RUN(test_json_lines);
    return check_done();
}
