/*
 * policy.c - policy on live allocations: limits, re-checks, session events.
 *
 * The Allocate decision (turn.c) fixes an allocation's rule, bandwidth
 * cap, duration limit and record flag here. Afterwards every allocation
 * is re-checked whenever its worker receives a new snapshot (users,
 * secrets or rules changed) and every policy.recheck_interval seconds
 * (time windows): a credential that no longer verifies, a disabled user
 * or a rule that now denies ends it with reason "revoked"; a peer that
 * is now denied loses its permission and channels; a changed rule brings
 * its new limits. All of it runs on the owning worker, against the
 * immutable snapshot, without locks.
 *
 * Session events (START, UPDATE, END) go to the control thread through a
 * bounded queue (core/queue.h); the control thread writes the sessions
 * table. A full queue drops the event and counts it: media never waits
 * for bookkeeping.
 *
 * Fail closed for recording: an allocation whose rule says `record
 * always` (or a peer whose rule does) may reach only the anchor's
 * addresses and ports, where the call is decrypted and recorded; every
 * other peer is refused at CreatePermission, ChannelBind and Send, and
 * such permissions are removed when a policy change starts to require
 * recording. Without an anchor such allocations are refused outright.
 *
 * The bandwidth cap is a token bucket per direction (bwcap.c).
 */
#include "relay/alloc.h"
#include "relay/clock.h"
#include "relay/server.h"
#include "relay/snap.h"
#include "core/err.h"
#include "core/log.h"
#include "core/queue.h"
#include "policy/peers.h"
#include "policy/rules.h"
#include "relay/offload/offload.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct se_log_rl rl_events, rl_revoke, rl_peer_policy, rl_record;

/* ---- session events ---- */

static void peer_of(const struct permission *p, struct se_addr *out)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    memset(out, 0, sizeof(*out));
    memcpy(out->ip, p->ip, 16);
    out->family = memcmp(p->ip, mapped, 12) == 0 ? AF_INET : AF_INET6;
}

void alloc_peers_str(const struct allocation *a, char *buf, size_t len)
{
    size_t pl = 0;

    buf[0] = '\0';
    for (uint16_t i = 0; i < a->n_perms && pl + SE_ADDR_STRLEN < len; i++) {
        struct se_addr p;
        char ip[SE_ADDR_STRLEN];
        peer_of(&a->perms[i], &p);
        int n = snprintf(buf + pl, len - pl, "%s%s", pl ? "," : "",
                         se_addr_ip_str(&p, ip, sizeof(ip)));
        if (n > 0)
            pl += (size_t)n;
    }
}

/* Copy str into e->text at *off; returns where it landed. */
static const char *put_text(struct relay_event *e, size_t *off, const char *str)
{
    char *dst = e->text + *off;
    size_t n = strlen(str) + 1;

    memcpy(dst, str, n);
    *off += n;
    return dst;
}

/* rule_name: NULL leaves the row's rule as it is (periodic updates). */
static void post(struct allocation *a, int type, const char *reason, const char *rule_name)
{
    struct worker *w = a->w;
    char client[80] = "", relay[SE_ADDR_STRLEN] = "", peers[512];
    const char *user = "", *username = "", *origin = "", *transport = "";

    if (type == RELAY_EV_START) {
        char as[SE_ADDR_STRLEN];
        user = a->quota_user;
        username = a->user;
        origin = a->origin ? a->origin : "";
        transport = se_transport_name(a->client.transport);
        snprintf(client, sizeof(client), "%s:%s", transport,
                 se_addr_str(&a->client.addr, as, sizeof(as)));
        se_addr_str(&a->relay[0].addr, relay, sizeof(relay));
    }
    alloc_peers_str(a, peers, sizeof(peers));
    bool set_rule = rule_name != NULL;
    if (!rule_name)
        rule_name = "";
    if (!reason)
        reason = "";
    size_t text = strlen(user) + strlen(username) + strlen(origin) + strlen(client) +
                  strlen(transport) + strlen(relay) + strlen(peers) + strlen(rule_name) +
                  strlen(reason) + 9;
    struct relay_event *e = malloc(sizeof(*e) + text);
    if (!e) {
        se_log_rl(&rl_events, SE_LOG_WARN, "session event dropped: out of memory");
        return;
    }
    size_t off = 0;
    e->type = type;
    snprintf(e->sid, sizeof(e->sid), "%s-%llu", w->srv->instance, (unsigned long long)a->sid);
    e->at = type == RELAY_EV_START ? a->started_wall : relay_now_wall();
    e->rule_id = set_rule ? a->rule_id : -1;
    e->record = a->record;
    e->user = put_text(e, &off, user);
    e->username = put_text(e, &off, username);
    e->origin = put_text(e, &off, origin);
    e->client = put_text(e, &off, client);
    e->transport = put_text(e, &off, transport);
    e->relay = put_text(e, &off, relay);
    e->peers = put_text(e, &off, peers);
    e->rule_name = put_text(e, &off, rule_name);
    e->reason = put_text(e, &off, reason);
    e->bytes_from_client = a->bytes_from_client;
    e->bytes_to_client = a->bytes_to_client;
    e->pkts_from_client = a->pkts_from_client;
    e->pkts_to_client = a->pkts_to_client;
    if (se_queue_push(w->srv->events, e) < 0) {
        free(e);
        se_log_rl(&rl_events, SE_LOG_WARN,
                  "session event dropped: the control thread is behind (queue full)");
    }
}

static void apply_decision(struct allocation *a, const struct pol_decision *d)
{
    a->rule_id = d->rule_id;
    a->record = d->record;
    bwcap_set(&a->rl_out, d->max_kbps);
    bwcap_set(&a->rl_in, d->max_kbps);
    a->deadline = d->max_duration ? a->started + (int64_t)d->max_duration : 0;
}

void alloc_policy_start(struct allocation *a, const struct alloc_request *req)
{
    struct relay_server *srv = a->w->srv;

    a->sid = atomic_fetch_add_explicit(&srv->next_sid, 1, memory_order_relaxed) + 1;
    a->next_update = a->w->now + a->w->snap->session_update;
    if (req->policy)
        apply_decision(a, req->policy);
    post(a, RELAY_EV_START, NULL, req->policy ? req->policy->rule_name : "");
}

void alloc_policy_end(struct allocation *a, const char *reason)
{
    post(a, RELAY_EV_END, reason, NULL);
}

void alloc_policy_cron(struct allocation *a)
{
    uint64_t pkts = a->pkts_from_client + a->pkts_to_client;

    if (a->w->now < a->next_update)
        return;
    a->next_update = a->w->now + a->w->snap->session_update;
    if (pkts == a->reported_pkts && !a->peers_changed)
        return;
    a->reported_pkts = pkts;
    a->peers_changed = false;
    post(a, RELAY_EV_UPDATE, NULL, NULL);
}

/* ---- re-checks ---- */

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

static bool peer_ok(struct allocation *a, const struct se_addr *peer, bool log)
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

bool alloc_peer_policy_ok(struct allocation *a, const struct se_addr *peer)
{
    return peer_ok(a, peer, true);
}

bool alloc_record_peer_ok(struct allocation *a, const struct se_addr *peer, bool with_port,
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

static void revoke(struct allocation *a, const char *why)
{
    char cs[SE_ADDR_STRLEN];

    atomic_fetch_add_explicit(&a->w->st.revoked, 1, memory_order_relaxed);
    se_log_rl(&rl_revoke, SE_LOG_INFO, "allocation revoked user=%s client=%s: %s", a->user,
              se_addr_str(&a->client.addr, cs, sizeof(cs)), why);
    alloc_free(a, "revoked");
}

/* Remove permissions (and their channels) whose peer is now denied. */
static void recheck_peers(struct allocation *a)
{
    /* Channels to a port outside the anchor's range, once recording is
     * required (their IP may still be the anchor's). */
    for (uint16_t k = 0; a->record == POL_RECORD_ALWAYS && k < a->n_chans;) {
        if (pol_peers_is_anchor(a->w->snap->peers, &a->chans[k].peer, true)) {
            k++;
            continue;
        }
        a->chans[k] = a->chans[--a->n_chans];
        atomic_fetch_add_explicit(&a->w->st.revoked, 1, memory_order_relaxed);
    }
    for (uint16_t i = 0; i < a->n_perms;) {
        struct se_addr p;
        peer_of(&a->perms[i], &p);
        if (pol_peers_check_ip(a->w->snap->peers, &p) == POL_PEER_OK && peer_ok(a, &p, false) &&
            alloc_record_peer_ok(a, &p, false, false)) {
            i++;
            continue;
        }
        char ps[SE_ADDR_STRLEN];
        se_log_rl(&rl_revoke, SE_LOG_INFO, "permission revoked user=%s peer=%s", a->user,
                  se_addr_ip_str(&p, ps, sizeof(ps)));
        atomic_fetch_add_explicit(&a->w->st.revoked, 1, memory_order_relaxed);
        for (uint16_t k = 0; k < a->n_chans;) {
            if (memcmp(a->chans[k].peer.ip, p.ip, 16) == 0)
                a->chans[k] = a->chans[--a->n_chans];
            else
                k++;
        }
        a->perms[i] = a->perms[--a->n_perms];
        a->peers_changed = true;
    }
}

void alloc_recheck_all(struct worker *w, bool check_creds)
{
    struct relay_snap *s = w->snap;

    for (struct allocation *a = w->allocs, *next; a; a = next) {
        struct pol_decision d = {.allow = true, .rule_name = ""};
        struct pol_query q;
        const char *why;

        next = a->next;
        if (check_creds && !creds_valid(a, s, &why)) {
            revoke(a, why);
            continue;
        }
        if (s->rules) {
            query_for(a, NULL, &q);
            pol_rules_eval(s->rules, &q, &d);
        }
        if (!d.allow) {
            char msg[160];
            snprintf(msg, sizeof(msg), "denied by %s%lld %s", d.rule_id ? "rule #" : "default",
                     (long long)d.rule_id, d.rule_name);
            revoke(a, d.rule_id ? msg : "denied by the default action");
            continue;
        }
        if (d.record == POL_RECORD_ALWAYS && !pol_peers_has_anchor(s->peers)) {
            revoke(a, "recording required and no anchor is configured");
            continue;
        }
        bool changed = d.rule_id != a->rule_id || d.record != a->record;
        apply_decision(a, &d);
        if (changed)
            post(a, RELAY_EV_UPDATE, NULL, d.rule_name);
        recheck_peers(a);
        relay_offload_sync(a); /* denied peers' flows go; a new cap takes flows back */
    }
}
