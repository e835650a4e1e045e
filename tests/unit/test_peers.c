/*
 * test_peers.c - CIDR matching and the peer-address verdict: the IANA
 * special-purpose ranges, IPv4-in-IPv6 forms judged by their embedded
 * IPv4, admin allow/deny, and sedge's own addresses and ports.
 */
#include "core/addr.h"
#include "core/config.h"
#include "core/err.h"
#include "policy/peers.h"
#include "tests/unit/check.h"

#include <stdlib.h>

static struct se_addr A(const char *ip, uint16_t port)
{
    struct se_addr a;
    if (se_addr_parse_ip(&a, ip, port) < 0) {
        printf("bad test address %s\n", ip);
        exit(2);
    }
    return a;
}

static void test_cidr(void)
{
    struct se_cidr c;
    struct se_addr a;

    CHECK_EQ_INT(se_cidr_parse(&c, "10.0.0.0/8"), 0);
    a = A("10.255.1.2", 0);
    CHECK(se_cidr_contains(&c, a.ip));
    a = A("11.0.0.1", 0);
    CHECK(!se_cidr_contains(&c, a.ip));
    CHECK_EQ_INT(se_cidr_parse(&c, "100.64.0.0/10"), 0);
    a = A("100.127.255.255", 0);
    CHECK(se_cidr_contains(&c, a.ip));
    a = A("100.128.0.0", 0);
    CHECK(!se_cidr_contains(&c, a.ip));
    CHECK_EQ_INT(se_cidr_parse(&c, "2001:db8::/32"), 0);
    a = A("2001:db8:ffff::1", 0);
    CHECK(se_cidr_contains(&c, a.ip));
    a = A("2001:db9::1", 0);
    CHECK(!se_cidr_contains(&c, a.ip));
    CHECK_EQ_INT(se_cidr_parse(&c, "192.0.2.1"), 0); /* host route */
    a = A("192.0.2.1", 0);
    CHECK(se_cidr_contains(&c, a.ip));
    a = A("192.0.2.2", 0);
    CHECK(!se_cidr_contains(&c, a.ip));
    CHECK_EQ_INT(se_cidr_parse(&c, "0.0.0.0/0"), 0);
    a = A("8.8.8.8", 0);
    CHECK(se_cidr_contains(&c, a.ip));
    a = A("2001:4860::8888", 0); /* an IPv4 /0 does not cover IPv6 */
    CHECK(!se_cidr_contains(&c, a.ip));
    CHECK_EQ_INT(se_cidr_parse(&c, "10.0.0.0/33"), SE_ERR_PARSE);
    CHECK_EQ_INT(se_cidr_parse(&c, "::/129"), SE_ERR_PARSE);
    CHECK_EQ_INT(se_cidr_parse(&c, "10.0.0.0/"), SE_ERR_PARSE);
    CHECK_EQ_INT(se_cidr_parse(&c, "10.0.0.0/8x"), SE_ERR_PARSE);
    CHECK_EQ_INT(se_cidr_parse(&c, "10.0.0/8"), SE_ERR_PARSE);
    CHECK_EQ_INT(se_cidr_parse(&c, ""), SE_ERR_PARSE);
}

static struct se_config *cfg_new(void)
{
    struct se_config *c = calloc(1, sizeof(*c));
    c->peer_allow = se_cidr_set_new();
    c->peer_deny = se_cidr_set_new();
    c->listen[0].transport = SE_TP_UDP;
    c->listen[0].addr = A("198.18.0.1", 3478); /* sedge's own (benchmark range) */
    c->listen[1].transport = SE_TP_TLS;
    c->listen[1].addr = A("8.8.4.4", 443);     /* pretend public listener */
    c->n_listen = 2;
    c->relay_v4 = A("8.8.4.4", 0);
    c->has_relay_v4 = true;
    c->min_port = 49152;
    c->max_port = 65535;
    return c;
}

static void test_builtin(void)
{
    struct se_config *c = cfg_new();
    struct pol_peers *p = pol_peers_new(c);
    static const char *const denied[] = {
        "0.1.2.3", "10.1.2.3", "100.64.0.1", "127.0.0.1", "169.254.169.254", "172.16.0.1",
        "172.31.255.255", "192.0.0.9", "192.0.2.1", "192.88.99.1", "192.168.1.1", "198.18.5.5",
        "198.51.100.1", "203.0.113.1", "224.0.0.1", "239.255.255.250", "240.0.0.1",
        "255.255.255.255", "::", "::1", "64:ff9b::8.8.8.8", "64:ff9b:1::1", "100::1",
        "2001::1", "2001:db8::1", "2002:808:808::1", "fc00::1", "fd12::1", "fe80::1",
        "fec0::1", "ff02::1", "3fff::1",
        /* IPv4-in-IPv6 forms of private addresses */
        "::ffff:10.0.0.1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:0:192.168.1.1",
        "::10.0.0.1", NULL};
    static const char *const allowed[] = {"8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1",
                                          "2001:4860:4860::8888", "2606:4700::1111",
                                          "::ffff:8.8.8.8", NULL};

    for (int i = 0; denied[i]; i++) {
        struct se_addr a = A(denied[i], 5000);
        if (pol_peers_check_ip(p, &a) == POL_PEER_OK) {
            printf("    %s was allowed\n", denied[i]);
            CHECK(0);
        }
    }
    for (int i = 0; allowed[i]; i++) {
        struct se_addr a = A(allowed[i], 5000);
        if (pol_peers_check_ip(p, &a) != POL_PEER_OK) {
            printf("    %s was denied\n", allowed[i]);
            CHECK(0);
        }
    }
    pol_peers_free(p);
    se_config_free(c);
}

static void test_embedded(void)
{
    uint8_t v4[16];
    struct se_addr a;

    a = A("64:ff9b::c000:201", 0);
    CHECK(pol_peers_embedded_v4(a.ip, v4) && v4[12] == 192 && v4[15] == 1);
    a = A("2002:c000:0201::1", 0); /* 6to4 of 192.0.2.1 */
    CHECK(pol_peers_embedded_v4(a.ip, v4) && v4[12] == 192 && v4[13] == 0 && v4[14] == 2);
    a = A("2001:0:4136:e378:8000:63bf:3fff:fdd2", 0); /* RFC 4380 example: 192.0.2.45 */
    CHECK(pol_peers_embedded_v4(a.ip, v4) && v4[12] == 192 && v4[13] == 0 && v4[14] == 2 &&
          v4[15] == 45);
    a = A("64:ff9b:1:c000:2:100::", 0); /* /48 layout: 192.0.2.1 around the u octet */
    CHECK(pol_peers_embedded_v4(a.ip, v4) && v4[12] == 192 && v4[13] == 0 && v4[14] == 2 &&
          v4[15] == 1);
    a = A("2606:4700::1", 0);
    CHECK(!pol_peers_embedded_v4(a.ip, v4));
}

static void test_admin_lists(void)
{
    struct se_config *c = cfg_new();
    se_cidr_set_add_text(c->peer_allow, "127.0.0.0/8");
    se_cidr_set_add_text(c->peer_allow, "10.1.0.0/16");
    se_cidr_set_add_text(c->peer_deny, "10.1.2.0/24");
    se_cidr_set_add_text(c->peer_deny, "1.1.1.0/24");
    struct pol_peers *p = pol_peers_new(c);
    struct se_addr a;

    a = A("127.0.0.5", 1);
    CHECK_EQ_INT(pol_peers_check_ip(p, &a), POL_PEER_OK);
    a = A("::ffff:127.0.0.5", 1); /* mapped form follows the IPv4 verdict */
    CHECK_EQ_INT(pol_peers_check_ip(p, &a), POL_PEER_OK);
    a = A("10.1.9.9", 1);
    CHECK_EQ_INT(pol_peers_check_ip(p, &a), POL_PEER_OK);
    a = A("10.1.2.3", 1); /* deny beats allow */
    CHECK_EQ_INT(pol_peers_check_ip(p, &a), POL_PEER_DENY_CONFIG);
    a = A("10.2.0.1", 1);
    CHECK_EQ_INT(pol_peers_check_ip(p, &a), POL_PEER_DENY_BUILTIN);
    a = A("1.1.1.1", 1);
    CHECK_EQ_INT(pol_peers_check_ip(p, &a), POL_PEER_DENY_CONFIG);
    a = A("64:ff9b::101:101", 1); /* NAT64 form of a denied IPv4 */
    CHECK_EQ_INT(pol_peers_check_ip(p, &a), POL_PEER_DENY_CONFIG);
    pol_peers_free(p);
    se_config_free(c);
}

static void test_own(void)
{
    struct se_config *c = cfg_new();
    struct pol_peers *p = pol_peers_new(c);
    struct se_addr a;

    /* The relay address is another allocation's: reachable in the relay range only. */
    a = A("8.8.4.4", 50000);
    CHECK_EQ_INT(pol_peers_check(p, &a), POL_PEER_OK);
    a = A("8.8.4.4", 443); /* our TLS listener */
    CHECK_EQ_INT(pol_peers_check(p, &a), POL_PEER_DENY_OWN);
    a = A("8.8.4.4", 22); /* another service on our address */
    CHECK_EQ_INT(pol_peers_check(p, &a), POL_PEER_DENY_OWN);
    pol_peers_free(p);
    /* An admin-allowed listener address: ports still guarded. */
    se_cidr_set_add_text(c->peer_allow, "198.18.0.0/15");
    p = pol_peers_new(c);
    a = A("198.18.0.1", 3480);
    CHECK_EQ_INT(pol_peers_check(p, &a), POL_PEER_OK);
    a = A("198.18.0.1", 3478);
    CHECK_EQ_INT(pol_peers_check(p, &a), POL_PEER_DENY_OWN);
    pol_peers_free(p);
    se_config_free(c);
}

/* The anchor's addresses: reachable (even private, even our own), but only
 * on the anchor's port range; pol_peers_is_anchor() is the fail-closed test. */
static void test_anchor(void)
{
    struct se_config *c = cfg_new();
    struct pol_peers *p = pol_peers_new(c);
    struct se_addr a;

    CHECK(!pol_peers_has_anchor(p));
    a = A("10.20.0.10", 40000);
    CHECK(!pol_peers_is_anchor(p, &a, true));
    CHECK_EQ_INT(pol_peers_check(p, &a), POL_PEER_DENY_BUILTIN);
    pol_peers_free(p);

    c->anchor.enabled = true;
    c->anchor.inside = c->anchor.inside_adv = A("10.20.0.10", 0);
    c->anchor.outside = A("198.18.0.1", 0); /* also a listen address */
    c->anchor.outside_adv = A("9.9.9.9", 0);  /* 1:1 NAT */
    c->anchor.min_port = 40000;
    c->anchor.max_port = 40100;
    p = pol_peers_new(c);
    CHECK(pol_peers_has_anchor(p));
    a = A("10.20.0.10", 40000);
    CHECK(pol_peers_is_anchor(p, &a, true));
    CHECK_EQ_INT(pol_peers_check(p, &a), POL_PEER_OK);
    a = A("10.20.0.10", 40101); /* outside the range: still our own address */
    CHECK(!pol_peers_is_anchor(p, &a, true));
    CHECK(pol_peers_is_anchor(p, &a, false));
    CHECK_EQ_INT(pol_peers_check(p, &a), POL_PEER_DENY_OWN);
    CHECK_EQ_INT(pol_peers_check_ip(p, &a), POL_PEER_OK);
    a = A("198.18.0.1", 3478); /* the listener on the outside address */
    CHECK_EQ_INT(pol_peers_check(p, &a), POL_PEER_DENY_OWN);
    a = A("198.18.0.1", 40050);
    CHECK_EQ_INT(pol_peers_check(p, &a), POL_PEER_OK);
    a = A("9.9.9.9", 40050);
    CHECK(pol_peers_is_anchor(p, &a, true));
    a = A("::ffff:10.20.0.10", 40000);
    CHECK(pol_peers_is_anchor(p, &a, true));
    a = A("::ffff:0:10.20.0.10", 22); /* SIIT form: the port guard still holds */
    CHECK_EQ_INT(pol_peers_check(p, &a), POL_PEER_DENY_OWN);
    CHECK(!pol_peers_is_anchor(p, &a, true)); /* fail closed: not the anchor */
    a = A("10.20.0.11", 40000); /* a neighbour: private, denied */
    CHECK(!pol_peers_is_anchor(p, &a, false));
    CHECK_EQ_INT(pol_peers_check(p, &a), POL_PEER_DENY_BUILTIN);
    pol_peers_free(p);
    se_config_free(c);
}

int main(void)
{
    RUN(test_cidr);
    RUN(test_builtin);
    RUN(test_embedded);
    RUN(test_admin_lists);
    RUN(test_own);
    RUN(test_anchor);
    return check_done();
}
