/*
 * internal.h - structures shared by the relay's own files (worker.c,
 * alloc.c, turn.c, snap.c). Not a public header: nothing outside relay/
 * includes it.
 *
 * Ownership: a worker owns its allocations, its stream connections and
 * their sockets; nothing here is touched by another thread except the
 * worker's mailbox (under mbox_lock) and the server-wide atomics.
 */
#ifndef SE_RELAY_INTERNAL_H
#define SE_RELAY_INTERNAL_H

#include "auth/auth.h"
#include "core/addr.h"
#include "core/config.h"
#include "relay/relay.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct event;
struct event_base;
struct pol_decision;
struct pol_rules;
struct se_queue;
struct bufferevent;
struct evconnlistener;
struct stun_msg;
struct proxy_wait;
struct ofl_alloc;
struct relay_offload;

enum {
    RELAY_BUF_SIZE = 65536 + 64,  /* largest UDP datagram plus framing */
    RELAY_UDP_BURST = 64,         /* datagrams read per readiness event */
    PERMISSION_LIFETIME = 300,    /* RFC 8656 §9 */
    CHANNEL_LIFETIME = 600,       /* RFC 8656 §12 */
    RESERVATION_LIFETIME = 30,    /* RFC 8656 §7.2: "about 30 seconds" */
    RECENT_REFRESH_SLOTS = 64,    /* remembered Refresh(0)s for retransmits */
    EVENT_QUEUE_LEN = 8192,       /* session events waiting for the control thread */
    MBOX_KILL_MAX = 64,           /* admin kills pending per worker */
    RELAY_RX_BATCH = 32,          /* datagrams per recvmmsg on a listener */
    RELAY_TXQ_MAX = 64,           /* queued datagrams per sendmmsg (both ways) */
    RELAY_DATA_HEADROOM = 64,     /* room to prepend a ChannelData header */
    RELAY_GSO_SEGS = 64,          /* datagrams per UDP GSO message (kernel: <= 64) */
    RELAY_GSO_BYTES = 65000,      /* bytes per UDP GSO message (IP datagram limit) */
    RATE_TABLE_SLOTS = 16384,     /* users / sources whose Allocate / TLS rate is tracked */
};

/*
 * Batched UDP I/O (see worker.c's head comment). A send queue holds
 * datagrams until one sendmmsg per run of equal sockets sends them.
 * Buffers: entry i < n is queued with its bytes in buf[i]; the buffers of
 * entries n..RELAY_TXQ_MAX-1 are free, so a recvmmsg can read straight
 * into them and a datagram is queued by swapping buffer pointers (no
 * copy). The queue to peers leaves buf unused: its entries point into the
 * listener's receive slots, and it is sent before those are reused.
 */
union relay_sockaddr {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
};

struct relay_txq {
    int n;
    int fd[RELAY_TXQ_MAX];
    struct mmsghdr msg[RELAY_TXQ_MAX];
    struct iovec iov[RELAY_TXQ_MAX];
    union relay_sockaddr to[RELAY_TXQ_MAX];
    uint8_t *buf[RELAY_TXQ_MAX];
    int bid[RELAY_TXQ_MAX]; /* io_uring: the receive buffer to give back after sending, or -1 */
};

struct relay_snap {
    atomic_int refs;
    struct auth_creds *creds;
    struct pol_peers *peers;
    struct pol_rules *rules;
    SSL_CTX *tls;
    char realm[128];
    char software[64];
    bool features;
    unsigned nonce_lifetime;
    unsigned max_allocations, max_allocations_per_user, max_allocations_per_ip;
    unsigned max_permissions, max_channels;
    unsigned default_lifetime, max_lifetime;
    unsigned stream_out_max;
    unsigned max_connections, max_connections_per_ip; /* TCP/TLS (stream.c) */
    unsigned tls_handshake_timeout, stream_idle_timeout, stream_stall_timeout;
    unsigned allocate_rate_per_user, allocate_burst_per_user;
    unsigned tls_handshake_rate_per_ip, tls_handshake_burst_per_ip;
    unsigned policy_recheck, session_update;
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
struct allocation;

/* A UDP listening socket of one worker. */
struct udp_listener {
    struct worker *w;
    int fd;
    int index;            /* position in cfg->listen */
    struct se_addr local;
    struct event *ev;
};

/* A TCP or TLS client connection (stream.c). */
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

/* Where a client is: what responses and relayed data go back through. */
struct client_ref {
    struct udp_listener *udp;  /* UDP: the socket it wrote to */
    struct stream_conn *conn;  /* TCP/TLS */
    struct se_addr addr;       /* client's address */
    int transport;             /* enum se_transport */
};

struct permission {
    uint8_t ip[16];
    int64_t expires; /* monotonic seconds */
};

struct channel {
    uint16_t number;
    struct se_addr peer;
    int64_t expires;
};

/* A token bucket (bytes) for a policy bandwidth cap; rate 0 = unlimited. */
struct rate_limit {
    uint32_t bytes_per_s;
    uint32_t burst;
    int64_t tokens;
    int64_t last_ns;
};

struct relay_sock {
    struct allocation *alloc;
    struct event *ev;  /* epoll path; NULL with io_uring */
    int fd;
    uint32_t ur_slot;  /* io_uring path (uring.c) */
    struct se_addr addr;
    bool ur_armed;
};

struct allocation {
    /* Ordered by size, so the compiler adds no padding: an idle
     * allocation's memory is a benchmark target (docs/benchmark.md). */
    struct worker *w;
    struct allocation *hnext;       /* UDP 5-tuple hash chain */
    struct allocation *prev, *next; /* worker's list */
    struct client_ref client;
    struct relay_sock relay[2]; /* IPv4 and/or IPv6 (RFC 8656 §7.2 dual) */
    char *user;         /* the USERNAME as sent (REST: "expiry:user[:origin]") */
    char *quota_user;   /* the user the per-user quota counts against */
    char *origin;       /* a REST credential's origin (decoded), or NULL */
    struct permission *perms;
    struct channel *chans;
    struct ofl_alloc *offload; /* channels the kernel forwards (relay/offload/), or NULL */
    int64_t expires, started; /* monotonic */
    int64_t started_wall;
    int64_t deadline;      /* monotonic end of a max-duration limit; 0 = none */
    int64_t next_update;   /* monotonic time of the next session UPDATE */
    uint64_t pkts_from_client, bytes_from_client, pkts_to_client, bytes_to_client;
    uint64_t reported_pkts;
    uint64_t seen_pkts;    /* packets both ways at the last cron */
    int64_t active_at;     /* monotonic: the last cron that saw packets move */
    uint64_t sid;          /* session id (relay_event.sid) */
    int64_t rule_id;       /* the rule that allowed it; 0 = default action */
    struct rate_limit rl_out, rl_in; /* client->peer, peer->client */
    uint32_t granted_lifetime;
    uint16_t user_len;     /* STUN attributes are < 64 KiB */
    uint16_t n_perms, cap_perms;
    uint16_t n_chans, cap_chans;
    uint8_t key[AUTH_SHA256_KEY_LEN];
    uint8_t keylen;
    uint8_t tid[12];       /* the Allocate that created it, for retransmits */
    int8_t record;         /* enum pol_record */
    uint8_t n_relay;
    bool peers_changed;
    char text[]; /* user, quota_user and origin point here */
};

struct recent_refresh {
    uint8_t tid[12];
    struct se_addr client;
    int64_t at;
};

struct relay_server;

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
    /* batched UDP I/O (worker.c): listener receive slots, the queue of
     * ChannelData to clients (flushed by flush_ev at the end of a loop
     * pass) and the queue to peers (flushed at the end of a receive
     * batch; to_peer_batching says it may be used) */
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

/* A port held for a later Allocate with RESERVATION-TOKEN (RFC 8656
 * §7.2). It counts as an allocation of its user and its client's source
 * until it is redeemed or expires. */
struct reservation {
    uint8_t token[8];
    int fd;
    struct se_addr addr;
    int64_t expires;
    uint8_t source[16];    /* relay_source_key of the client that made it */
    struct reservation *next;
    char quota_user[];     /* the user it counts against */
};

struct user_quota {
    char *name;
    unsigned count;
    struct user_quota *next;
};

struct relay_server {
    const struct se_config *cfg;
    int n_workers;
    struct worker *workers;
    struct auth_nonce_key nonce_key;
    struct auth_throttle *throttle;
    atomic_uint n_allocs;
    atomic_int n_running; /* worker threads not yet finished (drain) */
    atomic_int n_live;    /* allocations in the workers' lists, all workers */
    /* Reservations and per-user quotas are touched only by Allocate and
     * allocation teardown (never per packet), so a mutex is fine. */
    pthread_mutex_t lock;
    struct reservation *resv;
    atomic_uint n_resv;
    struct user_quota *quotas;
    struct ip_counts *alloc_sources; /* allocations + reservations per source */
    struct ip_counts *conn_sources;  /* TCP/TLS connections per source */
    struct se_ratelimit *alloc_rate; /* Allocates per user (limits.allocate_rate_per_user) */
    struct se_ratelimit *tls_rate;   /* TLS handshakes per source */
    atomic_uint n_conns;             /* TCP/TLS connections, all workers */
    atomic_uint conn_cap;            /* effective limit (stream_limits_update) */
    atomic_uint fd_limit;            /* RLIMIT_NOFILE, as last read */
    struct se_queue *events;   /* session events to the control thread */
    char instance[12];         /* random per process: session ids stay unique */
    atomic_ullong next_sid;
    bool use_uring;            /* relay.io resolved at start (uring.c's probe) */
    struct relay_offload *offload; /* relay.offload: the kernel fast path, or NULL */
};

/* ---- ipcount.c: live objects per client source (mutex inside) ---- */
struct ip_counts;
struct ip_counts *ipc_new(void);
void ipc_free(struct ip_counts *t);
/* Count n more for the source key if the total stays within max (0 = no
 * limit): 0, SE_ERR_LIMIT or SE_ERR_NOMEM (then nothing is counted). */
int ipc_take(struct ip_counts *t, const uint8_t key[16], unsigned max, unsigned n);
void ipc_release(struct ip_counts *t, const uint8_t key[16], unsigned n);
unsigned ipc_get(struct ip_counts *t, const uint8_t key[16]);

/* The unit that per-source limits and throttles count: an IPv4 address,
 * or an IPv6 /64 (one subscriber, RFC 6177), as 16 bytes. */
static inline void relay_source_key(const struct se_addr *a, uint8_t out[16])
{
    memcpy(out, a->ip, 16);
    if (a->family == AF_INET6)
        memset(out + 8, 0, 8);
}

/* ---- stream.c: TCP/TLS client connections ---- */
/* Create the worker's listeners (and its accept-pause timer). */
int stream_listen(struct worker *w);
void stream_stop_listening(struct worker *w);
/* Once a second per worker: handshake and idle timeouts; worker 0 also
 * recomputes the connection limits from the fd limit. */
void stream_cron(struct worker *w);
/* The connection limits from snap and the current fd limit (any thread
 * before the workers run; then worker 0). */
void stream_limits_update(struct relay_server *srv, const struct relay_snap *snap);
unsigned stream_per_source_cap(struct relay_server *srv, const struct relay_snap *snap);
void stream_conn_free(struct stream_conn *sc, const char *reason);
/* Its allocation ended (alloc_free): idle from now on. */
void stream_conn_idle(struct stream_conn *sc);
/* It got allocation a (alloc_create): no longer idle. */
void stream_conn_busy(struct stream_conn *sc, struct allocation *a);
void stream_close_all(struct worker *w);

/* ---- worker.c ---- */
/* Send to a client (response or relayed data). channel_data pads the
 * frame to 4 bytes on stream transports (RFC 8656 §12.5). */
int relay_send_client(struct worker *w, const struct client_ref *c, const uint8_t *buf,
                      size_t len, bool channel_data);
/* ---- txq.c ---- */
/* The send queues. relay_txq_send sends everything queued and
 * counts what the kernel refused as backpressure drops. */
void relay_txq_send(struct worker *w, struct relay_txq *q);
/* Queue the ChannelData frame for UDP client c; sent at the end of this
 * event-loop pass. Epoll path (bid < 0): frame lies in to_client.buf[n],
 * a free buffer the caller filled. io_uring path: frame lies in receive
 * buffer bid, given back to the kernel once sent. */
void relay_queue_client(struct worker *w, const struct client_ref *c, uint8_t *frame, size_t len,
                        int bid);
/* Append one datagram to q (the caller checked q->n < RELAY_TXQ_MAX). */
void relay_txq_add(struct relay_txq *q, int fd, const struct se_addr *to, uint8_t *data,
                   size_t len);
/* A message of count datagrams failed as a whole (a GSO message refused
 * for its size, or a pending ICMP error): send its datagrams one by one.
 * A single datagram is not retried. Returns how many were lost. */
uint64_t relay_send_each(int fd, const struct msghdr *m, int count);
/* Does this kernel take UDP_SEGMENT (Linux >= 4.18)? Probed once per worker. */
bool relay_gso_supported(void);

int64_t relay_now_wall(void);

/* ---- uring.c ---- */
struct relay_uring;
/* Can this kernel run the io_uring data path? 0, or -errno and why. */
int relay_uring_probe(char *err, size_t errlen);
/* Set up w->ur (worker thread, before its loop runs). */
int relay_uring_init(struct worker *w, char *err, size_t errlen);
void relay_uring_free(struct worker *w);
/* Start receiving on a new relay socket / stop before it is closed. */
int relay_uring_add(struct worker *w, struct relay_sock *rs);
void relay_uring_del(struct worker *w, struct relay_sock *rs);
/* Once a second: retry receives that ended with an error. */
void relay_uring_cron(struct worker *w);
/* Give receive buffers back (entries < 0 are skipped). */
void relay_uring_recycle(struct worker *w, const int *bid, int n);
/* Is the send ring usable? */
bool relay_uring_can_send(const struct worker *w);
/* Send n messages (message g on fd[g], count[g] datagrams) with one
 * submit; every send is complete on return. Returns datagrams lost. */
uint64_t relay_uring_send(struct worker *w, struct msghdr *const *msg, const int *fd,
                          const int *count, int n);

/* ---- alloc.c ---- */
/* A datagram from a peer on one of a's relay sockets. Epoll path: it lies
 * in to_client.buf[slot] behind RELAY_DATA_HEADROOM (bid = -1); io_uring
 * path: in receive buffer bid with at least 4 bytes free before payload.
 * Returns true if it was queued toward the client (the queue owns the
 * buffer now). */
bool relay_from_peer(struct worker *w, struct allocation *a, uint8_t *payload, size_t n,
                     const struct sockaddr *from, int slot, int bid);
struct allocation *alloc_find_udp(struct worker *w, const struct udp_listener *ul,
                                  const struct se_addr *client);
/* Create an allocation; on failure returns NULL and *stun_err is the STUN
 * error code to answer with. */
struct alloc_request {
    int family;           /* AF_INET or AF_INET6 */
    bool dual;            /* also allocate IPv6 (ADDITIONAL-ADDRESS-FAMILY) */
    bool even_port, reserve_next;
    const uint8_t *token; /* RESERVATION-TOKEN or NULL */
    bool dont_fragment;
    uint32_t lifetime;
    const char *origin;   /* decoded REST origin or NULL */
    const struct pol_decision *policy; /* the Allocate decision (allowed) */
};
struct allocation *alloc_create(struct worker *w, const struct client_ref *c,
                                const struct alloc_request *req, const char *user,
                                size_t user_len, const char *quota_user, const uint8_t *key,
                                size_t keylen, const uint8_t tid[12], uint8_t out_token[8],
                                bool *made_token, int *dual_err, int *stun_err);
void alloc_free(struct allocation *a, const char *reason);
struct permission *alloc_perm_find(struct allocation *a, const uint8_t ip[16]);
/* All or nothing (RFC 8656 §9.2, §11.2): reserve room for the
 * permissions of ips[0..n) (duplicates and existing ones count once;
 * expired slots are reused) and for a channel number, checking the
 * limits; after both succeed, the installs below cannot fail.
 * 0, SE_ERR_LIMIT or SE_ERR_NOMEM; nothing is installed either way. */
int alloc_perms_reserve(struct allocation *a, const uint8_t (*ips)[16], int n);
int alloc_chan_reserve(struct allocation *a, uint16_t number);
void alloc_perms_install(struct allocation *a, const uint8_t (*ips)[16], int n);
int alloc_perm_install(struct allocation *a, const uint8_t ip[16]);
struct channel *alloc_chan_by_number(struct allocation *a, uint16_t number);
struct channel *alloc_chan_by_peer(struct allocation *a, const struct se_addr *peer);
int alloc_chan_install(struct allocation *a, uint16_t number, const struct se_addr *peer);
struct relay_sock *alloc_relay_for(struct allocation *a, int family);
/* Send data from the client to a peer through the relay socket. */
void alloc_send_to_peer(struct allocation *a, const struct se_addr *peer, const uint8_t *data,
                        size_t len);
/* Housekeeping: expire allocations, permissions, channels. */
void alloc_cron(struct worker *w);
/* Draining: end the allocations that moved no packet for idle_s seconds
 * (they would hold the exit for nothing). 0 = keep them. */
void alloc_drain_idle(struct worker *w, unsigned idle_s);
/* ---- policy.c ---- */
/* Apply the Allocate decision to a new allocation and post its START. */
void alloc_policy_start(struct allocation *a, const struct alloc_request *req);
/* Post the END event (from alloc_free). */
void alloc_policy_end(struct allocation *a, const char *reason);
/* Comma-separated permission IPs of a, truncated to len. */
void alloc_peers_str(const struct allocation *a, char *buf, size_t len);
/* Per-second housekeeping for one allocation: session UPDATE events. */
void alloc_policy_cron(struct allocation *a);
/* Re-check every allocation of w against its current snapshot: revoked
 * credentials (with check_creds: after a snapshot swap), disabled users
 * and denied rules end it ("revoked"); newly denied peers lose their
 * permissions and channels; limits follow the rule that now decides. */
void alloc_recheck_all(struct worker *w, bool check_creds);
/* Evaluate the rules for a peer of a (CreatePermission/ChannelBind). */
bool alloc_peer_policy_ok(struct allocation *a, const struct se_addr *peer);
/* Fail closed for recording: where the allocation's rule (or the peer's)
 * says `record always`, only the anchor's addresses (with_port: and its
 * port range) may be reached. log: count and log a refusal. */
bool alloc_record_peer_ok(struct allocation *a, const struct se_addr *peer, bool with_port,
                          bool log);
/* Consume len bytes from a bucket; false = over the cap, drop. */
bool relay_rate_take(struct rate_limit *r, size_t len);
static inline bool relay_rate_ok(struct rate_limit *r, size_t len)
{
    return r->bytes_per_s == 0 || relay_rate_take(r, len);
}

/* ---- ports.c: relay ports, reservations, holdings ---- */
/* Bind a random relay port on ip (even: an even one); with reserve_next
 * also port+1 into *fd2. 0, or SE_ERR_LIMIT when none could be bound. */
int relay_port_bind(struct relay_server *srv, const struct se_addr *ip, bool even,
                    bool reserve_next, int *fd, uint16_t *port, int *fd2);
/* Take n places for an allocation or reservation of user (quota per_user)
 * from source: 0, or the STUN error to answer (508 total, 486 user or
 * source). holdings_release gives n back. */
int holdings_take(struct worker *w, const char *user, unsigned per_user, const uint8_t source[16],
                  unsigned n);
void holdings_release(struct relay_server *srv, const char *user, const uint8_t source[16],
                      unsigned n);
/* Redeem a RESERVATION-TOKEN: its fd (the caller owns it now) and address;
 * its holdings are given back. SE_ERR_NOTFOUND if unknown or expired. */
int reservation_take(struct relay_server *srv, const uint8_t token[8], int *fd,
                     struct se_addr *addr);
/* Keep fd as a reservation for 30 s; it takes over one place the caller
 * took with holdings_take for user and source. Writes its token. */
int reservation_add(struct relay_server *srv, int fd, const struct se_addr *addr, int64_t now,
                    const char *user, const uint8_t source[16], uint8_t token[8]);
void alloc_expire_reservations(struct relay_server *srv, int64_t now);

/* ---- turn.c ---- */
/* A STUN message from a client; a is its allocation (5-tuple) or NULL. */
void turn_on_stun(struct worker *w, const struct client_ref *c, struct allocation *a,
                  const uint8_t *buf, size_t len);
/* Once a second, worker 0: report ended throttle blocks, flush the
 * counts of suppressed log lines. */
void turn_cron(struct worker *w);
/* A ChannelData message from a client (whole frame, padding stripped). */
void turn_on_channel_data(struct worker *w, struct allocation *a, const uint8_t *buf, size_t len);


#include <time.h>
/* Monotonic seconds (coarse clock: cheap, and seconds are all we need). */
static inline int64_t relay_now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return ts.tv_sec;
}

/* Monotonic milliseconds, for token buckets at request rate. */
static inline int64_t relay_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
