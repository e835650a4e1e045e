/*
 * cmd_policy.c - `sedge policy test`: what would the relay decide?
 *
 * Builds the same rule set `sedge serve` builds from the database and the
 * configuration, and evaluates one request against it, layer by layer as
 * the relay does: a disabled account, then the peer safety filter
 * (built-in special-purpose ranges and the peers block of the
 * configuration), then the rules in priority order, then policy.default.
 * Exits 0 whatever the decision; 1 or 2 on errors.
 */
#include "cli/cli.h"
#include "core/addr.h"
#include "core/config.h"
#include "policy/db.h"
#include "policy/peers.h"
#include "policy/rules.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sedge policy test --user USER [--origin ORIGIN] [--peer ADDR]\n"
            "                         [--client ADDR] [--transport udp|tcp|tls] [--at TIME]\n"
            "                         [--json] [--config FILE]\n\n"
            "Print the decision for a request and the rule that made it. Without --peer the\n"
            "request is an Allocate (rules that name peers are skipped); with --peer it is a\n"
            "CreatePermission/ChannelBind. TIME is ISO 8601 local to policy.timezone (or\n"
            "ending in Z), or unix seconds; default now.\n");
}

int cmd_policy(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"json", no_argument, NULL, 'j'},
        {"user", required_argument, NULL, 'u'},   {"origin", required_argument, NULL, 'o'},
        {"peer", required_argument, NULL, 'p'},   {"client", required_argument, NULL, 'C'},
        {"transport", required_argument, NULL, 't'}, {"at", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *user = NULL, *origin = NULL, *peer_s = NULL, *client_s = NULL,
               *transport = NULL, *at_s = NULL;
    struct se_config *cfg = NULL;
    struct pol_db *db = NULL;
    struct pol_rules *rules = NULL;
    struct pol_peers *filter = NULL;
    struct se_addr peer, client;
    struct pol_decision d;
    bool json = false;
    int c, rc = 1, skipped;
    unsigned tmask = 0;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:ju:o:p:C:t:a:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'j': json = true; break;
        case 'u': user = optarg; break;
        case 'o': origin = optarg; break;
        case 'p': peer_s = optarg; break;
        case 'C': client_s = optarg; break;
        case 't': transport = optarg; break;
        case 'a': at_s = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc || strcmp(argv[optind], "test") != 0 || optind + 1 != argc || !user) {
        usage(stderr);
        return 2;
    }
    if (peer_s && se_addr_parse_ip(&peer, peer_s, 0) < 0) {
        fprintf(stderr, "sedge: --peer: \"%s\" is not an IP address\n", peer_s);
        return 2;
    }
    if (client_s && se_addr_parse_ip(&client, client_s, 0) < 0) {
        fprintf(stderr, "sedge: --client: \"%s\" is not an IP address\n", client_s);
        return 2;
    }
    if (transport && (pol_parse_transports(transport, &tmask) < 0 || (tmask & (tmask - 1)))) {
        fprintf(stderr, "sedge: --transport must be one of udp, tcp, tls\n");
        return 2;
    }
    if (origin && (strcmp(origin, "none") == 0 || !origin[0]))
        origin = NULL;
    if (cli_open(config, &cfg, &db) != 0)
        return 1;
    pol_rules_set_timezone(cfg->policy_timezone);
    int64_t at = (int64_t)time(NULL);
    if (at_s && cli_parse_time(at_s, at, &at) < 0) {
        fprintf(stderr, "sedge: --at: cannot read time \"%s\"\n", at_s);
        rc = 2;
        goto out;
    }
    if (pol_db_load_rules(db, cfg->policy_default_allow, &rules, &skipped) < 0) {
        fprintf(stderr, "sedge: cannot build the policy from the database (see above)\n");
        goto out;
    }
    if (!(filter = pol_peers_new(cfg)))
        goto out;

    enum { BY_RULE, BY_ACCOUNT, BY_FILTER, BY_DEFAULT } by = BY_RULE;
    static const char *const layers[] = {"rules", "account", "peer filter", "default"};
    enum pol_peer_verdict pv = POL_PEER_OK;
    memset(&d, 0, sizeof(d));
    d.rule_name = "";
    if (pol_rules_user_disabled(rules, user, strlen(user))) {
        by = BY_ACCOUNT;
    } else if (peer_s && (pv = pol_peers_check_ip(filter, &peer)) != POL_PEER_OK) {
        by = BY_FILTER;
    } else {
        struct pol_query q = {
            .user = user,
            .user_len = strlen(user),
            .origin = origin,
            .origin_len = origin ? strlen(origin) : 0,
            .client = client_s ? &client : NULL,
            .transport = tmask ? __builtin_ctz(tmask) : -1,
            .peer = peer_s ? &peer : NULL,
            .at = at,
        };
        pol_rules_eval(rules, &q, &d);
        if (!d.rule_id)
            by = BY_DEFAULT;
    }
    char why[160];
    if (by == BY_ACCOUNT)
        snprintf(why, sizeof(why), "user %s is disabled", user);
    else if (by == BY_FILTER)
        snprintf(why, sizeof(why), "peer %s: %s", peer_s, pol_peer_verdict_str(pv));
    else if (by == BY_DEFAULT)
        snprintf(why, sizeof(why), "no rule matched; policy.default is %s",
                 cfg->policy_default_allow ? "allow" : "deny");
    else
        snprintf(why, sizeof(why), "rule #%lld%s%s", (long long)d.rule_id,
                 d.rule_name[0] ? " " : "", d.rule_name);
    if (json) {
        char t[32];
        json_t *o = json_object();
        json_object_set_new(o, "decision", json_string(d.allow ? "allow" : "deny"));
        json_object_set_new(o, "layer", json_string(layers[by]));
        json_object_set_new(o, "rule", d.rule_id ? json_integer(d.rule_id) : json_null());
        json_object_set_new(o, "rule_name", d.rule_name[0] ? json_string(d.rule_name) : json_null());
        json_object_set_new(o, "reason", json_string(why));
        json_object_set_new(o, "max_kbps", json_integer(d.max_kbps));
        json_object_set_new(o, "max_allocs", json_integer(d.max_allocs));
        json_object_set_new(o, "max_duration", json_integer(d.max_duration));
        json_object_set_new(o, "record", json_string(d.record == POL_RECORD_ALWAYS ? "always" : "never"));
        json_object_set_new(o, "at", json_string(cli_fmt_time(at, t, sizeof(t))));
        json_dumpf(o, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(o);
    } else {
        printf("decision: %s\n", d.allow ? "allow" : "deny");
        printf("by:       %s\n", why);
        if (d.allow)
            printf("limits:   max_kbps=%u max_allocs=%u max_duration=%us record=%s\n", d.max_kbps,
                   d.max_allocs, d.max_duration, d.record == POL_RECORD_ALWAYS ? "always" : "never");
    }
    rc = 0;
out:
    pol_peers_free(filter);
    pol_rules_free(rules);
    pol_db_close(db);
    se_config_free(cfg);
    return rc;
}
