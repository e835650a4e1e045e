/*
 * rules.h - the compiled policy: who may relay, to whom, from where, when,
 * how much, and whether the call must be recorded.
 *
 * A struct pol_rules is built by the control thread (from SQLite, see
 * db.h) or by a test, frozen, and then read by any number of threads
 * without locks; it lives inside the relay snapshot. Rules are evaluated
 * in priority order (lowest number first) and the first rule whose every
 * condition matches decides; when none matches, the default action does.
 *
 * Conditions a rule may carry (each absent = any):
 *   users, groups   the enterprise user (REST user part or long-term name)
 *                   or a group it belongs to;
 *   origins         the website the credential was issued for: exact
 *                   ("https://meet.example.com"), subdomain wildcard
 *                   (host "*.example.com" after the scheme), "*" (any origin) or
 *                   "none" (a credential that carries no origin);
 *   peers, clients  CIDR sets over the peer / client address (IPv4-mapped
 *                   IPv6 forms are judged as their IPv4 address);
 *   transports      udp, tcp, tls (the client's transport to sedge);
 *   days, hours     day-of-week set and a minute window in the configured
 *                   time zone; a window that ends before it starts runs
 *                   across midnight and belongs to the day it started.
 * A query without a peer (Allocate) skips rules that name peers: they
 * decide only peer checks (CreatePermission, ChannelBind, Send). A query
 * that leaves the client or transport unknown (`sedge policy test`) skips
 * rules that need them.
 *
 * The local time of a query is computed with localtime_r(), so the
 * process's TZ is the policy time zone (set once at start, see
 * pol_rules_set_timezone()).
 */
#ifndef SE_POL_RULES_H
#define SE_POL_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct se_addr;

enum pol_record { POL_RECORD_NEVER = 0, POL_RECORD_ALWAYS = 1 };

/* A rule in its textual form: as stored in SQLite and typed at the CLI.
 * Lists are comma-separated; NULL or "" means "any". Limits 0 = none. */
struct pol_rule_spec {
    int64_t id;
    int64_t priority;
    const char *name;
    const char *action; /* "allow" | "deny" */
    const char *users, *groups, *origins, *peers, *clients, *transports;
    const char *days;  /* "mon-fri,sun" */
    const char *hours; /* "08:00-18:00" */
    int64_t max_kbps, max_allocs, max_duration;
    const char *record; /* "never" (default) | "always" */
    int64_t retention_days; /* recordings this rule requires are kept N days; 0: recording.retention */
    /* Writing only (pol_db_rule_add): names in users need no local
     * account (identity-provider users). Not stored. */
    bool external_users;
};

struct pol_rules;

/* A new, empty rule set with the given default action. NULL on OOM. */
struct pol_rules *pol_rules_new(bool default_allow);
void pol_rules_free(struct pol_rules *r);

/* Declare a group and its members (before rules that name it). */
int pol_rules_add_group(struct pol_rules *r, const char *group);
int pol_rules_add_member(struct pol_rules *r, const char *group, const char *user);
/* A user whose account is disabled: refused even with a REST credential. */
int pol_rules_add_disabled(struct pol_rules *r, const char *user);

/*
 * Compile and append one rule. Returns 0, SE_ERR_NOMEM, or SE_ERR_INVAL
 * with a message naming the bad field in err (the rule is not added).
 */
int pol_rules_add(struct pol_rules *r, const struct pol_rule_spec *spec, char *err,
                  size_t errlen);
/*
 * For rules being written (not loaded): is every entry of the CIDR list
 * text an address or a network address with no host bits set? 0, or
 * SE_ERR_INVAL with a message naming field, the entry and the network it
 * probably meant ("10.1.2.3/8 has host bits set: 10.0.0.0/8?"). Loading
 * keeps accepting such rows (the host bits were always ignored).
 */
int pol_check_cidrs_exact(const char *field, const char *text, char *err, size_t errlen);
/* Sort by priority and index for lookup; no adds after this. */
void pol_rules_freeze(struct pol_rules *r);
size_t pol_rules_count(const struct pol_rules *r);
bool pol_rules_default_allow(const struct pol_rules *r);

struct pol_query {
    const char *user;         /* enterprise user name (not NUL-terminated) */
    size_t user_len;
    const char *origin;       /* NULL: the credential carries none */
    size_t origin_len;
    const struct se_addr *client; /* NULL: unknown */
    int transport;            /* enum se_transport, or -1: unknown */
    const struct se_addr *peer;   /* NULL: not a peer check */
    int64_t at;               /* unix seconds */
};

struct pol_decision {
    bool allow;
    int64_t rule_id;       /* 0: the default action decided */
    const char *rule_name; /* borrowed from r; "" if none */
    uint32_t max_kbps, max_allocs, max_duration;
    int record;            /* enum pol_record */
    uint32_t retention_days; /* of the recording the rule requires; 0: recording.retention */
};

/* Evaluate q against r (thread-safe on a frozen set). */
void pol_rules_eval(const struct pol_rules *r, const struct pol_query *q, struct pol_decision *out);
bool pol_rules_user_disabled(const struct pol_rules *r, const char *user, size_t len);

/* Field checkers shared with the CLI and the store (0 or SE_ERR_INVAL). */
int pol_parse_days(const char *text, unsigned *mask);                 /* bit = tm_wday */
int pol_parse_hours(const char *text, unsigned *from, unsigned *to);  /* minutes */
int pol_parse_transports(const char *text, unsigned *mask);
int pol_check_origin_pattern(const char *pattern);

/*
 * Make zone the process's local time zone (TZ) for policy evaluation.
 * zone is an IANA name ("Europe/Berlin") or "UTC". SE_ERR_INVAL if the
 * zone is unknown. Call before threads start.
 */
int pol_rules_set_timezone(const char *zone);

#endif
