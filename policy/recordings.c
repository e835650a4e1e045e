/*
 * recordings.c - the recordings catalog (table `recordings`).
 *
 * One row per recording, keyed by its id (the directory name under
 * recording.dir). Rows are written from recorder events by a control
 * thread; every write carries its audit row in the same transaction, so
 * the catalog and the audit log never disagree. Listing is keyset-paged
 * on (started, seq) through the indexes of the migration, so a page costs
 * the same on the first and the thousandth page. The checks that guard a
 * deletion (not recording, not held, past retention) run inside the
 * deleting transaction, so a hold set by another process at the same
 * moment cannot be overtaken.
 */
#include "policy/recordings.h"
#include "core/err.h"
#include "core/log.h"
#include "policy/db_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char cols[] =
    "id, dir, session_id, user, origin, remote, rule, rule_id, source, started, ended, "
    "duration_ms, status, reason, streams, files, bytes, manifest_sha256, signature, key_id, "
    "verified_at, verified_ok, retain_until, hold_by, hold_at, hold_reason, created_at, "
    "updated_at";

static const char *const status_names[] = {POL_REC_RECORDING, POL_REC_COMPLETE, POL_REC_INCOMPLETE,
                                           POL_REC_FAILED};

int pol_rec_status_index(const char *status)
{
    for (int i = 0; status && i < 4; i++)
        if (strcmp(status, status_names[i]) == 0)
            return i;
    return -1;
}

static void row_of(sqlite3_stmt *st, struct pol_recording *r)
{
#define TXT(i) ((const char *)sqlite3_column_text(st, (i)))
#define I64(i) ((int64_t)sqlite3_column_int64(st, (i)))
    memset(r, 0, sizeof(*r));
    r->id = TXT(0);
    r->dir = TXT(1);
    r->session_id = TXT(2);
    r->user = TXT(3);
    r->origin = TXT(4);
    r->remote = TXT(5);
    r->rule = TXT(6);
    r->rule_id = I64(7);
    r->source = TXT(8);
    r->started = I64(9);
    r->ended = I64(10);
    r->duration_ms = I64(11);
    r->status = TXT(12);
    r->reason = TXT(13);
    r->streams = TXT(14);
    r->files = TXT(15);
    r->bytes = I64(16);
    r->manifest_sha256 = TXT(17);
    r->signature = TXT(18);
    r->key_id = TXT(19);
    r->verified_at = I64(20);
    r->verified_ok = sqlite3_column_type(st, 21) == SQLITE_NULL ? -1 : (int)I64(21);
    r->retain_until = I64(22);
    r->hold_by = TXT(23);
    r->hold_at = I64(24);
    r->hold_reason = TXT(25);
    r->created = I64(26);
    r->updated = I64(27);
#undef TXT
#undef I64
}

static void bind_txt(sqlite3_stmt *st, int i, const char *s)
{
    if (s && s[0])
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static void bind_i64(sqlite3_stmt *st, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

/* Run one statement (already bound) to completion; 0 or SE_ERR_DB/EXISTS. */
static int step_done(sqlite3_stmt *st)
{
    int s = sqlite3_step(st);
    return s == SQLITE_DONE ? 0 : s == SQLITE_CONSTRAINT ? SE_ERR_EXISTS : SE_ERR_DB;
}

static int counter_add(struct pol_db *db, const char *name, int64_t n)
{
    sqlite3_stmt *st;
    int rc;

    if (sqlite3_prepare_v2(db->db,
                           "INSERT INTO recording_counters(name, value) VALUES(?, ?) "
                           "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                           -1, &st, NULL) != SQLITE_OK)
        return SE_ERR_DB;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, n);
    rc = step_done(st);
    sqlite3_finalize(st);
    return rc;
}

bool pol_rec_token_alive(struct pol_db *db, int64_t token_id, const char *role)
{
    sqlite3_stmt *st;
    bool alive;

    if (sqlite3_prepare_v2(db->db, "SELECT 1 FROM api_tokens WHERE id = ? AND role = ?", -1, &st,
                           NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_int64(st, 1, token_id);
    sqlite3_bind_text(st, 2, role, -1, SQLITE_TRANSIENT);
    alive = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return alive;
}

int pol_rec_counter_add(struct pol_db *db, const char *name, int64_t n)
{
    return counter_add(db, name, n);
}

int pol_rec_insert(struct pol_db *db, const struct pol_recording *r)
{
    sqlite3_stmt *st = NULL;
    int64_t now = (int64_t)time(NULL);
    char detail[160];
    int rc = SE_ERR_DB;

    if (!r->id || !r->dir || pol_db_begin_write(db) < 0)
        return r->id && r->dir ? SE_ERR_DB : SE_ERR_INVAL;
    if (sqlite3_prepare_v2(db->db,
                           "INSERT INTO recordings(id, dir, session_id, user, origin, remote, "
                           "rule, rule_id, source, started, retain_until, created_at, updated_at) "
                           "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(st, 1, r->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, r->dir, -1, SQLITE_TRANSIENT);
    bind_txt(st, 3, r->session_id);
    bind_txt(st, 4, r->user);
    bind_txt(st, 5, r->origin);
    bind_txt(st, 6, r->remote);
    bind_txt(st, 7, r->rule);
    bind_i64(st, 8, r->rule_id);
    bind_txt(st, 9, r->source);
    sqlite3_bind_int64(st, 10, r->started ? r->started : now);
    bind_i64(st, 11, r->retain_until);
    sqlite3_bind_int64(st, 12, now);
    sqlite3_bind_int64(st, 13, now);
    if ((rc = step_done(st)) < 0)
        goto out;
    snprintf(detail, sizeof(detail), "user=%.60s source=%.60s", r->user ? r->user : "-",
             r->source ? r->source : "-");
    rc = pol_db_audit_row(db, "recording.start", r->id, detail, NULL, NULL);
out:
    sqlite3_finalize(st);
    return pol_db_finish_tx(db, rc);
}

int pol_rec_finish(struct pol_db *db, const struct pol_recording *r, const char *action,
                   const char *detail)
{
    sqlite3_stmt *st = NULL;
    int64_t now = (int64_t)time(NULL);
    int rc = SE_ERR_DB, i = 1;

    if (!r->id || !r->dir || !r->status || pol_rec_status_index(r->status) < 0)
        return SE_ERR_INVAL;
    if (pol_db_begin_write(db) < 0)
        return SE_ERR_DB;
    /* The party, start and retention come from the start event when it
     * reached the catalog; otherwise from this (recovered) description. */
    if (sqlite3_prepare_v2(db->db,
                           "INSERT INTO recordings(id, dir, session_id, user, origin, remote, "
                           "rule, rule_id, source, started, retain_until, ended, duration_ms, "
                           "status, reason, streams, files, bytes, manifest_sha256, signature, "
                           "key_id, created_at, updated_at) "
                           "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                           "?, ?, ?) "
                           "ON CONFLICT(id) DO UPDATE SET ended = excluded.ended, "
                           "started = CASE WHEN ?24 > 0 THEN ?24 ELSE started END, "
                           "duration_ms = excluded.duration_ms, status = excluded.status, "
                           "reason = excluded.reason, streams = excluded.streams, "
                           "files = excluded.files, bytes = excluded.bytes, "
                           "manifest_sha256 = excluded.manifest_sha256, "
                           "signature = excluded.signature, key_id = excluded.key_id, "
                           "updated_at = excluded.updated_at",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(st, i++, r->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, i++, r->dir, -1, SQLITE_TRANSIENT);
    bind_txt(st, i++, r->session_id);
    bind_txt(st, i++, r->user);
    bind_txt(st, i++, r->origin);
    bind_txt(st, i++, r->remote);
    bind_txt(st, i++, r->rule);
    bind_i64(st, i++, r->rule_id);
    bind_txt(st, i++, r->source);
    sqlite3_bind_int64(st, i++, r->started ? r->started : now);
    bind_i64(st, i++, r->retain_until);
    bind_i64(st, i++, r->ended ? r->ended : now);
    sqlite3_bind_int64(st, i++, r->duration_ms);
    sqlite3_bind_text(st, i++, r->status, -1, SQLITE_TRANSIENT);
    bind_txt(st, i++, r->reason);
    sqlite3_bind_text(st, i++, r->streams ? r->streams : "[]", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, i++, r->files ? r->files : "[]", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, i++, r->bytes);
    bind_txt(st, i++, r->manifest_sha256);
    sqlite3_bind_text(st, i++, r->signature ? r->signature : "none", -1, SQLITE_TRANSIENT);
    bind_txt(st, i++, r->key_id);
    sqlite3_bind_int64(st, i++, now);
    sqlite3_bind_int64(st, i++, now);
    sqlite3_bind_int64(st, i++, r->started); /* ?24: the recording's own start, if known */
    if ((rc = step_done(st)) < 0)
        goto out;
    if ((rc = pol_db_audit_row(db, action, r->id, detail, NULL, NULL)) < 0)
        goto out;
    if (!strcmp(r->status, POL_REC_FAILED))
        rc = counter_add(db, "failures", 1);
    else if (!strcmp(r->status, POL_REC_INCOMPLETE))
        rc = counter_add(db, "sealed", 1);
out:
    sqlite3_finalize(st);
    return pol_db_finish_tx(db, rc);
}

/* Run a SELECT of cols whose parameters are bound by the caller. */
static int run_rows(sqlite3_stmt *st, pol_rec_cb cb, void *arg, int *count)
{
    int rc = 0, step;

    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct pol_recording r;
        row_of(st, &r);
        if (!r.id || !r.dir || !r.status)
            continue; /* a row edited behind our back */
        if (count)
            (*count)++;
        if ((rc = cb(&r, arg)) != 0)
            break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = SE_ERR_DB;
    return rc;
}

int pol_rec_get(struct pol_db *db, const char *id, pol_rec_cb cb, void *arg)
{
    char sql[512];
    sqlite3_stmt *st;
    int n = 0, rc;

    snprintf(sql, sizeof(sql), "SELECT %s FROM recordings WHERE id = ?", cols);
    if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) != SQLITE_OK)
        return SE_ERR_DB;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    rc = run_rows(st, cb, arg, &n);
    sqlite3_finalize(st);
    return rc < 0 ? rc : n ? rc : SE_ERR_NOTFOUND;
}

int pol_rec_list(struct pol_db *db, const struct pol_rec_filter *f, pol_rec_cb cb, void *arg)
{
    char sql[1024];
    sqlite3_stmt *st;
    int64_t b_started = 0, b_seq = 0;
    size_t o;
    int rc, i = 1;

    if (f->before && f->before[0]) {
        if (sqlite3_prepare_v2(db->db, "SELECT started, seq FROM recordings WHERE id = ?", -1, &st,
                               NULL) != SQLITE_OK)
            return SE_ERR_DB;
        sqlite3_bind_text(st, 1, f->before, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            b_started = sqlite3_column_int64(st, 0);
            b_seq = sqlite3_column_int64(st, 1);
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_ROW)
            return rc == SQLITE_DONE ? SE_ERR_NOTFOUND : SE_ERR_DB;
    }
    /* Which index walks the page is chosen here, not left to the planner
     * (which has no statistics): user, else origin, else status, else
     * start, each index ending in (started, seq) so the page comes out in
     * order without a sort. A unary + keeps SQLite from using an index
     * for the other equality terms (a status index scan for one user's
     * page visits most of the table). */
    o = (size_t)snprintf(sql, sizeof(sql), "SELECT %s FROM recordings WHERE 1", cols);
    if (f->user)
        o += (size_t)snprintf(sql + o, sizeof(sql) - o, " AND user = ?");
    if (f->origin)
        o += (size_t)snprintf(sql + o, sizeof(sql) - o, " AND %sorigin = ?", f->user ? "+" : "");
    if (f->status)
        o += (size_t)snprintf(sql + o, sizeof(sql) - o, " AND %sstatus = ?",
                              f->user || f->origin ? "+" : "");
    if (f->since)
        o += (size_t)snprintf(sql + o, sizeof(sql) - o, " AND started >= ?");
    if (f->until)
        o += (size_t)snprintf(sql + o, sizeof(sql) - o, " AND started <= ?");
    if (f->before && f->before[0])
        o += (size_t)snprintf(sql + o, sizeof(sql) - o, " AND (started, seq) < (?, ?)");
    snprintf(sql + o, sizeof(sql) - o, " ORDER BY started DESC, seq DESC LIMIT ?");
    if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) != SQLITE_OK)
        return SE_ERR_DB;
    if (f->user)
        sqlite3_bind_text(st, i++, f->user, -1, SQLITE_TRANSIENT);
    if (f->origin)
        sqlite3_bind_text(st, i++, f->origin, -1, SQLITE_TRANSIENT);
    if (f->status)
        sqlite3_bind_text(st, i++, f->status, -1, SQLITE_TRANSIENT);
    if (f->since)
        sqlite3_bind_int64(st, i++, f->since);
    if (f->until)
        sqlite3_bind_int64(st, i++, f->until);
    if (f->before && f->before[0]) {
        sqlite3_bind_int64(st, i++, b_started);
        sqlite3_bind_int64(st, i++, b_seq);
    }
    sqlite3_bind_int(
        st, i, f->limit > 0 && f->limit <= POL_REC_PAGE_MAX ? f->limit : POL_REC_PAGE_DEFAULT);
    rc = run_rows(st, cb, arg, NULL);
    sqlite3_finalize(st);
    return rc;
}

int pol_rec_live(struct pol_db *db, pol_rec_cb cb, void *arg)
{
    char sql[512];
    sqlite3_stmt *st;
    int rc;

    snprintf(sql, sizeof(sql), "SELECT %s FROM recordings WHERE status = 'recording' ORDER BY seq",
             cols);
    if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) != SQLITE_OK)
        return SE_ERR_DB;
    rc = run_rows(st, cb, arg, NULL);
    sqlite3_finalize(st);
    return rc;
}

int pol_rec_expired(struct pol_db *db, int64_t now, int limit, pol_rec_cb cb, void *arg)
{
    char sql[640];
    sqlite3_stmt *st;
    int rc;

    snprintf(sql, sizeof(sql),
             "SELECT %s FROM recordings WHERE retain_until IS NOT NULL AND retain_until <= ? "
             "AND hold_at IS NULL AND status != 'recording' ORDER BY retain_until LIMIT ?",
             cols);
    if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) != SQLITE_OK)
        return SE_ERR_DB;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int(st, 2, limit > 0 ? limit : 100);
    rc = run_rows(st, cb, arg, NULL);
    sqlite3_finalize(st);
    return rc;
}

/* An UPDATE of one recording with its audit row. changed = 0 rows ->
 * none_rc. */
static int update_audited(struct pol_db *db, const char *sql, const char *const *text, int ntext,
                          int64_t now, const char *id, int none_rc, const char *action,
                          const char *detail)
{
    sqlite3_stmt *st = NULL;
    int rc = SE_ERR_DB;

    if (pol_db_begin_write(db) < 0)
        return SE_ERR_DB;
    if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) != SQLITE_OK)
        goto out;
    for (int i = 0; i < ntext; i++)
        bind_txt(st, i + 1, text[i]);
    sqlite3_bind_int64(st, ntext + 1, now);
    sqlite3_bind_text(st, ntext + 2, id, -1, SQLITE_TRANSIENT);
    if ((rc = step_done(st)) < 0)
        goto out;
    if (sqlite3_changes(db->db) == 0) {
        rc = none_rc;
        goto out;
    }
    rc = pol_db_audit_row(db, action, id, detail, NULL, NULL);
out:
    sqlite3_finalize(st);
    return pol_db_finish_tx(db, rc);
}

bool pol_rec_exists(struct pol_db *db, const char *id)
{
    sqlite3_stmt *st;
    bool found = false;

    if (sqlite3_prepare_v2(db->db, "SELECT 1 FROM recordings WHERE id = ?", -1, &st, NULL) !=
        SQLITE_OK)
        return false;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

int pol_rec_hold(struct pol_db *db, const char *id, const char *reason)
{
    const char *text[] = {db->actor, reason};
    char detail[300];

    snprintf(detail, sizeof(detail), "reason=%.256s", reason ? reason : "");
    int rc =
        update_audited(db,
                       "UPDATE recordings SET hold_by = ?, hold_reason = ?, hold_at = ?3, "
                       "updated_at = ?3 WHERE id = ?4 AND hold_at IS NULL",
                       text, 2, (int64_t)time(NULL), id, SE_ERR_EXISTS, "recording.hold", detail);
    return rc == SE_ERR_EXISTS && !pol_rec_exists(db, id) ? SE_ERR_NOTFOUND : rc;
}

int pol_rec_release(struct pol_db *db, const char *id, const char *reason)
{
    char detail[300];

    snprintf(detail, sizeof(detail), "reason=%.256s", reason ? reason : "");
    int rc =
        update_audited(db,
                       "UPDATE recordings SET hold_by = NULL, hold_reason = NULL, "
                       "hold_at = NULL, updated_at = ?1 WHERE id = ?2 AND hold_at IS NOT NULL",
                       NULL, 0, (int64_t)time(NULL), id, SE_ERR_INVAL, "recording.release", detail);
    return rc == SE_ERR_INVAL && !pol_rec_exists(db, id) ? SE_ERR_NOTFOUND : rc;
}

int pol_rec_set_verified(struct pol_db *db, const char *id, bool ok, const char *detail)
{
    const char *text[] = {ok ? "1" : "0"};

    return update_audited(db,
                          "UPDATE recordings SET verified_ok = CAST(? AS INTEGER), "
                          "verified_at = ?2, updated_at = ?2 WHERE id = ?3",
                          text, 1, (int64_t)time(NULL), id, SE_ERR_NOTFOUND, "recording.verify",
                          detail);
}

int pol_rec_delete(struct pol_db *db, const char *id, int64_t now, bool force, const char *action,
                   const char *detail, char *why, size_t whylen)
{
    sqlite3_stmt *st = NULL;
    int rc = SE_ERR_DB;

    snprintf(why, whylen, "database error");
    if (pol_db_begin_write(db) < 0)
        return SE_ERR_DB;
    if (sqlite3_prepare_v2(db->db,
                           "SELECT status, hold_at, retain_until FROM recordings WHERE id = ?", -1,
                           &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s != SQLITE_ROW) {
        rc = s == SQLITE_DONE ? SE_ERR_NOTFOUND : SE_ERR_DB;
        snprintf(why, whylen, "no recording %s", id);
        goto out;
    }
    const char *status = (const char *)sqlite3_column_text(st, 0);
    int64_t hold_at = sqlite3_column_int64(st, 1);
    int64_t until = sqlite3_column_int64(st, 2);
    rc = SE_ERR_DENIED;
    if (status && !strcmp(status, POL_REC_RECORDING)) {
        snprintf(why, whylen, "the recording is in progress");
        goto out;
    }
    if (hold_at) {
        snprintf(why, whylen, "the recording is on legal hold; release the hold first");
        goto out;
    }
    if (!force && (until == 0 || until > now)) {
        snprintf(why, whylen,
                 until ? "retention runs until %lld (unix); an admin may force with a reason"
                       : "kept without a retention deadline; an admin may force with a reason",
                 (long long)until);
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db->db, "DELETE FROM recordings WHERE id = ?", -1, &st, NULL) !=
        SQLITE_OK) {
        rc = SE_ERR_DB;
        goto out;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    if ((rc = step_done(st)) < 0 ||
        (rc = pol_db_audit_row(db, action, id, detail, NULL, NULL)) < 0 ||
        (rc = counter_add(db, "purged", 1)) < 0)
        goto out;
    why[0] = '\0';
out:
    sqlite3_finalize(st);
    return pol_db_finish_tx(db, rc);
}

int pol_rec_rule_retention(struct pol_db *db, int64_t rule_id, const char *rule, int *days)
{
    sqlite3_stmt *st;
    int rc = 0;

    *days = 0;
    if (rule_id <= 0 && (!rule || !rule[0]))
        return 0;
    if (sqlite3_prepare_v2(db->db,
                           rule_id > 0 ? "SELECT retention_days FROM rules WHERE id = ?"
                                       : "SELECT retention_days FROM rules WHERE name = ? "
                                         "ORDER BY priority LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return SE_ERR_DB;
    if (rule_id > 0)
        sqlite3_bind_int64(st, 1, rule_id);
    else
        sqlite3_bind_text(st, 1, rule, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        *days = sqlite3_column_int(st, 0);
    else if (s != SQLITE_DONE)
        rc = SE_ERR_DB;
    sqlite3_finalize(st);
    return rc;
}

int pol_rec_stats(struct pol_db *db, struct pol_rec_stats *out)
{
    sqlite3_stmt *st;
    int rc = 0, step;

    memset(out, 0, sizeof(*out));
    if (sqlite3_prepare_v2(db->db,
                           "SELECT status, COUNT(*), TOTAL(bytes), MIN(started), "
                           "SUM(hold_at IS NOT NULL) FROM recordings GROUP BY status",
                           -1, &st, NULL) != SQLITE_OK)
        return SE_ERR_DB;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int k = pol_rec_status_index((const char *)sqlite3_column_text(st, 0));
        if (k >= 0)
            out->by_status[k] = sqlite3_column_int64(st, 1);
        out->bytes += (int64_t)sqlite3_column_double(st, 2);
        int64_t oldest = sqlite3_column_int64(st, 3);
        if (oldest && (!out->oldest || oldest < out->oldest))
            out->oldest = oldest;
        out->held += sqlite3_column_int64(st, 4);
    }
    if (step != SQLITE_DONE)
        rc = SE_ERR_DB;
    sqlite3_finalize(st);
    if (rc < 0 || sqlite3_prepare_v2(db->db, "SELECT name, value FROM recording_counters", -1, &st,
                                     NULL) != SQLITE_OK)
        return SE_ERR_DB;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *n = (const char *)sqlite3_column_text(st, 0);
        int64_t v = sqlite3_column_int64(st, 1);
        if (!n)
            continue;
        if (!strcmp(n, "failures"))
            out->failures = v;
        else if (!strcmp(n, "purged"))
            out->purged = v;
        else if (!strcmp(n, "sealed"))
            out->sealed = v;
    }
    if (step != SQLITE_DONE)
        rc = SE_ERR_DB;
    sqlite3_finalize(st);
    return rc;
}

int pol_rec_audit(struct pol_db *db, const char *id, int limit, pol_audit_cb cb, void *arg)
{
    sqlite3_stmt *st;

    if (sqlite3_prepare_v2(db->db,
                           "SELECT id, at, actor, action, object, detail, before, after FROM audit "
                           "WHERE object = ? ORDER BY id DESC LIMIT ?",
                           -1, &st, NULL) != SQLITE_OK)
        return SE_ERR_DB;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, limit > 0 ? limit : 100);
    return pol_db_audit_rows(st, cb, arg);
}

/* A JSON array text from the row, or an empty array if it does not parse. */
static json_t *json_list(const char *text)
{
    json_t *a = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;

    if (json_is_array(a))
        return a;
    json_decref(a);
    return json_array();
}

void *pol_recording_json(const struct pol_recording *r)
{
    json_t *o = json_object();

    if (!o)
        return NULL;
    json_object_set_new(o, "id", json_string(r->id));
    json_object_set_new(o, "session_id", pol_json_str(r->session_id));
    json_object_set_new(o, "user", pol_json_str(r->user));
    json_object_set_new(o, "origin", pol_json_str(r->origin));
    json_object_set_new(o, "remote", pol_json_str(r->remote));
    json_object_set_new(o, "rule", pol_json_str(r->rule));
    json_object_set_new(o, "rule_id", r->rule_id ? json_integer(r->rule_id) : json_null());
    json_object_set_new(o, "source", pol_json_str(r->source));
    json_object_set_new(o, "started", pol_json_time(r->started));
    json_object_set_new(o, "ended", pol_json_time(r->ended));
    json_object_set_new(o, "started_unix", json_integer(r->started));
    json_object_set_new(o, "ended_unix", r->ended ? json_integer(r->ended) : json_null());
    json_object_set_new(o, "duration_ms", json_integer(r->duration_ms));
    json_object_set_new(o, "status", json_string(r->status));
    json_object_set_new(o, "reason", pol_json_str(r->reason));
    json_object_set_new(o, "streams", json_list(r->streams));
    json_object_set_new(o, "files", json_list(r->files));
    json_object_set_new(o, "bytes", json_integer(r->bytes));
    json_object_set_new(o, "manifest",
                        json_pack("{s:o, s:s, s:o}", "sha256", pol_json_str(r->manifest_sha256),
                                  "signature", r->signature ? r->signature : "none", "key_id",
                                  pol_json_str(r->key_id)));
    json_object_set_new(o, "verified",
                        r->verified_ok < 0
                            ? json_null()
                            : json_pack("{s:o, s:b}", "at", pol_json_time(r->verified_at), "ok",
                                        r->verified_ok != 0));
    json_object_set_new(o, "retain_until", pol_json_time(r->retain_until));
    json_object_set_new(o, "hold",
                        r->hold_at ? json_pack("{s:o, s:o, s:o}", "by", pol_json_str(r->hold_by),
                                               "at", pol_json_time(r->hold_at), "reason",
                                               pol_json_str(r->hold_reason))
                                   : json_null());
    return o;
}
