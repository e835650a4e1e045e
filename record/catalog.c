/*
 * catalog.c - recordings into the catalog: the event queue between the
 * recorder and the control thread, preparing a new recording for a party,
 * and describing a sealed recording directory for its catalog row.
 *
 * Design: the recorder (any thread that runs a session) only copies a
 * small event into a bounded MPSC queue (core/queue.h) and never touches
 * SQLite. The control thread drains the queue: START inserts the row with
 * its retention deadline (the event's, else the rule's, else
 * recording.retention); END reads metadata.json and the manifest of the
 * now sealed directory (small files, bounded reads) and completes the
 * row. Reading the directory rather than trusting the event keeps one
 * path for live recordings, recordings sealed after a crash and
 * directories the catalog never saw (recover.c).
 */
#include "record/catalog.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/queue.h"
#include "policy/recordings.h"
#include "record/catalog_internal.h"
#include "record/manifest.h"
#include "record/rec.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { EV_START = 1, EV_END = 2, DRAIN_BATCH = 64, META_READ_MAX = 4 << 20 };

struct cat_event {
    int type;
    int64_t at_us;
    char id[REC_ID_MAX], dir[512], status[16], reason[256];
    char session_id[128], user[128], origin[256], remote[256], rule[128], source[128];
    int64_t rule_id;
    int retention_days;
};

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strnlen(src, cap - 1) : 0;
    if (n)
        memmove(dst, src, n);
    dst[n] = 0;
}

int rec_catalog_keys_load(struct rec_catalog *c, const struct se_config *cfg, char *err,
                          size_t errlen)
{
    char e2[512];
    int rc;

    c->key_len = 0;
    if (!cfg->rec_sign_key_file[0])
        return 0; /* unsigned recordings: only when nothing names a key */
    if (cfg->rec_key_default && access(cfg->rec_sign_key_file, F_OK) != 0) {
        rc = rec_key_generate(cfg->rec_sign_key_file, e2, sizeof(e2));
        if (rc < 0 && rc != SE_ERR_EXISTS) { /* EXISTS: another process made it first */
            snprintf(err, errlen, "recording signing key: %s", e2);
            return rc;
        }
        if (rc == 0)
            se_info("record: created the Ed25519 signing key %s", cfg->rec_sign_key_file);
    }
    if ((rc = rec_key_load(cfg->rec_sign_key_file, c->key, &c->key_len, e2, sizeof(e2))) < 0) {
        snprintf(err, errlen, "recording.sign_key_file: %s", e2);
        return rc;
    }
    if (rec_key_usable(c->key, c->key_len, true) < 0 ||
        rec_key_id(c->key, c->key_len, c->key_id) < 0) {
        snprintf(err, errlen, "recording.sign_key_file %s: PEM keys must be Ed25519 private keys",
                 cfg->rec_sign_key_file);
        return SE_ERR_CONFIG;
    }
    if (rec_keyring_add(c->keyring, c->key, c->key_len) < 0 ||
        (rc = rec_keyring_add_dir(c->keyring, cfg->rec_keyring_dir, e2, sizeof(e2))) < 0) {
        snprintf(err, errlen, "recording.keyring_dir: %s", e2);
        return SE_ERR_CONFIG;
    }
    return 0;
}

int rec_catalog_new(struct rec_catalog **out, const struct se_config *cfg, char *err, size_t errlen)
{
    struct rec_catalog *c;
    int rc = SE_ERR_CONFIG;

    *out = NULL;
    if (!cfg->rec_dir[0]) {
        snprintf(err, errlen, "recording.dir is not set");
        return SE_ERR_CONFIG;
    }
    if (!(c = calloc(1, sizeof(*c))) || !(c->q = se_queue_new(REC_CATALOG_QUEUE)) ||
        !(c->keyring = rec_keyring_new())) {
        snprintf(err, errlen, "out of memory");
        rc = SE_ERR_NOMEM;
        goto fail;
    }
    copy_str(c->dir, sizeof(c->dir), cfg->rec_dir);
    c->fsync_us = cfg->rec_fsync_interval ? (int64_t)cfg->rec_fsync_interval * 1000 : -1;
    c->retention_days = cfg->rec_retention;
    if (mkdir(c->dir, 0750) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "recording.dir %s: %s", c->dir, strerror(errno));
        rc = SE_ERR_IO;
        goto fail;
    }
    if ((rc = rec_catalog_keys_load(c, cfg, err, errlen)) < 0)
        goto fail;
    *out = c;
    return 0;
fail:
    rec_catalog_free(c);
    return rc;
}

void rec_catalog_free(struct rec_catalog *c)
{
    void *ev[DRAIN_BATCH];
    size_t n;

    if (!c)
        return;
    while (c->q && (n = se_queue_pop(c->q, ev, DRAIN_BATCH)) > 0)
        for (size_t i = 0; i < n; i++)
            free(ev[i]);
    se_queue_free(c->q);
    rec_keyring_free(c->keyring);
    OPENSSL_cleanse(c->key, sizeof(c->key));
    free(c);
}

const char *rec_catalog_dir(const struct rec_catalog *c)
{
    return c->dir;
}

uint64_t rec_catalog_dropped(struct rec_catalog *c)
{
    return se_queue_dropped(c->q);
}

/* A new recording id: rec-<UTC time>-<8 random hex>. */
static void new_id(char *out, size_t cap)
{
    uint8_t r[4] = {0};
    char stamp[32];
    struct tm tm;
    time_t now = time(NULL);

    if (RAND_bytes(r, sizeof(r)) != 1) {
        uint32_t v = (uint32_t)getpid() ^ (uint32_t)clock();
        memcpy(r, &v, 4);
    }
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", gmtime_r(&now, &tm));
    snprintf(out, cap, "rec-%s-%02x%02x%02x%02x", stamp, r[0], r[1], r[2], r[3]);
}

/*
 * The call's two parties (rec.h): the user's side and the remote one,
 * named by what the producer knows (metadata.json "parties"; the
 * producer labels each stream with the party that sends it and may add
 * the transport addresses).
 */
static void add_party(struct rec_session_cfg *cfg, const char *label, const char *name)
{
    if (cfg->n_parties >= REC_MAX_PARTIES)
        return;
    for (int i = 0; i < cfg->n_parties; i++)
        if (!strcmp(cfg->parties[i].label, label))
            return;
    struct rec_party_cfg *p = &cfg->parties[cfg->n_parties++];
    copy_str(p->label, sizeof(p->label), label);
    copy_str(p->name, sizeof(p->name), name);
}

static bool fits(const char *s, size_t cap)
{
    return !s || strlen(s) < cap;
}

int rec_catalog_prepare(struct rec_catalog *c, const struct rec_party *p,
                        struct rec_session_cfg *cfg)
{
    if (!fits(p->session_id, sizeof(cfg->session_id)) || !fits(p->user, sizeof(cfg->user)) ||
        !fits(p->origin, sizeof(cfg->origin)) || !fits(p->remote, sizeof(cfg->remote)) ||
        !fits(p->rule, sizeof(cfg->policy_rule)) || !fits(p->source, sizeof(cfg->source)))
        return SE_ERR_INVAL;
    new_id(cfg->id, sizeof(cfg->id));
    if ((size_t)snprintf(cfg->dir, sizeof(cfg->dir), "%s/%s", c->dir, cfg->id) >= sizeof(cfg->dir))
        return SE_ERR_INVAL;
    copy_str(cfg->session_id, sizeof(cfg->session_id), p->session_id);
    copy_str(cfg->user, sizeof(cfg->user), p->user);
    copy_str(cfg->origin, sizeof(cfg->origin), p->origin);
    copy_str(cfg->remote, sizeof(cfg->remote), p->remote);
    copy_str(cfg->policy_rule, sizeof(cfg->policy_rule), p->rule);
    copy_str(cfg->source, sizeof(cfg->source), p->source);
    cfg->rule_id = p->rule_id;
    cfg->retention_days = p->retention_days;
    add_party(cfg, REC_PARTY_INSIDE, p->user);
    add_party(cfg, REC_PARTY_OUTSIDE, p->remote);
    cfg->key = c->key;
    cfg->key_len = c->key_len;
    if (!cfg->fsync_us)
        cfg->fsync_us = c->fsync_us;
    cfg->catalog = c;
    return 0;
}

static struct cat_event *event_of(int type, const struct rec_session_cfg *cfg, const char *status,
                                  const char *reason, int64_t at_us)
{
    struct cat_event *e = calloc(1, sizeof(*e));

    if (!e)
        return NULL;
    e->type = type;
    e->at_us = at_us;
    copy_str(e->id, sizeof(e->id), cfg->id);
    copy_str(e->dir, sizeof(e->dir), cfg->dir);
    copy_str(e->status, sizeof(e->status), status);
    copy_str(e->reason, sizeof(e->reason), reason);
    copy_str(e->session_id, sizeof(e->session_id), cfg->session_id);
    copy_str(e->user, sizeof(e->user), cfg->user);
    copy_str(e->origin, sizeof(e->origin), cfg->origin);
    copy_str(e->remote, sizeof(e->remote), cfg->remote);
    copy_str(e->rule, sizeof(e->rule), cfg->policy_rule);
    copy_str(e->source, sizeof(e->source), cfg->source);
    e->rule_id = cfg->rule_id;
    e->retention_days = cfg->retention_days;
    return e;
}

/* Queue a filled event; a full queue drops it (counted by the queue). */
static void push(struct rec_catalog *c, struct cat_event *e, const char *id)
{
    static struct se_log_rl rl;

    if (e && se_queue_push(c->q, e) == 0)
        return;
    free(e);
    se_log_rl(&rl, SE_LOG_ERR,
              "record %s: catalog event lost (queue full or out of memory); the next start's "
              "recovery repairs the row",
              id);
}

void rec_catalog_post_start(struct rec_catalog *c, const struct rec_session_cfg *cfg, int64_t at_us)
{
    push(c, event_of(EV_START, cfg, POL_REC_RECORDING, NULL, at_us), cfg->id);
}

void rec_catalog_post_end(struct rec_catalog *c, const struct rec_session_cfg *cfg,
                          const char *status, const char *reason, int64_t at_us)
{
    push(c, event_of(EV_END, cfg, status, reason, at_us), cfg->id);
}

/* ---- describing a sealed directory ---- */

static int64_t iso_unix(const char *s)
{
    struct tm tm;
    const char *rest;

    if (!s)
        return 0;
    memset(&tm, 0, sizeof(tm));
    rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return 0;
    time_t t = timegm(&tm);
    return t == (time_t)-1 ? 0 : (int64_t)t;
}

static const char *jstr(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* metadata.json into d (what it says; absent fields stay empty). */
static void describe_meta(const char *dir, struct rec_desc *d)
{
    char path[4096];
    struct stat sb;
    json_t *m, *st, *seg, *x;
    size_t i;
    double dur = 0;

    snprintf(path, sizeof(path), "%s/metadata.json", dir);
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > META_READ_MAX ||
        !(m = json_load_file(path, JSON_REJECT_DUPLICATES, NULL)))
        return;
    d->start = iso_unix(jstr(m, "start"));
    d->end = iso_unix(jstr(m, "end"));
    copy_str(d->state, sizeof(d->state), jstr(m, "state"));
    copy_str(d->error, sizeof(d->error), jstr(m, "error"));
    copy_str(d->session_id, sizeof(d->session_id), jstr(m, "session_id"));
    copy_str(d->source, sizeof(d->source), jstr(m, "source"));
    copy_str(d->rule, sizeof(d->rule), jstr(m, "policy_rule"));
    copy_str(d->user, sizeof(d->user), jstr(m, "user"));
    copy_str(d->origin, sizeof(d->origin), jstr(m, "origin"));
    copy_str(d->remote, sizeof(d->remote), jstr(m, "remote"));
    json_t *streams = json_array();
    json_array_foreach(json_object_get(m, "streams"), i, st)
    {
        if (!json_is_object(st) || !json_is_true(json_object_get(st, "recorded")))
            continue;
        json_array_append_new(streams,
                              json_pack("{s:s?, s:s?, s:s?, s:s?}", "label", jstr(st, "label"),
                                        "media", jstr(st, "media"), "codec", jstr(st, "codec"),
                                        "direction", jstr(st, "direction")));
    }
    json_array_foreach(json_object_get(m, "segments"), i, seg)
    {
        if ((x = json_object_get(seg, "duration_s")) && json_is_number(x) &&
            json_number_value(x) > 0 && json_number_value(x) < 1e9)
            dur += json_number_value(x);
    }
    d->duration_ms = (int64_t)(dur * 1000.0 + 0.5);
    free(d->streams);
    d->streams = json_dumps(streams, JSON_COMPACT);
    json_decref(streams);
    json_decref(m);
}

int rec_dir_describe(const char *dir, struct rec_desc *d)
{
    struct rec_manifest m;
    char err[256], path[4096];
    struct stat sb;
    json_t *files;

    memset(d, 0, sizeof(*d));
    snprintf(d->signature, sizeof(d->signature), "none");
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return SE_ERR_NOTFOUND;
    describe_meta(dir, d);
    if (rec_manifest_read(dir, &m, err, sizeof(err)) < 0)
        return 0; /* not sealed (or unreadable): no files, signature "none" */
    files = json_array();
    for (size_t i = 0; i < m.n; i++) {
        char h[65];
        rec_hex(m.e[i].sha256, 32, h);
        json_array_append_new(files, json_pack("{s:s, s:I, s:s}", "name", m.e[i].name, "bytes",
                                               (json_int_t)m.e[i].bytes, "sha256", h));
        d->bytes += (int64_t)m.e[i].bytes;
    }
    d->files = json_dumps(files, JSON_COMPACT);
    json_decref(files);
    rec_hex(m.sha256, 32, d->manifest_sha256);
    snprintf(path, sizeof(path), "%s/%s", dir, REC_SIGNATURE_NAME);
    if (stat(path, &sb) != 0)
        snprintf(d->signature, sizeof(d->signature), "unsigned");
    else
        snprintf(d->signature, sizeof(d->signature), "%s", m.key_alg[0] ? m.key_alg : "signed");
    copy_str(d->key_id, sizeof(d->key_id), m.key_id);
    d->sealed = true;
    rec_manifest_release(&m);
    return 0;
}

void rec_desc_free(struct rec_desc *d)
{
    free(d->streams);
    free(d->files);
    d->streams = d->files = NULL;
}

/* ---- control thread ---- */

/* The deadline of a new recording: the producer's retention, else the
 * rule's (--retention DAYS), else recording.retention; 0 days = none. */
static int64_t retain_until(struct rec_catalog *c, struct pol_db *db, const struct cat_event *e,
                            int64_t started)
{
    int days = e->retention_days;

    if (days < 0) {
        int rule_days = 0;
        if (pol_rec_rule_retention(db, e->rule_id, e->rule, &rule_days) < 0)
            rule_days = 0;
        days = rule_days > 0 ? rule_days : (int)c->retention_days;
    }
    return days > 0 ? started + (int64_t)days * 86400 : 0;
}

static int drain_start(struct rec_catalog *c, struct pol_db *db, const struct cat_event *e)
{
    struct pol_recording r = {
        .id = e->id,
        .dir = e->dir,
        .session_id = e->session_id,
        .user = e->user,
        .origin = e->origin,
        .remote = e->remote,
        .rule = e->rule,
        .rule_id = e->rule_id,
        .source = e->source,
        .started = e->at_us / 1000000,
    };
    r.retain_until = retain_until(c, db, e, r.started);
    int rc = pol_rec_insert(db, &r);
    return rc == SE_ERR_EXISTS ? 0 : rc;
}

int rec_catalog_finish_row(struct pol_db *db, const char *id, const char *dir,
                           const struct rec_desc *d, const char *status, const char *reason,
                           int64_t ended, const char *action)
{
    struct pol_recording r = {
        .id = id,
        .dir = dir,
        .session_id = d->session_id,
        .user = d->user,
        .origin = d->origin,
        .remote = d->remote,
        .rule = d->rule,
        .source = d->source,
        .started = d->start,
        .ended = d->end ? d->end : ended,
        .duration_ms = d->duration_ms,
        .status = status,
        .reason = reason && reason[0] ? reason : NULL,
        .streams = d->streams,
        .files = d->files,
        .bytes = d->bytes,
        .manifest_sha256 = d->sealed ? d->manifest_sha256 : NULL,
        .signature = d->signature,
        .key_id = d->key_id,
    };
    char detail[512];

    snprintf(detail, sizeof(detail), "status=%s manifest=%.64s%s%.300s", status,
             d->sealed ? d->manifest_sha256 : "none", r.reason ? " reason=" : "",
             r.reason ? r.reason : "");
    return pol_rec_finish(db, &r, action, detail);
}

static int drain_end(struct rec_catalog *c, struct pol_db *db, const struct cat_event *e)
{
    struct rec_desc d;
    const char *reason = e->reason;
    bool failed = !strcmp(e->status, POL_REC_FAILED);
    int rc;

    if (rec_dir_describe(e->dir, &d) < 0)
        reason = "the recording directory is gone";
    if (!d.sealed && !reason[0])
        reason = "no manifest was written";
    rc = rec_catalog_finish_row(db, e->id, e->dir, &d, e->status, reason, e->at_us / 1000000,
                                failed ? "recording.failed" : "recording.complete");
    rec_desc_free(&d);
    if (rc == 0 && failed)
        se_warn("record %s: failed: %s", e->id, reason[0] ? reason : "unknown");
    return rc;
}

int rec_catalog_drain(struct rec_catalog *c, struct pol_db *db)
{
    void *ev[DRAIN_BATCH];
    size_t n;
    int done = 0, rc = 0;

    while ((n = se_queue_pop(c->q, ev, DRAIN_BATCH)) > 0) {
        for (size_t i = 0; i < n; i++) {
            struct cat_event *e = ev[i];
            int r = e->type == EV_START ? drain_start(c, db, e) : drain_end(c, db, e);
            if (r < 0) {
                se_err_log("record %s: cannot write the catalog row: %s", e->id, pol_db_errmsg(db));
                rc = r;
            } else {
                done++;
            }
            free(e);
        }
    }
    return rc < 0 ? rc : done;
}

/* ---- verification ---- */

const struct rec_keyring *rec_catalog_keyring(const struct rec_catalog *c)
{
    return c->keyring;
}

const uint8_t *rec_catalog_key(const struct rec_catalog *c, size_t *key_len, const char **id)
{
    *key_len = c->key_len;
    if (id)
        *id = c->key_id;
    return c->key;
}

struct dir_ctx {
    char dir[4096];
};

static int row_dir(const struct pol_recording *r, void *arg)
{
    struct dir_ctx *d = arg;
    snprintf(d->dir, sizeof(d->dir), "%s", r->dir);
    return 0;
}

int rec_catalog_verify(struct rec_catalog *c, struct pol_db *db, const char *id,
                       struct rec_verify *v)
{
    struct dir_ctx d = {0};
    struct stat sb;
    char detail[320];
    int rc;

    memset(v, 0, sizeof(*v));
    if ((rc = pol_rec_get(db, id, row_dir, &d)) < 0)
        return rc;
    if (lstat(d.dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        snprintf(v->error, sizeof(v->error), "the recording directory is missing");
        rc = SE_ERR_NOTFOUND;
    } else {
        /* Unsigned passes only in a catalog that signs nothing. */
        rc = rec_manifest_check(d.dir, c->keyring, c->key_len ? 0 : REC_VERIFY_ALLOW_UNSIGNED, v);
    }
    if (v->error[0])
        snprintf(detail, sizeof(detail), "ok=false error=%.256s", v->error);
    else
        snprintf(detail, sizeof(detail), "ok=%s signature=%s key=%s", v->ok ? "true" : "false",
                 v->sig, v->key_id[0] ? v->key_id : "-");
    if (pol_rec_set_verified(db, id, v->ok, detail) < 0)
        return SE_ERR_DB;
    return v->ok ? 0 : rc == SE_ERR_NOTFOUND ? SE_ERR_NOTFOUND : SE_ERR_AUTH;
}

void *rec_verify_json(const struct rec_verify *v, const char *id)
{
    static const char *const states[] = {"ok", "missing", "size_mismatch", "hash_mismatch",
                                         "not_in_manifest"};
    json_t *files = json_array(), *o;
    char h[65];

    for (size_t i = 0; i < v->n_files; i++) {
        const struct rec_verify_file *f = &v->files[i];
        json_array_append_new(files, json_pack("{s:s, s:s, s:I, s:I}", "name", f->name, "state",
                                               states[f->state <= REC_FILE_UNLISTED ? f->state : 4],
                                               "bytes", (json_int_t)f->bytes, "expected",
                                               (json_int_t)f->expected));
    }
    rec_hex(v->manifest_sha256, 32, h);
    o = json_pack("{s:s, s:b, s:o, s:o, s:o}", "id", id, "ok", v->ok, "error",
                  v->error[0] ? json_string(v->error) : json_null(), "files", files, "signature",
                  v->error[0] ? json_null()
                              : json_pack("{s:s, s:s?, s:s?, s:s, s:b}", "state", v->sig, "alg",
                                          v->sig_alg[0] ? v->sig_alg : NULL, "key_id",
                                          v->key_id[0] ? v->key_id : NULL, "text", v->sig_text,
                                          "error", v->sig_error));
    if (o && !v->error[0])
        json_object_set_new(o, "manifest_sha256", json_string(h));
    return o;
}
