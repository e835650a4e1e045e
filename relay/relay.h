/*
 * relay.h - the TURN relay: worker threads, transports, allocations.
 *
 * The control thread creates the server (binding every listening socket,
 * so a bad address fails at start with a clear message), publishes a
 * snapshot of credentials and peer policy, starts the workers, and later
 * publishes new snapshots (reload) or asks for a drain (SIGTERM). Workers
 * never call back into the control thread; they read only the snapshot
 * they were handed.
 */
#ifndef SE_RELAY_H
#define SE_RELAY_H

#include <stddef.h>
#include <stdint.h>

struct se_config;
struct auth_creds;
struct pol_peers;
struct pol_rules;
struct relay_server;
typedef struct ssl_ctx_st SSL_CTX;

/*
 * An immutable, reference-counted bundle of what the data path reads.
 * relay_snap_new() takes ownership of creds, peers and rules, and a
 * reference to tls (may be NULL). The creator holds one reference.
 */
struct relay_snap;
struct relay_snap *relay_snap_new(const struct se_config *cfg, struct auth_creds *creds,
                                  struct pol_peers *peers, struct pol_rules *rules, SSL_CTX *tls);
void relay_snap_ref(struct relay_snap *s);
/* The snapshot's compiled policy (borrowed, valid while s is). */
const struct pol_rules *relay_snap_rules(const struct relay_snap *s);
/* The snapshot's peer safety filter (borrowed, valid while s is). */
const struct pol_peers *relay_snap_peers(const struct relay_snap *s);
void relay_snap_unref(struct relay_snap *s);

/* Bind all listeners for cfg (cfg is borrowed and must outlive the server). */
int relay_server_new(const struct se_config *cfg, struct relay_server **out, char *err,
                     size_t errlen);
/* Start workers with an initial snapshot (the server takes its own refs). */
int relay_server_start(struct relay_server *srv, struct relay_snap *snap);
/* Hand every worker a new snapshot; live allocations keep running. */
void relay_server_publish(struct relay_server *srv, struct relay_snap *snap);
/* Apply settings that live outside snapshots (auth throttle limits). */
void relay_server_reconfigure(struct relay_server *srv, const struct se_config *cfg);
/* Stop accepting new allocations; workers exit when their allocations are
 * gone or after timeout_s seconds. Returns at once. */
void relay_server_drain(struct relay_server *srv, unsigned timeout_s);
/* Worker threads still running: 0 once a drain has ended every allocation
 * it waits for (their END events are queued by then). Any thread. */
int relay_server_running(struct relay_server *srv);
/* Wait for all workers to exit (after a drain); idempotent. */
void relay_server_join(struct relay_server *srv);
/* Join, then free everything (events not taken are lost). */
void relay_server_free(struct relay_server *srv);

/*
 * Session events: workers post one START per allocation, an UPDATE with
 * its counters every policy.session_update seconds while it carries
 * traffic, and an END; the control thread takes them and writes the
 * sessions table. Posting never blocks; a full queue drops the event and
 * counts it (relay_stats.events_dropped).
 */
enum relay_event_type { RELAY_EV_START = 1, RELAY_EV_UPDATE = 2, RELAY_EV_END = 3 };
/*
 * One malloc block each, sized to its strings (thousands can be queued at
 * once while allocations start in bulk, so no fixed-size string fields).
 * Every string points into text[] and is never NULL ("" if not set).
 */
struct relay_event {
    int type;
    char sid[40];          /* unique per allocation and process */
    int64_t at;            /* unix seconds */
    const char *user;      /* enterprise user (quota user) */
    const char *username;  /* USERNAME as sent */
    const char *origin;    /* "" if the credential carries none */
    const char *client;    /* "udp:1.2.3.4:5678" */
    const char *transport;
    const char *relay;
    const char *peers;     /* comma-separated permission IPs */
    int64_t rule_id;
    const char *rule_name;
    int record;
    uint64_t bytes_from_client, bytes_to_client, pkts_from_client, pkts_to_client;
    const char *reason;    /* END: why */
    char text[];
};
/*
 * End a live allocation by its session id (relay_event.sid) with reason
 * "killed by admin". Asynchronous: returns 0 once every worker was told
 * (the END event follows), SE_ERR_NOTFOUND for an id of another process
 * or a malformed one, SE_ERR_FULL if kills are arriving faster than
 * workers take them. Control thread.
 */
int relay_server_kill(struct relay_server *srv, const char *sid);
/* Take up to max events (oldest first); caller frees each with free(). */
size_t relay_server_take_events(struct relay_server *srv, struct relay_event **out, size_t max);

/* Counters summed over workers (relaxed reads; for logs and metrics). */
struct relay_stats {
    uint64_t allocs_live, allocs_created, allocs_refused;
    uint64_t reservations_live; /* EVEN-PORT reservations holding a port */
    uint64_t auth_failures, auth_throttled;
    uint64_t pkts_from_client, bytes_from_client, pkts_to_client, bytes_to_client;
    uint64_t dropped_no_permission, dropped_bad_input, dropped_backpressure;
    uint64_t peer_denied, challenges_limited;
    uint64_t policy_denied, revoked, dropped_rate_limit, events_dropped;
    uint64_t uring_workers;    /* workers whose relay sockets use io_uring */
    uint64_t uring_rx_starved; /* relay receives re-armed after the buffers ran out */
    uint64_t uring_rx_rearmed; /* relay receives ended by an empty datagram (or a full
                                * completion queue) and re-armed at once */
    /* TCP/TLS client connections */
    uint64_t conns_live, conn_limit, fd_limit;
    uint64_t conns_refused_total;  /* over limits.max_connections (as in force) */
    uint64_t conns_refused_source; /* over limits.max_connections_per_ip */
    uint64_t accept_paused;        /* accept() failed for want of fds: paused */
    uint64_t conns_closed_handshake, conns_closed_idle, conns_closed_stalled;
    uint64_t conns_evicted; /* idle connections closed to make room at the limit */
    uint64_t conns_refused_tls_rate; /* over limits.tls_handshake_rate_per_ip */
    uint64_t conns_refused_proxy;    /* to a PROXY listener from outside its proxy_from */
    uint64_t conns_closed_proxy;     /* PROXY header bad, missing or late */
    uint64_t allocs_rate_limited;    /* Allocates over limits.allocate_rate_per_user (486) */
    /* relay.offload (relay/offload/): */
    uint64_t offload_on;       /* 1 while the kernel fast path is loaded */
    uint64_t offload_flows;    /* channels the kernel forwards now */
    uint64_t offload_refused;  /* channels left in user space (table full, no route) */
    uint64_t offload_pkts_from_client, offload_bytes_from_client; /* forwarded by the kernel */
    uint64_t offload_pkts_to_client, offload_bytes_to_client;
    uint64_t offload_punted;   /* datagrams of offloaded channels handed to user space */
    uint64_t offload_errors;   /* datagrams dropped half rewritten (a helper failed) */
};
void relay_server_stats(struct relay_server *srv, struct relay_stats *out);
/* Number of workers, and worker i's last event-loop lag in microseconds
 * (how late its 1 s housekeeping timer fired). */
int relay_server_workers(const struct relay_server *srv);
uint64_t relay_server_worker_lag_us(struct relay_server *srv, int i);



/* A server-side TLS context for TURN over TLS (RFC 8656 §3.1 / RFC 7443
 * ALPN "stun.turn"), loading cert (chain) and key. NULL + err on failure.
 * Caller frees with SSL_CTX_free. */
SSL_CTX *relay_tls_ctx_new(const char *cert, const char *key, char *err, size_t errlen);
#endif
