/*
 * metrics.c - GET /metrics (Prometheus text exposition format 0.0.4),
 * GET /healthz and GET /readyz.
 *
 * Counters come from the relay's per-worker atomics (relaxed reads, so a
 * scrape costs the workers nothing) and the API's own counters; gauges
 * are read at scrape time. On the public listener a metrics, auditor or
 * admin token is needed; on the management listener (api.management)
 * none (http.c decides).
 */
#include "api/api_internal.h"
#include "relay/anchor/anchor.h"
#include "policy/recordings.h"
#include "record/catalog.h"
#include "relay/relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct mbuf {
    char *p;
    size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void put(struct mbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (!b->p)
        return;
    va_start(ap, fmt);
    n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= b->cap - b->len) {
        b->len = b->cap; /* truncated: the handler refuses to send it */
        return;
    }
    b->len += (size_t)n;
}

static void metric(struct mbuf *b, const char *name, const char *type, const char *help)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(struct mbuf *b, const char *name, const char *type, const char *help, uint64_t v)
{
    metric(b, name, type, help);
    put(b, "%s %llu\n", name, (unsigned long long)v);
}

enum { REC_STATS_TTL_MS = 5000 };

/* The catalog's numbers, at most one query every REC_STATS_TTL_MS: a
 * scrape storm must not turn into catalog scans. */
static const struct pol_rec_stats *rec_stats(struct api_server *api)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

    if (!api->rec_stats && !(api->rec_stats = calloc(1, sizeof(*api->rec_stats))))
        return NULL;
    if (api->rec_stats_ms && now - api->rec_stats_ms < REC_STATS_TTL_MS)
        return api->rec_stats;
    if (pol_rec_stats(api->db, api->rec_stats) < 0)
        return api->rec_stats_ms ? api->rec_stats : NULL;
    api->rec_stats_ms = now;
    return api->rec_stats;
}

static void recording_metrics(struct mbuf *b, struct api_server *api)
{
    static const char *const names[] = {"recording", "complete", "incomplete", "failed"};
    const struct pol_rec_stats *s = rec_stats(api);

    if (!s)
        return;
    metric(b, "sedge_recordings", "gauge", "Recordings in the catalog, by status.");
    for (int i = 0; i < 4; i++)
        put(b, "sedge_recordings{status=\"%s\"} %lld\n", names[i], (long long)s->by_status[i]);
    one(b, "sedge_recordings_held", "gauge", "Recordings on legal hold.", (uint64_t)s->held);
    one(b, "sedge_recording_bytes", "gauge", "Bytes of every recording's files on disk.",
        (uint64_t)s->bytes);
    one(b, "sedge_recording_oldest_timestamp_seconds", "gauge",
        "Start of the oldest recording in the catalog (unix seconds; 0 if none).",
        (uint64_t)s->oldest);
    one(b, "sedge_recording_failures_total", "counter",
        "Recordings that failed (write error, disk full), by every process of this database.",
        (uint64_t)s->failures);
    one(b, "sedge_recordings_sealed_total", "counter",
        "Recordings sealed as incomplete after their process died.", (uint64_t)s->sealed);
    one(b, "sedge_recordings_purged_total", "counter",
        "Recordings deleted by retention or on request.", (uint64_t)s->purged);
    if (api->cat)
        one(b, "sedge_recording_catalog_events_dropped_total", "counter",
            "Recorder events lost on a full catalog queue (recovery repairs the rows).",
            rec_catalog_dropped(api->cat));
}

static uint64_t rss_bytes(void)
{
    unsigned long long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (!f)
        return 0;
    if (fscanf(f, "%llu %llu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

void api_h_metrics(struct api_req *r)
{
    struct api_server *api = r->api;
    struct relay_stats st;
    struct mbuf b = {.cap = 16384};
    int nw = relay_server_workers(api->relay);

    b.p = malloc(b.cap);
    relay_server_stats(api->relay, &st);
    one(&b, "sedge_allocations_live", "gauge", "TURN allocations now open.", st.allocs_live);
    one(&b, "sedge_allocations_created_total", "counter", "TURN allocations created.",
        st.allocs_created);
    one(&b, "sedge_allocations_refused_total", "counter",
        "Allocate requests refused (quota, capacity, draining).", st.allocs_refused);
    one(&b, "sedge_reservations_live", "gauge",
        "EVEN-PORT reservations holding a relay port (they count as allocations in every quota).",
        st.reservations_live);
    metric(&b, "sedge_relayed_packets_total", "counter", "Packets relayed, by direction.");
    put(&b, "sedge_relayed_packets_total{direction=\"from_client\"} %llu\n",
        (unsigned long long)st.pkts_from_client);
    put(&b, "sedge_relayed_packets_total{direction=\"to_client\"} %llu\n",
        (unsigned long long)st.pkts_to_client);
    metric(&b, "sedge_relayed_bytes_total", "counter", "Payload bytes relayed, by direction.");
    put(&b, "sedge_relayed_bytes_total{direction=\"from_client\"} %llu\n",
        (unsigned long long)st.bytes_from_client);
    put(&b, "sedge_relayed_bytes_total{direction=\"to_client\"} %llu\n",
        (unsigned long long)st.bytes_to_client);
    one(&b, "sedge_auth_failures_total", "counter", "Failed TURN authentications.",
        st.auth_failures);
    one(&b, "sedge_auth_throttled_total", "counter",
        "TURN requests dropped because their source was throttled.", st.auth_throttled);
    one(&b, "sedge_challenges_limited_total", "counter",
        "Answers larger than their request (401/438, Binding) not sent to unproven sources "
        "(reflection bound).",
        st.challenges_limited);
    one(&b, "sedge_peer_denied_total", "counter",
        "Permissions and channels refused by peer policy.", st.peer_denied);
    metric(&b, "sedge_dropped_total", "counter", "Packets dropped, by reason.");
    put(&b, "sedge_dropped_total{reason=\"no_permission\"} %llu\n",
        (unsigned long long)st.dropped_no_permission);
    put(&b, "sedge_dropped_total{reason=\"bad_input\"} %llu\n",
        (unsigned long long)st.dropped_bad_input);
    put(&b, "sedge_dropped_total{reason=\"backpressure\"} %llu\n",
        (unsigned long long)st.dropped_backpressure);
    put(&b, "sedge_dropped_total{reason=\"rate_limit\"} %llu\n",
        (unsigned long long)st.dropped_rate_limit);
    one(&b, "sedge_policy_denied_total", "counter",
        "Allocations, permissions and channels refused by policy rules.", st.policy_denied);
    one(&b, "sedge_revoked_total", "counter",
        "Live allocations and permissions revoked by a credential or policy change.", st.revoked);
    struct api_control_stats cs = {0};
    if (api->stats)
        api->stats(api->stats_arg, &cs);
    one(&b, "sedge_session_events_dropped_total", "counter",
        "Session events lost (sessions table incomplete): relay queue full, or the database "
        "refused writes until the backlog was full or sedge stopped.",
        st.events_dropped + cs.events_dropped);
    one(&b, "sedge_session_events_pending", "gauge",
        "Session events waiting for the database (it is busy, full or gone).", cs.events_pending);
    one(&b, "sedge_database_write_errors_total", "counter",
        "Failed attempts to write session events (database locked, full, I/O error, gone).",
        cs.db_write_errors);
    one(&b, "sedge_relay_io_uring_workers", "gauge",
        "Workers whose relay sockets use io_uring (relay.io); the others use epoll.",
        st.uring_workers);
    one(&b, "sedge_relay_rx_buffers_exhausted_total", "counter",
        "Relay socket receives that ran out of io_uring buffers and were re-armed (no loss).",
        st.uring_rx_starved);
    one(&b, "sedge_relay_rx_rearmed_total", "counter",
        "Relay socket receives ended by an empty datagram (or a full completion queue) and "
        "re-armed at once (no loss).",
        st.uring_rx_rearmed);
    one(&b, "sedge_stream_connections", "gauge", "TCP/TLS client connections open.",
        st.conns_live);
    one(&b, "sedge_stream_connection_limit", "gauge",
        "TCP/TLS connections allowed now: limits.max_connections, at most half the fd room.",
        st.conn_limit);
    one(&b, "sedge_fd_limit", "gauge", "The process's file descriptor limit (RLIMIT_NOFILE).",
        st.fd_limit);
    metric(&b, "sedge_stream_refused_total", "counter",
           "TCP/TLS connections closed at accept, by the limit reached.");
    put(&b, "sedge_stream_refused_total{limit=\"max_connections\"} %llu\n",
        (unsigned long long)st.conns_refused_total);
    put(&b, "sedge_stream_refused_total{limit=\"max_connections_per_ip\"} %llu\n",
        (unsigned long long)st.conns_refused_source);
    put(&b, "sedge_stream_refused_total{limit=\"tls_handshake_rate_per_ip\"} %llu\n",
        (unsigned long long)st.conns_refused_tls_rate);
    put(&b, "sedge_stream_refused_total{limit=\"proxy_from\"} %llu\n",
        (unsigned long long)st.conns_refused_proxy);
    one(&b, "sedge_allocations_rate_limited_total", "counter",
        "Allocate requests refused (486) over limits.allocate_rate_per_user.",
        st.allocs_rate_limited);
    one(&b, "sedge_stream_accept_paused_total", "counter",
        "Times accept() failed for want of file descriptors and was paused.", st.accept_paused);
    metric(&b, "sedge_stream_closed_total", "counter",
           "TCP/TLS connections closed by a timeout, by reason.");
    put(&b, "sedge_stream_closed_total{reason=\"tls_handshake_timeout\"} %llu\n",
        (unsigned long long)st.conns_closed_handshake);
    put(&b, "sedge_stream_closed_total{reason=\"idle\"} %llu\n",
        (unsigned long long)st.conns_closed_idle);
    put(&b, "sedge_stream_closed_total{reason=\"stalled\"} %llu\n",
        (unsigned long long)st.conns_closed_stalled);
    put(&b, "sedge_stream_closed_total{reason=\"evicted\"} %llu\n",
        (unsigned long long)st.conns_evicted);
    put(&b, "sedge_stream_closed_total{reason=\"proxy_header\"} %llu\n",
        (unsigned long long)st.conns_closed_proxy);
    one(&b, "sedge_relay_offload_enabled", "gauge",
        "1 while the kernel fast path (relay.offload) is loaded.", st.offload_on);
    one(&b, "sedge_relay_offload_flows", "gauge",
        "Channels whose data the kernel forwards now (relay.offload).", st.offload_flows);
    one(&b, "sedge_relay_offload_refused_total", "counter",
        "Channels left on the user-space path (flow table full, no usable route).",
        st.offload_refused);
    metric(&b, "sedge_relay_offload_packets_total", "counter",
           "Packets the kernel fast path forwarded, by direction (also in sedge_relayed_*).");
    put(&b, "sedge_relay_offload_packets_total{direction=\"from_client\"} %llu\n",
        (unsigned long long)st.offload_pkts_from_client);
    put(&b, "sedge_relay_offload_packets_total{direction=\"to_client\"} %llu\n",
        (unsigned long long)st.offload_pkts_to_client);
    metric(&b, "sedge_relay_offload_bytes_total", "counter",
           "Payload bytes the kernel fast path forwarded, by direction.");
    put(&b, "sedge_relay_offload_bytes_total{direction=\"from_client\"} %llu\n",
        (unsigned long long)st.offload_bytes_from_client);
    put(&b, "sedge_relay_offload_bytes_total{direction=\"to_client\"} %llu\n",
        (unsigned long long)st.offload_bytes_to_client);
    one(&b, "sedge_relay_offload_punted_total", "counter",
        "Datagrams of offloaded channels the kernel handed to user space (expired, padded, "
        "oversized, empty).",
        st.offload_punted);
    one(&b, "sedge_relay_offload_errors_total", "counter",
        "Datagrams the kernel fast path dropped because a rewrite failed half way.",
        st.offload_errors);
    metric(&b, "sedge_worker_loop_lag_seconds", "gauge",
           "How late each worker's 1 s housekeeping timer last fired.");
    for (int i = 0; i < nw; i++)
        put(&b, "sedge_worker_loop_lag_seconds{worker=\"%d\"} %.6f\n", i,
            (double)relay_server_worker_lag_us(api->relay, i) / 1e6);
    one(&b, "sedge_process_resident_memory_bytes", "gauge", "Resident set size of sedge.",
        rss_bytes());
    one(&b, "sedge_ready", "gauge", "1 when /readyz answers 200.",
        api->ready && !api->db_problem[0]);
    one(&b, "sedge_database_ok", "gauge",
        "0 while the database is unusable (deleted or replaced, writes failing); see /readyz.",
        !api->db_problem[0]);
    metric(&b, "sedge_api_requests_total", "counter", "API requests answered, by status class.");
    for (int c = 1; c <= 5; c++)
        put(&b, "sedge_api_requests_total{code=\"%dxx\"} %llu\n", c,
            (unsigned long long)api->ctr.requests[c]);
    one(&b, "sedge_api_auth_failures_total", "counter", "API requests answered 401.",
        api->ctr.auth_failures);
    one(&b, "sedge_api_rate_limited_total", "counter", "API requests answered 429 (rate).",
        api->ctr.rate_limited);
    one(&b, "sedge_api_credentials_issued_total", "counter", "TURN credentials minted.",
        api->ctr.credentials_issued);
    one(&b, "sedge_api_connections", "gauge", "Open API connections (both listeners).",
        api->pub.conns + api->mgmt.conns);
    one(&b, "sedge_api_management_connections", "gauge",
        "Open connections on the management listener (api.management).", api->mgmt.conns);
    one(&b, "sedge_api_accept_paused_total", "counter",
        "Times a listener reached its connection limit (past it: health checks only, from a "
        "reserve of 8, then accepting pauses).",
        api->ctr.accept_paused);
    one(&b, "sedge_api_reserve_refused_total", "counter",
        "Requests other than health checks refused (503 busy) on connections past the limit.",
        api->ctr.reserve_refused);
    one(&b, "sedge_api_slow_closed_total", "counter",
        "API connections closed for not sending a complete request within api.timeout.",
        api->ctr.slow_closed);
    recording_metrics(&b, api);
    if (api->anchor) {
        struct anchor_stats as;
        anchor_server_stats(api->anchor, &as);
        one(&b, "sedge_anchor_sessions_live", "gauge", "Anchored calls now open.", as.live);
        one(&b, "sedge_anchor_sessions_created_total", "counter", "Anchored calls created.",
            as.created);
        one(&b, "sedge_anchor_sessions_refused_total", "counter",
            "Anchored calls refused by anchor.max_sessions(_per_user).", as.refused);
        one(&b, "sedge_anchor_sessions_ended_total", "counter", "Anchored calls ended.", as.ended);
        one(&b, "sedge_anchor_packets_forwarded_total", "counter",
            "Packets the anchor sent to parties (media, RTCP, DTLS).", as.pkts_out);
        one(&b, "sedge_anchor_srtp_auth_failures_total", "counter",
            "SRTP/SRTCP packets that failed authentication (dropped).", as.auth_failures);
        one(&b, "sedge_anchor_srtp_replays_total", "counter",
            "SRTP/SRTCP packets replayed or too old (dropped).", as.replays);
        one(&b, "sedge_anchor_dropped_total", "counter",
            "Datagrams the anchor dropped (other leg not ready, unknown kind, SSRC bound).",
            as.dropped);
        one(&b, "sedge_anchor_events_dropped_total", "counter",
            "Anchor session events lost to a full queue.", as.events_dropped);
    }
    if (!b.p || b.len >= b.cap)
        api_reply_error(r, 500, "internal", "metrics buffer");
    else
        api_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len);
    free(b.p);
}

void api_h_healthz(struct api_req *r)
{
    api_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

void api_h_readyz(struct api_req *r)
{
    if (!r->api->ready)
        api_reply_error(r, 503, "not_ready", "the relay is starting or draining");
    else if (r->api->db_problem[0])
        api_reply_error(r, 503, "not_ready", "%s", r->api->db_problem);
    else
        api_reply_json(r, 200, json_pack("{s:s}", "status", "ready"));
}
