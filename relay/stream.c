/*
 * stream.c - TCP and TLS client connections (RFC 8656 §3.1, §12.5).
 *
 * A worker accepts on its own SO_REUSEPORT listeners; each connection is a
 * libevent bufferevent (OpenSSL filters TLS below it) read by one framer
 * for STUN and ChannelData. A stream whose framing breaks is closed: no
 * resynchronisation is possible.
 *
 * Everything a connection holds is bounded, so that connections cannot
 * take the file descriptors and memory UDP clients need (issue 11):
 *  - how many: limits.max_connections in all (never more than half of
 *    what the fd limit leaves, recomputed every second, so relay sockets
 *    keep their fds) and limits.max_connections_per_ip per source (an
 *    IPv4 address or IPv6 /64; never more than half of the total, so one
 *    address cannot take every slot). At the total limit, a new
 *    connection takes the place of the one that has gone longest without
 *    an allocation (if idle for EVICT_GRACE seconds): idle connections
 *    from several addresses cannot keep a real client out. Otherwise a
 *    connection over a limit is closed at once, counted and logged
 *    (rate-limited);
 *  - how long: a TLS handshake gets limits.tls_handshake_timeout, a
 *    connection without an allocation limits.stream_idle_timeout (from
 *    accept or from the end of its allocation), a client that does not
 *    read what is queued for it limits.stream_stall_timeout (write
 *    timeout); TCP keepalive and TCP_USER_TIMEOUT find peers that
 *    vanished without a FIN. An allocated connection otherwise lives as
 *    long as its allocation (lifetime, refreshes);
 *  - how much memory: reads stop at a high-water mark past one frame,
 *    and what is queued toward the client is capped by
 *    limits.stream_out_max (stream_send drops beyond it); after a
 *    wave of closed connections the cron hands free heap pages back
 *    (malloc_trim), so the process returns to its size before a flood;
 *  - when accept() itself fails for want of descriptors (EMFILE, ENFILE,
 *    ENOBUFS, ENOMEM), the listener is paused for ACCEPT_PAUSE_MS and
 *    resumed (counted, logged at most a few times a second) instead of
 *    spinning on a listening socket that stays readable.
 * The per-source counts are server-wide (relay/ipcount.c, a mutex at
 * accept and close); the rest is per worker. Worker thread only.
 */
#include "relay/stream.h"
#include "relay/alloc.h"
#include "relay/client.h"
#include "relay/clock.h"
#include "relay/ipcount.h"
#include "relay/server.h"
#include "relay/snap.h"
#include "relay/turn.h"
#include "relay/worker.h"
#include "core/err.h"
#include "core/log.h"
#include "core/ratelimit.h"
#include "relay/proxyproto.h"
#include "relay/stun.h"

#include <errno.h>
#include <malloc.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
    STREAM_READ_HIGH = 256 * 1024, /* buffered input: one max frame plus slack */
    ACCEPT_PAUSE_MS = 250,         /* listener pause after EMFILE & co. */
    EVICT_GRACE = 2,               /* s an idle connection keeps its place at the limit */
    TRIM_AFTER_CLOSES = 64,        /* connections freed before memory is given back... */
    TRIM_INTERVAL = 5,             /* ...at most this often (s) */
    FD_RESERVE = 64,               /* fds kept for listeners, rings, files, the API */
    KEEPALIVE_INTERVAL = 10,       /* s between keepalive probes... */
    KEEPALIVE_PROBES = 3,          /* ...and how many go unanswered */
};

/* A TCP or TLS client connection. */
struct stream_conn {
    struct worker *w;
    struct bufferevent *bev;
    int transport;
    struct se_addr remote, local;
    struct allocation *alloc; /* at most one (RFC 8656 §3.1: per 5-tuple) */
    int64_t created;
    int64_t idle_since;       /* monotonic: accept, or the end of its allocation */
    bool tls_done;            /* handshake complete (always, for TCP) */
    bool in_idle;             /* on the worker's idle list */
    struct stream_conn *prev, *next;   /* worker's list of all */
    struct stream_conn *iprev, *inext; /* worker's idle list (no allocation), oldest first */
};

static struct se_log_rl rl_stream, rl_refuse, rl_accept, rl_close;

/* ---- limits ---- */

void stream_limits_update(struct relay_server *srv, const struct relay_snap *snap)
{
    struct rlimit rl;
    unsigned cap = snap->max_connections;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        unsigned long room = rl.rlim_cur > FD_RESERVE ? (unsigned long)rl.rlim_cur - FD_RESERVE : 0;
        if (room / 2 < cap)
            cap = (unsigned)(room / 2); /* the other half: relay sockets */
        atomic_store_explicit(&srv->fd_limit, (unsigned)rl.rlim_cur, memory_order_relaxed);
    }
    if (cap < 1)
        cap = 1;
    unsigned old = atomic_exchange_explicit(&srv->conn_cap, cap, memory_order_relaxed);
    if (old != cap)
        se_info("TCP/TLS connections limited to %u (limits.max_connections %u, fd limit %u), "
                "%u per source",
                cap, snap->max_connections,
                atomic_load_explicit(&srv->fd_limit, memory_order_relaxed),
                stream_per_source_cap(srv, snap));
}

unsigned stream_per_source_cap(struct relay_server *srv, const struct relay_snap *snap)
{
    unsigned half = atomic_load_explicit(&srv->conn_cap, memory_order_relaxed) / 2;
    unsigned per = snap->max_connections_per_ip ? snap->max_connections_per_ip : UINT32_MAX;

    if (half < 1)
        half = 1;
    return per < half ? per : half;
}

/* ---- connections ---- */

/* The idle list: connections without an allocation, in the order they
 * became idle, so the one idle longest is found at once. */
static void idle_remove(struct stream_conn *sc)
{
    struct worker *w = sc->w;

    if (!sc->in_idle)
        return;
    if (sc->iprev)
        sc->iprev->inext = sc->inext;
    else
        w->idle_head = sc->inext;
    if (sc->inext)
        sc->inext->iprev = sc->iprev;
    else
        w->idle_tail = sc->iprev;
    sc->iprev = sc->inext = NULL;
    sc->in_idle = false;
}

static void idle_append(struct stream_conn *sc)
{
    struct worker *w = sc->w;

    idle_remove(sc);
    sc->iprev = w->idle_tail;
    if (w->idle_tail)
        w->idle_tail->inext = sc;
    else
        w->idle_head = sc;
    w->idle_tail = sc;
    sc->in_idle = true;
}

static void conn_free(struct stream_conn *sc, const char *reason)
{
    struct worker *w = sc->w;
    uint8_t key[16];

    if (sc->alloc)
        alloc_free(sc->alloc, reason); /* clears sc->alloc */
    idle_remove(sc);
    if (sc->prev)
        sc->prev->next = sc->next;
    else
        w->conns = sc->next;
    if (sc->next)
        sc->next->prev = sc->prev;
    if (sc->bev) {
        SSL *ssl = bufferevent_openssl_get_ssl(sc->bev);
        if (ssl)
            SSL_set_shutdown(ssl, SSL_RECEIVED_SHUTDOWN); /* no blocking close_notify wait */
        bufferevent_free(sc->bev);
    }
    ipc_source_key(&sc->remote, key);
    ipc_release(w->srv->conn_sources, key, 1);
    atomic_fetch_sub_explicit(&w->srv->n_conns, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&w->st.conns_live, 1, memory_order_relaxed);
    w->conns_freed++;
    free(sc);
}

static int stream_send(struct worker *w, const struct client_ref *c, const uint8_t *buf, size_t len,
                       bool channel_data)
{
    static const uint8_t pad[3];
    struct stream_conn *sc = c->conn;
    struct evbuffer *out = bufferevent_get_output(sc->bev);

    /* Backpressure: a client that does not read loses relayed datagrams
     * rather than growing our memory. */
    if (evbuffer_get_length(out) > w->snap->stream_out_max) {
        atomic_fetch_add_explicit(&w->st.dropped_backpressure, 1, memory_order_relaxed);
        return SE_ERR_FULL;
    }
    bufferevent_write(sc->bev, buf, len);
    if (channel_data && (len & 3))
        bufferevent_write(sc->bev, pad, 4 - (len & 3));
    return 0;
}

static void stream_conn_idle(struct stream_conn *sc)
{
    sc->alloc = NULL;
    sc->idle_since = sc->w->now;
    idle_append(sc);
}

static void stream_conn_busy(struct stream_conn *sc, struct allocation *a)
{
    sc->alloc = a;
    idle_remove(sc);
}

/* An allocation of this connection's client began / ended. */
static int stream_attach(struct allocation *a)
{
    stream_conn_busy(a->client.conn, a);
    return 0;
}

static void stream_detach(struct allocation *a)
{
    if (a->client.conn)
        stream_conn_idle(a->client.conn);
}

const struct client_ops stream_client_ops = {
    .send = stream_send,
    .attach = stream_attach,
    .detach = stream_detach,
    .datagram = false,
};

/* Close with a reason worth counting and logging (timeouts). */
static void conn_close(struct stream_conn *sc, _Atomic uint64_t *counter, const char *reason)
{
    char as[SE_ADDR_STRLEN];

    atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
    se_log_rl(&rl_close, SE_LOG_INFO, "%s client %s closed: %s", se_transport_name(sc->transport),
              se_addr_str(&sc->remote, as, sizeof(as)), reason);
    conn_free(sc, reason);
}

static void stream_read_cb(struct bufferevent *bev, void *arg)
{
    struct stream_conn *sc = arg;
    struct worker *w = sc->w;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct client_ref c = {.transport = sc->transport, .conn = sc, .addr = sc->remote};

    w->now = relay_now_mono();
    for (;;) {
        uint8_t hdr[4];
        size_t have = evbuffer_get_length(in), frame, payload;

        if (have < 4)
            return;
        evbuffer_copyout(in, hdr, 4);
        int kind = stun_frame(hdr, &payload, &frame);
        if (kind < 0) {
            char as[SE_ADDR_STRLEN];
            se_log_rl(&rl_stream, SE_LOG_WARN, "%s client %s: not STUN or ChannelData, closing",
                      se_transport_name(sc->transport), se_addr_str(&sc->remote, as, sizeof(as)));
            atomic_fetch_add_explicit(&w->st.dropped_bad_input, 1, memory_order_relaxed);
            conn_free(sc, "bad framing");
            return;
        }
        if (have < frame)
            return;
        evbuffer_remove(in, w->rxbuf, frame);
        if (kind == STUN_FRAME_STUN)
            turn_on_stun(w, &c, sc->alloc, w->rxbuf, payload);
        else if (sc->alloc)
            turn_on_channel_data(w, sc->alloc, w->rxbuf, payload);
        else
            atomic_fetch_add_explicit(&w->st.dropped_bad_input, 1, memory_order_relaxed);
    }
}

static void stream_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct stream_conn *sc = arg;

    if (what & BEV_EVENT_CONNECTED) {
        sc->tls_done = true; /* the TLS handshake completed */
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        /* The write timeout: output pending and no progress for
         * limits.stream_stall_timeout: the client does not read. */
        conn_close(sc, &sc->w->st.conns_closed_stalled, "stalled (not reading)");
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        unsigned long e = bufferevent_get_openssl_error(bev);
        if (e)
            se_debug("tls: %s", ERR_reason_error_string(e));
        conn_free(sc, what & BEV_EVENT_EOF ? "client closed" : "connection error");
    }
}

static void refuse(struct worker *w, evutil_socket_t fd, int transport, const struct se_addr *from,
                   _Atomic uint64_t *counter, const char *limit, unsigned value)
{
    char as[SE_ADDR_STRLEN];

    close(fd);
    atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
    se_log_rl(&rl_refuse, SE_LOG_WARN, "%s connection from %s refused: %s (%u) reached",
              se_transport_name(transport), se_addr_str(from, as, sizeof(as)), limit, value);
}

/*
 * The write timeout of every connection of w. It is (re)armed whenever
 * output becomes pending, so it is a libevent "common timeout": O(1) per
 * arm instead of a heap operation per write toward a TCP/TLS client.
 */
static const struct timeval *stall_timeout(struct worker *w)
{
    unsigned s = w->snap->stream_stall_timeout;

    if (!w->stall_tv || w->stall_s != s) {
        struct timeval tv = {.tv_sec = s};
        w->stall_tv = event_base_init_common_timeout(w->base, &tv);
        w->stall_s = s;
    }
    return w->stall_tv;
}

static void set_socket_options(int fd, const struct relay_snap *s)
{
    int one = 1, idle = (int)s->stream_stall_timeout, intvl = KEEPALIVE_INTERVAL,
        cnt = KEEPALIVE_PROBES;
    unsigned user_timeout = s->stream_stall_timeout * 1000u;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* A peer that vanished without FIN or RST: keepalive finds it when
     * idle, TCP_USER_TIMEOUT when our data goes unacknowledged. */
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
}

/*
 * Per-source limits for a connection whose client is known (at accept,
 * or once a load balancer's PROXY header has named it): the per-source
 * cap and, for TLS, the handshake rate. On success the connection holds
 * its place in conn_sources under key; otherwise fd is closed and its
 * place in n_conns given back.
 */
static bool source_admit(struct worker *w, evutil_socket_t fd, int transport,
                         const struct se_addr *remote, uint8_t key[16])
{
    struct relay_server *srv = w->srv;
    unsigned per = stream_per_source_cap(srv, w->snap);

    ipc_source_key(remote, key);
    if (ipc_take(srv->conn_sources, key, per, 1) < 0) {
        atomic_fetch_sub_explicit(&srv->n_conns, 1, memory_order_relaxed);
        refuse(w, fd, transport, remote, &w->st.conns_refused_source,
               "limits.max_connections_per_ip", per);
        return false;
    }
    /* A full handshake costs an ECDHE and a signature: one address may
     * ask for at most tls_handshake_rate_per_ip of them per second. The
     * connection is closed before a byte of TLS is read. */
    if (transport == SE_TP_TLS &&
        !se_ratelimit_allow(srv->tls_rate, key, relay_now_ms(), w->snap->tls_handshake_rate_per_ip,
                            w->snap->tls_handshake_burst_per_ip)) {
        ipc_release(srv->conn_sources, key, 1);
        atomic_fetch_sub_explicit(&srv->n_conns, 1, memory_order_relaxed);
        refuse(w, fd, transport, remote, &w->st.conns_refused_tls_rate,
               "limits.tls_handshake_rate_per_ip", w->snap->tls_handshake_rate_per_ip);
        return false;
    }
    return true;
}

/* Start serving an admitted connection (it holds its places in n_conns
 * and under key): TLS or plain, the framer, the idle list. */
static void conn_start(struct worker *w, evutil_socket_t fd, int transport,
                       const struct se_addr *remote, const uint8_t key[16])
{
    struct relay_server *srv = w->srv;
    struct stream_conn *sc = calloc(1, sizeof(*sc));

    if (!sc)
        goto fail;
    sc->w = w;
    sc->transport = transport;
    sc->created = sc->idle_since = w->now;
    sc->remote = *remote;
    set_socket_options(fd, w->snap);
    if (sc->transport == SE_TP_TLS) {
        SSL *ssl = w->snap->tls ? SSL_new(w->snap->tls) : NULL;
        if (ssl)
            sc->bev = bufferevent_openssl_socket_new(w->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                     BEV_OPT_CLOSE_ON_FREE);
        else
            SSL_free(ssl);
    } else {
        sc->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
        sc->tls_done = true; /* nothing to wait for */
    }
    if (!sc->bev)
        goto fail;
    sc->next = w->conns;
    if (w->conns)
        w->conns->prev = sc;
    w->conns = sc;
    idle_append(sc);
    atomic_fetch_add_explicit(&w->st.conns_live, 1, memory_order_relaxed);
    bufferevent_set_timeouts(sc->bev, NULL, stall_timeout(w)); /* write progress only */
    bufferevent_setwatermark(sc->bev, EV_READ, 0, STREAM_READ_HIGH);
    bufferevent_setcb(sc->bev, stream_read_cb, NULL, stream_event_cb, sc);
    bufferevent_enable(sc->bev, EV_READ | EV_WRITE);
    return;
fail:
    free(sc);
    close(fd);
    ipc_release(srv->conn_sources, key, 1);
    atomic_fetch_sub_explicit(&srv->n_conns, 1, memory_order_relaxed);
}

/* ---- PROXY protocol: the load balancer names the client first ---- */

/*
 * A connection from a trusted load balancer whose PROXY header has not
 * fully arrived. Its bytes are only peeked (MSG_PEEK) until the whole
 * header is there, then exactly the header is read, so the TLS
 * ClientHello or the first TURN frame behind it stays in the socket for
 * the connection proper. The event is edge-triggered: a partial header
 * wakes the worker again only when more bytes arrive. It holds its place
 * in n_conns (not yet a per-source place: the source is not known) and
 * gets limits.tls_handshake_timeout to finish.
 */
struct proxy_wait {
    struct worker *w;
    evutil_socket_t fd;
    int transport;
    struct se_addr lb; /* the load balancer */
    struct event *ev;
    struct proxy_wait *prev, *next;
};

static void proxy_wait_free(struct proxy_wait *pw, bool close_fd)
{
    struct worker *w = pw->w;

    if (pw->prev)
        pw->prev->next = pw->next;
    else
        w->proxy_waits = pw->next;
    if (pw->next)
        pw->next->prev = pw->prev;
    event_free(pw->ev);
    if (close_fd) {
        close(pw->fd);
        atomic_fetch_sub_explicit(&w->srv->n_conns, 1, memory_order_relaxed);
    }
    free(pw);
}

static void proxy_fail(struct proxy_wait *pw, const char *why)
{
    char as[SE_ADDR_STRLEN];

    atomic_fetch_add_explicit(&pw->w->st.conns_closed_proxy, 1, memory_order_relaxed);
    se_log_rl(&rl_close, SE_LOG_INFO, "%s connection from load balancer %s closed: %s",
              se_transport_name(pw->transport), se_addr_str(&pw->lb, as, sizeof(as)), why);
    proxy_wait_free(pw, true);
}

static void proxy_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct proxy_wait *pw = arg;
    struct worker *w = pw->w;
    struct proxy_info pi;
    uint8_t key[16];
    ssize_t n;
    int rc;

    w->now = relay_now_mono();
    if (what & EV_TIMEOUT) {
        proxy_fail(pw, "no complete PROXY header within limits.tls_handshake_timeout");
        return;
    }
    n = recv(fd, w->rxbuf, PROXY_V2_MAX, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        proxy_fail(pw, n == 0 ? "closed before its PROXY header" : strerror(errno));
        return;
    }
    rc = proxy_parse(w->rxbuf, (size_t)n, &pi);
    if (rc == 0 && n < PROXY_V2_MAX)
        return; /* a prefix of a valid header: wait for more (edge-triggered) */
    if (rc <= 0) {
        atomic_fetch_add_explicit(&w->st.dropped_bad_input, 1, memory_order_relaxed);
        proxy_fail(pw, "not a valid PROXY protocol header");
        return;
    }
    if (recv(fd, w->rxbuf, (size_t)rc, 0) != rc) { /* the header only */
        proxy_fail(pw, "reading the PROXY header failed");
        return;
    }
    /* LOCAL (the balancer's own health check) keeps the balancer's
     * address; otherwise the client it names is the client from now on:
     * per-source limits, throttling, policy, sessions and logs. */
    struct se_addr client = pi.local ? pw->lb : pi.src;
    int transport = pw->transport;
    proxy_wait_free(pw, false);
    if (!source_admit(w, fd, transport, &client, key))
        return;
    conn_start(w, fd, transport, &client, key);
}

static void proxy_wait_start(struct worker *w, evutil_socket_t fd, int transport,
                             const struct se_addr *lb)
{
    struct timeval tv = {.tv_sec = w->snap->tls_handshake_timeout};
    struct proxy_wait *pw = calloc(1, sizeof(*pw));

    if (!pw || !(pw->ev = event_new(w->base, fd, EV_READ | EV_PERSIST | EV_ET, proxy_read_cb,
                                    pw)) ||
        event_add(pw->ev, &tv) < 0) {
        if (pw && pw->ev)
            event_free(pw->ev);
        free(pw);
        close(fd);
        atomic_fetch_sub_explicit(&w->srv->n_conns, 1, memory_order_relaxed);
        return;
    }
    pw->w = w;
    pw->fd = fd;
    pw->transport = transport;
    pw->lb = *lb;
    pw->next = w->proxy_waits;
    if (w->proxy_waits)
        w->proxy_waits->prev = pw;
    w->proxy_waits = pw;
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    struct worker *w = arg;
    struct relay_server *srv = w->srv;
    struct se_addr remote = {0};
    uint8_t key[16];
    int idx = -1;

    (void)salen;
    for (int i = 0; i < w->n_tcp; i++)
        if (w->tcp[i] == l)
            idx = i;
    if (idx < 0 || w->draining || se_addr_from_sockaddr(&remote, sa) < 0) {
        close(fd);
        return;
    }
    int transport = w->tcp_transport[idx];
    const struct se_listen *ls = &srv->cfg->listen[w->tcp_listen[idx]];
    if (ls->proxy_protocol && !se_cidr_set_contains(ls->proxy_from, remote.ip)) {
        /* A listener behind a load balancer talks only to the balancer:
         * anyone else could name any client address in a header. */
        char as[SE_ADDR_STRLEN];
        close(fd);
        atomic_fetch_add_explicit(&w->st.conns_refused_proxy, 1, memory_order_relaxed);
        se_log_rl(&rl_refuse, SE_LOG_WARN,
                  "%s connection from %s refused: not a load balancer in listen[%d].proxy_from",
                  se_transport_name(transport), se_addr_str(&remote, as, sizeof(as)),
                  w->tcp_listen[idx]);
        return;
    }
    unsigned cap = atomic_load_explicit(&srv->conn_cap, memory_order_relaxed);
    w->now = relay_now_mono();
    if (atomic_load_explicit(&srv->n_conns, memory_order_relaxed) >= cap && w->idle_head &&
        w->now - w->idle_head->idle_since >= EVICT_GRACE)
        /* Full: the connection idle longest, without an allocation, makes
         * room (nginx reuses idle keep-alive connections the same way), so
         * idle connections cannot keep a real client out. */
        conn_close(w->idle_head, &w->st.conns_evicted, "evicted: idle at limits.max_connections");
    if (atomic_fetch_add_explicit(&srv->n_conns, 1, memory_order_relaxed) >= cap) {
        atomic_fetch_sub_explicit(&srv->n_conns, 1, memory_order_relaxed);
        refuse(w, fd, transport, &remote, &w->st.conns_refused_total, "limits.max_connections",
               cap);
        return;
    }
    if (ls->proxy_protocol) {
        proxy_wait_start(w, fd, transport, &remote);
        return;
    }
    if (!source_admit(w, fd, transport, &remote, key))
        return;
    conn_start(w, fd, transport, &remote, key);
}

/* ---- accept errors: pause, resume ---- */

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;

    (void)fd;
    (void)what;
    w->accept_paused = false;
    for (int i = 0; i < w->n_tcp; i++)
        if (w->tcp[i])
            evconnlistener_enable(w->tcp[i]);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
    struct worker *w = arg;
    int err = EVUTIL_SOCKET_ERROR();

    if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
        se_log_rl(&rl_accept, SE_LOG_WARN, "accept: %s", strerror(err));
        return;
    }
    /* The listening socket stays readable: without a pause, the loop would
     * spin on accept() (and libevent would log every failure). */
    for (int i = 0; i < w->n_tcp; i++)
        if (w->tcp[i])
            evconnlistener_disable(w->tcp[i]);
    (void)l;
    if (!w->accept_paused) {
        struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
        w->accept_paused = true;
        event_add(w->resume_ev, &tv);
        atomic_fetch_add_explicit(&w->st.accept_paused, 1, memory_order_relaxed);
        se_log_rl(&rl_accept, SE_LOG_WARN,
                  "accept paused for %d ms: %s (%u TCP/TLS connections, fd limit %u)",
                  ACCEPT_PAUSE_MS, strerror(err),
                  atomic_load_explicit(&w->srv->n_conns, memory_order_relaxed),
                  atomic_load_explicit(&w->srv->fd_limit, memory_order_relaxed));
    }
}

/* ---- listeners, housekeeping ---- */

int stream_listen(struct worker *w)
{
    w->resume_ev = evtimer_new(w->base, resume_cb, w);
    if (!w->resume_ev)
        return SE_ERR_NOMEM;
    for (int k = 0; k < w->n_tcp; k++) {
        w->tcp[k] =
            evconnlistener_new(w->base, accept_cb, w, LEV_OPT_CLOSE_ON_FREE, -1, w->tcp_fd[k]);
        if (!w->tcp[k])
            return SE_ERR_NOMEM;
        w->tcp_fd[k] = -1; /* owned by the listener now */
        evconnlistener_set_error_cb(w->tcp[k], accept_error_cb);
    }
    return 0;
}

void stream_stop_listening(struct worker *w)
{
    for (int i = 0; i < w->n_tcp; i++) {
        if (w->tcp[i])
            evconnlistener_free(w->tcp[i]); /* closes the fd */
        w->tcp[i] = NULL;
    }
    if (w->resume_ev) {
        event_free(w->resume_ev);
        w->resume_ev = NULL;
    }
}

void stream_cron(struct worker *w)
{
    const struct relay_snap *s = w->snap;

    if (w->id == 0)
        stream_limits_update(w->srv, s);
    for (struct stream_conn *sc = w->conns, *next; sc; sc = next) {
        next = sc->next;
        if (!sc->tls_done && w->now - sc->created >= (int64_t)s->tls_handshake_timeout)
            conn_close(sc, &w->st.conns_closed_handshake, "TLS handshake timeout");
        else if (!sc->alloc && w->now - sc->idle_since >= (int64_t)s->stream_idle_timeout)
            conn_close(sc, &w->st.conns_closed_idle, "idle (no allocation)");
    }
    /* After a wave of connections (a flood, timeouts), give the heap's
     * free pages back so the process shrinks to what is live (glibc keeps
     * them in its arenas otherwise). Never on the packet path. */
    if (w->conns_freed >= TRIM_AFTER_CLOSES && w->now - w->last_trim >= TRIM_INTERVAL) {
        malloc_trim(0);
        w->conns_freed = 0;
        w->last_trim = w->now;
    }
    se_log_rl_flush(&rl_refuse, SE_LOG_WARN, "connection refused");
    se_log_rl_flush(&rl_close, SE_LOG_INFO, "client closed");
    se_log_rl_flush(&rl_accept, SE_LOG_WARN, "accept paused");
    se_log_rl_flush(&rl_stream, SE_LOG_WARN, "not STUN or ChannelData");
}

void stream_close_all(struct worker *w)
{
    while (w->proxy_waits)
        proxy_wait_free(w->proxy_waits, true);
    while (w->conns)
        conn_free(w->conns, "shutdown");
}
