/*
 * jwt.c - bearer JWT verification with OpenSSL and jansson.
 *
 * The token is taken apart by a bounded reader: exactly three base64url
 * segments, a JSON object header naming the algorithm, a JSON object
 * payload. Only algorithms configured for the token's issuer are tried
 * ("none" and HMAC never are, so a public key cannot be used as an HMAC
 * secret), the signature is checked before any claim is believed, and
 * then aud, exp and nbf are checked against the key that verified it.
 * ES256 signatures are JWS's raw r||s (64 bytes), converted to DER for
 * OpenSSL.
 */
#include "api/jwt.h"
#include "auth/auth.h"
#include "core/config.h"
#include "core/err.h"

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    JWT_HEADER_MAX = 2048,
    JWT_PAYLOAD_MAX = 6144,
    JWT_SIG_MAX = 1024, /* RSA up to 8192 bits */
    ES256_SIG_LEN = 64,
    RSA_MIN_BITS = 2048,
};

struct jwt_key {
    char issuer[256], audience[256];
    bool es256;
    EVP_PKEY *pkey;
};

struct api_jwt_keys {
    struct jwt_key keys[SE_API_MAX_JWT];
    size_t n;
};

struct api_jwt_keys *api_jwt_keys_new(void)
{
    return calloc(1, sizeof(struct api_jwt_keys));
}

void api_jwt_keys_free(struct api_jwt_keys *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->n; i++)
        EVP_PKEY_free(k->keys[i].pkey);
    free(k);
}

size_t api_jwt_keys_count(const struct api_jwt_keys *k)
{
    return k ? k->n : 0;
}

int api_jwt_keys_add(struct api_jwt_keys *k, const char *issuer, const char *audience,
                     const char *alg, EVP_PKEY *pkey, char *err, size_t errlen)
{
    bool es = strcmp(alg, "ES256") == 0;
    char group[64] = "";
    size_t glen = 0;

    if (k->n >= SE_API_MAX_JWT || (!es && strcmp(alg, "RS256") != 0)) {
        snprintf(err, errlen, "too many keys or unknown alg \"%s\"", alg);
        goto fail;
    }
    if (es && (!EVP_PKEY_is_a(pkey, "EC") ||
               !EVP_PKEY_get_utf8_string_param(pkey, "group", group, sizeof(group), &glen) ||
               strcmp(group, "prime256v1") != 0)) {
        snprintf(err, errlen, "ES256 needs an EC P-256 public key");
        goto fail;
    }
    if (!es && (!EVP_PKEY_is_a(pkey, "RSA") || EVP_PKEY_get_bits(pkey) < RSA_MIN_BITS)) {
        snprintf(err, errlen, "RS256 needs an RSA public key of %d bits or more", RSA_MIN_BITS);
        goto fail;
    }
    struct jwt_key *j = &k->keys[k->n++];
    snprintf(j->issuer, sizeof(j->issuer), "%s", issuer);
    snprintf(j->audience, sizeof(j->audience), "%s", audience);
    j->es256 = es;
    j->pkey = pkey;
    return 0;
fail:
    EVP_PKEY_free(pkey);
    return SE_ERR_CONFIG;
}

int api_jwt_keys_load(struct api_jwt_keys *k, const struct se_api_jwt *conf, char *err,
                      size_t errlen)
{
    FILE *f = fopen(conf->key, "r");
    EVP_PKEY *pkey = NULL;
    char why[128];

    if (!f) {
        snprintf(err, errlen, "api.jwt: cannot open key %s", conf->key);
        return SE_ERR_CONFIG;
    }
    pkey = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    if (!pkey) { /* a certificate is fine too */
        rewind(f);
        X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
        if (x)
            pkey = X509_get_pubkey(x);
        X509_free(x);
    }
    fclose(f);
    if (!pkey) {
        snprintf(err, errlen, "api.jwt: %s holds no PEM public key or certificate", conf->key);
        return SE_ERR_CONFIG;
    }
    if (api_jwt_keys_add(k, conf->issuer, conf->audience, conf->alg, pkey, why, sizeof(why)) <
        0) {
        snprintf(err, errlen, "api.jwt: %s: %s", conf->key, why);
        return SE_ERR_CONFIG;
    }
    return 0;
}

static json_t *decode_object(const char *seg, size_t len, size_t max)
{
    uint8_t buf[JWT_PAYLOAD_MAX];
    int n;

    if (len == 0 || len > (max / 3 + 1) * 4 || max > sizeof(buf))
        return NULL;
    if ((n = auth_b64url_decode(seg, len, buf, max)) <= 0)
        return NULL;
    json_t *o = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
    if (o && !json_is_object(o)) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

/* DER-encode a JWS ES256 r||s signature. Returns length or -1. */
static int es256_der(const uint8_t *rs, uint8_t *der, size_t derlen)
{
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(rs, 32, NULL), *sv = BN_bin2bn(rs + 32, 32, NULL);
    int n = -1;

    if (s && r && sv && ECDSA_SIG_set0(s, r, sv) == 1) {
        r = sv = NULL; /* owned by s now */
        if (i2d_ECDSA_SIG(s, NULL) <= (int)derlen) {
            uint8_t *p = der;
            n = i2d_ECDSA_SIG(s, &p);
        }
    }
    BN_free(r);
    BN_free(sv);
    ECDSA_SIG_free(s);
    return n;
}

static bool sig_ok(const struct jwt_key *key, const char *signed_part, size_t slen,
                   const uint8_t *sig, size_t siglen)
{
    uint8_t der[80];
    EVP_MD_CTX *ctx;
    bool ok = false;

    if (key->es256) {
        int n;
        if (siglen != ES256_SIG_LEN || (n = es256_der(sig, der, sizeof(der))) < 0)
            return false;
        sig = der;
        siglen = (size_t)n;
    }
    if (!(ctx = EVP_MD_CTX_new()))
        return false;
    if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key->pkey) == 1 &&
        EVP_DigestVerify(ctx, sig, siglen, (const uint8_t *)signed_part, slen) == 1)
        ok = true;
    EVP_MD_CTX_free(ctx);
    return ok;
}

static bool aud_ok(json_t *aud, const char *want)
{
    size_t i;
    json_t *v;

    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    if (!json_is_array(aud))
        return false;
    json_array_foreach(aud, i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
            return true;
    return false;
}

/* A NumericDate claim (RFC 7519 §2): integer or real seconds. */
static bool numeric_date(json_t *v, double *out)
{
    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return true;
}

static int check_claims(const struct jwt_key *key, json_t *pl, int64_t now, const char *claim,
                        char *user, size_t userlen, const char **why)
{
    double exp, nbf;
    json_t *u;

    if (!aud_ok(json_object_get(pl, "aud"), key->audience)) {
        *why = "wrong audience";
        return SE_ERR_AUTH;
    }
    if (!numeric_date(json_object_get(pl, "exp"), &exp)) {
        *why = "no exp claim";
        return SE_ERR_AUTH;
    }
    if ((double)now >= exp + API_JWT_LEEWAY) {
        *why = "token expired";
        return SE_ERR_STALE;
    }
    if (json_object_get(pl, "nbf")) {
        if (!numeric_date(json_object_get(pl, "nbf"), &nbf)) {
            *why = "bad nbf claim";
            return SE_ERR_AUTH;
        }
        if ((double)now + API_JWT_LEEWAY < nbf) {
            *why = "token not yet valid";
            return SE_ERR_AUTH;
        }
    }
    u = json_object_get(pl, claim);
    if (!json_is_string(u) || json_string_length(u) == 0 ||
        json_string_length(u) >= userlen) {
        *why = "user claim missing or too long";
        return SE_ERR_AUTH;
    }
    memcpy(user, json_string_value(u), json_string_length(u) + 1);
    return 0;
}

int api_jwt_verify(const struct api_jwt_keys *k, const char *token, size_t len, int64_t now,
                   const char *claim, char *user, size_t userlen, const char **why)
{
    uint8_t sig[JWT_SIG_MAX];
    json_t *hdr = NULL, *pl = NULL;
    const char *d1, *d2, *alg, *iss;
    int siglen, rc = SE_ERR_PARSE;
    bool issuer_known = false, alg_allowed = false;

    *why = "malformed token";
    user[0] = '\0';
    if (!k || len == 0 || len > API_JWT_MAX)
        goto out;
    if (!(d1 = memchr(token, '.', len)) ||
        !(d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token))) ||
        memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
        goto out;
    size_t sig_len = len - (size_t)(d2 + 1 - token);
    if (!(hdr = decode_object(token, (size_t)(d1 - token), JWT_HEADER_MAX)) ||
        !(pl = decode_object(d1 + 1, (size_t)(d2 - d1 - 1), JWT_PAYLOAD_MAX)) || sig_len == 0 ||
        (siglen = auth_b64url_decode(d2 + 1, sig_len, sig, sizeof(sig))) <= 0)
        goto out;
    rc = SE_ERR_AUTH;
    if (!json_is_string(json_object_get(hdr, "alg")) || json_object_get(hdr, "crit")) {
        *why = "unsupported token header";
        goto out;
    }
    alg = json_string_value(json_object_get(hdr, "alg"));
    if (!json_is_string(json_object_get(pl, "iss"))) {
        *why = "no iss claim";
        goto out;
    }
    iss = json_string_value(json_object_get(pl, "iss"));
    for (size_t i = 0; i < k->n; i++) {
        const struct jwt_key *key = &k->keys[i];
        if (strcmp(key->issuer, iss) != 0)
            continue;
        issuer_known = true;
        if (strcmp(alg, key->es256 ? "ES256" : "RS256") != 0)
            continue;
        alg_allowed = true;
        if (!sig_ok(key, token, (size_t)(d2 - token), sig, (size_t)siglen))
            continue;
        rc = check_claims(key, pl, now, claim, user, userlen, why);
        goto out;
    }
    *why = !issuer_known ? "unknown issuer" : !alg_allowed ? "algorithm not allowed for issuer"
                                                           : "bad signature";
out:
    json_decref(hdr);
    json_decref(pl);
    return rc;
}
