/*
 * test_proxyproto.c - PROXY protocol v1/v2 headers, with the examples of
 * HAProxy's proxy-protocol.txt and the malformed cases a hostile client
 * (not a load balancer) would send.
 */
#include "core/addr.h"
#include "core/err.h"
#include "relay/proxyproto.h"
#include "tests/unit/check.h"

#include <sys/socket.h>

static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

static int parse_str(const char *s, struct proxy_info *pi)
{
    return proxy_parse((const uint8_t *)s, strlen(s), pi);
}

static void addr_is(const struct se_addr *a, const char *want)
{
    char buf[SE_ADDR_STRLEN];
    CHECK_STR(se_addr_str(a, buf, sizeof(buf)), want);
}

static void test_v1_tcp4(void)
{
    struct proxy_info pi;
    const char *h = "PROXY TCP4 192.0.2.7 203.0.113.10 56324 443\r\nGET";
    CHECK_EQ_INT(parse_str(h, &pi), (int)strlen(h) - 3);
    CHECK_EQ_INT(pi.version, 1);
    CHECK(!pi.local);
    addr_is(&pi.src, "192.0.2.7:56324");
    addr_is(&pi.dst, "203.0.113.10:443");
}

static void test_v1_tcp6_and_unknown(void)
{
    struct proxy_info pi;
    /* The spec's worst case, 107 bytes with CRLF. */
    const char *worst = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    CHECK_EQ_INT(strlen(worst), PROXY_V1_MAX);
    CHECK_EQ_INT(parse_str(worst, &pi), PROXY_V1_MAX);
    CHECK(pi.local);
    CHECK_EQ_INT(parse_str("PROXY UNKNOWN\r\n", &pi), 15);
    CHECK(pi.local);
    CHECK_EQ_INT(parse_str("PROXY TCP6 2001:db8::1 2001:db8::2 65535 0\r\n", &pi), 44);
    addr_is(&pi.src, "[2001:db8::1]:65535");
    addr_is(&pi.dst, "[2001:db8::2]:0");
}

static void test_v1_incomplete_and_bad(void)
{
    struct proxy_info pi;
    CHECK_EQ_INT(parse_str("PRO", &pi), 0);
    CHECK_EQ_INT(parse_str("PROXY TCP4 192.0.2.7 203.0.113.10 56324 443\r", &pi), 0);
    CHECK_EQ_INT(parse_str("PROXY TCP4 192.0.2.7 203.0.113.10 56324 443", &pi), 0);
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\n",
        "\x16\x03\x01\x02\x00",                                  /* a TLS ClientHello */
        "PROXY TCP4 192.0.2.7 203.0.113.10 56324 443\n",         /* LF without CR */
        "PROXY TCP4 192.0.2.7 203.0.113.10 56324 443\rX",
        "PROXY TCP4 192.0.2.7 203.0.113.10 056324 443\r\n",      /* leading zero */
        "PROXY TCP4 192.0.2.7 203.0.113.10 65536 443\r\n",       /* port range */
        "PROXY TCP4 192.0.2.7 203.0.113.10 -1 443\r\n",
        "PROXY TCP4 2001:db8::1 203.0.113.10 1 443\r\n",         /* family mismatch */
        "PROXY TCP6 192.0.2.7 2001:db8::2 1 443\r\n",
        "PROXY TCP4 192.0.2.7  203.0.113.10 1 443\r\n",          /* double space */
        "PROXY TCP4 192.0.2.7 203.0.113.10 1 443 x\r\n",         /* extra field */
        "PROXY TCP4 192.0.2.7 203.0.113.10 1\r\n",               /* missing field */
        "PROXY UDP4 192.0.2.7 203.0.113.10 1 2\r\n",
        "PROXY TCP4 192.0.2.7\0 203.0.113.10 1 2\r\n",
        "PROXY TCP4 999.0.2.7 203.0.113.10 1 2\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = strlen(bad[i]);
        if (i == 13)
            n = 40; /* the NUL and what follows it */
        int rc = proxy_parse((const uint8_t *)bad[i], n, &pi);
        if (rc != SE_ERR_PARSE)
            printf("    case %zu: rc %d\n", i, rc);
        CHECK_EQ_INT(rc, SE_ERR_PARSE);
    }
    /* 107 bytes without CRLF: over the bound, not "need more". */
    char longline[PROXY_V1_MAX + 1];
    memcpy(longline, "PROXY TCP4 ", 11);
    memset(longline + 11, '1', sizeof(longline) - 11);
    CHECK_EQ_INT(proxy_parse((uint8_t *)longline, sizeof(longline), &pi), SE_ERR_PARSE);
}

static size_t v2(uint8_t *b, uint8_t vercmd, uint8_t fam, const uint8_t *addr, size_t alen,
                 size_t tlv_pad)
{
    memcpy(b, sig, 12);
    b[12] = vercmd;
    b[13] = fam;
    size_t body = alen + tlv_pad;
    b[14] = (uint8_t)(body >> 8);
    b[15] = (uint8_t)body;
    if (alen) /* addr may be NULL for LOCAL/UNSPEC */
        memcpy(b + 16, addr, alen);
    if (tlv_pad) { /* one NOOP TLV (type 0x04) filling the rest */
        b[16 + alen] = 0x04;
        b[17 + alen] = (uint8_t)((tlv_pad - 3) >> 8);
        b[18 + alen] = (uint8_t)(tlv_pad - 3);
        memset(b + 19 + alen, 0, tlv_pad - 3);
    }
    return 16 + body;
}

static void test_v2(void)
{
    static uint8_t b[PROXY_V2_MAX];
    struct proxy_info pi;
    const uint8_t a4[12] = {192, 0, 2, 7, 203, 0, 113, 10, 0xDC, 0x04, 0x01, 0xBB};
    size_t n = v2(b, 0x21, 0x11, a4, sizeof(a4), 0);
    CHECK_EQ_INT(n, 28);
    CHECK_EQ_INT(proxy_parse(b, n + 5, &pi), 28);
    CHECK_EQ_INT(pi.version, 2);
    CHECK(!pi.local);
    CHECK_EQ_INT(pi.sock_type, SOCK_STREAM);
    addr_is(&pi.src, "192.0.2.7:56324");
    addr_is(&pi.dst, "203.0.113.10:443");
    for (size_t k = 0; k < n; k++) /* every prefix asks for more */
        CHECK_EQ_INT(proxy_parse(b, k, &pi), 0);

    uint8_t a6[36] = {0};
    a6[0] = 0x20, a6[1] = 0x01, a6[2] = 0x0d, a6[3] = 0xb8, a6[15] = 1;
    a6[16] = 0x20, a6[17] = 0x01, a6[18] = 0x0d, a6[19] = 0xb8, a6[31] = 2;
    a6[32] = 0x12, a6[33] = 0x34, a6[34] = 0x00, a6[35] = 0x50;
    n = v2(b, 0x21, 0x22, a6, sizeof(a6), 0); /* UDP over IPv6 */
    CHECK_EQ_INT(proxy_parse(b, n, &pi), 52);
    CHECK_EQ_INT(pi.sock_type, SOCK_DGRAM);
    addr_is(&pi.src, "[2001:db8::1]:4660");
    addr_is(&pi.dst, "[2001:db8::2]:80");

    /* LOCAL: a health check from the proxy, no addresses. */
    n = v2(b, 0x20, 0x00, NULL, 0, 0);
    CHECK_EQ_INT(proxy_parse(b, n, &pi), 16);
    CHECK(pi.local);

    /* The largest header there is: 64 KiB of TLVs after IPv4. */
    n = v2(b, 0x21, 0x11, a4, sizeof(a4), 65535 - sizeof(a4));
    CHECK_EQ_INT(n, PROXY_V2_MAX);
    CHECK_EQ_INT(proxy_parse(b, n, &pi), PROXY_V2_MAX);
    CHECK_EQ_INT(proxy_parse(b, n - 1, &pi), 0);
}

static void test_v2_bad(void)
{
    static uint8_t b[256];
    struct proxy_info pi;
    const uint8_t a4[12] = {192, 0, 2, 7, 203, 0, 113, 10, 0, 1, 0, 2};
    size_t n;

    n = v2(b, 0x11, 0x11, a4, sizeof(a4), 0); /* version 1 in a v2 header */
    CHECK_EQ_INT(proxy_parse(b, n, &pi), SE_ERR_PARSE);
    n = v2(b, 0x22, 0x11, a4, sizeof(a4), 0); /* command 2 */
    CHECK_EQ_INT(proxy_parse(b, n, &pi), SE_ERR_PARSE);
    n = v2(b, 0x21, 0x41, a4, sizeof(a4), 0); /* family 4 */
    CHECK_EQ_INT(proxy_parse(b, n, &pi), SE_ERR_PARSE);
    n = v2(b, 0x21, 0x21, a4, sizeof(a4), 0); /* IPv6 family, 12-byte block */
    CHECK_EQ_INT(proxy_parse(b, n, &pi), SE_ERR_PARSE);
    n = v2(b, 0x21, 0x11, a4, sizeof(a4), 8);
    b[17 + sizeof(a4)] = 0xFF; /* TLV longer than the header */
    CHECK_EQ_INT(proxy_parse(b, n, &pi), SE_ERR_PARSE);
    n = v2(b, 0x21, 0x11, a4, sizeof(a4), 0);
    b[14] = 0, b[15] = 14; /* two stray bytes: not a TLV */
    CHECK_EQ_INT(proxy_parse(b, n + 2, &pi), SE_ERR_PARSE);
    memcpy(b, sig, 12);
    b[5] = 0x0E; /* signature mismatch */
    CHECK_EQ_INT(proxy_parse(b, 16, &pi), SE_ERR_PARSE);
}

int main(void)
{
    RUN(test_v1_tcp4);
    RUN(test_v1_tcp6_and_unknown);
    RUN(test_v1_incomplete_and_bad);
    RUN(test_v2);
    RUN(test_v2_bad);
    return check_done();
}
