/*
 * common.c - helpers every subcommand uses: locating and loading the
 * configuration, opening the database, naming the actor for audit rows.
 */
#include "cli/cli.h"
#include "core/config.h"
#include "core/log.h"
#include "core/err.h"
#include "policy/db.h"

#include <ctype.h>
#include <jansson.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

const char *cli_default_config(void)
{
    const char *env = getenv("SEDGE_CONFIG");
    return env && env[0] ? env : "/etc/sedge/sedge.conf";
}

void cli_hint_init(const char *config)
{
    fprintf(stderr, "sedge: create it with `sedge init --config %s`, or restore it from a backup "
                    "(sedge never creates a database on its own: an empty one would silently "
                    "drop every user, secret, token and rule)\n",
            config);
}

int cli_open(const char *config, struct se_config **cfg, struct pol_db **db)
{
    char err[512];
    int rc;

    if (!config)
        config = cli_default_config();
    if (se_config_load(config, cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "sedge: %s\n", err);
        return 1;
    }
    se_log_set_level((*cfg)->log_level < SE_LOG_WARN ? (*cfg)->log_level : SE_LOG_WARN);
    if (!db)
        return 0;
    if ((rc = pol_db_open((*cfg)->database, false, db, err, sizeof(err))) < 0) {
        fprintf(stderr, "sedge: %s\n", err);
        if (rc == SE_ERR_NOTFOUND)
            cli_hint_init(config);
        se_config_free(*cfg);
        *cfg = NULL;
        return 1;
    }
    pol_db_set_actor(*db, cli_actor());
    return 0;
}

const char *cli_actor(void)
{
    static char actor[96];
    struct passwd *pw = getpwuid(getuid());

    snprintf(actor, sizeof(actor), "cli:%s", pw ? pw->pw_name : "unknown");
    return actor;
}

int cli_parse_time(const char *text, int64_t now, int64_t *out)
{
    struct tm tm;
    char *end;
    size_t n = strlen(text);

    if (n == 0 || n > 40)
        return SE_ERR_PARSE;
    /* An age: digits and one unit. */
    if (isdigit((unsigned char)text[0]) && strchr("smhd", text[n - 1])) {
        long long v = strtoll(text, &end, 10);
        static const int mult[] = {['s' - 'a'] = 1, ['m' - 'a'] = 60, ['h' - 'a'] = 3600,
                                   ['d' - 'a'] = 86400};
        if (end != text + n - 1 || v < 0 || v > 100LL * 365 * 86400)
            return SE_ERR_PARSE;
        *out = now - v * mult[text[n - 1] - 'a'];
        return 0;
    }
    /* Unix seconds. */
    long long v = strtoll(text, &end, 10);
    if (*end == '\0' && n >= 9) {
        *out = v;
        return 0;
    }
    /* ISO 8601 date, optional time, optional Z. */
    static const char *const fmts[] = {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M",
                                       "%Y-%m-%d %H:%M", "%Y-%m-%d"};
    for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
        memset(&tm, 0, sizeof(tm));
        const char *rest = strptime(text, fmts[i], &tm);
        if (!rest)
            continue;
        bool utc = strcmp(rest, "Z") == 0;
        if (*rest && !utc)
            continue;
        tm.tm_isdst = -1;
        time_t t = utc ? timegm(&tm) : mktime(&tm);
        if (t == (time_t)-1)
            return SE_ERR_PARSE;
        *out = (int64_t)t;
        return 0;
    }
    return SE_ERR_PARSE;
}

const char *cli_fmt_time(int64_t t, char *buf, size_t len)
{
    struct tm tm;
    time_t tt = (time_t)t;

    if (t == 0 || !gmtime_r(&tt, &tm))
        snprintf(buf, len, "-");
    else
        strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

int cli_read_secret(const char *file, const char *what, char *out, size_t outlen)
{
    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
    size_t n = 0;
    int ch;

    if (!f) {
        fprintf(stderr, "sedge: cannot read %s from %s: %s\n", what, file, strerror(errno));
        return 1;
    }
    /* The first line, without its line end; NUL and control bytes are a
     * wrong file, not a password. */
    while ((ch = fgetc(f)) != EOF && ch != '\n') {
        if (n + 1 >= outlen) {
            fprintf(stderr, "sedge: the %s in %s is longer than %zu bytes\n", what, file,
                    outlen - 2);
            n = 0;
            break;
        }
        out[n++] = (char)ch;
    }
    if (n > 0 && out[n - 1] == '\r')
        n--;
    out[n] = '\0';
    if (f != stdin)
        fclose(f);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f) {
            fprintf(stderr, "sedge: the %s in %s holds control bytes\n", what, file);
            explicit_bzero(out, outlen);
            return 1;
        }
    if (n == 0) {
        fprintf(stderr, "sedge: no %s in %s (its first line is empty)\n", what, file);
        return 1;
    }
    return 0;
}

const char *cli_text(const char *s, char *buf, size_t len)
{
    if (!s)
        return "-";
    se_log_escape(buf, len, s, strlen(s));
    return buf;
}

void *cli_json_str(const char *s)
{
    char buf[4096];
    json_t *j;

    if (!s)
        return json_null();
    if ((j = json_string(s)))
        return j;
    /* Not UTF-8 (bytes a client sent): escaped, so the field is kept. */
    se_log_escape(buf, sizeof(buf), s, strlen(s));
    return json_string(buf);
}
