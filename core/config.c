/*
 * config.c - load and validate sedge.conf with libconfig.
 *
 * Every accessor below takes the setting's path for its error message and
 * the libconfig setting for its line number, so any refusal reads
 * "sedge.conf:12: relay.min_port: must be between 1 and 65535". Unknown
 * top-level settings are refused too: a misspelt "relam" must not be
 * silently ignored at a firewall.
 */
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"

#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Top-level groups that belong to other modules' settings. */
static const char *const known_top[] = {
    "realm",    "database", "listen",      "relay",  "tls",    "peers",     "workers",
    "log_level", "log_format", "software", "limits", "auth", "api", "recording", "policy",
    "anchor",   "record",   "user",        "group",  "drain",  NULL,
};

struct loader {
    const char *file;
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 4, 5))) static int fail(struct loader *l, const config_setting_t *s,
                                                      const char *name, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (s && config_setting_source_line(s) > 0)
        snprintf(l->err, l->errlen, "%s:%u: %s: %s", l->file, config_setting_source_line(s), name,
                 msg);
    else
        snprintf(l->err, l->errlen, "%s: %s: %s", l->file, name, msg);
    return SE_ERR_CONFIG;
}

static int get_str(struct loader *l, const config_setting_t *grp, const char *key, const char *path,
                   char *out, size_t outlen, bool required)
{
    config_setting_t *s = grp ? config_setting_get_member(grp, key) : NULL;
    const char *v;

    if (!s)
        return required ? fail(l, grp, path, "missing (required)") : 0;
    if (config_setting_type(s) != CONFIG_TYPE_STRING || !(v = config_setting_get_string(s)))
        return fail(l, s, path, "must be a string");
    if (strlen(v) >= outlen)
        return fail(l, s, path, "longer than %zu characters", outlen - 1);
    snprintf(out, outlen, "%s", v);
    return 0;
}

static int get_uint(struct loader *l, const config_setting_t *grp, const char *key, const char *path,
                    unsigned *out, long long min, long long max)
{
    config_setting_t *s = grp ? config_setting_get_member(grp, key) : NULL;
    long long v;

    if (!s)
        return 0; /* keep the default */
    if (config_setting_type(s) == CONFIG_TYPE_INT)
        v = config_setting_get_int(s);
    else if (config_setting_type(s) == CONFIG_TYPE_INT64)
        v = config_setting_get_int64(s);
    else
        return fail(l, s, path, "must be an integer");
    if (v < min || v > max)
        return fail(l, s, path, "must be between %lld and %lld", min, max);
    *out = (unsigned)v;
    return 0;
}

static int get_bool(struct loader *l, const config_setting_t *grp, const char *key, const char *path,
                    bool *out)
{
    config_setting_t *s = grp ? config_setting_get_member(grp, key) : NULL;

    if (!s)
        return 0;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return fail(l, s, path, "must be true or false");
    *out = config_setting_get_bool(s);
    return 0;
}

static int parse_transport(const char *v)
{
    if (strcmp(v, "udp") == 0)
        return SE_TP_UDP;
    if (strcmp(v, "tcp") == 0)
        return SE_TP_TCP;
    if (strcmp(v, "tls") == 0)
        return SE_TP_TLS;
    return -1;
}

const char *se_transport_name(int t)
{
    return t == SE_TP_UDP ? "udp" : t == SE_TP_TCP ? "tcp" : t == SE_TP_TLS ? "tls" : "?";
}

static int load_cidrs(struct loader *l, config_setting_t *grp, const char *key, const char *path,
                      struct se_cidr_set *set);

/* The PROXY protocol options of one TCP/TLS listen entry. */
static int load_listen_proxy(struct loader *l, config_setting_t *e, const char *path,
                             struct se_listen *ls)
{
    char pp[96], pf[96];
    int rc;

    snprintf(pp, sizeof(pp), "%s.proxy_protocol", path);
    snprintf(pf, sizeof(pf), "%s.proxy_from", path);
    if ((rc = get_bool(l, e, "proxy_protocol", pp, &ls->proxy_protocol)) < 0)
        return rc;
    if (!ls->proxy_protocol) {
        if (config_setting_get_member(e, "proxy_from"))
            return fail(l, config_setting_get_member(e, "proxy_from"), pf,
                        "only with proxy_protocol = true");
        return 0;
    }
    if (ls->transport == SE_TP_UDP)
        return fail(l, config_setting_get_member(e, "proxy_protocol"), pp,
                    "PROXY protocol is for tcp and tls listeners");
    if (!(ls->proxy_from = se_cidr_set_new()))
        return fail(l, e, pf, "out of memory");
    if ((rc = load_cidrs(l, e, "proxy_from", pf, ls->proxy_from)) < 0)
        return rc;
    if (se_cidr_set_count(ls->proxy_from) == 0)
        return fail(l, config_setting_get_member(e, "proxy_protocol"), pp,
                    "proxy_protocol needs the load balancers' addresses, e.g. proxy_from = "
                    "[ \"10.0.0.5/32\" ]: a header is trusted only from them");
    return 0;
}

static int load_listen(struct loader *l, config_t *cf, struct se_config *c)
{
    config_setting_t *ls = config_lookup(cf, "listen");

    if (!ls)
        return fail(l, NULL, "listen", "missing (required): a list of {transport; address; port}");
    if (!config_setting_is_list(ls) && !config_setting_is_array(ls))
        return fail(l, ls, "listen", "must be a list: ( { transport = \"udp\"; ... } )");
    int n = config_setting_length(ls);
    if (n == 0)
        return fail(l, ls, "listen", "needs at least one entry");
    if (n > SE_MAX_LISTEN)
        return fail(l, ls, "listen", "at most %d entries", SE_MAX_LISTEN);
    for (int i = 0; i < n; i++) {
        config_setting_t *e = config_setting_get_elem(ls, (unsigned)i);
        char path[64], tp[16] = "", addr[64] = "";
        unsigned port = 0;
        int rc;

        snprintf(path, sizeof(path), "listen[%d]", i);
        if (!config_setting_is_group(e))
            return fail(l, e, path, "must be a group { transport; address; port }");
        if ((rc = get_str(l, e, "transport", path, tp, sizeof(tp), true)) < 0 ||
            (rc = get_str(l, e, "address", path, addr, sizeof(addr), true)) < 0)
            return rc;
        int t = parse_transport(tp);
        if (t < 0)
            return fail(l, config_setting_get_member(e, "transport"), path,
                        "transport must be \"udp\", \"tcp\" or \"tls\", not \"%s\"", tp);
        port = t == SE_TP_TLS ? 443 : 3478;
        if ((rc = get_uint(l, e, "port", path, &port, 1, 65535)) < 0)
            return rc;
        if (se_addr_parse_ip(&c->listen[i].addr, addr, (uint16_t)port) < 0)
            return fail(l, config_setting_get_member(e, "address"), path,
                        "address \"%s\" is not an IPv4 or IPv6 address", addr);
        c->listen[i].transport = t;
        c->n_listen = i + 1; /* what se_config_free must release */
        if ((rc = load_listen_proxy(l, e, path, &c->listen[i])) < 0)
            return rc;
    }
    c->n_listen = n;
    return 0;
}

/* relay.external_address(6): the public address of a 1:1 NAT in front
 * of relay.address(6), same family, advertised instead of it. */
static int load_external(struct loader *l, config_setting_t *r, struct se_config *c)
{
    static const struct {
        const char *key, *path;
        int family;
    } ext[] = {
        {"external_address", "relay.external_address", AF_INET},
        {"external_address6", "relay.external_address6", AF_INET6},
    };

    for (int i = 0; i < 2; i++) {
        char text[64] = "";
        struct se_addr a;
        int rc;

        if ((rc = get_str(l, r, ext[i].key, ext[i].path, text, sizeof(text), false)) < 0)
            return rc;
        if (!text[0])
            continue;
        config_setting_t *s = config_setting_get_member(r, ext[i].key);
        if (se_addr_parse_ip(&a, text, 0) < 0)
            return fail(l, s, ext[i].path, "\"%s\" is not an IP address", text);
        /* external_address may name either family when it is the only one */
        int fam = a.family;
        if (i == 1 && fam != AF_INET6)
            return fail(l, s, ext[i].path, "\"%s\" is not an IPv6 address", text);
        if (fam == AF_INET ? !c->has_relay_v4 : !c->has_relay_v6)
            return fail(l, s, ext[i].path,
                        "\"%s\" has no relay address of its family to stand for (relay.address%s)",
                        text, fam == AF_INET ? "" : "6");
        if (fam == AF_INET ? c->has_relay_ext_v4 : c->has_relay_ext_v6)
            return fail(l, s, ext[i].path, "an external address of this family is already set");
        static const uint8_t zero[16], v4any[16] = {[10] = 0xff, [11] = 0xff};
        if (memcmp(a.ip, zero, 16) == 0 || memcmp(a.ip, v4any, 16) == 0)
            return fail(l, s, ext[i].path, "must be a real address, not a wildcard");
        if (fam == AF_INET) {
            c->relay_ext_v4 = a;
            c->has_relay_ext_v4 = true;
        } else {
            c->relay_ext_v6 = a;
            c->has_relay_ext_v6 = true;
        }
    }
    return 0;
}

/* drain = { timeout; idle; alternate = "IP[:port]" | "[IPv6]:port"; }
 * drain.timeout is limits.drain_timeout under its own name (either, not both). */
static int load_drain(struct loader *l, config_t *cf, struct se_config *c)
{
    config_setting_t *g = config_lookup(cf, "drain");
    config_setting_t *lim = config_lookup(cf, "limits");
    char alt[80] = "";
    int rc;

    if (!g)
        return 0;
    if (!config_setting_is_group(g))
        return fail(l, g, "drain", "must be a group { timeout; idle; alternate; }");
    for (int i = 0; i < config_setting_length(g); i++) {
        const char *k = config_setting_name(config_setting_get_elem(g, (unsigned)i));
        if (strcmp(k, "timeout") != 0 && strcmp(k, "idle") != 0 && strcmp(k, "alternate") != 0)
            return fail(l, config_setting_get_elem(g, (unsigned)i), "drain",
                        "unknown setting \"%s\"", k);
    }
    if (config_setting_get_member(g, "timeout") && lim &&
        config_setting_get_member(lim, "drain_timeout"))
        return fail(l, config_setting_get_member(g, "timeout"), "drain.timeout",
                    "limits.drain_timeout is the same setting: give one of them");
    if ((rc = get_uint(l, g, "timeout", "drain.timeout", &c->drain_timeout, 0, 3600)) < 0 ||
        (rc = get_uint(l, g, "idle", "drain.idle", &c->drain_idle, 0, 3600)) < 0 ||
        (rc = get_str(l, g, "alternate", "drain.alternate", alt, sizeof(alt), false)) < 0)
        return rc;
    if (!alt[0])
        return 0;
    /* "1.2.3.4", "1.2.3.4:3478", "2001:db8::1", "[2001:db8::1]:3478" */
    char ip[sizeof(alt)] = "";
    unsigned long port = 3478;
    const char *colon = strrchr(alt, ':');
    if (alt[0] == '[') {
        const char *end = strchr(alt, ']');
        if (!end || (end[1] && end[1] != ':'))
            goto bad;
        snprintf(ip, sizeof(ip), "%.*s", (int)(end - alt - 1), alt + 1);
        colon = end[1] ? end + 1 : NULL;
    } else if (colon && strchr(alt, ':') == colon) {
        snprintf(ip, sizeof(ip), "%.*s", (int)(colon - alt), alt);
    } else {
        snprintf(ip, sizeof(ip), "%s", alt);
        colon = NULL;
    }
    if (colon) {
        char *e;
        port = strtoul(colon + 1, &e, 10);
        if (!colon[1] || *e || port == 0 || port > 65535)
            goto bad;
    }
    if (se_addr_parse_ip(&c->drain_alternate, ip, (uint16_t)port) < 0)
        goto bad;
    c->has_drain_alternate = true;
    return 0;
bad:
    return fail(l, config_setting_get_member(g, "alternate"), "drain.alternate",
                "\"%s\" is not IP, IP:port or [IPv6]:port", alt);
}

static int load_relay(struct loader *l, config_t *cf, struct se_config *c)
{
    config_setting_t *r = config_lookup(cf, "relay");
    char a4[64] = "", a6[64] = "", io[16] = "", offload[16] = "";
    unsigned minp = 49152, maxp = 65535, bufs = 512;
    int rc;

    if (!r)
        return fail(l, NULL, "relay", "missing (required): { address; min_port; max_port }");
    if (!config_setting_is_group(r))
        return fail(l, r, "relay", "must be a group { address; min_port; max_port }");
    if ((rc = get_str(l, r, "address", "relay.address", a4, sizeof(a4), false)) < 0 ||
        (rc = get_str(l, r, "address6", "relay.address6", a6, sizeof(a6), false)) < 0 ||
        (rc = get_uint(l, r, "min_port", "relay.min_port", &minp, 1024, 65535)) < 0 ||
        (rc = get_uint(l, r, "max_port", "relay.max_port", &maxp, 1024, 65535)) < 0 ||
        (rc = get_str(l, r, "io", "relay.io", io, sizeof(io), false)) < 0 ||
        (rc = get_str(l, r, "offload", "relay.offload", offload, sizeof(offload), false)) < 0 ||
        (rc = get_uint(l, r, "io_buffers", "relay.io_buffers", &bufs, 8, 32768)) < 0)
        return rc;
    if (bufs & (bufs - 1))
        return fail(l, config_setting_get_member(r, "io_buffers"), "relay.io_buffers",
                    "%u is not a power of two", bufs);
    c->relay_io_buffers = bufs;
    if (!io[0] || strcmp(io, "auto") == 0)
        c->relay_io = SE_IO_AUTO;
    else if (strcmp(io, "io_uring") == 0)
        c->relay_io = SE_IO_URING;
    else if (strcmp(io, "epoll") == 0)
        c->relay_io = SE_IO_EPOLL;
    else
        return fail(l, config_setting_get_member(r, "io"), "relay.io",
                    "\"%s\": must be \"auto\", \"io_uring\" or \"epoll\"", io);
    if (!offload[0] || strcmp(offload, "auto") == 0)
        c->relay_offload = SE_OFFLOAD_AUTO;
    else if (strcmp(offload, "bpf") == 0)
        c->relay_offload = SE_OFFLOAD_BPF;
    else if (strcmp(offload, "off") == 0)
        c->relay_offload = SE_OFFLOAD_OFF;
    else
        return fail(l, config_setting_get_member(r, "offload"), "relay.offload",
                    "\"%s\": must be \"auto\", \"bpf\" or \"off\"", offload);
    if (!a4[0] && !a6[0])
        return fail(l, r, "relay.address", "missing (required): the address relayed media uses");
    if (a4[0]) {
        struct se_addr a;
        if (se_addr_parse_ip(&a, a4, 0) < 0)
            return fail(l, config_setting_get_member(r, "address"), "relay.address",
                        "\"%s\" is not an IP address", a4);
        if (a.family == AF_INET) {
            c->relay_v4 = a;
            c->has_relay_v4 = true;
        } else {
            c->relay_v6 = a;
            c->has_relay_v6 = true;
        }
    }
    if (a6[0]) {
        struct se_addr a;
        if (se_addr_parse_ip(&a, a6, 0) < 0 || a.family != AF_INET6)
            return fail(l, config_setting_get_member(r, "address6"), "relay.address6",
                        "\"%s\" is not an IPv6 address", a6);
        if (c->has_relay_v6)
            return fail(l, config_setting_get_member(r, "address6"), "relay.address6",
                        "relay.address is already IPv6");
        c->relay_v6 = a;
        c->has_relay_v6 = true;
    }
    if (minp > maxp)
        return fail(l, config_setting_get_member(r, "min_port"), "relay.min_port",
                    "%u is above relay.max_port %u", minp, maxp);
    if (maxp - minp < 1)
        return fail(l, config_setting_get_member(r, "max_port"), "relay.max_port",
                    "the range needs at least two ports");
    c->min_port = (uint16_t)minp;
    c->max_port = (uint16_t)maxp;
    return load_external(l, r, c);
}

static int load_cidrs(struct loader *l, config_setting_t *grp, const char *key, const char *path,
                      struct se_cidr_set *set)
{
    config_setting_t *s = grp ? config_setting_get_member(grp, key) : NULL;

    if (!s)
        return 0;
    if (!config_setting_is_array(s) && !config_setting_is_list(s))
        return fail(l, s, path, "must be a list of CIDR strings, e.g. [ \"10.0.0.0/8\" ]");
    for (int i = 0; i < config_setting_length(s); i++) {
        config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        const char *v = config_setting_get_string(e);
        if (!v)
            return fail(l, e, path, "entry %d must be a string", i);
        int rc = se_cidr_set_add_text(set, v);
        if (rc == SE_ERR_PARSE)
            return fail(l, e, path, "\"%s\" is not a CIDR (like 10.0.0.0/8 or 2001:db8::/32)", v);
        if (rc < 0)
            return fail(l, e, path, "%s", se_err(rc));
    }
    return 0;
}

/* ---- api: the HTTPS control API (api/) ---- */

static int load_api_jwt(struct loader *l, config_setting_t *api, struct se_config *c)
{
    config_setting_t *ls = config_setting_get_member(api, "jwt");
    int rc;

    if (!ls)
        return 0;
    if (!config_setting_is_list(ls))
        return fail(l, ls, "api.jwt", "must be a list: ( { issuer; audience; key; alg; } )");
    if (config_setting_length(ls) > SE_API_MAX_JWT)
        return fail(l, ls, "api.jwt", "at most %d entries", SE_API_MAX_JWT);
    for (int i = 0; i < config_setting_length(ls); i++) {
        config_setting_t *e = config_setting_get_elem(ls, (unsigned)i);
        struct se_api_jwt *j = &c->api.jwt[i];
        char path[32];

        snprintf(path, sizeof(path), "api.jwt[%d]", i);
        if (!config_setting_is_group(e))
            return fail(l, e, path, "must be a group { issuer; audience; key; alg; }");
        snprintf(j->alg, sizeof(j->alg), "RS256");
        if ((rc = get_str(l, e, "issuer", path, j->issuer, sizeof(j->issuer), true)) < 0 ||
            (rc = get_str(l, e, "audience", path, j->audience, sizeof(j->audience), true)) < 0 ||
            (rc = get_str(l, e, "key", path, j->key, sizeof(j->key), true)) < 0 ||
            (rc = get_str(l, e, "alg", path, j->alg, sizeof(j->alg), false)) < 0)
            return rc;
        if (strcmp(j->alg, "RS256") != 0 && strcmp(j->alg, "ES256") != 0)
            return fail(l, config_setting_get_member(e, "alg"), path,
                        "alg must be \"RS256\" or \"ES256\", not \"%s\"", j->alg);
        if (!j->issuer[0] || !j->audience[0])
            return fail(l, e, path, "issuer and audience must not be empty");
        if (access(j->key, R_OK) != 0)
            return fail(l, config_setting_get_member(e, "key"), path, "cannot read key \"%s\"",
                        j->key);
    }
    c->api.n_jwt = config_setting_length(ls);
    return 0;
}

static int load_api_cors(struct loader *l, config_setting_t *api, struct se_config *c)
{
    config_setting_t *s = config_setting_get_member(api, "cors_origins");

    if (!s)
        return 0;
    if (!config_setting_is_array(s) && !config_setting_is_list(s))
        return fail(l, s, "api.cors_origins", "must be a list of origins, e.g. "
                                              "[ \"chrome-extension://*\" ]");
    if (config_setting_length(s) > SE_API_MAX_CORS)
        return fail(l, s, "api.cors_origins", "at most %d entries", SE_API_MAX_CORS);
    for (int i = 0; i < config_setting_length(s); i++) {
        config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        const char *v = config_setting_get_string(e);
        if (!v || !strstr(v, "://") || strlen(v) >= sizeof(c->api.cors[0]) ||
            (strchr(v, '*') && strcmp(strchr(v, '*'), "*") != 0))
            return fail(l, e, "api.cors_origins",
                        "entry %d must be an origin \"scheme://host[:port]\" or a "
                        "\"scheme://*\" pattern", i);
        snprintf(c->api.cors[i], sizeof(c->api.cors[i]), "%s", v);
    }
    c->api.n_cors = config_setting_length(s);
    return 0;
}

/* api.management = { address; port; max_connections; } */
static int load_api_mgmt(struct loader *l, config_setting_t *api, struct se_config *c)
{
    config_setting_t *g = config_setting_get_member(api, "management");
    struct se_api_config *a = &c->api;
    char addr[64] = "127.0.0.1";
    unsigned port = 8444;
    int rc;

    if (!g)
        return 0;
    if (!config_setting_is_group(g))
        return fail(l, g, "api.management", "must be a group { address; port; max_connections; }");
    for (int i = 0; i < config_setting_length(g); i++) {
        const char *k = config_setting_name(config_setting_get_elem(g, (unsigned)i));
        if (strcmp(k, "address") != 0 && strcmp(k, "port") != 0 &&
            strcmp(k, "max_connections") != 0)
            return fail(l, config_setting_get_elem(g, (unsigned)i), "api.management",
                        "unknown setting \"%s\" (address, port, max_connections)", k);
    }
    if ((rc = get_str(l, g, "address", "api.management.address", addr, sizeof(addr), false)) <
            0 ||
        (rc = get_uint(l, g, "port", "api.management.port", &port, 1, 65535)) < 0 ||
        (rc = get_uint(l, g, "max_connections", "api.management.max_connections",
                       &a->mgmt_max_connections, 1, 100000)) < 0)
        return rc;
    if (se_addr_parse_ip(&a->mgmt_addr, addr, (uint16_t)port) < 0)
        return fail(l, config_setting_get_member(g, "address"), "api.management.address",
                    "\"%s\" is not an IPv4 or IPv6 address", addr);
    if (se_addr_eq(&a->mgmt_addr, &a->addr))
        return fail(l, g, "api.management",
                    "must differ from api.address and api.port (it is the other listener)");
    a->mgmt_enabled = true;
    return 0;
}

static int load_api(struct loader *l, config_t *cf, struct se_config *c)
{
    config_setting_t *g = config_lookup(cf, "api"), *t;
    struct se_api_config *a = &c->api;
    char addr[64] = "127.0.0.1";
    unsigned port = 8443;
    int rc;

    if (!g)
        return 0;
    if (!config_setting_is_group(g))
        return fail(l, g, "api", "must be a group { address; port; ... }");
    a->enabled = true;
    if ((rc = get_str(l, g, "address", "api.address", addr, sizeof(addr), false)) < 0 ||
        (rc = get_uint(l, g, "port", "api.port", &port, 1, 65535)) < 0 ||
        (rc = get_str(l, g, "turn_host", "api.turn_host", a->turn_host, sizeof(a->turn_host),
                      false)) < 0 ||
        (rc = get_str(l, g, "user_claim", "api.user_claim", a->user_claim, sizeof(a->user_claim),
                      false)) < 0 ||
        (rc = get_uint(l, g, "credential_ttl", "api.credential_ttl", &a->credential_ttl, 10,
                       86400)) < 0 ||
        (rc = get_uint(l, g, "rate", "api.rate", &a->rate, 0, 100000)) < 0 ||
        (rc = get_uint(l, g, "burst", "api.burst", &a->burst, 1, 100000)) < 0 ||
        (rc = get_uint(l, g, "max_connections", "api.max_connections", &a->max_connections, 1,
                       100000)) < 0 ||
        (rc = get_uint(l, g, "max_body", "api.max_body", &a->max_body, 256, 1 << 20)) < 0 ||
        (rc = get_uint(l, g, "max_headers", "api.max_headers", &a->max_headers, 1024,
                       1 << 16)) < 0 ||
        (rc = get_uint(l, g, "timeout", "api.timeout", &a->timeout, 1, 3600)) < 0)
        return rc;
    if (se_addr_parse_ip(&a->addr, addr, (uint16_t)port) < 0)
        return fail(l, config_setting_get_member(g, "address"), "api.address",
                    "\"%s\" is not an IPv4 or IPv6 address", addr);
    if (!a->user_claim[0])
        return fail(l, config_setting_get_member(g, "user_claim"), "api.user_claim",
                    "must not be empty");
    if (strpbrk(a->turn_host, "/?#@ "))
        return fail(l, config_setting_get_member(g, "turn_host"), "api.turn_host",
                    "must be a host name or IP address");
    t = config_setting_get_member(g, "tls");
    if (t && ((rc = get_str(l, t, "cert", "api.tls.cert", a->tls_cert, sizeof(a->tls_cert),
                            true)) < 0 ||
              (rc = get_str(l, t, "key", "api.tls.key", a->tls_key, sizeof(a->tls_key), true)) <
                  0))
        return rc;
    if (!t) {
        if (!c->tls_cert[0])
            return fail(l, g, "api.tls",
                        "the API is HTTPS only: give api.tls = { cert; key; } or a top-level tls");
        memcpy(a->tls_cert, c->tls_cert, sizeof(a->tls_cert));
        memcpy(a->tls_key, c->tls_key, sizeof(a->tls_key));
    } else if (access(a->tls_cert, R_OK) != 0 || access(a->tls_key, R_OK) != 0) {
        return fail(l, t, "api.tls", "cannot read \"%s\" or \"%s\"", a->tls_cert, a->tls_key);
    }
    if ((rc = load_api_jwt(l, g, c)) < 0 || (rc = load_api_cors(l, g, c)) < 0 ||
        (rc = load_api_mgmt(l, g, c)) < 0)
        return rc;
    if (!a->turn_host[0]) {
        /* Default: the first listen address (a wildcard says nothing useful). */
        for (int i = 0; i < c->n_listen && !a->turn_host[0]; i++) {
            char ip[SE_ADDR_STRLEN];
            const struct se_addr *la = &c->listen[i].addr;
            static const uint8_t zero[16], v4any[16] = {[10] = 0xff, [11] = 0xff};
            if (memcmp(la->ip, zero, 16) == 0 || memcmp(la->ip, v4any, 16) == 0)
                continue;
            se_addr_ip_str(la, ip, sizeof(ip));
            snprintf(a->turn_host, sizeof(a->turn_host), la->family == AF_INET6 ? "[%s]" : "%s",
                     ip);
        }
        if (!a->turn_host[0])
            return fail(l, g, "api.turn_host",
                        "missing: the listen addresses are wildcards, name the public host");
    }
    return 0;
}

static void set_defaults(struct se_config *c)
{
    snprintf(c->realm, sizeof(c->realm), "sedge");
    snprintf(c->database, sizeof(c->database), "/var/lib/sedge/sedge.db");
    snprintf(c->software, sizeof(c->software), "sedge");
    c->log_level = SE_LOG_INFO;
    c->max_allocations = 100000;
    c->max_allocations_per_user = 100;
    c->max_allocations_per_ip = 1000;
    c->max_permissions = 32;
    c->max_channels = 32;
    c->default_lifetime = 600;
    c->max_lifetime = 3600;
    c->nonce_lifetime = 600;
    c->auth_fail_limit = 10;
    c->auth_source_fail_limit = 100;
    c->auth_fail_window = 60;
    c->auth_block_time = 60;
    c->challenge_rate = 50;
    c->drain_timeout = 30;
    c->drain_idle = 10;
    c->stream_out_max = 1 << 20;
    c->max_connections = 10000;
    c->max_connections_per_ip = 1000;
    c->tls_handshake_timeout = 10;
    c->stream_idle_timeout = 30;
    /* A browser call makes a few allocations; an office NAT a few hundred
     * at 9 am. These bound what one account or address can churn (log
     * lines, session rows, port searches), not what real use needs. */
    c->allocate_rate_per_user = 100;
    c->allocate_burst_per_user = 1000;
    c->tls_handshake_rate_per_ip = 100;
    c->tls_handshake_burst_per_ip = 500;
    c->stream_stall_timeout = 60;
    c->security_features = true;
    c->policy_default_allow = true;
    snprintf(c->policy_timezone, sizeof(c->policy_timezone), "UTC");
    c->policy_recheck = 30;
    c->session_update = 10;
    snprintf(c->api.user_claim, sizeof(c->api.user_claim), "sub");
    c->api.credential_ttl = 3600;
    c->api.rate = 10;
    c->api.burst = 20;
    c->api.max_connections = 256;
    c->api.max_body = 16384;
    c->api.max_headers = 8192;
    c->api.timeout = 10;
    c->api.mgmt_max_connections = 16;
    c->rec_fsync_interval = 2000;
    c->rec_purge_interval = 3600;
}

/* policy = { default = "allow"|"deny"; timezone = "Europe/Berlin"; ... } */
static int load_policy(struct loader *l, config_t *cf, struct se_config *c)
{
    config_setting_t *g = config_lookup(cf, "policy");
    char def[16] = "", path[SE_PATH_MAX + 80];
    const char *dir = getenv("TZDIR");
    int rc;

    if ((rc = get_str(l, g, "default", "policy.default", def, sizeof(def), false)) < 0 ||
        (rc = get_str(l, g, "timezone", "policy.timezone", c->policy_timezone,
                      sizeof(c->policy_timezone), false)) < 0 ||
        (rc = get_uint(l, g, "recheck_interval", "policy.recheck_interval", &c->policy_recheck, 1,
                       3600)) < 0 ||
        (rc = get_uint(l, g, "session_update", "policy.session_update", &c->session_update, 1,
                       3600)) < 0)
        return rc;
    if (def[0]) {
        if (strcmp(def, "allow") != 0 && strcmp(def, "deny") != 0)
            return fail(l, config_setting_get_member(g, "default"), "policy.default",
                        "must be \"allow\" or \"deny\"");
        c->policy_default_allow = strcmp(def, "allow") == 0;
    }
    /* An IANA zone name: a file under the zoneinfo directory. */
    snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo",
             c->policy_timezone);
    if (strcmp(c->policy_timezone, "UTC") != 0 &&
        (!c->policy_timezone[0] || c->policy_timezone[0] == '/' ||
         strstr(c->policy_timezone, "..") || access(path, R_OK) != 0))
        return fail(l, config_setting_get_member(g, "timezone"), "policy.timezone",
                    "unknown time zone \"%s\" (an IANA name like \"Europe/Berlin\", or \"UTC\")",
                    c->policy_timezone);
    return 0;
}

/*
 * recording = { dir = "..."; sign_key_file = "..."; keyring_dir = "...";
 *               fsync_interval = 2000; retention = 365; on_failure = "terminate";
 *               purge_interval = 3600; };
 * `record` is accepted as the group's other name (issue 13 spells
 * record.retention); both at once is an error.
 */
static int load_recording(struct loader *l, config_t *cf, struct se_config *c)
{
    config_setting_t *g = config_lookup(cf, "recording"), *alias = config_lookup(cf, "record");
    char on_failure[16] = "";
    int rc;

    if (g && alias)
        return fail(l, alias, "record", "is another name for the recording group: use one");
    if (!g && !(g = alias))
        return 0;
    if ((rc = get_str(l, g, "dir", "recording.dir", c->rec_dir, sizeof(c->rec_dir), false)) < 0 ||
        (rc = get_str(l, g, "sign_key_file", "recording.sign_key_file", c->rec_sign_key_file,
                      sizeof(c->rec_sign_key_file), false)) < 0 ||
        (rc = get_str(l, g, "keyring_dir", "recording.keyring_dir", c->rec_keyring_dir,
                      sizeof(c->rec_keyring_dir), false)) < 0 ||
        (rc = get_uint(l, g, "fsync_interval", "recording.fsync_interval",
                       &c->rec_fsync_interval, 0, 600000)) < 0 ||
        (rc = get_uint(l, g, "retention", "recording.retention", &c->rec_retention, 0,
                       100 * 366)) < 0 ||
        (rc = get_uint(l, g, "purge_interval", "recording.purge_interval",
                       &c->rec_purge_interval, 1, 86400)) < 0 ||
        (rc = get_str(l, g, "on_failure", "recording.on_failure", on_failure, sizeof(on_failure),
                      false)) < 0)
        return rc;
    /* "terminate" is issue 12's word, "end_call" the archive's first one */
    if (!strcmp(on_failure, "continue"))
        c->rec_on_failure = SE_REC_ON_FAILURE_CONTINUE;
    else if (!strcmp(on_failure, "terminate") || !strcmp(on_failure, "end_call"))
        c->rec_on_failure = SE_REC_ON_FAILURE_TERMINATE;
    else if (on_failure[0])
        return fail(l, config_setting_get_member(g, "on_failure"), "recording.on_failure",
                    "must be \"continue\" or \"terminate\"");
    if (c->rec_dir[0] && c->rec_dir[0] != '/')
        return fail(l, config_setting_get_member(g, "dir"), "recording.dir",
                    "must be an absolute path");
    if (c->rec_sign_key_file[0] && access(c->rec_sign_key_file, R_OK) != 0)
        return fail(l, config_setting_get_member(g, "sign_key_file"), "recording.sign_key_file",
                    "cannot read \"%s\"", c->rec_sign_key_file);
    return 0;
}


/* anchor = { inside_address; outside_address; [*_advertised;] min_port; max_port; } */
static int anchor_addr(struct loader *l, config_setting_t *g, const char *key, bool required,
                       struct se_addr *out)
{
    char path[64], text[64] = "";
    int rc;

    snprintf(path, sizeof(path), "anchor.%s", key);
    if ((rc = get_str(l, g, key, path, text, sizeof(text), required)) < 0 || !text[0])
        return rc;
    if (se_addr_parse_ip(out, text, 0) < 0)
        return fail(l, config_setting_get_member(g, key), path,
                    "\"%s\" is not an IPv4 or IPv6 address", text);
    static const uint8_t zero[16], v4any[16] = {[10] = 0xff, [11] = 0xff};
    if (memcmp(out->ip, zero, 16) == 0 || memcmp(out->ip, v4any, 16) == 0)
        return fail(l, config_setting_get_member(g, key), path,
                    "must be a real address of this host, not a wildcard");
    return 1;
}

static int load_anchor(struct loader *l, config_t *cf, struct se_config *c)
{
    config_setting_t *g = config_lookup(cf, "anchor");
    struct se_anchor_config *a = &c->anchor;
    unsigned minp = 40000, maxp = 44999;
    int rc;

    a->max_sessions = 1000;
    a->max_sessions_per_user = 10;
    a->setup_timeout = 30;
    a->threads = 1;
    if (!g)
        return 0;
    if (!config_setting_is_group(g))
        return fail(l, g, "anchor", "must be a group { inside_address; outside_address; ... }");
    for (int i = 0; i < config_setting_length(g); i++) {
        static const char *const known[] = {"inside_address", "outside_address",
                                            "inside_advertised", "outside_advertised",
                                            "min_port", "max_port", "max_sessions",
                                            "max_sessions_per_user", "setup_timeout",
                                            "threads", NULL};
        config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
        bool ok = false;
        for (int k = 0; known[k]; k++)
            ok = ok || strcmp(known[k], config_setting_name(m)) == 0;
        if (!ok)
            return fail(l, m, "anchor", "unknown setting \"%s\"", config_setting_name(m));
    }
    if ((rc = anchor_addr(l, g, "inside_address", true, &a->inside)) < 0 ||
        (rc = anchor_addr(l, g, "outside_address", true, &a->outside)) < 0)
        return rc;
    a->inside_adv = a->inside;
    a->outside_adv = a->outside;
    if ((rc = anchor_addr(l, g, "inside_advertised", false, &a->inside_adv)) < 0 ||
        (rc = anchor_addr(l, g, "outside_advertised", false, &a->outside_adv)) < 0 ||
        (rc = get_uint(l, g, "min_port", "anchor.min_port", &minp, 1024, 65535)) < 0 ||
        (rc = get_uint(l, g, "max_port", "anchor.max_port", &maxp, 1024, 65535)) < 0 ||
        (rc = get_uint(l, g, "max_sessions", "anchor.max_sessions", &a->max_sessions, 1,
                       100000)) < 0 ||
        (rc = get_uint(l, g, "max_sessions_per_user", "anchor.max_sessions_per_user",
                       &a->max_sessions_per_user, 1, 100000)) < 0 ||
        (rc = get_uint(l, g, "setup_timeout", "anchor.setup_timeout", &a->setup_timeout, 2,
                       600)) < 0 ||
        (rc = get_uint(l, g, "threads", "anchor.threads", &a->threads, 1, 64)) < 0)
        return rc;
    if (a->inside_adv.family != a->inside.family || a->outside_adv.family != a->outside.family)
        return fail(l, g, "anchor", "an advertised address must have the family of its address");
    if (minp > maxp || maxp - minp < 1)
        return fail(l, config_setting_get_member(g, "min_port"), "anchor.min_port",
                    "the range %u-%u needs at least two ports", minp, maxp);
    if (minp <= c->max_port && maxp >= c->min_port)
        return fail(l, config_setting_get_member(g, "min_port"), "anchor.min_port",
                    "the range %u-%u overlaps relay.min_port-max_port %u-%u", minp, maxp,
                    c->min_port, c->max_port);
    a->min_port = (uint16_t)minp;
    a->max_port = (uint16_t)maxp;
    a->enabled = true;
    return 0;
}

bool se_config_rec_end_call(const struct se_config *c, bool record_required)
{
    if (c->rec_on_failure == SE_REC_ON_FAILURE_DEFAULT)
        return record_required;
    return c->rec_on_failure == SE_REC_ON_FAILURE_TERMINATE;
}

/* With recording.dir and no sign_key_file, recordings are signed with an
 * Ed25519 key next to the database, created on first use; retired keys
 * live in keyring_dir (default: recording-keys/ beside the key). */
static void recording_defaults(struct se_config *c)
{
    char base[SE_PATH_MAX];
    const char *slash;
    int n;

    if (c->rec_dir[0] && !c->rec_sign_key_file[0]) {
        slash = strrchr(c->database, '/');
        n = slash ? (int)(slash - c->database) : 1;
        snprintf(c->rec_sign_key_file, sizeof(c->rec_sign_key_file), "%.*s/recording-key.pem", n,
                 slash ? c->database : ".");
        c->rec_key_default = true;
    }
    if (c->rec_sign_key_file[0] && !c->rec_keyring_dir[0]) {
        snprintf(base, sizeof(base), "%s", c->rec_sign_key_file);
        char *s = strrchr(base, '/');
        if (s)
            *s = 0;
        snprintf(c->rec_keyring_dir, sizeof(c->rec_keyring_dir), "%.480s/recording-keys",
                 s ? base : ".");
    }
}

static int load(struct loader *l, config_t *cf, struct se_config *c)
{
    config_setting_t *root = config_root_setting(cf), *g;
    char lvl[16] = "", fmt[16] = "";
    unsigned workers = 0;
    int rc;

    for (int i = 0; i < config_setting_length(root); i++) {
        config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        const char *name = config_setting_name(s);
        bool known = false;
        for (int k = 0; known_top[k]; k++)
            known = known || strcmp(known_top[k], name) == 0;
        if (!known)
            return fail(l, s, name, "unknown setting");
    }
    if ((rc = get_str(l, root, "realm", "realm", c->realm, sizeof(c->realm), false)) < 0 ||
        (rc = get_str(l, root, "database", "database", c->database, sizeof(c->database), false)) <
            0 ||
        (rc = get_str(l, root, "software", "software", c->software, sizeof(c->software), false)) <
            0 ||
        (rc = get_str(l, root, "log_level", "log_level", lvl, sizeof(lvl), false)) < 0 ||
        (rc = get_str(l, root, "log_format", "log_format", fmt, sizeof(fmt), false)) < 0 ||
        (rc = get_uint(l, root, "workers", "workers", &workers, 0, 64)) < 0 ||
        (rc = get_str(l, root, "user", "user", c->run_user, sizeof(c->run_user), false)) < 0 ||
        (rc = get_str(l, root, "group", "group", c->run_group, sizeof(c->run_group), false)) < 0)
        return rc;
    if (!c->realm[0])
        return fail(l, config_setting_get_member(root, "realm"), "realm", "must not be empty");
    if (lvl[0] && (c->log_level = se_log_level_parse(lvl)) < 0)
        return fail(l, config_setting_get_member(root, "log_level"), "log_level",
                    "must be error, warn, info or debug");
    if (fmt[0] && (c->log_format = se_log_format_parse(fmt)) < 0)
        return fail(l, config_setting_get_member(root, "log_format"), "log_format",
                    "must be text or json");
    if ((rc = load_listen(l, cf, c)) < 0 || (rc = load_relay(l, cf, c)) < 0)
        return rc;

    g = config_lookup(cf, "tls");
    if (g && ((rc = get_str(l, g, "cert", "tls.cert", c->tls_cert, sizeof(c->tls_cert), true)) <
                  0 ||
              (rc = get_str(l, g, "key", "tls.key", c->tls_key, sizeof(c->tls_key), true)) < 0))
        return rc;
    for (int i = 0; i < c->n_listen; i++)
        if (c->listen[i].transport == SE_TP_TLS && !c->tls_cert[0])
            return fail(l, config_lookup(cf, "listen"), "tls",
                        "a tls listener needs tls = { cert = \"...\"; key = \"...\"; }");
    if (c->tls_cert[0] && access(c->tls_cert, R_OK) != 0)
        return fail(l, config_setting_get_member(g, "cert"), "tls.cert", "cannot read \"%s\"",
                    c->tls_cert);
    if (c->tls_key[0] && access(c->tls_key, R_OK) != 0)
        return fail(l, config_setting_get_member(g, "key"), "tls.key", "cannot read \"%s\"",
                    c->tls_key);

    g = config_lookup(cf, "peers");
    if ((rc = load_cidrs(l, g, "allow", "peers.allow", c->peer_allow)) < 0 ||
        (rc = load_cidrs(l, g, "deny", "peers.deny", c->peer_deny)) < 0)
        return rc;

    g = config_lookup(cf, "limits");
    if ((rc = get_uint(l, g, "max_allocations", "limits.max_allocations", &c->max_allocations, 1,
                       10000000)) < 0 ||
        (rc = get_uint(l, g, "max_allocations_per_user", "limits.max_allocations_per_user",
                       &c->max_allocations_per_user, 1, 10000000)) < 0 ||
        (rc = get_uint(l, g, "max_allocations_per_ip", "limits.max_allocations_per_ip",
                       &c->max_allocations_per_ip, 0, 10000000)) < 0 ||
        (rc = get_uint(l, g, "max_permissions", "limits.max_permissions", &c->max_permissions, 1,
                       1024)) < 0 ||
        (rc = get_uint(l, g, "max_channels", "limits.max_channels", &c->max_channels, 1,
                       4096)) < 0 ||
        (rc = get_uint(l, g, "default_lifetime", "limits.default_lifetime", &c->default_lifetime,
                       60, 86400)) < 0 ||
        (rc = get_uint(l, g, "max_lifetime", "limits.max_lifetime", &c->max_lifetime, 60,
                       86400)) < 0 ||
        (rc = get_uint(l, g, "drain_timeout", "limits.drain_timeout", &c->drain_timeout, 0,
                       3600)) < 0 ||
        (rc = get_uint(l, g, "stream_out_max", "limits.stream_out_max", &c->stream_out_max, 65536,
                       64 << 20)) < 0 ||
        (rc = get_uint(l, g, "max_connections", "limits.max_connections", &c->max_connections, 1,
                       1000000)) < 0 ||
        (rc = get_uint(l, g, "max_connections_per_ip", "limits.max_connections_per_ip",
                       &c->max_connections_per_ip, 0, 1000000)) < 0 ||
        (rc = get_uint(l, g, "tls_handshake_timeout", "limits.tls_handshake_timeout",
                       &c->tls_handshake_timeout, 1, 300)) < 0 ||
        (rc = get_uint(l, g, "stream_idle_timeout", "limits.stream_idle_timeout",
                       &c->stream_idle_timeout, 1, 86400)) < 0 ||
        (rc = get_uint(l, g, "stream_stall_timeout", "limits.stream_stall_timeout",
                       &c->stream_stall_timeout, 1, 86400)) < 0 ||
        (rc = get_uint(l, g, "allocate_rate_per_user", "limits.allocate_rate_per_user",
                       &c->allocate_rate_per_user, 0, 1000000)) < 0 ||
        (rc = get_uint(l, g, "allocate_burst_per_user", "limits.allocate_burst_per_user",
                       &c->allocate_burst_per_user, 1, 1000000)) < 0 ||
        (rc = get_uint(l, g, "tls_handshake_rate_per_ip", "limits.tls_handshake_rate_per_ip",
                       &c->tls_handshake_rate_per_ip, 0, 1000000)) < 0 ||
        (rc = get_uint(l, g, "tls_handshake_burst_per_ip", "limits.tls_handshake_burst_per_ip",
                       &c->tls_handshake_burst_per_ip, 1, 1000000)) < 0)
        return rc;
    if (c->default_lifetime > c->max_lifetime)
        return fail(l, config_setting_get_member(g, "default_lifetime"), "limits.default_lifetime",
                    "is above limits.max_lifetime");
    if ((rc = load_drain(l, cf, c)) < 0)
        return rc;

    g = config_lookup(cf, "auth");
    if ((rc = get_uint(l, g, "nonce_lifetime", "auth.nonce_lifetime", &c->nonce_lifetime, 5,
                       86400)) < 0 ||
        (rc = get_uint(l, g, "fail_limit", "auth.fail_limit", &c->auth_fail_limit, 0, 100000)) <
            0 ||
        (rc = get_uint(l, g, "fail_window", "auth.fail_window", &c->auth_fail_window, 1, 86400)) <
            0 ||
        (rc = get_uint(l, g, "block_time", "auth.block_time", &c->auth_block_time, 1, 86400)) <
            0 ||
        (rc = get_uint(l, g, "source_fail_limit", "auth.source_fail_limit",
                       &c->auth_source_fail_limit, 0, 1000000)) < 0 ||
        (rc = get_uint(l, g, "challenge_rate", "auth.challenge_rate", &c->challenge_rate, 0,
                       1000000)) < 0 ||
        (rc = get_bool(l, g, "security_features", "auth.security_features",
                       &c->security_features)) < 0)
        return rc;

    if ((rc = load_policy(l, cf, c)) < 0 || (rc = load_api(l, cf, c)) < 0 ||
        (rc = load_recording(l, cf, c)) < 0 || (rc = load_anchor(l, cf, c)) < 0)
        return rc;
    recording_defaults(c);

    if (workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        workers = n > 0 ? (unsigned)n : 1;
    }
    c->workers = (int)workers;
    return 0;
}

int se_config_load(const char *path, struct se_config **out, char *err, size_t errlen)
{
    struct loader l = {.file = path, .err = err, .errlen = errlen};
    struct se_config *c;
    config_t cf;
    int rc;

    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return SE_ERR_NOMEM;
    }
    snprintf(c->path, sizeof(c->path), "%s", path);
    c->peer_allow = se_cidr_set_new();
    c->peer_deny = se_cidr_set_new();
    set_defaults(c);
    config_init(&cf);
    /* libconfig says only "file I/O error": open it here to name why. */
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read file: %s", path, strerror(errno));
        rc = SE_ERR_CONFIG;
    } else if (config_read(&cf, f) != CONFIG_TRUE) {
        if (config_error_type(&cf) == CONFIG_ERR_FILE_IO)
            snprintf(err, errlen, "%s: cannot read file: %s", path, strerror(errno));
        else
            snprintf(err, errlen, "%s:%d: syntax error: %s", path, config_error_line(&cf),
                     config_error_text(&cf));
        rc = SE_ERR_CONFIG;
    } else if (!c->peer_allow || !c->peer_deny) {
        snprintf(err, errlen, "out of memory");
        rc = SE_ERR_NOMEM;
    } else {
        rc = load(&l, &cf, c);
    }
    config_destroy(&cf);
    if (f)
        fclose(f);
    if (rc < 0) {
        se_config_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void se_config_free(struct se_config *c)
{
    if (!c)
        return;
    se_cidr_set_free(c->peer_allow);
    se_cidr_set_free(c->peer_deny);
    for (int i = 0; i < c->n_listen; i++)
        se_cidr_set_free(c->listen[i].proxy_from);
    free(c);
}
