/*
 * verdict.c - policy's verdicts on live allocations.
 *
 * Every question is answered against the worker's current snapshot
 * (immutable, no lock) and answered only: nothing here changes or frees
 * an allocation. alloc.c owns the lifecycle and acts on the answers when
 * a snapshot arrives and every policy.recheck_interval seconds (time
 * windows): a credential that no longer verifies, a disabled user or a
 * rule that now denies ends the allocation ("revoked"); a peer that is
 * now denied loses its permission and channels; a changed rule brings
 * its new limits.
 *
 * Fail closed for recording: an allocation whose rule says `record
 * always` (or a peer whose rule does) may reach only the anchor's
 * addresses and ports, where the call is decrypted and recorded; every
 * other peer is refused at CreatePermission, ChannelBind and Send, and
 * such permissions are removed when a policy change starts to require
 * recording. Without an anchor such allocations are refused outright.
 */
#include "relay/verdict.h"
#include "auth/auth.h"
#include "core/log.h"
#include "policy/peers.h"
#include "policy/rules.h"
#include "relay/alloc.h"
#include "relay/clock.h"
#include "relay/snap.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

static struct se_log_rl rl_peer_policy, rl_record;

static void query_for(const struct allocation *a, const struct se_addr *peer, struct pol_query *q)
{
    memset(q, 0, sizeof(*q));
    q->user = a->quota_user;
    q->user_len = strlen(a->quota_user);
    q->origin = a->origin;
    q->origin_len = a->origin ? strlen(a->origin) : 0;
    q->client = &a->client.addr;
    q->transport = a->client.transport;
    q->peer = peer;
    q->at = relay_now_wall();
}

bool verdict_peer(const struct allocation *a, const struct se_addr *peer, bool log)
{
    struct pol_decision d;
    struct pol_query q;

    if (!a->w->snap->rules)
        return true;
    query_for(a, peer, &q);
    pol_rules_eval(a->w->snap->rules, &q, &d);
    if (d.allow)
        return true;
    if (log) {
        char ps[SE_ADDR_STRLEN];
        atomic_fetch_add_explicit(&a->w->st.policy_denied, 1, memory_order_relaxed);
        se_log_rl(&rl_peer_policy, SE_LOG_INFO, "peer denied by policy user=%s peer=%s rule=#%lld %s",
                  a->quota_user, se_addr_ip_str(peer, ps, sizeof(ps)), (long long)d.rule_id,
                  d.rule_name);
    }
    return false;
}

bool verdict_record_peer(const struct allocation *a, const struct se_addr *peer, bool with_port,
                         bool log)
{
    const struct relay_snap *s = a->w->snap;
    bool need = a->record == POL_RECORD_ALWAYS;
    int64_t rule = a->rule_id;

    if (!need && s->rules) {
        struct pol_decision d;
        struct pol_query q;
        query_for(a, peer, &q);
        pol_rules_eval(s->rules, &q, &d);
        need = d.allow && d.record == POL_RECORD_ALWAYS;
        rule = d.rule_id;
    }
    if (!need || pol_peers_is_anchor(s->peers, peer, with_port))
        return true;
    if (log) {
        char ps[SE_ADDR_STRLEN];
        atomic_fetch_add_explicit(&a->w->st.policy_denied, 1, memory_order_relaxed);
        se_log_rl(&rl_record, SE_LOG_INFO,
                  "peer refused: recording required (rule #%lld), only the anchor may be "
                  "reached user=%s peer=%s",
                  (long long)rule, a->quota_user,
                  with_port ? se_addr_str(peer, ps, sizeof(ps))
                            : se_addr_ip_str(peer, ps, sizeof(ps)));
    }
    return false;
}

/* Does the allocation's credential still verify under the snapshot? */
static bool creds_valid(const struct allocation *a, const struct relay_snap *s, const char **why)
{
    const struct auth_user *u;
    struct auth_rest_name rest;
    bool sha256 = a->keylen == AUTH_SHA256_KEY_LEN;

    if (s->rules && pol_rules_user_disabled(s->rules, a->quota_user, strlen(a->quota_user))) {
        *why = "user disabled";
        return false;
    }
    if (auth_creds_secret_count(s->creds) > 0 && auth_rest_parse(a->user, a->user_len, &rest) == 0) {
        for (size_t i = 0; i < auth_creds_secret_count(s->creds); i++) {
            char pw[AUTH_REST_PW_LEN + 4];
            uint8_t key[AUTH_SHA256_KEY_LEN];
            if (auth_rest_password(auth_creds_secret(s->creds, i), a->user, a->user_len, pw,
                                   sizeof(pw)) >= 0 &&
                auth_key_derive(sha256, a->user, a->user_len, s->realm, pw, strlen(pw), key) >= 0 &&
                CRYPTO_memcmp(key, a->key, a->keylen) == 0)
                return true;
        }
    }
    u = auth_creds_find_user(s->creds, a->user, a->user_len);
    if (u && CRYPTO_memcmp(sha256 ? u->key_sha256 : u->key_md5, a->key, a->keylen) == 0)
        return true;
    *why = u ? "password changed" : "user or REST secret removed";
    return false;
}

bool verdict_keep_permission(const struct allocation *a, const struct se_addr *peer)
{
    return pol_peers_check_ip(a->w->snap->peers, peer) == POL_PEER_OK &&
           verdict_peer(a, peer, false) && verdict_record_peer(a, peer, false, false);
}

bool verdict_keep_channel(const struct allocation *a, const struct se_addr *peer)
{
    /* A channel to a port outside the anchor's range, once recording is
     * required (its IP may still be the anchor's), goes. */
    return a->record != POL_RECORD_ALWAYS || pol_peers_is_anchor(a->w->snap->peers, peer, true);
}

enum verdict_alloc verdict_alloc(const struct allocation *a, bool check_creds,
                                 struct pol_decision *d, char *why, size_t whylen)
{
    const struct relay_snap *s = a->w->snap;
    const char *reason;
    struct pol_query q;

    *d = (struct pol_decision){.allow = true, .rule_name = ""};
    if (check_creds && !creds_valid(a, s, &reason)) {
        snprintf(why, whylen, "%s", reason);
        return VERDICT_REVOKE;
    }
    if (s->rules) {
        query_for(a, NULL, &q);
        pol_rules_eval(s->rules, &q, d);
    }
    if (!d->allow) {
        if (d->rule_id)
            snprintf(why, whylen, "denied by rule #%lld %s", (long long)d->rule_id, d->rule_name);
        else
            snprintf(why, whylen, "denied by the default action");
        return VERDICT_REVOKE;
    }
    if (d->record == POL_RECORD_ALWAYS && !pol_peers_has_anchor(s->peers)) {
        snprintf(why, whylen, "recording required and no anchor is configured");
        return VERDICT_REVOKE;
    }
    return VERDICT_KEEP;
}
