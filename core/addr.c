/*
 * addr.c - se_addr conversions and CIDR sets.
 *
 * IPv4 is always held as ::ffff:a.b.c.d so that matching and hashing are
 * one code path; the family field remembers what the wire carried.
 */
#include "core/addr.h"
#include "core/err.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int se_addr_from_sockaddr(struct se_addr *a, const struct sockaddr *sa)
{
    memset(a, 0, sizeof(*a));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        memcpy(a->ip, v4mapped_prefix, 12);
        memcpy(a->ip + 12, &in->sin_addr, 4);
        a->port = ntohs(in->sin_port);
        a->family = AF_INET;
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        memcpy(a->ip, &in6->sin6_addr, 16);
        a->port = ntohs(in6->sin6_port);
        a->family = AF_INET6;
        return 0;
    }
    return SE_ERR_INVAL;
}

socklen_t se_addr_to_sockaddr(const struct se_addr *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(struct sockaddr_in6));
    if (a->family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(a->port);
        memcpy(&in->sin_addr, a->ip + 12, 4);
        return sizeof(*in);
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(a->port);
    memcpy(&in6->sin6_addr, a->ip, 16);
    return sizeof(*in6);
}

int se_addr_parse_ip(struct se_addr *a, const char *text, uint16_t port)
{
    struct in_addr v4;
    struct in6_addr v6;

    memset(a, 0, sizeof(*a));
    a->port = port;
    if (inet_pton(AF_INET, text, &v4) == 1) {
        memcpy(a->ip, v4mapped_prefix, 12);
        memcpy(a->ip + 12, &v4, 4);
        a->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, text, &v6) == 1) {
        memcpy(a->ip, &v6, 16);
        a->family = AF_INET6;
        return 0;
    }
    return SE_ERR_PARSE;
}

bool se_addr_is_v4(const struct se_addr *a)
{
    return a->family == AF_INET;
}

const char *se_addr_ip_str(const struct se_addr *a, char *buf, size_t len)
{
    if (a->family == AF_INET) {
        if (!inet_ntop(AF_INET, a->ip + 12, buf, (socklen_t)len))
            snprintf(buf, len, "?");
    } else if (!inet_ntop(AF_INET6, a->ip, buf, (socklen_t)len)) {
        snprintf(buf, len, "?");
    }
    return buf;
}

const char *se_addr_str(const struct se_addr *a, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN];

    se_addr_ip_str(a, ip, sizeof(ip));
    if (a->family == AF_INET)
        snprintf(buf, len, "%s:%u", ip, a->port);
    else
        snprintf(buf, len, "[%s]:%u", ip, a->port);
    return buf;
}

bool se_addr_ip_eq(const struct se_addr *a, const struct se_addr *b)
{
    return memcmp(a->ip, b->ip, 16) == 0;
}

bool se_addr_eq(const struct se_addr *a, const struct se_addr *b)
{
    return a->port == b->port && memcmp(a->ip, b->ip, 16) == 0;
}

uint32_t se_addr_hash(const struct se_addr *a, uint32_t seed)
{
    uint32_t h = 2166136261u ^ seed;

    for (int i = 0; i < 16; i++)
        h = (h ^ a->ip[i]) * 16777619u;
    h = (h ^ (a->port & 0xff)) * 16777619u;
    h = (h ^ (a->port >> 8)) * 16777619u;
    return h;
}

/* ---- CIDR ---- */

struct se_cidr_set {
    struct se_cidr *v;
    size_t n, cap;
};

int se_cidr_parse(struct se_cidr *c, const char *text)
{
    char buf[INET6_ADDRSTRLEN + 8];
    const char *slash;
    struct se_addr a;
    long prefix = -1;
    size_t iplen;

    slash = strchr(text, '/');
    iplen = slash ? (size_t)(slash - text) : strlen(text);
    if (iplen == 0 || iplen >= sizeof(buf))
        return SE_ERR_PARSE;
    memcpy(buf, text, iplen);
    buf[iplen] = '\0';
    if (se_addr_parse_ip(&a, buf, 0) < 0)
        return SE_ERR_PARSE;
    if (slash) {
        char *end;
        if (slash[1] < '0' || slash[1] > '9')
            return SE_ERR_PARSE;
        prefix = strtol(slash + 1, &end, 10);
        if (*end != '\0')
            return SE_ERR_PARSE;
    }
    if (a.family == AF_INET) {
        if (prefix > 32)
            return SE_ERR_PARSE;
        prefix = prefix < 0 ? 128 : prefix + 96;
    } else {
        if (prefix > 128)
            return SE_ERR_PARSE;
        if (prefix < 0)
            prefix = 128;
    }
    memset(c, 0, sizeof(*c));
    c->prefix = (uint8_t)prefix;
    /* Keep only the network bits so that equal prefixes compare equal. */
    for (int i = 0; i < 16; i++) {
        int bits = c->prefix - i * 8;
        uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
        c->ip[i] = a.ip[i] & mask;
    }
    return 0;
}

bool se_cidr_contains(const struct se_cidr *c, const uint8_t ip[16])
{
    int full = c->prefix / 8, rem = c->prefix % 8;

    if (memcmp(c->ip, ip, (size_t)full) != 0)
        return false;
    if (rem == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rem));
    return (ip[full] & mask) == c->ip[full];
}

struct se_cidr_set *se_cidr_set_new(void)
{
    return calloc(1, sizeof(struct se_cidr_set));
}

void se_cidr_set_free(struct se_cidr_set *s)
{
    if (!s)
        return;
    free(s->v);
    free(s);
}

struct se_cidr_set *se_cidr_set_dup(const struct se_cidr_set *s)
{
    struct se_cidr_set *d = se_cidr_set_new();

    for (size_t i = 0; d && s && i < s->n; i++) {
        if (se_cidr_set_add(d, &s->v[i]) < 0) {
            se_cidr_set_free(d);
            return NULL;
        }
    }
    return d;
}

int se_cidr_set_add(struct se_cidr_set *s, const struct se_cidr *c)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct se_cidr *v = realloc(s->v, cap * sizeof(*v));
        if (!v)
            return SE_ERR_NOMEM;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = *c;
    return 0;
}

int se_cidr_set_add_text(struct se_cidr_set *s, const char *text)
{
    struct se_cidr c;

    if (se_cidr_parse(&c, text) < 0)
        return SE_ERR_PARSE;
    return se_cidr_set_add(s, &c);
}

size_t se_cidr_set_count(const struct se_cidr_set *s)
{
    return s ? s->n : 0;
}

bool se_cidr_set_contains(const struct se_cidr_set *s, const uint8_t ip[16])
{
    if (!s)
        return false;
    for (size_t i = 0; i < s->n; i++)
        if (se_cidr_contains(&s->v[i], ip))
            return true;
    return false;
}
