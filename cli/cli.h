/*
 * cli.h - the subcommand table's entry points.
 *
 * Each subcommand lives in its own cli/cmd_*.c, parses its own options
 * (every one accepts --help) and returns the process exit status.
 */
#ifndef SE_CLI_H
#define SE_CLI_H

struct cli_cmd {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
};

int cmd_serve(int argc, char **argv);
int cmd_check_config(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_secret(int argc, char **argv);

#endif
