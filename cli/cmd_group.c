/*
 * cmd_group.c - `sedge group add|del|list|adduser|deluser`.
 *
 * Groups collect enterprise user names for policy rules. Members are
 * names, not references: a REST user who has no row in the users table
 * (the identity provider vouches for it) can still be a member.
 */
#include "cli/cli.h"
#include "core/config.h"
#include "core/err.h"
#include "policy/db.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: sedge group add NAME [--config FILE]\n"
                 "       sedge group del NAME [--config FILE]\n"
                 "       sedge group adduser NAME USER... [--external] [--config FILE]\n"
                 "       sedge group deluser NAME USER... [--config FILE]\n"
                 "       sedge group list [--json] [--config FILE]\n\n"
                 "Groups name sets of users for `sedge rule add --group`. A group that a\n"
                 "rule names cannot be deleted until the rule is changed. adduser takes\n"
                 "local users (`sedge user list`); --external admits names without a local\n"
                 "account, for users the identity provider vouches for (JWT, REST).\n");
}

static int print_group(const char *group, const char *members, void *arg)
{
    json_t *arr = arg;

    if (arr) {
        json_t *o = json_object(), *m = json_array();
        const char *p = members;
        while (*p) {
            size_t k = strcspn(p, ",");
            json_array_append_new(m, json_stringn(p, k));
            p += k + (p[k] == ',');
        }
        json_object_set_new(o, "name", cli_json_str(group));
        json_object_set_new(o, "members", m);
        json_array_append_new(arr, o);
    } else {
        static char mb[16384];
        char g[1024];
        printf("%-24s %s\n", cli_text(group, g, sizeof(g)),
               members[0] ? cli_text(members, mb, sizeof(mb)) : "-");
    }
    return 0;
}

int cmd_group(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"external", no_argument, NULL, 'E'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    struct se_config *cfg = NULL;
    struct pol_db *db = NULL;
    bool json = false, external = false;
    int c, rc = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'j': json = true; break;
        case 'E': external = true; break;
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
    char **args = argv + optind + 1;
    bool member = strcmp(action, "adduser") == 0 || strcmp(action, "deluser") == 0;
    if ((strcmp(action, "list") == 0 && nargs != 0) ||
        ((strcmp(action, "add") == 0 || strcmp(action, "del") == 0) && nargs != 1) ||
        (member && nargs < 2)) {
        usage(stderr);
        return 2;
    }
    if (cli_open(config, &cfg, &db) != 0)
        return 1;
    if (strcmp(action, "add") == 0) {
        int r = pol_db_group_add(db, args[0]);
        if (r == SE_ERR_EXISTS)
            fprintf(stderr, "sedge: group '%s' already exists\n", args[0]);
        else if (r == SE_ERR_INVAL)
            fprintf(stderr, "sedge: group name must be 1-255 characters without ',' or control "
                            "characters\n");
        else if (r < 0)
            fprintf(stderr, "sedge: cannot add group: %s\n", pol_db_errmsg(db));
        else {
            printf("group %s added\n", args[0]);
            rc = 0;
        }
    } else if (strcmp(action, "del") == 0) {
        char err[512];
        int r = pol_db_group_del(db, args[0], err, sizeof(err));
        if (r == SE_ERR_NOTFOUND)
            fprintf(stderr, "sedge: no group '%s'\n", args[0]);
        else if (r == SE_ERR_INVAL)
            fprintf(stderr, "sedge: %s\n", err);
        else if (r < 0)
            fprintf(stderr, "sedge: cannot delete group: %s\n", pol_db_errmsg(db));
        else {
            printf("group %s deleted\n", args[0]);
            rc = 0;
        }
    } else if (member) {
        bool add = strcmp(action, "adduser") == 0;
        rc = 0;
        for (int i = 1; i < nargs; i++) {
            char err[512];
            int r = pol_db_group_member(db, args[0], args[i], add, external, err, sizeof(err));
            if (r == 0) {
                printf("group %s: %s %s\n", args[0], add ? "added" : "removed", args[i]);
                continue;
            }
            rc = 1;
            if (r == SE_ERR_NOTFOUND)
                fprintf(stderr, "sedge: %s\n",
                        add ? "no such group" : "no such group or member");
            else if (r == SE_ERR_EXISTS)
                fprintf(stderr, "sedge: '%s' is already a member of '%s'\n", args[i], args[0]);
            else if (r == SE_ERR_INVAL)
                fprintf(stderr, "sedge: %s: %s\n", args[i], err);
            else
                fprintf(stderr, "sedge: %s failed: %s\n", action, pol_db_errmsg(db));
            break;
        }
    } else if (strcmp(action, "list") == 0) {
        json_t *arr = json ? json_array() : NULL;
        if (!json)
            printf("%-24s %s\n", "GROUP", "MEMBERS");
        rc = pol_db_group_list(db, print_group, arr) < 0 ? 1 : 0;
        if (arr) {
            json_dumpf(arr, stdout, JSON_INDENT(2));
            putchar('\n');
            json_decref(arr);
        }
    } else {
        usage(stderr);
        rc = 2;
    }
    pol_db_close(db);
    se_config_free(cfg);
    return rc;
}
