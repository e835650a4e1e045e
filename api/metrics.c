/*
 * metrics.c - GET /metrics (Prometheus text exposition format 0.0.4),
 * GET /healthz and GET /readyz.
 *
 * Counters come from the relay's per-worker atomics (relaxed reads, so a
 * scrape costs the workers nothing) and the API's own counters; gauges
 * are read at scrape time. No token is needed: bind the API to a
 * management address.
 */
#include "api/internal.h"
#include "relay/anchor/anchor.h"
#include "relay/relay.h"

#include <stdio.h>
#include <stdlib.h>
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
        "Oversized 401/438 challenges not sent (reflection bound).", st.challenges_limited);
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
    one(&b, "sedge_session_events_dropped_total", "counter",
        "Session events lost because the control thread was behind (sessions table incomplete).",
        st.events_dropped);
    one(&b, "sedge_relay_io_uring_workers", "gauge",
        "Workers whose relay sockets use io_uring (relay.io); the others use epoll.",
        st.uring_workers);
    one(&b, "sedge_relay_rx_buffers_exhausted_total", "counter",
        "Relay socket receives that ran out of io_uring buffers and were re-armed (no loss).",
        st.uring_rx_starved);
    metric(&b, "sedge_worker_loop_lag_seconds", "gauge",
           "How late each worker's 1 s housekeeping timer last fired.");
    for (int i = 0; i < nw; i++)
        put(&b, "sedge_worker_loop_lag_seconds{worker=\"%d\"} %.6f\n", i,
            (double)relay_server_worker_lag_us(api->relay, i) / 1e6);
    one(&b, "sedge_process_resident_memory_bytes", "gauge", "Resident set size of sedge.",
        rss_bytes());
    one(&b, "sedge_ready", "gauge", "1 when the relay runs with a snapshot.", api->ready);
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
    one(&b, "sedge_api_connections", "gauge", "Open API connections.", api->conns);
    one(&b, "sedge_api_accept_paused_total", "counter",
        "Times api.max_connections paused accepting.", api->ctr.accept_paused);
    one(&b, "sedge_api_slow_closed_total", "counter",
        "API connections closed for not sending a complete request within api.timeout.",
        api->ctr.slow_closed);
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
    if (r->api->ready)
        api_reply_json(r, 200, json_pack("{s:s}", "status", "ready"));
    else
        api_reply_error(r, 503, "not_ready", "the relay is starting or draining");
}
