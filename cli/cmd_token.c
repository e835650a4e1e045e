/*
 * cmd_token.c - `sedge token add|list|del`: role tokens for the HTTPS API.
 *
 * A token is printed once, when it is created; the database keeps only
 * its SHA-256, so a lost token is deleted and replaced, never recovered.
 */
#include "auth/auth.h"
#include "cli/cli.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "policy/db.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sedge token add --role admin|compliance|auditor|metrics [--name NAME]\n"
            "                       [--config FILE]\n"
            "       sedge token list [--config FILE]\n"
            "       sedge token del ID [--config FILE]\n\n"
            "Manage role tokens for the HTTPS API (Authorization: Bearer TOKEN).\n"
            "The token is printed once by `add`; only its SHA-256 is stored.\n"
            "Roles: admin (users, secrets, audit log), compliance (recordings),\n"
            "auditor (audit log, read only), metrics (GET /metrics only, for a\n"
            "Prometheus scraper on the public API listener).\n");
}

static void fmt_time(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t <= 0)
        snprintf(buf, len, "-");
    else
        strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&tt, &tm));
}

static int print_token(const struct pol_token_row *r, void *arg)
{
    char c[32], u[32];

    (void)arg;
    fmt_time(r->created, c, sizeof(c));
    fmt_time(r->last_used, u, sizeof(u));
    char n[512];
    printf("%-6lld %-11s %-24s %-21s %s\n", (long long)r->id, r->role,
           r->name[0] ? cli_text(r->name, n, sizeof(n)) : "-", c, u);
    return 0;
}

static int token_add(struct pol_db *db, const char *role, const char *name)
{
    char tok[AUTH_TOKEN_LEN + 1];
    uint8_t h[AUTH_TOKEN_HASH_LEN];
    int64_t id = 0;

    if (auth_token_new(tok, sizeof(tok)) < 0 || auth_token_hash(tok, strlen(tok), h) < 0) {
        fprintf(stderr, "sedge: cannot generate a token\n");
        return 1;
    }
    if (pol_db_token_add(db, name, role, h, &id) < 0) {
        fprintf(stderr, "sedge: cannot add token: %s\n", pol_db_errmsg(db));
        return 1;
    }
    printf("%s\n", tok);
    fprintf(stderr, "token %lld (role %s) created; it is shown only this once\n", (long long)id,
            role);
    return 0;
}

int cmd_token(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"role", required_argument, NULL, 'r'},
        {"name", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *role = NULL, *name = "";
    struct se_config *cfg = NULL;
    struct pol_db *db = NULL;
    int c, rc = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:r:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'r': role = optarg; break;
        case 'n': name = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *action = argv[optind];
    int nargs = argc - optind - 1;
    char *end = NULL;
    long long id = 0;
    if (strcmp(action, "add") == 0) {
        if (nargs != 0 || !role || auth_role_parse(role) < 0) {
            fprintf(stderr, "sedge: token add needs --role admin, compliance, auditor or metrics\n");
            return 2;
        }
        if (strlen(name) > 64 || !se_text_clean(name, strlen(name))) {
            fprintf(stderr, "sedge: --name is at most 64 characters, without control "
                            "characters\n");
            return 2;
        }
    } else if (strcmp(action, "del") == 0) {
        if (nargs != 1 || (id = strtoll(argv[optind + 1], &end, 10)) <= 0 || *end) {
            fprintf(stderr, "sedge: token del needs a token ID (see `sedge token list`)\n");
            return 2;
        }
    } else if (strcmp(action, "list") != 0 || nargs != 0) {
        usage(stderr);
        return 2;
    }
    if (cli_open(config, &cfg, &db) != 0)
        return 1;
    if (strcmp(action, "add") == 0) {
        rc = token_add(db, role, name);
    } else if (strcmp(action, "del") == 0) {
        int r = pol_db_token_del(db, id);
        if (r == SE_ERR_NOTFOUND)
            fprintf(stderr, "sedge: no token %lld\n", id);
        else if (r < 0)
            fprintf(stderr, "sedge: cannot delete token: %s\n", pol_db_errmsg(db));
        else {
            printf("token %lld deleted\n", id);
            rc = 0;
        }
    } else {
        printf("%-6s %-11s %-24s %-21s %s\n", "ID", "ROLE", "NAME", "CREATED", "LAST USED");
        rc = pol_db_token_list(db, print_token, NULL) < 0 ? 1 : 0;
    }
    pol_db_close(db);
    se_config_free(cfg);
    return rc;
}
