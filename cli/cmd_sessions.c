/*
 * cmd_sessions.c - `sedge sessions [--live] [--user U] [--since T] [--json]`
 * and `sedge sessions kill ID`.
 *
 * One row per allocation or anchored call (MODE turn / anchor), written
 * by `sedge serve` from its workers' and the anchor's events: live rows
 * carry counters as of the last update (every policy.session_update
 * seconds), ended rows their final counts and why they ended (expired,
 * deleted by client, revoked, duration limit, ...). For an anchored call
 * CLIENT is the inside party, PEERS the outside party, and the counters
 * are the inside leg's (the outside leg's are in --json).
 * A kill goes through the database the daemon watches (the call lives in
 * its memory): the CLI marks the row, `sedge serve` ends it.
 */
#include "cli/cli.h"
#include "core/config.h"
#include "core/err.h"
#include "policy/db.h"
#include "policy/rules.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { KILL_WAIT_MS = 5000, KILL_POLL_MS = 100 };

static void usage(FILE *out)
{
    fprintf(out, "usage: sedge sessions [--live] [--user USER] [--since TIME] [--limit N] [--json]\n"
                 "                      [--config FILE]\n"
                 "       sedge sessions kill ID [--no-wait] [--config FILE]\n\n"
                 "List relay sessions (one per allocation or anchored call). TIME is unix\n"
                 "seconds, an ISO 8601\n"
                 "date/time (local to policy.timezone unless it ends in Z), or an age such as\n"
                 "30m, 2h, 7d. --json prints an array of objects (\"id\" is the session ID).\n\n"
                 "kill ends a live session: it marks the row in the database, the running\n"
                 "`sedge serve` notices within a second and ends the allocation (reason\n"
                 "\"killed by admin\", audited as session.kill). It waits up to 5 s for the\n"
                 "row to end unless --no-wait; exit 1 if it did not.\n");
}

static int ended_cb(const struct pol_session *s, void *arg)
{
    char *reason = arg;

    if (s->ended)
        snprintf(reason, 128, "%s", s->end_reason ? s->end_reason : "ended");
    return 0;
}

static int kill_session(struct pol_db *db, const char *sid, bool wait)
{
    struct pol_session_filter f = {.sid = sid};
    char reason[128] = "";
    int r = pol_db_session_request_kill(db, sid);

    if (r == SE_ERR_NOTFOUND) {
        fprintf(stderr, "sedge: no session %s (see `sedge sessions --live --json`)\n", sid);
        return 1;
    }
    if (r == SE_ERR_STALE) {
        pol_db_session_list(db, &f, ended_cb, reason);
        fprintf(stderr, "sedge: session %s already ended (%s)\n", sid, reason);
        return 1;
    }
    if (r < 0) {
        fprintf(stderr, "sedge: cannot mark session %s: %s\n", sid, pol_db_errmsg(db));
        return 1;
    }
    if (!wait) {
        printf("session %s: kill requested\n", sid);
        return 0;
    }
    for (int waited = 0; waited < KILL_WAIT_MS; waited += KILL_POLL_MS) {
        struct timespec ts = {0, KILL_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
        if (pol_db_session_list(db, &f, ended_cb, reason) == 0 && reason[0]) {
            printf("session %s ended: %s\n", sid, reason);
            return 0;
        }
    }
    fprintf(stderr, "sedge: kill of session %s requested, but it is still live after %d s: is "
                    "`sedge serve` running on this database?\n",
            sid, KILL_WAIT_MS / 1000);
    return 1;
}

static int print_session(const struct pol_session *s, void *arg)
{
    json_t *arr = arg;
    char t1[32], t2[32];

    if (!arr) {
        /* Client bytes (user, origin) are shown escaped, never raw. */
        char u[256], o[1024], c[256], rl[256], p[2048], er[256], rn[512], rc[256];
        printf("%-20s %-6s %-16s %-22s %-22s %-26s %-16s %-20s %-20s %12llu/%-8llu %12llu/%-8llu "
               "%s %s\n",
               cli_fmt_time(s->started, t1, sizeof(t1)), s->mode && s->mode[0] ? s->mode : "turn",
               cli_text(s->user, u, sizeof(u)),
               cli_text(s->origin, o, sizeof(o)), cli_text(s->client, c, sizeof(c)),
               cli_text(s->relay, rl, sizeof(rl)),
               s->peers && s->peers[0] ? cli_text(s->peers, p, sizeof(p)) : "-",
               s->ended ? cli_fmt_time(s->ended, t2, sizeof(t2)) : "live",
               cli_text(s->end_reason, er, sizeof(er)), (unsigned long long)s->bytes_from_client,
               (unsigned long long)s->packets_from_client, (unsigned long long)s->bytes_to_client,
               (unsigned long long)s->packets_to_client,
               s->rule_id ? cli_text(s->rule_name ? s->rule_name : "", rn, sizeof(rn)) : "default",
               s->recording && s->recording[0] ? cli_text(s->recording, rc, sizeof(rc)) : "-");
        return 0;
    }
    json_t *o = pol_session_json(s);
    if (!o)
        return SE_ERR_NOMEM;
    json_array_append_new(arr, o);
    return 0;
}

int cmd_sessions(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"json", no_argument, NULL, 'j'},
        {"live", no_argument, NULL, 'l'},         {"user", required_argument, NULL, 'u'},
        {"since", required_argument, NULL, 's'},  {"limit", required_argument, NULL, 'n'},
        {"no-wait", no_argument, NULL, 'W'},      {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct pol_session_filter f = {0};
    const char *config = NULL, *since = NULL;
    struct se_config *cfg = NULL;
    struct pol_db *db = NULL;
    bool json = false, wait = true;
    int c, rc = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:jlu:s:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'j': json = true; break;
        case 'l': f.live_only = true; break;
        case 'u': f.user = optarg; break;
        case 's': since = optarg; break;
        case 'n': f.limit = atoi(optarg); break;
        case 'W': wait = false; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc && strcmp(argv[optind], "kill") == 0) {
        if (optind + 2 != argc) {
            usage(stderr);
            return 2;
        }
        if (cli_open(config, &cfg, &db) != 0)
            return 1;
        rc = kill_session(db, argv[optind + 1], wait);
        goto out;
    }
    if (optind != argc || f.limit < 0) {
        usage(stderr);
        return 2;
    }
    if (cli_open(config, &cfg, &db) != 0)
        return 1;
    pol_rules_set_timezone(cfg->policy_timezone);
    if (since && cli_parse_time(since, (int64_t)time(NULL), &f.since) < 0) {
        fprintf(stderr, "sedge: --since: cannot read time \"%s\"\n", since);
        rc = 2;
        goto out;
    }
    json_t *arr = json ? json_array() : NULL;
    if (!json)
        printf("%-20s %-6s %-16s %-22s %-22s %-26s %-16s %-20s %-20s %21s %21s %s %s\n",
               "STARTED", "MODE", "USER", "ORIGIN", "CLIENT", "RELAY", "PEERS", "ENDED", "REASON",
               "FROM_CLIENT B/PKTS", "TO_CLIENT B/PKTS", "RULE", "RECORDING");
    rc = pol_db_session_list(db, &f, print_session, arr) < 0 ? 1 : 0;
    if (rc)
        fprintf(stderr, "sedge: cannot read sessions: %s\n", pol_db_errmsg(db));
    if (arr) {
        if (!rc) {
            json_dumpf(arr, stdout, JSON_INDENT(2));
            putchar('\n');
        }
        json_decref(arr);
    }
out:
    pol_db_close(db);
    se_config_free(cfg);
    return rc;
}
