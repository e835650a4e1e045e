/*
 * turn_auth.c - who is asking: the long-term credential mechanism (RFC
 * 8489 §9.2) for turn.c's requests.
 *
 * A request with MESSAGE-INTEGRITY(-SHA256) names a user, the realm and a
 * nonce. The nonce is stateless and bound to the client's address
 * (auth/keys.c); RFC 8489 password algorithms are negotiated when the
 * nonce offered them. The key is derived from a TURN REST secret
 * ("expiry:user[:origin]" signed with any current secret) or taken from
 * the user table, both in the worker's snapshot, and compared in
 * constant time by the integrity check. Every failed guess counts in the
 * password-guess throttle (per user and source, and per source;
 * auth/throttle.c), whose block answers 403 without trying a key; a
 * verified request proves its source real, which lifts the reflection
 * limit on oversized answers (401/438 challenges, Binding successes) for
 * it (turn_oversized_ok). Worker thread only.
 */
#include "relay/turn_req.h"
#include "core/err.h"
#include "core/log.h"
#include "policy/rules.h"
#include "relay/client.h"
#include "relay/clock.h"
#include "relay/server.h"
#include "relay/snap.h"
#include "relay/stun.h"
#include "relay/turn.h"
#include "relay/worker.h"

#include <stdio.h>
#include <string.h>

static struct se_log_rl rl_auth, rl_throttle, rl_reflect, rl_stale;

/* The source as the throttle counts it: "192.0.2.7" or "2001:db8::/64". */
static const char *source_str(const uint8_t key[16], char *buf, size_t len)
{
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    struct se_addr a = {.family = AF_INET6};

    memcpy(a.ip, key, 16);
    if (memcmp(key, v4mapped, 12) == 0) {
        a.family = AF_INET;
        return se_addr_ip_str(&a, buf, len);
    }
    se_addr_ip_str(&a, buf, len);
    size_t n = strlen(buf);
    if (n + 4 < len)
        memcpy(buf + n, "/64", 4);
    return buf;
}

/*
 * An answer of answer bytes to r, larger than its UDP request, which a
 * spoofed source could turn into reflection: allowed for a proven source
 * (one that completed an authenticated exchange), else at most
 * auth.challenge_rate per source and second. Counts and logs a refusal.
 */
bool turn_oversized_ok(struct req *r, size_t answer, const char *what)
{
    if (!client_is_datagram(r->c) || answer <= r->m->len ||
        auth_throttle_challenge(r->w->srv->throttle, r->src, relay_now_wall()))
        return true;
    char ss[SE_ADDR_STRLEN + 4];
    atomic_fetch_add_explicit(&r->w->st.challenges_limited, 1, memory_order_relaxed);
    se_log_rl(&rl_reflect, SE_LOG_INFO,
              "%s to unproven source %s not sent: %zu-byte answer to a %zu-byte request, "
              "over auth.challenge_rate",
              what, source_str(r->src, ss, sizeof(ss)), answer, r->m->len);
    return false;
}

static const uint8_t pw_algorithms[] = {0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00};

/* 401 or 438 with REALM and a fresh NONCE (RFC 8489 §9.2.4). */
void turn_challenge(struct req *r, int code)
{
    struct relay_snap *s = r->w->snap;
    char nonce[AUTH_NONCE_MAX];
    struct stun_builder b;
    bool small = client_is_datagram(r->c) && r->m->len < 80;
    bool features = s->features && !small;
    int n = auth_nonce_make(&r->w->srv->nonce_key, &r->c->addr, relay_now_wall(),
                            s->nonce_lifetime, features, nonce, sizeof(nonce));

    if (n < 0)
        return;
    r->key = NULL; /* a challenge carries no integrity */
    turn_begin(r, &b, STUN_ERROR);
    stun_put_error(&b, code, small ? "" : stun_reason(code));
    stun_put_attr(&b, STUN_A_REALM, s->realm, strlen(s->realm));
    stun_put_attr(&b, STUN_A_NONCE, nonce, (size_t)n);
    if (features)
        stun_put_attr(&b, STUN_A_PASSWORD_ALGORITHMS, pw_algorithms, sizeof(pw_algorithms));
    size_t answer = b.len + (r->fingerprint ? 8 : 0);
    se_debug("%s challenge %d: request %zu bytes, answer %zu bytes", turn_method_name(r->m->method),
             code, r->m->len, answer);
    /* The one error answer that may exceed its request: limited for
     * unproven sources, so a spoofed source can reflect only a trickle. */
    if (!turn_oversized_ok(r, answer, code == 401 ? "401 challenge" : "438 challenge"))
        return;
    turn_finish(r, &b);
}

static bool attr_eq(const struct stun_msg *m, const struct stun_attr *a, const char *s, size_t n)
{
    return a->len == n && memcmp(stun_attr_value(m, a), s, n) == 0;
}

/* A failed guess: counted for (user, source) and for the source. */
static void auth_failed(struct req *r, const char *why)
{
    char as[SE_ADDR_STRLEN], ss[SE_ADDR_STRLEN + 4];
    int64_t now = relay_now_wall();

    atomic_fetch_add_explicit(&r->w->st.auth_failures, 1, memory_order_relaxed);
    se_log_rl(&rl_auth, SE_LOG_WARN, "auth failed: user=%.*s from %s: %s", (int)r->user_len,
              r->user, se_addr_str(&r->c->addr, as, sizeof(as)), why);
    int started =
        auth_throttle_fail_user(r->w->srv->throttle, r->src, r->tuser, r->tuser_len, now);
    if (started == AUTH_THROTTLE_USER)
        se_warn("auth: throttling user=%.*s from %s after repeated failures", (int)r->tuser_len,
                r->tuser, source_str(r->src, ss, sizeof(ss)));
    else if (started == AUTH_THROTTLE_SOURCE)
        se_warn("auth: throttling source %s (all users) after repeated failures",
                source_str(r->src, ss, sizeof(ss)));
    turn_challenge(r, 401);
}

/* A request refused by a throttle block: a clear error, no key tried. */
static void throttled(struct req *r, int state)
{
    char ss[SE_ADDR_STRLEN + 4];

    atomic_fetch_add_explicit(&r->w->st.auth_throttled, 1, memory_order_relaxed);
    se_log_rl(&rl_throttle, SE_LOG_WARN, "auth: request from user=%.*s at %s refused: %s throttled",
              (int)r->user_len, r->user, source_str(r->src, ss, sizeof(ss)),
              state == AUTH_THROTTLE_SOURCE ? "source" : "user at this source");
    turn_error_reason(r, 403, "Too many failed authentications, retry later",
                      "password-guess throttle");
}

/*
 * Try the key (derived or stored) against the message. Returns true if it
 * verifies; on success the key is kept in r->keybuf.
 */
static bool try_key(struct req *r, const uint8_t *key, size_t keylen)
{
    if (stun_check_integrity(r->m, key, keylen) != 0)
        return false;
    memcpy(r->keybuf, key, keylen);
    r->key = r->keybuf;
    r->keylen = keylen;
    return true;
}

/* A REST credential verified: its user must not be disabled, and its
 * origin-id (covered by the HMAC) must decode. 0, or -1 when answered. */
static int rest_accepted(struct req *r, const struct auth_rest_name *rest)
{
    snprintf(r->quota_user, sizeof(r->quota_user), "%.*s", (int)rest->user_len, rest->user);
    if (r->w->snap->rules &&
        pol_rules_user_disabled(r->w->snap->rules, rest->user, rest->user_len)) {
        auth_failed(r, "user is disabled");
        return -1;
    }
    if (rest->origin) {
        if (auth_origin_decode(rest->origin, rest->origin_len, r->origin, sizeof(r->origin)) < 0) {
            turn_error(r, 400, "REST username carries a malformed origin-id");
            return -1;
        }
        r->has_origin = true;
    }
    return 0;
}

/* Authenticate r->m; returns 0, or -1 when an answer was sent or dropped. */
int turn_authenticate(struct req *r)
{
    const struct stun_msg *m = r->m;
    struct relay_snap *s = r->w->snap;
    const struct stun_attr *ua, *ra, *na, *pa, *pas;
    int64_t now = relay_now_wall();
    bool sha256 = false;
    struct auth_rest_name rest;

    if (m->mi < 0 && m->mi256 < 0) {
        turn_challenge(r, 401);
        return -1;
    }
    ua = stun_find(m, STUN_A_USERNAME);
    ra = stun_find(m, STUN_A_REALM);
    na = stun_find(m, STUN_A_NONCE);
    if (!ua || !ra || !na || ua->len == 0 || ua->len >= AUTH_NAME_MAX) {
        turn_error(r, 400, "MESSAGE-INTEGRITY without USERNAME, REALM or NONCE");
        return -1;
    }
    r->user = (const char *)stun_attr_value(m, ua);
    r->user_len = ua->len;
    bool is_rest = auth_creds_secret_count(s->creds) > 0 &&
                   auth_rest_parse(r->user, r->user_len, &rest) == 0;
    r->tuser = is_rest ? rest.user : r->user;
    r->tuser_len = is_rest ? rest.user_len : r->user_len;
    int blocked = auth_throttle_check(r->w->srv->throttle, r->src, r->tuser, r->tuser_len, now);
    if (blocked != AUTH_THROTTLE_OK) {
        throttled(r, blocked);
        return -1;
    }
    const char *nonce = (const char *)stun_attr_value(m, na);
    int nrc = auth_nonce_check(&r->w->srv->nonce_key, &r->c->addr, now, nonce, na->len);
    if (nrc == SE_ERR_STALE) {
        turn_challenge(r, 438);
        return -1;
    }
    if (nrc < 0 || !attr_eq(m, ra, s->realm, strlen(s->realm))) {
        turn_challenge(r, 401); /* not ours or not for this realm: not a guess */
        return -1;
    }
    /* RFC 8489 §9.2.4: password algorithm negotiation, if our nonce offered it. */
    pa = stun_find(m, STUN_A_PASSWORD_ALGORITHM);
    pas = stun_find(m, STUN_A_PASSWORD_ALGORITHMS);
    if (auth_nonce_has_features(nonce, na->len) && (pa || pas)) {
        if (!pa || !pas || pas->len != sizeof(pw_algorithms) ||
            memcmp(stun_attr_value(m, pas), pw_algorithms, sizeof(pw_algorithms)) != 0 ||
            pa->len < 4) {
            turn_error(r, 400, "PASSWORD-ALGORITHM(S) missing or not what the server offered");
            return -1;
        }
        const uint8_t *v = stun_attr_value(m, pa);
        uint16_t alg = (uint16_t)(v[0] << 8 | v[1]);
        if (alg != STUN_PWALG_MD5 && alg != STUN_PWALG_SHA256) {
            turn_error(r, 400, "unknown PASSWORD-ALGORITHM");
            return -1;
        }
        sha256 = alg == STUN_PWALG_SHA256;
    }
    r->mi256 = m->mi256 >= 0;

    /* TURN REST credential: "expiry:user[:origin]" signed by a secret. */
    if (is_rest) {
        if (rest.expiry < now) {
            /* Not a guess (no password is tried): browsers retry stale
             * credentials, and their address must not be throttled. */
            char as[SE_ADDR_STRLEN];
            atomic_fetch_add_explicit(&r->w->st.auth_failures, 1, memory_order_relaxed);
            se_log_rl(&rl_stale, SE_LOG_INFO, "auth failed: user=%.*s from %s: REST credential expired",
                      (int)r->user_len, r->user, se_addr_str(&r->c->addr, as, sizeof(as)));
            turn_challenge(r, 401);
            return -1;
        }
        for (size_t i = 0; i < auth_creds_secret_count(s->creds); i++) {
            char pw[AUTH_REST_PW_LEN + 4];
            uint8_t key[AUTH_SHA256_KEY_LEN];
            if (auth_rest_password(auth_creds_secret(s->creds, i), r->user, r->user_len, pw,
                                   sizeof(pw)) < 0 ||
                auth_key_derive(sha256, r->user, r->user_len, s->realm, pw, strlen(pw), key) < 0)
                continue;
            if (try_key(r, key, sha256 ? AUTH_SHA256_KEY_LEN : AUTH_MD5_KEY_LEN)) {
                /* Integrity with our address-bound nonce: the source is real. */
                auth_throttle_prove(r->w->srv->throttle, r->src, now);
                return rest_accepted(r, &rest);
            }
        }
    }
    const struct auth_user *u = auth_creds_find_user(s->creds, r->user, r->user_len);
    if (u && (sha256 ? try_key(r, u->key_sha256, AUTH_SHA256_KEY_LEN)
                     : try_key(r, u->key_md5, AUTH_MD5_KEY_LEN))) {
        snprintf(r->quota_user, sizeof(r->quota_user), "%s", u->name);
        auth_throttle_prove(r->w->srv->throttle, r->src, now);
        return 0;
    }
    auth_failed(r, u ? "wrong password" : "unknown user or bad REST signature");
    return -1;
}

void turn_auth_cron(struct worker *w)
{
    struct auth_throttle_end ended[32];
    size_t n;

    /* Blocks that ended, with what they refused (most of it unlogged:
     * the per-request line is rate-limited). */
    while ((n = auth_throttle_report(w->srv->throttle, relay_now_wall(), ended, 32)) > 0) {
        for (size_t i = 0; i < n; i++) {
            char ss[SE_ADDR_STRLEN + 4];
            source_str(ended[i].src, ss, sizeof(ss));
            if (ended[i].whole_source)
                se_info("auth: throttle on source %s ended: %llu request%s refused", ss,
                        (unsigned long long)ended[i].refused, ended[i].refused == 1 ? "" : "s");
            else
                se_info("auth: throttle on user=%s from %s ended: %llu request%s refused",
                        ended[i].user, ss, (unsigned long long)ended[i].refused,
                        ended[i].refused == 1 ? "" : "s");
        }
        if (n < 32)
            break;
    }
    /* Counts of rate-limited lines are printed even when no later line
     * of the same kind comes (docs/admin.md, Logs). */
    se_log_rl_flush(&rl_auth, SE_LOG_WARN, "auth failed");
    se_log_rl_flush(&rl_throttle, SE_LOG_WARN, "auth: request refused, throttled");
    se_log_rl_flush(&rl_reflect, SE_LOG_INFO, "oversized answer to an unproven source not sent");
    se_log_rl_flush(&rl_stale, SE_LOG_INFO, "REST credential expired");
    se_log_rl_flush(&rl_auth, SE_LOG_WARN, "auth failed");
    se_log_rl_flush(&rl_throttle, SE_LOG_WARN, "auth: request refused, throttled");
    se_log_rl_flush(&rl_reflect, SE_LOG_INFO, "oversized answer to an unproven source not sent");
    se_log_rl_flush(&rl_stale, SE_LOG_INFO, "REST credential expired");
}
