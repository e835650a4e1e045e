/*
 * cmd_secret.c - `sedge secret add|del|list`: TURN REST shared secrets.
 *
 * Several secrets are valid at once, so a rotation is: add the new one,
 * move credential issuers to it, delete the old one after the longest
 * credential lifetime. A running sedge picks changes up within a second.
 */
#include "cli/cli.h"
#include "core/config.h"
#include "core/err.h"
#include "policy/db.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum { SECRET_FILE_MAX = 514 }; /* 512 bytes of secret, line end, NUL */

static void usage(FILE *out)
{
    fprintf(out, "usage: sedge secret add VALUE|--value-file FILE|- [--config FILE]\n"
                 "       sedge secret del VALUE|#ID [--config FILE]\n"
                 "       sedge secret list [--show] [--config FILE]\n\n"
                 "Manage TURN REST shared secrets (username \"expiry:user\", password\n"
                 "base64(HMAC-SHA1(secret, username))). list masks values unless --show.\n"
                 "--value-file reads the secret from the first line of FILE, or of stdin\n"
                 "with '-', so it stays out of the process list and shell history.\n");
}

static int print_secret(const struct pol_secret_row *r, void *arg)
{
    bool show = *(bool *)arg;
    char when[32], masked[16];
    time_t t = (time_t)r->created;
    struct tm tm;

    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    char esc[2048];
    snprintf(masked, sizeof(masked), "%.3s...", r->value);
    printf("#%-6lld %-20s %s\n", (long long)r->id, when,
           cli_text(show ? r->value : masked, esc, sizeof(esc)));
    return 0;
}

int cmd_secret(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"show", no_argument, NULL, 's'},
        {"value-file", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *value_file = NULL;
    char vbuf[SECRET_FILE_MAX];
    bool show = false;
    struct se_config *cfg = NULL;
    struct pol_db *db = NULL;
    int c, rc = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:sh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 's': show = true; break;
        case 'f': value_file = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *action = argv[optind];
    const char *value = optind + 1 < argc ? argv[optind + 1] : NULL;
    bool is_list = strcmp(action, "list") == 0;
    if (value_file && (strcmp(action, "add") != 0 || value)) {
        usage(stderr);
        return 2;
    }
    if (value_file) {
        if (cli_read_secret(value_file, "secret", vbuf, sizeof(vbuf)) != 0)
            return 2;
        value = vbuf;
    }
    if ((!is_list && !value) || (is_list && value) || optind + 2 < argc) {
        usage(stderr);
        return 2;
    }
    if (value && strcmp(action, "add") == 0 && (strlen(value) < 8 || value[0] == '#')) {
        fprintf(stderr, "sedge: a secret needs at least 8 characters and must not start with '#'\n");
        return 2;
    }
    if (cli_open(config, &cfg, &db) != 0)
        return 1;
    if (strcmp(action, "add") == 0) {
        int r = pol_db_secret_add(db, value);
        if (r == SE_ERR_EXISTS)
            fprintf(stderr, "sedge: that secret already exists\n");
        else if (r < 0)
            fprintf(stderr, "sedge: cannot add secret: %s\n", pol_db_errmsg(db));
        else {
            printf("secret added\n");
            rc = 0;
        }
    } else if (strcmp(action, "del") == 0) {
        int r = pol_db_secret_del(db, value);
        if (r == SE_ERR_NOTFOUND)
            fprintf(stderr, "sedge: no such secret\n");
        else if (r < 0)
            fprintf(stderr, "sedge: cannot delete secret: %s\n", pol_db_errmsg(db));
        else {
            printf("secret deleted\n");
            rc = 0;
        }
    } else if (is_list) {
        printf("%-7s %-20s %s\n", "ID", "CREATED", "VALUE");
        rc = pol_db_secret_list(db, print_secret, &show) < 0 ? 1 : 0;
    } else {
        usage(stderr);
        rc = 2;
    }
    explicit_bzero(vbuf, sizeof(vbuf));
    pol_db_close(db);
    se_config_free(cfg);
    return rc;
}
