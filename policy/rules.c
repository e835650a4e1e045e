/*
 * rules.c - compiling and evaluating policy rules (see rules.h).
 *
 * Compilation turns each textual rule into flat, pre-parsed conditions:
 * a sorted array of user names (the rule's users plus the members of its
 * groups, resolved now so evaluation never walks groups), CIDR sets,
 * bitmasks for transports and days, a minute window. Evaluation is then
 * a linear walk over the rules with a binary search per user condition;
 * it allocates nothing and takes no lock, so workers can call it at
 * Allocate and for every peer check.
 */
#include "policy/rules.h"
#include "core/addr.h"
#include "core/config.h"
#include "core/err.h"
#include "policy/peers.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum {
    ORIGIN_MAX = 256,
    NAME_MAX_LEN = 512,
    MINUTES_PER_DAY = 24 * 60,
    KBPS_MAX = 100 * 1000 * 1000, /* 100 Gbit/s: anything above is a typo */
    DURATION_MAX = 366 * 86400,
    RETENTION_MAX = 100 * 366, /* days */
};

struct crule {
    int64_t id, priority;
    char *name;
    bool allow;
    bool any_user;
    char **users; /* sorted; users + members of groups */
    size_t n_users;
    bool any_origin_field; /* no origin condition */
    bool origin_none, origin_star;
    char **origins; /* lower-case patterns, "*." prefix kept in host part */
    size_t n_origins;
    struct se_cidr_set *peers, *clients; /* NULL: any */
    unsigned transports, days;           /* 0: any */
    bool has_hours;
    unsigned from, to;
    uint32_t max_kbps, max_allocs, max_duration;
    int record;
    uint32_t retention_days;
};

struct group {
    char *name;
    char **members;
    size_t n, cap;
};

struct pol_rules {
    bool default_allow;
    struct crule *rules;
    size_t n, cap;
    struct group *groups;
    size_t n_groups, cap_groups;
    char **disabled;
    size_t n_disabled, cap_disabled;
};

/* ---- small helpers ---- */

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return SE_ERR_NOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Binary search of a sorted name array for a (s, len) key. The key comes
 * from the wire (a USERNAME's user part): a NUL inside it matches nothing,
 * and lengths are compared before bytes so no name is read past its end.
 */
static bool names_contain(char *const *names, size_t n, const char *s, size_t len)
{
    size_t lo = 0, hi = n;

    if (memchr(s, '\0', len))
        return false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        size_t nl = strlen(names[mid]);
        int c = memcmp(names[mid], s, nl < len ? nl : len);
        if (c == 0)
            c = nl < len ? -1 : nl > len ? 1 : 0;
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/*
 * Iterate the comma-separated items of text: *pos is the cursor. Copies
 * the next item, trimmed, into item. Returns 1 for an item, 0 at the end,
 * SE_ERR_INVAL for an empty or oversized item.
 */
static int next_item(const char *text, size_t *pos, char *item, size_t itemlen)
{
    const char *s = text + *pos;

    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return 0;
    const char *e = strchr(s, ',');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    *pos = (size_t)(s - text) + n + (e ? 1 : 0);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= itemlen)
        return SE_ERR_INVAL;
    memcpy(item, s, n);
    item[n] = '\0';
    return 1;
}

static bool empty(const char *s)
{
    if (!s)
        return true;
    while (*s == ' ' || *s == '\t')
        s++;
    return *s == '\0';
}

/* ---- field parsers ---- */

static const char *const day_names[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static int day_index(const char *s)
{
    for (int i = 0; i < 7; i++)
        if (strcasecmp(s, day_names[i]) == 0)
            return i;
    return -1;
}

int pol_parse_days(const char *text, unsigned *mask)
{
    char item[32];
    size_t pos = 0;
    int rc;

    *mask = 0;
    while ((rc = next_item(text, &pos, item, sizeof(item))) == 1) {
        char *dash = strchr(item, '-');
        if (strcasecmp(item, "weekdays") == 0) {
            *mask |= 0x3e;
        } else if (strcasecmp(item, "weekend") == 0) {
            *mask |= 0x41;
        } else if (strcasecmp(item, "all") == 0 || strcmp(item, "*") == 0) {
            *mask |= 0x7f;
        } else if (dash) {
            *dash = '\0';
            int a = day_index(item), b = day_index(dash + 1);
            if (a < 0 || b < 0)
                return SE_ERR_INVAL;
            for (int d = a;; d = (d + 1) % 7) { /* "fri-mon" wraps */
                *mask |= 1u << d;
                if (d == b)
                    break;
            }
        } else {
            int d = day_index(item);
            if (d < 0)
                return SE_ERR_INVAL;
            *mask |= 1u << d;
        }
    }
    return rc < 0 || *mask == 0 ? SE_ERR_INVAL : 0;
}

static int parse_hhmm(const char *s, size_t n, unsigned *minutes)
{
    unsigned h, m;
    char tail;

    if (n != 5 || s[2] != ':')
        return SE_ERR_INVAL;
    for (size_t i = 0; i < 5; i++)
        if (i != 2 && !isdigit((unsigned char)s[i]))
            return SE_ERR_INVAL;
    if (sscanf(s, "%2u:%2u%c", &h, &m, &tail) < 2 || m > 59 || h > 24 || (h == 24 && m != 0))
        return SE_ERR_INVAL;
    *minutes = h * 60 + m;
    return 0;
}

int pol_parse_hours(const char *text, unsigned *from, unsigned *to)
{
    const char *dash = strchr(text, '-');

    if (!dash || parse_hhmm(text, (size_t)(dash - text), from) < 0 ||
        parse_hhmm(dash + 1, strlen(dash + 1), to) < 0)
        return SE_ERR_INVAL;
    if (*from == MINUTES_PER_DAY || *from == *to)
        return SE_ERR_INVAL; /* empty (or ambiguous) window; use 00:00-24:00 */
    return 0;
}

int pol_parse_transports(const char *text, unsigned *mask)
{
    char item[16];
    size_t pos = 0;
    int rc;

    *mask = 0;
    while ((rc = next_item(text, &pos, item, sizeof(item))) == 1) {
        if (strcasecmp(item, "udp") == 0)
            *mask |= 1u << SE_TP_UDP;
        else if (strcasecmp(item, "tcp") == 0)
            *mask |= 1u << SE_TP_TCP;
        else if (strcasecmp(item, "tls") == 0)
            *mask |= 1u << SE_TP_TLS;
        else
            return SE_ERR_INVAL;
    }
    return rc < 0 || *mask == 0 ? SE_ERR_INVAL : 0;
}

/* scheme "://" host [":" port]; host may start with "*." (a wildcard). */
int pol_check_origin_pattern(const char *p)
{
    if (strcmp(p, "none") == 0 || strcmp(p, "*") == 0)
        return 0;
    const char *sep = strstr(p, "://");
    if (!sep || sep == p || strlen(p) >= ORIGIN_MAX)
        return SE_ERR_INVAL;
    for (const char *s = p; s < sep; s++)
        if (!isalnum((unsigned char)*s) && *s != '+' && *s != '-' && *s != '.')
            return SE_ERR_INVAL;
    const char *host = sep + 3;
    if (strncmp(host, "*.", 2) == 0)
        host += 2;
    if (!*host)
        return SE_ERR_INVAL;
    for (const char *s = host; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!isalnum(c) && c != '-' && c != '.' && c != ':' && c != '[' && c != ']' && c != '_')
            return SE_ERR_INVAL; /* no paths, no further wildcards */
    }
    return 0;
}

/* Lower-case copy of an origin without a trailing slash. */
static void origin_norm(const char *in, size_t len, char *out, size_t outlen)
{
    size_t n = 0;

    while (len > 0 && in[len - 1] == '/')
        len--;
    for (size_t i = 0; i < len && n + 1 < outlen; i++)
        out[n++] = (char)tolower((unsigned char)in[i]);
    out[n] = '\0';
}

static bool origin_matches(const char *pattern, const char *origin)
{
    const char *star = strstr(pattern, "://*.");

    if (!star)
        return strcmp(pattern, origin) == 0;
    /* A wildcard pattern: same scheme, and the host ends in ".suffix[:port]". */
    size_t slen = (size_t)(star - pattern) + 3;
    if (strncmp(pattern, origin, slen) != 0)
        return false;
    const char *suffix = star + 4; /* ".example.com[:port]" */
    const char *host = origin + slen;
    size_t hl = strlen(host), sl = strlen(suffix);
    return hl > sl && strcmp(host + hl - sl, suffix) == 0 && host[0] != '.';
}

/* ---- building ---- */

struct pol_rules *pol_rules_new(bool default_allow)
{
    struct pol_rules *r = calloc(1, sizeof(*r));

    if (r)
        r->default_allow = default_allow;
    return r;
}

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void crule_free(struct crule *c)
{
    free(c->name);
    free_names(c->users, c->n_users);
    free_names(c->origins, c->n_origins);
    se_cidr_set_free(c->peers);
    se_cidr_set_free(c->clients);
}

void pol_rules_free(struct pol_rules *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        crule_free(&r->rules[i]);
    free(r->rules);
    for (size_t i = 0; i < r->n_groups; i++) {
        free(r->groups[i].name);
        free_names(r->groups[i].members, r->groups[i].n);
    }
    free(r->groups);
    free_names(r->disabled, r->n_disabled);
    free(r);
}

static struct group *find_group(struct pol_rules *r, const char *name)
{
    for (size_t i = 0; i < r->n_groups; i++)
        if (strcmp(r->groups[i].name, name) == 0)
            return &r->groups[i];
    return NULL;
}

int pol_rules_add_group(struct pol_rules *r, const char *group)
{
    if (find_group(r, group))
        return 0;
    if (grow((void **)&r->groups, &r->cap_groups, r->n_groups, sizeof(*r->groups)) < 0)
        return SE_ERR_NOMEM;
    struct group *g = &r->groups[r->n_groups];
    memset(g, 0, sizeof(*g));
    if (!(g->name = strdup(group)))
        return SE_ERR_NOMEM;
    r->n_groups++;
    return 0;
}

int pol_rules_add_member(struct pol_rules *r, const char *group, const char *user)
{
    struct group *g = find_group(r, group);

    if (!g)
        return SE_ERR_NOTFOUND;
    if (grow((void **)&g->members, &g->cap, g->n, sizeof(char *)) < 0 ||
        !(g->members[g->n] = strdup(user)))
        return SE_ERR_NOMEM;
    g->n++;
    return 0;
}

int pol_rules_add_disabled(struct pol_rules *r, const char *user)
{
    if (grow((void **)&r->disabled, &r->cap_disabled, r->n_disabled, sizeof(char *)) < 0 ||
        !(r->disabled[r->n_disabled] = strdup(user)))
        return SE_ERR_NOMEM;
    r->n_disabled++;
    return 0;
}

static int push_name(char ***v, size_t *n, size_t *cap, const char *s)
{
    if (grow((void **)v, cap, *n, sizeof(char *)) < 0 || !((*v)[*n] = strdup(s)))
        return SE_ERR_NOMEM;
    (*n)++;
    return 0;
}

#define BAD(...)                                                                                   \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        rc = SE_ERR_INVAL;                                                                         \
        goto out;                                                                                  \
    } while (0)

/* Users and members of groups into c->users (sorted, deduplicated). */
static int compile_users(struct pol_rules *r, const struct pol_rule_spec *s, struct crule *c,
                         char *err, size_t errlen)
{
    char item[NAME_MAX_LEN];
    size_t pos = 0, cap = 0;
    int rc = 0, k;

    c->any_user = empty(s->users) && empty(s->groups);
    while (!empty(s->users) && (k = next_item(s->users, &pos, item, sizeof(item))) != 0) {
        if (k < 0)
            BAD("users: empty or oversized name in \"%s\"", s->users);
        if ((rc = push_name(&c->users, &c->n_users, &cap, item)) < 0)
            goto out;
    }
    pos = 0;
    while (!empty(s->groups) && (k = next_item(s->groups, &pos, item, sizeof(item))) != 0) {
        if (k < 0)
            BAD("groups: empty or oversized name in \"%s\"", s->groups);
        struct group *g = find_group(r, item);
        if (!g)
            BAD("groups: unknown group \"%s\" (create it with `sedge group add`)", item);
        for (size_t i = 0; i < g->n; i++)
            if ((rc = push_name(&c->users, &c->n_users, &cap, g->members[i])) < 0)
                goto out;
    }
    if (c->n_users > 1) {
        qsort(c->users, c->n_users, sizeof(char *), cmp_str);
        size_t o = 1;
        for (size_t i = 1; i < c->n_users; i++) {
            if (strcmp(c->users[i], c->users[o - 1]) == 0)
                free(c->users[i]);
            else
                c->users[o++] = c->users[i];
        }
        c->n_users = o;
    }
out:
    return rc;
}

static int compile_origins(const struct pol_rule_spec *s, struct crule *c, char *err,
                           size_t errlen)
{
    char item[ORIGIN_MAX], norm[ORIGIN_MAX];
    size_t pos = 0, cap = 0;
    int rc = 0, k;

    c->any_origin_field = empty(s->origins);
    while (!c->any_origin_field && (k = next_item(s->origins, &pos, item, sizeof(item))) != 0) {
        if (k < 0 || pol_check_origin_pattern(item) < 0)
            BAD("origins: \"%s\" is not an origin (scheme://host[:port], scheme://*.domain, "
                "\"*\" or \"none\")",
                k < 0 ? s->origins : item);
        if (strcmp(item, "none") == 0) {
            c->origin_none = true;
        } else if (strcmp(item, "*") == 0) {
            c->origin_star = true;
        } else {
            origin_norm(item, strlen(item), norm, sizeof(norm));
            if ((rc = push_name(&c->origins, &c->n_origins, &cap, norm)) < 0)
                goto out;
        }
    }
out:
    return rc;
}

static int compile_cidrs(const char *field, const char *text, struct se_cidr_set **out, char *err,
                         size_t errlen)
{
    char item[64];
    size_t pos = 0;
    int rc = 0, k;

    if (empty(text))
        return 0;
    if (!(*out = se_cidr_set_new()))
        return SE_ERR_NOMEM;
    while ((k = next_item(text, &pos, item, sizeof(item))) != 0) {
        if (k < 0)
            BAD("%s: empty or oversized entry in \"%s\"", field, text);
        rc = se_cidr_set_add_text(*out, item);
        if (rc == SE_ERR_PARSE)
            BAD("%s: \"%s\" is not an address or CIDR prefix", field, item);
        if (rc < 0)
            goto out;
    }
out:
    return rc;
}

int pol_check_cidrs_exact(const char *field, const char *text, char *err, size_t errlen)
{
    char item[64];
    size_t pos = 0;
    int k;

    while (!empty(text) && (k = next_item(text, &pos, item, sizeof(item))) > 0) {
        struct se_cidr c;
        struct se_addr a, net;
        char ip[SE_ADDR_STRLEN], host[sizeof(item)];
        const char *slash = strchr(item, '/');
        size_t hl = slash ? (size_t)(slash - item) : strlen(item);

        memcpy(host, item, hl);
        host[hl] = '\0';
        if (se_cidr_parse(&c, item) < 0 || se_addr_parse_ip(&a, host, 0) < 0 ||
            memcmp(a.ip, c.ip, 16) == 0)
            continue; /* malformed ones are refused by compiling, with their message */
        net = a;
        memcpy(net.ip, c.ip, 16);
        se_addr_ip_str(&net, ip, sizeof(ip));
        snprintf(err, errlen,
                 "%s: \"%s\" has host bits set past the /%s prefix: did you mean %s/%s?", field,
                 item, slash + 1, ip, slash + 1);
        return SE_ERR_INVAL;
    }
    return 0;
}

int pol_rules_add(struct pol_rules *r, const struct pol_rule_spec *s, char *err, size_t errlen)
{
    struct crule c = {.id = s->id, .priority = s->priority};
    int rc = 0;

    err[0] = '\0';
    if (!s->action || (strcmp(s->action, "allow") != 0 && strcmp(s->action, "deny") != 0))
        BAD("action: \"%s\" must be allow or deny", s->action ? s->action : "");
    c.allow = strcmp(s->action, "allow") == 0;
    if (!(c.name = strdup(s->name ? s->name : "")))
        return SE_ERR_NOMEM;
    if ((rc = compile_users(r, s, &c, err, errlen)) < 0 ||
        (rc = compile_origins(s, &c, err, errlen)) < 0 ||
        (rc = compile_cidrs("peers", s->peers, &c.peers, err, errlen)) < 0 ||
        (rc = compile_cidrs("clients", s->clients, &c.clients, err, errlen)) < 0)
        goto out;
    if (!empty(s->transports) && pol_parse_transports(s->transports, &c.transports) < 0)
        BAD("transports: \"%s\" must list udp, tcp, tls", s->transports);
    if (!empty(s->days) && pol_parse_days(s->days, &c.days) < 0)
        BAD("days: \"%s\" must list mon..sun, ranges like mon-fri, weekdays or weekend", s->days);
    if (!empty(s->hours)) {
        if (pol_parse_hours(s->hours, &c.from, &c.to) < 0)
            BAD("hours: \"%s\" must be HH:MM-HH:MM (24 h; end before start runs past midnight)",
                s->hours);
        c.has_hours = true;
    }
    if (s->max_kbps < 0 || s->max_kbps > KBPS_MAX)
        BAD("max_kbps: %lld is out of range 0-%d", (long long)s->max_kbps, KBPS_MAX);
    if (s->max_allocs < 0 || s->max_allocs > 1000000)
        BAD("max_allocs: %lld is out of range", (long long)s->max_allocs);
    if (s->max_duration < 0 || s->max_duration > DURATION_MAX)
        BAD("max_duration: %lld seconds is out of range", (long long)s->max_duration);
    c.max_kbps = (uint32_t)s->max_kbps;
    c.max_allocs = (uint32_t)s->max_allocs;
    c.max_duration = (uint32_t)s->max_duration;
    if (empty(s->record) || strcmp(s->record, "never") == 0)
        c.record = POL_RECORD_NEVER;
    else if (strcmp(s->record, "always") == 0)
        c.record = POL_RECORD_ALWAYS;
    else
        BAD("record: \"%s\" must be never or always", s->record);
    if (s->retention_days < 0 || s->retention_days > RETENTION_MAX)
        BAD("retention: %lld days is out of range (0-%d)", (long long)s->retention_days,
            RETENTION_MAX);
    c.retention_days = (uint32_t)s->retention_days;
    if (grow((void **)&r->rules, &r->cap, r->n, sizeof(*r->rules)) < 0) {
        rc = SE_ERR_NOMEM;
        goto out;
    }
    r->rules[r->n++] = c;
    return 0;
out:
    crule_free(&c);
    return rc;
}

static int cmp_rule(const void *a, const void *b)
{
    const struct crule *x = a, *y = b;

    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

void pol_rules_freeze(struct pol_rules *r)
{
    if (r->n > 1)
        qsort(r->rules, r->n, sizeof(*r->rules), cmp_rule);
    if (r->n_disabled > 1)
        qsort(r->disabled, r->n_disabled, sizeof(char *), cmp_str);
}

size_t pol_rules_count(const struct pol_rules *r)
{
    return r->n;
}

bool pol_rules_default_allow(const struct pol_rules *r)
{
    return r->default_allow;
}

/* ---- evaluation ---- */

static bool addr_in(const struct se_cidr_set *set, const struct se_addr *a)
{
    uint8_t v4[16];

    if (se_cidr_set_contains(set, a->ip))
        return true;
    /* NAT64, SIIT, 6to4 ... forms are judged by their IPv4 address too. */
    return pol_peers_embedded_v4(a->ip, v4) && se_cidr_set_contains(set, v4);
}

static bool time_matches(const struct crule *c, int64_t at)
{
    struct tm tm;
    time_t t = (time_t)at;
    unsigned minute;
    int day;

    if (!c->has_hours && !c->days)
        return true;
    if (!localtime_r(&t, &tm))
        return false;
    minute = (unsigned)(tm.tm_hour * 60 + tm.tm_min);
    day = tm.tm_wday;
    if (c->has_hours) {
        if (c->from < c->to) {
            if (minute < c->from || minute >= c->to)
                return false;
        } else if (minute < c->to) {
            day = (day + 6) % 7; /* the part after midnight belongs to the day before */
        } else if (minute < c->from) {
            return false;
        }
    }
    return !c->days || (c->days & (1u << day));
}

static bool origin_ok(const struct crule *c, const struct pol_query *q)
{
    char norm[ORIGIN_MAX];

    if (c->any_origin_field)
        return true;
    if (!q->origin)
        return c->origin_none;
    if (c->origin_star)
        return true;
    origin_norm(q->origin, q->origin_len, norm, sizeof(norm));
    for (size_t i = 0; i < c->n_origins; i++)
        if (origin_matches(c->origins[i], norm))
            return true;
    return false;
}

static bool rule_matches(const struct crule *c, const struct pol_query *q)
{
    if (!c->any_user && !names_contain(c->users, c->n_users, q->user, q->user_len))
        return false;
    if (c->peers && (!q->peer || !addr_in(c->peers, q->peer)))
        return false;
    if (c->clients && (!q->client || !addr_in(c->clients, q->client)))
        return false;
    if (c->transports && (q->transport < 0 || !(c->transports & (1u << q->transport))))
        return false;
    return origin_ok(c, q) && time_matches(c, q->at);
}

void pol_rules_eval(const struct pol_rules *r, const struct pol_query *q, struct pol_decision *out)
{
    memset(out, 0, sizeof(*out));
    out->allow = r->default_allow;
    out->rule_name = "";
    for (size_t i = 0; i < r->n; i++) {
        const struct crule *c = &r->rules[i];
        if (!rule_matches(c, q))
            continue;
        out->allow = c->allow;
        out->rule_id = c->id;
        out->rule_name = c->name;
        out->max_kbps = c->max_kbps;
        out->max_allocs = c->max_allocs;
        out->max_duration = c->max_duration;
        out->record = c->record;
        out->retention_days = c->retention_days;
        return;
    }
}

bool pol_rules_user_disabled(const struct pol_rules *r, const char *user, size_t len)
{
    return names_contain(r->disabled, r->n_disabled, user, len);
}

int pol_rules_set_timezone(const char *zone)
{
    char path[512];
    struct stat sb;

    if (!zone[0] || strstr(zone, "..") || zone[0] == '/')
        return SE_ERR_INVAL;
    if (strcmp(zone, "UTC") != 0) {
        const char *dir = getenv("TZDIR");
        snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", zone);
        if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
            return SE_ERR_INVAL;
    }
    if (setenv("TZ", zone, 1) < 0)
        return SE_ERR_NOMEM;
    tzset();
    return 0;
}
