/*
 * api_internal.h - what the api/ files share: the server object, the
 * per-request context, reply helpers and the pure request parsers (also
 * driven by tests/fuzz/fuzz_api.c). Private to api/.
 */
#ifndef SE_API_API_INTERNAL_H
#define SE_API_API_INTERNAL_H

#include "api/api.h"
#include "core/addr.h"
#include "core/config.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

struct evhttp;
struct evhttp_request;
struct evconnlistener;
struct api_jwt_keys;
struct auth_throttle;
struct se_ratelimit;
struct api_conn;
struct event;
struct anchor_server;
struct rec_catalog;
struct pol_rec_stats;
typedef struct ssl_ctx_st SSL_CTX;

enum {
    API_PARAM_MAX = 128,     /* one path segment, decoded */
    API_MAX_PARAMS = 2,
    API_USER_MAX = 128,      /* user names minted into REST usernames */
    API_AUDIT_PAGE_MAX = 500,
};

/* Counters for /metrics (control thread only: plain integers). */
struct api_counters {
    uint64_t requests[6];  /* by status class: [2] = 2xx ... [5] = 5xx */
    uint64_t auth_failures, rate_limited, accept_paused, credentials_issued, slow_closed;
    uint64_t reserve_refused; /* non-probe requests on probe-reserve connections */
};

/*
 * One HTTPS listener (listen.c): the public one on api.address and, with
 * api.management, the management one. Each counts its own connections;
 * past max_conns, API_PROBE_RESERVE more are accepted for health checks
 * only, then accepting pauses until one closes.
 */
enum {
    API_PROBE_RESERVE = 8,         /* connections past the limit, for /healthz and /readyz */
    API_PROBE_DEADLINE_MS = 2000,  /* a reserve connection's time to send its request */
    API_BODY_HARD_FACTOR = 4,      /* evhttp's own bound, past api.max_body */
};
struct api_listener {
    struct api_server *api;
    struct evhttp *http;
    struct evconnlistener *lis;
    struct event *sweep_ev;
    bool management;
    unsigned conns, max_conns;
    bool paused;
    struct api_conn *conn_list;
};

struct api_server {
    struct event_base *base;
    struct api_listener pub, mgmt; /* mgmt.http is NULL without api.management */
    SSL_CTX *tls;
    struct api_jwt_keys *jwt;
    struct se_api_config conf; /* copied from the configuration */
    char realm[128];
    char uris[3][320];
    int n_uris;
    struct pol_db *db;
    struct relay_server *relay;
    struct anchor_server *anchor; /* NULL without an anchor block */
    api_change_fn on_change;
    void *change_arg;
    api_policy_fn policy;
    void *policy_arg;
    bool policy_default_allow; /* policy.default, for listings */
    struct se_ratelimit *rl;
    struct auth_throttle *throttle;
    bool closing;
    bool ready;
    char db_problem[640]; /* api_server_set_db_problem(); "" = fine */
    api_stats_fn stats;
    void *stats_arg;
    struct api_counters ctr;
    /* recordings (recordings.c): the catalog (NULL without recording.dir)
     * and cached catalog statistics for /metrics */
    struct rec_catalog *cat;
    struct pol_rec_stats *rec_stats;
    int64_t rec_stats_ms;
};

/* One request while its handler runs. */
struct api_req {
    struct api_server *api;
    struct api_listener *lis;    /* the listener it arrived on */
    struct evhttp_request *req;
    int method;                  /* EVHTTP_REQ_* */
    const char *path;            /* decoded path, no query */
    const char *query;           /* raw query or NULL */
    char params[API_MAX_PARAMS][API_PARAM_MAX];
    struct se_addr peer;
    char actor[128];             /* "api:token-<id>[/name]" once a role token is checked */
    int role;                    /* AUTH_ROLE_* of that token, 0 otherwise */
    int status;                  /* status sent, for counters and the audit row */
};

typedef void (*api_handler_fn)(struct api_req *r);

/* ---- listeners (listen.c) ---- */
/* Bind addr and serve it on api->base with on_request(req, l). 0, or
 * SE_ERR_* with err. Control thread. */
int api_listener_open(struct api_listener *l, struct api_server *api, bool management,
                      const struct se_addr *addr, unsigned max_conns,
                      void (*on_request)(struct evhttp_request *, void *), char *err,
                      size_t errlen);
/* Frees the listener's connections too; l may be one never opened. */
void api_listener_close(struct api_listener *l);
/* api.max_body, api.max_headers, api.timeout onto l (after a reload). */
void api_listener_limits(struct api_listener *l, const struct se_api_config *a);
/* Was the request's connection accepted into the probe reserve? */
bool api_conn_reserved(struct evhttp_request *req);
/* The request was answered: the connection's next one gets api.timeout. */
void api_conn_answered(struct evhttp_request *req);
/* While on, the connection of req is streaming a response and exempt
 * from the request deadline (evhttp's write timeout still applies). */
void api_conn_streaming(struct evhttp_request *req, bool on);
/* Drop the connection of req (a stream that cannot go on). */
void api_conn_abort(struct evhttp_request *req);
int64_t api_now_ms(void);

/* ---- replies (http.c): each sends exactly one response ---- */
/* Send obj (reference stolen) as JSON. */
void api_reply_json(struct api_req *r, int code, json_t *obj);
/* {"error": error, "reason": reason...} */
__attribute__((format(printf, 4, 5))) void api_reply_error(struct api_req *r, int code,
                                                           const char *error, const char *fmt,
                                                           ...);
void api_reply_text(struct api_req *r, int code, const char *ctype, const char *text,
                    size_t len);
/* Send the status line and headers of a streamed body (the caller set
 * Content-Length and the other headers); the body follows with
 * evhttp_send_reply_chunk_with_cb() and evhttp_send_reply_end(). */
void api_reply_start(struct api_req *r, int code);
/* A database call failed: 503 database_busy (locked by another
 * process, Retry-After 1), 503 database_unavailable (deleted, full, I/O
 * error) or 500, each with the database's reason. */
void api_reply_db_error(struct api_req *r);
/* Parse the request body as one JSON object (bounded by api.max_body).
 * On failure a 4xx has been sent and NULL is returned. Caller decrefs. */
json_t *api_body_object(struct api_req *r);
/* The same with another bound (the anchor's descriptions are larger). */
json_t *api_body_object_max(struct api_req *r, size_t max);

/* ---- streamed bodies (stream.c) ----
 * Send x (ownership taken) as the body with status and Content-Length,
 * chunk by chunk as the client reads; when it ends (or the client goes
 * away) write the audit row action/object with detail plus status and
 * the bytes sent, under r's actor. r->status is set. */
struct rec_export;
void api_stream_start(struct api_req *r, int status, struct rec_export *x, const char *action,
                      const char *object, const char *detail);

/* ---- handlers ---- */
void api_h_credentials(struct api_req *r);
/* anchor.c: anchored calls (docs/api.md, "Anchor mode") */
void api_h_anchor_create(struct api_req *r);
void api_h_anchor_answer(struct api_req *r);
void api_h_anchor_offer(struct api_req *r);
void api_h_anchor_candidate(struct api_req *r);
void api_h_anchor_get(struct api_req *r);
void api_h_anchor_delete(struct api_req *r);
/* credentials.c: authenticate the enterprise user of a browser-facing call
 * (Bearer JWT or Basic, as POST /v1/credentials). On false a response
 * has been sent. how: "jwt" or "basic". */
bool api_authenticate_user(struct api_req *r, char *user, size_t ulen, const char **how);
void api_h_metrics(struct api_req *r);
void api_h_healthz(struct api_req *r);
void api_h_readyz(struct api_req *r);
void api_h_users_list(struct api_req *r);
void api_h_users_add(struct api_req *r);
void api_h_users_del(struct api_req *r);
void api_h_users_disable(struct api_req *r);
void api_h_users_enable(struct api_req *r);
void api_h_secrets_list(struct api_req *r);
void api_h_secrets_add(struct api_req *r);
void api_h_secrets_del(struct api_req *r);
void api_h_audit_list(struct api_req *r);
/* Shared by the admin handlers (admin.c): tell the control thread to
 * publish a new snapshot after a write; refuse body fields other than
 * the allowed ones (false = 400 sent). */
void api_changed(struct api_server *api);
bool api_only_fields(struct api_req *r, json_t *body, const char *const *allowed);
/* policy.c */
void api_h_groups_list(struct api_req *r);
void api_h_groups_add(struct api_req *r);
void api_h_groups_del(struct api_req *r);
void api_h_group_member_add(struct api_req *r);
void api_h_group_member_del(struct api_req *r);
void api_h_rules_list(struct api_req *r);
void api_h_rules_add(struct api_req *r);
void api_h_rules_del(struct api_req *r);
void api_h_rules_move(struct api_req *r);
void api_h_policy_test(struct api_req *r);
void api_h_sessions_list(struct api_req *r);
void api_h_sessions_kill(struct api_req *r);
/* recordings.c (docs/recording.md) */
void api_h_rec_list(struct api_req *r);
void api_h_rec_keys(struct api_req *r);
void api_h_rec_show(struct api_req *r);
void api_h_rec_delete(struct api_req *r);
void api_h_rec_audit(struct api_req *r);
void api_h_rec_file(struct api_req *r);
void api_h_rec_export(struct api_req *r);
void api_h_rec_verify(struct api_req *r);
void api_h_rec_hold(struct api_req *r);
void api_h_rec_release(struct api_req *r);
/* console.c: the compliance console's static files */
void api_h_console(struct api_req *r);
/* A valid ?grant= for this file route (and no Authorization header):
 * sets actor and role as a compliance token would. */
bool api_rec_grant_auth(struct api_req *r);


/* ---- policy (credentials.c) ----
 * The media mode for a user, origin and client, decided by the policy
 * the control thread hands over (api_server_set_policy): *mode = "turn",
 * or "anchor" where a rule requires recording (reason then says which
 * rule). Returns 0, or SE_ERR_DENIED with a reason the extension can
 * show (answered 403 "denied_by_policy"). out (may be NULL) gets the
 * deciding decision; its rule_name is borrowed from the policy snapshot
 * and valid only until the control thread publishes another. */
struct pol_decision;
int api_credential_mode(struct api_server *api, const char *user, const char *origin,
                        const struct se_addr *client, const char **mode,
                        struct pol_decision *out, char *reason, size_t reasonlen);

/* ---- pure parsers (parse.c), fuzzed ---- */
/* "Basic base64(user:password)" -> user, password. 0 or SE_ERR_PARSE. */
int api_parse_basic(const char *hdr, char *user, size_t ulen, char *pw, size_t plen);
/* "Bearer TOKEN" -> pointer into hdr and length. 0 or SE_ERR_PARSE. */
int api_parse_bearer(const char *hdr, const char **tok, size_t *len);
/* Is this Content-Type exactly application/json (any case), with only
 * well-formed parameters (RFC 9110 §8.3.1) and no charset but UTF-8?
 * NULL (no header), "application/jsonp", lists and trailing bytes: no. */
bool api_media_type_json(const char *ct);
/* Parse len bytes as a single JSON object; why gets a short reason. */
json_t *api_json_object(const char *body, size_t len, char *why, size_t whylen);
/* Match a route pattern ("/v1/admin/users/ * /disable", '*' = one
 * segment) against a decoded path; fills params. true on a match. */
bool api_path_match(const char *pattern, const char *path, char params[][API_PARAM_MAX]);
/* Is origin allowed by the configured list (exact, or "prefix*")? */
bool api_cors_allowed(const struct se_api_config *c, const char *origin);
/* Is name usable as the user part of a REST username? */
bool api_user_name_ok(const char *name);
/* A JSON string for text that may not be UTF-8 (database rows written by
 * the CLI, client bytes): invalid bytes become '?'. NULL -> JSON null. */
json_t *api_json_str(const char *s);
/* Look up key in a query string; copies the raw value. 0 or SE_ERR_NOTFOUND. */
int api_query_get(const char *query, const char *key, char *out, size_t outlen);
/*
 * A Range header (RFC 9110 §14) against a representation of size bytes:
 * 0 and [*start, *end] (inclusive) for one satisfiable bytes range;
 * SE_ERR_NOTFOUND when it is to be ignored (another unit, several ranges:
 * send the whole); SE_ERR_PARSE for a malformed bytes range and
 * SE_ERR_LIMIT for one that is not satisfiable (both answered 416).
 */
int api_parse_range(const char *hdr, uint64_t size, uint64_t *start, uint64_t *end);

/* Per-source request buckets (core/ratelimit.h): sources tracked at once. */
enum { API_RL_SLOTS = 4096 };

#endif
