/*
 * server.c - the relay server: what relay.h promises the control thread.
 *
 * relay_server_new binds every listening socket of every worker (after an
 * exclusive probe per address, so a second instance cannot silently share
 * a port through SO_REUSEPORT) and sets up what the workers share
 * (server.h); relay_server_start gives each worker its loop and first
 * snapshot and starts its thread. From then on the control thread talks
 * to a worker only through its mailbox: a new snapshot (publish), a drain,
 * admin kills, each followed by event_active() on the worker's mailbox
 * event. Session events come back through the bounded queue. Counters
 * are summed from the workers' relaxed atomics. Control thread only.
 */
#include "relay/relay.h"
#include "core/err.h"
#include "core/log.h"
#include "core/queue.h"
#include "core/ratelimit.h"
#include "relay/clock.h"
#include "relay/ipcount.h"
#include "relay/ports.h"
#include "relay/server.h"
#include "relay/stream.h"
#include "relay/uring.h"
#include "relay/worker.h"
#include "relay/offload/offload.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
    EVENT_QUEUE_LEN = 8192,       /* session events waiting for the control thread */
    RATE_TABLE_SLOTS = 16384,     /* users / sources whose Allocate / TLS rate is tracked */
};

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
        int rc = worker_start(&srv->workers[i], snap);
        if (rc < 0)
            return rc;
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
    for (int i = 0; srv->workers && i < srv->n_workers; i++)
        worker_release(&srv->workers[i]);
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
