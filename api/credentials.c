/*
 * credentials.c - POST /v1/credentials: TURN REST credentials for the browser
 * extension, bound to the authenticated user and the web origin.
 *
 * The user is authenticated one of two ways: a bearer JWT from the
 * enterprise identity provider (api/jwt.c; user from api.user_claim), or
 * HTTP Basic against a local sedge user, checked by deriving the
 * SHA-256 long-term key from (name, realm, password) and comparing it in
 * constant time with the stored key. A local user that is disabled is
 * refused (403) whichever way it authenticated. The credential is
 *     username = "<expiry>:<user>:<origin-id>"   (auth_origin_id())
 *     password = base64(HMAC-SHA1(newest secret, username))
 * which the relay verifies like any REST credential, with every secret.
 */
#include "api/api_internal.h"
#include "api/jwt.h"
#include "auth/auth.h"
#include "core/err.h"
#include "core/log.h"
#include "policy/db.h"
#include "policy/rules.h"
#include "relay/anchor/anchor.h"

#include <event2/http.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum { API_PASSWORD_MAX = 256, API_SECRET_MAX = 512 };

void api_server_set_policy(struct api_server *api, api_policy_fn fn, void *arg)
{
    if (!api)
        return;
    api->policy = fn;
    api->policy_arg = arg;
}

void api_policy_any(api_policy_fn fn, void *arg, struct pol_query *q, struct pol_decision *out)
{
    struct pol_decision d, first;

    /* The client picks its transport later: the credential (or the call)
     * is allowed if policy allows any of them (UDP first, as browsers
     * try); a refusal is explained as UDP would see it. */
    for (int t = SE_TP_UDP; t <= SE_TP_TLS; t++) {
        q->transport = t;
        fn(arg, q, &d);
        if (t == SE_TP_UDP)
            first = d;
        if (d.allow) {
            *out = d;
            return;
        }
    }
    *out = first;
}

int api_credential_mode(struct api_server *api, const char *user, const char *origin,
                        const struct se_addr *client, const char **mode,
                        struct pol_decision *out, char *reason, size_t reasonlen)
{
    struct pol_decision d = {.allow = true, .rule_name = ""};
    struct pol_query q = {
        .user = user,
        .user_len = strlen(user),
        .origin = origin,
        .origin_len = origin ? strlen(origin) : 0,
        .client = client,
        .at = (int64_t)time(NULL),
    };

    if (api->policy)
        api_policy_any(api->policy, api->policy_arg, &q, &d);
    if (!d.allow) {
        if (d.rule_id)
            snprintf(reason, reasonlen, "refused by policy rule #%lld%s%s", (long long)d.rule_id,
                     d.rule_name[0] ? " " : "", d.rule_name);
        else
            snprintf(reason, reasonlen, "refused by policy (no rule allows this user and site)");
        return SE_ERR_DENIED;
    }
    /* Recording required: the call must go through the anchor. */
    *mode = d.record == POL_RECORD_ALWAYS ? "anchor" : "turn";
    if (d.record == POL_RECORD_ALWAYS)
        snprintf(reason, reasonlen, "policy %s%lld%s%s requires recording",
                 d.rule_id ? "rule #" : "default", (long long)d.rule_id,
                 d.rule_name[0] ? " " : "", d.rule_name);
    if (out)
        *out = d;
    return 0;
}

static void unauthorized(struct api_req *r, const char *reason)
{
    static struct se_log_rl rl;
    char ip[SE_ADDR_STRLEN];

    se_log_rl(&rl, SE_LOG_INFO, "api: credentials refused from %s: %s",
              se_addr_ip_str(&r->peer, ip, sizeof(ip)), reason);
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "WWW-Authenticate",
                      "Bearer realm=\"sedge\"");
    api_reply_error(r, 401, "unauthorized", "%s", reason);
}

/* Basic: the password proves the user by re-deriving its stored key. */
static bool check_basic(struct api_req *r, const char *hdr, char *user, size_t ulen)
{
    struct api_server *api = r->api;
    char pw[API_PASSWORD_MAX];
    uint8_t key[AUTH_SHA256_KEY_LEN];
    struct pol_user_keys k;
    bool ok = false;
    int rc;

    if (api_parse_basic(hdr, user, ulen, pw, sizeof(pw)) < 0 || !api_user_name_ok(user)) {
        unauthorized(r, "malformed Basic credentials");
        return false;
    }
    rc = pol_db_user_get(api->db, user, &k);
    if (rc < 0 && rc != SE_ERR_NOTFOUND) {
        api_reply_error(r, 500, "internal", "cannot read users");
        goto out;
    }
    /* Derive even for unknown users so both cases take the same time. */
    if (auth_key_derive(true, user, strlen(user), rc == 0 ? k.realm : api->realm, pw,
                        strlen(pw), key) < 0) {
        api_reply_error(r, 500, "internal", "cannot derive the key");
        goto out;
    }
    if (rc != 0 || strcmp(k.realm, api->realm) != 0 ||
        CRYPTO_memcmp(key, k.key_sha256, sizeof(key)) != 0) {
        unauthorized(r, "unknown user or wrong password");
        goto out;
    }
    if (k.disabled) {
        api_reply_error(r, 403, "user_disabled", "user %s is disabled", user);
        goto out;
    }
    ok = true;
out:
    explicit_bzero(pw, sizeof(pw));
    explicit_bzero(key, sizeof(key));
    return ok;
}

static bool check_bearer(struct api_req *r, const char *hdr, char *user, size_t ulen)
{
    struct api_server *api = r->api;
    struct pol_user_keys k;
    const char *tok, *why;
    size_t len;

    if (api_parse_bearer(hdr, &tok, &len) < 0) {
        unauthorized(r, "malformed bearer token");
        return false;
    }
    if (api_jwt_keys_count(api->jwt) == 0) {
        unauthorized(r, "no JWT issuer is configured (api.jwt)");
        return false;
    }
    if (api_jwt_verify(api->jwt, tok, len, time(NULL), api->conf.user_claim, user, ulen, &why) <
        0) {
        unauthorized(r, why);
        return false;
    }
    if (!api_user_name_ok(user)) {
        api_reply_error(r, 403, "bad_user", "the %s claim is not usable as a TURN user name",
                        api->conf.user_claim);
        return false;
    }
    /* A local account of the same name that an admin disabled wins. */
    if (pol_db_user_get(api->db, user, &k) == 0 && k.disabled) {
        api_reply_error(r, 403, "user_disabled", "user %s is disabled", user);
        return false;
    }
    return true;
}

bool api_authenticate_user(struct api_req *r, char *user, size_t ulen, const char **how)
{
    const char *hdr = evhttp_find_header(evhttp_request_get_input_headers(r->req),
                                         "Authorization");

    if (!hdr) {
        unauthorized(r, "authentication required (Bearer JWT or Basic)");
        return false;
    }
    if (strncasecmp(hdr, "Basic ", 6) == 0) {
        *how = "basic";
        return check_basic(r, hdr, user, ulen);
    }
    *how = "jwt";
    return check_bearer(r, hdr, user, ulen);
}

void api_h_credentials(struct api_req *r)
{
    struct api_server *api = r->api;
    char user[API_USER_MAX], oid[AUTH_ORIGIN_ID_MAX + 1], secret[API_SECRET_MAX];
    char username[AUTH_NAME_MAX], pw[AUTH_REST_PW_LEN + 1], ip[SE_ADDR_STRLEN], why[256] = "";
    const char *how = "?", *origin, *mode;
    struct pol_decision d;
    json_t *body = NULL, *v, *uris;
    const char *key;
    int rc;

    if (!api_authenticate_user(r, user, sizeof(user), &how) || !(body = api_body_object(r)))
        goto out;
    json_object_foreach(body, key, v) {
        if (strcmp(key, "origin") != 0) {
            api_reply_error(r, 400, "bad_request", "unknown field \"%s\"", key);
            goto out;
        }
    }
    v = json_object_get(body, "origin");
    if (!json_is_string(v) || (origin = json_string_value(v),
                               auth_origin_id(origin, json_string_length(v), oid, sizeof(oid)) <
                                   0)) {
        api_reply_error(r, 400, "bad_request",
                        "\"origin\" must be a web origin like \"https://meet.example.com\"");
        goto out;
    }
    if (api_credential_mode(api, user, origin, &r->peer, &mode, &d, why, sizeof(why)) < 0) {
        se_info("api: credential refused by policy user=%s origin=%s: %s", user, origin, why);
        api_reply_error(r, 403, "denied_by_policy", "%s", why[0] ? why : "refused by policy");
        goto out;
    }
    if (strcmp(mode, "anchor") == 0 && !anchor_can_record(api->anchor)) {
        /* Fail closed: a credential for a call that must be recorded is
         * useful only toward an anchor that records, and none runs here.
         * Where one runs, the relay holds the credential to its addresses. */
        se_info("api: credential refused user=%s origin=%s: %s, and no anchor runs here", user,
                origin, why);
        api_reply_json(r, 403, json_pack("{s:s, s:o, s:o, s:o}", "error", "recording_required",
                                         "reason", api_json_str(why), "rule",
                                         d.rule_id ? json_integer(d.rule_id) : json_null(),
                                         "rule_name", api_json_str(d.rule_name)));
        goto out;
    }
    if ((rc = pol_db_secret_newest(api->db, secret, sizeof(secret))) < 0) {
        api_reply_error(r, 503, "no_secret",
                        rc == SE_ERR_NOTFOUND ? "no TURN REST secret is configured "
                                                "(sedge secret add)"
                                              : "cannot read the TURN REST secret");
        goto out;
    }
    snprintf(username, sizeof(username), "%lld:%s:%s",
             (long long)time(NULL) + api->conf.credential_ttl, user, oid);
    rc = auth_rest_password(secret, username, strlen(username), pw, sizeof(pw));
    explicit_bzero(secret, sizeof(secret));
    if (rc < 0) {
        api_reply_error(r, 500, "internal", "cannot sign the credential");
        goto out;
    }
    uris = json_array();
    for (int i = 0; i < api->n_uris; i++)
        json_array_append_new(uris, json_string(api->uris[i]));
    api->ctr.credentials_issued++;
    se_info("api: credential issued user=%s origin=%s origin_id=%s mode=%s via %s from %s", user,
            origin, oid, mode, how, se_addr_ip_str(&r->peer, ip, sizeof(ip)));
    api_reply_json(r, 200, json_pack("{s:s, s:s, s:I, s:o, s:s}", "username", username,
                                     "credential", pw, "ttl", (json_int_t)api->conf.credential_ttl,
                                     "uris", uris, "mode", mode));
out:
    json_decref(body);
}
