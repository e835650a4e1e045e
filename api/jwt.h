/*
 * jwt.h - verify bearer JWTs (RFC 7519) from the enterprise identity
 * provider: JWS compact form (RFC 7515), RS256 or ES256 (RFC 7518 §3.3,
 * §3.4), iss / aud / exp / nbf checked, the user taken from one claim.
 *
 * A key set is built once per configuration and then only read.
 */
#ifndef SE_API_JWT_H
#define SE_API_JWT_H

#include <stddef.h>
#include <stdint.h>

struct api_jwt_keys;
struct se_api_jwt;
typedef struct evp_pkey_st EVP_PKEY;

enum {
    API_JWT_MAX = 8192,   /* whole compact token */
    API_JWT_LEEWAY = 60,  /* seconds of clock skew allowed on exp / nbf */
};

struct api_jwt_keys *api_jwt_keys_new(void);
void api_jwt_keys_free(struct api_jwt_keys *k);
/* Add an issuer key from its PEM file (public key or certificate).
 * SE_ERR_CONFIG with err naming the problem. */
int api_jwt_keys_load(struct api_jwt_keys *k, const struct se_api_jwt *conf, char *err,
                      size_t errlen);
/* Same with a key already loaded: takes ownership of pkey (even on failure). */
int api_jwt_keys_add(struct api_jwt_keys *k, const char *issuer, const char *audience,
                     const char *alg, EVP_PKEY *pkey, char *err, size_t errlen);
size_t api_jwt_keys_count(const struct api_jwt_keys *k);

/*
 * Verify token (len bytes, not NUL-terminated) at time now and copy the
 * string claim named claim into user. Returns 0, or SE_ERR_AUTH /
 * SE_ERR_STALE / SE_ERR_PARSE with *why set to a short static reason
 * ("expired", "wrong audience", "bad signature", ...).
 */
int api_jwt_verify(const struct api_jwt_keys *k, const char *token, size_t len, int64_t now,
                   const char *claim, char *user, size_t userlen, const char **why);

#endif
