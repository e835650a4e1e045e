/*
 * internal.h - what the api/ files share: the server object, the
 * per-request context, reply helpers and the pure request parsers (also
 * driven by tests/fuzz/fuzz_api.c). Private to api/.
 */
#ifndef SE_API_INTERNAL_H
#define SE_API_INTERNAL_H

#include "api/api.h"
#include "core/addr.h"
#include "core/config.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>

struct evhttp;
struct evhttp_request;
struct evconnlistener;
struct api_jwt_keys;
struct auth_throttle;
struct api_ratelimit;
struct api_conn;
struct event;
struct anchor_server;
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
};

struct api_server {
    struct event_base *base;
    struct evhttp *http;
    struct evconnlistener *lis;
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
    struct api_ratelimit *rl;
    struct auth_throttle *throttle;
    unsigned conns; /* live HTTPS connections */
    struct api_conn *conn_list; /* http.c */
    struct event *sweep_ev;
    bool paused;    /* accept paused at api.max_connections */
    bool closing;
    bool ready;
    struct api_counters ctr;
};

/* One request while its handler runs. */
struct api_req {
    struct api_server *api;
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

/* ---- replies (http.c): each sends exactly one response ---- */
/* Send obj (reference stolen) as JSON. */
void api_reply_json(struct api_req *r, int code, json_t *obj);
/* {"error": error, "reason": reason...} */
__attribute__((format(printf, 4, 5))) void api_reply_error(struct api_req *r, int code,
                                                           const char *error, const char *fmt,
                                                           ...);
void api_reply_text(struct api_req *r, int code, const char *ctype, const char *text,
                    size_t len);
/* Parse the request body as one JSON object (bounded by api.max_body).
 * On failure a 4xx has been sent and NULL is returned. Caller decrefs. */
json_t *api_body_object(struct api_req *r);
/* The same with another bound (the anchor's descriptions are larger). */
json_t *api_body_object_max(struct api_req *r, size_t max);

/* ---- handlers ---- */
void api_h_credentials(struct api_req *r);
/* anchor.c: anchored calls (docs/api.md, "Anchor mode") */
void api_h_anchor_create(struct api_req *r);
void api_h_anchor_answer(struct api_req *r);
void api_h_anchor_offer(struct api_req *r);
void api_h_anchor_candidate(struct api_req *r);
void api_h_anchor_get(struct api_req *r);
void api_h_anchor_delete(struct api_req *r);
/* creds.c: authenticate the enterprise user of a browser-facing call
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

/* ---- policy (creds.c) ----
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

/* ---- per-source rate limit (ratelimit.c): token buckets ---- */
struct api_ratelimit *api_ratelimit_new(void);
void api_ratelimit_free(struct api_ratelimit *rl);
/* May ip make one more request at now_ms? rate 0 = unlimited. */
bool api_ratelimit_allow(struct api_ratelimit *rl, const uint8_t ip[16], int64_t now_ms,
                         unsigned rate, unsigned burst);

#endif
