/*
 * main.c - the `sedge` binary: a table of subcommands.
 *
 * Each entry names a cli/cmd_*.c entry point. main() only dispatches; every
 * subcommand parses its own options and answers --help itself.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#define SEDGE_VERSION "0.1.0"

static const struct cli_cmd commands[] = {
    {"serve", "run the relay", cmd_serve},
    {"init", "create the database (once, before the first serve)", cmd_init},
    {"check-config", "validate a configuration file", cmd_check_config},
    {"user", "manage long-term TURN users", cmd_user},
    {"secret", "manage TURN REST shared secrets", cmd_secret},
    {"group", "manage user groups for policy rules", cmd_group},
    {"rule", "manage policy rules (who may relay, to whom, when, how much)", cmd_rule},
    {"policy", "test the policy: which rule decides a request", cmd_policy},
    {"sessions", "list relay sessions (live and history)", cmd_sessions},
    {"audit", "show the audit log of administrative changes", cmd_audit},
    {"token", "manage role tokens for the HTTPS API", cmd_token},
    {"record", "import, verify or capture recordings", cmd_record},
    {"recordings", "the recordings catalog: list, show, verify, export, hold, purge",
     cmd_recordings},
    {NULL, NULL, NULL},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: sedge COMMAND [OPTIONS]\n\n"
                 "sedge is a secure-edge media relay for WebRTC (TURN, policy, recording).\n\n"
                 "commands:\n");
    for (const struct cli_cmd *c = commands; c->name; c++)
        fprintf(out, "  %-14s %s\n", c->name, c->summary);
    fprintf(out, "\nRun `sedge COMMAND --help` for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("sedge %s\n", SEDGE_VERSION);
        return 0;
    }
    for (const struct cli_cmd *c = commands; c->name; c++)
        if (strcmp(argv[1], c->name) == 0)
            return c->run(argc - 1, argv + 1);
    fprintf(stderr, "sedge: unknown command '%s' (try `sedge --help`)\n", argv[1]);
    return 2;
}
