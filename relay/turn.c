/*
 * turn.c - STUN/TURN request handling (RFC 8489 §9.2, RFC 8656 §7-§12).
 *
 * One entry point per message kind. A request is parsed, authenticated
 * with the long-term mechanism (users or TURN REST secrets from the
 * worker's snapshot, stateless nonces, optional RFC 8489 password
 * algorithms), then dispatched. Every error answer is chosen here, in
 * one place per check, and built by send_error(): on UDP an error
 * response is never larger than the request that caused it (the reason
 * phrase goes first, then the answer), so sedge cannot be used to
 * amplify traffic toward a spoofed source. Two answers the protocol
 * cannot do without may exceed their request: the 401/438 challenge (real
 * clients' first Allocate is 52-60 bytes, a realm and nonce need about
 * 70) and the Binding success (XOR-MAPPED-ADDRESS alone is 12 bytes over
 * a bare 20-byte request). Both are built minimal, and for a source that
 * has not yet completed an authenticated exchange (which proves it is
 * not spoofed) they are limited per source and second
 * (auth.challenge_rate, turn_oversized_ok). Authentication and the
 * challenges are in turn_auth.c.
 */
#include "relay/turn.h"
#include "core/err.h"
#include "core/log.h"
#include "policy/peers.h"
#include "policy/rules.h"
#include "relay/alloc.h"
#include "relay/client.h"
#include "relay/clock.h"
#include "relay/ipcount.h"
#include "relay/peer.h"
#include "relay/server.h"
#include "relay/snap.h"
#include "relay/stun.h"
#include "relay/turn_req.h"
#include "relay/verdict.h"
#include "relay/worker.h"
#include "relay/offload/offload.h"

#include <stdio.h>
#include <string.h>

static struct se_log_rl rl_peer, rl_bad, rl_policy;

void turn_begin(struct req *r, struct stun_builder *b, uint8_t cls)
{
    stun_build_begin(b, r->w->txbuf, sizeof(r->w->txbuf), r->m->method, cls, r->m->tid);
}

/* Append integrity/fingerprint as the request had them and send. */
void turn_finish(struct req *r, struct stun_builder *b)
{
    int len;

    if (r->key) {
        if (r->mi256)
            stun_put_integrity_sha256(b, r->key, r->keylen);
        else
            stun_put_integrity(b, r->key, r->keylen);
    }
    if (r->fingerprint)
        stun_put_fingerprint(b);
    len = stun_build_end(b);
    if (len > 0)
        client_send(r->w, r->c, r->w->txbuf, (size_t)len, false);
}

static void put_software(struct req *r, struct stun_builder *b)
{
    const char *sw = r->w->snap->software;
    if (sw[0])
        stun_put_attr(b, STUN_A_SOFTWARE, sw, strlen(sw));
}

static int build_error(struct req *r, int code, const char *reason)
{
    struct stun_builder b;

    turn_begin(r, &b, STUN_ERROR);
    stun_put_error(&b, code, reason);
    if (code == 420 && r->m->n_unknown > 0) {
        uint8_t v[STUN_MAX_UNKNOWN * 2];
        for (int i = 0; i < r->m->n_unknown; i++) {
            v[2 * i] = (uint8_t)(r->m->unknown[i] >> 8);
            v[2 * i + 1] = (uint8_t)r->m->unknown[i];
        }
        stun_put_attr(&b, STUN_A_UNKNOWN_ATTRIBUTES, v, (size_t)r->m->n_unknown * 2);
    }
    /* RFC 8489 §10: only after authentication (the caller's check) */
    if (code == 300 && r->w->srv->cfg->has_drain_alternate)
        stun_put_addr(&b, STUN_A_ALTERNATE_SERVER, &r->w->srv->cfg->drain_alternate);
    if (r->key) {
        if (r->mi256)
            stun_put_integrity_sha256(&b, r->key, r->keylen);
        else
            stun_put_integrity(&b, r->key, r->keylen);
    }
    if (r->fingerprint)
        stun_put_fingerprint(&b);
    return stun_build_end(&b);
}

const char *turn_method_name(uint16_t method)
{
    switch (method) {
    case STUN_BINDING: return "Binding";
    case TURN_ALLOCATE: return "Allocate";
    case TURN_REFRESH: return "Refresh";
    case TURN_CREATE_PERMISSION: return "CreatePermission";
    case TURN_CHANNEL_BIND: return "ChannelBind";
    default: return "unknown method";
    }
}

/* Answer an error with a reason phrase; why says which check refused
 * (logged at debug level). */
void turn_error_reason(struct req *r, int code, const char *reason, const char *why)
{
    char as[SE_ADDR_STRLEN];

    se_debug("%s from %s: %d %s (%s)", turn_method_name(r->m->method),
             se_addr_str(&r->c->addr, as, sizeof(as)), code, reason, why);
    int len = build_error(r, code, reason);

    if (len > 0 && client_is_datagram(r->c) && (size_t)len > r->m->len)
        len = build_error(r, code, "");
    if (len <= 0)
        return;
    if (client_is_datagram(r->c) && (size_t)len > r->m->len) {
        /* Would amplify: answer nothing. */
        atomic_fetch_add_explicit(&r->w->st.dropped_bad_input, 1, memory_order_relaxed);
        return;
    }
    client_send(r->w, r->c, r->w->txbuf, (size_t)len, false);
}

void turn_error(struct req *r, int code, const char *why)
{
    turn_error_reason(r, code, stun_reason(code), why);
}

/* ---- helpers ---- */

static uint32_t grant_lifetime(struct req *r, bool *zero)
{
    const struct stun_attr *la = stun_find(r->m, STUN_A_LIFETIME);
    struct relay_snap *s = r->w->snap;
    uint32_t v = s->default_lifetime;

    *zero = false;
    if (la && stun_attr_u32(r->m, la, &v) == 0) {
        if (v == 0) {
            *zero = true;
            return 0;
        }
        if (v > s->max_lifetime)
            v = s->max_lifetime;
        if (v < s->default_lifetime)
            v = s->default_lifetime; /* RFC 8656 §7.2 */
    }
    return v;
}

static bool peer_allowed(struct req *r, const struct se_addr *peer, bool with_port)
{
    enum pol_peer_verdict v = with_port ? pol_peers_check(r->w->snap->peers, peer)
                                        : pol_peers_check_ip(r->w->snap->peers, peer);
    if (v == POL_PEER_OK)
        return true;
    char ps[SE_ADDR_STRLEN];
    atomic_fetch_add_explicit(&r->w->st.peer_denied, 1, memory_order_relaxed);
    se_log_rl(&rl_peer, SE_LOG_INFO, "peer denied user=%.*s peer=%s: %s", (int)r->user_len,
              r->user, with_port ? se_addr_str(peer, ps, sizeof(ps)) : se_addr_ip_str(peer, ps, sizeof(ps)),
              pol_peer_verdict_str(v));
    return false;
}

static void put_address_error(struct stun_builder *b, int family_code, int code)
{
    const char *reason = stun_reason(code);
    uint8_t v[4 + 32];
    size_t rl = strlen(reason);

    if (rl > 32)
        rl = 32;
    v[0] = (uint8_t)family_code;
    v[1] = 0;
    v[2] = (uint8_t)(code / 100);
    v[3] = (uint8_t)(code % 100);
    memcpy(v + 4, reason, rl);
    stun_put_attr(b, STUN_A_ADDRESS_ERROR_CODE, v, 4 + rl);
}

static void send_allocate_success(struct req *r, struct allocation *a, const uint8_t *token,
                                  int dual_err)
{
    struct stun_builder b;

    turn_begin(r, &b, STUN_SUCCESS);
    const struct se_config *cfg = r->w->srv->cfg;
    for (int i = 0; i < a->n_relay; i++) {
        /* Behind a 1:1 NAT (relay.external_address): the public address
         * with the port the socket is bound to. */
        struct se_addr adv = a->relay[i].addr;
        if (adv.family == AF_INET && cfg->has_relay_ext_v4)
            memcpy(adv.ip, cfg->relay_ext_v4.ip, 16);
        else if (adv.family == AF_INET6 && cfg->has_relay_ext_v6)
            memcpy(adv.ip, cfg->relay_ext_v6.ip, 16);
        stun_put_xor_addr(&b, STUN_A_XOR_RELAYED_ADDRESS, &adv);
    }
    stun_put_u32(&b, STUN_A_LIFETIME, (uint32_t)(a->expires - r->w->now));
    if (token)
        stun_put_attr(&b, STUN_A_RESERVATION_TOKEN, token, 8);
    if (dual_err)
        put_address_error(&b, STUN_FAMILY_V6, dual_err);
    stun_put_xor_addr(&b, STUN_A_XOR_MAPPED_ADDRESS, &r->c->addr);
    put_software(r, &b);
    turn_finish(r, &b);
}

/* ---- methods ---- */

/*
 * Binding needs no credentials, so its answer is a reflection vector:
 * over UDP an unproven source gets the smallest answer (no SOFTWARE)
 * and, when even that exceeds its request (XOR-MAPPED-ADDRESS alone is
 * 12 or 24 bytes over a bare 20-byte request), only within the
 * auth.challenge_rate budget. Proven sources get the full answer.
 */
static void do_binding(struct req *r)
{
    struct stun_builder b;
    bool software = true;

    for (;;) {
        turn_begin(r, &b, STUN_SUCCESS);
        stun_put_xor_addr(&b, STUN_A_XOR_MAPPED_ADDRESS, &r->c->addr);
        if (software)
            put_software(r, &b);
        size_t answer = b.len + (r->fingerprint ? 8 : 0);
        if (!client_is_datagram(r->c) || answer <= r->m->len ||
            auth_throttle_proven(r->w->srv->throttle, r->src, relay_now_wall()))
            break;
        if (software && r->w->snap->software[0]) {
            software = false; /* SOFTWARE is optional (RFC 8489 §14.14) */
            continue;
        }
        if (!turn_oversized_ok(r, answer, "Binding answer"))
            return;
        break;
    }
    turn_finish(r, &b);
}

static void do_allocate(struct req *r)
{
    const struct stun_msg *m = r->m;
    struct alloc_request ar = {.family = AF_INET};
    const struct stun_attr *rt, *raf, *aaf, *ep, *tok;
    struct alloc_outcome out;
    bool zero;

    if (r->a) {
        /* RFC 8656 §7.2: a retransmitted Allocate gets the same success. */
        if (memcmp(r->a->tid, m->tid, 12) == 0)
            send_allocate_success(r, r->a, NULL, 0);
        else
            turn_error(r, 437, "this 5-tuple already has an allocation");
        return;
    }
    if (r->w->draining) {
        /* Another server takes new allocations while this one drains
         * (drain.alternate); without one, 508 (the client tries its next
         * server, as for a full one). */
        if (r->w->srv->cfg->has_drain_alternate)
            turn_error(r, 300, "draining for shutdown: try the alternate server");
        else
            turn_error(r, 508, "draining for shutdown");
        return;
    }
    rt = stun_find(m, STUN_A_REQUESTED_TRANSPORT);
    if (!rt || rt->len != 4) {
        turn_error(r, 400, "REQUESTED-TRANSPORT missing or malformed");
        return;
    }
    if (stun_attr_value(m, rt)[0] != STUN_PROTO_UDP) {
        turn_error(r, 442, "only UDP relaying is offered");
        return;
    }
    raf = stun_find(m, STUN_A_REQUESTED_ADDRESS_FAMILY);
    aaf = stun_find(m, STUN_A_ADDITIONAL_ADDRESS_FAMILY);
    ep = stun_find(m, STUN_A_EVEN_PORT);
    tok = stun_find(m, STUN_A_RESERVATION_TOKEN);
    if ((tok && (ep || raf || aaf)) || (raf && aaf) || (tok && tok->len != 8) ||
        (ep && ep->len < 1) || (raf && raf->len != 4) || (aaf && aaf->len != 4)) {
        turn_error(r, 400, "conflicting or malformed allocation attributes");
        return;
    }
    if (raf) {
        uint8_t f = stun_attr_value(m, raf)[0];
        if (f == STUN_FAMILY_V6)
            ar.family = AF_INET6;
        else if (f != STUN_FAMILY_V4) {
            turn_error(r, 440, "unknown REQUESTED-ADDRESS-FAMILY");
            return;
        }
    }
    if (aaf) {
        if (stun_attr_value(m, aaf)[0] != STUN_FAMILY_V6) {
            turn_error(r, 400, "ADDITIONAL-ADDRESS-FAMILY must be IPv6");
            return;
        }
        ar.dual = true;
    }
    if (ep) {
        ar.even_port = true;
        ar.reserve_next = (stun_attr_value(m, ep)[0] & 0x80) != 0;
    }
    ar.token = tok ? stun_attr_value(m, tok) : NULL;
    ar.dont_fragment = stun_find(m, STUN_A_DONT_FRAGMENT) != NULL;
    ar.lifetime = grant_lifetime(r, &zero);
    if (zero)
        ar.lifetime = r->w->snap->default_lifetime;

    /* Policy: who, from which website and client, over what, when. */
    struct pol_decision d = {.allow = true, .rule_name = ""};
    struct pol_query q = {
        .user = r->quota_user,
        .user_len = strlen(r->quota_user),
        .origin = r->has_origin ? r->origin : NULL,
        .origin_len = r->has_origin ? strlen(r->origin) : 0,
        .client = &r->c->addr,
        .transport = r->c->transport,
        .at = relay_now_wall(),
    };
    if (r->w->snap->rules)
        pol_rules_eval(r->w->snap->rules, &q, &d);
    if (!d.allow) {
        char as[SE_ADDR_STRLEN], rule[160];
        atomic_fetch_add_explicit(&r->w->st.policy_denied, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&r->w->st.allocs_refused, 1, memory_order_relaxed);
        if (d.rule_id) /* "#7 contractors" */
            snprintf(rule, sizeof(rule), "#%lld%s%s", (long long)d.rule_id,
                     d.rule_name[0] ? " " : "", d.rule_name);
        else
            snprintf(rule, sizeof(rule), "default");
        se_log_rl(&rl_policy, SE_LOG_INFO,
                  "allocate denied by policy user=%s origin=%s client=%s:%s rule=%s",
                  r->quota_user, r->has_origin ? r->origin : "-",
                  se_transport_name(r->c->transport), se_addr_str(&r->c->addr, as, sizeof(as)),
                  rule);
        turn_error(r, 403, "refused by policy");
        return;
    }
    if (d.record == POL_RECORD_ALWAYS && !pol_peers_has_anchor(r->w->snap->peers)) {
        /* Fail closed: such a call may relay only to the anchor. */
        atomic_fetch_add_explicit(&r->w->st.policy_denied, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&r->w->st.allocs_refused, 1, memory_order_relaxed);
        se_log_rl(&rl_policy, SE_LOG_INFO,
                  "allocate refused: recording required (rule #%lld) and no anchor is configured "
                  "user=%s origin=%s",
                  (long long)d.rule_id, r->quota_user, r->has_origin ? r->origin : "-");
        turn_error(r, 403, "recording required, no anchor");
        return;
    }
    ar.policy = &d;
    ar.origin = r->has_origin ? r->origin : NULL;
    ar.client = r->c;
    ar.user = r->user;
    ar.user_len = r->user_len;
    ar.quota_user = r->quota_user;
    ar.key = r->key;
    ar.keylen = r->keylen;
    ar.tid = m->tid;
    struct allocation *a = alloc_create(r->w, &ar, &out);
    if (!a) {
        se_log_rl(&rl_bad, SE_LOG_INFO, "allocate refused user=%.*s: %d %s", (int)r->user_len,
                  r->user, out.stun_err, stun_reason(out.stun_err));
        turn_error(r, out.stun_err, "allocation refused");
        return;
    }
    send_allocate_success(r, a, out.has_token ? out.token : NULL, out.dual_err);
}

static void do_refresh(struct req *r)
{
    const struct stun_attr *raf = stun_find(r->m, STUN_A_REQUESTED_ADDRESS_FAMILY);
    struct stun_builder b;
    bool zero;
    uint32_t lt;

    if (!r->a) {
        for (int i = 0; i < RECENT_REFRESH_SLOTS; i++) {
            struct recent_refresh *rr = &r->w->recent[i];
            if (rr->at && r->w->now - rr->at < 40 && memcmp(rr->tid, r->m->tid, 12) == 0 &&
                se_addr_eq(&rr->client, &r->c->addr)) {
                turn_begin(r, &b, STUN_SUCCESS); /* retransmitted delete */
                stun_put_u32(&b, STUN_A_LIFETIME, 0);
                turn_finish(r, &b);
                return;
            }
        }
        turn_error(r, 437, "no allocation for this 5-tuple");
        return;
    }
    if (raf) {
        if (raf->len != 4) {
            turn_error(r, 400, "malformed REQUESTED-ADDRESS-FAMILY");
            return;
        }
        uint8_t f = stun_attr_value(r->m, raf)[0];
        if (!alloc_relay_for(r->a, f == STUN_FAMILY_V6 ? AF_INET6 : AF_INET)) {
            turn_error(r, 443, "no relayed address of that family");
            return;
        }
    }
    lt = grant_lifetime(r, &zero);
    if (zero) {
        struct recent_refresh *rr = &r->w->recent[r->w->recent_next++ % RECENT_REFRESH_SLOTS];
        memcpy(rr->tid, r->m->tid, 12);
        rr->client = r->c->addr;
        rr->at = r->w->now;
        alloc_free(r->a, "deleted by client");
        r->a = NULL;
    } else {
        r->a->expires = r->w->now + lt;
    }
    turn_begin(r, &b, STUN_SUCCESS);
    stun_put_u32(&b, STUN_A_LIFETIME, lt);
    turn_finish(r, &b);
}

static void do_create_permission(struct req *r)
{
    struct se_addr peers[STUN_MAX_ATTRS];
    int n = 0;
    struct stun_builder b;

    if (!r->a) {
        turn_error(r, 437, "no allocation for this 5-tuple");
        return;
    }
    for (int i = 0; i < r->m->n_attrs; i++) {
        const struct stun_attr *at = &r->m->attrs[i];
        if (at->type != STUN_A_XOR_PEER_ADDRESS)
            continue;
        if (stun_attr_xor_addr(r->m, at, &peers[n]) < 0) {
            turn_error(r, 400, "malformed XOR-PEER-ADDRESS");
            return;
        }
        n++;
    }
    if (n == 0) {
        turn_error(r, 400, "no XOR-PEER-ADDRESS");
        return;
    }
    for (int i = 0; i < n; i++) {
        if (!alloc_relay_for(r->a, peers[i].family)) {
            turn_error(r, 443, "peer family differs from the relayed address");
            return;
        }
        if (!peer_allowed(r, &peers[i], false)) {
            turn_error(r, 403, "peer address denied");
            return;
        }
        if (!verdict_peer(r->a, &peers[i], true) ||
            !verdict_record_peer(r->a, &peers[i], false, true)) {
            turn_error(r, 403, "peer refused by policy");
            return;
        }
    }
    /* All or nothing (RFC 8656 §9.2): room for every peer first. */
    uint8_t ips[STUN_MAX_ATTRS][16];
    for (int i = 0; i < n; i++)
        memcpy(ips[i], peers[i].ip, 16);
    if (alloc_perms_reserve(r->a, (const uint8_t(*)[16])ips, n) < 0) {
        turn_error(r, 508, "permission limit reached");
        return;
    }
    alloc_perms_install(r->a, (const uint8_t(*)[16])ips, n);
    relay_offload_sync(r->a); /* refreshed permissions extend offloaded channels */
    turn_begin(r, &b, STUN_SUCCESS);
    turn_finish(r, &b);
}

static void do_channel_bind(struct req *r)
{
    const struct stun_attr *cn = stun_find(r->m, STUN_A_CHANNEL_NUMBER);
    const struct stun_attr *pa = stun_find(r->m, STUN_A_XOR_PEER_ADDRESS);
    struct se_addr peer;
    struct stun_builder b;
    uint32_t v;

    if (!r->a) {
        turn_error(r, 437, "no allocation for this 5-tuple");
        return;
    }
    if (!cn || !pa || stun_attr_u32(r->m, cn, &v) < 0 || stun_attr_xor_addr(r->m, pa, &peer) < 0) {
        turn_error(r, 400, "CHANNEL-NUMBER or XOR-PEER-ADDRESS missing or malformed");
        return;
    }
    uint16_t number = (uint16_t)(v >> 16);
    if (number < CHANNEL_MIN || number > CHANNEL_MAX) {
        turn_error(r, 400, "channel number outside 0x4000-0x7FFF");
        return;
    }
    struct channel *by_num = alloc_chan_by_number(r->a, number);
    struct channel *by_peer = alloc_chan_by_peer(r->a, &peer);
    if ((by_num && !se_addr_eq(&by_num->peer, &peer)) || (by_peer && by_peer->number != number)) {
        /* RFC 8656 §11.2: no rebinding */
        turn_error(r, 400, "channel or peer already bound differently");
        return;
    }
    if (!alloc_relay_for(r->a, peer.family)) {
        turn_error(r, 443, "peer family differs from the relayed address");
        return;
    }
    if (!peer_allowed(r, &peer, true)) {
        turn_error(r, 403, "peer address denied");
        return;
    }
    if (!verdict_peer(r->a, &peer, true) || !verdict_record_peer(r->a, &peer, true, true)) {
        turn_error(r, 403, "peer refused by policy");
        return;
    }
    /* All or nothing (RFC 8656 §11.2): the channel and its permission. */
    const uint8_t(*ip)[16] = (const uint8_t(*)[16])peer.ip;
    if (alloc_chan_reserve(r->a, number) < 0 || alloc_perms_reserve(r->a, ip, 1) < 0) {
        turn_error(r, 508, "channel or permission limit reached");
        return;
    }
    (void)alloc_chan_install(r->a, number, &peer); /* cannot fail after the reserve */
    alloc_perms_install(r->a, ip, 1);
    relay_offload_sync(r->a); /* the channel may be forwarded by the kernel from now on */
    turn_begin(r, &b, STUN_SUCCESS);
    turn_finish(r, &b);
}

static void do_send(struct worker *w, struct allocation *a, const struct stun_msg *m)
{
    const struct stun_attr *pa = stun_find(m, STUN_A_XOR_PEER_ADDRESS);
    const struct stun_attr *da = stun_find(m, STUN_A_DATA);
    struct se_addr peer;

    if (!a || !pa || !da || stun_attr_xor_addr(m, pa, &peer) < 0) {
        atomic_fetch_add_explicit(&w->st.dropped_bad_input, 1, memory_order_relaxed);
        return;
    }
    struct permission *p = alloc_perm_find(a, peer.ip);
    if (!p || p->expires <= w->now || pol_peers_check(w->snap->peers, &peer) != POL_PEER_OK ||
        (a->record == POL_RECORD_ALWAYS && !pol_peers_is_anchor(w->snap->peers, &peer, true))) {
        atomic_fetch_add_explicit(&w->st.dropped_no_permission, 1, memory_order_relaxed);
        return;
    }
    peer_send(a, &peer, stun_attr_value(m, da), da->len);
}

void turn_on_stun(struct worker *w, const struct client_ref *c, struct allocation *a,
                  const uint8_t *buf, size_t len)
{
    struct stun_msg m;
    struct req r = {.w = w, .c = c, .a = a, .m = &m};
    int rc = stun_parse(&m, buf, len);

    ipc_source_key(&c->addr, r.src);
    if (rc < 0) {
        atomic_fetch_add_explicit(&w->st.dropped_bad_input, 1, memory_order_relaxed);
        /* A well-framed request with bad contents gets 400; others nothing. */
        if (rc == SE_ERR_PARSE && m.tid && m.cls == STUN_REQUEST && len >= STUN_HEADER_LEN &&
            (size_t)((buf[2] << 8 | buf[3]) + STUN_HEADER_LEN) == len) {
            m.len = len;
            m.n_attrs = 0;
            m.fp = -1;
            turn_error(&r, 400, "malformed message");
        }
        return;
    }
    r.fingerprint = m.fp >= 0;
    if (m.cls == STUN_INDICATION) {
        if (m.method == TURN_SEND)
            do_send(w, a, &m);
        return;
    }
    if (m.cls != STUN_REQUEST)
        return; /* responses are not for a server */
    if (m.n_unknown > 0) {
        turn_error(&r, 420, "unknown comprehension-required attribute");
        return;
    }
    if (m.method == STUN_BINDING) {
        do_binding(&r);
        return;
    }
    if (m.method != TURN_ALLOCATE && m.method != TURN_REFRESH &&
        m.method != TURN_CREATE_PERMISSION && m.method != TURN_CHANNEL_BIND) {
        turn_error(&r, 400, "unknown method");
        return;
    }
    if (turn_authenticate(&r) < 0)
        return;
    if (a && (r.user_len != a->user_len || memcmp(r.user, a->user, a->user_len) != 0)) {
        /* RFC 8656 §7.2-§11: same credentials as the allocation */
        turn_error(&r, 441, "credentials differ from the allocation's");
        return;
    }
    switch (m.method) {
    case TURN_ALLOCATE: do_allocate(&r); break;
    case TURN_REFRESH: do_refresh(&r); break;
    case TURN_CREATE_PERMISSION: do_create_permission(&r); break;
    case TURN_CHANNEL_BIND: do_channel_bind(&r); break;
    }
}

void turn_cron(struct worker *w)
{
    turn_auth_cron(w);
    /* Counts of rate-limited lines are printed even when no later line
     * of the same kind comes (docs/admin.md, Logs). */
    se_log_rl_flush(&rl_peer, SE_LOG_INFO, "peer denied");
    se_log_rl_flush(&rl_bad, SE_LOG_INFO, "allocate refused");
    se_log_rl_flush(&rl_policy, SE_LOG_INFO, "allocate denied by policy");
}

void turn_on_channel_data(struct worker *w, struct allocation *a, const uint8_t *buf, size_t len)
{
    uint16_t number = (uint16_t)(buf[0] << 8 | buf[1]);
    size_t dlen = (size_t)(buf[2] << 8 | buf[3]);
    struct channel *ch;

    if (CHANNEL_HEADER_LEN + dlen > len) {
        atomic_fetch_add_explicit(&w->st.dropped_bad_input, 1, memory_order_relaxed);
        return;
    }
    ch = alloc_chan_by_number(a, number);
    if (!ch || ch->expires <= w->now) {
        atomic_fetch_add_explicit(&w->st.dropped_no_permission, 1, memory_order_relaxed);
        return;
    }
    struct permission *p = alloc_perm_find(a, ch->peer.ip);
    if (!p || p->expires <= w->now) {
        atomic_fetch_add_explicit(&w->st.dropped_no_permission, 1, memory_order_relaxed);
        return;
    }
    peer_send(a, &ch->peer, buf + CHANNEL_HEADER_LEN, dlen);
}
