/*
 * worker.c - one relay worker thread: its loop, UDP listeners, mailbox
 * and cron.
 *
 * Each worker owns one event_base, one SO_REUSEPORT socket per configured
 * listener (bound by server.c), and every allocation created through
 * those sockets. The kernel hashes a UDP 5-tuple or a TCP connection to
 * one socket, so all packets of an allocation reach the worker that owns
 * it and no lock is needed on the packet path.
 *
 * Packets are classified on their first byte (RFC 7983): 0-3 STUN, 64-127
 * ChannelData (RFC 5766's channel range, see stun.h); anything else is
 * dropped and counted. The UDP listeners are in udp.c, TCP and TLS clients (one framer over libevent
 * bufferevents, and the limits on what connections may hold) are in
 * stream.c; STUN requests in turn.c; relayed data toward and from peers
 * in peer.c (with uring.c for relay sockets over io_uring).
 *
 * The control thread talks to a worker only through its mailbox (a new
 * snapshot, a drain request, admin kills) and event_active(); each
 * worker's cron runs once a second for expiry, re-checks and draining.
 *
 * UDP data path. The kernel's per-datagram work is most of a relay's
 * cost, so the user-space side adds as few system calls and wake-ups as
 * it can (docs/benchmark.md has the figures and the profile): a listener
 * reads up to RELAY_RX_BATCH datagrams per recvmmsg; ChannelData found
 * there is queued toward the peers and that queue is sent at the end of
 * the batch, before any STUN message of the batch is handled (a Refresh
 * may close a relay socket); datagrams toward UDP clients are queued in
 * place and flush_ev, made active by the first one queued, sends them
 * after the pass's other ready events; runs of equal-sized datagrams to
 * one destination leave as one UDP GSO message (txq.c). Which buffer
 * belongs to whom on the way is told once, in txq.h. Lookups are the
 * 5-tuple hash (udp.c) and short arrays inside the allocation;
 * nothing on this path allocates memory or takes a lock. STUN requests,
 * Data indications and TCP/TLS clients keep the plain one-call-per-message
 * path.
 */
#include "relay/worker.h"
#include "core/err.h"
#include "core/log.h"
#include "relay/alloc.h"
#include "relay/clock.h"
#include "relay/ports.h"
#include "relay/server.h"
#include "relay/stream.h"
#include "relay/turn.h"
#include "relay/txq.h"
#include "relay/udp.h"
#include "relay/uring.h"

#include <errno.h>
#include <event2/event.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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

void *worker_main(void *arg)
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

/* ---- setup and teardown (called by server.c) ---- */

int worker_start(struct worker *w, struct relay_snap *snap)
{
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
        ul->ev = event_new(w->base, ul->fd, EV_READ | EV_PERSIST, udp_on_readable, ul);
        if (!ul->ev || event_add(ul->ev, NULL) < 0)
            return SE_ERR_NOMEM;
    }
    if (stream_listen(w) < 0)
        return SE_ERR_NOMEM;
    w->mbox_ev = event_new(w->base, -1, 0, mbox_cb, w);
    w->cron_ev = event_new(w->base, -1, EV_PERSIST, cron_cb, w);
    w->flush_ev = event_new(w->base, -1, 0, udp_on_flush, w);
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
    return 0;
}

void worker_release(struct worker *w)
{
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
