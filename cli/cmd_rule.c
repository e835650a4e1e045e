/*
 * cmd_rule.c - `sedge rule add|list|del|move`.
 *
 * A rule is typed as options; repeated list options accumulate
 * (`--group a --group b` = `--group a,b`). The rule is compiled before
 * it is written, so a bad CIDR (or one with host bits set), an unknown
 * group, a user without a local account (unless --external) or a
 * malformed window is refused with the field named and nothing is stored. A running
 * `sedge serve` picks the change up within a second or two.
 */
#include "cli/cli.h"
#include "core/config.h"
#include "core/err.h"
#include "policy/db.h"
#include "policy/rules.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { LIST_MAX = 4096 };

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sedge rule add [allow|deny] [--action allow|deny] [options] [--config FILE]\n"
            "       sedge rule list [--json] [--config FILE]\n"
            "       sedge rule del ID [--config FILE]\n"
            "       sedge rule move ID --priority N [--config FILE]\n\n"
            "Rules are evaluated in priority order (lowest first); the first rule whose\n"
            "conditions all match decides, else policy.default does. Conditions (each\n"
            "optional, repeatable or comma-separated):\n"
            "  --user NAME            enterprise user (a local user; with --external any\n"
            "                         name, for users the identity provider vouches for)\n"
            "  --group NAME           member of a group (see `sedge group`)\n"
            "  --origin ORIGIN        website the credential was issued for:\n"
            "                         https://meet.example.com, https://*.example.com,\n"
            "                         '*' (any origin) or 'none' (no origin)\n"
            "  --peer CIDR            peer address (decides CreatePermission/ChannelBind);\n"
            "                         a network address: 10.0.0.0/8, not 10.1.2.3/8\n"
            "  --client CIDR          client address (same form)\n"
            "  --transport udp|tcp|tls\n"
            "  --days mon-fri,sun     days of week (policy.timezone)\n"
            "  --hours 08:00-18:00    time of day; 22:00-06:00 runs past midnight\n"
            "Action and limits:\n"
            "  --action allow|deny    (or the word after `add`)\n"
            "  --max-kbps N           bandwidth cap per allocation and direction\n"
            "  --max-allocs N         allocations per user\n"
            "  --max-duration T       session length (seconds, or 90m, 8h)\n"
            "  --record never|always  recording requirement\n"
            "  --retention DAYS       keep the recordings this rule requires DAYS days\n"
            "                         (default recording.retention)\n"
            "  --priority N           position (default: after all others)\n"
            "  --name TEXT            a label shown in logs and sessions\n");
}

/* Append an option value to a comma list. */
static int append(char *list, const char *v)
{
    size_t n = strlen(list);

    if (n + strlen(v) + 2 > LIST_MAX)
        return -1;
    if (n)
        list[n++] = ',';
    strcpy(list + n, v);
    return 0;
}

/* Seconds from "3600", "90s", "15m", "8h", "2d". -1 if malformed. */
static long long parse_duration(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);

    if (end == s || v < 0)
        return -1;
    switch (*end) {
    case '\0':
    case 's': break;
    case 'm': v *= 60; break;
    case 'h': v *= 3600; break;
    case 'd': v *= 86400; break;
    default: return -1;
    }
    return *end && end[1] ? -1 : v;
}

static long long parse_count(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);

    return end == s || *end || v < 0 ? -1 : v;
}

static void print_text(const struct pol_rule_spec *s)
{
    char lim[128] = "";
    size_t o = 0;

    if (s->max_kbps)
        o += (size_t)snprintf(lim + o, sizeof(lim) - o, " max_kbps=%lld", (long long)s->max_kbps);
    if (s->max_allocs)
        o += (size_t)snprintf(lim + o, sizeof(lim) - o, " max_allocs=%lld",
                              (long long)s->max_allocs);
    if (s->max_duration)
        o += (size_t)snprintf(lim + o, sizeof(lim) - o, " max_duration=%llds",
                              (long long)s->max_duration);
    if (s->record && strcmp(s->record, "always") == 0)
        o += (size_t)snprintf(lim + o, sizeof(lim) - o, " record=always");
    if (s->retention_days)
        snprintf(lim + o, sizeof(lim) - o, " retention=%lldd", (long long)s->retention_days);
    static char esc[4 * LIST_MAX];
    printf("#%-4lld prio %-6lld %-5s", (long long)s->id, (long long)s->priority,
           cli_text(s->action, esc, sizeof(esc)));
    if (s->name && s->name[0])
        printf(" \"%s\"", cli_text(s->name, esc, sizeof(esc)));
    const struct {
        const char *k, *v;
    } f[] = {{"users", s->users},     {"groups", s->groups}, {"origins", s->origins},
             {"peers", s->peers},     {"clients", s->clients}, {"transports", s->transports},
             {"days", s->days},       {"hours", s->hours}};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        if (f[i].v && f[i].v[0])
            printf(" %s=%s", f[i].k, cli_text(f[i].v, esc, sizeof(esc)));
    printf("%s\n", lim);
}

static int print_rule(const struct pol_rule_spec *s, void *arg)
{
    json_t *arr = arg;

    if (!arr) {
        print_text(s);
        return 0;
    }
    char *text = pol_rule_spec_json(s);
    json_t *o = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (o)
        json_array_append_new(arr, o);
    return 0;
}

int cmd_rule(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},  {"json", no_argument, NULL, 'j'},
        {"action", required_argument, NULL, 'a'},  {"priority", required_argument, NULL, 'P'},
        {"name", required_argument, NULL, 'n'},    {"user", required_argument, NULL, 'u'},
        {"group", required_argument, NULL, 'g'},   {"origin", required_argument, NULL, 'o'},
        {"peer", required_argument, NULL, 'p'},    {"client", required_argument, NULL, 'C'},
        {"transport", required_argument, NULL, 't'}, {"days", required_argument, NULL, 'd'},
        {"hours", required_argument, NULL, 'H'},   {"max-kbps", required_argument, NULL, 'k'},
        {"max-allocs", required_argument, NULL, 'A'}, {"max-duration", required_argument, NULL, 'D'},
        {"record", required_argument, NULL, 'r'},  {"help", no_argument, NULL, 'h'},
        {"retention", required_argument, NULL, 'R'},
        {"external", no_argument, NULL, 'E'},
        {NULL, 0, NULL, 0},
    };
    static char users[LIST_MAX], groups[LIST_MAX], origins[LIST_MAX], peers[LIST_MAX],
        clients[LIST_MAX], transports[LIST_MAX], days[LIST_MAX];
    struct pol_rule_spec s = {0};
    const char *config = NULL;
    struct se_config *cfg = NULL;
    struct pol_db *db = NULL;
    bool json = false, bad = false;
    long long v;
    int c, rc = 1;

    users[0] = groups[0] = origins[0] = peers[0] = clients[0] = transports[0] = days[0] = '\0';
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'j': json = true; break;
        case 'a': s.action = optarg; break;
        case 'n': s.name = optarg; break;
        case 'u': bad |= append(users, optarg) < 0; break;
        case 'g': bad |= append(groups, optarg) < 0; break;
        case 'o': bad |= append(origins, optarg) < 0; break;
        case 'p': bad |= append(peers, optarg) < 0; break;
        case 'C': bad |= append(clients, optarg) < 0; break;
        case 't': bad |= append(transports, optarg) < 0; break;
        case 'd': bad |= append(days, optarg) < 0; break;
        case 'H': s.hours = optarg; break;
        case 'r': s.record = optarg; break;
        case 'R':
            if ((v = parse_count(optarg)) < 0) {
                fprintf(stderr, "sedge: --retention must be a number of days\n");
                return 2;
            }
            s.retention_days = v;
            break;
        case 'E': s.external_users = true; break;
        case 'P':
            if ((v = parse_count(optarg)) <= 0) {
                fprintf(stderr, "sedge: --priority must be a positive integer\n");
                return 2;
            }
            s.priority = v;
            break;
        case 'k':
        case 'A':
            if ((v = parse_count(optarg)) < 0) {
                fprintf(stderr, "sedge: --%s must be a non-negative integer\n",
                        c == 'k' ? "max-kbps" : "max-allocs");
                return 2;
            }
            *(c == 'k' ? &s.max_kbps : &s.max_allocs) = v;
            break;
        case 'D':
            if ((v = parse_duration(optarg)) < 0) {
                fprintf(stderr, "sedge: --max-duration must be seconds or N[smhd]\n");
                return 2;
            }
            s.max_duration = v;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (bad) {
        fprintf(stderr, "sedge: a list option is longer than %d characters\n", LIST_MAX - 1);
        return 2;
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *action = argv[optind];
    int nargs = argc - optind - 1;
    char **args = argv + optind + 1;
    int64_t id = 0;

    if (strcmp(action, "add") == 0) {
        if (nargs == 1 && !s.action)
            s.action = args[0];
        else if (nargs != 0) {
            usage(stderr);
            return 2;
        }
        if (!s.action) {
            fprintf(stderr, "sedge: rule add needs an action: allow or deny\n");
            return 2;
        }
    } else if (strcmp(action, "del") == 0 || strcmp(action, "move") == 0) {
        if (nargs != 1 || (id = parse_count(args[0][0] == '#' ? args[0] + 1 : args[0])) <= 0) {
            fprintf(stderr, "sedge: rule %s needs a rule ID (see `sedge rule list`)\n", action);
            return 2;
        }
        if (strcmp(action, "move") == 0 && s.priority <= 0) {
            fprintf(stderr, "sedge: rule move needs --priority N\n");
            return 2;
        }
    } else if (strcmp(action, "list") != 0 || nargs != 0) {
        usage(stderr);
        return 2;
    }
    if (cli_open(config, &cfg, &db) != 0)
        return 1;
    if (strcmp(action, "add") == 0) {
        char err[512];
        s.users = users;
        s.groups = groups;
        s.origins = origins;
        s.peers = peers;
        s.clients = clients;
        s.transports = transports;
        s.days = days;
        int r = pol_db_rule_add(db, &s, &id, err, sizeof(err));
        if (r == SE_ERR_INVAL)
            fprintf(stderr, "sedge: rule refused, nothing written: %s\n", err);
        else if (r < 0)
            fprintf(stderr, "sedge: cannot add rule: %s\n", pol_db_errmsg(db));
        else {
            printf("rule #%lld added\n", (long long)id);
            rc = 0;
        }
    } else if (strcmp(action, "del") == 0 || strcmp(action, "move") == 0) {
        bool del = strcmp(action, "del") == 0;
        int r = del ? pol_db_rule_del(db, id) : pol_db_rule_move(db, id, s.priority);
        if (r == SE_ERR_NOTFOUND)
            fprintf(stderr, "sedge: no rule #%lld\n", (long long)id);
        else if (r < 0)
            fprintf(stderr, "sedge: rule %s failed: %s\n", action, pol_db_errmsg(db));
        else {
            if (del)
                printf("rule #%lld deleted\n", (long long)id);
            else
                printf("rule #%lld moved to priority %lld\n", (long long)id,
                       (long long)s.priority);
            rc = 0;
        }
    } else {
        json_t *arr = json ? json_array() : NULL;
        rc = pol_db_rule_list(db, print_rule, arr) < 0 ? 1 : 0;
        if (arr) {
            json_dumpf(arr, stdout, JSON_INDENT(2));
            putchar('\n');
            json_decref(arr);
        } else {
            printf("default: %s (policy.default)\n", cfg->policy_default_allow ? "allow" : "deny");
        }
    }
    pol_db_close(db);
    se_config_free(cfg);
    return rc;
}
