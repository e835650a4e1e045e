/*
 * test_stun.c - the STUN codec against RFC 5769 and RFC 8489 Appendix B
 * (with erratum 6268), plus builder round trips and hostile inputs.
 */
#include "auth/auth.h"
#include "core/addr.h"
#include "core/err.h"
#include "relay/stun.h"
#include "tests/unit/check.h"

#include <arpa/inet.h>
#include <stdlib.h>

/* RFC 5769 §2.1: short-term credential, password is the key. */
static const uint8_t req_5769[] = {
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
    0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74,
    0x65, 0x73, 0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e,
    0x00, 0x01, 0xff, 0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,
    0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20,
    0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e,
    0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5,
    0x7a, 0x3b, 0xcf};
static const char pw_5769[] = "VOkJxbRl1RmTxUk/WvJxBt";

/* RFC 5769 §2.2: IPv4 response, 192.0.2.1:32853. */
static const uint8_t resp4_5769[] = {
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
    0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76,
    0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1,
    0x12, 0xa6, 0x43, 0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3,
    0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00,
    0x04, 0xc0, 0x7d, 0x4c, 0x96};

/* RFC 5769 §2.3: IPv6 response, [2001:db8:1234:5678:11:2233:4455:6677]:32853. */
static const uint8_t resp6_5769[] = {
    0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
    0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76,
    0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01,
    0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9,
    0x00, 0x08, 0x00, 0x14, 0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1, 0x17, 0x84, 0xc9,
    0x7c, 0x82, 0x92, 0xc2, 0x75, 0xbf, 0xe3, 0xed, 0x41, 0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb,
    0x0b, 0x4c};

/* RFC 5769 §2.4: long-term credentials; user "マトリックス", realm
 * "example.org", password "The\u00ADM\u00AAtr\u2168" (SASLprep: "TheMatrIX"). */
static const uint8_t req_lt_5769[] = {
    0x00, 0x01, 0x00, 0x60, 0x21, 0x12, 0xa4, 0x42, 0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72,
    0xc0, 0x29, 0xda, 0x41, 0x2e, 0x00, 0x06, 0x00, 0x12, 0xe3, 0x83, 0x9e, 0xe3, 0x83, 0x88,
    0xe3, 0x83, 0xaa, 0xe3, 0x83, 0x83, 0xe3, 0x82, 0xaf, 0xe3, 0x82, 0xb9, 0x00, 0x00, 0x00,
    0x15, 0x00, 0x1c, 0x66, 0x2f, 0x2f, 0x34, 0x39, 0x39, 0x6b, 0x39, 0x35, 0x34, 0x64, 0x36,
    0x4f, 0x4c, 0x33, 0x34, 0x6f, 0x4c, 0x39, 0x46, 0x53, 0x54, 0x76, 0x79, 0x36, 0x34, 0x73,
    0x41, 0x00, 0x14, 0x00, 0x0b, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72,
    0x67, 0x00, 0x00, 0x08, 0x00, 0x14, 0xf6, 0x70, 0x24, 0x65, 0x6d, 0xd6, 0x4a, 0x3e, 0x02,
    0xb8, 0xe0, 0x71, 0x2e, 0x85, 0xc9, 0xa2, 0x8c, 0xa8, 0x96, 0x66};
static const char user_lt[] = "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";

/* RFC 8489 Appendix B.1 as corrected by erratum 6268: SHA-256 password
 * algorithm, USERHASH, MESSAGE-INTEGRITY-SHA256. */
static const uint8_t req_8489[] = {
    0x00, 0x01, 0x00, 0x90, 0x21, 0x12, 0xa4, 0x42, 0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72,
    0xc0, 0x29, 0xda, 0x41, 0x2e, 0x00, 0x1e, 0x00, 0x20, 0x4a, 0x3c, 0xf3, 0x8f, 0xef, 0x69,
    0x92, 0xbd, 0xa9, 0x52, 0xc6, 0x78, 0x04, 0x17, 0xda, 0x0f, 0x24, 0x81, 0x94, 0x15, 0x56,
    0x9e, 0x60, 0xb2, 0x05, 0xc4, 0x6e, 0x41, 0x40, 0x7f, 0x17, 0x04, 0x00, 0x15, 0x00, 0x29,
    0x6f, 0x62, 0x4d, 0x61, 0x74, 0x4a, 0x6f, 0x73, 0x32, 0x41, 0x41, 0x41, 0x43, 0x66, 0x2f,
    0x2f, 0x34, 0x39, 0x39, 0x6b, 0x39, 0x35, 0x34, 0x64, 0x36, 0x4f, 0x4c, 0x33, 0x34, 0x6f,
    0x4c, 0x39, 0x46, 0x53, 0x54, 0x76, 0x79, 0x36, 0x34, 0x73, 0x41, 0x00, 0x00, 0x00, 0x00,
    0x14, 0x00, 0x0b, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72, 0x67, 0x00,
    0x00, 0x1d, 0x00, 0x04, 0x00, 0x02, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x20, 0xb5, 0xc7, 0xbf,
    0x00, 0x5b, 0x6c, 0x52, 0xa2, 0x1c, 0x51, 0xc5, 0xe8, 0x92, 0xf8, 0x19, 0x24, 0x13, 0x62,
    0x96, 0xcb, 0x92, 0x7c, 0x43, 0x14, 0x93, 0x09, 0x27, 0x8c, 0xc6, 0x51, 0x8e, 0x65};

static void test_5769_request(void)
{
    struct stun_msg m;

    CHECK_EQ_INT(stun_parse(&m, req_5769, sizeof(req_5769)), 0);
    CHECK_EQ_INT(m.method, STUN_BINDING);
    CHECK_EQ_INT(m.cls, STUN_REQUEST);
    CHECK(m.mi >= 0 && m.fp >= 0);
    CHECK_EQ_INT(m.n_unknown, 0);
    const struct stun_attr *u = stun_find(&m, STUN_A_USERNAME);
    CHECK(u && u->len == 9 && memcmp(stun_attr_value(&m, u), "evtj:h6vY", 9) == 0);
    CHECK_EQ_INT(stun_check_integrity(&m, (const uint8_t *)pw_5769, strlen(pw_5769)), 0);
    CHECK_EQ_INT(stun_check_integrity(&m, (const uint8_t *)"wrong", 5), SE_ERR_AUTH);
}

static void check_response(const uint8_t *buf, size_t len, const char *ip)
{
    struct stun_msg m;
    struct se_addr a, want;
    char s[SE_ADDR_STRLEN];

    CHECK_EQ_INT(stun_parse(&m, buf, len), 0);
    CHECK_EQ_INT(m.cls, STUN_SUCCESS);
    const struct stun_attr *x = stun_find(&m, STUN_A_XOR_MAPPED_ADDRESS);
    CHECK(x != NULL);
    if (!x)
        return;
    CHECK_EQ_INT(stun_attr_xor_addr(&m, x, &a), 0);
    se_addr_parse_ip(&want, ip, 32853);
    CHECK(se_addr_eq(&a, &want));
    if (!se_addr_eq(&a, &want))
        printf("    got %s\n", se_addr_str(&a, s, sizeof(s)));
    CHECK_EQ_INT(stun_check_integrity(&m, (const uint8_t *)pw_5769, strlen(pw_5769)), 0);
}

static void test_5769_responses(void)
{
    check_response(resp4_5769, sizeof(resp4_5769), "192.0.2.1");
    check_response(resp6_5769, sizeof(resp6_5769), "2001:db8:1234:5678:11:2233:4455:6677");
}

static void test_5769_long_term(void)
{
    struct stun_msg m;
    uint8_t key[AUTH_MD5_KEY_LEN];

    CHECK_EQ_INT(stun_parse(&m, req_lt_5769, sizeof(req_lt_5769)), 0);
    CHECK_EQ_INT(auth_key_md5(user_lt, "example.org", "TheMatrIX", key), 0);
    CHECK_EQ_INT(stun_check_integrity(&m, key, sizeof(key)), 0);
    CHECK_EQ_INT(auth_key_md5(user_lt, "example.org", "TheMatrix", key), 0);
    CHECK_EQ_INT(stun_check_integrity(&m, key, sizeof(key)), SE_ERR_AUTH);
}

static void test_8489_sha256(void)
{
    struct stun_msg m;
    uint8_t key[AUTH_SHA256_KEY_LEN];

    CHECK_EQ_INT(stun_parse(&m, req_8489, sizeof(req_8489)), 0);
    CHECK(m.mi256 >= 0 && m.mi < 0);
    const struct stun_attr *pa = stun_find(&m, STUN_A_PASSWORD_ALGORITHM);
    CHECK(pa && pa->len == 4 && stun_attr_value(&m, pa)[1] == STUN_PWALG_SHA256);
    CHECK_EQ_INT(auth_key_sha256(user_lt, "example.org", "TheMatrIX", key), 0);
    CHECK_EQ_INT(stun_check_integrity(&m, key, sizeof(key)), 0);
    /* The MD5 key must not verify a SHA-256 algorithm message. */
    CHECK_EQ_INT(auth_key_md5(user_lt, "example.org", "TheMatrIX", key), 0);
    CHECK_EQ_INT(stun_check_integrity(&m, key, 16), SE_ERR_AUTH);
}

static void test_fingerprint(void)
{
    uint8_t bad[sizeof(req_5769)];
    struct stun_msg m;

    /* CRC-32 check value of "123456789" (ISO-HDLC). */
    CHECK_EQ_INT(stun_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
    memcpy(bad, req_5769, sizeof(bad));
    bad[sizeof(bad) - 1] ^= 1;
    CHECK_EQ_INT(stun_parse(&m, bad, sizeof(bad)), SE_ERR_PARSE);
}

static void test_build_roundtrip(void)
{
    uint8_t buf[512], tid[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    uint8_t key[16] = "0123456789abcdef";
    struct stun_builder b;
    struct stun_msg m;
    struct se_addr a6, a4, out;
    int n, code;

    se_addr_parse_ip(&a6, "2001:db8::1", 5000);
    se_addr_parse_ip(&a4, "203.0.113.9", 65535);
    stun_build_begin(&b, buf, sizeof(buf), TURN_ALLOCATE, STUN_ERROR, tid);
    stun_put_error(&b, 437, stun_reason(437));
    stun_put_xor_addr(&b, STUN_A_XOR_RELAYED_ADDRESS, &a6);
    stun_put_xor_addr(&b, STUN_A_XOR_MAPPED_ADDRESS, &a4);
    stun_put_u32(&b, STUN_A_LIFETIME, 600);
    stun_put_integrity(&b, key, sizeof(key));
    stun_put_integrity_sha256(&b, key, sizeof(key));
    stun_put_fingerprint(&b);
    n = stun_build_end(&b);
    CHECK(n > 0);
    CHECK_EQ_INT(stun_parse(&m, buf, (size_t)n), 0);
    CHECK_EQ_INT(m.method, TURN_ALLOCATE);
    CHECK_EQ_INT(m.cls, STUN_ERROR);
    CHECK_EQ_INT(stun_attr_error_code(&m, stun_find(&m, STUN_A_ERROR_CODE), &code), 0);
    CHECK_EQ_INT(code, 437);
    CHECK_EQ_INT(stun_attr_xor_addr(&m, stun_find(&m, STUN_A_XOR_RELAYED_ADDRESS), &out), 0);
    CHECK(se_addr_eq(&out, &a6));
    CHECK_EQ_INT(stun_attr_xor_addr(&m, stun_find(&m, STUN_A_XOR_MAPPED_ADDRESS), &out), 0);
    CHECK(se_addr_eq(&out, &a4));
    CHECK_EQ_INT(stun_check_integrity(&m, key, sizeof(key)), 0); /* uses SHA-256 */
    m.mi256 = -1;
    CHECK_EQ_INT(stun_check_integrity(&m, key, sizeof(key)), 0); /* and SHA-1 */
    /* Type encoding: Allocate error response is 0x0113 (RFC 8656 §17). */
    CHECK_EQ_INT(stun_msg_type(TURN_ALLOCATE, STUN_ERROR), 0x0113);
    CHECK_EQ_INT(stun_msg_type(TURN_DATA, STUN_INDICATION), 0x0017);
    /* Builder overflow is reported once, at the end. */
    stun_build_begin(&b, buf, 40, STUN_BINDING, STUN_SUCCESS, tid);
    stun_put_attr(&b, STUN_A_SOFTWARE, "a long software name", 20);
    CHECK_EQ_INT(stun_build_end(&b), SE_ERR_TOOBIG);
}

static void test_hostile(void)
{
    uint8_t buf[64];
    struct stun_msg m;

    /* too short, wrong cookie, length not /4, length past end, trailing. */
    memcpy(buf, req_5769, 20);
    CHECK_EQ_INT(stun_parse(&m, buf, 19), SE_ERR_TRUNC);
    buf[2] = 0;
    buf[3] = 0;
    CHECK_EQ_INT(stun_parse(&m, buf, 20), 0);
    CHECK_EQ_INT(stun_parse(&m, buf, 24), SE_ERR_PARSE);
    buf[3] = 2;
    CHECK_EQ_INT(stun_parse(&m, buf, 20), SE_ERR_PARSE);
    buf[3] = 8;
    CHECK_EQ_INT(stun_parse(&m, buf, 24), SE_ERR_TRUNC);
    /* attribute claiming more than the body */
    buf[3] = 8;
    buf[20] = 0x00; buf[21] = 0x06; buf[22] = 0x00; buf[23] = 0x09;
    memset(buf + 24, 'a', 4);
    CHECK_EQ_INT(stun_parse(&m, buf, 28), SE_ERR_PARSE);
    /* unknown comprehension-required attribute is reported, not fatal */
    buf[3] = 4;
    buf[20] = 0x00; buf[21] = 0x7f; buf[22] = 0x00; buf[23] = 0x00;
    CHECK_EQ_INT(stun_parse(&m, buf, 24), 0);
    CHECK_EQ_INT(m.n_unknown, 1);
    CHECK_EQ_INT(m.unknown[0], 0x007f);
    buf[4] = 0;
    CHECK_EQ_INT(stun_parse(&m, buf, 24), SE_ERR_PARSE);
    /* first two bits set: ChannelData, not STUN */
    buf[0] = 0x40;
    CHECK(!stun_is_stun(buf, 24));
}


/*
 * Messages at the size limit: a stream frame may carry a 65 555-byte
 * message (16-bit body length plus the header), so attribute offsets
 * pass 65 535. Issue 11: a 16-bit offset wrapped to 0 and FINGERPRINT's
 * CRC then ran over 4 GiB, and MESSAGE-INTEGRITY-SHA256 (16 bytes) at
 * the end sent the HMAC past the buffer. Heap copies so ASan sees any
 * read past the end.
 */
static uint8_t *big_msg(size_t opt_len, uint16_t tail_type, size_t tail_len, size_t *total)
{
    size_t body = 4 + opt_len + 4 + tail_len;
    uint8_t *b = calloc(1, STUN_HEADER_LEN + body);
    size_t p = STUN_HEADER_LEN;

    b[1] = 0x01; /* Binding request */
    b[2] = (uint8_t)(body >> 8);
    b[3] = (uint8_t)body;
    b[4] = 0x21; b[5] = 0x12; b[6] = 0xa4; b[7] = 0x42;
    memset(b + 8, 0x5a, 12);
    b[p] = 0x80; b[p + 1] = 0x30; /* comprehension-optional, unknown */
    b[p + 2] = (uint8_t)(opt_len >> 8);
    b[p + 3] = (uint8_t)opt_len;
    memset(b + p + 4, 'x', opt_len);
    p += 4 + opt_len;
    b[p] = (uint8_t)(tail_type >> 8);
    b[p + 1] = (uint8_t)tail_type;
    b[p + 3] = (uint8_t)tail_len;
    p += 4 + tail_len;
    if (tail_type == STUN_A_FINGERPRINT) {
        uint32_t crc = stun_crc32(b, p - 8) ^ STUN_FINGERPRINT_XOR;
        b[p - 4] = (uint8_t)(crc >> 24);
        b[p - 3] = (uint8_t)(crc >> 16);
        b[p - 2] = (uint8_t)(crc >> 8);
        b[p - 1] = (uint8_t)crc;
    }
    *total = p;
    return b;
}

static void test_max_size(void)
{
    static const uint8_t key[16] = "0123456789abcdef";
    struct stun_msg m;
    size_t n;
    uint8_t *b;

    /* 65 508-byte attribute + FINGERPRINT: FINGERPRINT's value at 65 536. */
    b = big_msg(65508, STUN_A_FINGERPRINT, 4, &n);
    CHECK_EQ_INT(n, 65540);
    CHECK_EQ_INT(stun_parse(&m, b, n), 0);
    CHECK(m.fp >= 0);
    CHECK_EQ_INT(m.attrs[m.fp].off, 65536);
    b[n - 1] ^= 1;
    CHECK_EQ_INT(stun_parse(&m, b, n), SE_ERR_PARSE); /* the CRC is really checked */
    free(b);

    /* MESSAGE-INTEGRITY-SHA256 of 16 bytes whose value starts at 65 536:
     * the largest message there is (a body of 65 532 bytes, the largest
     * multiple of 4). */
    b = big_msg(65508, STUN_A_MESSAGE_INTEGRITY_SHA256, 16, &n);
    CHECK_EQ_INT(n, 65552);
    CHECK_EQ_INT(stun_parse(&m, b, n), 0);
    CHECK(m.mi256 >= 0);
    CHECK_EQ_INT(m.attrs[m.mi256].off, 65536);
    CHECK_EQ_INT(stun_check_integrity(&m, key, sizeof(key)), SE_ERR_AUTH);
    free(b);

    /* The builder reaches the same limit: a 65 552-byte message
     * round-trips with integrity and FINGERPRINT; a longer one is refused. */
    uint8_t *out = malloc(STUN_MAX_MSG + 64), *val = calloc(1, 65535);
    uint8_t tid[12] = {9};
    struct stun_builder sb;
    stun_build_begin(&sb, out, STUN_MAX_MSG + 64, STUN_BINDING, STUN_SUCCESS, tid);
    stun_put_attr(&sb, 0x8030, val, 65496);
    stun_put_integrity(&sb, key, sizeof(key));
    stun_put_fingerprint(&sb);
    CHECK_EQ_INT(stun_build_end(&sb), 65552);
    CHECK_EQ_INT(stun_parse(&m, out, (size_t)stun_build_end(&sb)), 0);
    CHECK_EQ_INT(stun_check_integrity(&m, key, sizeof(key)), 0);
    stun_build_begin(&sb, out, STUN_MAX_MSG + 64, STUN_BINDING, STUN_SUCCESS, tid);
    stun_put_attr(&sb, 0x8030, val, 65532);
    CHECK_EQ_INT(stun_build_end(&sb), SE_ERR_TOOBIG);
    free(out);
    free(val);
}

int main(void)
{
    RUN(test_5769_request);
    RUN(test_5769_responses);
    RUN(test_5769_long_term);
    RUN(test_8489_sha256);
    RUN(test_fingerprint);
    RUN(test_build_roundtrip);
    RUN(test_hostile);
    RUN(test_max_size);
    return check_done();
}
