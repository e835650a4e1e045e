/*
 * cmd_recordings.h - what the `sedge recordings` verbs share
 * (cmd_recordings.c: catalog rows; cmd_recordings_files.c: verbs that
 * touch the recording files).
 */
#ifndef SE_CMD_RECORDINGS_H
#define SE_CMD_RECORDINGS_H

#include "policy/recordings.h"

#include <stdbool.h>

struct pol_db;
struct se_config;

struct cli_rec_opts {
    const char *config, *id, *since, *until, *reason, *out;
    bool json, dry_run, force;
    struct pol_rec_filter f;
};

/* Parse the options after the verb. -1: parsed, go on; else the exit status. */
int cli_rec_opts_parse(int argc, char **argv, struct cli_rec_opts *o);

/* verify, export, purge: they need the recording settings of cfg. */
int cli_recordings_files(const char *verb, struct cli_rec_opts *o, const struct se_config *cfg,
                         struct pol_db *db);

#endif
