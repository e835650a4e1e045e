/*
 * common.c - helpers every subcommand uses: locating and loading the
 * configuration, opening the database, naming the actor for audit rows.
 */
#include "cli/cli.h"
#include "core/config.h"
#include "core/log.h"
#include "policy/db.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

const char *cli_default_config(void)
{
    const char *env = getenv("SEDGE_CONFIG");
    return env && env[0] ? env : "/etc/sedge/sedge.conf";
}

int cli_open(const char *config, struct se_config **cfg, struct pol_db **db)
{
    char err[512];

    if (!config)
        config = cli_default_config();
    if (se_config_load(config, cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "sedge: %s\n", err);
        return 1;
    }
    se_log_set_level((*cfg)->log_level < SE_LOG_WARN ? (*cfg)->log_level : SE_LOG_WARN);
    if (!db)
        return 0;
    if (pol_db_open((*cfg)->database, true, db, err, sizeof(err)) < 0) {
        fprintf(stderr, "sedge: %s\n", err);
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
