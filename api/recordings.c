/*
 * recordings.c - the compliance API: /v1/recordings (docs/recording.md).
 *
 * Roles (checked by http.c's route table): compliance may list, show,
 * download, export, verify, hold and release, and delete what retention
 * allows; auditor sees metadata only (list, show, audit trail, keys);
 * admin sees metadata, verifies, and may force a deletion with a reason.
 * Extension credentials (JWT, Basic) are not role tokens: 401.
 *
 * Every call writes one audit row here (the route has RF_OWN_AUDIT):
 * actor (the token), object (the recording id), action
 * (recording.list|show|audit|download|export|verify|hold|release|delete)
 * and a detail with the status and, for bodies, the bytes actually sent.
 *
 * Files are served only by name from the recording's manifest (plus the
 * manifest and its signature), opened through the directory with
 * O_NOFOLLOW, checked to be regular files of the manifest's size, and
 * streamed (stream.c) with Range support and ETag = "<SHA-256>". A media
 * element cannot send an Authorization header, so GET /v1/recordings/{id}
 * gives compliance tokens a per-file URL with a grant: an HMAC under a
 * per-process key of (expiry, actor, id, file), valid GRANT_TTL seconds,
 * audited under the token that asked for it.
 */
#include "api/api_internal.h"
#include "auth/auth.h"
#include "core/err.h"
#include "core/log.h"
#include "policy/db.h"
#include "policy/recordings.h"
#include "record/catalog.h"
#include "record/export.h"
#include "record/manifest.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
    GRANT_TTL = 3600,
    REASON_MAX = 512,
    META_SHOW_MAX = 4 << 20,
    AUDIT_TRAIL_MAX = 200,
};

/* ---- helpers ---- */

__attribute__((format(printf, 4, 5))) static void audit(struct api_req *r, const char *action,
                                                        const char *object, const char *fmt, ...)
{
    char detail[400];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(detail))
        snprintf(detail + n, sizeof(detail) - (size_t)n, "%sstatus=%d", n ? " " : "", r->status);
    if (pol_db_audit(r->api->db, action, object, detail) < 0)
        se_err_log("api: cannot write the audit row %s %s by %s", action, object, r->actor);
}

static bool catalog_ready(struct api_req *r, const char *action)
{
    if (r->api->cat)
        return true;
    api_reply_error(r, 503, "not_configured", "recording.dir is not set: there is no catalog");
    audit(r, action, "recordings", "%s", "");
    return false;
}

/* The {id} of the path: a recording id, else 404 (audited). */
static const char *path_id(struct api_req *r, const char *action)
{
    const char *id = r->params[0];

    if (!rec_name_ok(id) || strlen(id) >= REC_ID_MAX) {
        api_reply_error(r, 404, "not_found", "no recording %.64s", id);
        audit(r, action, "recordings", "bad_id");
        return NULL;
    }
    return id;
}

/* What the handlers need of a row. */
struct row {
    json_t *json;
    char dir[512], status[16];
    int verified_ok;
};

static int take_row(const struct pol_recording *rec, void *arg)
{
    struct row *w = arg;
    w->json = pol_recording_json(rec);
    snprintf(w->dir, sizeof(w->dir), "%.511s", rec->dir);
    snprintf(w->status, sizeof(w->status), "%s", rec->status);
    w->verified_ok = rec->verified_ok;
    return w->json ? 0 : SE_ERR_NOMEM;
}

/* A catalog call failed with rc: a database failure is answered as the
 * admin endpoints answer it (503 database_busy with Retry-After while
 * another process holds the lock, 503 database_unavailable, else 500). */
static void reply_failed(struct api_req *r, int rc, const char *what)
{
    if (rc == SE_ERR_DB)
        api_reply_db_error(r);
    else
        api_reply_error(r, 500, "internal", "%s: %s", what, se_err(rc));
}

/* Load the row of id into w; on failure a reply was sent and audited. */
static bool load_row(struct api_req *r, const char *id, const char *action, struct row *w)
{
    int rc = pol_rec_get(r->api->db, id, take_row, w);

    if (rc == SE_ERR_NOTFOUND)
        api_reply_error(r, 404, "not_found", "no recording %s", id);
    else if (rc < 0)
        reply_failed(r, rc, "cannot read the catalog");
    if (rc < 0) {
        audit(r, action, id, "%s", "");
        json_decref(w->json);
        w->json = NULL;
    }
    return rc == 0;
}

/* Optional JSON body (DELETE may come without one). NULL + true: none. */
static bool optional_body(struct api_req *r, json_t **body)
{
    *body = NULL;
    if (evbuffer_get_length(evhttp_request_get_input_buffer(r->req)) == 0)
        return true;
    return (*body = api_body_object(r)) != NULL;
}

/* body.reason: NULL if absent; false (400 sent) if malformed. */
static bool body_reason(struct api_req *r, json_t *body, bool required, const char **out)
{
    json_t *v = json_object_get(body, "reason");
    const char *s = json_string_value(v);

    *out = NULL;
    if (!v && !required)
        return true;
    if (!s || !s[0] || json_string_length(v) > REASON_MAX || strlen(s) != json_string_length(v)) {
        api_reply_error(r, 400, "bad_request",
                        "\"reason\" must be a non-empty string of at most "
                        "%d bytes",
                        REASON_MAX);
        return false;
    }
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20) {
            api_reply_error(r, 400, "bad_request", "\"reason\" must not hold control characters");
            return false;
        }
    *out = s;
    return true;
}

/* ---- grants (file URLs for media elements) ---- */

static const uint8_t *grant_key(void)
{
    static uint8_t key[32];
    static bool have;
    if (!have && RAND_bytes(key, sizeof(key)) == 1)
        have = true;
    return have ? key : NULL;
}

static void grant_mac(int64_t exp, const char *actor, const char *id, const char *name,
                      char out[65])
{
    char msg[512];
    uint8_t mac[32];
    unsigned int n = 32;
    const uint8_t *k = grant_key();

    int len = snprintf(msg, sizeof(msg), "%lld|%s|%s|%s", (long long)exp, actor, id, name);
    if (!k || !HMAC(EVP_sha256(), k, 32, (const uint8_t *)msg, (size_t)len, mac, &n))
        memset(mac, 0, sizeof(mac));
    rec_hex(mac, 32, out);
}

/* "<exp>.<hex actor>.<hex mac>" */
static void grant_make(const struct api_req *r, const char *id, const char *name, char *out,
                       size_t cap)
{
    int64_t exp = (int64_t)time(NULL) + GRANT_TTL;
    char hex_actor[2 * sizeof(r->actor) + 1], mac[65];

    rec_hex((const uint8_t *)r->actor, strlen(r->actor), hex_actor);
    grant_mac(exp, r->actor, id, name, mac);
    snprintf(out, cap, "%lld.%s.%s", (long long)exp, hex_actor, mac);
}

bool api_rec_grant_auth(struct api_req *r)
{
    char grant[600], actor[sizeof(r->actor)], mac[65];
    const char *hdr = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Authorization");
    long long exp;
    int used = 0;
    size_t alen = 0;

    if (hdr || api_query_get(r->query, "grant", grant, sizeof(grant)) < 0)
        return false;
    char *d1 = strchr(grant, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d2 || sscanf(grant, "%lld%n", &exp, &used) != 1 || grant + used != d1 ||
        exp < (long long)time(NULL) || strlen(d2 + 1) != 64)
        return false;
    alen = (size_t)(d2 - d1 - 1) / 2;
    if ((size_t)(d2 - d1 - 1) != 2 * alen || alen + 1 > sizeof(actor) ||
        rec_unhex(d1 + 1, (uint8_t *)actor, alen) < 0)
        return false;
    actor[alen] = 0;
    for (size_t i = 0; i < alen; i++)
        if (actor[i] < 0x20 || actor[i] > 0x7e)
            return false;
    if (strncmp(actor, "api:token-", 10) != 0)
        return false;
    grant_mac(exp, actor, r->params[0], r->params[1], mac);
    if (CRYPTO_memcmp(mac, d2 + 1, 64) != 0)
        return false;
    /* A deleted (or re-roled) token's grants die with it. */
    long long tid = strtoll(actor + 10, NULL, 10);
    if (tid <= 0 || !pol_rec_token_alive(r->api->db, tid, "compliance"))
        return false;
    snprintf(r->actor, sizeof(r->actor), "%s", actor);
    r->role = AUTH_ROLE_COMPLIANCE;
    pol_db_set_actor(r->api->db, r->actor);
    return true;
}

/* ---- list ---- */

/* unix seconds, "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ"; -1 if neither */
static int64_t parse_when(const char *s)
{
    struct tm tm;
    char *end;
    const char *rest;
    long long v = strtoll(s, &end, 10);

    if (*s && !*end && v >= 0)
        return v;
    memset(&tm, 0, sizeof(tm));
    if ((rest = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) && !*rest)
        return (int64_t)timegm(&tm);
    memset(&tm, 0, sizeof(tm));
    if ((rest = strptime(s, "%Y-%m-%d", &tm)) && !*rest)
        return (int64_t)timegm(&tm);
    return -1;
}

struct list_ctx {
    json_t *arr;
    char last[REC_ID_MAX];
    int n;
};

static int list_row(const struct pol_recording *rec, void *arg)
{
    struct list_ctx *l = arg;
    json_t *o = pol_recording_json(rec);
    snprintf(l->last, sizeof(l->last), "%s", rec->id);
    l->n++;
    return o && json_array_append_new(l->arr, o) == 0 ? 0 : SE_ERR_NOMEM;
}

void api_h_rec_list(struct api_req *r)
{
    struct evkeyvalq q = {0};
    struct pol_rec_filter f = {.limit = POL_REC_PAGE_DEFAULT};
    struct list_ctx l = {0};
    const char *bad = NULL;
    int rc;

    if (r->query && evhttp_parse_query_str(r->query, &q) < 0)
        bad = "the query string";
    for (struct evkeyval *kv = q.tqh_first; kv && !bad; kv = kv->next.tqe_next) {
        const char *k = kv->key, *v = kv->value;
        if (!strcmp(k, "user") && v[0])
            f.user = v;
        else if (!strcmp(k, "origin") && v[0])
            f.origin = v;
        else if (!strcmp(k, "status") && pol_rec_status_index(v) >= 0)
            f.status = v;
        else if (!strcmp(k, "since") && (f.since = parse_when(v)) >= 0)
            ;
        else if (!strcmp(k, "until") && (f.until = parse_when(v)) >= 0)
            ;
        else if (!strcmp(k, "limit") && atoi(v) >= 1 && atoi(v) <= POL_REC_PAGE_MAX &&
                 strspn(v, "0123456789") == strlen(v))
            f.limit = atoi(v);
        else if (!strcmp(k, "before") && rec_name_ok(v))
            f.before = v;
        else
            bad = k;
    }
    if (bad) {
        api_reply_error(r, 400, "bad_request",
                        "bad parameter %.64s (user, origin, since, until: unix seconds or "
                        "YYYY-MM-DD[THH:MM:SSZ], status, limit 1-%d, before: an id)",
                        bad, POL_REC_PAGE_MAX);
        audit(r, "recording.list", "recordings", "query=bad");
        goto out;
    }
    l.arr = json_array();
    rc = l.arr ? pol_rec_list(r->api->db, &f, list_row, &l) : SE_ERR_NOMEM;
    if (rc == SE_ERR_NOTFOUND)
        api_reply_error(r, 400, "bad_request", "before: no recording %s", f.before);
    else if (rc < 0)
        reply_failed(r, rc, "cannot read the catalog");
    else
        api_reply_json(r, 200,
                       json_pack("{s:O, s:o}", "recordings", l.arr, "next",
                                 l.n == f.limit ? json_string(l.last) : json_null()));
    audit(r, "recording.list", "recordings", "user=%.64s origin=%.80s status=%s rows=%d",
          f.user ? f.user : "*", f.origin ? f.origin : "*", f.status ? f.status : "*", l.n);
    json_decref(l.arr);
out:
    evhttp_clear_headers(&q);
}

/* ---- one recording ---- */

static json_t *load_metadata(const char *dir)
{
    char p[600];
    struct stat sb;

    snprintf(p, sizeof(p), "%s/metadata.json", dir);
    if (lstat(p, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > META_SHOW_MAX)
        return json_null();
    json_t *m = json_load_file(p, JSON_REJECT_DUPLICATES, NULL);
    return m ? m : json_null();
}

void api_h_rec_show(struct api_req *r)
{
    struct row w = {0};
    const char *id = path_id(r, "recording.show");
    size_t i;
    json_t *f;

    if (!id || !load_row(r, id, "recording.show", &w))
        return;
    struct stat sb;
    bool present = lstat(w.dir, &sb) == 0 && S_ISDIR(sb.st_mode);
    json_object_set_new(w.json, "directory_present", json_boolean(present));
    json_object_set_new(w.json, "metadata", present ? load_metadata(w.dir) : json_null());
    /* Compliance gets a URL per file that a media element can fetch. */
    json_array_foreach(json_object_get(w.json, "files"), i, f)
    {
        const char *name = json_string_value(json_object_get(f, "name"));
        char grant[600], url[900];
        if (!name || r->role != AUTH_ROLE_COMPLIANCE)
            continue;
        grant_make(r, id, name, grant, sizeof(grant));
        snprintf(url, sizeof(url), "/v1/recordings/%s/files/%s?grant=%s", id, name, grant);
        json_object_set_new(f, "url", json_string(url));
    }
    api_reply_json(r, 200, w.json);
    audit(r, "recording.show", id, "%s", "");
}

static int audit_row(const struct pol_audit_row *a, void *arg)
{
    return json_array_append_new(
               arg, json_pack("{s:I, s:I, s:o, s:o, s:o}", "id", (json_int_t)a->id, "at",
                              (json_int_t)a->at, "actor", api_json_str(a->actor), "action",
                              api_json_str(a->action), "detail", api_json_str(a->detail))) < 0
               ? SE_ERR_NOMEM
               : 0;
}

void api_h_rec_audit(struct api_req *r)
{
    const char *id = path_id(r, "recording.audit");
    json_t *a = json_array();
    int rc;

    if (!id || !a) {
        json_decref(a);
        return;
    }
    if (!pol_rec_exists(r->api->db, id)) {
        api_reply_error(r, 404, "not_found", "no recording %s", id);
        json_decref(a);
    } else if ((rc = pol_rec_audit(r->api->db, id, AUDIT_TRAIL_MAX, audit_row, a)) < 0) {
        reply_failed(r, rc, "cannot read the audit log");
        json_decref(a);
    } else {
        api_reply_json(r, 200, json_pack("{s:s, s:o}", "id", id, "audit", a));
    }
    audit(r, "recording.audit", id, "%s", "");
}

void api_h_rec_keys(struct api_req *r)
{
    json_t *keys = json_array();
    size_t kl;
    const char *sid = NULL;

    if (!catalog_ready(r, "recording.keys")) {
        json_decref(keys);
        return;
    }
    const struct rec_keyring *kr = rec_catalog_keyring(r->api->cat);
    rec_catalog_key(r->api->cat, &kl, &sid);
    for (size_t i = 0; i < rec_keyring_count(kr); i++) {
        const char *kid;
        size_t len;
        const uint8_t *k = rec_keyring_get(kr, i, &len, &kid);
        char *pem = rec_key_public_pem(k, len);
        json_array_append_new(keys, json_pack("{s:s, s:s, s:b, s:o}", "id", kid, "alg",
                                              rec_key_alg(k, len), "signing",
                                              kl && sid && !strcmp(kid, sid), "public_key",
                                              pem ? json_string(pem) : json_null()));
        free(pem);
    }
    api_reply_json(r, 200, json_pack("{s:o}", "keys", keys));
    audit(r, "recording.keys", "recordings", "%s", "");
}

/* ---- files ---- */

static const char *content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return "application/octet-stream";
    if (!strcmp(dot, ".mp4"))
        return "video/mp4";
    if (!strcmp(dot, ".ogg"))
        return "audio/ogg";
    if (!strcmp(dot, ".flv"))
        return "video/x-flv";
    if (!strcmp(dot, ".json"))
        return "application/json";
    return "text/plain; charset=utf-8";
}

/* The manifest's hash and size for name (or for the manifest itself and
 * its signature). false: not a file of this recording. */
static bool manifest_file(const struct rec_manifest *m, const char *dir, const char *name,
                          uint8_t sha[32], uint64_t *bytes)
{
    if (!strcmp(name, REC_MANIFEST_NAME)) {
        memcpy(sha, m->sha256, 32);
        *bytes = m->len;
        return true;
    }
    if (!strcmp(name, REC_SIGNATURE_NAME)) {
        char p[800];
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        return rec_sha256_file(p, sha, bytes) == 0;
    }
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->e[i].name, name)) {
            memcpy(sha, m->e[i].sha256, 32);
            *bytes = m->e[i].bytes;
            return true;
        }
    return false;
}

/* Open name in dir without following links: a regular file. -1 if not. */
static int open_in(const char *dir, const char *name, struct stat *sb)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), fd;

    if (dfd < 0)
        return -1;
    fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    close(dfd);
    if (fd >= 0 && (fstat(fd, sb) != 0 || !S_ISREG(sb->st_mode))) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* 304/206/200 for a file whose ETag and size are known; takes fd. */
static void send_file(struct api_req *r, const char *id, const char *name, int fd, uint64_t size,
                      const char *etag, int verified_ok)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(r->req),
                     *out = evhttp_request_get_output_headers(r->req);
    const char *range = evhttp_find_header(in, "Range"),
               *if_range = evhttp_find_header(in, "If-Range"),
               *inm = evhttp_find_header(in, "If-None-Match");
    uint64_t start = 0, end = size ? size - 1 : 0;
    struct rec_export x;
    char hv[160], detail[200];
    int code = 200;

    evhttp_add_header(out, "ETag", etag);
    evhttp_add_header(out, "Accept-Ranges", "bytes");
    evhttp_add_header(out, "X-Sedge-Verified",
                      verified_ok < 0 ? "never"
                      : verified_ok   ? "ok"
                                      : "failed");
    if (verified_ok == 0) /* served, but said: the last verification failed */
        evhttp_add_header(out, "Warning",
                          "199 sedge \"the last verification of this recording "
                          "failed\"");
    if (inm && (strstr(inm, etag) || !strcmp(inm, "*"))) {
        close(fd);
        api_reply_text(r, 304, content_type(name), "", 0);
        audit(r, "recording.download", id, "file=%s bytes=0", name);
        return;
    }
    if (range && (!if_range || !strcmp(if_range, etag))) {
        int rc = api_parse_range(range, size, &start, &end);
        if (rc == SE_ERR_PARSE || rc == SE_ERR_LIMIT) {
            close(fd);
            snprintf(hv, sizeof(hv), "bytes */%llu", (unsigned long long)size);
            evhttp_add_header(out, "Content-Range", hv);
            api_reply_error(r, 416, "bad_range",
                            rc == SE_ERR_PARSE ? "malformed Range \"%.80s\""
                                               : "Range \"%.80s\" is past the end of the file",
                            range);
            audit(r, "recording.download", id, "file=%s range=%.40s", name, range);
            return;
        }
        if (rc == 0) {
            code = 206;
            snprintf(hv, sizeof(hv), "bytes %llu-%llu/%llu", (unsigned long long)start,
                     (unsigned long long)end, (unsigned long long)size);
            evhttp_add_header(out, "Content-Range", hv);
        }
    }
    evhttp_add_header(out, "Content-Type", content_type(name));
    snprintf(hv, sizeof(hv), "inline; filename=\"%s\"", name);
    evhttp_add_header(out, "Content-Disposition", hv);
    if (rec_export_file(&x, fd, start, size ? end - start + 1 : 0) < 0) {
        api_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    snprintf(detail, sizeof(detail), "file=%s range=%llu-%llu", name, (unsigned long long)start,
             (unsigned long long)end);
    api_stream_start(r, code, &x, "recording.download", id, detail);
}

void api_h_rec_file(struct api_req *r)
{
    struct row w = {0};
    struct rec_manifest m;
    const char *id = path_id(r, "recording.download"), *name = r->params[1];
    char err[256], etag[80], h[65];
    uint8_t sha[32];
    uint64_t bytes = 0;
    struct stat sb;
    int fd;

    if (!id || !load_row(r, id, "recording.download", &w))
        return;
    json_decref(w.json);
    if (!rec_name_ok(name)) {
        api_reply_error(r, 404, "not_found", "no file %.64s in recording %s", name, id);
        audit(r, "recording.download", id, "file=bad_name");
        return;
    }
    if (rec_manifest_read(w.dir, &m, err, sizeof(err)) < 0) {
        bool gone = lstat(w.dir, &sb) != 0;
        api_reply_error(r, gone ? 410 : 409, gone ? "gone" : "not_sealed", "%s",
                        gone ? "the recording's directory is missing"
                             : "the recording has no manifest yet (in progress, or lost)");
        audit(r, "recording.download", id, "file=%s", name);
        return;
    }
    bool listed = manifest_file(&m, w.dir, name, sha, &bytes);
    rec_manifest_release(&m);
    if (!listed) {
        api_reply_error(r, 404, "not_found",
                        "no file %s in recording %s (only files of its "
                        "manifest are served)",
                        name, id);
        audit(r, "recording.download", id, "file=%s", name);
        return;
    }
    if ((fd = open_in(w.dir, name, &sb)) < 0 || (uint64_t)sb.st_size != bytes) {
        if (fd >= 0)
            close(fd);
        api_reply_error(r, 409, "tampered",
                        "%s is %s: the directory was changed after sealing; run verify", name,
                        fd < 0 ? "missing or not a regular file" : "not of the manifest's size");
        audit(r, "recording.download", id, "file=%s", name);
        return;
    }
    rec_hex(sha, 32, h);
    snprintf(etag, sizeof(etag), "\"%s\"", h);
    send_file(r, id, name, fd, bytes, etag, w.verified_ok);
}

void api_h_rec_export(struct api_req *r)
{
    struct row w = {0};
    struct rec_export x;
    const char *id = path_id(r, "recording.export");
    char err[256], hv[160];
    int rc;

    if (!id || !catalog_ready(r, "recording.export") || !load_row(r, id, "recording.export", &w))
        return;
    json_decref(w.json);
    rc = rec_export_plan(w.dir, id, rec_catalog_keyring(r->api->cat), &x, err, sizeof(err));
    if (rc < 0) {
        struct stat sb;
        if (rc == SE_ERR_NOTFOUND && lstat(w.dir, &sb) != 0)
            api_reply_error(r, 410, "gone", "the recording's directory is missing");
        else if (rc == SE_ERR_NOTFOUND)
            api_reply_error(r, 409, "not_sealed", "the recording has no manifest yet");
        else if (rc == SE_ERR_AUTH)
            api_reply_error(r, 409, "tampered", "%s; run verify", err);
        else
            api_reply_error(r, 500, "internal", "cannot build the archive: %s", se_err(rc));
        audit(r, "recording.export", id, "%s", "");
        return;
    }
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->req);
    evhttp_add_header(out, "Content-Type", "application/x-tar");
    snprintf(hv, sizeof(hv), "attachment; filename=\"%s.tar\"", id);
    evhttp_add_header(out, "Content-Disposition", hv);
    api_stream_start(r, 200, &x, "recording.export", id, "format=tar");
}

/* ---- verify, hold, delete ---- */

void api_h_rec_verify(struct api_req *r)
{
    struct rec_verify v;
    const char *id = path_id(r, "recording.verify");

    if (!id || !catalog_ready(r, "recording.verify"))
        return;
    /* rec_catalog_verify writes the audit row (recording.verify, outcome) */
    int rc = rec_catalog_verify(r->api->cat, r->api->db, id, &v);
    if (rc == SE_ERR_NOTFOUND && !v.error[0]) {
        api_reply_error(r, 404, "not_found", "no recording %s", id);
        audit(r, "recording.verify", id, "%s", "");
    } else if (rc == SE_ERR_DB) {
        api_reply_db_error(r); /* the outcome could not be recorded */
    } else {
        api_reply_json(r, 200, rec_verify_json(&v, id));
    }
    rec_verify_free(&v);
}

void api_h_rec_hold(struct api_req *r)
{
    static const char *const fields[] = {"reason", NULL};
    const char *id = path_id(r, "recording.hold"), *reason;
    json_t *body = NULL;

    if (!id)
        return;
    if (!(body = api_body_object(r)) || !api_only_fields(r, body, fields) ||
        !body_reason(r, body, true, &reason)) {
        audit(r, "recording.hold", id, "%s", "");
        json_decref(body);
        return;
    }
    int rc = pol_rec_hold(r->api->db, id, reason); /* audited with the reason */
    if (rc == 0)
        api_reply_json(r, 200,
                       json_pack("{s:s, s:s, s:s}", "id", id, "status", "held", "reason", reason));
    else if (rc == SE_ERR_NOTFOUND)
        api_reply_error(r, 404, "not_found", "no recording %s", id);
    else if (rc == SE_ERR_EXISTS)
        api_reply_error(r, 409, "already_held", "%s is already on legal hold", id);
    else
        reply_failed(r, rc, "cannot put the hold");
    if (rc < 0)
        audit(r, "recording.hold", id, "%s", "");
    json_decref(body);
}

void api_h_rec_release(struct api_req *r)
{
    static const char *const fields[] = {"reason", NULL};
    const char *id = path_id(r, "recording.release"), *reason = NULL;
    json_t *body;

    if (!id)
        return;
    if (!optional_body(r, &body) ||
        (body && (!api_only_fields(r, body, fields) || !body_reason(r, body, false, &reason)))) {
        audit(r, "recording.release", id, "%s", "");
        json_decref(body);
        return;
    }
    int rc = pol_rec_release(r->api->db, id, reason); /* audited */
    if (rc == 0)
        api_reply_json(r, 200, json_pack("{s:s, s:s}", "id", id, "status", "released"));
    else if (rc == SE_ERR_NOTFOUND)
        api_reply_error(r, 404, "not_found", "no recording %s", id);
    else if (rc == SE_ERR_INVAL)
        api_reply_error(r, 409, "not_held", "%s is not on hold", id);
    else
        reply_failed(r, rc, "cannot release the hold");
    if (rc < 0)
        audit(r, "recording.release", id, "%s", "");
    json_decref(body);
}

void api_h_rec_delete(struct api_req *r)
{
    static const char *const fields[] = {"reason", "force", NULL};
    const char *id = path_id(r, "recording.delete"), *reason = NULL;
    json_t *body = NULL;
    bool force = false;
    char why[256];

    if (!id || !catalog_ready(r, "recording.delete"))
        return;
    if (!optional_body(r, &body) || (body && !api_only_fields(r, body, fields)))
        goto bad;
    json_t *f = json_object_get(body, "force");
    if (f && !json_is_boolean(f)) {
        api_reply_error(r, 400, "bad_request", "\"force\" must be true or false");
        goto bad;
    }
    force = json_is_true(f);
    if (force && r->role != AUTH_ROLE_ADMIN) {
        api_reply_error(r, 403, "forbidden", "only an admin token may force a deletion");
        goto bad;
    }
    if (!body_reason(r, body, force, &reason))
        goto bad;
    int rc = rec_catalog_delete(r->api->cat, r->api->db, id, force, "recording.delete", reason, why,
                                sizeof(why));
    if (rc == 0)
        api_reply_json(
            r, 200, json_pack("{s:s, s:s, s:b}", "id", id, "status", "deleted", "forced", force));
    else if (rc == SE_ERR_NOTFOUND)
        api_reply_error(r, 404, "not_found", "no recording %s", id);
    else if (rc == SE_ERR_DENIED)
        api_reply_error(r, 409, "not_deletable", "%s", why);
    else if (rc == SE_ERR_DB)
        api_reply_db_error(r);
    else
        api_reply_error(r, 500, "internal", "%s", why);
    if (rc < 0) /* a deletion writes its own row (with the manifest hash) */
        audit(r, "recording.delete", id, "%s", "");
    json_decref(body);
    return;
bad:
    audit(r, "recording.delete", id, "%s", "");
    json_decref(body);
}
