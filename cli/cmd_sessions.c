/*
 * cmd_sessions.c - `sedge sessions [--live] [--user U] [--since T] [--json]`.
 *
 * One row per allocation or anchored call (MODE turn / anchor), written
 * by `sedge serve` from its workers' and the anchor's events: live rows
 * carry counters as of the last update (every policy.session_update
 * seconds), ended rows their final counts and why they ended (expired,
 * deleted by client, revoked, duration limit, ...). For an anchored call
 * CLIENT is the inside party, PEERS the outside party, and the counters
 * are the inside leg's (the outside leg's are in --json).
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

static void usage(FILE *out)
{
    fprintf(out, "usage: sedge sessions [--live] [--user USER] [--since TIME] [--limit N] [--json]\n"
                 "                      [--config FILE]\n\n"
                 "List relay sessions (one per allocation or anchored call). TIME is unix\n"
                 "seconds, an ISO 8601\n"
                 "date/time (local to policy.timezone unless it ends in Z), or an age such as\n"
                 "30m, 2h, 7d. --json prints an array of objects.\n");
}

static int print_session(const struct pol_session *s, void *arg)
{
    json_t *arr = arg;
    char t1[32], t2[32];

    if (!arr) {
        printf("%-20s %-6s %-16s %-22s %-22s %-26s %-16s %-20s %-20s %12llu/%-8llu %12llu/%-8llu "
               "%s %s\n",
               cli_fmt_time(s->started, t1, sizeof(t1)), s->mode && s->mode[0] ? s->mode : "turn",
               s->user, s->origin ? s->origin : "-",
               s->client, s->relay, s->peers && s->peers[0] ? s->peers : "-",
               s->ended ? cli_fmt_time(s->ended, t2, sizeof(t2)) : "live",
               s->end_reason ? s->end_reason : "-", (unsigned long long)s->bytes_from_client,
               (unsigned long long)s->packets_from_client, (unsigned long long)s->bytes_to_client,
               (unsigned long long)s->packets_to_client,
               s->rule_id ? (s->rule_name ? s->rule_name : "") : "default",
               s->recording && s->recording[0] ? s->recording : "-");
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
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    struct pol_session_filter f = {0};
    const char *config = NULL, *since = NULL;
    struct se_config *cfg = NULL;
    struct pol_db *db = NULL;
    bool json = false;
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
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
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
