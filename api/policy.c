/*
 * policy.c - admin endpoints for policy: groups, rules, a decision test,
 * sessions (live and history) and ending one live session.
 *
 * Like admin.c: http.c has checked the role token and set the audit
 * actor, so every write lands in the audit table under the token with the
 * object before and after; after a write the control thread publishes a
 * new snapshot at once, and live allocations are re-checked against it.
 * A rule is compiled before it is stored (policy/store.c), so a bad field
 * is a 400 naming it and nothing is written. Lists in request bodies may
 * be JSON arrays of strings or comma-separated strings.
 */
#include "api/api_internal.h"
#include "core/addr.h"
#include "core/config.h"
#include "core/err.h"
#include "policy/db.h"
#include "policy/rules.h"
#include "relay/anchor/anchor.h"
#include "relay/relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { LIST_MAX = 4096, NAME_MAX_LEN = 255 };

static void ok_status(struct api_req *r, int code)
{
    api_changed(r->api);
    api_reply_json(r, code, json_pack("{s:s}", "status", "ok"));
}

/* A string field (NULL if absent); false = 400 sent. */
static bool get_str(struct api_req *r, json_t *body, const char *name, size_t max,
                    const char **out)
{
    json_t *v = json_object_get(body, name);

    *out = NULL;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v) || json_string_length(v) > max ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        api_reply_error(r, 400, "bad_request", "\"%s\" must be a string of at most %zu bytes",
                        name, max);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

/* A list field as a comma string into buf; false = 400 sent. */
static bool get_list(struct api_req *r, json_t *body, const char *name, char *buf,
                     size_t len, const char **out)
{
    json_t *v = json_object_get(body, name), *item;
    size_t o = 0, i;

    *out = NULL;
    if (!v || json_is_null(v))
        return true;
    if (json_is_string(v))
        return get_str(r, body, name, len - 1, out);
    if (!json_is_array(v))
        goto bad;
    buf[0] = '\0';
    json_array_foreach(v, i, item) {
        const char *s = json_string_value(item);
        size_t n = s ? strlen(s) : 0;
        if (!s || n != json_string_length(item) || n == 0 || strchr(s, ',') || o + n + 2 > len)
            goto bad;
        if (o)
            buf[o++] = ',';
        memcpy(buf + o, s, n + 1);
        o += n;
    }
    *out = o ? buf : NULL;
    return true;
bad:
    api_reply_error(r, 400, "bad_request",
                    "\"%s\" must be a list of non-empty strings (or a comma-separated string)",
                    name);
    return false;
}

/* An optional boolean field; false = 400 sent. */
static bool get_bool(struct api_req *r, json_t *body, const char *name, bool *out)
{
    json_t *v = json_object_get(body, name);

    if (!v || json_is_null(v))
        return true;
    if (!json_is_boolean(v)) {
        api_reply_error(r, 400, "bad_request", "\"%s\" must be true or false", name);
        return false;
    }
    *out = json_is_true(v);
    return true;
}

static bool get_int(struct api_req *r, json_t *body, const char *name, long long min,
                    long long max, int64_t *out)
{
    json_t *v = json_object_get(body, name);

    if (!v || json_is_null(v))
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        api_reply_error(r, 400, "bad_request", "\"%s\" must be an integer in %lld..%lld", name,
                        min, max);
        return false;
    }
    *out = json_integer_value(v);
    return true;
}

static bool param_id(struct api_req *r, int64_t *id)
{
    char *end;
    long long v = strtoll(r->params[0], &end, 10);

    if (*end || end == r->params[0] || v <= 0) {
        api_reply_error(r, 404, "not_found", "no rule %s", r->params[0]);
        return false;
    }
    *id = v;
    return true;
}

/* ---- groups ---- */

static int group_row(const char *group, const char *members, void *arg)
{
    json_t *m = json_array();

    for (const char *p = members; *p;) {
        size_t k = strcspn(p, ",");
        json_array_append_new(m, json_stringn(p, k));
        p += k + (p[k] == ',');
    }
    return json_array_append_new(arg, json_pack("{s:s, s:o}", "name", group, "members", m)) < 0
               ? SE_ERR_NOMEM
               : 0;
}

void api_h_groups_list(struct api_req *r)
{
    json_t *a = json_array();

    if (!a || pol_db_group_list(r->api->db, group_row, a) < 0) {
        json_decref(a);
        api_reply_error(r, 500, "internal", "cannot list groups");
        return;
    }
    api_reply_json(r, 200, json_pack("{s:o}", "groups", a));
}

void api_h_groups_add(struct api_req *r)
{
    static const char *const fields[] = {"name", NULL};
    json_t *body = api_body_object(r);
    const char *name;

    if (!body || !api_only_fields(r, body, fields) || !get_str(r, body, "name", NAME_MAX_LEN, &name))
        goto out;
    int rc = name ? pol_db_group_add(r->api->db, name) : SE_ERR_INVAL;
    if (rc == SE_ERR_INVAL)
        api_reply_error(r, 400, "bad_request",
                        "\"name\" must be 1-255 characters without ',' or control characters");
    else if (rc == SE_ERR_EXISTS)
        api_reply_error(r, 409, "exists", "group %s already exists", name);
    else if (rc < 0)
        api_reply_db_error(r);
    else {
        api_changed(r->api);
        api_reply_json(r, 201, json_pack("{s:s, s:[]}", "name", name, "members"));
    }
out:
    json_decref(body);
}

void api_h_groups_del(struct api_req *r)
{
    char err[512];
    int rc = pol_db_group_del(r->api->db, r->params[0], err, sizeof(err));

    if (rc == SE_ERR_NOTFOUND)
        api_reply_error(r, 404, "not_found", "no group %s", r->params[0]);
    else if (rc == SE_ERR_INVAL)
        api_reply_error(r, 409, "in_use", "%s", err);
    else if (rc < 0)
        api_reply_db_error(r);
    else
        ok_status(r, 200);
}

static void member(struct api_req *r, const char *user, bool add, bool external)
{
    char err[512];
    int rc = pol_db_group_member(r->api->db, r->params[0], user, add, external, err, sizeof(err));

    if (rc == SE_ERR_NOTFOUND)
        api_reply_error(r, 404, "not_found", add ? "no group %s" : "no group %s or no such member",
                        r->params[0]);
    else if (rc == SE_ERR_EXISTS)
        api_reply_error(r, 409, "exists", "%s is already a member of %s", user, r->params[0]);
    else if (rc == SE_ERR_INVAL)
        api_reply_error(r, 400, "bad_request", "\"user\": %s", err);
    else if (rc < 0)
        api_reply_db_error(r);
    else
        ok_status(r, add ? 201 : 200);
}

void api_h_group_member_add(struct api_req *r)
{
    static const char *const fields[] = {"user", "external", NULL};
    json_t *body = api_body_object(r);
    const char *user;
    bool external = false;

    if (body && api_only_fields(r, body, fields) && get_str(r, body, "user", NAME_MAX_LEN, &user) &&
        get_bool(r, body, "external", &external)) {
        if (!user)
            api_reply_error(r, 400, "bad_request", "\"user\" is required");
        else
            member(r, user, true, external);
    }
    json_decref(body);
}

void api_h_group_member_del(struct api_req *r)
{
    member(r, r->params[1], false, false);
}

/* ---- rules ---- */

static int rule_row(const struct pol_rule_spec *s, void *arg)
{
    char *text = pol_rule_spec_json(s);
    json_t *o = text ? json_loads(text, 0, NULL) : NULL;

    free(text);
    return !o || json_array_append_new(arg, o) < 0 ? SE_ERR_NOMEM : 0;
}

void api_h_rules_list(struct api_req *r)
{
    json_t *a = json_array();

    if (!a || pol_db_rule_list(r->api->db, rule_row, a) < 0) {
        json_decref(a);
        api_reply_error(r, 500, "internal", "cannot list rules");
        return;
    }
    api_reply_json(r, 200, json_pack("{s:o, s:s}", "rules", a, "default",
                                     r->api->policy_default_allow ? "allow" : "deny"));
}

void api_h_rules_add(struct api_req *r)
{
    static const char *const fields[] = {
        "action", "priority", "name", "users", "groups", "origins", "peers", "clients",
        "transports", "days", "hours", "max_kbps", "max_allocs", "max_duration", "record",
        "retention", "external_users", NULL};
    static char users[LIST_MAX], groups[LIST_MAX], origins[LIST_MAX], peers[LIST_MAX],
        clients[LIST_MAX], transports[LIST_MAX], days[LIST_MAX];
    struct pol_rule_spec s = {0};
    json_t *body = api_body_object(r);
    char err[512];
    int64_t id = 0;

    if (!body || !api_only_fields(r, body, fields) ||
        !get_str(r, body, "action", 16, &s.action) || !get_str(r, body, "name", 127, &s.name) ||
        !get_str(r, body, "hours", 32, &s.hours) || !get_str(r, body, "record", 16, &s.record) ||
        !get_list(r, body, "users", users, sizeof(users), &s.users) ||
        !get_list(r, body, "groups", groups, sizeof(groups), &s.groups) ||
        !get_list(r, body, "origins", origins, sizeof(origins), &s.origins) ||
        !get_list(r, body, "peers", peers, sizeof(peers), &s.peers) ||
        !get_list(r, body, "clients", clients, sizeof(clients), &s.clients) ||
        !get_list(r, body, "transports", transports, sizeof(transports), &s.transports) ||
        !get_list(r, body, "days", days, sizeof(days), &s.days) ||
        !get_int(r, body, "priority", 1, INT32_MAX, &s.priority) ||
        !get_int(r, body, "max_kbps", 0, 100000000, &s.max_kbps) ||
        !get_int(r, body, "max_allocs", 0, 1000000, &s.max_allocs) ||
        !get_int(r, body, "max_duration", 0, 366 * 86400, &s.max_duration) ||
        !get_int(r, body, "retention", 0, 100 * 366, &s.retention_days) ||
        !get_bool(r, body, "external_users", &s.external_users))
        goto out;
    if (!s.action) {
        api_reply_error(r, 400, "bad_request", "\"action\" is required: allow or deny");
        goto out;
    }
    int rc = pol_db_rule_add(r->api->db, &s, &id, err, sizeof(err));
    if (rc == SE_ERR_INVAL) {
        api_reply_error(r, 400, "bad_rule", "%s", err);
        goto out;
    }
    if (rc < 0) {
        api_reply_db_error(r);
        goto out;
    }
    api_changed(r->api);
    api_reply_json(r, 201, json_pack("{s:I}", "id", (json_int_t)id));
out:
    json_decref(body);
}

void api_h_rules_del(struct api_req *r)
{
    int64_t id;

    if (!param_id(r, &id))
        return;
    int rc = pol_db_rule_del(r->api->db, id);
    if (rc == SE_ERR_NOTFOUND)
        api_reply_error(r, 404, "not_found", "no rule %lld", (long long)id);
    else if (rc < 0)
        api_reply_db_error(r);
    else
        ok_status(r, 200);
}

void api_h_rules_move(struct api_req *r)
{
    static const char *const fields[] = {"priority", NULL};
    json_t *body = api_body_object(r);
    int64_t id, prio = 0;

    if (!body || !param_id(r, &id) || !api_only_fields(r, body, fields) ||
        !get_int(r, body, "priority", 1, INT32_MAX, &prio))
        goto out;
    if (!prio) {
        api_reply_error(r, 400, "bad_request", "\"priority\" is required");
        goto out;
    }
    int rc = pol_db_rule_move(r->api->db, id, prio);
    if (rc == SE_ERR_NOTFOUND)
        api_reply_error(r, 404, "not_found", "no rule %lld", (long long)id);
    else if (rc < 0)
        api_reply_db_error(r);
    else
        ok_status(r, 200);
out:
    json_decref(body);
}

/* ---- policy test ---- */

void api_h_policy_test(struct api_req *r)
{
    static const char *const fields[] = {"user", "origin", "peer", "client", "transport", "at",
                                         NULL};
    json_t *body = api_body_object(r);
    const char *user, *origin, *peer_s, *client_s, *transport;
    struct se_addr peer, client;
    struct pol_decision d;
    unsigned tmask = 0;
    int64_t at = (int64_t)time(NULL);

    if (!body || !api_only_fields(r, body, fields) || !get_str(r, body, "user", NAME_MAX_LEN, &user) ||
        !get_str(r, body, "origin", 255, &origin) || !get_str(r, body, "peer", 64, &peer_s) ||
        !get_str(r, body, "client", 64, &client_s) ||
        !get_str(r, body, "transport", 8, &transport) ||
        !get_int(r, body, "at", 0, INT64_MAX / 2, &at))
        goto out;
    if (!user || !user[0]) {
        api_reply_error(r, 400, "bad_request", "\"user\" is required");
        goto out;
    }
    if ((peer_s && se_addr_parse_ip(&peer, peer_s, 0) < 0) ||
        (client_s && se_addr_parse_ip(&client, client_s, 0) < 0)) {
        api_reply_error(r, 400, "bad_request", "\"peer\" and \"client\" must be IP addresses");
        goto out;
    }
    if (transport && (pol_parse_transports(transport, &tmask) < 0 || (tmask & (tmask - 1)))) {
        api_reply_error(r, 400, "bad_request", "\"transport\" must be udp, tcp or tls");
        goto out;
    }
    if (!r->api->policy) {
        api_reply_error(r, 503, "not_ready", "no policy snapshot yet");
        goto out;
    }
    struct pol_query q = {
        .user = user,
        .user_len = strlen(user),
        .origin = origin,
        .origin_len = origin ? strlen(origin) : 0,
        .client = client_s ? &client : NULL,
        .transport = tmask ? __builtin_ctz(tmask) : -1,
        .peer = peer_s ? &peer : NULL,
        .at = at,
    };
    r->api->policy(r->api->policy_arg, &q, &d);
    api_reply_json(r, 200,
                   json_pack("{s:s, s:o, s:s?, s:I, s:I, s:I, s:s, s:I, s:I}", "decision",
                             d.allow ? "allow" : "deny",
                             "rule", d.rule_id ? json_integer(d.rule_id) : json_null(),
                             "rule_name", d.rule_name[0] ? d.rule_name : NULL, "max_kbps",
                             (json_int_t)d.max_kbps, "max_allocs", (json_int_t)d.max_allocs,
                             "max_duration", (json_int_t)d.max_duration, "record",
                             d.record == POL_RECORD_ALWAYS ? "always" : "never", "retention",
                             (json_int_t)d.retention_days, "at", (json_int_t)at));
out:
    json_decref(body);
}

/* ---- sessions ---- */

static int session_row(const struct pol_session *s, void *arg)
{
    json_t *o = pol_session_json(s);

    return !o || json_array_append_new(arg, o) < 0 ? SE_ERR_NOMEM : 0;
}

void api_h_sessions_list(struct api_req *r)
{
    struct pol_session_filter f = {.limit = 1000};
    char user[NAME_MAX_LEN + 1], v[32], *end;
    json_t *a;

    if (api_query_get(r->query, "live", v, sizeof(v)) == 0)
        f.live_only = strcmp(v, "0") != 0 && strcmp(v, "false") != 0;
    if (api_query_get(r->query, "user", user, sizeof(user)) == 0)
        f.user = user;
    if (api_query_get(r->query, "since", v, sizeof(v)) == 0 &&
        ((f.since = strtoll(v, &end, 10)), *end || end == v || f.since < 0)) {
        api_reply_error(r, 400, "bad_request", "query since must be unix seconds");
        return;
    }
    if (api_query_get(r->query, "limit", v, sizeof(v)) == 0 &&
        ((f.limit = (int)strtol(v, &end, 10)), *end || end == v || f.limit < 1 || f.limit > 10000)) {
        api_reply_error(r, 400, "bad_request", "query limit must be an integer in 1..10000");
        return;
    }
    if (!(a = json_array()) || pol_db_session_list(r->api->db, &f, session_row, a) < 0) {
        json_decref(a);
        api_reply_error(r, 500, "internal", "cannot list sessions");
        return;
    }
    api_reply_json(r, 200, json_pack("{s:o}", "sessions", a));
}

void api_h_sessions_kill(struct api_req *r)
{
    int rc = r->api->relay ? relay_server_kill(r->api->relay, r->params[0]) : SE_ERR_NOTFOUND;

    if (rc == SE_ERR_NOTFOUND && r->api->anchor) /* an anchored call */
        rc = anchor_kill(r->api->anchor, r->params[0], "killed by admin");

    if (rc == SE_ERR_NOTFOUND)
        api_reply_error(r, 404, "not_found", "no live session %s in this process", r->params[0]);
    else if (rc < 0)
        api_reply_error(r, 503, "busy", "too many kills pending, try again");
    else
        api_reply_json(r, 202, json_pack("{s:s, s:s}", "status", "ending", "id", r->params[0]));
}
