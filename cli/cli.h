/*
 * cli.h - the subcommand table's entry points.
 *
 * Each subcommand lives in its own cli/cmd_*.c, parses its own options
 * (every one accepts --help) and returns the process exit status.
 */
#ifndef SE_CLI_H
#define SE_CLI_H

#include <stddef.h>
#include <stdint.h>

struct cli_cmd {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
};

int cmd_serve(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_check_config(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_secret(int argc, char **argv);
int cmd_group(int argc, char **argv);
int cmd_rule(int argc, char **argv);
int cmd_sessions(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_record(int argc, char **argv);
int cmd_record_import(int argc, char **argv);
int cmd_record_verify(int argc, char **argv);
int cmd_record_listen(int argc, char **argv);
int cmd_record_key(int argc, char **argv);
int cmd_recordings(int argc, char **argv);



struct se_config;
struct pol_db;

/*
 * Shared option handling: every subcommand takes --config FILE (default
 * $SEDGE_CONFIG, then /etc/sedge/sedge.conf). cli_open() loads the config
 * and, if db is non-NULL, opens its database (never creating it: that is
 * `sedge init`); it prints a clear error and returns non-zero on failure.
 * Caller frees both.
 */
const char *cli_default_config(void);
int cli_open(const char *config, struct se_config **cfg, struct pol_db **db);
/* After "database ... does not exist": how to create or restore it. */
void cli_hint_init(const char *config);
/* A password or secret from the first line of file ("-": stdin), so it
 * need not appear on a command line (visible in ps and shell history).
 * The line end (LF or CRLF) is dropped; an empty line, control bytes or
 * more than outlen - 2 bytes are refused. 0, or 1 after printing why. */
int cli_read_secret(const char *file, const char *what, char *out, size_t outlen);
/* Text from the database for a terminal: client bytes (USERNAME,
 * origins, HTTP paths) escaped like log lines (se_log_escape), "-" for
 * NULL. Returns buf (or "-"). */
const char *cli_text(const char *s, char *buf, size_t len);
/* A JSON string for text from the database that may not be UTF-8: such
 * text is escaped instead of dropped. A new jansson reference (json_t *). */
void *cli_json_str(const char *s);
/* Actor string for audit rows: "cli:<login>". */
const char *cli_actor(void);

#include <stddef.h>
#include <stdint.h>
/*
 * A time given on the command line: unix seconds ("1767225600"), ISO 8601
 * ("2026-11-24T09:30", "2026-11-24 09:30:00", "2026-11-24"; local time in
 * the process's TZ unless it ends in "Z"), or an age ("90s", "15m", "2h",
 * "7d" ago). 0, or SE_ERR_PARSE.
 */
int cli_parse_time(const char *text, int64_t now, int64_t *out);
/* "2026-11-24T09:30:00Z" into buf (>= 24 bytes); "-" for 0. */
const char *cli_fmt_time(int64_t t, char *buf, size_t len);
/*
 * The recording signing key: key_file if given, else $SEDGE_RECORD_KEY_FILE,
 * else none (*key_len = 0). key holds REC_KEY_MAX bytes. Prints the problem
 * and returns 1 if a named key cannot be used.
 */
int cli_record_key(const char *key_file, uint8_t *key, size_t *key_len);

#endif
