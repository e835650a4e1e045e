/*
 * keys.c - long-term keys, TURN REST passwords and stateless nonces.
 *
 * All functions are pure (inputs to outputs) and thread-safe. Nonce
 * layout (after the optional RFC 8489 cookie "obMatJos2" + 4 base64
 * feature characters): base64url without padding of
 *     expiry (4 bytes, big-endian unix seconds) || MAC (5 bytes)
 * where MAC = HMAC-SHA256(process key, expiry || client IP)[0..5).
 * A nonce only proves the client saw our challenge at that address within
 * its lifetime (the password is proved by MESSAGE-INTEGRITY), so 40 bits
 * against online guessing is ample, and every byte saved keeps the
 * challenge smaller than the request that caused it.
 */
#include "auth/auth.h"
#include "core/addr.h"
#include "core/err.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    NONCE_MAC_LEN = 5,
    NONCE_RAW_LEN = 4 + NONCE_MAC_LEN,
    NONCE_B64_LEN = 12, /* 9 bytes -> 12 chars, no padding needed */
};

/* RFC 8489 §9.2: cookie + base64 of 24 feature bits. Bit 0 (least
 * significant, per erratum 6290) = password algorithms. */
static const char nonce_cookie[] = "obMatJos2";
static const char nonce_features[] = "AAAB";

int auth_key_derive(bool sha256, const char *user, size_t ulen, const char *realm,
                    const char *password, size_t plen, uint8_t *out)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = SE_ERR_CRYPTO;

    if (!ctx)
        return SE_ERR_NOMEM;
    if (EVP_DigestInit_ex(ctx, sha256 ? EVP_sha256() : EVP_md5(), NULL) == 1 &&
        EVP_DigestUpdate(ctx, user, ulen) == 1 && EVP_DigestUpdate(ctx, ":", 1) == 1 &&
        EVP_DigestUpdate(ctx, realm, strlen(realm)) == 1 && EVP_DigestUpdate(ctx, ":", 1) == 1 &&
        EVP_DigestUpdate(ctx, password, plen) == 1 && EVP_DigestFinal_ex(ctx, out, NULL) == 1)
        rc = 0;
    EVP_MD_CTX_free(ctx);
    return rc;
}

int auth_key_md5(const char *user, const char *realm, const char *password,
                 uint8_t out[AUTH_MD5_KEY_LEN])
{
    return auth_key_derive(false, user, strlen(user), realm, password, strlen(password), out);
}

int auth_key_sha256(const char *user, const char *realm, const char *password,
                    uint8_t out[AUTH_SHA256_KEY_LEN])
{
    return auth_key_derive(true, user, strlen(user), realm, password, strlen(password), out);
}

static int b64_encode(const uint8_t *in, size_t len, char *out, size_t outlen, bool url)
{
    static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char urlsafe[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *tab = url ? urlsafe : std;
    size_t need = (len + 2) / 3 * 4, o = 0;

    if (need + 1 > outlen)
        return SE_ERR_TOOBIG;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    return (int)o;
}

int auth_base64(const uint8_t *in, size_t len, char *out, size_t outlen)
{
    return b64_encode(in, len, out, outlen, false);
}

int auth_rest_parse(const char *username, size_t len, struct auth_rest_name *out)
{
    size_t i = 0;
    int64_t expiry = 0;

    memset(out, 0, sizeof(*out));
    if (!auth_name_valid(username, len))
        return SE_ERR_PARSE;
    while (i < len && username[i] >= '0' && username[i] <= '9') {
        if (expiry > (INT64_MAX - 9) / 10)
            return SE_ERR_PARSE;
        expiry = expiry * 10 + (username[i] - '0');
        i++;
    }
    if (i == 0 || i >= len || username[i] != ':')
        return SE_ERR_PARSE;
    i++;
    const char *user = username + i;
    const char *colon = memchr(user, ':', len - i);
    size_t ulen = colon ? (size_t)(colon - user) : len - i;
    if (ulen == 0)
        return SE_ERR_PARSE;
    out->expiry = expiry;
    out->user = user;
    out->user_len = ulen;
    if (colon) {
        out->origin = colon + 1;
        out->origin_len = len - i - ulen - 1;
        if (out->origin_len == 0)
            return SE_ERR_PARSE;
    }
    return 0;
}

int auth_origin_encode(const char *origin, size_t len, char *out, size_t outlen)
{
    int n;

    if (len == 0 || len > AUTH_ORIGIN_MAX)
        return SE_ERR_TOOBIG;
    if ((n = b64_encode((const uint8_t *)origin, len, out, outlen, true)) < 0)
        return n;
    while (n > 0 && out[n - 1] == '=')
        out[--n] = '\0';
    return n;
}

static int b64url_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int auth_b64url_decode(const char *in, size_t len, uint8_t *out, size_t outlen)
{
    uint32_t acc = 0;
    size_t o = 0;
    int bits = 0;

    if (len % 4 == 1)
        return SE_ERR_PARSE;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_val(in[i]);
        if (v < 0)
            return SE_ERR_PARSE;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= outlen)
                return SE_ERR_PARSE;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* Leftover bits must be zero: one canonical text per value. */
    if (acc & ((1u << bits) - 1))
        return SE_ERR_PARSE;
    return (int)o;
}

int auth_origin_decode(const char *id, size_t len, char *out, size_t outlen)
{
    int n;

    if (len == 0 || outlen == 0 ||
        (n = auth_b64url_decode(id, len, (uint8_t *)out, outlen - 1)) <= 0)
        return SE_ERR_PARSE;
    /* No NUL or control bytes: it is an origin. */
    for (int i = 0; i < n; i++)
        if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
            return SE_ERR_PARSE;
    out[n] = '\0';
    return n;
}

int auth_rest_password(const char *secret, const char *username, size_t ulen, char *out,
                       size_t outlen)
{
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;

    if (!HMAC(EVP_sha1(), secret, (int)strlen(secret), (const uint8_t *)username, ulen, mac,
              &maclen))
        return SE_ERR_CRYPTO;
    return b64_encode(mac, maclen, out, outlen, false);
}

int auth_nonce_key_init(struct auth_nonce_key *k)
{
    return RAND_bytes(k->key, sizeof(k->key)) == 1 ? 0 : SE_ERR_CRYPTO;
}

static int nonce_mac(const struct auth_nonce_key *k, const uint8_t exp[4],
                     const struct se_addr *client, uint8_t out[NONCE_MAC_LEN])
{
    uint8_t in[4 + 16], mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;

    memcpy(in, exp, 4);
    memcpy(in + 4, client->ip, 16);
    if (!HMAC(EVP_sha256(), k->key, sizeof(k->key), in, sizeof(in), mac, &maclen))
        return SE_ERR_CRYPTO;
    memcpy(out, mac, NONCE_MAC_LEN);
    return 0;
}

int auth_nonce_make(const struct auth_nonce_key *k, const struct se_addr *client, int64_t now,
                    unsigned lifetime, bool features, char *out, size_t outlen)
{
    uint8_t raw[NONCE_RAW_LEN];
    uint32_t exp = (uint32_t)(now + lifetime);
    size_t pre = 0;
    int n;

    raw[0] = (uint8_t)(exp >> 24);
    raw[1] = (uint8_t)(exp >> 16);
    raw[2] = (uint8_t)(exp >> 8);
    raw[3] = (uint8_t)exp;
    if (nonce_mac(k, raw, client, raw + 4) < 0)
        return SE_ERR_CRYPTO;
    if (features) {
        pre = strlen(nonce_cookie) + strlen(nonce_features);
        if (outlen < pre + 1)
            return SE_ERR_TOOBIG;
        memcpy(out, nonce_cookie, strlen(nonce_cookie));
        memcpy(out + strlen(nonce_cookie), nonce_features, strlen(nonce_features));
    }
    n = b64_encode(raw, sizeof(raw), out + pre, outlen - pre, true);
    return n < 0 ? n : (int)pre + n;
}

bool auth_nonce_has_features(const char *nonce, size_t len)
{
    size_t cl = strlen(nonce_cookie);

    return len >= cl + 4 && memcmp(nonce, nonce_cookie, cl) == 0;
}

int auth_nonce_check(const struct auth_nonce_key *k, const struct se_addr *client, int64_t now,
                     const char *nonce, size_t len)
{
    uint8_t raw[NONCE_RAW_LEN], mac[NONCE_MAC_LEN];

    if (auth_nonce_has_features(nonce, len)) {
        nonce += strlen(nonce_cookie) + 4;
        len -= strlen(nonce_cookie) + 4;
    }
    if (len != NONCE_B64_LEN)
        return SE_ERR_AUTH;
    if (auth_b64url_decode(nonce, len, raw, sizeof(raw)) != NONCE_RAW_LEN)
        return SE_ERR_AUTH;
    if (nonce_mac(k, raw, client, mac) < 0)
        return SE_ERR_CRYPTO;
    if (CRYPTO_memcmp(mac, raw + 4, NONCE_MAC_LEN) != 0)
        return SE_ERR_AUTH;
    uint32_t exp = (uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 | (uint32_t)raw[2] << 8 | raw[3];
    return (int64_t)exp < now ? SE_ERR_STALE : 0;
}
