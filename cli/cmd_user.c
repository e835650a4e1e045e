/*
 * cmd_user.c - `sedge user add|del|list|disable|enable`.
 *
 * Users are stored as their long-term keys for the configured realm; the
 * password given here is used once to derive them and never stored.
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

enum { AUTH_PASSWORD_FILE_MAX = 1026 }; /* 1024 bytes of password, line end, NUL */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sedge user add NAME --password PW|--password-file FILE|- [--config FILE]\n"
            "       sedge user del NAME [--config FILE]\n"
            "       sedge user disable|enable NAME [--config FILE]\n"
            "       sedge user list [--config FILE]\n\n"
            "Manage long-term TURN users. --password-file reads the password from the\n"
            "first line of FILE, or of stdin with '-', so it stays out of the process\n"
            "list and shell history. Passwords are not stored: sedge keeps\n"
            "MD5 and SHA-256 keys of user:realm:password (RFC 8489 9.2.2), so\n"
            "changing the realm requires re-adding users.\n");
}

static int print_user(const struct pol_user_row *r, void *arg)
{
    char when[32];
    time_t t = (time_t)r->created;
    struct tm tm;

    (void)arg;
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    char n[1024], rl[256];
    printf("%-32s %-20s %-8s %s\n", cli_text(r->name, n, sizeof(n)),
           cli_text(r->realm, rl, sizeof(rl)), r->disabled ? "disabled" : "enabled", when);
    return 0;
}

int cmd_user(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"password", required_argument, NULL, 'p'},
        {"password-file", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *password = NULL, *password_file = NULL;
    char pwbuf[AUTH_PASSWORD_FILE_MAX];
    struct se_config *cfg = NULL;
    struct pol_db *db = NULL;
    int c, rc = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'p': password = optarg; break;
        case 'P': password_file = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *action = argv[optind];
    const char *name = optind + 1 < argc ? argv[optind + 1] : NULL;
    bool needs_name = strcmp(action, "list") != 0;
    if ((needs_name && !name) || (!needs_name && name) ||
        (strcmp(action, "add") == 0 && !password == !password_file) ||
        (strcmp(action, "add") != 0 && (password || password_file)) ||
        (needs_name && optind + 2 < argc)) {
        if (password && password_file)
            fprintf(stderr, "sedge: give --password or --password-file, not both\n");
        usage(stderr);
        return 2;
    }
    if (name && (!auth_name_valid(name, strlen(name)) || strchr(name, ':') ||
                 (strcmp(action, "add") == 0 && !se_text_clean(name, strlen(name))))) {
        fprintf(stderr, "sedge: user name must be 1-%d characters without ':' "
                        "(':' separates TURN REST credential fields) or control characters\n",
                AUTH_NAME_MAX - 1);
        return 2;
    }
    if (password_file) {
        if (cli_read_secret(password_file, "password", pwbuf, sizeof(pwbuf)) != 0)
            return 2;
        password = pwbuf;
    }
    if (cli_open(config, &cfg, &db) != 0)
        return 1;
    if (strcmp(action, "add") == 0) {
        uint8_t k1[AUTH_MD5_KEY_LEN], k2[AUTH_SHA256_KEY_LEN];
        if (!password[0]) {
            fprintf(stderr, "sedge: the password must not be empty\n");
            goto out;
        }
        if (auth_key_md5(name, cfg->realm, password, k1) < 0 ||
            auth_key_sha256(name, cfg->realm, password, k2) < 0) {
            fprintf(stderr, "sedge: cannot derive keys\n");
            goto out;
        }
        int r = pol_db_user_add(db, name, cfg->realm, k1, k2);
        if (r == SE_ERR_EXISTS)
            fprintf(stderr, "sedge: user '%s' already exists\n", name);
        else if (r < 0)
            fprintf(stderr, "sedge: cannot add user: %s\n", pol_db_errmsg(db));
        else {
            printf("user %s added (realm %s)\n", name, cfg->realm);
            rc = 0;
        }
    } else if (strcmp(action, "del") == 0 || strcmp(action, "disable") == 0 ||
               strcmp(action, "enable") == 0) {
        int r = strcmp(action, "del") == 0
                    ? pol_db_user_del(db, name)
                    : pol_db_user_set_disabled(db, name, strcmp(action, "disable") == 0);
        if (r == SE_ERR_NOTFOUND)
            fprintf(stderr, "sedge: no user '%s'\n", name);
        else if (r < 0)
            fprintf(stderr, "sedge: %s failed: %s\n", action, pol_db_errmsg(db));
        else {
            printf("user %s: %s done\n", name, action);
            rc = 0;
        }
    } else if (strcmp(action, "list") == 0) {
        printf("%-32s %-20s %-8s %s\n", "NAME", "REALM", "STATE", "CREATED");
        rc = pol_db_user_list(db, print_user, NULL) < 0 ? 1 : 0;
    } else {
        usage(stderr);
        rc = 2;
    }
out:
    explicit_bzero(pwbuf, sizeof(pwbuf));
    pol_db_close(db);
    se_config_free(cfg);
    return rc;
}
