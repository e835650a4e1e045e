/*
 * cmd_init.c - `sedge init`: create the database named by the
 * configuration, once, before the first `sedge serve`.
 *
 * Nothing else creates it: `serve` and every other command refuse a
 * missing database, so a deleted or misplaced file is noticed instead of
 * being replaced by an empty one (no users, no secrets, no tokens, no
 * rules). The file is created owner-only (0600, missing directories
 * 0700): it holds TURN REST secrets and user keys. On an existing
 * database init changes nothing but bringing its schema up to date, so
 * scripts may run it every time.
 */
#include "cli/cli.h"
#include "core/config.h"
#include "core/err.h"
#include "policy/db.h"

#include <getopt.h>
#include <stdio.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: sedge init [--config FILE]\n\n"
                 "Create the SQLite database named by `database` in the configuration,\n"
                 "owner-only (file 0600, missing directories 0700), with the current schema.\n"
                 "An existing database is kept as it is (its schema is brought up to date).\n"
                 "`sedge serve` and the other commands never create a database themselves.\n");
}

int cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    struct se_config *cfg = NULL;
    struct pol_db *db = NULL;
    char err[512];
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (cli_open(config, &cfg, NULL) != 0)
        return 1;
    if (pol_db_open(cfg->database, true, &db, err, sizeof(err)) < 0) {
        fprintf(stderr, "sedge: %s\n", err);
        se_config_free(cfg);
        return 1;
    }
    if (pol_db_created(db)) {
        pol_db_set_actor(db, cli_actor());
        pol_db_audit(db, "db.init", cfg->database, NULL);
        printf("database %s created (schema %d, owner-only)\n", cfg->database,
               POL_DB_SCHEMA_VERSION);
    } else {
        printf("database %s already exists (schema %d): nothing to do\n", cfg->database,
               POL_DB_SCHEMA_VERSION);
    }
    pol_db_close(db);
    se_config_free(cfg);
    return 0;
}
