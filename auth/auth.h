/*
 * auth.h - credentials for the relay: long-term keys, TURN REST
 * credentials, stateless nonces and the credential snapshot.
 *
 * Nothing here knows about sockets or STUN framing: the relay parses the
 * message and asks these functions for keys and verdicts. Passwords are
 * never stored: a user is kept as its two long-term keys (RFC 8489 §9.2.2),
 * H(username ":" realm ":" password) with H = MD5 and SHA-256. Passwords
 * are taken as their UTF-8 bytes (no SASLprep/OpaqueString mapping), which
 * is what browsers and coturn do.
 */
#ifndef SE_AUTH_H
#define SE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct se_addr;

enum {
    AUTH_MD5_KEY_LEN = 16,
    AUTH_SHA256_KEY_LEN = 32,
    AUTH_NAME_MAX = 512,     /* USERNAME is < 509 bytes (RFC 8489 §14.3) */
    AUTH_NONCE_MAX = 64,
    AUTH_REST_PW_LEN = 28,   /* base64 of a 20-byte HMAC-SHA1 */
};

/* Long-term keys. Return 0 or SE_ERR_CRYPTO. */
int auth_key_md5(const char *user, const char *realm, const char *password,
                 uint8_t out[AUTH_MD5_KEY_LEN]);
int auth_key_sha256(const char *user, const char *realm, const char *password,
                    uint8_t out[AUTH_SHA256_KEY_LEN]);
/* Same, with explicit lengths (USERNAME is not NUL-terminated on the wire). */
int auth_key_derive(bool sha256, const char *user, size_t ulen, const char *realm,
                    const char *password, size_t plen, uint8_t *out);

/*
 * Is (name, len) usable as a user name: 1 to AUTH_NAME_MAX - 1 bytes and
 * no control byte (NUL, other C0 bytes, DEL)? USERNAME is length-delimited
 * on the wire and may carry any byte; lookups refuse what fails this
 * before comparing anything.
 */
bool auth_name_valid(const char *name, size_t len);

/* ---- TURN REST ephemeral credentials ----
 * username = "<expiry unix time>:<user>" or "<expiry>:<user>:<origin-id>",
 * password = base64(HMAC-SHA1(secret, username)).
 */
struct auth_rest_name {
    int64_t expiry;
    const char *user;   /* borrowed from the username, not NUL-terminated */
    size_t user_len;
    const char *origin; /* NULL if absent */
    size_t origin_len;
};

/* Parse a REST username. 0, or SE_ERR_PARSE if it is not one (also when
 * it fails auth_name_valid()). */
int auth_rest_parse(const char *username, size_t len, struct auth_rest_name *out);
/*
 * The origin-id of a REST username: base64url without padding of the
 * origin's bytes ("https://meet.example.com" -> "aHR0cHM6Ly9tZWV0LmV4YW1w
 * bGUuY29t"), so the username stays free of ':' and the relay recovers
 * the exact origin for policy rules. The credential's HMAC binds it.
 * encode: returns the length written (NUL-terminated) or SE_ERR_TOOBIG.
 * decode: returns the decoded length (NUL-terminated) or SE_ERR_PARSE.
 */
enum { AUTH_ORIGIN_MAX = 255 };
/* Strict unpadded base64url (RFC 4648 §5, as JWS uses it): canonical
 * texts only. Returns the decoded length, or SE_ERR_PARSE (bad alphabet,
 * impossible length, non-zero tail bits, or more than outlen bytes). */
int auth_b64url_decode(const char *in, size_t len, uint8_t *out, size_t outlen);
int auth_origin_encode(const char *origin, size_t len, char *out, size_t outlen);
int auth_origin_decode(const char *id, size_t len, char *out, size_t outlen);

/* The REST password for username under secret; out gets AUTH_REST_PW_LEN+1. */
int auth_rest_password(const char *secret, const char *username, size_t ulen, char *out,
                       size_t outlen);

/* ---- stateless nonces ----
 * A nonce carries its expiry and a MAC over (expiry, client IP) under a
 * process key, so the server keeps no state and a nonce replayed from
 * another address is refused. With features set, the RFC 8489 §9.2
 * "obMatJos2" cookie advertising password algorithms is prefixed.
 */
struct auth_nonce_key {
    uint8_t key[32];
};

int auth_nonce_key_init(struct auth_nonce_key *k); /* random key */
/* Write a NUL-terminated nonce to out (AUTH_NONCE_MAX). Returns its length. */
int auth_nonce_make(const struct auth_nonce_key *k, const struct se_addr *client, int64_t now,
                    unsigned lifetime, bool features, char *out, size_t outlen);
/* 0 if valid and fresh, SE_ERR_STALE if valid but expired, else SE_ERR_AUTH. */
int auth_nonce_check(const struct auth_nonce_key *k, const struct se_addr *client, int64_t now,
                     const char *nonce, size_t len);
/* Does the nonce advertise RFC 8489 password algorithms? */
bool auth_nonce_has_features(const char *nonce, size_t len);

/* ---- the credential snapshot ----
 * Built by the control thread, frozen, then read by any number of threads
 * without locks. Caller frees with auth_creds_free() once no reader is
 * left (the relay snapshot's reference count decides that).
 */
struct auth_user {
    char *name;
    uint8_t key_md5[AUTH_MD5_KEY_LEN];
    uint8_t key_sha256[AUTH_SHA256_KEY_LEN];
};

struct auth_creds;

struct auth_creds *auth_creds_new(void);
void auth_creds_free(struct auth_creds *c);
int auth_creds_add_user(struct auth_creds *c, const char *name, const uint8_t *key_md5,
                        const uint8_t *key_sha256);
int auth_creds_add_secret(struct auth_creds *c, const char *secret);
/* Sort for lookup; no more adds after this. */
void auth_creds_freeze(struct auth_creds *c);
/* Borrowed, valid while c is. NULL if unknown or if (name, len) fails
 * auth_name_valid(); lengths are compared before bytes. */
const struct auth_user *auth_creds_find_user(const struct auth_creds *c, const char *name,
                                             size_t len);
size_t auth_creds_user_count(const struct auth_creds *c);
size_t auth_creds_secret_count(const struct auth_creds *c);
const char *auth_creds_secret(const struct auth_creds *c, size_t i);

/* ---- password-guess throttling, reflection budget (throttle.c) ----
 * Shared by all workers; only requests that carry credentials and
 * answers larger than their request touch it, never relayed data, so the
 * mutex inside is off the data path. Sources are 16-byte keys chosen by
 * the caller (the relay: an IPv4 address or an IPv6 /64); times are unix
 * seconds. Bounded tables: a flood of sources evicts, never grows.
 */
struct auth_throttle;

enum {
    AUTH_PROVEN_TIME = 600, /* seconds a source stays proven after an authenticated exchange */
};
enum auth_throttle_state { AUTH_THROTTLE_OK = 0, AUTH_THROTTLE_USER = 1, AUTH_THROTTLE_SOURCE = 2 };

/* max_failures of one user from one source within window_s block that
 * pair for block_s seconds; the per-source ceiling starts equal to
 * max_failures (auth_throttle_set resets it) until set_source_limit. */
struct auth_throttle *auth_throttle_new(unsigned max_failures, unsigned window_s,
                                        unsigned block_s);
void auth_throttle_free(struct auth_throttle *t);
void auth_throttle_set(struct auth_throttle *t, unsigned max_failures, unsigned window_s,
                       unsigned block_s);
/* Failures for any users from one source that block the whole source. */
void auth_throttle_set_source_limit(struct auth_throttle *t, unsigned max_failures);
/* Is a request from src for user (len bytes; NULL: any) refused now?
 * AUTH_THROTTLE_SOURCE / _USER say which block refuses it (and it is
 * counted for the block's report), AUTH_THROTTLE_OK if none. */
int auth_throttle_check(struct auth_throttle *t, const uint8_t src[16], const char *user,
                        size_t len, int64_t now);
/* Record a failed authentication of user (NULL: count only the source)
 * from src. Returns the block this failure starts, or AUTH_THROTTLE_OK. */
int auth_throttle_fail_user(struct auth_throttle *t, const uint8_t src[16], const char *user,
                            size_t len, int64_t now);
/* Source-only forms (the API's use): blocked by the source ceiling? */
bool auth_throttle_blocked(struct auth_throttle *t, const uint8_t ip[16], int64_t now);
bool auth_throttle_fail(struct auth_throttle *t, const uint8_t ip[16], int64_t now);
/* Blocks that have ended since the last call, with the number of
 * requests each refused; fills at most max, returns how many. */
struct auth_throttle_end {
    uint8_t src[16];
    char user[65];      /* "" for a whole-source block; cut at 64 bytes */
    bool whole_source;
    uint64_t refused;
};
size_t auth_throttle_report(struct auth_throttle *t, int64_t now, struct auth_throttle_end *out,
                            size_t max);
/* Answers larger than their request (401/438 challenges, Binding success),
 * which a spoofed source could use for reflection: at most per_second
 * per unproven source; 0 = unlimited. */
void auth_throttle_set_challenge_rate(struct auth_throttle *t, unsigned per_second);
/* May src get another oversized answer now? Always for a proven source. */
bool auth_throttle_challenge(struct auth_throttle *t, const uint8_t src[16], int64_t now);
/* src completed an authenticated exchange (so it receives our answers):
 * proven for AUTH_PROVEN_TIME seconds. */
void auth_throttle_prove(struct auth_throttle *t, const uint8_t src[16], int64_t now);
bool auth_throttle_proven(struct auth_throttle *t, const uint8_t src[16], int64_t now);

/* ---- origin ids (REST usernames bound to a web origin) ----
 * origin-id = auth_origin_encode() of the normalised origin: lower case,
 * and it must be a serialized origin "scheme://host[:port]" (RFC 6454
 * 6.2: no path, query or userinfo). Reversible, so the relay's policy can
 * match the exact origin (and wildcards) from the username alone; the
 * REST HMAC covers it. At most AUTH_ORIGIN_ID_MAX characters of
 * [A-Za-z0-9_-], never ':'.
 */
enum { AUTH_ORIGIN_ID_MAX = (AUTH_ORIGIN_MAX + 2) / 3 * 4 };
/* 0, or SE_ERR_PARSE if origin is not a serialized origin (or out is too
 * small: it needs AUTH_ORIGIN_ID_MAX + 1 bytes for any origin). */
int auth_origin_id(const char *origin, size_t len, char *out, size_t outlen);

/* ---- API role tokens ----
 * A token is "sedge_" + base64url(32 random bytes); only its SHA-256 is
 * stored. Roles are fixed: admin (users, secrets, audit), compliance
 * (recordings), auditor (audit log, read only), metrics (/metrics only,
 * for a Prometheus scraper).
 */
enum auth_role {
    AUTH_ROLE_ADMIN = 1,
    AUTH_ROLE_COMPLIANCE = 2,
    AUTH_ROLE_AUDITOR = 4,
    AUTH_ROLE_METRICS = 8,
};
enum { AUTH_TOKEN_LEN = 49, AUTH_TOKEN_HASH_LEN = 32 };
/* A new random token (out gets AUTH_TOKEN_LEN + 1). 0 or SE_ERR_CRYPTO. */
int auth_token_new(char *out, size_t outlen);
/* SHA-256 of the token text. 0 or SE_ERR_CRYPTO. */
int auth_token_hash(const char *token, size_t len, uint8_t out[AUTH_TOKEN_HASH_LEN]);
/* Does the text look like a sedge token (prefix and length)? */
bool auth_token_looks_valid(const char *token, size_t len);
/* "admin" <-> AUTH_ROLE_ADMIN ...; parse returns SE_ERR_INVAL if unknown. */
int auth_role_parse(const char *name);
const char *auth_role_name(int role);

/* base64 (RFC 4648 §4) with padding; returns length or SE_ERR_TOOBIG. */
int auth_base64(const uint8_t *in, size_t len, char *out, size_t outlen);

#endif
