/*
 * test_rules.c - policy rule compilation and matching: priority and first
 * match, users and groups, origins, v4/v6 CIDRs incl. IPv4-mapped and
 * NAT64 forms, transports, day/time windows across midnight and across
 * both DST changes in Europe/Berlin, malformed rules, disabled users, and
 * the REST origin-id encoding.
 */
#include "auth/auth.h"
#include "core/addr.h"
#include "core/config.h"
#include "core/err.h"
#include "policy/rules.h"
#include "tests/unit/check.h"

#include <stdlib.h>
#include <time.h>

static struct se_addr A(const char *ip)
{
    struct se_addr a;
    if (se_addr_parse_ip(&a, ip, 5000) < 0) {
        printf("bad test address %s\n", ip);
        exit(2);
    }
    return a;
}

/* Unix time of a UTC wall-clock instant. */
static int64_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
    return (int64_t)timegm(&tm);
}

static struct pol_query Q(const char *user)
{
    struct pol_query q = {.user = user, .user_len = strlen(user), .transport = -1,
                          .at = utc(2026, 11, 24, 12, 0)};
    return q;
}

static int add(struct pol_rules *r, int64_t id, int64_t prio, const char *action,
               struct pol_rule_spec s)
{
    char err[256];
    s.id = id;
    s.priority = prio;
    s.action = action;
    int rc = pol_rules_add(r, &s, err, sizeof(err));
    if (rc < 0)
        printf("    (add #%lld: %s)\n", (long long)id, err);
    return rc;
}

static int64_t decide(const struct pol_rules *r, const struct pol_query *q, bool *allow)
{
    struct pol_decision d;
    pol_rules_eval(r, q, &d);
    *allow = d.allow;
    return d.rule_id;
}

static void test_priority_and_default(void)
{
    struct pol_rules *r = pol_rules_new(false);
    struct pol_query q = Q("alice");
    bool allow;

    CHECK_EQ_INT(decide(r, &q, &allow), 0);
    CHECK(!allow); /* default deny */
    /* Added first, but a higher number: evaluated after #2. */
    CHECK_EQ_INT(add(r, 1, 20, "allow", (struct pol_rule_spec){.users = "alice"}), 0);
    CHECK_EQ_INT(add(r, 2, 10, "deny", (struct pol_rule_spec){.users = "alice,bob"}), 0);
    CHECK_EQ_INT(add(r, 3, 30, "allow", (struct pol_rule_spec){.max_kbps = 64}), 0);
    pol_rules_freeze(r);
    CHECK_EQ_INT(decide(r, &q, &allow), 2);
    CHECK(!allow);
    q = Q("carol");
    CHECK_EQ_INT(decide(r, &q, &allow), 3);
    CHECK(allow);
    struct pol_decision d;
    pol_rules_eval(r, &q, &d);
    CHECK_EQ_INT(d.max_kbps, 64);
    /* A prefix of a listed name is not that name. */
    q = Q("ali");
    CHECK_EQ_INT(decide(r, &q, &allow), 3);
    pol_rules_free(r);

    r = pol_rules_new(true);
    pol_rules_freeze(r);
    q = Q("anyone");
    CHECK_EQ_INT(decide(r, &q, &allow), 0);
    CHECK(allow); /* default allow */
    pol_rules_free(r);
}

static void test_groups(void)
{
    struct pol_rules *r = pol_rules_new(false);
    struct pol_query q;
    bool allow;
    char err[256];

    CHECK_EQ_INT(pol_rules_add_group(r, "traders"), 0);
    CHECK_EQ_INT(pol_rules_add_member(r, "traders", "tom"), 0);
    CHECK_EQ_INT(pol_rules_add_member(r, "traders", "tina"), 0);
    CHECK_EQ_INT(pol_rules_add_group(r, "empty"), 0);
    CHECK_EQ_INT(pol_rules_add_member(r, "nosuch", "x"), SE_ERR_NOTFOUND);
    CHECK_EQ_INT(add(r, 1, 10, "allow",
                     (struct pol_rule_spec){.groups = "traders", .users = "ursula", .record = "always"}),
                 0);
    CHECK_EQ_INT(add(r, 2, 20, "deny", (struct pol_rule_spec){.groups = "empty"}), 0);
    struct pol_rule_spec bad = {.id = 3, .priority = 5, .action = "allow", .groups = "nosuch"};
    CHECK_EQ_INT(pol_rules_add(r, &bad, err, sizeof(err)), SE_ERR_INVAL);
    CHECK(strstr(err, "unknown group") != NULL);
    pol_rules_freeze(r);
    CHECK_EQ_INT(pol_rules_count(r), 2);
    const char *in[] = {"tom", "tina", "ursula"};
    for (int i = 0; i < 3; i++) {
        q = Q(in[i]);
        CHECK_EQ_INT(decide(r, &q, &allow), 1);
        CHECK(allow);
    }
    struct pol_decision d;
    q = Q("tom");
    pol_rules_eval(r, &q, &d);
    CHECK_EQ_INT(d.record, POL_RECORD_ALWAYS);
    q = Q("tomas");
    CHECK_EQ_INT(decide(r, &q, &allow), 0); /* an empty group matches nobody */
    pol_rules_free(r);
}

static void test_origins(void)
{
    struct pol_rules *r = pol_rules_new(false);
    struct pol_query q = Q("u");
    bool allow;

    CHECK_EQ_INT(add(r, 1, 1, "allow", (struct pol_rule_spec){.origins = "https://meet.example.com"}), 0);
    CHECK_EQ_INT(add(r, 2, 2, "allow", (struct pol_rule_spec){.origins = "https://*.corp.example"}), 0);
    CHECK_EQ_INT(add(r, 3, 3, "deny", (struct pol_rule_spec){.origins = "none"}), 0);
    CHECK_EQ_INT(add(r, 4, 4, "allow", (struct pol_rule_spec){.origins = "*", .max_kbps = 1}), 0);
    pol_rules_freeze(r);
    const struct {
        const char *origin;
        int64_t rule;
    } cases[] = {
        {"https://meet.example.com", 1},  {"HTTPS://Meet.Example.COM/", 1},
        {"http://meet.example.com", 4},   {"https://meet.example.com:8443", 4},
        {"https://a.corp.example", 2},    {"https://b.a.corp.example", 2},
        {"https://corp.example", 4},      {"http://a.corp.example", 4},
        {"https://evilcorp.example", 4},  {"https://a.corp.example.evil", 4},
        {NULL, 3},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        q.origin = cases[i].origin;
        q.origin_len = cases[i].origin ? strlen(cases[i].origin) : 0;
        int64_t got = decide(r, &q, &allow);
        if (got != cases[i].rule)
            printf("    origin %s\n", cases[i].origin ? cases[i].origin : "(none)");
        CHECK_EQ_INT(got, cases[i].rule);
    }
    char err[256];
    const char *bad[] = {"meet.example.com", "https://", "https://a.com/path", "https://*",
                         "https://a.*.com", "ftp//x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pol_rule_spec s = {.action = "allow", .origins = bad[i]};
        CHECK_EQ_INT(pol_rules_add(r, &s, err, sizeof(err)), SE_ERR_INVAL);
    }
    pol_rules_free(r);
}

static void test_peers_and_clients(void)
{
    struct pol_rules *r = pol_rules_new(true);
    struct pol_query q = Q("u");
    struct se_addr p, c;
    bool allow;

    CHECK_EQ_INT(add(r, 1, 1, "deny", (struct pol_rule_spec){.peers = "192.0.2.0/24, 2001:db8:1::/48"}), 0);
    CHECK_EQ_INT(add(r, 2, 2, "deny", (struct pol_rule_spec){.clients = "10.9.0.0/16",
                                                             .transports = "udp"}),
                 0);
    pol_rules_freeze(r);
    /* Allocate (no peer): the peer rule is skipped. */
    CHECK_EQ_INT(decide(r, &q, &allow), 0);
    CHECK(allow);
    const struct {
        const char *ip;
        int64_t rule;
    } peers[] = {
        {"192.0.2.9", 1},            {"::ffff:192.0.2.9", 1}, /* IPv4-mapped */
        {"64:ff9b::c000:209", 1},    /* NAT64 of 192.0.2.9 */
        {"192.0.3.1", 0},            {"2001:db8:1:ffff::1", 1},
        {"2001:db8:2::1", 0},        {"::ffff:192.0.3.1", 0},
    };
    for (size_t i = 0; i < sizeof(peers) / sizeof(peers[0]); i++) {
        p = A(peers[i].ip);
        q.peer = &p;
        int64_t got = decide(r, &q, &allow);
        if (got != peers[i].rule)
            printf("    peer %s\n", peers[i].ip);
        CHECK_EQ_INT(got, peers[i].rule);
    }
    q.peer = NULL;
    c = A("10.9.3.4");
    q.client = &c;
    q.transport = SE_TP_UDP;
    CHECK_EQ_INT(decide(r, &q, &allow), 2);
    q.transport = SE_TP_TLS;
    CHECK_EQ_INT(decide(r, &q, &allow), 0);
    q.transport = -1; /* unknown: a rule that needs it does not match */
    CHECK_EQ_INT(decide(r, &q, &allow), 0);
    c = A("::ffff:10.9.3.4");
    q.transport = SE_TP_UDP;
    CHECK_EQ_INT(decide(r, &q, &allow), 2);
    q.client = NULL;
    CHECK_EQ_INT(decide(r, &q, &allow), 0);
    pol_rules_free(r);
}

static void test_time_windows_dst(void)
{
    struct pol_rules *r = pol_rules_new(false);
    struct pol_query q = Q("u");
    bool allow;

    CHECK_EQ_INT(pol_rules_set_timezone("Europe/Berlin"), 0);
    CHECK_EQ_INT(add(r, 1, 1, "allow", (struct pol_rule_spec){.days = "mon-fri",
                                                              .hours = "08:00-18:00"}),
                 0);
    pol_rules_freeze(r);
    const struct {
        int64_t at;
        int64_t rule;
    } cases[] = {
        {utc(2026, 3, 27, 7, 30), 1},  /* Fri 08:30 CET (+1) */
        {utc(2026, 3, 27, 6, 30), 0},  /* Fri 07:30 CET */
        {utc(2026, 3, 27, 16, 59), 1}, /* Fri 17:59 CET */
        {utc(2026, 3, 27, 17, 0), 0},  /* Fri 18:00 CET: the end is exclusive */
        {utc(2026, 3, 28, 9, 0), 0},   /* Sat */
        /* 2026-03-29: clocks go forward; Monday is CEST (+2). */
        {utc(2026, 3, 30, 6, 30), 1},  /* Mon 08:30 CEST */
        {utc(2026, 3, 30, 5, 30), 0},  /* Mon 07:30 CEST (would be 06:30 in CET) */
        {utc(2026, 3, 30, 15, 59), 1}, /* Mon 17:59 CEST */
        {utc(2026, 3, 30, 16, 30), 0}, /* Mon 18:30 CEST (17:30 in CET) */
        /* 2026-10-25: clocks go back; Monday is CET again. */
        {utc(2026, 10, 23, 6, 30), 1}, /* Fri 08:30 CEST */
        {utc(2026, 10, 26, 6, 30), 0}, /* Mon 07:30 CET */
        {utc(2026, 10, 26, 7, 30), 1}, /* Mon 08:30 CET */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        q.at = cases[i].at;
        int64_t got = decide(r, &q, &allow);
        if (got != cases[i].rule)
            printf("    case %zu\n", i);
        CHECK_EQ_INT(got, cases[i].rule);
    }
    pol_rules_free(r);
}

static void test_time_across_midnight(void)
{
    struct pol_rules *r = pol_rules_new(false);
    struct pol_query q = Q("u");
    bool allow;

    CHECK_EQ_INT(pol_rules_set_timezone("UTC"), 0);
    /* Friday night shift: Fri 22:00 to Sat 06:00. */
    CHECK_EQ_INT(add(r, 1, 1, "allow", (struct pol_rule_spec){.days = "fri", .hours = "22:00-06:00"}), 0);
    CHECK_EQ_INT(add(r, 2, 2, "allow", (struct pol_rule_spec){.days = "sun", .hours = "00:00-24:00"}), 0);
    pol_rules_freeze(r);
    const struct {
        int64_t at;
        int64_t rule;
    } cases[] = {
        {utc(2026, 11, 27, 23, 0), 1},  /* Fri 23:00 */
        {utc(2026, 11, 28, 2, 0), 1},   /* Sat 02:00 belongs to Friday's window */
        {utc(2026, 11, 28, 6, 0), 0},   /* Sat 06:00: ended */
        {utc(2026, 11, 28, 23, 0), 0},  /* Sat 23:00 */
        {utc(2026, 11, 27, 2, 0), 0},   /* Fri 02:00 belongs to Thursday */
        {utc(2026, 11, 27, 21, 59), 0}, /* Fri 21:59 */
        {utc(2026, 11, 29, 0, 0), 2},   /* Sun, all day */
        {utc(2026, 11, 29, 23, 59), 2},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        q.at = cases[i].at;
        int64_t got = decide(r, &q, &allow);
        if (got != cases[i].rule)
            printf("    case %zu\n", i);
        CHECK_EQ_INT(got, cases[i].rule);
    }
    pol_rules_free(r);
}

static void test_malformed(void)
{
    struct pol_rules *r = pol_rules_new(false);
    char err[256];
    const struct pol_rule_spec bad[] = {
        {.action = "permit"},
        {.action = NULL},
        {.action = "allow", .peers = "10.0.0.0/33"},
        {.action = "allow", .peers = "10.0.0.0/8,,"},
        {.action = "allow", .clients = "not-an-ip"},
        {.action = "allow", .hours = "18:00-18:00"},
        {.action = "allow", .hours = "24:30-01:00"},
        {.action = "allow", .hours = "8:00-18:00"},
        {.action = "allow", .hours = "08:00"},
        {.action = "allow", .days = "funday"},
        {.action = "allow", .days = "mon-xyz"},
        {.action = "allow", .transports = "sctp"},
        {.action = "allow", .record = "sometimes"},
        {.action = "allow", .max_kbps = -1},
        {.action = "allow", .max_duration = 400LL * 86400},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        int rc = pol_rules_add(r, &bad[i], err, sizeof(err));
        if (rc != SE_ERR_INVAL)
            printf("    case %zu accepted\n", i);
        CHECK_EQ_INT(rc, SE_ERR_INVAL);
        CHECK(err[0] != '\0');
    }
    CHECK_EQ_INT(pol_rules_count(r), 0);
    unsigned m;
    CHECK_EQ_INT(pol_parse_days("weekend", &m), 0);
    CHECK_EQ_INT(m, 0x41);
    CHECK_EQ_INT(pol_parse_days("fri-mon", &m), 0);
    CHECK_EQ_INT(m, (1u << 5) | (1u << 6) | (1u << 0) | (1u << 1));
    CHECK(pol_rules_set_timezone("Not/AZone") < 0);
    CHECK(pol_rules_set_timezone("../../etc/passwd") < 0);
    pol_rules_free(r);
}

static void test_disabled(void)
{
    struct pol_rules *r = pol_rules_new(true);

    CHECK_EQ_INT(pol_rules_add_disabled(r, "mallory"), 0);
    CHECK_EQ_INT(pol_rules_add_disabled(r, "eve"), 0);
    pol_rules_freeze(r);
    CHECK(pol_rules_user_disabled(r, "mallory", 7));
    CHECK(pol_rules_user_disabled(r, "eve:x", 3));
    CHECK(!pol_rules_user_disabled(r, "mall", 4));
    CHECK(!pol_rules_user_disabled(r, "alice", 5));
    /* Lengths first: a NUL inside the name must not match "mallory". */
    CHECK(!pol_rules_user_disabled(r, "mallory\0", 8));
    CHECK(!pol_rules_user_disabled(r, "eve\0trailing-bytes", 19));
    pol_rules_free(r);
}

/* A user condition never matches a name with a NUL inside it. */
static void test_user_nul(void)
{
    struct pol_rules *r = pol_rules_new(true);
    struct pol_query q = Q("alice");
    bool allow;

    CHECK_EQ_INT(add(r, 1, 10, "deny", (struct pol_rule_spec){.users = "alice"}), 0);
    pol_rules_freeze(r);
    CHECK_EQ_INT(decide(r, &q, &allow), 1);
    q.user = "alice\0";
    q.user_len = 6;
    CHECK_EQ_INT(decide(r, &q, &allow), 0);
    CHECK(allow);
    pol_rules_free(r);
}

static void test_origin_id(void)
{
    char id[512], back[300];
    const char *o = "https://meet.example.com";
    struct auth_rest_name rn;

    int n = auth_origin_encode(o, strlen(o), id, sizeof(id));
    CHECK(n > 0);
    CHECK(strchr(id, ':') == NULL && strchr(id, '=') == NULL);
    CHECK_EQ_INT(auth_origin_decode(id, (size_t)n, back, sizeof(back)), (int)strlen(o));
    CHECK_STR(back, o);
    /* The three-part REST username carries it intact. */
    char user[600];
    snprintf(user, sizeof(user), "1999999999:alice:%s", id);
    CHECK_EQ_INT(auth_rest_parse(user, strlen(user), &rn), 0);
    CHECK_EQ_INT(rn.origin_len, (size_t)n);
    CHECK_EQ_INT(auth_origin_decode(rn.origin, rn.origin_len, back, sizeof(back)), (int)strlen(o));
    CHECK_STR(back, o);
    /* Malformed ids: bad alphabet, impossible length, non-canonical tail, control bytes. */
    CHECK(auth_origin_decode("aGk+", 4, back, sizeof(back)) < 0);
    CHECK(auth_origin_decode("aGkhx", 5, back, sizeof(back)) < 0);
    CHECK(auth_origin_decode("aGl", 3, back, sizeof(back)) < 0); /* "hi" is aGk */
    CHECK(auth_origin_decode("AA", 2, back, sizeof(back)) < 0);  /* a NUL byte */
    CHECK(auth_origin_decode("", 0, back, sizeof(back)) < 0);
    char big[400];
    memset(big, 'a', sizeof(big));
    CHECK(auth_origin_encode(big, sizeof(big), id, sizeof(id)) < 0);
}

int main(void)
{
    RUN(test_priority_and_default);
    RUN(test_groups);
    RUN(test_origins);
    RUN(test_peers_and_clients);
    RUN(test_time_windows_dst);
    RUN(test_time_across_midnight);
    RUN(test_malformed);
    RUN(test_disabled);
    RUN(test_user_nul);
    RUN(test_origin_id);
    return check_done();
}
