/*
 * alloc.c - TURN allocations (RFC 8656 §7-§12) owned by one worker.
 *
 * An allocation is one client 5-tuple with one or two relay sockets (IPv4
 * and/or IPv6), its permissions (peer IPs, 300 s) and channels (number to
 * peer transport address, 600 s). Permission and channel arrays are small
 * and bounded by the snapshot's limits, so lookups are linear scans over a
 * few cache lines. Expiry is checked where a permission or channel is
 * used, and a once-a-second cron removes whole allocations.
 *
 * This file owns the lifecycle: alloc_create (request in, outcome out),
 * alloc_free, expiry and policy re-checks (it acts on verdict.c's
 * answers). Relay ports, reservations and quotas are in ports.c, the
 * packet path in peer.c, session events in events.c, and how a client
 * is reached (UDP 5-tuple table or stream connection) in client.h.
 */
#include "relay/alloc.h"
#include "relay/client.h"
#include "relay/events.h"
#include "relay/peer.h"
#include "relay/verdict.h"
#include "relay/clock.h"
#include "relay/ipcount.h"
#include "relay/ports.h"
#include "relay/server.h"
#include "relay/snap.h"
#include "relay/stream.h"
#include "relay/txq.h"
#include "relay/uring.h"
#include "core/err.h"
#include "core/log.h"
#include "core/ratelimit.h"
#include "policy/rules.h"
#include "relay/offload/offload.h"
#include "relay/stun.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
    CHANNEL_REUSE_HOLD = 300,  /* RFC 8656 §12: a number stays bound 5 more minutes */
};

static struct se_log_rl rl_revoke;

/* ---- permissions and channels ---- */

struct relay_sock *alloc_relay_for(struct allocation *a, int family)
{
    for (int i = 0; i < a->n_relay; i++)
        if (a->relay[i].addr.family == family)
            return &a->relay[i];
    return NULL;
}

/* Is ip among ips[0..n)? */
static bool ip_among(const uint8_t (*ips)[16], int n, const uint8_t ip[16])
{
    for (int i = 0; i < n; i++)
        if (memcmp(ips[i], ip, 16) == 0)
            return true;
    return false;
}

static int perms_grow(struct allocation *a, unsigned want)
{
    unsigned cap = a->cap_perms ? a->cap_perms * 2u : 2u;

    if (cap < want)
        cap = want;
    if (cap > a->w->snap->max_permissions)
        cap = a->w->snap->max_permissions;
    if (cap < want || cap > UINT16_MAX)
        return SE_ERR_LIMIT;
    struct permission *np = realloc(a->perms, cap * sizeof(*np));
    if (!np)
        return SE_ERR_NOMEM;
    a->perms = np;
    a->cap_perms = (uint16_t)cap;
    return 0;
}

int alloc_perms_reserve(struct allocation *a, const uint8_t (*ips)[16], int n)
{
    unsigned needed = 0, reusable = 0;

    for (int i = 0; i < n; i++)
        if (!alloc_perm_find(a, ips[i]) && !ip_among(ips, i, ips[i]))
            needed++; /* new, and not a duplicate within the request */
    if (needed == 0)
        return 0;
    for (uint16_t i = 0; i < a->n_perms; i++)
        if (a->perms[i].expires <= a->w->now && !ip_among(ips, n, a->perms[i].ip))
            reusable++; /* expired and not refreshed by this request */
    unsigned append = needed > reusable ? needed - reusable : 0;
    if (append == 0)
        return 0;
    if (a->n_perms + append > a->w->snap->max_permissions)
        return SE_ERR_LIMIT;
    return a->n_perms + append > a->cap_perms ? perms_grow(a, a->n_perms + append) : 0;
}

int alloc_perm_install(struct allocation *a, const uint8_t ip[16])
{
    struct permission *p = alloc_perm_find(a, ip);

    if (!p) {
        /* Reuse an expired slot before growing. */
        for (uint16_t i = 0; i < a->n_perms && !p; i++)
            if (a->perms[i].expires <= a->w->now)
                p = &a->perms[i];
        if (!p) {
            if (a->n_perms >= a->w->snap->max_permissions)
                return SE_ERR_LIMIT;
            if (a->n_perms == a->cap_perms) {
                int rc = perms_grow(a, a->n_perms + 1u);
                if (rc < 0)
                    return rc;
            }
            p = &a->perms[a->n_perms++];
        }
        memcpy(p->ip, ip, 16);
        a->peers_changed = true;
    }
    p->expires = a->w->now + PERMISSION_LIFETIME;
    return 0;
}

void alloc_perms_install(struct allocation *a, const uint8_t (*ips)[16], int n)
{
    /* Refresh the existing ones first: an expired slot this request
     * renews must not be reused for another peer of the same request. */
    for (int i = 0; i < n; i++) {
        struct permission *p = alloc_perm_find(a, ips[i]);
        if (p)
            p->expires = a->w->now + PERMISSION_LIFETIME;
    }
    for (int i = 0; i < n; i++)
        (void)alloc_perm_install(a, ips[i]); /* cannot fail after alloc_perms_reserve */
}

int alloc_chan_reserve(struct allocation *a, uint16_t number)
{
    unsigned max = a->w->snap->max_channels;

    if (alloc_chan_by_number(a, number))
        return 0;
    if (a->n_chans >= max)
        return SE_ERR_LIMIT;
    if (a->n_chans == a->cap_chans) {
        unsigned cap = a->cap_chans ? a->cap_chans * 2u : 2u;
        if (cap > max)
            cap = max;
        struct channel *nc = realloc(a->chans, cap * sizeof(*nc));
        if (!nc)
            return SE_ERR_NOMEM;
        a->chans = nc;
        a->cap_chans = (uint16_t)cap;
    }
    return 0;
}

int alloc_chan_install(struct allocation *a, uint16_t number, const struct se_addr *peer)
{
    struct channel *c = alloc_chan_by_number(a, number);
    unsigned max = a->w->snap->max_channels;

    if (!c) {
        if (a->n_chans >= max)
            return SE_ERR_LIMIT;
        if (a->n_chans == a->cap_chans) {
            uint16_t cap = a->cap_chans ? (uint16_t)(a->cap_chans * 2) : 2;
            if (cap > max)
                cap = (uint16_t)max;
            struct channel *nc = realloc(a->chans, cap * sizeof(*nc));
            if (!nc)
                return SE_ERR_NOMEM;
            a->chans = nc;
            a->cap_chans = cap;
        }
        c = &a->chans[a->n_chans++];
        c->number = number;
        c->peer = *peer;
    }
    c->expires = a->w->now + CHANNEL_LIFETIME;
    return 0;
}

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

/* ---- policy re-checks (verdict.c answers, this file acts) ---- */

/* The decision that governs a: its rule, record flag, caps, duration. */
static void apply_decision(struct allocation *a, const struct pol_decision *d)
{
    a->rule_id = d->rule_id;
    a->record = d->record;
    bwcap_set(&a->rl_out, d->max_kbps);
    bwcap_set(&a->rl_in, d->max_kbps);
    a->deadline = d->max_duration ? a->started + (int64_t)d->max_duration : 0;
}

static void revoke_alloc(struct allocation *a, const char *why)
{
    char cs[SE_ADDR_STRLEN];

    atomic_fetch_add_explicit(&a->w->st.revoked, 1, memory_order_relaxed);
    se_log_rl(&rl_revoke, SE_LOG_INFO, "allocation revoked user=%s client=%s: %s", a->user,
              se_addr_str(&a->client.addr, cs, sizeof(cs)), why);
    alloc_free(a, "revoked");
}

/* Remove channels and permissions (with their channels) that policy no
 * longer allows. */
static void recheck_peers(struct allocation *a)
{
    for (uint16_t k = 0; k < a->n_chans;) {
        if (verdict_keep_channel(a, &a->chans[k].peer)) {
            k++;
            continue;
        }
        a->chans[k] = a->chans[--a->n_chans];
        atomic_fetch_add_explicit(&a->w->st.revoked, 1, memory_order_relaxed);
    }
    for (uint16_t i = 0; i < a->n_perms;) {
        struct se_addr p;
        peer_of(&a->perms[i], &p);
        if (verdict_keep_permission(a, &p)) {
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
    for (struct allocation *a = w->allocs, *next; a; a = next) {
        struct pol_decision d;
        char why[160];

        next = a->next;
        if (verdict_alloc(a, check_creds, &d, why, sizeof(why)) == VERDICT_REVOKE) {
            revoke_alloc(a, why);
            continue;
        }
        bool changed = d.rule_id != a->rule_id || d.record != a->record;
        apply_decision(a, &d);
        if (changed)
            events_rule_changed(a, d.rule_name);
        recheck_peers(a);
        relay_offload_sync(a); /* denied peers' flows go; a new cap takes flows back */
    }
}

/* ---- create / free ---- */

static void client_str(const struct client_ref *c, char *buf, size_t len)
{
    char as[SE_ADDR_STRLEN];
    snprintf(buf, len, "%s:%s", se_transport_name(c->transport),
             se_addr_str(&c->addr, as, sizeof(as)));
}

static void relay_sock_close(struct relay_sock *rs)
{
    if (rs->ev)
        event_free(rs->ev);
    else if (rs->alloc->w->ur)
        uring_del(rs->alloc->w, rs); /* cancels the receive first */
    close(rs->fd);
}

static int add_relay_sock(struct allocation *a, int fd, const struct se_addr *addr,
                          bool dont_fragment)
{
    struct relay_sock *rs = &a->relay[a->n_relay];

    rs->alloc = a;
    rs->fd = fd;
    rs->addr = *addr;
    if (dont_fragment) {
        int v = IP_PMTUDISC_DO;
        if (addr->family == AF_INET)
            setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof(v));
        else
            setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v, sizeof(v));
    }
    if (a->w->ur) {
        if (uring_add(a->w, rs) < 0)
            return SE_ERR_NOMEM;
        a->n_relay++;
        return 0;
    }
    rs->ev = event_new(a->w->base, fd, EV_READ | EV_PERSIST, peer_on_readable, rs);
    if (!rs->ev || event_add(rs->ev, NULL) < 0) {
        if (rs->ev)
            event_free(rs->ev);
        rs->ev = NULL;
        return SE_ERR_NOMEM;
    }
    a->n_relay++;
    return 0;
}

/*
 * How fast one account may churn allocations (each costs a port search,
 * two log lines and a session row): 486 beyond, like the user's quota
 * (RFC 8656 §7.2). Checked before anything is taken; a refusal is
 * counted and logged here.
 */
static bool allocate_rate_ok(struct worker *w, const char *quota_user)
{
    struct relay_server *srv = w->srv;
    static struct se_log_rl rl_rate;
    uint8_t ukey[16];

    if (!w->snap->allocate_rate_per_user)
        return true;
    se_ratelimit_key_str(srv->alloc_rate, quota_user, strlen(quota_user), ukey);
    if (se_ratelimit_allow(srv->alloc_rate, ukey, relay_now_ms(), w->snap->allocate_rate_per_user,
                           w->snap->allocate_burst_per_user))
        return true;
    atomic_fetch_add_explicit(&w->st.allocs_rate_limited, 1, memory_order_relaxed);
    se_log_rl(&rl_rate, SE_LOG_WARN,
              "Allocate from user=%s refused (486): limits.allocate_rate_per_user (%u/s) reached",
              quota_user, w->snap->allocate_rate_per_user);
    return false;
}

/* The allocation object for req, without sockets: NULL if out of memory. */
static struct allocation *alloc_object_new(struct worker *w, const struct alloc_request *req)
{
    /* The strings live in the allocation's own block: at 10 000 idle
     * allocations every malloc chunk counts (docs/benchmark.md). */
    size_t qlen = strlen(req->quota_user), olen = req->origin ? strlen(req->origin) : 0;
    size_t user_len = req->user_len;
    struct allocation *a =
        calloc(1, sizeof(*a) + user_len + 1 + qlen + 1 + (req->origin ? olen + 1 : 0));
    if (!a)
        return NULL;
    a->user = a->text;
    memcpy(a->user, req->user, user_len);
    a->user[user_len] = '\0';
    a->quota_user = a->user + user_len + 1;
    memcpy(a->quota_user, req->quota_user, qlen + 1);
    if (req->origin) {
        a->origin = a->quota_user + qlen + 1;
        memcpy(a->origin, req->origin, olen + 1);
    }
    a->user_len = user_len;
    a->w = w;
    a->client = *req->client;
    memcpy(a->key, req->key, req->keylen);
    a->keylen = (uint8_t)req->keylen;
    memcpy(a->tid, req->tid, 12);
    a->started = w->now;
    a->active_at = w->now;
    a->started_wall = relay_now_wall();
    a->granted_lifetime = req->lifetime;
    a->expires = w->now + req->lifetime;
    return a;
}

static void log_start(const struct allocation *a)
{
    char cs[80], rs[SE_ADDR_STRLEN], rs6[SE_ADDR_STRLEN + 8] = "";

    client_str(&a->client, cs, sizeof(cs));
    if (a->n_relay > 1) {
        char t[SE_ADDR_STRLEN];
        snprintf(rs6, sizeof(rs6), " relay6=%s", se_addr_str(&a->relay[1].addr, t, sizeof(t)));
    }
    se_info("allocation start user=%s client=%s relay=%s%s lifetime=%u origin=%s", a->user, cs,
            se_addr_str(&a->relay[0].addr, rs, sizeof(rs)), rs6, a->granted_lifetime,
            a->origin ? a->origin : "-");
}

struct allocation *alloc_create(struct worker *w, const struct alloc_request *req,
                                struct alloc_outcome *out)
{
    const struct client_ref *c = req->client;
    const char *quota_user = req->quota_user;
    struct relay_server *srv = w->srv;
    const struct se_config *cfg = srv->cfg;
    struct allocation *a = NULL;
    int fd = -1, fd2 = -1, fd6 = -1;
    uint16_t port = 0;
    struct se_addr addr;
    uint8_t source[16];
    unsigned held = 0; /* units of ports_hold() this call owns */

    *out = (struct alloc_outcome){.stun_err = 508};
    ipc_source_key(&c->addr, source);
    if (!allocate_rate_ok(w, quota_user)) {
        out->stun_err = 486;
        return NULL;
    }
    /* A redeemed reservation gives its holdings back first: converting it
     * must not fail on the quota place it occupies itself. */
    if (req->token && ports_resv_take(srv, req->token, &fd, &addr) < 0)
        goto fail; /* 508 per RFC 8656 §7.2 */
    unsigned per_user = w->snap->max_allocations_per_user;
    if (req->policy && req->policy->max_allocs && req->policy->max_allocs < per_user)
        per_user = req->policy->max_allocs; /* the rule's own quota, if tighter */
    /* EVEN-PORT with R holds two: this allocation and the reserved port. */
    unsigned units = req->reserve_next && !req->token ? 2 : 1;
    int refused = ports_hold(w, quota_user, per_user, source, units);
    if (refused) {
        out->stun_err = refused;
        goto fail;
    }
    held = units;
    if (!req->token) {
        const struct se_addr *ip = req->family == AF_INET6 ? &cfg->relay_v6 : &cfg->relay_v4;
        bool have = req->family == AF_INET6 ? cfg->has_relay_v6 : cfg->has_relay_v4;
        if (!have) {
            out->stun_err = 440;
            goto fail;
        }
        if (ports_bind(srv, ip, req->even_port, req->reserve_next, &fd, &port, &fd2) < 0)
            goto fail;
        addr = *ip;
        addr.port = port;
    }
    if (req->dual) {
        if (!cfg->has_relay_v6) {
            out->dual_err = 440;
        } else if (ports_bind(srv, &cfg->relay_v6, false, false, &fd6, &port, &fd2) < 0) {
            out->dual_err = 508;
        }
    }
    a = alloc_object_new(w, req);
    if (!a)
        goto fail;
    if (add_relay_sock(a, fd, &addr, req->dont_fragment) < 0)
        goto fail;
    fd = -1;
    if (fd6 >= 0) {
        struct se_addr a6 = cfg->relay_v6;
        a6.port = port;
        if (add_relay_sock(a, fd6, &a6, req->dont_fragment) < 0)
            goto fail;
        fd6 = -1;
    }
    if (client_ops(c)->attach(a) < 0)
        goto fail;
    if (fd2 >= 0) {
        struct se_addr next = addr;
        next.port = (uint16_t)(addr.port + 1);
        if (ports_resv_add(srv, fd2, &next, w->now, quota_user, source, out->token) == 0) {
            out->has_token = true;
            fd2 = -1;
            held--; /* that unit is the reservation's now */
        }
    }
    if (held > 1) { /* no reservation after all */
        ports_release(srv, quota_user, source, held - 1);
        held = 1;
    }
    a->next = w->allocs;
    if (w->allocs)
        w->allocs->prev = a;
    w->allocs = a;
    atomic_fetch_add(&w->srv->n_live, 1);
    atomic_fetch_add_explicit(&w->st.allocs_created, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->st.allocs_live, 1, memory_order_relaxed);
    log_start(a);
    if (req->policy)
        apply_decision(a, req->policy);
    events_start(a, req->policy ? req->policy->rule_name : "");
    return a;
fail:
    if (a) {
        for (int i = 0; i < a->n_relay; i++)
            relay_sock_close(&a->relay[i]);
        free(a);
    }
    if (fd >= 0)
        close(fd);
    if (fd2 >= 0)
        close(fd2);
    if (fd6 >= 0)
        close(fd6);
    if (held)
        ports_release(srv, quota_user, source, held);
    atomic_fetch_add_explicit(&w->st.allocs_refused, 1, memory_order_relaxed);
    return NULL;
}

void alloc_free(struct allocation *a, const char *reason)
{
    struct worker *w = a->w;
    char cs[80], rs[SE_ADDR_STRLEN], peers[512];

    relay_offload_end(a); /* first: its final counters are part of the totals below */
    alloc_peers_str(a, peers, sizeof(peers));
    client_str(&a->client, cs, sizeof(cs));
    se_info("allocation end user=%s client=%s relay=%s peers=%s reason=%s duration=%llds "
            "from_client=%llu/%llu to_client=%llu/%llu (bytes/packets)",
            a->user, cs, se_addr_str(&a->relay[0].addr, rs, sizeof(rs)), peers[0] ? peers : "-", reason,
            (long long)(w->now - a->started), (unsigned long long)a->bytes_from_client,
            (unsigned long long)a->pkts_from_client, (unsigned long long)a->bytes_to_client,
            (unsigned long long)a->pkts_to_client);
    atomic_fetch_add_explicit(&w->st.pkts_from_client, a->pkts_from_client, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->st.bytes_from_client, a->bytes_from_client,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&w->st.pkts_to_client, a->pkts_to_client, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->st.bytes_to_client, a->bytes_to_client, memory_order_relaxed);
    atomic_fetch_sub_explicit(&w->st.allocs_live, 1, memory_order_relaxed);
    events_end(a, reason);
    client_ops(&a->client)->detach(a);
    if (a->prev)
        a->prev->next = a->next;
    else
        w->allocs = a->next;
    if (a->next)
        a->next->prev = a->prev;
    atomic_fetch_sub(&w->srv->n_live, 1);
    for (int i = 0; i < a->n_relay; i++)
        relay_sock_close(&a->relay[i]);
    uint8_t source[16];
    ipc_source_key(&a->client.addr, source);
    ports_release(w->srv, a->quota_user, source, 1);
    explicit_bzero(a->key, sizeof(a->key));
    free(a->perms);
    free(a->chans);
    free(a);
}

void alloc_drain_idle(struct worker *w, unsigned idle_s)
{
    if (!idle_s)
        return;
    for (struct allocation *a = w->allocs, *next; a; a = next) {
        next = a->next;
        if (a->pkts_from_client + a->pkts_to_client == a->seen_pkts &&
            w->now - a->active_at >= (int64_t)idle_s)
            alloc_free(a, "drained (idle)");
    }
}

void alloc_cron(struct worker *w)
{
    relay_offload_worker_cron(w);
    for (struct allocation *a = w->allocs, *next; a; a = next) {
        next = a->next;
        if (a->expires <= w->now) {
            alloc_free(a, "expired");
            continue;
        }
        if (a->deadline && a->deadline <= w->now) {
            alloc_free(a, "duration limit");
            continue;
        }
        relay_offload_cron(a); /* offloaded counters in before the session UPDATE */
        if (a->pkts_from_client + a->pkts_to_client != a->seen_pkts) {
            a->seen_pkts = a->pkts_from_client + a->pkts_to_client;
            a->active_at = w->now;
        }
        events_cron(a);
        /* Drop channels past their hold time so numbers can be reused. */
        for (uint16_t i = 0; i < a->n_chans;) {
            if (a->chans[i].expires + CHANNEL_REUSE_HOLD <= w->now)
                a->chans[i] = a->chans[--a->n_chans];
            else
                i++;
        }
    }
    /* Time windows open and close on their own: re-check now and then. */
    if (w->now >= w->next_recheck) {
        w->next_recheck = w->now + (w->snap->policy_recheck ? w->snap->policy_recheck : 30);
        alloc_recheck_all(w, false); /* credentials change only with a snapshot */
    }
}
