/*
 * cmd_audit.c - `sedge audit [--since T] [--limit N] [--json]`.
 *
 * Every change to users, groups, secrets and rules is written to the
 * audit table in the same transaction as the change itself: who (the
 * CLI's login or the API token), when, what, and the object before and
 * after (JSON). Secrets are never written there.
 */
#include "cli/cli.h"
#include "core/config.h"
#include "policy/db.h"
#include "policy/rules.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: sedge audit [--since TIME] [--limit N] [--json] [--config FILE]\n\n"
                 "Show the audit log, oldest first (the newest N rows with --limit, default 100).\n");
}

static int print_row(const struct pol_audit_row *r, void *arg)
{
    json_t *arr = arg;
    char t[32];

    cli_fmt_time(r->at, t, sizeof(t));
    if (!arr) {
        /* Objects quote client bytes (HTTP paths): escaped, never raw. */
        static char b[3][8192];
        char ac[256], an[128], ob[1024], de[1024];
        printf("%-6lld %-20s %-20s %-20s %-20s %s", (long long)r->id, t,
               cli_text(r->actor, ac, sizeof(ac)), cli_text(r->action, an, sizeof(an)),
               cli_text(r->object, ob, sizeof(ob)), cli_text(r->detail, de, sizeof(de)));
        if (r->before)
            printf(" before=%s", cli_text(r->before, b[0], sizeof(b[0])));
        if (r->after)
            printf(" after=%s", cli_text(r->after, b[1], sizeof(b[1])));
        putchar('\n');
        return 0;
    }
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(r->id));
    json_object_set_new(o, "at", json_string(t));
    json_object_set_new(o, "actor", cli_json_str(r->actor));
    json_object_set_new(o, "action", cli_json_str(r->action));
    json_object_set_new(o, "object", cli_json_str(r->object));
    json_object_set_new(o, "detail", cli_json_str(r->detail));
    json_t *b = r->before ? json_loads(r->before, 0, NULL) : NULL;
    json_t *a = r->after ? json_loads(r->after, 0, NULL) : NULL;
    json_object_set_new(o, "before", b ? b : json_null());
    json_object_set_new(o, "after", a ? a : json_null());
    json_array_append_new(arr, o);
    return 0;
}

int cmd_audit(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"json", no_argument, NULL, 'j'},
        {"since", required_argument, NULL, 's'},  {"limit", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *since_s = NULL;
    struct se_config *cfg = NULL;
    struct pol_db *db = NULL;
    int64_t since = 0;
    int limit = 100, c, rc = 1;
    bool json = false;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:js:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'j': json = true; break;
        case 's': since_s = optarg; break;
        case 'n': limit = atoi(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || limit < 0) {
        usage(stderr);
        return 2;
    }
    if (cli_open(config, &cfg, &db) != 0)
        return 1;
    pol_rules_set_timezone(cfg->policy_timezone);
    if (since_s && cli_parse_time(since_s, (int64_t)time(NULL), &since) < 0) {
        fprintf(stderr, "sedge: --since: cannot read time \"%s\"\n", since_s);
        rc = 2;
        goto out;
    }
    json_t *arr = json ? json_array() : NULL;
    if (!json)
        printf("%-6s %-20s %-20s %-20s %-20s %s\n", "ID", "AT", "ACTOR", "ACTION", "OBJECT",
               "DETAIL");
    rc = pol_db_audit_list(db, since, limit, print_row, arr) < 0 ? 1 : 0;
    if (rc)
        fprintf(stderr, "sedge: cannot read the audit log: %s\n", pol_db_errmsg(db));
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
