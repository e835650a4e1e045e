/*
 * sessions.c - the session history (one row per allocation) and reading
 * the audit log.
 *
 * Only the control thread writes sessions, from events the relay workers
 * post (start, periodic counters, end); it batches them in one
 * transaction per drain with pol_db_begin()/pol_db_commit(). Rows a dead
 * process left open are closed at the next start, so "live" always means
 * live.
 */
#include "core/err.h"
#include "core/log.h"
#include "policy/db.h"
#include "policy/db_internal.h"

#include "policy/rules.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int pol_db_begin(struct pol_db *db)
{
    return pol_db_begin_write(db);
}

int pol_db_commit(struct pol_db *db)
{
    return pol_db_commit_write(db);
}

int pol_db_rollback(struct pol_db *db)
{
    pol_db_abort(db); /* keeps the error; a no-op if SQLite rolled back already */
    return 0;
}

static void bind_opt_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

int pol_db_session_start(struct pol_db *db, const struct pol_session *s)
{
    sqlite3_stmt *st;
    int rc = SE_ERR_DB;

    if (sqlite3_prepare_v2(db->db,
                           "INSERT OR IGNORE INTO sessions(sid, user, username, origin, client, "
                           "transport, relay, started, updated, rule_id, rule_name, record, mode, "
                           "recording) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK)
        return SE_ERR_DB;
    sqlite3_bind_text(st, 1, s->sid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, s->user, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, s->username, -1, SQLITE_TRANSIENT);
    bind_opt_text(st, 4, s->origin);
    sqlite3_bind_text(st, 5, s->client, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, s->transport, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, s->relay, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 8, s->started);
    sqlite3_bind_int64(st, 9, s->started);
    if (s->rule_id > 0)
        sqlite3_bind_int64(st, 10, s->rule_id);
    else
        sqlite3_bind_null(st, 10);
    bind_opt_text(st, 11, s->rule_name && s->rule_name[0] ? s->rule_name : NULL);
    sqlite3_bind_int(st, 12, s->record);
    sqlite3_bind_text(st, 13, s->mode ? s->mode : "turn", -1, SQLITE_TRANSIENT);
    bind_opt_text(st, 14, s->recording && s->recording[0] ? s->recording : NULL);
    if (sqlite3_step(st) == SQLITE_DONE)
        rc = 0;
    sqlite3_finalize(st);
    return rc;
}

int pol_db_session_update(struct pol_db *db, const struct pol_session *s)
{
    sqlite3_stmt *st;
    int rc = SE_ERR_DB;

    if (sqlite3_prepare_v2(db->db,
                           "UPDATE sessions SET updated = ?1,"
                           " peers = CASE WHEN ?2 = '' THEN peers ELSE ?2 END,"
                           " bytes_from_client = ?3, bytes_to_client = ?4,"
                           " packets_from_client = ?5, packets_to_client = ?6,"
                           " ended = COALESCE(?7, ended), end_reason = COALESCE(?8, end_reason),"
                           " rule_id = CASE WHEN ?9 IS NULL THEN rule_id ELSE ?9 END,"
                           " record = ?10,"
                           " client = CASE WHEN ?12 = '' THEN client ELSE ?12 END,"
                           " recording = COALESCE(?13, recording),"
                           " bytes_from_peer = ?14, bytes_to_peer = ?15,"
                           " packets_from_peer = ?16, packets_to_peer = ?17 "
                           "WHERE sid = ?11",
                           -1, &st, NULL) != SQLITE_OK)
        return SE_ERR_DB;
    sqlite3_bind_int64(st, 1, s->updated ? s->updated : (int64_t)time(NULL));
    sqlite3_bind_text(st, 2, s->peers ? s->peers : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)s->bytes_from_client);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)s->bytes_to_client);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)s->packets_from_client);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)s->packets_to_client);
    if (s->ended)
        sqlite3_bind_int64(st, 7, s->ended);
    else
        sqlite3_bind_null(st, 7);
    bind_opt_text(st, 8, s->end_reason);
    if (s->rule_id > 0)
        sqlite3_bind_int64(st, 9, s->rule_id);
    else
        sqlite3_bind_null(st, 9);
    sqlite3_bind_int(st, 10, s->record);
    sqlite3_bind_text(st, 11, s->sid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 12, s->client ? s->client : "", -1, SQLITE_TRANSIENT);
    bind_opt_text(st, 13, s->recording && s->recording[0] ? s->recording : NULL);
    sqlite3_bind_int64(st, 14, (sqlite3_int64)s->bytes_from_peer);
    sqlite3_bind_int64(st, 15, (sqlite3_int64)s->bytes_to_peer);
    sqlite3_bind_int64(st, 16, (sqlite3_int64)s->packets_from_peer);
    sqlite3_bind_int64(st, 17, (sqlite3_int64)s->packets_to_peer);
    if (sqlite3_step(st) == SQLITE_DONE)
        rc = 0;
    sqlite3_finalize(st);
    return rc;
}

int pol_db_session_close_stale(struct pol_db *db, const char *reason)
{
    sqlite3_stmt *st;
    int rc = SE_ERR_DB;

    if (sqlite3_prepare_v2(db->db,
                           "UPDATE sessions SET ended = COALESCE(updated, started), end_reason = ? "
                           "WHERE ended IS NULL",
                           -1, &st, NULL) != SQLITE_OK)
        return SE_ERR_DB;
    sqlite3_bind_text(st, 1, reason, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_DONE)
        rc = sqlite3_changes(db->db);
    sqlite3_finalize(st);
    return rc;
}

int pol_db_session_list(struct pol_db *db, const struct pol_session_filter *f, pol_session_cb cb,
                        void *arg)
{
    char sql[1024];
    sqlite3_stmt *st;
    int rc = 0, step, i = 1;

    snprintf(sql, sizeof(sql),
             "SELECT sid, user, username, origin, client, transport, relay, peers, started, "
             "updated, ended, bytes_from_client, bytes_to_client, packets_from_client, "
             "packets_to_client, end_reason, rule_id, rule_name, record, mode, recording, "
             "bytes_from_peer, bytes_to_peer, packets_from_peer, packets_to_peer FROM sessions "
             "WHERE 1 %s %s %s %s ORDER BY started, id %s",
             f->sid ? "AND sid = ?" : "", f->live_only ? "AND ended IS NULL" : "",
             f->user ? "AND user = ?" : "", f->since ? "AND started >= ?" : "",
             f->limit > 0 ? "LIMIT ?" : "");
    if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) != SQLITE_OK)
        return SE_ERR_DB;
    if (f->sid)
        sqlite3_bind_text(st, i++, f->sid, -1, SQLITE_TRANSIENT);
    if (f->user)
        sqlite3_bind_text(st, i++, f->user, -1, SQLITE_TRANSIENT);
    if (f->since)
        sqlite3_bind_int64(st, i++, f->since);
    if (f->limit > 0)
        sqlite3_bind_int(st, i++, f->limit);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
#define TXT(k) ((const char *)sqlite3_column_text(st, (k)))
        struct pol_session s = {
            .sid = TXT(0),
            .user = TXT(1),
            .username = TXT(2),
            .origin = TXT(3),
            .client = TXT(4),
            .transport = TXT(5),
            .relay = TXT(6),
            .peers = TXT(7),
            .started = sqlite3_column_int64(st, 8),
            .updated = sqlite3_column_int64(st, 9),
            .ended = sqlite3_column_int64(st, 10),
            .bytes_from_client = (uint64_t)sqlite3_column_int64(st, 11),
            .bytes_to_client = (uint64_t)sqlite3_column_int64(st, 12),
            .packets_from_client = (uint64_t)sqlite3_column_int64(st, 13),
            .packets_to_client = (uint64_t)sqlite3_column_int64(st, 14),
            .end_reason = TXT(15),
            .rule_id = sqlite3_column_int64(st, 16),
            .rule_name = TXT(17),
            .record = sqlite3_column_int(st, 18),
            .mode = TXT(19),
            .recording = TXT(20),
            .bytes_from_peer = (uint64_t)sqlite3_column_int64(st, 21),
            .bytes_to_peer = (uint64_t)sqlite3_column_int64(st, 22),
            .packets_from_peer = (uint64_t)sqlite3_column_int64(st, 23),
            .packets_to_peer = (uint64_t)sqlite3_column_int64(st, 24),
        };
#undef TXT
        if (!s.sid || !s.user || !s.client || !s.relay)
            continue; /* a row edited behind our back: not ours to print */
        if ((rc = cb(&s, arg)) != 0)
            break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = SE_ERR_DB;
    sqlite3_finalize(st);
    return rc;
}

int pol_db_session_request_kill(struct pol_db *db, const char *sid)
{
    sqlite3_stmt *st = NULL;
    int rc = SE_ERR_DB, step;

    if (pol_db_begin_write(db) < 0)
        return SE_ERR_DB;
    if (sqlite3_prepare_v2(db->db, "SELECT ended IS NOT NULL FROM sessions WHERE sid = ?", -1,
                           &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(st, 1, sid, -1, SQLITE_TRANSIENT);
    step = sqlite3_step(st);
    if (step != SQLITE_ROW) {
        rc = step == SQLITE_DONE ? SE_ERR_NOTFOUND : SE_ERR_DB;
        goto out;
    }
    if (sqlite3_column_int(st, 0)) {
        rc = SE_ERR_STALE;
        goto out;
    }
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(db->db, "UPDATE sessions SET kill_requested = ? WHERE sid = ?", -1,
                           &st, NULL) != SQLITE_OK) {
        st = NULL;
        goto out;
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
    sqlite3_bind_text(st, 2, sid, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto out;
    rc = pol_db_audit_row(db, "session.kill", sid, NULL, NULL, NULL);
out:
    sqlite3_finalize(st);
    if (rc == 0 && pol_db_commit_write(db) < 0)
        rc = SE_ERR_DB;
    if (rc < 0)
        pol_db_abort(db);
    return rc;
}

int pol_db_session_kills(struct pol_db *db, pol_kill_cb cb, void *arg)
{
    sqlite3_stmt *st;
    int step;

    if (sqlite3_prepare_v2(db->db,
                           "SELECT sid FROM sessions WHERE ended IS NULL AND "
                           "kill_requested IS NOT NULL",
                           -1, &st, NULL) != SQLITE_OK)
        return SE_ERR_DB;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *sid = (const char *)sqlite3_column_text(st, 0);
        if (sid)
            cb(sid, arg);
    }
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? 0 : SE_ERR_DB;
}

/* A JSON string for a column that may hold client bytes that are not
 * UTF-8 (jansson refuses those): escaped, so the field is never lost. */
static json_t *jstr(const char *s)
{
    char buf[4096];
    json_t *j = json_string(s ? s : "");

    if (j)
        return j;
    se_log_escape(buf, sizeof(buf), s, strlen(s));
    return json_string(buf);
}

json_t *pol_json_str(const char *s)
{
    return s && s[0] ? jstr(s) : json_null();
}

json_t *pol_json_time(int64_t t)
{
    char buf[32];
    struct tm tm;
    time_t tt = (time_t)t;

    if (!t || !gmtime_r(&tt, &tm))
        return json_null();
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

void *pol_session_json(const struct pol_session *s)
{
    json_t *o = json_object(), *peers = json_array();

    if (!o || !peers) {
        json_decref(o);
        json_decref(peers);
        return NULL;
    }
    for (const char *p = s->peers ? s->peers : ""; *p;) {
        size_t k = strcspn(p, ",");
        json_t *one = json_stringn(p, k);
        json_array_append_new(peers, one ? one : json_string("?"));
        p += k + (p[k] == ',');
    }
    json_object_set_new(o, "id", jstr(s->sid));
    json_object_set_new(o, "user", jstr(s->user));
    json_object_set_new(o, "username", jstr(s->username ? s->username : ""));
    json_object_set_new(o, "origin", pol_json_str(s->origin));
    json_object_set_new(o, "client", jstr(s->client));
    json_object_set_new(o, "transport", jstr(s->transport ? s->transport : ""));
    json_object_set_new(o, "relay", jstr(s->relay));
    json_object_set_new(o, "peers", peers);
    json_object_set_new(o, "started", pol_json_time(s->started));
    json_object_set_new(o, "ended", pol_json_time(s->ended));
    json_object_set_new(o, "started_unix", json_integer(s->started));
    json_object_set_new(o, "ended_unix", s->ended ? json_integer(s->ended) : json_null());
    json_object_set_new(o, "live", json_boolean(!s->ended));
    json_object_set_new(o, "bytes_from_client", json_integer((json_int_t)s->bytes_from_client));
    json_object_set_new(o, "bytes_to_client", json_integer((json_int_t)s->bytes_to_client));
    json_object_set_new(o, "packets_from_client", json_integer((json_int_t)s->packets_from_client));
    json_object_set_new(o, "packets_to_client", json_integer((json_int_t)s->packets_to_client));
    json_object_set_new(o, "end_reason", pol_json_str(s->end_reason));
    json_object_set_new(o, "rule", s->rule_id ? json_integer(s->rule_id) : json_null());
    json_object_set_new(o, "rule_name", pol_json_str(s->rule_name));
    json_object_set_new(o, "record",
                        json_string(s->record == POL_RECORD_ALWAYS ? "always" : "never"));
    json_object_set_new(o, "mode", json_string(s->mode && s->mode[0] ? s->mode : "turn"));
    json_object_set_new(o, "recording", pol_json_str(s->recording));
    json_object_set_new(o, "bytes_from_peer", json_integer((json_int_t)s->bytes_from_peer));
    json_object_set_new(o, "bytes_to_peer", json_integer((json_int_t)s->bytes_to_peer));
    json_object_set_new(o, "packets_from_peer", json_integer((json_int_t)s->packets_from_peer));
    json_object_set_new(o, "packets_to_peer", json_integer((json_int_t)s->packets_to_peer));
    return o;
}

int pol_db_audit_rows(sqlite3_stmt *st, pol_audit_cb cb, void *arg)
{
    int rc = 0, step;

    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct pol_audit_row r = {
            .id = sqlite3_column_int64(st, 0),
            .at = sqlite3_column_int64(st, 1),
            .actor = (const char *)sqlite3_column_text(st, 2),
            .action = (const char *)sqlite3_column_text(st, 3),
            .object = (const char *)sqlite3_column_text(st, 4),
            .detail = (const char *)sqlite3_column_text(st, 5),
            .before = (const char *)sqlite3_column_text(st, 6),
            .after = (const char *)sqlite3_column_text(st, 7),
        };
        if (!r.actor || !r.action)
            continue; /* a row edited behind our back */
        if ((rc = cb(&r, arg)) != 0)
            break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = SE_ERR_DB;
    sqlite3_finalize(st);
    return rc;
}

/* Run an audit SELECT with two integer parameters. */
static int audit_query(struct pol_db *db, const char *sql, int64_t p1, int64_t p2,
                       pol_audit_cb cb, void *arg)
{
    sqlite3_stmt *st;

    if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) != SQLITE_OK)
        return SE_ERR_DB;
    sqlite3_bind_int64(st, 1, p1);
    sqlite3_bind_int64(st, 2, p2);
    return pol_db_audit_rows(st, cb, arg);
}

int pol_db_audit_list(struct pol_db *db, int64_t since, int limit, pol_audit_cb cb, void *arg)
{
    /* The newest `limit` rows, printed oldest first. */
    return audit_query(db,
                       "SELECT * FROM (SELECT id, at, actor, action, object, detail, before, "
                       "after FROM audit WHERE at >= ? ORDER BY id DESC LIMIT ?) ORDER BY id",
                       since, limit > 0 ? limit : -1, cb, arg);
}

int pol_db_audit_page(struct pol_db *db, int64_t before_id, int limit, pol_audit_cb cb, void *arg)
{
    return audit_query(db,
                       "SELECT id, at, actor, action, object, detail, before, after FROM audit "
                       "WHERE id < ? ORDER BY id DESC LIMIT ?",
                       before_id > 0 ? before_id : INT64_MAX, limit, cb, arg);
}
