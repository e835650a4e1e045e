/*
 * proxyproto.c - PROXY protocol v1 (text) and v2 (binary) headers.
 *
 * Both parsers are bounded readers over what has arrived so far. A short
 * buffer is "need more" only while every byte seen still matches a valid
 * header; anything else is an error at once, so a client that is not a
 * load balancer cannot hold a connection by trickling bytes (the caller
 * also bounds the wait with its handshake timeout).
 *
 * v1: "PROXY TCP4|TCP6|UNKNOWN src dst sport dport\r\n", at most 107
 * bytes; addresses must be in canonical form of their family, ports
 * decimal 0-65535 without leading zeros (the spec's own rules).
 * v2: 12-byte signature, version 2, command LOCAL or PROXY, family and
 * protocol, 16-bit length; address blocks of 12 (IPv4) or 36 (IPv6)
 * bytes, then TLVs (type, 16-bit length, value) that must tile the rest.
 */
#include "relay/proxyproto.h"
#include "core/err.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

static const uint8_t v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                   0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const char v1_tag[] = "PROXY ";

enum { V2_CMD_LOCAL = 0x0, V2_CMD_PROXY = 0x1 };
enum { V2_AF_UNSPEC = 0x0, V2_AF_INET = 0x1, V2_AF_INET6 = 0x2, V2_AF_UNIX = 0x3 };
enum { V2_PROTO_UNSPEC = 0x0, V2_PROTO_STREAM = 0x1, V2_PROTO_DGRAM = 0x2 };

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Decimal port, 0-65535, no sign, no leading zero (except "0"). */
static int parse_port(const char *s, size_t n, uint16_t *out)
{
    unsigned v = 0;

    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return SE_ERR_PARSE;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return SE_ERR_PARSE;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return SE_ERR_PARSE;
    *out = (uint16_t)v;
    return 0;
}

/* An address of the family the line named, in inet_pton's strict form. */
static int parse_ip(const char *s, size_t n, int family, struct se_addr *a)
{
    char tmp[INET6_ADDRSTRLEN];

    if (n == 0 || n >= sizeof(tmp))
        return SE_ERR_PARSE;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (se_addr_parse_ip(a, tmp, 0) < 0 || a->family != family)
        return SE_ERR_PARSE;
    return 0;
}

static int parse_v1(const uint8_t *buf, size_t len, struct proxy_info *out)
{
    const char *line = (const char *)buf;
    const char *f[6];
    size_t fl[6], eol = 0, nf = 0, start;
    int family;

    /* Find CRLF within the bound; a lone CR/LF or NUL is fatal. */
    for (size_t i = 0; i < len && i < PROXY_V1_MAX; i++) {
        if (buf[i] == '\r') {
            if (i + 1 >= len)
                return 0;
            if (buf[i + 1] != '\n')
                return SE_ERR_PARSE;
            eol = i;
            break;
        }
        if (buf[i] == '\n' || buf[i] == '\0')
            return SE_ERR_PARSE;
    }
    if (!eol)
        return len < PROXY_V1_MAX ? 0 : SE_ERR_PARSE;

    /* Split "PROXY" and up to five fields on single spaces. */
    start = 0;
    for (size_t i = 0; i <= eol; i++) {
        if (i == eol || line[i] == ' ') {
            if (nf == 6 || i == start)
                return SE_ERR_PARSE;
            f[nf] = line + start;
            fl[nf++] = i - start;
            start = i + 1;
        }
    }
    memset(out, 0, sizeof(*out));
    out->version = 1;
    out->sock_type = SOCK_STREAM;
    if (fl[0] != 5 || memcmp(f[0], "PROXY", 5) != 0 || nf < 2)
        return SE_ERR_PARSE;
    if (fl[1] == 7 && memcmp(f[1], "UNKNOWN", 7) == 0) {
        out->local = true; /* the rest of the line is to be ignored (§2.1) */
        return (int)(eol + 2);
    }
    if (fl[1] == 4 && memcmp(f[1], "TCP4", 4) == 0)
        family = AF_INET;
    else if (fl[1] == 4 && memcmp(f[1], "TCP6", 4) == 0)
        family = AF_INET6;
    else
        return SE_ERR_PARSE;
    if (nf != 6 || parse_ip(f[2], fl[2], family, &out->src) < 0 ||
        parse_ip(f[3], fl[3], family, &out->dst) < 0 ||
        parse_port(f[4], fl[4], &out->src.port) < 0 || parse_port(f[5], fl[5], &out->dst.port) < 0)
        return SE_ERR_PARSE;
    return (int)(eol + 2);
}

static void set_v4(struct se_addr *a, const uint8_t *ip, const uint8_t *port)
{
    memset(a, 0, sizeof(*a));
    a->ip[10] = a->ip[11] = 0xff;
    memcpy(a->ip + 12, ip, 4);
    a->port = rd16(port);
    a->family = AF_INET;
}

static void set_v6(struct se_addr *a, const uint8_t *ip, const uint8_t *port)
{
    memset(a, 0, sizeof(*a));
    memcpy(a->ip, ip, 16);
    a->port = rd16(port);
    a->family = AF_INET6;
}

/* TLVs must tile [p, end) exactly; their contents are not used. */
static int check_tlvs(const uint8_t *p, const uint8_t *end)
{
    while (p < end) {
        if (end - p < 3)
            return SE_ERR_PARSE;
        size_t vlen = rd16(p + 1);
        if ((size_t)(end - p - 3) < vlen)
            return SE_ERR_PARSE;
        p += 3 + vlen;
    }
    return 0;
}

static int parse_v2(const uint8_t *buf, size_t len, struct proxy_info *out)
{
    size_t body, total, need;
    uint8_t cmd, af, proto;
    const uint8_t *a;

    if (len < PROXY_V2_FIXED)
        return 0;
    if ((buf[12] >> 4) != 2)
        return SE_ERR_PARSE;
    cmd = buf[12] & 0x0F;
    af = buf[13] >> 4;
    proto = buf[13] & 0x0F;
    if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
        return SE_ERR_PARSE;
    if (af > V2_AF_UNIX || proto > V2_PROTO_DGRAM)
        return SE_ERR_PARSE;
    body = rd16(buf + 14);
    total = PROXY_V2_FIXED + body;
    if (len < total)
        return 0;
    memset(out, 0, sizeof(*out));
    out->version = 2;
    out->sock_type = proto == V2_PROTO_DGRAM ? SOCK_DGRAM : SOCK_STREAM;
    a = buf + PROXY_V2_FIXED;
    need = af == V2_AF_INET ? 12 : af == V2_AF_INET6 ? 36 : af == V2_AF_UNIX ? 216 : 0;
    if (body < need)
        return SE_ERR_PARSE;
    if (check_tlvs(a + need, buf + total) < 0)
        return SE_ERR_PARSE;
    /* LOCAL (health checks from the proxy itself), UNSPEC and unix
     * sockets carry no client address sedge can use. */
    if (cmd == V2_CMD_LOCAL || af == V2_AF_UNSPEC || af == V2_AF_UNIX ||
        proto == V2_PROTO_UNSPEC) {
        out->local = true;
        return (int)total;
    }
    if (af == V2_AF_INET) {
        set_v4(&out->src, a, a + 8);
        set_v4(&out->dst, a + 4, a + 10);
    } else {
        set_v6(&out->src, a, a + 32);
        set_v6(&out->dst, a + 16, a + 34);
    }
    return (int)total;
}

int proxy_parse(const uint8_t *buf, size_t len, struct proxy_info *out)
{
    size_t n;

    if (len == 0)
        return 0;
    /* Compare what we have against each signature's prefix. */
    n = len < sizeof(v2_sig) ? len : sizeof(v2_sig);
    if (memcmp(buf, v2_sig, n) == 0)
        return len < sizeof(v2_sig) ? 0 : parse_v2(buf, len, out);
    n = len < sizeof(v1_tag) - 1 ? len : sizeof(v1_tag) - 1;
    if (memcmp(buf, v1_tag, n) == 0)
        return len < sizeof(v1_tag) - 1 ? 0 : parse_v1(buf, len, out);
    return SE_ERR_PARSE;
}
