/*
 * peers.c - the peer-address verdict (see peers.h for the layering).
 *
 * The built-in list is parsed once into a static cidr set. Own addresses
 * come from the configuration, plus getifaddrs() when a listener binds a
 * wildcard, since then every local address reaches it.
 */
#include "policy/peers.h"
#include "core/addr.h"
#include "core/config.h"
#include "core/log.h"

#include <ifaddrs.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and
 * successors), plus multicast and the reserved 240/4. ::ffff:0:0/96 is
 * deliberately absent: IPv4 addresses are held in that mapped form, and
 * mapped peers are judged by their embedded IPv4 address instead. */
static const char *const builtin_text[] = {
    "0.0.0.0/8",       "10.0.0.0/8",      "100.64.0.0/10",   "127.0.0.0/8",
    "169.254.0.0/16",  "172.16.0.0/12",   "192.0.0.0/24",    "192.0.2.0/24",
    "192.31.196.0/24", "192.52.193.0/24", "192.88.99.0/24",  "192.168.0.0/16",
    "192.175.48.0/24", "198.18.0.0/15",   "198.51.100.0/24", "203.0.113.0/24",
    "224.0.0.0/4",     "240.0.0.0/4",     "::/128",          "::1/128",
    "64:ff9b::/96",    "64:ff9b:1::/48",  "100::/64",
    "2001::/23",       "2001:db8::/32",   "2002::/16",       "3fff::/20",
    "5f00::/16",       "fc00::/7",        "fe80::/10",       "fec0::/10",
    "ff00::/8",        NULL,
};

static struct se_cidr_set *builtin;
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

static void builtin_init(void)
{
    builtin = se_cidr_set_new();
    for (int i = 0; builtin && builtin_text[i]; i++)
        se_cidr_set_add_text(builtin, builtin_text[i]);
}

bool pol_peers_builtin_denied(const uint8_t ip[16])
{
    pthread_once(&builtin_once, builtin_init);
    /* Without the list we cannot judge: fail closed. */
    return !builtin || se_cidr_set_contains(builtin, ip);
}

struct own_port {
    uint8_t ip[16];
    uint16_t port;
    bool wildcard; /* listener bound to 0.0.0.0 / :: */
};

struct pol_peers {
    struct se_cidr_set *allow, *deny;
    uint8_t (*own)[16]; /* own IPs that are not relay addresses */
    size_t n_own;
    uint8_t relay_ips[4][16]; /* relay.address(6) and their external_address(6) */
    int n_relay;
    uint16_t min_port, max_port;
    uint8_t anchor_ips[4][16]; /* inside, outside and their advertised forms */
    int n_anchor;
    uint16_t anchor_min, anchor_max;
    struct own_port ports[SE_MAX_LISTEN];
    int n_ports;
};

static void set_mapped(uint8_t out[16], const uint8_t v4[4])
{
    memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    memcpy(out + 12, v4, 4);
}

static bool prefix_is(const uint8_t ip[16], const uint8_t *pfx, int bytes)
{
    return memcmp(ip, pfx, (size_t)bytes) == 0;
}

/* Forms judged only by their embedded IPv4: mapped, SIIT, compatible. */
static bool v4_only_form(const uint8_t ip[16])
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t siit[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0};
    static const uint8_t zero[12] = {0};

    if (prefix_is(ip, mapped, 12) || prefix_is(ip, siit, 12))
        return true;
    /* ::a.b.c.d, but not :: and ::1 */
    return prefix_is(ip, zero, 12) && (ip[12] | ip[13] | ip[14]) != 0;
}

bool pol_peers_embedded_v4(const uint8_t ip[16], uint8_t out[16])
{
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t nat64l[6] = {0, 0x64, 0xff, 0x9b, 0, 1};
    uint8_t v4[4];

    if (v4_only_form(ip) || prefix_is(ip, nat64, 12)) {
        memcpy(v4, ip + 12, 4);
    } else if (prefix_is(ip, nat64l, 6)) {
        /* RFC 6052 §2.2, /48 prefix: bits 48..63 and 72..87; octet 8 is "u". */
        v4[0] = ip[6];
        v4[1] = ip[7];
        v4[2] = ip[9];
        v4[3] = ip[10];
    } else if (ip[0] == 0x20 && ip[1] == 0x02) {
        memcpy(v4, ip + 2, 4); /* 6to4, RFC 3056 */
    } else if (ip[0] == 0x20 && ip[1] == 0x01 && ip[2] == 0 && ip[3] == 0) {
        for (int i = 0; i < 4; i++) /* Teredo client, RFC 4380: inverted */
            v4[i] = (uint8_t)~ip[12 + i];
    } else {
        return false;
    }
    set_mapped(out, v4);
    return true;
}

static int add_own(struct pol_peers *p, const uint8_t ip[16])
{
    for (int i = 0; i < p->n_relay; i++)
        if (memcmp(p->relay_ips[i], ip, 16) == 0)
            return 0;
    for (size_t i = 0; i < p->n_own; i++)
        if (memcmp(p->own[i], ip, 16) == 0)
            return 0;
    void *n = realloc(p->own, (p->n_own + 1) * sizeof(*p->own));
    if (!n)
        return -1;
    p->own = n;
    memcpy(p->own[p->n_own++], ip, 16);
    return 0;
}

static bool is_wildcard(const struct se_addr *a)
{
    static const uint8_t zero[16];
    static const uint8_t v4any[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};
    return memcmp(a->ip, zero, 16) == 0 || memcmp(a->ip, v4any, 16) == 0;
}

struct pol_peers *pol_peers_new(const struct se_config *cfg)
{
    struct pol_peers *p = calloc(1, sizeof(*p));
    bool wildcard = false;

    if (!p)
        return NULL;
    /* Own copies: a reload frees the old config while workers may still
     * hold the old filter. */
    if (!(p->allow = se_cidr_set_dup(cfg->peer_allow)) ||
        !(p->deny = se_cidr_set_dup(cfg->peer_deny)))
        goto fail;
    pol_peers_builtin_denied((const uint8_t[16]){0}); /* build the static list now */
    if (cfg->has_relay_v4)
        memcpy(p->relay_ips[p->n_relay++], cfg->relay_v4.ip, 16);
    if (cfg->has_relay_v6)
        memcpy(p->relay_ips[p->n_relay++], cfg->relay_v6.ip, 16);
    if (cfg->has_relay_ext_v4)
        memcpy(p->relay_ips[p->n_relay++], cfg->relay_ext_v4.ip, 16);
    if (cfg->has_relay_ext_v6)
        memcpy(p->relay_ips[p->n_relay++], cfg->relay_ext_v6.ip, 16);
    p->min_port = cfg->min_port;
    p->max_port = cfg->max_port;
    if (cfg->anchor.enabled) {
        const struct se_addr *an[4] = {&cfg->anchor.inside, &cfg->anchor.outside,
                                       &cfg->anchor.inside_adv, &cfg->anchor.outside_adv};
        for (int i = 0; i < 4; i++) {
            bool dup = false;
            for (int k = 0; k < p->n_anchor; k++)
                dup = dup || memcmp(p->anchor_ips[k], an[i]->ip, 16) == 0;
            if (!dup)
                memcpy(p->anchor_ips[p->n_anchor++], an[i]->ip, 16);
        }
        p->anchor_min = cfg->anchor.min_port;
        p->anchor_max = cfg->anchor.max_port;
    }
    for (int i = 0; i < cfg->n_listen; i++) {
        struct own_port *op = &p->ports[p->n_ports++];
        memcpy(op->ip, cfg->listen[i].addr.ip, 16);
        op->port = cfg->listen[i].addr.port;
        op->wildcard = is_wildcard(&cfg->listen[i].addr);
        if (op->wildcard)
            wildcard = true;
        else if (add_own(p, op->ip) < 0)
            goto fail;
    }
    if (wildcard) {
        struct ifaddrs *ifa, *i;
        if (getifaddrs(&ifa) == 0) {
            for (i = ifa; i; i = i->ifa_next) {
                struct se_addr a;
                if (i->ifa_addr && se_addr_from_sockaddr(&a, i->ifa_addr) == 0 &&
                    add_own(p, a.ip) < 0) {
                    freeifaddrs(ifa);
                    goto fail;
                }
            }
            freeifaddrs(ifa);
        } else {
            se_warn("peers: getifaddrs failed; own addresses of wildcard listeners unknown");
        }
    }
    return p;
fail:
    pol_peers_free(p);
    return NULL;
}

void pol_peers_free(struct pol_peers *p)
{
    if (!p)
        return;
    se_cidr_set_free(p->allow);
    se_cidr_set_free(p->deny);
    free(p->own);
    free(p);
}

static bool is_own(const struct pol_peers *p, const uint8_t ip[16])
{
    for (size_t i = 0; i < p->n_own; i++)
        if (memcmp(p->own[i], ip, 16) == 0)
            return true;
    return false;
}

static bool is_anchor_ip(const struct pol_peers *p, const uint8_t ip[16])
{
    for (int i = 0; i < p->n_anchor; i++)
        if (memcmp(p->anchor_ips[i], ip, 16) == 0)
            return true;
    return false;
}

bool pol_peers_is_anchor(const struct pol_peers *p, const struct se_addr *peer, bool with_port)
{
    if (!is_anchor_ip(p, peer->ip))
        return false;
    return !with_port || (peer->port >= p->anchor_min && peer->port <= p->anchor_max);
}

bool pol_peers_has_anchor(const struct pol_peers *p)
{
    return p->n_anchor > 0;
}

static enum pol_peer_verdict judge(const struct pol_peers *p, const uint8_t ip[16])
{
    if (se_cidr_set_contains(p->deny, ip))
        return POL_PEER_DENY_CONFIG;
    if (se_cidr_set_contains(p->allow, ip))
        return POL_PEER_OK;
    if (is_anchor_ip(p, ip))
        return POL_PEER_OK; /* the port check below keeps it to the anchor's range */
    if (is_own(p, ip))
        return POL_PEER_DENY_OWN;
    for (int i = 0; i < p->n_relay; i++)
        if (memcmp(p->relay_ips[i], ip, 16) == 0)
            return POL_PEER_OK; /* another allocation on this sedge */
    if (pol_peers_builtin_denied(ip))
        return POL_PEER_DENY_BUILTIN;
    return POL_PEER_OK;
}

enum pol_peer_verdict pol_peers_check_ip(const struct pol_peers *p, const struct se_addr *peer)
{
    uint8_t v4[16];

    if (peer->family == AF_INET6 && pol_peers_embedded_v4(peer->ip, v4)) {
        enum pol_peer_verdict v = judge(p, v4);
        if (v != POL_PEER_OK || v4_only_form(peer->ip))
            return v;
    }
    return judge(p, peer->ip);
}

enum pol_peer_verdict pol_peers_check(const struct pol_peers *p, const struct se_addr *peer)
{
    enum pol_peer_verdict v = pol_peers_check_ip(p, peer);
    bool relay_ip = false;

    if (v != POL_PEER_OK)
        return v;
    for (int i = 0; i < p->n_ports; i++) {
        const struct own_port *op = &p->ports[i];
        if (op->port != peer->port)
            continue;
        if (memcmp(op->ip, peer->ip, 16) == 0 || (op->wildcard && is_own(p, peer->ip)))
            return POL_PEER_DENY_OWN;
    }
    for (int i = 0; i < p->n_relay; i++)
        relay_ip = relay_ip || memcmp(p->relay_ips[i], peer->ip, 16) == 0;
    if (se_cidr_set_contains(p->allow, peer->ip))
        return POL_PEER_OK;
    bool in_relay = peer->port >= p->min_port && peer->port <= p->max_port;
    bool in_anchor = peer->port >= p->anchor_min && peer->port <= p->anchor_max;
    uint8_t v4[16];
    bool embedded = peer->family == AF_INET6 && pol_peers_embedded_v4(peer->ip, v4);
    if (is_anchor_ip(p, peer->ip) || (embedded && is_anchor_ip(p, v4)))
        return in_anchor || (relay_ip && in_relay) ? POL_PEER_OK : POL_PEER_DENY_OWN;
    if (relay_ip && !in_relay)
        return POL_PEER_DENY_OWN;
    return POL_PEER_OK;
}

const char *pol_peer_verdict_str(enum pol_peer_verdict v)
{
    switch (v) {
    case POL_PEER_OK: return "allowed";
    case POL_PEER_DENY_CONFIG: return "denied by peers.deny";
    case POL_PEER_DENY_BUILTIN: return "special-purpose address";
    case POL_PEER_DENY_OWN: return "sedge's own address";
    }
    return "?";
}
