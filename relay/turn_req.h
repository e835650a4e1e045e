/*
 * turn_req.h - one STUN request in flight, shared by turn.c (dispatch,
 * TURN methods, answers) and turn_auth.c (authentication, challenges).
 * Private to those two files. Worker thread only.
 */
#ifndef SE_RELAY_TURN_REQ_H
#define SE_RELAY_TURN_REQ_H

#include "auth/auth.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct worker;
struct client_ref;
struct allocation;
struct stun_msg;
struct stun_builder;

/* Everything about the request: borrowed pointers valid for the call of
 * turn_on_stun that made it, plus what authentication found. */
struct req {
    struct worker *w;
    const struct client_ref *c;
    struct allocation *a;
    const struct stun_msg *m;
    const uint8_t *key; /* after authentication */
    size_t keylen;
    bool mi256;        /* answer with MESSAGE-INTEGRITY-SHA256 */
    bool fingerprint;  /* request carried FINGERPRINT */
    const char *user;  /* USERNAME bytes, not NUL-terminated */
    size_t user_len;
    const char *tuser; /* who the password-guess throttle counts: the user part of */
    size_t tuser_len;  /* a REST name (any expiry), else the USERNAME */
    uint8_t src[16];   /* ipc_source_key of the client */
    char quota_user[AUTH_NAME_MAX];
    char origin[AUTH_ORIGIN_MAX + 1]; /* a REST credential's origin, decoded */
    bool has_origin;
    uint8_t keybuf[AUTH_SHA256_KEY_LEN];
};

/* Start an answer of class cls to r (into w->txbuf); turn_finish adds
 * integrity and fingerprint as the request had them and sends it. */
void turn_begin(struct req *r, struct stun_builder *b, uint8_t cls);
void turn_finish(struct req *r, struct stun_builder *b);
/* Answer an error (reason phrase: reason, or the code's standard one);
 * why says which check refused (logged at debug level). On UDP the
 * answer never exceeds the request: the phrase is dropped first, then
 * the answer. */
void turn_error_reason(struct req *r, int code, const char *reason, const char *why);
void turn_error(struct req *r, int code, const char *why);
const char *turn_method_name(uint16_t method);

/* turn_auth.c */
/* Authenticate r->m: 0 (r->key, quota_user, origin set), or -1 when an
 * answer (challenge, error) was sent or the request was dropped. */
int turn_authenticate(struct req *r);
/* 401 or 438 with REALM and a fresh NONCE (RFC 8489 §9.2.4). */
void turn_challenge(struct req *r, int code);
/* May an answer of answer bytes, larger than r's UDP request, be sent?
 * Yes for a proven source, else within auth.challenge_rate; a refusal is
 * counted and logged. */
bool turn_oversized_ok(struct req *r, size_t answer, const char *what);
/* Once a second (worker 0, from turn_cron): ended throttle blocks,
 * counts of suppressed auth log lines. */
void turn_auth_cron(struct worker *w);

#endif
