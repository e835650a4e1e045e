/*
 * flows.c - which channels are offloaded: the control plane of the fast path.
 *
 * A channel of an allocation is offloaded (a "flow": one c2p and one p2c
 * entry, two state slots) while all of these hold:
 *   - the client is on UDP over IPv4, reached at an explicit listen
 *     address, and the channel's peer is IPv4 with an IPv4 relayed address;
 *   - the channel is bound and not expired, and its peer has a permission
 *     that is not expired (the flow's expiry is the earlier of the two);
 *   - policy sets no bandwidth cap on the allocation (a cap is one token
 *     bucket per allocation and direction shared with Send and Data
 *     indications, so capped allocations stay on the user-space path);
 *   - the flow table has room and the routes toward client and peer are
 *     local or leave by an interface the program can be attached to.
 * relay_offload_sync() makes the installed flows match that, and the
 * relay calls it after every change: ChannelBind, CreatePermission, a
 * policy re-check (revoked user: the allocation ends; newly denied peer:
 * its permission and channels go; a new rule: caps may appear), the
 * once-a-second cron (expiry), and the allocation's end. Since channel
 * data never extends a channel or permission (RFC 8656 §9, §12), the
 * offloaded path keeps exactly the lifetimes the user-space path keeps.
 *
 * Removing a flow: its expiry in the shared state is set to 0 first (the
 * program stops forwarding with the next datagram), then both map
 * entries go, then the counters are read for the last time; the id is
 * reused only after OFL_QUARANTINE_S seconds, and whatever a program
 * instance still counted meanwhile (one that found the flow just before)
 * is added to the worker's totals then.
 *
 * Counters: the program counts packets and payload bytes per direction
 * into the memory-mapped state; relay_offload_cron adds what is new to the
 * allocation's own counters, so session rows, the END event and /metrics
 * include offloaded traffic exactly as they include the rest.
 *
 * Worker thread only (the allocation's owner).
 */
#include "core/err.h"
#include "core/log.h"
#include "relay/alloc.h"
#include "relay/server.h"
#include "relay/snap.h"
#include "relay/worker.h"
#include "relay/offload/offload.h"
#include "relay/offload/ofl.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { DIR_C2P = 0, DIR_P2C = 1 };

/* Kept small: most allocations carry one channel, and an idle
 * allocation's memory is a benchmark target (docs/benchmark.md). The map
 * keys are recomputed from the allocation when needed. */
struct ofl_flow {
    uint64_t pkts[2], bytes[2]; /* counted into the allocation so far */
    int64_t expires;            /* installed expiry (monotonic s); retry time if id is OFL_NONE */
    struct se_addr peer;        /* the channel's peer when it was offloaded */
    uint32_t id;                /* OFL_NONE: not offloaded, try again at expires */
    uint16_t number;            /* channel */
};

struct ofl_alloc {
    uint16_t n, cap;
    struct ofl_flow f[];
};

static struct se_log_rl rl_flow;

static uint32_t v4(const struct se_addr *a)
{
    uint32_t x;

    memcpy(&x, a->ip + 12, 4);
    return x; /* network order */
}

static struct ofl_c2p_key key_c2p(const struct allocation *a, uint16_t number)
{
    return (struct ofl_c2p_key){.saddr = v4(&a->client.addr),
                                .daddr = v4(&a->client.udp->local),
                                .sport = htons(a->client.addr.port),
                                .dport = htons(a->client.udp->local.port),
                                .channel = htons(number)};
}

static struct ofl_p2c_key key_p2c(const struct relay_sock *rs, const struct se_addr *peer)
{
    return (struct ofl_p2c_key){.saddr = v4(peer),
                                .daddr = v4(&rs->addr),
                                .sport = htons(peer->port),
                                .dport = htons(rs->addr.port)};
}

static struct ofl_state *slot(struct relay_offload *o, uint32_t id, int dir)
{
    return &o->state[2 * (size_t)id + (size_t)dir];
}

/* Could any channel of a be offloaded? */
static bool eligible(struct allocation *a)
{
    const struct udp_listener *ul = a->client.udp;
    const struct relay_sock *rs = alloc_relay_for(a, AF_INET);

    return a->client.transport == SE_TP_UDP && ul && a->client.addr.family == AF_INET &&
           ul->local.family == AF_INET && v4(&ul->local) != 0 && a->rl_out.bytes_per_s == 0 &&
           a->rl_in.bytes_per_s == 0 && rs && v4(&rs->addr) != 0;
}

/* Until when may channel number (to peer) forward? 0: not now. */
static int64_t channel_expiry(struct allocation *a, uint16_t number, const struct se_addr *peer)
{
    struct channel *ch = alloc_chan_by_number(a, number);

    if (!ch || !se_addr_eq(&ch->peer, peer) || ch->peer.family != AF_INET)
        return 0;
    struct permission *p = alloc_perm_find(a, ch->peer.ip);
    if (!p)
        return 0;
    return ch->expires < p->expires ? ch->expires : p->expires;
}

static void set_expiry(struct relay_offload *o, uint32_t id, int64_t expires_s)
{
    uint64_t ns = ofl_expiry_ns(expires_s);

    __atomic_store_n(&slot(o, id, DIR_C2P)->expires, ns, __ATOMIC_RELEASE);
    __atomic_store_n(&slot(o, id, DIR_P2C)->expires, ns, __ATOMIC_RELEASE);
}

/* What the program counted for f since the last look, into a. */
static void merge(struct relay_offload *o, struct allocation *a, struct ofl_flow *f)
{
    struct ofl_worker *ws = &o->ws[a->w->id];

    for (int d = 0; d < 2; d++) {
        struct ofl_state *st = slot(o, f->id, d);
        uint64_t p = __atomic_load_n(&st->pkts, __ATOMIC_RELAXED);
        uint64_t b = __atomic_load_n(&st->bytes, __ATOMIC_RELAXED);
        uint64_t dp = p - f->pkts[d], db = b - f->bytes[d];
        if (!dp)
            continue;
        f->pkts[d] = p;
        f->bytes[d] = b;
        if (d == DIR_C2P) {
            a->pkts_from_client += dp;
            a->bytes_from_client += db;
        } else {
            a->pkts_to_client += dp;
            a->bytes_to_client += db;
        }
        atomic_fetch_add_explicit(&ws->pkts[d], dp, memory_order_relaxed);
        atomic_fetch_add_explicit(&ws->bytes[d], db, memory_order_relaxed);
    }
}

/* Take f out of the kernel and its last counters into a; its id waits. */
static void uninstall(struct relay_offload *o, struct allocation *a, struct ofl_flow *f)
{
    struct ofl_worker *ws = &o->ws[a->w->id];

    struct ofl_c2p_key kc = key_c2p(a, f->number);
    struct ofl_p2c_key kp = key_p2c(alloc_relay_for(a, AF_INET), &f->peer);

    set_expiry(o, f->id, 0);
    bpf_map_delete_elem(o->fd_c2p, &kc);
    bpf_map_delete_elem(o->fd_p2c, &kp);
    merge(o, a, f);
    se_debug("relay offload: channel 0x%04x of user=%s back in user space (flow %u): the kernel "
             "forwarded %llu/%llu packets (from/to client)",
             f->number, a->user, f->id, (unsigned long long)f->pkts[DIR_C2P],
             (unsigned long long)f->pkts[DIR_P2C]);
    if (ws->n_quar == ws->cap_quar) {
        uint32_t cap = ws->cap_quar ? ws->cap_quar * 2 : 64;
        struct ofl_quarantined *q = realloc(ws->quar, cap * sizeof(*q));
        if (!q) {
            /* Out of memory: the id is lost rather than reused too early. */
            atomic_fetch_sub_explicit(&ws->flows, 1, memory_order_relaxed);
            return;
        }
        ws->quar = q;
        ws->cap_quar = cap;
    }
    struct ofl_quarantined *q = &ws->quar[ws->n_quar++];
    q->id = f->id;
    q->at = a->w->now;
    memcpy(q->pkts, f->pkts, sizeof(q->pkts));
    memcpy(q->bytes, f->bytes, sizeof(q->bytes));
    atomic_fetch_sub_explicit(&ws->flows, 1, memory_order_relaxed);
}

/* Remove entry i of a's flows (uninstalling it if it is installed). */
static void drop(struct relay_offload *o, struct allocation *a, uint16_t i)
{
    struct ofl_alloc *fa = a->offload;

    if (fa->f[i].id != OFL_NONE)
        uninstall(o, a, &fa->f[i]);
    fa->f[i] = fa->f[--fa->n];
}

static struct ofl_flow *append(struct allocation *a)
{
    struct ofl_alloc *fa = a->offload;

    if (!fa || fa->n == fa->cap) {
        uint16_t cap = fa ? (uint16_t)(fa->cap * 2) : 1;
        struct ofl_alloc *n = realloc(fa, sizeof(*n) + cap * sizeof(n->f[0]));
        if (!n)
            return NULL;
        if (!fa)
            n->n = 0;
        n->cap = cap;
        a->offload = fa = n;
    }
    struct ofl_flow *f = &fa->f[fa->n++];
    memset(f, 0, sizeof(*f));
    return f;
}

/* Routes and attachments for a flow; fills both forwarding entries. */
static int plan(struct relay_offload *o, struct allocation *a, const struct relay_sock *rs,
                const struct se_addr *peer, struct ofl_fwd *fc, struct ofl_fwd *fp)
{
    struct ofl_worker *ws = &o->ws[a->w->id];
    const struct se_addr *listen = &a->client.udp->local;
    struct ofl_route to_peer, to_client;
    char err[160] = "";
    int rc;

    if ((rc = ofl_route_get(&ws->routes, a->w->now, v4(peer), v4(&rs->addr), &to_peer)) < 0 ||
        (rc = ofl_route_get(&ws->routes, a->w->now, v4(&a->client.addr), v4(listen), &to_client)) <
            0) {
        se_log_rl(&rl_flow, SE_LOG_INFO, "relay offload: no usable route for a channel: %s",
                  se_err(rc));
        return rc;
    }
    /* The program must see the datagrams where they arrive: the client's
     * on the interface toward the client, the peer's toward the peer. */
    if ((rc = ofl_attach_if(o, to_client.ifindex, err, sizeof(err))) < 0 ||
        (rc = ofl_attach_if(o, to_peer.ifindex, err, sizeof(err))) < 0) {
        se_log_rl(&rl_flow, SE_LOG_WARN, "relay offload: %s", err);
        return rc;
    }
    *fc = (struct ofl_fwd){.saddr = v4(&rs->addr),
                           .daddr = v4(peer),
                           .sport = htons(rs->addr.port),
                           .dport = htons(peer->port),
                           .mtu = (uint16_t)(to_peer.mtu > 65535 ? 65535 : to_peer.mtu),
                           .ifindex = to_peer.local ? 0 : (uint32_t)to_peer.ifindex};
    *fp = (struct ofl_fwd){.saddr = v4(listen),
                           .daddr = v4(&a->client.addr),
                           .sport = htons(listen->port),
                           .dport = htons(a->client.addr.port),
                           .mtu = (uint16_t)(to_client.mtu > 65535 ? 65535 : to_client.mtu),
                           .ifindex = to_client.local ? 0 : (uint32_t)to_client.ifindex};
    return 0;
}

/* Offload channel ch of a (expiring at expires): 0, or < 0 and the
 * channel stays on the user-space path (remembered, tried again later). */
static int install(struct relay_offload *o, struct allocation *a, const struct channel *ch,
                   int64_t expires)
{
    struct ofl_worker *ws = &o->ws[a->w->id];
    struct relay_sock *rs = alloc_relay_for(a, AF_INET);
    struct ofl_flow *f = append(a);
    struct ofl_fwd fc, fp;
    int rc = SE_ERR_LIMIT;

    if (!f)
        return SE_ERR_NOMEM;
    f->id = OFL_NONE;
    f->number = ch->number;
    f->peer = ch->peer;
    f->expires = a->w->now + OFL_RETRY_S;
    struct ofl_c2p_key kc = key_c2p(a, ch->number);
    struct ofl_p2c_key kp = key_p2c(rs, &ch->peer);
    if (!ws->n_free || (rc = plan(o, a, rs, &ch->peer, &fc, &fp)) < 0)
        goto refused;
    uint32_t id = ws->free_ids[--ws->n_free];
    fp.channel = htons(ch->number);
    fc.slot = 2 * id + DIR_C2P;
    fp.slot = 2 * id + DIR_P2C;
    for (int d = 0; d < 2; d++) {
        __atomic_store_n(&slot(o, id, d)->pkts, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&slot(o, id, d)->bytes, 0, __ATOMIC_RELAXED);
    }
    set_expiry(o, id, expires);
    if (bpf_map_update_elem(o->fd_c2p, &kc, &fc, BPF_NOEXIST) < 0) {
        rc = errno == EEXIST ? SE_ERR_EXISTS : SE_ERR_LIMIT;
        set_expiry(o, id, 0);
        ws->free_ids[ws->n_free++] = id; /* never visible to the program */
        goto refused;
    }
    if (bpf_map_update_elem(o->fd_p2c, &kp, &fp, BPF_NOEXIST) < 0) {
        rc = errno == EEXIST ? SE_ERR_EXISTS : SE_ERR_LIMIT;
        f->id = id; /* the c2p entry was visible: remove it the careful way */
        atomic_fetch_add_explicit(&ws->flows, 1, memory_order_relaxed);
        uninstall(o, a, f);
        f->id = OFL_NONE;
        goto refused;
    }
    f->id = id;
    f->expires = expires;
    atomic_fetch_add_explicit(&ws->flows, 1, memory_order_relaxed);
    se_debug("relay offload: channel 0x%04x of user=%s offloaded (flow %u)", ch->number, a->user,
             id);
    return 0;
refused:
    atomic_fetch_add_explicit(&ws->refused, 1, memory_order_relaxed);
    if (rc == SE_ERR_LIMIT || rc == SE_ERR_EXISTS)
        se_log_rl(&rl_flow, SE_LOG_INFO,
                  "relay offload: channel left in user space (%s, %u flows in use)",
                  rc == SE_ERR_LIMIT ? "flow table full" : "duplicate flow", o->nflows);
    return rc;
}

void relay_offload_sync(struct allocation *a)
{
    struct relay_offload *o = a->w->srv->offload;
    int64_t now = a->w->now;

    if (!o)
        return;
    bool want = eligible(a);
    for (uint16_t i = 0; a->offload && i < a->offload->n;) {
        struct ofl_flow *f = &a->offload->f[i];
        if (f->id == OFL_NONE) {
            if (!want || now >= f->expires || !channel_expiry(a, f->number, &f->peer)) {
                drop(o, a, i); /* gone, changed, or time to try again */
                continue;
            }
            i++;
            continue;
        }
        int64_t exp = want ? channel_expiry(a, f->number, &f->peer) : 0;
        if (exp <= now) {
            drop(o, a, i);
            continue;
        }
        if (exp != f->expires) {
            set_expiry(o, f->id, exp); /* refreshed by ChannelBind / CreatePermission */
            f->expires = exp;
        }
        i++;
    }
    if (!want)
        return;
    for (uint16_t k = 0; k < a->n_chans; k++) {
        const struct channel *ch = &a->chans[k];
        int64_t exp = channel_expiry(a, ch->number, &ch->peer);
        bool have = false;
        if (exp <= now)
            continue;
        for (uint16_t i = 0; a->offload && i < a->offload->n && !have; i++)
            have = a->offload->f[i].number == ch->number;
        if (!have && install(o, a, ch, exp) == SE_ERR_NOMEM)
            return;
    }
}

void relay_offload_cron(struct allocation *a)
{
    struct relay_offload *o = a->w->srv->offload;

    if (!o)
        return;
    for (uint16_t i = 0; a->offload && i < a->offload->n; i++)
        if (a->offload->f[i].id != OFL_NONE)
            merge(o, a, &a->offload->f[i]);
    relay_offload_sync(a);
}

void relay_offload_end(struct allocation *a)
{
    struct relay_offload *o = a->w->srv->offload;

    if (!a->offload)
        return;
    while (o && a->offload->n)
        drop(o, a, (uint16_t)(a->offload->n - 1));
    free(a->offload);
    a->offload = NULL;
}

void relay_offload_worker_cron(struct worker *w)
{
    struct relay_offload *o = w->srv->offload;

    if (!o)
        return;
    ofl_heartbeat(o);
    struct ofl_worker *ws = &o->ws[w->id];
    for (uint32_t i = 0; i < ws->n_quar;) {
        struct ofl_quarantined *q = &ws->quar[i];
        if (w->now - q->at < OFL_QUARANTINE_S) {
            i++;
            continue;
        }
        /* Datagrams counted after the flow's removal: forwarded all the
         * same, so they count (the allocation's END has gone already). */
        for (int d = 0; d < 2; d++) {
            struct ofl_state *st = slot(o, q->id, d);
            uint64_t dp = __atomic_load_n(&st->pkts, __ATOMIC_RELAXED) - q->pkts[d];
            uint64_t db = __atomic_load_n(&st->bytes, __ATOMIC_RELAXED) - q->bytes[d];
            if (!dp)
                continue;
            atomic_fetch_add_explicit(&ws->pkts[d], dp, memory_order_relaxed);
            atomic_fetch_add_explicit(&ws->bytes[d], db, memory_order_relaxed);
            atomic_fetch_add_explicit(d == DIR_C2P ? &w->st.pkts_from_client
                                                   : &w->st.pkts_to_client,
                                      dp, memory_order_relaxed);
            atomic_fetch_add_explicit(d == DIR_C2P ? &w->st.bytes_from_client
                                                   : &w->st.bytes_to_client,
                                      db, memory_order_relaxed);
        }
        ws->free_ids[ws->n_free++] = q->id;
        *q = ws->quar[--ws->n_quar];
    }
}
