/*
 * worker.c - relay worker threads and client transports.
 *
 * Each worker owns one event_base, one SO_REUSEPORT socket per configured
 * listener, and every allocation created through those sockets. The
 * kernel hashes a UDP 5-tuple or a TCP connection to one socket, so all
 * packets of an allocation reach the worker that owns it and no lock is
 * needed on the packet path.
 *
 * Packets are classified on their first byte (RFC 7983): 0-3 STUN, 64-127
 * ChannelData (RFC 5766's channel range, see stun.h); anything else is dropped and counted. TCP and TLS
 * clients (one framer over libevent bufferevents, and the limits on what
 * connections may hold) are in stream.c.
 *
 * The control thread talks to a worker only through its mailbox (a new
 * snapshot, a drain request) and event_active(); each worker's cron runs
 * once a second for expiry and draining.
 *
 * UDP data path. The kernel's per-datagram work is most of a relay's
 * cost, so the user-space side is built to add as few system calls and
 * wake-ups as it can (docs/benchmark.md has the figures and the profile):
 *  - a listener reads up to RELAY_RX_BATCH datagrams per recvmmsg into
 *    fixed per-worker slots; ChannelData found there is queued toward the
 *    peers (w->to_peer, pointing into the slots, no copy) and the queue
 *    is sent before the slots are read into again, and before any STUN
 *    message of the batch is handled (a Refresh may close a relay socket):
 *    with io_uring (relay.io, relay/uring.c) one submit for every relay
 *    socket in it, with epoll one sendmmsg per run on the same socket;
 *  - relay sockets: with io_uring, each has a multishot receive into the
 *    worker's ring of provided buffers and the ring's fd is one event of
 *    this loop, so one wake-up reads what arrived on all of them; with
 *    epoll, a ready socket reads with one recvmmsg straight into free
 *    buffers of the queue toward the clients (w->to_client), behind 64
 *    bytes of headroom for the ChannelData header (queuing swaps buffer
 *    pointers). Either way the datagram is queued without a copy.
 *    flush_ev, made active by the first datagram queued, runs after the
 *    other ready events of this event-loop pass and sends the whole
 *    queue with one sendmmsg per listener socket;
 *  - runs of equal-sized datagrams from one socket to one destination
 *    leave as one UDP GSO message (relay/txq.c);
 *  - lookups on the way are the 5-tuple hash (alloc_find_udp) and short
 *    arrays of channels and permissions inside the allocation.
 * Nothing on this path allocates memory or takes a lock; STUN requests,
 * Data indications and TCP/TLS clients keep the plain one-call-per-
 * message path.
 */
#include "relay/worker.h"
#include "relay/alloc.h"
#include "relay/clock.h"
#include "relay/ipcount.h"
#include "relay/ports.h"
#include "relay/server.h"
#include "relay/snap.h"
#include "relay/stream.h"
#include "relay/turn.h"
#include "relay/txq.h"
#include "relay/uring.h"
#include "core/err.h"
#include "core/log.h"
#include "core/queue.h"
#include "core/ratelimit.h"
#include "relay/offload/offload.h"
#include "relay/stun.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
    EVENT_QUEUE_LEN = 8192,       /* session events waiting for the control thread */
    RATE_TABLE_SLOTS = 16384,     /* users / sources whose Allocate / TLS rate is tracked */
};

static struct se_log_rl rl_send;

/* ---- sockets ---- */

/*
 * SO_REUSEPORT would let a second sedge (or anything else of ours) share
 * a port silently and take half the traffic. Before the workers bind
 * theirs, an exclusive probe bind proves the address is free.
 */
static int probe_exclusive(int type, const struct se_addr *a, char *err, size_t errlen,
                           const char *what)
{
    struct sockaddr_storage ss;
    socklen_t sl = se_addr_to_sockaddr(a, &ss);
    char as[SE_ADDR_STRLEN];
    int one = 1, rc = 0;
    int fd = socket(ss.ss_family, type | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        snprintf(err, errlen, "%s: socket: %s", what, strerror(errno));
        return -1;
    }
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (type == SOCK_STREAM)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)); /* TIME_WAIT is fine */
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
        snprintf(err, errlen, "%s: cannot bind %s: %s%s", what, se_addr_str(a, as, sizeof(as)),
                 strerror(errno),
                 errno == EADDRINUSE ? " (is another sedge or TURN server running?)" : "");
        rc = -1;
    }
    close(fd);
    return rc;
}

static int open_socket(int type, const struct se_addr *a, char *err, size_t errlen,
                       const char *what)
{
    struct sockaddr_storage ss;
    socklen_t sl = se_addr_to_sockaddr(a, &ss);
    char as[SE_ADDR_STRLEN];
    int one = 1;
    int fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        snprintf(err, errlen, "%s: socket: %s", what, strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
        (ss.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
        bind(fd, (struct sockaddr *)&ss, sl) < 0) {
        snprintf(err, errlen, "%s: cannot bind %s: %s", what, se_addr_str(a, as, sizeof(as)),
                 strerror(errno));
        close(fd);
        return -1;
    }
    if (type == SOCK_STREAM && listen(fd, 1024) < 0) {
        snprintf(err, errlen, "%s: listen on %s: %s", what, se_addr_str(a, as, sizeof(as)),
                 strerror(errno));
        close(fd);
        return -1;
    }
    if (type == SOCK_DGRAM) {
        int sz = 4 << 20; /* absorb bursts; the kernel caps at rmem_max */
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    }
    return fd;
}

/* ---- sending to clients ---- */

int worker_send_client(struct worker *w, const struct client_ref *c, const uint8_t *buf, size_t len,
                       bool channel_data)
{
    if (c->transport == SE_TP_UDP) {
        struct sockaddr_storage ss;
        socklen_t sl = se_addr_to_sockaddr(&c->addr, &ss);
        if (sendto(c->udp->fd, buf, len, 0, (struct sockaddr *)&ss, sl) < 0) {
            if (errno == EAGAIN || errno == ENOBUFS)
                atomic_fetch_add_explicit(&w->st.dropped_backpressure, 1, memory_order_relaxed);
            else
                se_log_rl(&rl_send, SE_LOG_WARN, "udp send to client failed: %s",
                          strerror(errno));
            return SE_ERR_IO;
        }
        return 0;
    }
    return stream_conn_send(c->conn, buf, len, channel_data);
}

/* ---- batched UDP sends (relay/txq.c) ---- */

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;

    (void)fd;
    (void)what;
    txq_send(w, &w->to_client);
}

/* ---- UDP listeners ---- */

static void udp_dispatch(struct worker *w, struct udp_listener *ul, uint8_t *buf, size_t n,
                         const struct sockaddr *from)
{
    struct client_ref c = {.transport = SE_TP_UDP, .udp = ul};

    if (se_addr_from_sockaddr(&c.addr, from) < 0 || n < 4) {
        atomic_fetch_add_explicit(&w->st.dropped_bad_input, 1, memory_order_relaxed);
        return;
    }
    uint8_t b0 = buf[0];
    if (b0 < 0x40) {
        /* A STUN request may free an allocation (Refresh 0) and with it a
         * relay socket that queued datagrams name: send them first. */
        w->to_peer_batching = false;
        txq_send(w, &w->to_peer);
        turn_on_stun(w, &c, alloc_find_udp(w, ul, &c.addr), buf, n);
        w->to_peer_batching = true;
    } else if (b0 < 0x80) {
        struct allocation *a = alloc_find_udp(w, ul, &c.addr);
        if (a)
            turn_on_channel_data(w, a, buf, n);
        else
            atomic_fetch_add_explicit(&w->st.dropped_bad_input, 1, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&w->st.dropped_bad_input, 1, memory_order_relaxed);
    }
}

static void udp_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct udp_listener *ul = arg;
    struct worker *w = ul->w;
    struct mmsghdr m[RELAY_RX_BATCH];
    struct iovec iov[RELAY_RX_BATCH];
    union relay_sockaddr from[RELAY_RX_BATCH];

    (void)what;
    w->now = relay_now_mono();
    for (int round = 0; round < RELAY_UDP_BURST / RELAY_RX_BATCH; round++) {
        for (int i = 0; i < RELAY_RX_BATCH; i++) {
            iov[i].iov_base = w->rx_slots + (size_t)i * RELAY_BUF_SIZE;
            iov[i].iov_len = RELAY_BUF_SIZE;
            m[i].msg_hdr = (struct msghdr){.msg_name = &from[i],
                                           .msg_namelen = sizeof(from[i]),
                                           .msg_iov = &iov[i],
                                           .msg_iovlen = 1};
        }
        int k = recvmmsg(fd, m, RELAY_RX_BATCH, MSG_DONTWAIT, NULL);
        if (k < 0) {
            if (errno == EINTR || errno == ECONNREFUSED)
                continue;
            break; /* EAGAIN or a real error: wait for the next readiness */
        }
        w->to_peer_batching = true;
        for (int i = 0; i < k; i++)
            udp_dispatch(w, ul, iov[i].iov_base, m[i].msg_len, &from[i].sa);
        w->to_peer_batching = false;
        txq_send(w, &w->to_peer); /* before the slots are read into again */
        if (k < RELAY_RX_BATCH)
            break; /* drained: no extra call just to see EAGAIN */
    }
}

/* ---- mailbox, cron ---- */

/* A draining worker stops when no worker has an allocation left (not
 * when its own list is empty: until the whole server stops, its share of
 * the UDP listeners must keep answering 300/508), or at the deadline. */
static bool drained(struct worker *w, int64_t now)
{
    return atomic_load(&w->srv->n_live) == 0 || now >= w->drain_deadline;
}

static void mbox_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct relay_snap *snap;
    bool drain;

    (void)fd;
    (void)what;
    uint64_t kill[MBOX_KILL_MAX];
    unsigned n_kill;

    pthread_mutex_lock(&w->mbox_lock);
    snap = w->mbox_snap;
    w->mbox_snap = NULL;
    drain = w->mbox_drain;
    n_kill = w->n_mbox_kill;
    memcpy(kill, w->mbox_kill, n_kill * sizeof(kill[0]));
    w->n_mbox_kill = 0;
    pthread_mutex_unlock(&w->mbox_lock);
    for (unsigned i = 0; i < n_kill; i++) {
        for (struct allocation *a = w->allocs; a; a = a->next) {
            if (a->sid == kill[i]) {
                se_info("allocation killed by admin user=%s sid=%s-%llu", a->user, w->srv->instance,
                        (unsigned long long)a->sid);
                alloc_free(a, "killed by admin");
                break;
            }
        }
    }
    if (snap) {
        struct relay_snap *old = w->snap;
        w->snap = snap; /* the reference moves from the mailbox to us */
        relay_snap_unref(old);
        /* Users, secrets or rules changed: live allocations follow now. */
        w->now = relay_now_mono();
        alloc_recheck_all(w, true);
    }
    if (drain && !w->draining) {
        w->draining = true;
        stream_stop_listening(w);
        w->now = relay_now_mono();
        alloc_drain_idle(w, w->srv->cfg->drain_idle);
    }
    /* Nothing left to wait for (or the deadline moved to now: a second
     * signal): stop at once, not at the next cron. */
    if (w->draining && drained(w, relay_now_mono()))
        event_base_loopexit(w->base, NULL);
}

static void cron_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;

    (void)fd;
    (void)what;
    w->now = relay_now_mono();
    /* Loop lag: how late this 1 s timer fired, i.e. how long callbacks
     * kept the loop busy past the period (exported in /metrics). */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    if (w->cron_last_us)
        atomic_store_explicit(&w->st.loop_lag_us,
                              us - w->cron_last_us > 1000000
                                  ? (uint64_t)(us - w->cron_last_us - 1000000)
                                  : 0,
                              memory_order_relaxed);
    w->cron_last_us = us;
    alloc_cron(w);
    uring_cron(w);
    if (w->id == 0) {
        ports_resv_expire(w->srv, w->now);
        turn_cron(w);
    }
    stream_cron(w);
    if (w->draining) {
        alloc_drain_idle(w, w->srv->cfg->drain_idle);
        if (drained(w, w->now))
            event_base_loopexit(w->base, NULL);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    /* The rings belong to this thread (IORING_SETUP_SINGLE_ISSUER). */
    if (w->srv->use_uring) {
        char err[256];
        if (uring_init(w, err, sizeof(err)) < 0)
            se_warn("worker %d: %s; its relay sockets use epoll", w->id, err);
    }
    event_base_dispatch(w->base);
    /* Tear down in the owning thread. */
    stream_close_all(w);
    while (w->allocs)
        alloc_free(w->allocs, "shutdown");
    uring_free(w);
    atomic_fetch_sub(&w->srv->n_running, 1); /* its END events are queued */
    return NULL;
}

/* ---- server ---- */

/* Every allocation and connection costs a descriptor: use what the hard
 * limit allows (the soft limit is often 1 024). The connection limits
 * follow whatever limit is in force (stream.c). */
static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t was = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
            se_info("fd limit raised from %llu to %llu", (unsigned long long)was,
                    (unsigned long long)rl.rlim_cur);
    }
}

int relay_server_new(const struct se_config *cfg, struct relay_server **out, char *err,
                     size_t errlen)
{
    struct relay_server *srv = calloc(1, sizeof(*srv));

    *out = NULL;
    if (!srv) {
        snprintf(err, errlen, "out of memory");
        return SE_ERR_NOMEM;
    }
    srv->cfg = cfg;
    pthread_mutex_init(&srv->lock, NULL);
    srv->throttle = auth_throttle_new(cfg->auth_fail_limit, cfg->auth_fail_window,
                                      cfg->auth_block_time);
    if (srv->throttle) {
        auth_throttle_set_source_limit(srv->throttle, cfg->auth_source_fail_limit);
        auth_throttle_set_challenge_rate(srv->throttle, cfg->challenge_rate);
    }
    srv->alloc_sources = ipc_new();
    srv->conn_sources = ipc_new();
    srv->alloc_rate = se_ratelimit_new(RATE_TABLE_SLOTS);
    srv->tls_rate = se_ratelimit_new(RATE_TABLE_SLOTS);
    srv->n_workers = cfg->workers;
    srv->workers = calloc((size_t)srv->n_workers, sizeof(*srv->workers));
    if (!srv->throttle || !srv->workers || !srv->alloc_sources || !srv->conn_sources ||
        !srv->alloc_rate || !srv->tls_rate || auth_nonce_key_init(&srv->nonce_key) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    {
        uint8_t rnd[4];
        if (RAND_bytes(rnd, sizeof(rnd)) != 1 || !(srv->events = se_queue_new(EVENT_QUEUE_LEN))) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        snprintf(srv->instance, sizeof(srv->instance), "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
                 rnd[3]);
    }
    if (cfg->relay_io != SE_IO_EPOLL) {
        char why[200];
        if (uring_probe(why, sizeof(why)) == 0) {
            srv->use_uring = true;
        } else if (cfg->relay_io == SE_IO_URING) {
            snprintf(err, errlen, "relay.io = \"io_uring\": this kernel cannot: %s", why);
            goto fail;
        } else {
            se_warn("relay.io: io_uring unavailable (%s); relay sockets use epoll", why);
        }
    }
    se_info("relay sockets: %s", srv->use_uring ? "io_uring" : "epoll");
    raise_fd_limit();
    if (relay_offload_open(cfg, srv->n_workers, &srv->offload, err, errlen) < 0)
        goto fail;
    for (int k = 0; k < cfg->n_listen; k++) {
        char what[64];
        snprintf(what, sizeof(what), "listen[%d] (%s)", k,
                 se_transport_name(cfg->listen[k].transport));
        if (probe_exclusive(cfg->listen[k].transport == SE_TP_UDP ? SOCK_DGRAM : SOCK_STREAM,
                            &cfg->listen[k].addr, err, errlen, what) < 0)
            goto fail;
    }
    for (int i = 0; i < srv->n_workers; i++) {
        struct worker *w = &srv->workers[i];
        w->id = i;
        w->srv = srv;
        pthread_mutex_init(&w->mbox_lock, NULL);
        for (int k = 0; k < SE_MAX_LISTEN; k++)
            w->udp[k].fd = w->tcp_fd[k] = -1;
        for (int k = 0; k < cfg->n_listen; k++) {
            const struct se_listen *ls = &cfg->listen[k];
            char what[64];
            snprintf(what, sizeof(what), "listen[%d] (%s)", k, se_transport_name(ls->transport));
            if (ls->transport == SE_TP_UDP) {
                struct udp_listener *ul = &w->udp[w->n_udp];
                ul->fd = open_socket(SOCK_DGRAM, &ls->addr, err, errlen, what);
                if (ul->fd < 0)
                    goto fail;
                ul->w = w;
                ul->index = k;
                ul->local = ls->addr;
                w->n_udp++;
            } else {
                int fd = open_socket(SOCK_STREAM, &ls->addr, err, errlen, what);
                if (fd < 0)
                    goto fail;
                w->tcp_fd[w->n_tcp] = fd;
                w->tcp_transport[w->n_tcp] = ls->transport;
                w->tcp_listen[w->n_tcp] = k;
                w->n_tcp++;
            }
        }
    }
    *out = srv;
    return 0;
fail:
    relay_server_free(srv);
    return SE_ERR_IO;
}

int relay_server_start(struct relay_server *srv, struct relay_snap *snap)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, (void (*)(void))evthread_use_pthreads);

    stream_limits_update(srv, snap); /* before any accept */
    for (int i = 0; i < srv->n_workers; i++) {
        struct worker *w = &srv->workers[i];
        struct timeval one_s = {1, 0};

        w->base = event_base_new();
        if (!w->base)
            return SE_ERR_NOMEM;
        relay_snap_ref(snap);
        w->snap = snap;
        w->now = relay_now_mono();
        /* An unpredictable seed keeps clients from choosing colliding
         * 5-tuples to degrade the table (hash flooding). */
        if (RAND_bytes((unsigned char *)&w->hseed, sizeof(w->hseed)) != 1 ||
            RAND_bytes((unsigned char *)&w->rng, sizeof(w->rng)) != 1)
            return SE_ERR_CRYPTO;
        w->rng |= 1;
        for (int k = 0; k < w->n_udp; k++) {
            struct udp_listener *ul = &w->udp[k];
            ul->ev = event_new(w->base, ul->fd, EV_READ | EV_PERSIST, udp_read_cb, ul);
            if (!ul->ev || event_add(ul->ev, NULL) < 0)
                return SE_ERR_NOMEM;
        }
        if (stream_listen(w) < 0)
            return SE_ERR_NOMEM;
        w->mbox_ev = event_new(w->base, -1, 0, mbox_cb, w);
        w->cron_ev = event_new(w->base, -1, EV_PERSIST, cron_cb, w);
        w->flush_ev = event_new(w->base, -1, 0, flush_cb, w);
        if (!w->mbox_ev || !w->cron_ev || !w->flush_ev || event_add(w->cron_ev, &one_s) < 0)
            return SE_ERR_NOMEM;
        /* Slot memory is only reserved here: the kernel backs the pages a
         * datagram actually touches (mostly the first 2 KiB of each). */
        w->rx_slots = malloc((size_t)RELAY_RX_BATCH * RELAY_BUF_SIZE);
        w->tx_slots = malloc((size_t)RELAY_TXQ_MAX * RELAY_BUF_SIZE);
        if (!w->rx_slots || !w->tx_slots)
            return SE_ERR_NOMEM;
        for (int k = 0; k < RELAY_TXQ_MAX; k++)
            w->to_client.buf[k] = w->tx_slots + (size_t)k * RELAY_BUF_SIZE;
        w->gso = txq_gso_supported();
    }
    for (int i = 0; i < srv->n_workers; i++) {
        atomic_fetch_add(&srv->n_running, 1);
        if (pthread_create(&srv->workers[i].thread, NULL, worker_main, &srv->workers[i]) != 0) {
            atomic_fetch_sub(&srv->n_running, 1);
            return SE_ERR_IO;
        }
    }
    return 0;
}

void relay_server_publish(struct relay_server *srv, struct relay_snap *snap)
{
    for (int i = 0; i < srv->n_workers; i++) {
        struct worker *w = &srv->workers[i];
        struct relay_snap *stale;

        relay_snap_ref(snap);
        pthread_mutex_lock(&w->mbox_lock);
        stale = w->mbox_snap; /* never picked up: superseded */
        w->mbox_snap = snap;
        pthread_mutex_unlock(&w->mbox_lock);
        relay_snap_unref(stale);
        if (w->mbox_ev)
            event_active(w->mbox_ev, EV_READ, 0);
    }
}

void relay_server_reconfigure(struct relay_server *srv, const struct se_config *cfg)
{
    auth_throttle_set(srv->throttle, cfg->auth_fail_limit, cfg->auth_fail_window,
                      cfg->auth_block_time);
    auth_throttle_set_source_limit(srv->throttle, cfg->auth_source_fail_limit);
    auth_throttle_set_challenge_rate(srv->throttle, cfg->challenge_rate);
}

void relay_server_drain(struct relay_server *srv, unsigned timeout_s)
{
    int64_t deadline = relay_now_mono() + timeout_s;

    for (int i = 0; i < srv->n_workers; i++) {
        struct worker *w = &srv->workers[i];
        pthread_mutex_lock(&w->mbox_lock);
        w->mbox_drain = true;
        w->drain_deadline = deadline; /* read by the worker after the mailbox lock */
        pthread_mutex_unlock(&w->mbox_lock);
        if (w->mbox_ev)
            event_active(w->mbox_ev, EV_READ, 0);
    }
}

int relay_server_running(struct relay_server *srv)
{
    return srv ? atomic_load(&srv->n_running) : 0;
}

void relay_server_join(struct relay_server *srv)
{
    for (int i = 0; srv && srv->workers && i < srv->n_workers; i++) {
        struct worker *w = &srv->workers[i];
        if (w->thread) {
            pthread_join(w->thread, NULL);
            w->thread = 0;
        }
    }
}

int relay_server_kill(struct relay_server *srv, const char *sid)
{
    size_t il = strlen(srv->instance);
    char *end;

    if (strncmp(sid, srv->instance, il) != 0 || sid[il] != '-' || !sid[il + 1])
        return SE_ERR_NOTFOUND;
    unsigned long long n = strtoull(sid + il + 1, &end, 10);
    if (*end || n == 0)
        return SE_ERR_NOTFOUND;
    /* The owner is not recorded outside its worker: every worker looks. */
    for (int i = 0; i < srv->n_workers; i++) {
        struct worker *w = &srv->workers[i];
        bool full;
        pthread_mutex_lock(&w->mbox_lock);
        full = w->n_mbox_kill >= MBOX_KILL_MAX;
        if (!full)
            w->mbox_kill[w->n_mbox_kill++] = n;
        pthread_mutex_unlock(&w->mbox_lock);
        if (full)
            return SE_ERR_FULL;
        if (w->mbox_ev)
            event_active(w->mbox_ev, EV_READ, 0);
    }
    return 0;
}

size_t relay_server_take_events(struct relay_server *srv, struct relay_event **out, size_t max)
{
    return srv->events ? se_queue_pop(srv->events, (void **)out, max) : 0;
}

void relay_server_free(struct relay_server *srv)
{
    if (!srv)
        return;
    relay_server_join(srv);
    for (int i = 0; srv->workers && i < srv->n_workers; i++) {
        struct worker *w = &srv->workers[i];
        for (int k = 0; k < w->n_udp; k++) {
            if (w->udp[k].ev)
                event_free(w->udp[k].ev);
            if (w->udp[k].fd >= 0)
                close(w->udp[k].fd);
        }
        stream_stop_listening(w);
        for (int k = 0; k < w->n_tcp; k++)
            if (w->tcp_fd[k] >= 0)
                close(w->tcp_fd[k]);
        if (w->mbox_ev)
            event_free(w->mbox_ev);
        if (w->cron_ev)
            event_free(w->cron_ev);
        if (w->flush_ev)
            event_free(w->flush_ev);
        uring_free(w); /* a worker whose thread never ran */
        free(w->rx_slots);
        free(w->tx_slots);
        free(w->htab);
        relay_snap_unref(w->snap);
        relay_snap_unref(w->mbox_snap);
        if (w->base)
            event_base_free(w->base);
        pthread_mutex_destroy(&w->mbox_lock);
    }
    free(srv->workers);
    ports_free(srv);
    relay_offload_free(srv->offload); /* the workers are gone: no flow is left */
    auth_throttle_free(srv->throttle);
    ipc_free(srv->alloc_sources);
    ipc_free(srv->conn_sources);
    se_ratelimit_free(srv->alloc_rate);
    se_ratelimit_free(srv->tls_rate);
    if (srv->events) {
        struct relay_event *ev[64];
        size_t n;
        while ((n = se_queue_pop(srv->events, (void **)ev, 64)) > 0)
            for (size_t i = 0; i < n; i++)
                free(ev[i]);
        se_queue_free(srv->events);
    }
    pthread_mutex_destroy(&srv->lock);
    free(srv);
}

int relay_server_workers(const struct relay_server *srv)
{
    return srv ? srv->n_workers : 0;
}

uint64_t relay_server_worker_lag_us(struct relay_server *srv, int i)
{
    if (!srv || i < 0 || i >= srv->n_workers)
        return 0;
    return atomic_load_explicit(&srv->workers[i].st.loop_lag_us, memory_order_relaxed);
}

void relay_server_stats(struct relay_server *srv, struct relay_stats *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 0; i < srv->n_workers; i++) {
        struct worker_stats *s = &srv->workers[i].st;
#define ADD(f) o->f += atomic_load_explicit(&s->f, memory_order_relaxed)
        ADD(allocs_live);
        ADD(allocs_created);
        ADD(allocs_refused);
        ADD(auth_failures);
        ADD(auth_throttled);
        ADD(pkts_from_client);
        ADD(bytes_from_client);
        ADD(pkts_to_client);
        ADD(bytes_to_client);
        ADD(dropped_no_permission);
        ADD(dropped_bad_input);
        ADD(dropped_backpressure);
        ADD(peer_denied);
        ADD(challenges_limited);
        ADD(policy_denied);
        ADD(revoked);
        ADD(dropped_rate_limit);
        o->uring_workers += atomic_load_explicit(&s->uring_on, memory_order_relaxed);
        ADD(uring_rx_starved);
        ADD(uring_rx_rearmed);
        ADD(conns_live);
        ADD(conns_refused_total);
        ADD(conns_refused_source);
        ADD(accept_paused);
        ADD(conns_closed_handshake);
        ADD(conns_closed_idle);
        ADD(conns_closed_stalled);
        ADD(conns_evicted);
        ADD(conns_refused_tls_rate);
        ADD(conns_refused_proxy);
        ADD(conns_closed_proxy);
        ADD(allocs_rate_limited);
#undef ADD
    }
    o->events_dropped = srv->events ? se_queue_dropped(srv->events) : 0;
    relay_offload_stats(srv->offload, o);
    o->reservations_live = atomic_load_explicit(&srv->n_resv, memory_order_relaxed);
    o->conn_limit = atomic_load_explicit(&srv->conn_cap, memory_order_relaxed);
    o->fd_limit = atomic_load_explicit(&srv->fd_limit, memory_order_relaxed);
}
