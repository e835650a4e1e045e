/*
 * admin.c - admin and audit endpoints: users, REST secrets, audit log.
 *
 * http.c has already checked the role token and set the database's
 * audit actor to "api:token-<id>[/name]", so every write below lands in
 * the audit table under that actor in the write's own transaction, and
 * http.c adds one "api.call" row per request. After a write the control
 * thread is told to publish a new snapshot, so the relay sees the change
 * at once. Secrets are never returned in full except the one this call
 * generated.
 */
#include "api/api_internal.h"
#include "auth/auth.h"
#include "core/err.h"
#include "core/log.h"
#include "policy/db.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { API_PASSWORD_MAX = 256, API_SECRET_MIN = 8, API_SECRET_MAX = 256, GEN_SECRET_BYTES = 24 };

void api_changed(struct api_server *api)
{
    if (api->on_change)
        api->on_change(api->change_arg);
}

bool api_only_fields(struct api_req *r, json_t *body, const char *const *allowed)
{
    const char *key;
    json_t *v;

    json_object_foreach(body, key, v) {
        bool ok = false;
        for (int i = 0; allowed[i]; i++)
            ok = ok || strcmp(key, allowed[i]) == 0;
        if (!ok) {
            api_reply_error(r, 400, "bad_request", "unknown field \"%s\"", key);
            return false;
        }
    }
    return true;
}

static const char *str_field(json_t *body, const char *name, size_t max)
{
    json_t *v = json_object_get(body, name);

    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max ||
        strlen(json_string_value(v)) != json_string_length(v))
        return NULL;
    return json_string_value(v);
}

static void reply_write(struct api_req *r, int rc, const char *what, const char *name)
{
    if (rc == SE_ERR_NOTFOUND)
        api_reply_error(r, 404, "not_found", "no %s %s", what, name);
    else if (rc == SE_ERR_EXISTS)
        api_reply_error(r, 409, "exists", "%s %s already exists", what, name);
    else if (rc < 0)
        api_reply_db_error(r);
    else {
        api_changed(r->api);
        api_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
    }
}

/* ---- users ---- */

static int user_row(const struct pol_user_row *u, void *arg)
{
    return json_array_append_new(arg, json_pack("{s:o, s:o, s:b, s:I}", "name",
                                                api_json_str(u->name), "realm",
                                                api_json_str(u->realm), "disabled", u->disabled,
                                                "created", (json_int_t)u->created)) < 0
               ? SE_ERR_NOMEM
               : 0;
}

void api_h_users_list(struct api_req *r)
{
    json_t *a = json_array();

    if (!a || pol_db_user_list(r->api->db, user_row, a) < 0) {
        json_decref(a);
        api_reply_error(r, 500, "internal", "cannot list users");
        return;
    }
    api_reply_json(r, 200, json_pack("{s:o}", "users", a));
}

void api_h_users_add(struct api_req *r)
{
    static const char *const fields[] = {"name", "password", NULL};
    uint8_t k1[AUTH_MD5_KEY_LEN], k2[AUTH_SHA256_KEY_LEN];
    json_t *body = api_body_object(r);
    const char *name, *pw;

    if (!body || !api_only_fields(r, body, fields))
        goto out;
    if (!(name = str_field(body, "name", API_USER_MAX - 1)) || !api_user_name_ok(name) ||
        !se_text_clean(name, strlen(name))) {
        api_reply_error(r, 400, "bad_request",
                        "\"name\" must be 1-%d characters without ':', control characters or "
                        "bidirectional overrides",
                        API_USER_MAX - 1);
        goto out;
    }
    if (!(pw = str_field(body, "password", API_PASSWORD_MAX))) {
        api_reply_error(r, 400, "bad_request", "\"password\" must be 1-%d characters",
                        API_PASSWORD_MAX);
        goto out;
    }
    if (auth_key_md5(name, r->api->realm, pw, k1) < 0 ||
        auth_key_sha256(name, r->api->realm, pw, k2) < 0) {
        api_reply_error(r, 500, "internal", "cannot derive keys");
        goto out;
    }
    int rc = pol_db_user_add(r->api->db, name, r->api->realm, k1, k2);
    explicit_bzero(k1, sizeof(k1));
    explicit_bzero(k2, sizeof(k2));
    if (rc == 0) {
        api_changed(r->api);
        api_reply_json(r, 201, json_pack("{s:s, s:s}", "name", name, "realm", r->api->realm));
    } else {
        reply_write(r, rc, "user", name);
    }
out:
    json_decref(body);
}

void api_h_users_del(struct api_req *r)
{
    reply_write(r, pol_db_user_del(r->api->db, r->params[0]), "user", r->params[0]);
}

void api_h_users_disable(struct api_req *r)
{
    reply_write(r, pol_db_user_set_disabled(r->api->db, r->params[0], true), "user",
                r->params[0]);
}

void api_h_users_enable(struct api_req *r)
{
    reply_write(r, pol_db_user_set_disabled(r->api->db, r->params[0], false), "user",
                r->params[0]);
}

/* ---- secrets ---- */

static int secret_row(const struct pol_secret_row *s, void *arg)
{
    char masked[16];

    snprintf(masked, sizeof(masked), "%.3s...", s->value);
    return json_array_append_new(arg, json_pack("{s:I, s:o, s:I}", "id", (json_int_t)s->id,
                                                "value", api_json_str(masked), "created",
                                                (json_int_t)s->created)) < 0
               ? SE_ERR_NOMEM
               : 0;
}

void api_h_secrets_list(struct api_req *r)
{
    json_t *a = json_array();

    if (!a || pol_db_secret_list(r->api->db, secret_row, a) < 0) {
        json_decref(a);
        api_reply_error(r, 500, "internal", "cannot list secrets");
        return;
    }
    api_reply_json(r, 200, json_pack("{s:o}", "secrets", a));
}

void api_h_secrets_add(struct api_req *r)
{
    static const char *const fields[] = {"value", NULL};
    char gen[64];
    json_t *body = api_body_object(r);
    const char *value;

    if (!body || !api_only_fields(r, body, fields))
        goto out;
    if (json_object_get(body, "value")) {
        value = str_field(body, "value", API_SECRET_MAX);
        if (!value || strlen(value) < API_SECRET_MIN || value[0] == '#') {
            api_reply_error(r, 400, "bad_request",
                            "\"value\" must be %d-%d characters, not starting with '#'",
                            API_SECRET_MIN, API_SECRET_MAX);
            goto out;
        }
    } else { /* generate one and return it this once */
        uint8_t raw[GEN_SECRET_BYTES];
        if (RAND_bytes(raw, sizeof(raw)) != 1 || auth_base64(raw, sizeof(raw), gen,
                                                             sizeof(gen)) < 0) {
            api_reply_error(r, 500, "internal", "cannot generate a secret");
            goto out;
        }
        value = gen;
    }
    int rc = pol_db_secret_add(r->api->db, value);
    if (rc == 0) {
        api_changed(r->api);
        api_reply_json(r, 201, json_object_get(body, "value")
                                   ? json_pack("{s:s}", "status", "ok")
                                   : json_pack("{s:s, s:s}", "status", "ok", "value", value));
    } else {
        reply_write(r, rc, "secret", "(value)");
    }
    explicit_bzero(gen, sizeof(gen));
out:
    json_decref(body);
}

void api_h_secrets_del(struct api_req *r)
{
    char idref[API_PARAM_MAX + 1];
    char *end;

    if (strtoll(r->params[0], &end, 10) <= 0 || *end) {
        api_reply_error(r, 400, "bad_request", "secret id must be a positive integer");
        return;
    }
    snprintf(idref, sizeof(idref), "#%s", r->params[0]);
    reply_write(r, pol_db_secret_del(r->api->db, idref), "secret", idref);
}

/* ---- audit ---- */

static int audit_row(const struct pol_audit_row *a, void *arg)
{
    json_t *o = json_pack("{s:I, s:I, s:o, s:o, s:o, s:o}", "id", (json_int_t)a->id, "at",
                          (json_int_t)a->at, "actor", api_json_str(a->actor), "action",
                          api_json_str(a->action), "object", api_json_str(a->object), "detail",
                          api_json_str(a->detail));

    if (!o)
        return SE_ERR_NOMEM;
    /* The object before and after the change, as stored (JSON), or null. */
    json_t *b = a->before ? json_loads(a->before, 0, NULL) : NULL;
    json_t *f = a->after ? json_loads(a->after, 0, NULL) : NULL;
    json_object_set_new(o, "before", b ? b : json_null());
    json_object_set_new(o, "after", f ? f : json_null());
    return json_array_append_new(arg, o) < 0 ? SE_ERR_NOMEM : 0;
}

static bool query_int(struct api_req *r, const char *key, long long def, long long min,
                      long long max, long long *out)
{
    char v[32], *end;

    *out = def;
    int rc = api_query_get(r->query, key, v, sizeof(v));
    if (rc == SE_ERR_NOTFOUND)
        return true;
    if (rc < 0 || (*out = strtoll(v, &end, 10), *end != '\0' || end == v) || *out < min ||
        *out > max) {
        api_reply_error(r, 400, "bad_request", "query %s must be an integer in %lld..%lld", key,
                        min, max);
        return false;
    }
    return true;
}

void api_h_audit_list(struct api_req *r)
{
    long long limit, before;
    json_t *a;

    if (!query_int(r, "limit", 100, 1, API_AUDIT_PAGE_MAX, &limit) ||
        !query_int(r, "before", 0, 0, INT64_MAX, &before))
        return;
    if (!(a = json_array()) || pol_db_audit_page(r->api->db, before, (int)limit, audit_row, a) < 0) {
        json_decref(a);
        api_reply_error(r, 500, "internal", "cannot read the audit log");
        return;
    }
    api_reply_json(r, 200, json_pack("{s:o}", "audit", a));
}
