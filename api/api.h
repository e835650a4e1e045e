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

/* The anchor (relay/anchor/anchor.h) behind /v1/anchor, and what
 * /v1/credentials may answer mode "anchor" for; NULL (the default): no
 * anchor, /v1/anchor answers 503 and record-always credentials 403. */
struct anchor_server;
void api_server_set_anchor(struct api_server *api, struct anchor_server *anchor);

/* /readyz answers 200 only while ready (relay started with a snapshot). */
void api_server_set_ready(struct api_server *api, bool ready);
void api_server_free(struct api_server *api);

#endif
