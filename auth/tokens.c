/*
 * tokens.c - API role tokens and origin ids.
 *
 * Both are pure functions. A role token carries 256 random bits, so its
 * SHA-256 can be looked up directly (no salt, no slow hash: there is no
 * dictionary to attack); the database never holds the token itself.
 * Origin ids bind a TURN REST username to the web origin it was minted
 * for, in a form that is short, URL-safe and free of the ':' that
 * separates the username's fields.
 */
#include "auth/auth.h"
#include "core/err.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

enum { TOKEN_RAW_LEN = 32 };
static const char token_prefix[] = "sedge_";

static void b64url(const uint8_t *in, size_t len, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;

    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        size_t n = len - i < 3 ? len - i : 3;
        if (n > 1)
            v |= (uint32_t)in[i + 1] << 8;
        if (n > 2)
            v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        if (n > 1)
            out[o++] = tab[(v >> 6) & 63];
        if (n > 2)
            out[o++] = tab[v & 63];
    }
    out[o] = '\0';
}

static int sha256(const void *in, size_t len, uint8_t out[32])
{
    return EVP_Digest(in, len, out, NULL, EVP_sha256(), NULL) == 1 ? 0 : SE_ERR_CRYPTO;
}

static bool scheme_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (!first && ((c >= '0' && c <= '9') || c == '+' ||
                                                 c == '-' || c == '.'));
}

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == ':' || c == '[' || c == ']';
}

int auth_origin_id(const char *origin, size_t len, char *out, size_t outlen)
{
    char norm[AUTH_ORIGIN_MAX + 1];
    size_t i = 0;

    if (len == 0 || len > AUTH_ORIGIN_MAX)
        return SE_ERR_PARSE;
    for (size_t k = 0; k < len; k++) {
        char c = origin[k];
        norm[k] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    norm[len] = '\0';
    while (i < len && scheme_char(norm[i], i == 0))
        i++;
    if (i == 0 || len - i < 4 || memcmp(norm + i, "://", 3) != 0)
        return SE_ERR_PARSE;
    i += 3;
    if (i == len)
        return SE_ERR_PARSE; /* no host */
    for (; i < len; i++)
        if (!host_char(norm[i]))
            return SE_ERR_PARSE; /* path, query, userinfo, spaces, NUL... */
    return auth_origin_encode(norm, len, out, outlen) < 0 ? SE_ERR_PARSE : 0;
}

int auth_token_new(char *out, size_t outlen)
{
    uint8_t raw[TOKEN_RAW_LEN];

    if (outlen < AUTH_TOKEN_LEN + 1)
        return SE_ERR_TOOBIG;
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return SE_ERR_CRYPTO;
    memcpy(out, token_prefix, sizeof(token_prefix) - 1);
    b64url(raw, sizeof(raw), out + sizeof(token_prefix) - 1);
    return 0;
}

int auth_token_hash(const char *token, size_t len, uint8_t out[AUTH_TOKEN_HASH_LEN])
{
    return sha256(token, len, out);
}

bool auth_token_looks_valid(const char *token, size_t len)
{
    if (len != AUTH_TOKEN_LEN || memcmp(token, token_prefix, sizeof(token_prefix) - 1) != 0)
        return false;
    for (size_t i = sizeof(token_prefix) - 1; i < len; i++) {
        char c = token[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

int auth_role_parse(const char *name)
{
    if (strcmp(name, "admin") == 0)
        return AUTH_ROLE_ADMIN;
    if (strcmp(name, "compliance") == 0)
        return AUTH_ROLE_COMPLIANCE;
    if (strcmp(name, "auditor") == 0)
        return AUTH_ROLE_AUDITOR;
    if (strcmp(name, "metrics") == 0)
        return AUTH_ROLE_METRICS;
    return SE_ERR_INVAL;
}

const char *auth_role_name(int role)
{
    switch (role) {
    case AUTH_ROLE_ADMIN: return "admin";
    case AUTH_ROLE_COMPLIANCE: return "compliance";
    case AUTH_ROLE_AUDITOR: return "auditor";
    case AUTH_ROLE_METRICS: return "metrics";
    default: return "?";
    }
}
