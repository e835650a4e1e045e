/*
 * api.h - the HTTPS control API (issue #4): credentials for the browser
 * extension, admin endpoints for role tokens, /metrics, /healthz, /readyz.
 *
 * It runs on the control thread's event_base and uses the control
 * thread's database connection; nothing here runs on a relay worker.
 * Documented in docs/api.md and docs/openapi.yaml.
 */
#ifndef SE_API_H
#define SE_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct api_server;
struct event_base;
struct pol_db;
struct relay_server;
struct se_config;

/* Called after the API changed users or secrets, so the control thread
 * publishes a new snapshot (its own writes do not move data_version). */
typedef void (*api_change_fn)(void *arg);

/*
 * Bind the listener described by cfg->api and load its certificate and
 * JWT keys. cfg is read during the call only (settings are copied); db
 * and relay are borrowed and must outlive the server. On failure returns
 * a negative SE_ERR_* with a one-line message in err. Control thread only.
 */
int api_server_new(struct event_base *base, const struct se_config *cfg, struct pol_db *db,
                   struct relay_server *relay, api_change_fn on_change, void *arg,
                   struct api_server **out, char *err, size_t errlen);
/* Load what api_server_new() would (certificate, JWT keys) without
 * binding: for `sedge check-config`. 0 or SE_ERR_CONFIG with err. */
int api_config_check(const struct se_config *cfg, char *err, size_t errlen);
/* SIGHUP: apply everything but the address/port (logged if changed).
 * On failure the old settings stay in force and err says why. */
int api_server_reload(struct api_server *api, const struct se_config *cfg, char *err,
                      size_t errlen);
/*
 * The policy decision for a query, made the way the relay decides
 * (disabled accounts, the peer safety filter when q->peer is set, then
 * the rules): set by the control thread, which owns the current policy
 * snapshot. Used for POST /v1/credentials (no peer: the Allocate view)
 * and /v1/admin/policy/test. Without it every credential gets mode "turn".
 */
struct pol_decision;
struct pol_query;
typedef void (*api_policy_fn)(void *arg, const struct pol_query *q, struct pol_decision *d);
void api_server_set_policy(struct api_server *api, api_policy_fn fn, void *arg);
/*
 * The decision for q over any transport, as a credential or an anchored
 * call is decided: the first transport (UDP, TCP, TLS) that policy allows,
 * else UDP's refusal. q->transport is overwritten.
 */
void api_policy_any(api_policy_fn fn, void *arg, struct pol_query *q, struct pol_decision *out);

/* The anchor (relay/anchor/anchor.h) behind /v1/anchor, and what
 * /v1/credentials may answer mode "anchor" for; NULL (the default): no
 * anchor, /v1/anchor answers 503 and record-always credentials 403. */
struct anchor_server;
void api_server_set_anchor(struct api_server *api, struct anchor_server *anchor);

/* The recordings catalog behind /v1/recordings (borrowed; must outlive
 * the server). Without it those endpoints answer 503 not_configured
 * where they need recording.dir (the list still reads the database). */
struct rec_catalog;
void api_server_set_recordings(struct api_server *api, struct rec_catalog *cat);

/* /readyz answers 200 only while ready (relay started with a snapshot). */
void api_server_set_ready(struct api_server *api, bool ready);
/*
 * What makes the database unusable now (deleted or replaced, writes
 * failing for a while), or NULL/"" once it is fine again; copied. While
 * set, /readyz answers 503 with it as the reason and the gauge
 * sedge_database_ok is 0. (Once the file is deleted or replaced every
 * role-token call also answers 503 "database_unavailable": it could be
 * neither written nor audited.) /healthz and /v1/credentials keep
 * serving from the snapshot in force. Control thread.
 */
void api_server_set_db_problem(struct api_server *api, const char *problem);
/* The control thread's own figures for /metrics: session events waiting
 * for the database, lost on the way (added to the relay queue's drops in
 * sedge_session_events_dropped_total), failed database writes. */
struct api_control_stats {
    uint64_t events_pending, events_dropped, db_write_errors;
};
typedef void (*api_stats_fn)(void *arg, struct api_control_stats *out);
void api_server_set_stats(struct api_server *api, api_stats_fn fn, void *arg);
void api_server_free(struct api_server *api);

#endif
