/*
 * anchor.c - /v1/anchor: anchored calls for the browser extension (or any
 * signalling application), relay/anchor/ behind them.
 *
 *   POST   /v1/anchor                 {origin, side, offer} -> 201 {id, offer, record}
 *   POST   /v1/anchor/{id}/answer     {answer}              -> 200 {answer}
 *   POST   /v1/anchor/{id}/offer      {side, offer}         -> 200 {offer}
 *   POST   /v1/anchor/{id}/candidate  {side, candidate, sdpMid} | {side, end: true} -> 204
 *   GET    /v1/anchor/{id}            -> 200 both legs' state, sedge's candidates
 *   DELETE /v1/anchor/{id}            -> 204
 *
 * Authentication is that of POST /v1/credentials (IdP JWT or Basic); a
 * session is visible only to the user who created it (anyone else gets
 * 404). Policy decides at creation: a denied user/origin gets 403
 * denied_by_policy; a rule that requires recording makes the call
 * recorded, and where this sedge cannot record, 503 recording_unavailable
 * (fail closed). Creating and ending are audited under the user.
 */
#include "api/api_internal.h"
#include "auth/auth.h"
#include "core/err.h"
#include "core/log.h"
#include "policy/db.h"
#include "policy/rules.h"
#include "relay/anchor/anchor.h"

#include <event2/http.h>
#include <stdio.h>
#include <string.h>

/* Bodies carry descriptions: up to evhttp's own bound (4 x api.max_body). */
static size_t body_max(const struct api_req *r)
{
    return (size_t)r->api->conf.max_body * 4;
}

static void audit(struct api_req *r, const char *user, const char *action, const char *id,
                  const char *detail)
{
    char actor[API_USER_MAX + 16];

    snprintf(actor, sizeof(actor), "api:user/%s", user);
    pol_db_set_actor(r->api->db, actor);
    if (pol_db_audit(r->api->db, action, id, detail) < 0)
        se_err_log("api: cannot write the audit row %s %s", action, id);
    pol_db_set_actor(r->api->db, "serve");
}

/* Answer an anchor error code. */
static void reply_rc(struct api_req *r, int rc, const char *err)
{
    switch (rc) {
    case SE_ERR_PARSE:
    case SE_ERR_TOOBIG:
    case SE_ERR_UNSUPP:
        api_reply_error(r, 400, "bad_sdp", "%s", err);
        break;
    case SE_ERR_NOTFOUND:
        api_reply_error(r, 404, "not_found", "no such anchored call");
        break;
    case SE_ERR_INVAL:
        api_reply_error(r, 409, "conflict", "%s", err);
        break;
    case SE_ERR_LIMIT:
    case SE_ERR_FULL:
        evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", "10");
        api_reply_error(r, 429, "too_many_sessions", "%s", err);
        break;
    case SE_ERR_AGAIN:
        evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", "1");
        api_reply_error(r, 503, "busy", "%s", err);
        break;
    default:
        api_reply_error(r, 500, "internal", "%s", err[0] ? err : se_err(rc));
    }
}

/* The authenticated user and the body, with only the allowed fields.
 * false: a response has been sent. */
static bool begin(struct api_req *r, char *user, size_t ulen, json_t **body,
                  const char *const *allowed)
{
    const char *how;

    *body = NULL;
    if (!api_authenticate_user(r, user, ulen, &how))
        return false;
    if (!r->api->anchor) {
        api_reply_error(r, 503, "anchor_unavailable", "this sedge has no anchor block");
        return false;
    }
    if (!allowed)
        return true;
    if (!(*body = api_body_object_max(r, body_max(r))))
        return false;
    if (!api_only_fields(r, *body, allowed)) {
        json_decref(*body);
        *body = NULL;
        return false;
    }
    return true;
}

static const char *string_field(json_t *body, const char *key, size_t *len)
{
    json_t *v = json_object_get(body, key);

    if (!json_is_string(v))
        return NULL;
    if (len)
        *len = json_string_length(v);
    return json_string_value(v);
}

/* "side": "inside" (the default where allowed) or "outside"; -1 if bad. */
static int side_field(json_t *body, bool required)
{
    json_t *v = json_object_get(body, "side");

    if (!v)
        return required ? -1 : ANCHOR_INSIDE;
    if (json_is_string(v) && strcmp(json_string_value(v), "inside") == 0)
        return ANCHOR_INSIDE;
    if (json_is_string(v) && strcmp(json_string_value(v), "outside") == 0)
        return ANCHOR_OUTSIDE;
    return -1;
}

void api_h_anchor_create(struct api_req *r)
{
    static const char *const fields[] = {"origin", "side", "offer", NULL};
    struct api_server *api = r->api;
    char user[API_USER_MAX], oid[AUTH_ORIGIN_ID_MAX + 1], why[256] = "", err[256] = "";
    char id[ANCHOR_ID_LEN], detail[512];
    const char *origin, *offer, *mode;
    struct pol_decision d;
    size_t olen = 0, sdp_len = 0;
    char *sdp_out = NULL;
    json_t *body;
    int side, rc;

    if (!begin(r, user, sizeof(user), &body, fields))
        return;
    if (!api->ready) { /* draining (SIGTERM): calls in progress go on, no new ones */
        api_reply_error(r, 503, "not_ready", "sedge is draining for shutdown: no new calls");
        goto out;
    }
    if (!(origin = string_field(body, "origin", &olen)) ||
        auth_origin_id(origin, olen, oid, sizeof(oid)) < 0) {
        api_reply_error(r, 400, "bad_request",
                        "\"origin\" must be a web origin like \"https://meet.example.com\"");
        goto out;
    }
    if ((side = side_field(body, false)) < 0 || !(offer = string_field(body, "offer", &sdp_len))) {
        api_reply_error(r, 400, "bad_request",
                        "\"offer\" (SDP text) is required; \"side\" is \"inside\" or \"outside\"");
        goto out;
    }
    if (api_credential_mode(api, user, origin, &r->peer, &mode, &d, why, sizeof(why)) < 0) {
        se_info("api: anchored call refused by policy user=%s origin=%s: %s", user, origin, why);
        api_reply_error(r, 403, "denied_by_policy", "%s", why[0] ? why : "refused by policy");
        goto out;
    }
    bool record = d.record == POL_RECORD_ALWAYS;
    if (record && !anchor_can_record(api->anchor)) {
        api_reply_json(r, 503, json_pack("{s:s, s:s, s:o, s:o}", "error", "recording_unavailable",
                                         "reason", "policy requires recording and "
                                                   "recording.dir is not configured",
                                         "rule", d.rule_id ? json_integer(d.rule_id) : json_null(),
                                         "rule_name", api_json_str(d.rule_name)));
        goto out;
    }
    struct anchor_request rq = {
        .user = user,
        .origin = origin,
        .client = &r->peer,
        .side = side,
        .sdp = offer,
        .sdp_len = sdp_len,
        .rule_id = d.rule_id,
        .rule_name = d.rule_name,
        .record = record,
    };
    if ((rc = anchor_create(api->anchor, &rq, id, &sdp_out, err, sizeof(err))) < 0) {
        se_info("api: anchored call refused user=%s origin=%s: %s", user, origin, err);
        reply_rc(r, rc, err);
        goto out;
    }
    snprintf(detail, sizeof(detail), "origin=%s side=%s record=%s rule=%lld", origin,
             side == ANCHOR_INSIDE ? "inside" : "outside", record ? "always" : "never",
             (long long)d.rule_id);
    audit(r, user, "anchor.create", id, detail);
    api_reply_json(r, 201, json_pack("{s:s, s:s, s:b}", "id", id, "offer", sdp_out, "record",
                                     record));
out:
    free(sdp_out);
    json_decref(body);
}

static void describe(struct api_req *r, bool is_offer)
{
    static const char *const answer_fields[] = {"answer", NULL};
    static const char *const offer_fields[] = {"side", "offer", NULL};
    char user[API_USER_MAX], err[256] = "";
    const char *sdp;
    char *out = NULL;
    size_t len = 0;
    json_t *body;
    int side = -1, rc;

    if (!begin(r, user, sizeof(user), &body, is_offer ? offer_fields : answer_fields))
        return;
    if ((is_offer && (side = side_field(body, true)) < 0) ||
        !(sdp = string_field(body, is_offer ? "offer" : "answer", &len))) {
        api_reply_error(r, 400, "bad_request", is_offer ? "\"side\" (\"inside\" or \"outside\") "
                                                          "and \"offer\" (SDP text) are required"
                                                        : "\"answer\" (SDP text) is required");
        goto out;
    }
    rc = is_offer ? anchor_offer(r->api->anchor, r->params[0], user, side, sdp, len, &out, err,
                                 sizeof(err))
                  : anchor_answer(r->api->anchor, r->params[0], user, sdp, len, &out, err,
                                  sizeof(err));
    if (rc < 0) {
        reply_rc(r, rc, err);
        goto out;
    }
    api_reply_json(r, 200, json_pack("{s:s}", is_offer ? "offer" : "answer", out));
out:
    free(out);
    json_decref(body);
}

void api_h_anchor_answer(struct api_req *r)
{
    describe(r, false);
}

void api_h_anchor_offer(struct api_req *r)
{
    describe(r, true);
}

void api_h_anchor_candidate(struct api_req *r)
{
    /* usernameFragment and sdpMLineIndex: RTCIceCandidate.toJSON() sends them. */
    static const char *const fields[] = {"side", "candidate", "sdpMid", "sdpMLineIndex",
                                         "usernameFragment", "end", NULL};
    char user[API_USER_MAX], err[256] = "";
    const char *cand = NULL, *mid = NULL;
    json_t *body, *end;
    int side, rc;

    if (!begin(r, user, sizeof(user), &body, fields))
        return;
    end = json_object_get(body, "end");
    cand = string_field(body, "candidate", NULL);
    mid = string_field(body, "sdpMid", NULL);
    if ((side = side_field(body, true)) < 0 || (end && !json_is_true(end)) || (!!end == !!cand)) {
        api_reply_error(r, 400, "bad_request", "give \"side\" and either \"candidate\" "
                                               "(\"candidate:...\") or \"end\": true");
        goto out;
    }
    if (cand && !cand[0]) {
        /* An empty candidate is how browsers say end-of-candidates. */
        cand = NULL;
    }
    if ((rc = anchor_candidate(r->api->anchor, r->params[0], user, side, cand, mid, err,
                               sizeof(err))) < 0) {
        if (rc == SE_ERR_PARSE)
            api_reply_error(r, 400, "bad_candidate", "%s", err);
        else
            reply_rc(r, rc, err);
        goto out;
    }
    api_reply_text(r, 204, "text/plain", "", 0);
out:
    json_decref(body);
}

static json_t *leg_json(const struct anchor_leg_info *l)
{
    json_t *cands = json_array();

    for (int i = 0; i < l->n_cand; i++)
        json_array_append_new(cands, json_string(l->cand[i]));
    return json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                     "ice", l->ice, "dtls", l->dtls, "dtls_role", l->role[0] ? l->role : NULL,
                     "srtp", l->srtp[0] ? l->srtp : NULL, "local", l->local, "remote",
                     l->remote[0] ? json_string(l->remote) : json_null(), "candidates", cands,
                     "bytes_in", (json_int_t)l->bytes_in, "bytes_out", (json_int_t)l->bytes_out,
                     "packets_in", (json_int_t)l->pkts_in, "packets_out", (json_int_t)l->pkts_out,
                     "srtp_auth_failures", (json_int_t)l->auth_failures, "srtp_replays",
                     (json_int_t)l->replays, "dropped", (json_int_t)l->dropped);
}

void api_h_anchor_get(struct api_req *r)
{
    char user[API_USER_MAX];
    struct anchor_info *in;
    json_t *body;

    if (!begin(r, user, sizeof(user), &body, NULL))
        return;
    if (!(in = calloc(1, sizeof(*in)))) {
        api_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    int rc = anchor_get(r->api->anchor, r->params[0], user, in);
    if (rc < 0) {
        reply_rc(r, rc, "");
        free(in);
        return;
    }
    api_reply_json(r, 200,
                   json_pack("{s:s, s:s, s:o, s:s, s:b, s:o, s:o, s:s?, s:s, s:o, s:{s:o, s:o}}",
                             "id", in->id, "user", in->user, "origin",
                             in->origin[0] ? api_json_str(in->origin) : json_null(), "state",
                             in->state, "record", in->record, "recording",
                             in->recording[0] ? json_string(in->recording) : json_null(), "rule",
                             in->rule_id ? json_integer(in->rule_id) : json_null(), "rule_name",
                             in->rule_name[0] ? in->rule_name : NULL, "fingerprint",
                             anchor_fingerprint(r->api->anchor), "started",
                             json_integer(in->started), "legs", "inside",
                             leg_json(&in->leg[ANCHOR_INSIDE]), "outside",
                             leg_json(&in->leg[ANCHOR_OUTSIDE])));
    free(in);
}

void api_h_anchor_delete(struct api_req *r)
{
    char user[API_USER_MAX];
    json_t *body;

    if (!begin(r, user, sizeof(user), &body, NULL))
        return;
    int rc = anchor_delete(r->api->anchor, r->params[0], user);
    if (rc < 0) {
        reply_rc(r, rc, "");
        return;
    }
    audit(r, user, "anchor.delete", r->params[0], "ended through the API");
    api_reply_text(r, 204, "text/plain", "", 0);
}
