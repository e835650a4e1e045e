/*
 * fuzz_api.c - libFuzzer target for what the HTTPS API parses from
 * clients (not the socket: evhttp's own parser is libevent's). The first
 * byte picks the parser, the rest is its input:
 *   'j'  a JSON request body, then the credential/admin field checks
 *   't'  a compact JWT against RS256 and ES256 keys
 *   's'  a JSON payload signed here with the ES256 key, so the claim
 *        checks (aud, exp, nbf, user claim) see fuzzed but valid tokens
 *   'a'  an Authorization header, as Basic and as Bearer
 *   'o'  an origin (origin id, CORS match, user-name check) and a path
 *        against every route pattern, a query string and a Content-Type
 *   'r'  a Range header against file sizes from 0 to 2^40 (the first 5
 *        bytes of the input pick the size)
 * Anything that parses must satisfy the parser's stated bounds.
 */
#include "api/api_internal.h"
#include "api/jwt.h"
#include "auth/auth.h"
#include "core/err.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

static struct api_jwt_keys *keys;
static EVP_PKEY *es_key;
static struct se_api_config cors = {
    .cors = {"chrome-extension://*", "https://meet.example.com"},
    .n_cors = 2,
};
static const char *const patterns[] = {"/healthz", "/v1/credentials", "/v1/admin/users/*",
                                       "/v1/admin/users/*/disable", "/v1/admin/secrets/*",
                                       "/v1/recordings/*/files/*"};

static void fuzz_range(const uint8_t *p, size_t n, const char *text)
{
    uint64_t size = 0, start = 0, end = 0;

    for (size_t i = 0; i < 5 && i < n; i++)
        size = size << 8 | p[i];
    int rc = api_parse_range(text, size, &start, &end);
    if (rc == 0 && (size == 0 || start > end || end >= size))
        abort(); /* a satisfiable range lies inside the file */
    if (rc != 0 && rc != SE_ERR_NOTFOUND && rc != SE_ERR_PARSE && rc != SE_ERR_LIMIT)
        abort();
}

static void init(void)
{
    char err[128];
    EVP_PKEY *rsa = EVP_RSA_gen(2048);

    es_key = EVP_EC_gen("P-256");
    keys = api_jwt_keys_new();
    if (!rsa || !es_key || !keys)
        abort();
    EVP_PKEY_up_ref(es_key);
    if (api_jwt_keys_add(keys, "https://idp", "sedge", "RS256", rsa, err, sizeof(err)) < 0 ||
        api_jwt_keys_add(keys, "https://idp", "sedge", "ES256", es_key, err, sizeof(err)) < 0)
        abort();
}

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

static void check_user(const char *user, size_t cap)
{
    if (strlen(user) >= cap)
        abort();
}

static void fuzz_signed(const uint8_t *p, size_t n)
{
    static const char hdr[] = "{\"alg\":\"ES256\"}";
    char user[API_USER_MAX];
    uint8_t der[80], raw[64];
    size_t derlen = sizeof(der);
    const char *why;

    /* Payloads a little past what fits in API_JWT_MAX still get signed,
     * so the length check is reached with valid signatures too. */
    if (n > API_JWT_MAX)
        return;
    char *tok = malloc(64 + n / 3 * 4 + 8 + 100);
    if (!tok)
        return;
    b64url((const uint8_t *)hdr, strlen(hdr), tok);
    size_t h = strlen(tok);
    tok[h++] = '.';
    b64url(p, n, tok + h);
    size_t signed_len = strlen(tok);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, es_key) != 1 ||
        EVP_DigestSign(ctx, der, &derlen, (const uint8_t *)tok, signed_len) != 1)
        abort();
    EVP_MD_CTX_free(ctx);
    const uint8_t *dp = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &dp, (long)derlen);
    if (!sig)
        abort();
    BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32);
    ECDSA_SIG_free(sig);
    tok[signed_len] = '.';
    b64url(raw, sizeof(raw), tok + signed_len + 1);
    int rc = api_jwt_verify(keys, tok, strlen(tok), 1700000000, "sub", user, sizeof(user), &why);
    free(tok);
    if (rc == 0)
        check_user(user, sizeof(user));
    else if (!why)
        abort();
}

/* The largest input any of these parsers sees from a client: a request
 * body of api.max_body at its configured maximum (core/config.c); headers
 * (tokens, origins, paths) are smaller (api.max_headers <= 64 KiB). */
enum { FUZZ_API_INPUT_MAX = 1 << 20 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char user[API_USER_MAX], pw[256], why[256], oid[AUTH_ORIGIN_ID_MAX + 1];
    char params[API_MAX_PARAMS][API_PARAM_MAX];
    const char *tok, *reason;
    size_t tlen;
    json_t *o;

    if (!keys)
        init();
    if (size < 1 || size - 1 > FUZZ_API_INPUT_MAX)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    char *buf = malloc(n + 1); /* exactly sized: ASan sees any over-read */
    if (!buf)
        return 0;
    memcpy(buf, p, n);
    buf[n] = '\0';
    switch (data[0]) {
    case 'j':
        if ((o = api_json_object(buf, n, why, sizeof(why)))) {
            json_t *v = json_object_get(o, "origin");
            if (json_is_string(v))
                (void)auth_origin_id(json_string_value(v), json_string_length(v), oid,
                                     sizeof(oid));
            v = json_object_get(o, "name");
            if (json_is_string(v))
                (void)api_user_name_ok(json_string_value(v));
            json_decref(o);
        }
        break;
    case 't':
        if (api_jwt_verify(keys, buf, n, 1700000000, "sub", user, sizeof(user), &reason) == 0)
            check_user(user, sizeof(user));
        break;
    case 's':
        fuzz_signed(p, n);
        break;
    case 'r':
        fuzz_range(p, n, n > 5 ? buf + 5 : "");
        break;
    case 'a':
        if (api_parse_basic(buf, user, sizeof(user), pw, sizeof(pw)) == 0)
            if (!user[0] || strchr(user, ':') || strlen(pw) >= sizeof(pw))
                abort();
        if (api_parse_bearer(buf, &tok, &tlen) == 0) {
            if (tlen == 0 || tok + tlen > buf + n)
                abort();
            (void)auth_token_looks_valid(tok, tlen);
        }
        break;
    case 'o':
        if (auth_origin_id(buf, strlen(buf), oid, sizeof(oid)) == 0 &&
            (strlen(oid) > AUTH_ORIGIN_ID_MAX || strchr(oid, ':')))
            abort();
        (void)api_cors_allowed(&cors, buf);
        (void)api_user_name_ok(buf);
        for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
            if (api_path_match(patterns[i], buf, params) && strchr(patterns[i], '*') &&
                strlen(params[0]) >= API_PARAM_MAX)
                abort();
        (void)api_query_get(buf, "limit", why, sizeof(why));
        (void)api_media_type_json(buf);
        if (!(o = api_json_str(buf)))
            abort(); /* any text becomes a JSON string */
        json_decref(o);
        break;
    default:
        break;
    }
    free(buf);
    return 0;
}
