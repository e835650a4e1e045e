/*
 * http.c - the API's request handling: routing, replies, role tokens,
 * CORS, audit, and the server object (listeners are in listen.c).
 *
 * Every request goes through on_request(): which routes the listener it
 * arrived on serves (with api.management the admin endpoints, the
 * recordings endpoints, the compliance console and /metrics live on the
 * management listener only, /v1/credentials on the public one),
 * per-source rate limit, route lookup in one table (404 unknown path,
 * 405 + Allow for a known path with another method), the probe reserve
 * (a connection accepted past the listener's limit gets /healthz and
 * /readyz only), CORS for browser-facing routes, role-token
 * authentication and authorisation (/metrics needs a metrics, auditor or
 * admin token on the public listener, none on the management one; a
 * recording's file also takes a grant URL), then the handler, then one
 * audit row for every token-authenticated call but scrapes and the
 * recordings calls, whose handlers write their own (with the bytes
 * served). Every reply this file or a handler sends is JSON (except
 * /metrics); the only non-JSON errors are the ones evhttp sends itself
 * before a request exists (headers past api.max_headers, bodies past
 * 4 x api.max_body, unparseable request lines).
 */
#include "api/api_internal.h"
#include "core/ratelimit.h"
#include "api/jwt.h"
#include "auth/auth.h"
#include "core/err.h"
#include "core/log.h"
#include "policy/db.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define M_GET EVHTTP_REQ_GET
#define M_POST EVHTTP_REQ_POST
#define M_DELETE EVHTTP_REQ_DELETE
#define M_PUT EVHTTP_REQ_PUT
#define R_ADMIN AUTH_ROLE_ADMIN
#define R_AUDIT (AUTH_ROLE_ADMIN | AUTH_ROLE_AUDITOR)
#define R_COMPL AUTH_ROLE_COMPLIANCE
#define R_REC_READ (AUTH_ROLE_ADMIN | AUTH_ROLE_COMPLIANCE | AUTH_ROLE_AUDITOR)
#define R_REC_CHECK (AUTH_ROLE_ADMIN | AUTH_ROLE_COMPLIANCE)
#define R_METRICS (AUTH_ROLE_ADMIN | AUTH_ROLE_AUDITOR | AUTH_ROLE_METRICS)

enum route_flags {
    RF_UNLIMITED = 1,  /* not rate-limited (probes, scrapes) */
    RF_CORS = 2,       /* called by browsers: CORS and preflight */
    RF_PROBE = 4,      /* a health check: served on reserve connections too */
    RF_MGMT = 8,       /* on the management listener only, when there is one */
    RF_PUBLIC = 16,    /* on the public listener only */
    RF_SCRAPE = 32,    /* /metrics: no token on the management listener, no audit row */
    RF_OWN_AUDIT = 64, /* the handler writes its own audit rows (recordings.c) */
    RF_GRANT = 128,    /* a file grant (?grant=) stands in for the role token */
};

struct route {
    const char *pattern;
    int method;
    int roles; /* role tokens allowed; 0 = no role token */
    unsigned flags;
    api_handler_fn fn;
};

static const struct route routes[] = {
    {"/healthz", M_GET, 0, RF_UNLIMITED | RF_PROBE, api_h_healthz},
    {"/readyz", M_GET, 0, RF_UNLIMITED | RF_PROBE, api_h_readyz},
    {"/metrics", M_GET, R_METRICS, RF_UNLIMITED | RF_MGMT | RF_SCRAPE, api_h_metrics},
    {"/v1/credentials", M_POST, 0, RF_CORS | RF_PUBLIC, api_h_credentials},
    {"/v1/anchor", M_POST, 0, RF_CORS | RF_PUBLIC, api_h_anchor_create},
    {"/v1/anchor/*", M_GET, 0, RF_CORS | RF_PUBLIC, api_h_anchor_get},
    {"/v1/anchor/*", M_DELETE, 0, RF_CORS | RF_PUBLIC, api_h_anchor_delete},
    {"/v1/anchor/*/answer", M_POST, 0, RF_CORS | RF_PUBLIC, api_h_anchor_answer},
    {"/v1/anchor/*/offer", M_POST, 0, RF_CORS | RF_PUBLIC, api_h_anchor_offer},
    {"/v1/anchor/*/candidate", M_POST, 0, RF_CORS | RF_PUBLIC, api_h_anchor_candidate},
    {"/v1/admin/users", M_GET, R_ADMIN, RF_MGMT, api_h_users_list},
    {"/v1/admin/users", M_POST, R_ADMIN, RF_MGMT, api_h_users_add},
    {"/v1/admin/users/*", M_DELETE, R_ADMIN, RF_MGMT, api_h_users_del},
    {"/v1/admin/users/*/disable", M_POST, R_ADMIN, RF_MGMT, api_h_users_disable},
    {"/v1/admin/users/*/enable", M_POST, R_ADMIN, RF_MGMT, api_h_users_enable},
    {"/v1/admin/secrets", M_GET, R_ADMIN, RF_MGMT, api_h_secrets_list},
    {"/v1/admin/secrets", M_POST, R_ADMIN, RF_MGMT, api_h_secrets_add},
    {"/v1/admin/secrets/*", M_DELETE, R_ADMIN, RF_MGMT, api_h_secrets_del},
    {"/v1/admin/audit", M_GET, R_AUDIT, RF_MGMT, api_h_audit_list},
    {"/v1/admin/groups", M_GET, R_AUDIT, RF_MGMT, api_h_groups_list},
    {"/v1/admin/groups", M_POST, R_ADMIN, RF_MGMT, api_h_groups_add},
    {"/v1/admin/groups/*", M_DELETE, R_ADMIN, RF_MGMT, api_h_groups_del},
    {"/v1/admin/groups/*/members", M_POST, R_ADMIN, RF_MGMT, api_h_group_member_add},
    {"/v1/admin/groups/*/members/*", M_DELETE, R_ADMIN, RF_MGMT, api_h_group_member_del},
    {"/v1/admin/rules", M_GET, R_AUDIT, RF_MGMT, api_h_rules_list},
    {"/v1/admin/rules", M_POST, R_ADMIN, RF_MGMT, api_h_rules_add},
    {"/v1/admin/rules/*", M_DELETE, R_ADMIN, RF_MGMT, api_h_rules_del},
    {"/v1/admin/rules/*/move", M_POST, R_ADMIN, RF_MGMT, api_h_rules_move},
    {"/v1/admin/policy/test", M_POST, R_AUDIT, RF_MGMT, api_h_policy_test},
    {"/v1/admin/sessions", M_GET, R_AUDIT, RF_MGMT, api_h_sessions_list},
    {"/v1/admin/sessions/*", M_DELETE, R_ADMIN, RF_MGMT, api_h_sessions_kill},
    /* recordings (recordings.c, docs/recording.md): every call audited by
     * the handler with the recording id and the bytes served. Like the
     * admin endpoints they live on the management listener when there
     * is one, and so does the console that calls them. */
    {"/v1/recordings", M_GET, R_REC_READ, RF_MGMT | RF_OWN_AUDIT, api_h_rec_list},
    {"/v1/recordings/keys", M_GET, R_REC_READ, RF_MGMT | RF_OWN_AUDIT, api_h_rec_keys},
    {"/v1/recordings/*", M_GET, R_REC_READ, RF_MGMT | RF_OWN_AUDIT, api_h_rec_show},
    {"/v1/recordings/*", M_DELETE, R_REC_CHECK, RF_MGMT | RF_OWN_AUDIT, api_h_rec_delete},
    {"/v1/recordings/*/audit", M_GET, R_REC_READ, RF_MGMT | RF_OWN_AUDIT, api_h_rec_audit},
    {"/v1/recordings/*/files/*", M_GET, R_COMPL, RF_MGMT | RF_OWN_AUDIT | RF_GRANT, api_h_rec_file},
    {"/v1/recordings/*/export", M_GET, R_COMPL, RF_MGMT | RF_OWN_AUDIT, api_h_rec_export},
    {"/v1/recordings/*/verify", M_POST, R_REC_CHECK, RF_MGMT | RF_OWN_AUDIT, api_h_rec_verify},
    {"/v1/recordings/*/hold", M_PUT, R_COMPL, RF_MGMT | RF_OWN_AUDIT, api_h_rec_hold},
    {"/v1/recordings/*/hold", M_DELETE, R_COMPL, RF_MGMT | RF_OWN_AUDIT, api_h_rec_release},
    /* the compliance console (console.c): static files, no token to load */
    {"/console", M_GET, 0, RF_MGMT, api_h_console},
    {"/console/", M_GET, 0, RF_MGMT, api_h_console},
    {"/console/*", M_GET, 0, RF_MGMT, api_h_console},
};

static const char *method_name(int m)
{
    switch (m) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    default: return "?";
    }
}

static const char *reason_phrase(int code)
{
    switch (code) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 416: return "Range Not Satisfiable";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return code < 400 ? "OK" : code < 500 ? "Client Error" : "Server Error";
    }
}

/* ---- replies ---- */

static void send_reply(struct api_req *r, int code, struct evbuffer *body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_send_reply(r->req, code, reason_phrase(code), body);
    r->status = code;
}

void api_reply_text(struct api_req *r, int code, const char *ctype, const char *text, size_t len)
{
    struct evbuffer *b = evbuffer_new();

    if (r->status)
        return; /* one response per request */
    if (b)
        evbuffer_add(b, text, len);
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Type", ctype);
    send_reply(r, code, b);
    evbuffer_free(b);
}

void api_reply_json(struct api_req *r, int code, json_t *obj)
{
    char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;

    json_decref(obj);
    if (!s) {
        static const char oom[] = "{\"error\":\"internal\",\"reason\":\"out of memory\"}\n";
        api_reply_text(r, 500, "application/json", oom, sizeof(oom) - 1);
        return;
    }
    size_t n = strlen(s);
    struct evbuffer *b = evbuffer_new();
    if (b) {
        evbuffer_add(b, s, n);
        evbuffer_add(b, "\n", 1);
    }
    free(s);
    if (!r->status) {
        evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Type",
                          "application/json");
        send_reply(r, code, b);
    }
    evbuffer_free(b);
}

void api_reply_error(struct api_req *r, int code, const char *error, const char *fmt, ...)
{
    char reason[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    /* Reasons may quote client bytes (a path, an origin, a user name). */
    api_reply_json(r, code, json_pack("{s:s, s:o}", "error", error, "reason",
                                      api_json_str(reason)));
}

void api_reply_db_error(struct api_req *r)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    struct pol_db *db = r->api->db;

    if (pol_db_busy(db)) {
        evhttp_add_header(h, "Retry-After", "1");
        api_reply_error(r, 503, "database_busy",
                        "the database is locked by another process (%s); nothing was written, "
                        "retry",
                        pol_db_errmsg(db));
    } else if (pol_db_unavailable(db)) {
        evhttp_add_header(h, "Retry-After", "5");
        api_reply_error(r, 503, "database_unavailable", "nothing was written: %s",
                        pol_db_errmsg(db));
    } else {
        api_reply_error(r, 500, "internal", "database error: %s", pol_db_errmsg(db));
    }
}

json_t *api_body_object(struct api_req *r)
{
    return api_body_object_max(r, r->api->conf.max_body);
}

json_t *api_body_object_max(struct api_req *r, size_t max)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Content-Type");
    size_t len = evbuffer_get_length(in);
    char why[256];
    json_t *o;

    if (!api_media_type_json(ct)) {
        api_reply_error(r, 415, "unsupported_media_type",
                        "send the body with Content-Type: application/json (not %s)",
                        ct ? ct : "a missing Content-Type");
        return NULL;
    }
    if (len > max) {
        api_reply_error(r, 413, "body_too_large", "the body is %zu bytes, at most %zu allowed",
                        len, max);
        return NULL;
    }
    const char *p = (const char *)evbuffer_pullup(in, -1);
    if (!(o = api_json_object(p ? p : "", len, why, sizeof(why))))
        api_reply_error(r, 400, "bad_request", "%s", why);
    return o;
}

void api_reply_start(struct api_req *r, int code)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_send_reply_start(r->req, code, reason_phrase(code));
    r->status = code;
}

/* ---- authentication by role token ---- */

static bool auth_role_token(struct api_req *r, const struct route *rt, int roles)
{
    struct api_server *api = r->api;
    const char *hdr = evhttp_find_header(evhttp_request_get_input_headers(r->req),
                                         "Authorization");
    const char *tok;
    size_t len;
    uint8_t h[AUTH_TOKEN_HASH_LEN];
    char name[80], role[16];
    int64_t id;
    int rc;

    if (api_parse_bearer(hdr, &tok, &len) < 0 || !auth_token_looks_valid(tok, len)) {
        evhttp_add_header(evhttp_request_get_output_headers(r->req), "WWW-Authenticate",
                          "Bearer realm=\"sedge-api\"");
        api_reply_error(r, 401, "unauthorized", hdr ? "not a sedge role token"
                                                    : "a role token is required "
                                                      "(Authorization: Bearer sedge_...)");
        return false;
    }
    if (auth_token_hash(tok, len, h) < 0 ||
        ((rc = pol_db_token_find(api->db, h, &id, name, sizeof(name), role, sizeof(role))) < 0 &&
         rc != SE_ERR_NOTFOUND)) {
        api_reply_error(r, 500, "internal", "cannot check the token");
        return false;
    }
    if (rc == SE_ERR_NOTFOUND) {
        evhttp_add_header(evhttp_request_get_output_headers(r->req), "WWW-Authenticate",
                          "Bearer realm=\"sedge-api\", error=\"invalid_token\"");
        api_reply_error(r, 401, "unauthorized", "unknown or deleted token");
        return false;
    }
    r->role = auth_role_parse(role);
    if (name[0])
        snprintf(r->actor, sizeof(r->actor), "api:token-%lld/%s", (long long)id, name);
    else
        snprintf(r->actor, sizeof(r->actor), "api:token-%lld", (long long)id);
    pol_db_set_actor(api->db, r->actor);
    if (r->role < 0 || !(r->role & roles)) {
        api_reply_error(r, 403, "forbidden", "role %s may not call %s %s", role,
                        method_name(r->method), rt->pattern);
        return false;
    }
    return true;
}

/* ---- CORS (browser-facing routes) ---- */

static void cors_headers(struct api_req *r, const char *origin)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

    evhttp_add_header(h, "Access-Control-Allow-Origin", origin);
    evhttp_add_header(h, "Vary", "Origin");
}

static void preflight(struct api_req *r, const char *allow, const char *origin)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

    if (!origin || !api_cors_allowed(&r->api->conf, origin)) {
        api_reply_error(r, 403, "origin_not_allowed", "origin %s is not in api.cors_origins",
                        origin ? origin : "(none)");
        return;
    }
    cors_headers(r, origin);
    evhttp_add_header(h, "Access-Control-Allow-Methods", allow); /* every method of the path */
    evhttp_add_header(h, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    evhttp_add_header(h, "Access-Control-Max-Age", "600");
    api_reply_text(r, 204, "text/plain", "", 0);
}

/* ---- dispatch ---- */

/* Percent-decode the path parameters; refuse NUL and control bytes. */
static bool decode_params(struct api_req *r)
{
    for (int i = 0; i < API_MAX_PARAMS && r->params[i][0]; i++) {
        size_t n = 0;
        char *d = evhttp_uridecode(r->params[i], 0, &n);
        bool ok = d && n > 0 && n < API_PARAM_MAX && strlen(d) == n;
        for (size_t k = 0; ok && k < n; k++)
            ok = (unsigned char)d[k] >= 0x20 && d[k] != 0x7f;
        if (ok)
            memcpy(r->params[i], d, n + 1);
        free(d);
        if (!ok)
            return false;
    }
    return true;
}

/* Is route served on the listener r arrived on? */
static bool served_here(const struct api_req *r, const struct route *rt)
{
    bool split = r->api->mgmt.http != NULL;

    if (r->lis->management)
        return !(rt->flags & RF_PUBLIC);
    return !(split && (rt->flags & RF_MGMT));
}

static const struct route *find_route(struct api_req *r, char *allow, size_t allowlen)
{
    const struct route *found = NULL;
    size_t used = 0;
    bool cors = false;

    allow[0] = '\0';
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        char params[API_MAX_PARAMS][API_PARAM_MAX] = {{0}};
        if (!served_here(r, &routes[i]) || !api_path_match(routes[i].pattern, r->path, params))
            continue;
        /* At most two methods per path in this table: allowlen is ample. */
        used += (size_t)snprintf(allow + used, allowlen - used, "%s%s", used ? ", " : "",
                                 method_name(routes[i].method));
        if (used >= allowlen)
            used = allowlen - 1;
        cors = cors || (routes[i].flags & RF_CORS);
        if (!found && (routes[i].method == r->method ||
                       (r->method == EVHTTP_REQ_OPTIONS && (routes[i].flags & RF_CORS)))) {
            found = &routes[i];
            memcpy(r->params, params, sizeof(params));
        }
    }
    if (cors && used + 10 < allowlen)
        snprintf(allow + used, allowlen - used, ", OPTIONS");
    return found;
}

static void audit_call(struct api_req *r)
{
    char object[256], detail[64];

    snprintf(object, sizeof(object), "%s %s", method_name(r->method), r->path);
    snprintf(detail, sizeof(detail), "status=%d", r->status);
    if (pol_db_audit(r->api->db, r->status == 403 ? "api.denied" : "api.call", object, detail) < 0)
        se_err_log("api: cannot write the audit row for %s by %s", object, r->actor);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    static struct se_log_rl rl_limit, rl_reserve;
    struct api_listener *lis = arg;
    struct api_server *api = lis->api;
    struct api_req r = {.api = api,
                        .lis = lis,
                        .req = req,
                        .method = evhttp_request_get_command(req),
                        .path = "?"};
    bool reserve;
    int roles;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    const struct sockaddr *sa = evcon ? evhttp_connection_get_addr(evcon) : NULL;
    const char *origin = evhttp_find_header(evhttp_request_get_input_headers(req), "Origin");
    const struct route *rt;
    char allow[128];

    if (sa)
        se_addr_from_sockaddr(&r.peer, sa);
    if (!evcon || !bufferevent_openssl_get_ssl(evhttp_connection_get_bufferevent(evcon))) {
        api_reply_error(&r, 500, "internal", "no TLS session");
        if (evcon)
            evhttp_connection_free_on_completion(evcon);
        goto out;
    }
    /* A connection accepted past the listener's limit answers once. */
    reserve = api_conn_reserved(req);
    if (reserve)
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
    r.path = uri ? evhttp_uri_get_path(uri) : "?";
    r.query = uri ? evhttp_uri_get_query(uri) : NULL;
    if (!r.path || r.path[0] != '/' || strlen(r.path) > 512) {
        r.path = "?";
        api_reply_error(&r, 400, "bad_request", "bad request path");
        goto out;
    }
    rt = find_route(&r, allow, sizeof(allow));
    if (!(rt && (rt->flags & RF_UNLIMITED)) &&
        !se_ratelimit_allow(api->rl, r.peer.ip, api_now_ms(), api->conf.rate, api->conf.burst)) {
        char ip[SE_ADDR_STRLEN];
        api->ctr.rate_limited++;
        se_log_rl(&rl_limit, SE_LOG_INFO, "api: rate limit: %s", se_addr_ip_str(&r.peer, ip,
                                                                                  sizeof(ip)));
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
        api_reply_error(&r, 429, "rate_limited", "more than %u requests per second (burst %u)",
                        api->conf.rate, api->conf.burst);
        goto out;
    }
    if (!rt && !allow[0]) {
        api_reply_error(&r, 404, "not_found", "no such endpoint: %s", r.path);
        goto out;
    }
    if (!rt) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
        api_reply_error(&r, 405, "method_not_allowed", "%s is not allowed here; allowed: %s",
                        method_name(r.method), allow);
        goto out;
    }
    if (reserve && !(rt->flags & RF_PROBE)) {
        /* Past the listener's limit: health checks only. */
        api->ctr.reserve_refused++;
        se_log_rl(&rl_reserve, SE_LOG_WARN,
                  "api: the %s listener is at its connection limit: %s %s refused (503)",
                  lis->management ? "management" : "public", method_name(r.method), r.path);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
        api_reply_error(&r, 503, "busy",
                        "too many connections are open; only health checks are served");
        goto out;
    }
    if (!decode_params(&r)) {
        api_reply_error(&r, 400, "bad_request", "bad path parameter");
        goto out;
    }
    /* /metrics is token-free only on the management listener. */
    roles = (rt->flags & RF_SCRAPE) && lis->management ? 0 : rt->roles;
    if (rt->flags & RF_CORS) {
        if (r.method == EVHTTP_REQ_OPTIONS) {
            preflight(&r, allow, origin);
            goto out;
        }
        if (origin && !api_cors_allowed(&api->conf, origin)) {
            api_reply_error(&r, 403, "origin_not_allowed", "origin %s is not in api.cors_origins",
                            origin);
            goto out;
        }
        if (origin)
            cors_headers(&r, origin);
    }
    if (auth_throttle_blocked(api->throttle, r.peer.ip, time(NULL))) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "60");
        api_reply_error(&r, 429, "throttled", "too many failed authentications from this address");
        goto out;
    }
    if (roles && !(rt->flags & RF_SCRAPE) && pol_db_lost(api->db)) {
        /* Neither written nor audited: the file is gone. (A locked or
         * full database answers each write with its own 503.) */
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "5");
        api_reply_error(&r, 503, "database_unavailable", "%s", pol_db_errmsg(api->db));
        goto out;
    }
    if (roles && !((rt->flags & RF_GRANT) && api_rec_grant_auth(&r)) &&
        !auth_role_token(&r, rt, roles)) {
        if (r.actor[0] && !(rt->flags & RF_SCRAPE))
            audit_call(&r);
        goto out;
    }
    rt->fn(&r);
    if (!r.status)
        api_reply_error(&r, 500, "internal", "no response");
    /* scrapes every 15 s would drown the log; recordings.c audits its own */
    if (roles && !(rt->flags & (RF_SCRAPE | RF_OWN_AUDIT)))
        audit_call(&r);
out:
    /* Count failed credentials, not the credential-less first try. */
    if (r.status == 401 &&
        evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization")) {
        api->ctr.auth_failures++;
        auth_throttle_fail(api->throttle, r.peer.ip, time(NULL));
    }
    if (r.actor[0])
        pol_db_set_actor(api->db, "serve");
    api->ctr.requests[r.status / 100 < 6 ? r.status / 100 : 5]++;
    api_conn_answered(req);
    se_debug("api: %s %s -> %d%s%s", method_name(r.method), r.path, r.status,
             r.actor[0] ? " by " : "", r.actor);
}

/* ---- setup ---- */

static SSL_CTX *tls_new(const char *cert, const char *key, char *err, size_t errlen)
{
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());
    char e[256];

    if (!c) {
        snprintf(err, errlen, "api: cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(c, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(c) != 1) {
        ERR_error_string_n(ERR_get_error(), e, sizeof(e));
        snprintf(err, errlen, "api.tls: cannot load %s / %s: %s", cert, key, e);
        SSL_CTX_free(c);
        return NULL;
    }
    ERR_clear_error();
    return c;
}

/* Apply cfg: TLS context, JWT keys, URIs, limits. All or nothing. */
static int apply(struct api_server *api, const struct se_config *cfg, char *err, size_t errlen)
{
    const struct se_api_config *a = &cfg->api;
    struct api_jwt_keys *jwt = api_jwt_keys_new();
    SSL_CTX *tls = NULL;
    static const char *const scheme[] = {"turn", "turn", "turns"};
    static const char *const tp[] = {"udp", "tcp", "tcp"};

    if (!jwt) {
        snprintf(err, errlen, "out of memory");
        return SE_ERR_NOMEM;
    }
    for (int i = 0; i < a->n_jwt; i++)
        if (api_jwt_keys_load(jwt, &a->jwt[i], err, errlen) < 0) {
            api_jwt_keys_free(jwt);
            return SE_ERR_CONFIG;
        }
    if (!(tls = tls_new(a->tls_cert, a->tls_key, err, errlen))) {
        api_jwt_keys_free(jwt);
        return SE_ERR_CONFIG;
    }
    api_jwt_keys_free(api->jwt);
    api->jwt = jwt;
    SSL_CTX_free(api->tls); /* live sessions hold their own reference */
    api->tls = tls;
    api->conf = *a;
    api->policy_default_allow = cfg->policy_default_allow;
    snprintf(api->realm, sizeof(api->realm), "%s", cfg->realm);
    api->n_uris = 0;
    for (int t = SE_TP_UDP; t <= SE_TP_TLS; t++)
        for (int i = 0; i < cfg->n_listen; i++)
            if (cfg->listen[i].transport == t) {
                snprintf(api->uris[api->n_uris++], sizeof(api->uris[0]), "%s:%s:%u?transport=%s",
                         scheme[t], a->turn_host, cfg->listen[i].addr.port, tp[t]);
                break;
            }
    auth_throttle_set(api->throttle, cfg->auth_fail_limit, cfg->auth_fail_window,
                      cfg->auth_block_time);
    api->pub.max_conns = a->max_connections;
    api->mgmt.max_conns = a->mgmt_max_connections;
    api_listener_limits(&api->pub, a);
    api_listener_limits(&api->mgmt, a);
    return 0;
}

int api_config_check(const struct se_config *cfg, char *err, size_t errlen)
{
    struct api_jwt_keys *jwt = api_jwt_keys_new();
    SSL_CTX *tls = NULL;
    int rc = SE_ERR_CONFIG;

    if (!jwt) {
        snprintf(err, errlen, "out of memory");
        return SE_ERR_NOMEM;
    }
    for (int i = 0; i < cfg->api.n_jwt; i++)
        if (api_jwt_keys_load(jwt, &cfg->api.jwt[i], err, errlen) < 0)
            goto out;
    if ((tls = tls_new(cfg->api.tls_cert, cfg->api.tls_key, err, errlen)))
        rc = 0;
out:
    SSL_CTX_free(tls);
    api_jwt_keys_free(jwt);
    return rc;
}

int api_server_new(struct event_base *base, const struct se_config *cfg, struct pol_db *db,
                   struct relay_server *relay, api_change_fn on_change, void *arg,
                   struct api_server **out, char *err, size_t errlen)
{
    struct api_server *api = calloc(1, sizeof(*api));
    char as[SE_ADDR_STRLEN], ms[SE_ADDR_STRLEN];
    int rc = SE_ERR_NOMEM;

    *out = NULL;
    snprintf(err, errlen, "out of memory");
    if (!api)
        return SE_ERR_NOMEM;
    api->base = base;
    api->db = db;
    api->relay = relay;
    api->on_change = on_change;
    api->change_arg = arg;
    if (!(api->rl = se_ratelimit_new(API_RL_SLOTS)) ||
        !(api->throttle = auth_throttle_new(10, 60, 60)))
        goto fail;
    if ((rc = apply(api, cfg, err, errlen)) < 0)
        goto fail;
    if ((rc = api_listener_open(&api->pub, api, false, &cfg->api.addr,
                                cfg->api.max_connections, on_request, err, errlen)) < 0 ||
        (cfg->api.mgmt_enabled &&
         (rc = api_listener_open(&api->mgmt, api, true, &cfg->api.mgmt_addr,
                                 cfg->api.mgmt_max_connections, on_request, err, errlen)) < 0))
        goto fail;
    se_info("api: listening https://%s (%d JWT issuer keys, %d CORS origins%s)",
            se_addr_str(&cfg->api.addr, as, sizeof(as)), cfg->api.n_jwt, cfg->api.n_cors,
            cfg->api.mgmt_enabled ? "; admin and /metrics on the management listener"
                                  : "; /metrics needs a role token");
    if (cfg->api.mgmt_enabled)
        se_info("api: listening https://%s (management: admin endpoints, /metrics without a "
                "token, probes)",
                se_addr_str(&cfg->api.mgmt_addr, ms, sizeof(ms)));
    *out = api;
    return 0;
fail:
    api_server_free(api);
    return rc;
}

int api_server_reload(struct api_server *api, const struct se_config *cfg, char *err,
                      size_t errlen)
{
    if (!cfg->api.enabled || !se_addr_eq(&cfg->api.addr, &api->conf.addr) ||
        cfg->api.mgmt_enabled != api->conf.mgmt_enabled ||
        (cfg->api.mgmt_enabled && !se_addr_eq(&cfg->api.mgmt_addr, &api->conf.mgmt_addr)))
        se_warn("api: addresses, ports, api.management and enabling the API take effect only "
                "after a restart");
    if (!cfg->api.enabled)
        return 0;
    return apply(api, cfg, err, errlen);
}

void api_server_set_anchor(struct api_server *api, struct anchor_server *anchor)
{
    if (api)
        api->anchor = anchor;
}

void api_server_set_recordings(struct api_server *api, struct rec_catalog *cat)
{
    if (api)
        api->cat = cat;
}

void api_server_set_ready(struct api_server *api, bool ready)
{
    if (api)
        api->ready = ready;
}

void api_server_set_stats(struct api_server *api, api_stats_fn fn, void *arg)
{
    if (!api)
        return;
    api->stats = fn;
    api->stats_arg = arg;
}

void api_server_set_db_problem(struct api_server *api, const char *problem)
{
    if (api)
        snprintf(api->db_problem, sizeof(api->db_problem), "%s", problem ? problem : "");
}

void api_server_free(struct api_server *api)
{
    if (!api)
        return;
    api->closing = true; /* evhttp_free() frees the listener before the connections */
    api_listener_close(&api->pub);
    api_listener_close(&api->mgmt);
    SSL_CTX_free(api->tls);
    api_jwt_keys_free(api->jwt);
    se_ratelimit_free(api->rl);
    auth_throttle_free(api->throttle);
    free(api->rec_stats);
    free(api);
}
