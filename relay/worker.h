/*
 * worker.h - one relay worker thread and what it owns (worker.c).
 *
 * A worker owns its event_base, its listening sockets, every allocation
 * created through them (alloc.h), their relay sockets, its stream
 * connections (stream.h) and its send queues (txq.h). No other thread
 * touches any of it, except the mailbox (under mbox_lock, from the
 * control thread) and the relaxed atomic counters in st (read by
 * relay_server_stats). State shared by all workers is in server.h.
 */
#ifndef SE_RELAY_WORKER_H
#define SE_RELAY_WORKER_H

#include "core/addr.h"
#include "core/config.h"
#include "relay/txq.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct event;
struct event_base;
struct evconnlistener;
struct timeval;
struct allocation;
struct stream_conn;
struct proxy_wait;
struct relay_server;
struct relay_snap;
struct relay_uring;

enum {
    RELAY_UDP_BURST = 64,         /* datagrams read per readiness event */
    RELAY_RX_BATCH = 32,          /* datagrams per recvmmsg on a listener */
    RECENT_REFRESH_SLOTS = 64,    /* remembered Refresh(0)s for retransmits */
    MBOX_KILL_MAX = 64,           /* admin kills pending per worker */
};

/* Per-worker counters: written by the owner only, read relaxed by others. */
struct worker_stats {
    _Atomic uint64_t allocs_created, allocs_refused, allocs_live;
    _Atomic uint64_t auth_failures, auth_throttled;
    _Atomic uint64_t pkts_from_client, bytes_from_client, pkts_to_client, bytes_to_client;
    _Atomic uint64_t dropped_no_permission, dropped_bad_input, dropped_backpressure;
    _Atomic uint64_t peer_denied, challenges_limited;
    _Atomic uint64_t policy_denied, revoked, dropped_rate_limit;
    _Atomic uint64_t loop_lag_us; /* last cron delay past its 1 s period */
    _Atomic uint64_t uring_on, uring_rx_starved, uring_rx_rearmed;
    /* TCP/TLS connections (stream.c) */
    _Atomic uint64_t conns_live, conns_refused_total, conns_refused_source, accept_paused;
    _Atomic uint64_t conns_closed_handshake, conns_closed_idle, conns_closed_stalled;
    _Atomic uint64_t conns_evicted, conns_refused_tls_rate;
    _Atomic uint64_t conns_refused_proxy, conns_closed_proxy; /* PROXY protocol listeners */
    _Atomic uint64_t allocs_rate_limited;
};

struct worker;

/* A UDP listening socket of one worker. */
struct udp_listener {
    struct worker *w;
    int fd;
    int index;            /* position in cfg->listen */
    struct se_addr local;
    struct event *ev;
};

struct recent_refresh {
    uint8_t tid[12];
    struct se_addr client;
    int64_t at;
};

struct worker {
    int id;
    struct relay_server *srv;
    pthread_t thread;
    struct event_base *base;
    struct relay_snap *snap; /* current, one reference held */
    /* mailbox from the control thread */
    pthread_mutex_t mbox_lock;
    struct relay_snap *mbox_snap;
    bool mbox_drain;
    uint64_t mbox_kill[MBOX_KILL_MAX]; /* session numbers an admin ended */
    unsigned n_mbox_kill;
    struct event *mbox_ev;
    struct event *cron_ev;
    int64_t cron_last_us; /* monotonic µs of the previous cron run, 0 before */
    bool draining;
    int64_t drain_deadline;
    int64_t now; /* monotonic seconds, refreshed per callback */
    int64_t next_recheck; /* monotonic: next periodic policy re-check */
    struct udp_listener udp[SE_MAX_LISTEN];
    int n_udp;
    struct evconnlistener *tcp[SE_MAX_LISTEN];
    struct event *resume_ev;  /* re-enables the listeners after an accept pause */
    const struct timeval *stall_tv; /* stream.c: the write timeout, a common timeout */
    unsigned stall_s;
    bool accept_paused;
    struct stream_conn *idle_head, *idle_tail; /* connections without allocation, oldest first */
    unsigned conns_freed;     /* since the last malloc_trim (stream.c) */
    int64_t last_trim;
    int tcp_transport[SE_MAX_LISTEN];
    int tcp_listen[SE_MAX_LISTEN]; /* index in cfg->listen */
    struct proxy_wait *proxy_waits; /* stream.c: PROXY headers still arriving */
    int tcp_fd[SE_MAX_LISTEN];
    int n_tcp;
    /* allocations: all in a list; UDP ones also in the 5-tuple hash */
    struct allocation *allocs;
    struct allocation **htab;
    size_t hsize, hcount;
    uint32_t hseed;   /* hash seed: fixed for the table's life */
    uint32_t rng;     /* xorshift state for indication transaction IDs */
    struct stream_conn *conns;
    struct recent_refresh recent[RECENT_REFRESH_SLOTS];
    unsigned recent_next;
    struct worker_stats st;
    /* batched UDP I/O (udp.c, peer.c; who owns which buffer: txq.h):
     * listener receive slots, the queue of ChannelData to clients
     * (flushed by flush_ev at the end of a loop pass) and the queue to
     * peers (flushed at the end of a receive batch; to_peer_batching
     * says it may be used) */
    uint8_t *rx_slots;       /* RELAY_RX_BATCH x RELAY_BUF_SIZE */
    uint8_t *tx_slots;       /* RELAY_TXQ_MAX x RELAY_BUF_SIZE */
    struct relay_txq to_client, to_peer;
    struct event *flush_ev;
    bool to_peer_batching;
    bool gso;                /* the kernel takes UDP_SEGMENT */
    struct relay_uring *ur;  /* relay sockets over io_uring (uring.c); NULL: epoll */
    uint8_t rxbuf[RELAY_BUF_SIZE];
    uint8_t txbuf[RELAY_BUF_SIZE];
};

/* Give w its loop, events, slots and first snapshot (a reference of its
 * own): 0, or SE_ERR_NOMEM / SE_ERR_CRYPTO. Control thread, before the
 * worker's thread runs (server.c). */
int worker_start(struct worker *w, struct relay_snap *snap);
/* The worker thread's body (pthread_create's start routine, arg = w). */
void *worker_main(void *arg);
/* Close w's sockets and free what worker_start set up; its thread is
 * joined (or never ran). */
void worker_release(struct worker *w);

#endif
