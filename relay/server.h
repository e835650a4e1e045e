/*
 * server.h - the state all workers of one relay server share.
 *
 * Shared, so every field is one of: set before the workers start and
 * read-only after (cfg, workers, instance, use_uring, offload); an atomic
 * (relaxed counters and limits); or guarded by lock (reservations and
 * per-user quotas, ports.c: touched only by Allocate and teardown, never
 * per packet); or an object with its own lock (throttle, ip counts, rate
 * tables, the event queue). Everything a single worker owns is in
 * worker.h.
 */
#ifndef SE_RELAY_SERVER_H
#define SE_RELAY_SERVER_H

#include "auth/auth.h"
#include "relay/relay.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

struct se_config;
struct se_queue;
struct se_ratelimit;
struct ip_counts;
struct reservation;
struct user_quota;
struct relay_offload;
struct worker;

struct relay_server {
    const struct se_config *cfg;
    int n_workers;
    struct worker *workers;
    struct auth_nonce_key nonce_key;
    struct auth_throttle *throttle;
    atomic_uint n_allocs;
    atomic_int n_running; /* worker threads not yet finished (drain) */
    atomic_int n_live;    /* allocations in the workers' lists, all workers */
    pthread_mutex_t lock;            /* resv, quotas (ports.c) */
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

#endif
