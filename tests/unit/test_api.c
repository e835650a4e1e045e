/*
 * test_api.c - the API's pure parts: origin ids, role tokens, header and
 * path parsers, CORS matching, the rate limiter, JWT verification with
 * keys made here (RS256 and ES256, every claim check), and the `api`
 * configuration block.
 */
#include "api/api_internal.h"
#include "api/jwt.h"
#include "auth/auth.h"
#include "core/config.h"
#include "core/err.h"
#include "core/ratelimit.h"
#include "tests/unit/check.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <unistd.h>

static void test_origin_id(void)
{
    char a[AUTH_ORIGIN_ID_MAX + 1], b[AUTH_ORIGIN_ID_MAX + 1], back[AUTH_ORIGIN_MAX + 1];

    CHECK_EQ_INT(auth_origin_id("https://meet.example.com", 24, a, sizeof(a)), 0);
    CHECK_EQ_INT((int)strlen(a), 32); /* 24 bytes of base64url, no padding */
    CHECK(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == strlen(a));
    /* reversible: the relay recovers the normalised origin */
    CHECK_EQ_INT(auth_origin_decode(a, strlen(a), back, sizeof(back)), 24);
    CHECK_STR(back, "https://meet.example.com");
    /* case-insensitive, deterministic */
    CHECK_EQ_INT(auth_origin_id("HTTPS://Meet.Example.COM", 24, b, sizeof(b)), 0);
    CHECK_STR(a, b);
    CHECK_EQ_INT(auth_origin_id("https://meet.example.com:8443", 29, b, sizeof(b)), 0);
    CHECK(strcmp(a, b) != 0);
    CHECK_EQ_INT(auth_origin_id("chrome-extension://abc", 22, b, sizeof(b)), 0);
    CHECK_EQ_INT(auth_origin_id("http://[::1]:80", 15, b, sizeof(b)), 0);
    static const char *const bad[] = {"",  "meet.example.com", "https://", "https://a/b",
                                      "https://a?x", "https://u@a", "1http://a", "https:/a",
                                      "https://a b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ_INT(auth_origin_id(bad[i], strlen(bad[i]), b, sizeof(b)), SE_ERR_PARSE);
    CHECK_EQ_INT(auth_origin_id("https://a\0b", 11, b, sizeof(b)), SE_ERR_PARSE);
    CHECK_EQ_INT(auth_origin_id("https://a", 9, b, 8), SE_ERR_PARSE); /* no room */
}

static void test_tokens(void)
{
    char t1[AUTH_TOKEN_LEN + 1], t2[AUTH_TOKEN_LEN + 1];
    uint8_t h1[32], h2[32];

    CHECK_EQ_INT(auth_token_new(t1, sizeof(t1)), 0);
    CHECK_EQ_INT(auth_token_new(t2, sizeof(t2)), 0);
    CHECK(strcmp(t1, t2) != 0);
    CHECK(strncmp(t1, "sedge_", 6) == 0);
    CHECK(auth_token_looks_valid(t1, strlen(t1)));
    CHECK(!auth_token_looks_valid(t1, strlen(t1) - 1));
    t2[10] = '.';
    CHECK(!auth_token_looks_valid(t2, strlen(t2)));
    CHECK_EQ_INT(auth_token_hash(t1, strlen(t1), h1), 0);
    CHECK_EQ_INT(auth_token_hash(t1, strlen(t1), h2), 0);
    CHECK_MEM(h1, h2, 32);
    CHECK_EQ_INT(auth_role_parse("admin"), AUTH_ROLE_ADMIN);
    CHECK_EQ_INT(auth_role_parse("auditor"), AUTH_ROLE_AUDITOR);
    CHECK_EQ_INT(auth_role_parse("root"), SE_ERR_INVAL);
    CHECK_STR(auth_role_name(AUTH_ROLE_COMPLIANCE), "compliance");
}

static void test_headers(void)
{
    char u[64], p[64];
    const char *tok;
    size_t len;

    /* "alice:pw alice" */
    CHECK_EQ_INT(api_parse_basic("Basic YWxpY2U6cHcgYWxpY2U=", u, sizeof(u), p, sizeof(p)), 0);
    CHECK_STR(u, "alice");
    CHECK_STR(p, "pw alice");
    CHECK_EQ_INT(api_parse_basic("basic YTpiOmM=", u, sizeof(u), p, sizeof(p)), 0); /* a:b:c */
    CHECK_STR(u, "a");
    CHECK_STR(p, "b:c");
    CHECK_EQ_INT(api_parse_basic("Basic YWxpY2U=", u, sizeof(u), p, sizeof(p)), SE_ERR_PARSE);
    CHECK_EQ_INT(api_parse_basic("Basic OnB3", u, sizeof(u), p, sizeof(p)), SE_ERR_PARSE);
    CHECK_EQ_INT(api_parse_basic("Basic YW=xpY2U", u, sizeof(u), p, sizeof(p)), SE_ERR_PARSE);
    CHECK_EQ_INT(api_parse_basic("Basic YQBiOmM=", u, sizeof(u), p, sizeof(p)), SE_ERR_PARSE);
    CHECK_EQ_INT(api_parse_basic("Bearer x", u, sizeof(u), p, sizeof(p)), SE_ERR_PARSE);
    CHECK_EQ_INT(api_parse_basic(NULL, u, sizeof(u), p, sizeof(p)), SE_ERR_PARSE);
    CHECK_EQ_INT(api_parse_bearer("Bearer abc.def ", &tok, &len), 0);
    CHECK_EQ_INT((int)len, 7);
    CHECK_EQ_INT(api_parse_bearer("Bearer ", &tok, &len), SE_ERR_PARSE);
    CHECK_EQ_INT(api_parse_bearer("Bearer a b", &tok, &len), SE_ERR_PARSE);
}

static void test_media_type(void)
{
    static const char *const good[] = {
        "application/json", "APPLICATION/JSON", "Application/Json", " application/json ",
        "application/json; charset=utf-8", "application/json;charset=\"UTF-8\"",
        "application/json ; foo=bar", "application/json;", "application/json; a=b; c=\"d;e\"",
        "application/json; q=\"a\\\"b\"",
    };
    static const char *const bad[] = {
        "", "application/jsonp", "application/json-seq", "application/json, text/plain",
        "application/json garbage", "application/json; charset=latin1", "text/json",
        "application/x-www-form-urlencoded", "application/json;charset", "application/json; a=\"b",
        "application/json; =b", "application/json; a b=c", "application/json; a=b c",
        "application/json/x", "application/json\x01", "application/json; a=\"b\\",
        "application/", "json",
    };

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!api_media_type_json(good[i])) {
            printf("    refused good media type \"%s\"\n", good[i]);
            CHECK(0);
        }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (api_media_type_json(bad[i])) {
            printf("    accepted bad media type \"%s\"\n", bad[i]);
            CHECK(0);
        }
    CHECK(!api_media_type_json(NULL));
}

static void test_paths_cors_query(void)
{
    char pr[API_MAX_PARAMS][API_PARAM_MAX];
    struct se_api_config c = {.cors = {"chrome-extension://*", "https://portal.example.com"},
                              .n_cors = 2};
    char v[16];

    CHECK(api_path_match("/v1/admin/users/*/disable", "/v1/admin/users/bob/disable", pr));
    CHECK_STR(pr[0], "bob");
    CHECK(!api_path_match("/v1/admin/users/*", "/v1/admin/users/bob/disable", pr));
    CHECK(!api_path_match("/v1/admin/users/*", "/v1/admin/users/", pr));
    CHECK(!api_path_match("/healthz", "/healthz/", pr));
    CHECK(api_cors_allowed(&c, "chrome-extension://abcdef"));
    CHECK(!api_cors_allowed(&c, "chrome-extension://"));
    CHECK(!api_cors_allowed(&c, "chrome-extension://abc/def"));
    CHECK(api_cors_allowed(&c, "https://PORTAL.example.com"));
    CHECK(!api_cors_allowed(&c, "https://portal.example.com.evil"));
    CHECK(!api_cors_allowed(&c, "null"));
    CHECK(api_user_name_ok("bob@example.com"));
    CHECK(!api_user_name_ok("a:b"));
    CHECK(!api_user_name_ok(""));
    CHECK(!api_user_name_ok("a\nb"));
    CHECK_EQ_INT(api_query_get("limit=5&before=9", "before", v, sizeof(v)), 0);
    CHECK_STR(v, "9");
    CHECK_EQ_INT(api_query_get("xlimit=5", "limit", v, sizeof(v)), SE_ERR_NOTFOUND);
    CHECK_EQ_INT(api_query_get(NULL, "limit", v, sizeof(v)), SE_ERR_NOTFOUND);
    json_t *j = api_json_str("caf\xc3\xa9");
    CHECK_STR(json_string_value(j), "caf\xc3\xa9"); /* valid UTF-8 kept */
    json_decref(j);
    j = api_json_str("a\xff\x01" "b");
    CHECK_STR(json_string_value(j), "a??b");
    json_decref(j);
    j = api_json_str(NULL);
    CHECK(json_is_null(j));
    json_decref(j);
}

static void test_ratelimit(void)
{
    struct se_ratelimit *rl = se_ratelimit_new(API_RL_SLOTS);
    uint8_t a[16] = {1}, b[16] = {2};
    int ok = 0;

    for (int i = 0; i < 10; i++)
        ok += se_ratelimit_allow(rl, a, 1000, 2, 5);
    CHECK_EQ_INT(ok, 5); /* the burst */
    CHECK(se_ratelimit_allow(rl, b, 1000, 2, 5)); /* other sources unaffected */
    CHECK(se_ratelimit_allow(rl, a, 1500, 2, 5)); /* one token per 500 ms */
    CHECK(!se_ratelimit_allow(rl, a, 1500, 2, 5));
    CHECK(se_ratelimit_allow(rl, a, 1500, 0, 5)); /* rate 0: unlimited */
    se_ratelimit_free(rl);

    /* Fractions of a token are kept between calls: 3 per second is one
     * every 333.3 ms, not one every 334 ms rounded away. */
    rl = se_ratelimit_new(64);
    CHECK(se_ratelimit_allow(rl, a, 1000, 3, 1));
    CHECK(!se_ratelimit_allow(rl, a, 1333, 3, 1));
    CHECK(se_ratelimit_allow(rl, a, 1334, 3, 1));
    for (int i = 0; i < 3; i++) /* three 111 ms steps add up to one token */
        CHECK(!se_ratelimit_allow(rl, a, 1334 + 111 * (i + 1) - (i == 2 ? 1 : 0), 3, 1));
    CHECK(se_ratelimit_allow(rl, a, 1668, 3, 1));
    /* A flood of keys costs no memory and never fails: the table recycles. */
    for (uint32_t i = 1000; i < 101000; i++) { /* keys other than a and b */
        uint8_t k[16] = {0};
        memcpy(k, &i, sizeof(i));
        CHECK(se_ratelimit_allow(rl, k, 2000, 1, 1));
    }
    /* Names map to keys of their own. */
    uint8_t k1[16], k2[16], k3[16];
    se_ratelimit_key_str(rl, "alice", 5, k1);
    se_ratelimit_key_str(rl, "alice", 5, k2);
    se_ratelimit_key_str(rl, "alicf", 5, k3);
    CHECK_MEM(k1, k2, 16);
    CHECK(memcmp(k1, k3, 16) != 0);
    se_ratelimit_free(rl);
}

/* ---- JWT ---- */

static EVP_PKEY *rsa_key, *ec_key, *other_key;

static void b64url(const uint8_t *in, size_t len, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < len ? in[i + 2] : 0);
        out[o++] = t[v >> 18 & 63];
        out[o++] = t[v >> 12 & 63];
        if (i + 1 < len)
            out[o++] = t[v >> 6 & 63];
        if (i + 2 < len)
            out[o++] = t[v & 63];
    }
    out[o] = '\0';
}

/* Sign header.payload with key; ES256 signatures as raw r||s. */
static void make_jwt(EVP_PKEY *key, const char *alg, const char *payload, char *out)
{
    char hdr[64];
    uint8_t sig[512];
    size_t siglen = sizeof(sig);

    snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
    b64url((const uint8_t *)hdr, strlen(hdr), out);
    strcat(out, ".");
    b64url((const uint8_t *)payload, strlen(payload), out + strlen(out));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key);
    EVP_DigestSign(ctx, sig, &siglen, (const uint8_t *)out, strlen(out));
    EVP_MD_CTX_free(ctx);
    if (EVP_PKEY_is_a(key, "EC")) {
        const uint8_t *p = sig;
        ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
        BN_bn2binpad(ECDSA_SIG_get0_r(s), sig, 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(s), sig + 32, 32);
        ECDSA_SIG_free(s);
        siglen = 64;
    }
    strcat(out, ".");
    b64url(sig, siglen, out + strlen(out));
}

static int verify(struct api_jwt_keys *k, EVP_PKEY *key, const char *alg, const char *payload,
                  char *user, const char **why)
{
    char tok[4096];

    make_jwt(key, alg, payload, tok);
    return api_jwt_verify(k, tok, strlen(tok), 1000000, "email", user, API_USER_MAX, why);
}

static void test_jwt(void)
{
    struct api_jwt_keys *k = api_jwt_keys_new();
    char err[128], user[API_USER_MAX];
    const char *why;

    rsa_key = EVP_RSA_gen(2048);
    ec_key = EVP_EC_gen("P-256");
    other_key = EVP_RSA_gen(2048);
    EVP_PKEY_up_ref(rsa_key);
    EVP_PKEY_up_ref(ec_key);
    CHECK_EQ_INT(api_jwt_keys_add(k, "https://idp", "sedge", "RS256", rsa_key, err, sizeof(err)),
                 0);
    CHECK_EQ_INT(api_jwt_keys_add(k, "https://idp", "sedge", "ES256", ec_key, err, sizeof(err)), 0);
    EVP_PKEY_up_ref(ec_key);
    CHECK_EQ_INT(api_jwt_keys_add(k, "x", "y", "RS256", ec_key, err, sizeof(err)), SE_ERR_CONFIG);

#define CLAIMS(extra) "{\"iss\":\"https://idp\",\"aud\":\"sedge\",\"email\":\"bob\"" extra "}"
    CHECK_EQ_INT(verify(k, rsa_key, "RS256", CLAIMS(",\"exp\":1000100"), user, &why), 0);
    CHECK_STR(user, "bob");
    CHECK_EQ_INT(verify(k, ec_key, "ES256", CLAIMS(",\"exp\":1000100,\"nbf\":999999"), user, &why),
                 0);
    CHECK_EQ_INT(verify(k, rsa_key, "RS256", CLAIMS(",\"exp\":999000"), user, &why), SE_ERR_STALE);
    CHECK_STR(why, "token expired");
    /* within the leeway */
    CHECK_EQ_INT(verify(k, rsa_key, "RS256", CLAIMS(",\"exp\":999950"), user, &why), 0);
    CHECK_EQ_INT(verify(k, rsa_key, "RS256", CLAIMS(",\"exp\":1000100,\"nbf\":1000500"), user,
                        &why),
                 SE_ERR_AUTH);
    CHECK_STR(why, "token not yet valid");
    CHECK_EQ_INT(verify(k, rsa_key, "RS256", CLAIMS(""), user, &why), SE_ERR_AUTH);
    CHECK_STR(why, "no exp claim");
    CHECK_EQ_INT(verify(k, rsa_key, "RS256",
                        "{\"iss\":\"https://idp\",\"aud\":[\"a\"],\"exp\":1000100,\"email\":\"b\"}",
                        user, &why),
                 SE_ERR_AUTH);
    CHECK_STR(why, "wrong audience");
    CHECK_EQ_INT(verify(k, other_key, "RS256", CLAIMS(",\"exp\":1000100"), user, &why),
                 SE_ERR_AUTH);
    CHECK_STR(why, "bad signature");
    CHECK_EQ_INT(verify(k, rsa_key, "RS256",
                        "{\"iss\":\"https://evil\",\"aud\":\"sedge\",\"exp\":1000100}", user, &why),
                 SE_ERR_AUTH);
    CHECK_STR(why, "unknown issuer");
    CHECK_EQ_INT(verify(k, rsa_key, "RS256",
                        "{\"iss\":\"https://idp\",\"aud\":\"sedge\",\"exp\":1000100,\"email\":7}",
                        user, &why),
                 SE_ERR_AUTH);
    /* alg "none" and HS256 are never accepted */
    static const char none0[] = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2lkcCJ9.";
    static const char none1[] = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2lkcCJ9.AA";
    CHECK_EQ_INT(api_jwt_verify(k, none0, strlen(none0), 1000000, "email", user, sizeof(user),
                                &why),
                 SE_ERR_PARSE);
    CHECK_EQ_INT(api_jwt_verify(k, none1, strlen(none1), 1000000, "email", user, sizeof(user),
                                &why),
                 SE_ERR_AUTH);
    CHECK_STR(why, "algorithm not allowed for issuer");
    CHECK_EQ_INT(api_jwt_verify(k, "a.b", 3, 0, "email", user, sizeof(user), &why), SE_ERR_PARSE);
    api_jwt_keys_free(k);
    EVP_PKEY_free(rsa_key); /* our references; the key set held its own */
    EVP_PKEY_free(ec_key);
    EVP_PKEY_free(other_key);
}

/* ---- configuration ---- */

static char path[64];
static const char base[] =
    "listen = ( { transport = \"udp\"; address = \"127.0.0.1\"; port = 3478; },\n"
    "           { transport = \"tls\"; address = \"127.0.0.1\"; port = 5349; } );\n"
    "relay = { address = \"127.0.0.2\"; };\n"
    "tls = { cert = \"/dev/null\"; key = \"/dev/null\"; };\n";

static int load(const char *api, struct se_config **c, char *err)
{
    FILE *f = fopen(path, "w");
    fputs(base, f);
    fputs(api, f);
    fclose(f);
    return se_config_load(path, c, err, 512);
}

static void test_config(void)
{
    struct se_config *c;
    char err[512];

    CHECK_EQ_INT(load("", &c, err), 0);
    CHECK(c && !c->api.enabled);
    se_config_free(c);
    CHECK_EQ_INT(load("api = { port = 9443; cors_origins = [ \"chrome-extension://*\" ]; };", &c,
                      err),
                 0);
    if (c) {
        CHECK(c->api.enabled);
        CHECK_EQ_INT(c->api.addr.port, 9443);
        CHECK_STR(c->api.turn_host, "127.0.0.1"); /* from the first listen address */
        CHECK_STR(c->api.tls_cert, "/dev/null");  /* the top-level tls */
        CHECK_STR(c->api.user_claim, "sub");
        CHECK_EQ_INT(c->api.n_cors, 1);
        se_config_free(c);
    }
    CHECK_EQ_INT(load("api = { jwt = ( { issuer = \"i\"; audience = \"a\"; key = \"/dev/null\"; "
                      "alg = \"HS256\"; } ); };",
                      &c, err),
                 SE_ERR_CONFIG);
    CHECK(strstr(err, "api.jwt[0]: alg must be") != NULL);
    CHECK_EQ_INT(load("api = { cors_origins = [ \"*.example.com\" ]; };", &c, err), SE_ERR_CONFIG);
    CHECK(strstr(err, "api.cors_origins") != NULL);
    CHECK_EQ_INT(load("api = { max_body = 10; };", &c, err), SE_ERR_CONFIG);
    CHECK(strstr(err, ":5: api.max_body") != NULL);
    /* api.management: a second listener, defaults, and its mistakes */
    CHECK_EQ_INT(load("api = { port = 9443; management = { port = 9444; }; };", &c, err), 0);
    if (c) {
        CHECK(c->api.mgmt_enabled);
        CHECK_EQ_INT(c->api.mgmt_addr.port, 9444);
        CHECK_EQ_INT(c->api.mgmt_max_connections, 16);
        se_config_free(c);
    }
    CHECK_EQ_INT(load("api = { port = 9443; };", &c, err), 0);
    if (c) {
        CHECK(!c->api.mgmt_enabled);
        se_config_free(c);
    }
    CHECK_EQ_INT(load("api = { port = 9443; management = { port = 9443; }; };", &c, err),
                 SE_ERR_CONFIG);
    CHECK(strstr(err, "api.management: must differ") != NULL);
    CHECK_EQ_INT(load("api = { management = { prot = 1; }; };", &c, err), SE_ERR_CONFIG);
    CHECK(strstr(err, "unknown setting \"prot\"") != NULL);
    CHECK_EQ_INT(load("api = { management = { address = \"x\"; }; };", &c, err), SE_ERR_CONFIG);
    CHECK(strstr(err, "api.management.address") != NULL);
    CHECK_EQ_INT(auth_role_parse("metrics"), AUTH_ROLE_METRICS);
    CHECK_STR(auth_role_name(AUTH_ROLE_METRICS), "metrics");
}

int main(void)
{
    snprintf(path, sizeof(path), "/tmp/sedge-test-api-%d.conf", (int)getpid());
    RUN(test_origin_id);
    RUN(test_tokens);
    RUN(test_headers);
    RUN(test_media_type);
    RUN(test_paths_cors_query);
    RUN(test_ratelimit);
    RUN(test_jwt);
    RUN(test_config);
    unlink(path);
    return check_done();
}
