/*
 * test_auth.c - nonces, TURN REST credentials, the credential snapshot and
 * the failed-auth throttle.
 */
#include "auth/auth.h"
#include "core/addr.h"
#include "core/err.h"
#include "tests/unit/check.h"

static void test_nonce(void)
{
    struct auth_nonce_key k, k2;
    struct se_addr a, b;
    char n[AUTH_NONCE_MAX];
    int len;

    CHECK_EQ_INT(auth_nonce_key_init(&k), 0);
    CHECK_EQ_INT(auth_nonce_key_init(&k2), 0);
    se_addr_parse_ip(&a, "198.51.100.7", 1234);
    se_addr_parse_ip(&b, "198.51.100.8", 1234);
    len = auth_nonce_make(&k, &a, 1000, 600, false, n, sizeof(n));
    CHECK(len > 0);
    CHECK_EQ_INT(auth_nonce_check(&k, &a, 1000, n, (size_t)len), 0);
    CHECK_EQ_INT(auth_nonce_check(&k, &a, 1600, n, (size_t)len), 0);     /* last second */
    CHECK_EQ_INT(auth_nonce_check(&k, &a, 1601, n, (size_t)len), SE_ERR_STALE);
    CHECK_EQ_INT(auth_nonce_check(&k, &b, 1000, n, (size_t)len), SE_ERR_AUTH); /* other IP */
    CHECK_EQ_INT(auth_nonce_check(&k2, &a, 1000, n, (size_t)len), SE_ERR_AUTH); /* other key */
    n[3] ^= 1;
    CHECK_EQ_INT(auth_nonce_check(&k, &a, 1000, n, (size_t)len), SE_ERR_AUTH);
    CHECK_EQ_INT(auth_nonce_check(&k, &a, 1000, "short", 5), SE_ERR_AUTH);
    /* RFC 8489 §9.2 cookie: "obMatJos2" + base64 features, bit 0 set. */
    len = auth_nonce_make(&k, &a, 1000, 600, true, n, sizeof(n));
    CHECK(len > 13 && memcmp(n, "obMatJos2AAAB", 13) == 0);
    CHECK(auth_nonce_has_features(n, (size_t)len));
    CHECK_EQ_INT(auth_nonce_check(&k, &a, 1000, n, (size_t)len), 0);
}

static void test_rest(void)
{
    struct auth_rest_name r;
    char pw[64];

    CHECK_EQ_INT(auth_rest_parse("1700000000:alice", 16, &r), 0);
    CHECK_EQ_INT(r.expiry, 1700000000);
    CHECK(r.user_len == 5 && memcmp(r.user, "alice", 5) == 0 && r.origin == NULL);
    CHECK_EQ_INT(auth_rest_parse("1700000000:alice:meet-1", 23, &r), 0);
    CHECK(r.origin && r.origin_len == 6 && memcmp(r.origin, "meet-1", 6) == 0);
    CHECK_EQ_INT(auth_rest_parse("alice", 5, &r), SE_ERR_PARSE);
    CHECK_EQ_INT(auth_rest_parse("17:", 3, &r), SE_ERR_PARSE);
    CHECK_EQ_INT(auth_rest_parse(":alice", 6, &r), SE_ERR_PARSE);
    CHECK_EQ_INT(auth_rest_parse("17:alice:", 9, &r), SE_ERR_PARSE);
    CHECK_EQ_INT(auth_rest_parse("99999999999999999999999:a", 25, &r), SE_ERR_PARSE);
    /* base64(HMAC-SHA1("secret", "1700000000:alice")), computed independently
     * with: printf %s 1700000000:alice | openssl dgst -sha1 -hmac secret -binary | base64 */
    CHECK_EQ_INT(auth_rest_password("secret", "1700000000:alice", 16, pw, sizeof(pw)), 28);
    CHECK_STR(pw, "d8soP47RbdIKLDUOpnJPVQyq5Ts=");
}

static void test_creds(void)
{
    struct auth_creds *c = auth_creds_new();
    uint8_t k1[16] = {1}, k2[32] = {2};

    CHECK(c != NULL);
    CHECK_EQ_INT(auth_creds_add_user(c, "mallory", k1, k2), 0);
    CHECK_EQ_INT(auth_creds_add_user(c, "alice", k1, k2), 0);
    CHECK_EQ_INT(auth_creds_add_user(c, "alicia", k1, k2), 0);
    CHECK_EQ_INT(auth_creds_add_secret(c, "s1"), 0);
    auth_creds_freeze(c);
    CHECK(auth_creds_find_user(c, "alice", 5) != NULL);
    CHECK_STR(auth_creds_find_user(c, "alicex", 5)->name, "alice"); /* length-bounded */
    CHECK(auth_creds_find_user(c, "alic", 4) == NULL);
    CHECK(auth_creds_find_user(c, "zed", 3) == NULL);
    CHECK_STR(auth_creds_find_user(c, "mallory", 7)->name, "mallory");
    CHECK_EQ_INT(auth_creds_add_user(c, "late", k1, k2), SE_ERR_INVAL); /* frozen */
    CHECK_EQ_INT(auth_creds_secret_count(c), 1);
    auth_creds_free(c);
    auth_creds_free(NULL);
}

/* A USERNAME is length-delimited on the wire and may carry any byte: a
 * NUL or control byte inside it must never match a stored name (and the
 * lookup must never read past the stored name, which ASan would catch). */
static void test_creds_control_bytes(void)
{
    struct auth_creds *c = auth_creds_new();
    uint8_t k1[16] = {1}, k2[32] = {2};
    struct auth_rest_name r;

    CHECK_EQ_INT(auth_creds_add_user(c, "alice", k1, k2), 0);
    CHECK_EQ_INT(auth_creds_add_user(c, "bob", k1, k2), 0);
    auth_creds_freeze(c);
    CHECK(auth_creds_find_user(c, "alice\0", 6) == NULL);
    CHECK(auth_creds_find_user(c, "alice\0garbage-after-the-nul", 28) == NULL);
    CHECK(auth_creds_find_user(c, "bob\0", 4) == NULL);
    CHECK(auth_creds_find_user(c, "alice\r\n", 7) == NULL);
    CHECK(auth_creds_find_user(c, "\0", 1) == NULL);
    CHECK(auth_creds_find_user(c, "", 0) == NULL);
    CHECK(auth_creds_find_user(c, "alice", 5) != NULL);
    CHECK(!auth_name_valid("alice\0", 6));
    CHECK(!auth_name_valid("al\x1b[31mice", 12));
    CHECK(!auth_name_valid("alice\x7f", 6));
    CHECK(!auth_name_valid("", 0));
    CHECK(auth_name_valid("alice", 5));
    CHECK(auth_name_valid("j\xc3\xbcrgen@example.com", 19)); /* UTF-8 is fine */
    /* A REST username with a control byte is not a REST username. */
    CHECK_EQ_INT(auth_rest_parse("1700000000:al\0ice", 18, &r), SE_ERR_PARSE);
    CHECK_EQ_INT(auth_rest_parse("1700000000:alice\n:b3JpZ2lu", 26, &r), SE_ERR_PARSE);
    auth_creds_free(c);
}

static void test_throttle(void)
{
    struct auth_throttle *t = auth_throttle_new(3, 60, 30);
    uint8_t ip1[16] = {0xfe, 0x80, 1}, ip2[16] = {0xfe, 0x80, 2};

    CHECK(!auth_throttle_blocked(t, ip1, 100));
    CHECK(!auth_throttle_fail(t, ip1, 100));
    CHECK(!auth_throttle_fail(t, ip1, 101));
    CHECK(auth_throttle_fail(t, ip1, 102)); /* third failure starts the block */
    CHECK(auth_throttle_blocked(t, ip1, 103));
    CHECK(!auth_throttle_blocked(t, ip2, 103)); /* other sources unaffected */
    CHECK(auth_throttle_blocked(t, ip1, 131));
    CHECK(!auth_throttle_blocked(t, ip1, 133)); /* block over */
    /* failures spread beyond the window do not add up */
    CHECK(!auth_throttle_fail(t, ip2, 200));
    CHECK(!auth_throttle_fail(t, ip2, 261));
    CHECK(!auth_throttle_fail(t, ip2, 322));
    CHECK(!auth_throttle_blocked(t, ip2, 323));
    /* a flood of sources evicts entries instead of growing */
    for (int i = 0; i < 100000; i++) {
        uint8_t ip[16] = {0x20, 0x01, 0x0d, 0xb8};
        memcpy(ip + 12, &i, sizeof(i));
        auth_throttle_fail(t, ip, 400);
    }
    auth_throttle_free(t);
}

static void test_challenge_rate(void)
{
    struct auth_throttle *t = auth_throttle_new(10, 60, 60);
    uint8_t ip1[16] = {0x20, 1}, ip2[16] = {0x20, 2};
    int granted = 0;

    CHECK(auth_throttle_challenge(t, ip1, 5)); /* unlimited by default */
    auth_throttle_set_challenge_rate(t, 3);
    for (int i = 0; i < 10; i++)
        granted += auth_throttle_challenge(t, ip1, 100);
    CHECK_EQ_INT(granted, 3);
    CHECK(auth_throttle_challenge(t, ip2, 100)); /* per source */
    CHECK(auth_throttle_challenge(t, ip1, 101)); /* next second */
    auth_throttle_free(t);
}

static void test_throttle_user_source(void)
{
    struct auth_throttle *t = auth_throttle_new(3, 60, 30);
    uint8_t office[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 7};
    struct auth_throttle_end ended[4];

    auth_throttle_set_source_limit(t, 5);
    /* bob's password guessed from the office: bob blocked there, alice not */
    CHECK_EQ_INT(auth_throttle_fail_user(t, office, "bob", 3, 100), AUTH_THROTTLE_OK);
    CHECK_EQ_INT(auth_throttle_fail_user(t, office, "bob", 3, 101), AUTH_THROTTLE_OK);
    CHECK_EQ_INT(auth_throttle_fail_user(t, office, "bob", 3, 102), AUTH_THROTTLE_USER);
    CHECK_EQ_INT(auth_throttle_check(t, office, "bob", 3, 103), AUTH_THROTTLE_USER);
    CHECK_EQ_INT(auth_throttle_check(t, office, "bob", 3, 104), AUTH_THROTTLE_USER);
    CHECK_EQ_INT(auth_throttle_check(t, office, "alice", 5, 103), AUTH_THROTTLE_OK);
    CHECK(!auth_throttle_blocked(t, office, 103));
    /* two more failures for others reach the per-source ceiling (5) */
    CHECK_EQ_INT(auth_throttle_fail_user(t, office, "carol", 5, 104), AUTH_THROTTLE_OK);
    CHECK_EQ_INT(auth_throttle_fail_user(t, office, "dave", 4, 105), AUTH_THROTTLE_SOURCE);
    CHECK_EQ_INT(auth_throttle_check(t, office, "alice", 5, 106), AUTH_THROTTLE_SOURCE);
    CHECK(auth_throttle_blocked(t, office, 106));
    /* nothing to report while the blocks last; both after, with counts */
    CHECK_EQ_INT(auth_throttle_report(t, 120, ended, 4), 0);
    CHECK_EQ_INT(auth_throttle_report(t, 140, ended, 4), 2);
    for (int i = 0; i < 2; i++) {
        if (ended[i].whole_source) {
            CHECK_EQ_INT(ended[i].refused, 2); /* alice's request and the blocked() query */
        } else {
            CHECK_STR(ended[i].user, "bob");
            CHECK_EQ_INT(ended[i].refused, 2);
        }
        CHECK_MEM(ended[i].src, office, 16);
    }
    CHECK_EQ_INT(auth_throttle_report(t, 141, ended, 4), 0); /* reported once */
    CHECK_EQ_INT(auth_throttle_check(t, office, "bob", 3, 140), AUTH_THROTTLE_OK);
    auth_throttle_free(t);
}

static void test_proven(void)
{
    struct auth_throttle *t = auth_throttle_new(10, 60, 60);
    uint8_t office[16] = {0x20, 1, 0xd, 0xb8}, spoofed[16] = {0x20, 1, 0xd, 0xb9};
    int granted = 0;

    auth_throttle_set_challenge_rate(t, 2);
    CHECK(!auth_throttle_proven(t, office, 100));
    auth_throttle_prove(t, office, 100);
    for (int i = 0; i < 1000; i++)
        granted += auth_throttle_challenge(t, office, 100);
    CHECK_EQ_INT(granted, 1000); /* proven: exempt */
    granted = 0;
    for (int i = 0; i < 1000; i++)
        granted += auth_throttle_challenge(t, spoofed, 100);
    CHECK_EQ_INT(granted, 2); /* unproven: the trickle */
    CHECK(auth_throttle_proven(t, office, 100 + AUTH_PROVEN_TIME - 1));
    CHECK(!auth_throttle_proven(t, office, 100 + AUTH_PROVEN_TIME));
    /* a flood of unproven sources does not evict a proven one */
    for (int i = 0; i < 100000; i++) {
        uint8_t ip[16] = {0x20, 2};
        memcpy(ip + 8, &i, sizeof(i));
        auth_throttle_challenge(t, ip, 200);
    }
    CHECK(auth_throttle_proven(t, office, 200));
    auth_throttle_free(t);
}

int main(void)
{
    RUN(test_nonce);
    RUN(test_rest);
    RUN(test_creds);
    RUN(test_creds_control_bytes);
    RUN(test_throttle);
    RUN(test_challenge_rate);
    RUN(test_throttle_user_source);
    RUN(test_proven);
    return check_done();
}
