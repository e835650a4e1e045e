/*
 * db.c - the SQLite store behind users, secrets and the audit log.
 *
 * Migrations are an ordered list of SQL scripts; PRAGMA user_version
 * records how many have run, and each runs in its own transaction, so a
 * database from any earlier release is brought forward on open. Writes
 * and their audit rows share a transaction: an action is either recorded
 * and done, or neither.
 */
#include "policy/db.h"
#include "auth/auth.h"
#include "policy/db_internal.h"
#include "core/err.h"
#include "core/log.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const migrations[] = {
    /* 1: users, secrets, audit */
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  realm TEXT NOT NULL,"
    "  key_md5 BLOB NOT NULL,"
    "  key_sha256 BLOB NOT NULL,"
    "  disabled INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE secrets ("
    "  id INTEGER PRIMARY KEY,"
    "  value TEXT NOT NULL UNIQUE,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY,"
    "  at INTEGER NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  object TEXT,"
    "  detail TEXT);",
    /* 2: API role tokens, stored as SHA-256 of the token (auth/tokens.c) */
    "CREATE TABLE api_tokens ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  role TEXT NOT NULL CHECK (role IN ('admin', 'compliance', 'auditor')),"
    "  hash BLOB NOT NULL UNIQUE,"
    "  created_at INTEGER NOT NULL,"
    "  last_used INTEGER);",
    /* 3: policy - groups, rules, sessions; audit keeps before/after */
    "CREATE TABLE groups ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE group_members ("
    "  group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,"
    "  user TEXT NOT NULL,"
    "  PRIMARY KEY (group_id, user));"
    "CREATE TABLE rules ("
    "  id INTEGER PRIMARY KEY,"
    "  priority INTEGER NOT NULL,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  action TEXT NOT NULL,"
    "  users TEXT, groups TEXT, origins TEXT, peers TEXT, clients TEXT, transports TEXT,"
    "  days TEXT, hours TEXT,"
    "  max_kbps INTEGER NOT NULL DEFAULT 0,"
    "  max_allocs INTEGER NOT NULL DEFAULT 0,"
    "  max_duration INTEGER NOT NULL DEFAULT 0,"
    "  record TEXT NOT NULL DEFAULT 'never',"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX rules_priority ON rules(priority, id);"
    "CREATE TABLE sessions ("
    "  id INTEGER PRIMARY KEY,"
    "  sid TEXT NOT NULL UNIQUE,"
    "  user TEXT NOT NULL,"
    "  username TEXT NOT NULL,"
    "  origin TEXT,"
    "  client TEXT NOT NULL,"
    "  transport TEXT NOT NULL,"
    "  relay TEXT NOT NULL,"
    "  peers TEXT NOT NULL DEFAULT '',"
    "  started INTEGER NOT NULL,"
    "  updated INTEGER,"
    "  ended INTEGER,"
    "  bytes_from_client INTEGER NOT NULL DEFAULT 0,"
    "  bytes_to_client INTEGER NOT NULL DEFAULT 0,"
    "  packets_from_client INTEGER NOT NULL DEFAULT 0,"
    "  packets_to_client INTEGER NOT NULL DEFAULT 0,"
    "  end_reason TEXT,"
    "  rule_id INTEGER,"
    "  rule_name TEXT,"
    "  record INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX sessions_started ON sessions(started);"
    "CREATE INDEX sessions_user ON sessions(user, started);"
    "CREATE INDEX sessions_live ON sessions(ended) WHERE ended IS NULL;"
    "ALTER TABLE audit ADD COLUMN before TEXT;"
    "ALTER TABLE audit ADD COLUMN after TEXT;"
    "CREATE INDEX audit_at ON audit(at);",
    /* 4: ids are never reused. Session rows, audit rows and commands name
     * rules, API tokens and REST secrets by id, and INTEGER PRIMARY KEY
     * hands a deleted highest id to the next insert. The tables are
     * rebuilt with AUTOINCREMENT (every row and column kept) and each
     * sequence starts above every id a remaining row still names. Tokens
     * may also have the role 'metrics' (/metrics only); a session row
     * can carry a kill request. */
    "CREATE TABLE rules_v4 ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  priority INTEGER NOT NULL,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  action TEXT NOT NULL,"
    "  users TEXT, groups TEXT, origins TEXT, peers TEXT, clients TEXT, transports TEXT,"
    "  days TEXT, hours TEXT,"
    "  max_kbps INTEGER NOT NULL DEFAULT 0,"
    "  max_allocs INTEGER NOT NULL DEFAULT 0,"
    "  max_duration INTEGER NOT NULL DEFAULT 0,"
    "  record TEXT NOT NULL DEFAULT 'never',"
    "  created_at INTEGER NOT NULL);"
    "INSERT INTO rules_v4 (id, priority, name, action, users, groups, origins, peers, clients,"
    "  transports, days, hours, max_kbps, max_allocs, max_duration, record, created_at)"
    "  SELECT id, priority, name, action, users, groups, origins, peers, clients,"
    "  transports, days, hours, max_kbps, max_allocs, max_duration, record, created_at"
    "  FROM rules;"
    "DROP TABLE rules;"
    "ALTER TABLE rules_v4 RENAME TO rules;"
    "CREATE INDEX rules_priority ON rules(priority, id);"
    "CREATE TABLE api_tokens_v4 ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  role TEXT NOT NULL CHECK (role IN ('admin', 'compliance', 'auditor', 'metrics')),"
    "  hash BLOB NOT NULL UNIQUE,"
    "  created_at INTEGER NOT NULL,"
    "  last_used INTEGER);"
    "INSERT INTO api_tokens_v4 (id, name, role, hash, created_at, last_used)"
    "  SELECT id, name, role, hash, created_at, last_used FROM api_tokens;"
    "DROP TABLE api_tokens;"
    "ALTER TABLE api_tokens_v4 RENAME TO api_tokens;"
    "CREATE TABLE secrets_v4 ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  value TEXT NOT NULL UNIQUE,"
    "  created_at INTEGER NOT NULL);"
    "INSERT INTO secrets_v4 (id, value, created_at) SELECT id, value, created_at FROM secrets;"
    "DROP TABLE secrets;"
    "ALTER TABLE secrets_v4 RENAME TO secrets;"
    "INSERT INTO sqlite_sequence(name, seq)"
    "  SELECT t, 0 FROM (SELECT 'rules' AS t UNION ALL SELECT 'api_tokens'"
    "  UNION ALL SELECT 'secrets') WHERE t NOT IN (SELECT name FROM sqlite_sequence);"
    /* rules: sessions.rule_id, audit objects "rule#N" */
    "UPDATE sqlite_sequence SET seq = MAX(seq,"
    "  (SELECT COALESCE(MAX(rule_id), 0) FROM sessions),"
    "  (SELECT COALESCE(MAX(CAST(substr(object, 6) AS INTEGER)), 0) FROM audit"
    "   WHERE object LIKE 'rule#%')) WHERE name = 'rules';"
    /* tokens: actors "api:token-N[/name]", token.del objects "N" */
    "UPDATE sqlite_sequence SET seq = MAX(seq,"
    "  (SELECT COALESCE(MAX(CAST(substr(actor, 11) AS INTEGER)), 0) FROM audit"
    "   WHERE actor LIKE 'api:token-%'),"
    "  (SELECT COALESCE(MAX(CAST(object AS INTEGER)), 0) FROM audit"
    "   WHERE action = 'token.del')) WHERE name = 'api_tokens';"
    /* secrets: secret.del objects "#N" */
    "UPDATE sqlite_sequence SET seq = MAX(seq,"
    "  (SELECT COALESCE(MAX(CAST(substr(object, 2) AS INTEGER)), 0) FROM audit"
    "   WHERE action = 'secret.del' AND object LIKE '#%')) WHERE name = 'secrets';"
    /* `sedge sessions kill`: the CLI asks, the daemon (watching the
     * database) ends the allocation; unix time of the request. */
    "ALTER TABLE sessions ADD COLUMN kill_requested INTEGER;",
    /* 5: the recordings catalog (policy/recordings.c, docs/recording.md):
     * one row per recording, counters for /metrics, per-rule retention,
     * and the audit trail of one object (a recording's accesses) by
     * index. Self-contained: it creates its own tables and only adds a
     * column and an index to tables every version since 4 has (rules as
     * migration 4 rebuilt it, audit). */
    "CREATE TABLE recordings ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  dir TEXT NOT NULL,"
    "  session_id TEXT, user TEXT, origin TEXT, remote TEXT,"
    "  rule TEXT, rule_id INTEGER, source TEXT,"
    "  started INTEGER NOT NULL,"
    "  ended INTEGER,"
    "  duration_ms INTEGER NOT NULL DEFAULT 0,"
    "  status TEXT NOT NULL DEFAULT 'recording'"
    "    CHECK (status IN ('recording', 'complete', 'incomplete', 'failed')),"
    "  reason TEXT,"
    "  streams TEXT NOT NULL DEFAULT '[]',"
    "  files TEXT NOT NULL DEFAULT '[]',"
    "  bytes INTEGER NOT NULL DEFAULT 0,"
    "  manifest_sha256 TEXT,"
    "  signature TEXT NOT NULL DEFAULT 'none',"
    "  key_id TEXT,"
    "  verified_at INTEGER, verified_ok INTEGER,"
    "  retain_until INTEGER,"
    "  hold_by TEXT, hold_at INTEGER, hold_reason TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX recordings_started ON recordings(started, seq);"
    "CREATE INDEX recordings_user ON recordings(user, started, seq);"
    "CREATE INDEX recordings_origin ON recordings(origin, started, seq);"
    "CREATE INDEX recordings_status ON recordings(status, started, seq);"
    "CREATE INDEX recordings_retain ON recordings(retain_until) WHERE retain_until IS NOT NULL;"
    "CREATE TABLE recording_counters ("
    "  name TEXT PRIMARY KEY,"
    "  value INTEGER NOT NULL DEFAULT 0);"
    "ALTER TABLE rules ADD COLUMN retention_days INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX audit_object ON audit(object, id);",
    /* 6: anchor mode - sessions say how media went (turn | anchor), the
     * recording that holds them, and bytes of the outside leg */
    "ALTER TABLE sessions ADD COLUMN mode TEXT NOT NULL DEFAULT 'turn';"
    "ALTER TABLE sessions ADD COLUMN recording TEXT;"
    "ALTER TABLE sessions ADD COLUMN bytes_from_peer INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE sessions ADD COLUMN bytes_to_peer INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE sessions ADD COLUMN packets_from_peer INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE sessions ADD COLUMN packets_to_peer INTEGER NOT NULL DEFAULT 0;",
    /* Append later migrations here; never edit a released one. */
};
_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == POL_DB_SCHEMA_VERSION,
               "POL_DB_SCHEMA_VERSION must count the migrations");

int pol_db_exec(struct pol_db *db, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(db->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        se_err_log("db: %s", msg ? msg : sqlite3_errmsg(db->db));
        sqlite3_free(msg);
        return SE_ERR_DB;
    }
    return 0;
}

static int migrate(struct pol_db *db, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int version = 0;
    const int n = (int)(sizeof(migrations) / sizeof(migrations[0]));

    if (sqlite3_prepare_v2(db->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    if (sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version > n) {
        snprintf(err, errlen, "database schema version %d is newer than this sedge (%d)", version,
                 n);
        return SE_ERR_DB;
    }
    for (int v = version; v < n; v++) {
        char bump[64];
        snprintf(bump, sizeof(bump), "PRAGMA user_version = %d;", v + 1);
        if (pol_db_exec(db, "BEGIN IMMEDIATE") < 0)
            goto dberr;
        if (pol_db_exec(db, migrations[v]) < 0 || pol_db_exec(db, bump) < 0) {
            pol_db_exec(db, "ROLLBACK");
            goto dberr;
        }
        if (pol_db_exec(db, "COMMIT") < 0)
            goto dberr;
        se_info("db: migrated schema to version %d", v + 1);
    }
    return 0;
dberr:
    snprintf(err, errlen, "database migration failed: %s", sqlite3_errmsg(db->db));
    return SE_ERR_DB;
}

/* The code and text of the last failure: a rollback that succeeded after
 * it left SQLITE_OK behind, so the kept failure is the one to report. */
static int last_rc(struct pol_db *db)
{
    int rc = sqlite3_errcode(db->db);
    return rc == SQLITE_OK && db->fail_rc ? db->fail_rc : rc;
}

int pol_db_open(const char *path, bool create, struct pol_db **out, char *err, size_t errlen)
{
    struct pol_db *db = calloc(1, sizeof(*db));
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX;
    int rc;

    *out = NULL;
    if (!db) {
        snprintf(err, errlen, "out of memory");
        return SE_ERR_NOMEM;
    }
    snprintf(db->actor, sizeof(db->actor), "system");
    if ((rc = pol_dbfile_prepare(path, create, &db->created, err, errlen)) < 0) {
        free(db);
        return rc;
    }
    if (sqlite3_open_v2(path, &db->db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", path,
                 db->db ? sqlite3_errmsg(db->db) : "out of memory");
        pol_db_close(db);
        return SE_ERR_DB;
    }
    sqlite3_busy_timeout(db->db, 2000);
    if (pol_db_exec(db, "PRAGMA journal_mode=WAL") < 0 || pol_db_exec(db, "PRAGMA foreign_keys=ON") < 0) {
        snprintf(err, errlen, "database %s: %s", path, sqlite3_errmsg(db->db));
        pol_db_close(db);
        return SE_ERR_DB;
    }
    if ((rc = migrate(db, err, errlen)) < 0) {
        pol_db_close(db);
        return rc;
    }
    if (pol_dbfile_watch(db, path) < 0) {
        snprintf(err, errlen, "database %s vanished while it was opened", path);
        pol_db_close(db);
        return SE_ERR_DB;
    }
    *out = db;
    return 0;
}

bool pol_db_created(const struct pol_db *db)
{
    return db->created;
}

void pol_db_set_busy_timeout(struct pol_db *db, int ms)
{
    sqlite3_busy_timeout(db->db, ms);
}

bool pol_db_busy(struct pol_db *db)
{
    int rc = last_rc(db) & 0xff;
    return !db->lost && (rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
}

bool pol_db_unavailable(struct pol_db *db)
{
    int rc = last_rc(db) & 0xff;
    return db->lost || rc == SQLITE_FULL || rc == SQLITE_IOERR || rc == SQLITE_READONLY ||
           rc == SQLITE_CANTOPEN || rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB ||
           rc == SQLITE_AUTH;
}

void pol_db_close(struct pol_db *db)
{
    if (!db)
        return;
    sqlite3_close(db->db);
    free(db);
}

const char *pol_db_errmsg(struct pol_db *db)
{
    if (db->lost)
        return db->lost_why;
    if (sqlite3_errcode(db->db) == SQLITE_OK && db->fail_rc)
        return db->fail_msg;
    return sqlite3_errmsg(db->db);
}

int pol_db_begin_write(struct pol_db *db)
{
    db->fail_rc = 0;
    if (sqlite3_exec(db->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    pol_db_abort(db);
    return SE_ERR_DB;
}

int pol_db_commit_write(struct pol_db *db)
{
    return sqlite3_exec(db->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : SE_ERR_DB;
}

void pol_db_abort(struct pol_db *db)
{
    int rc = sqlite3_errcode(db->db);

    if (rc != SQLITE_OK) {
        db->fail_rc = rc;
        snprintf(db->fail_msg, sizeof(db->fail_msg), "%s", sqlite3_errmsg(db->db));
    }
    if (!sqlite3_get_autocommit(db->db))
        sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
}

void pol_db_set_actor(struct pol_db *db, const char *actor)
{
    snprintf(db->actor, sizeof(db->actor), "%s", actor);
}

int pol_db_audit_row(struct pol_db *db, const char *action, const char *object,
                     const char *detail, const char *before, const char *after)
{
    sqlite3_stmt *st;
    int rc;

    if (sqlite3_prepare_v2(db->db,
                           "INSERT INTO audit(at, actor, action, object, detail, before, after) "
                           "VALUES(?, ?, ?, ?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK)
        return SE_ERR_DB;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
    sqlite3_bind_text(st, 2, db->actor, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, action, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, object, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, detail, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, before, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, after, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : SE_ERR_DB;
    sqlite3_finalize(st);
    return rc;
}

int pol_db_audit(struct pol_db *db, const char *action, const char *object, const char *detail)
{
    return pol_db_audit_row(db, action, object, detail, NULL, NULL);
}

/*
 * Run one prepared write and its audit row in a transaction. The texts
 * and blobs fill the statement's parameters in order. rowid (may be NULL)
 * gets the written row's id, taken before the audit row is inserted.
 * Returns 0, SE_ERR_EXISTS (UNIQUE violated), SE_ERR_NOTFOUND (no row
 * changed) or SE_ERR_DB.
 */
static int write_audited_id(struct pol_db *db, const char *sql, const char *const *text,
                            int ntext, const void *const *blob, const int *bloblen, int nblob,
                            const char *action, const char *object, const char *detail,
                            int64_t *rowid)
{
    sqlite3_stmt *st = NULL;
    int rc = SE_ERR_DB, step;

    if (pol_db_begin_write(db) < 0)
        return SE_ERR_DB;
    if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) != SQLITE_OK)
        goto out;
    for (int i = 0; i < ntext; i++)
        sqlite3_bind_text(st, i + 1, text[i], -1, SQLITE_TRANSIENT);
    for (int i = 0; i < nblob; i++)
        sqlite3_bind_blob(st, ntext + i + 1, blob[i], bloblen[i], SQLITE_TRANSIENT);
    step = sqlite3_step(st);
    if (step == SQLITE_CONSTRAINT) {
        rc = SE_ERR_EXISTS;
        goto out;
    }
    if (step != SQLITE_DONE)
        goto out;
    if (sqlite3_changes(db->db) == 0) {
        rc = SE_ERR_NOTFOUND;
        goto out;
    }
    if (rowid)
        *rowid = sqlite3_last_insert_rowid(db->db);
    if (pol_db_audit_row(db, action, object, detail, NULL, NULL) < 0)
        goto out;
    rc = 0;
out:
    sqlite3_finalize(st);
    if (rc == 0 && pol_db_commit_write(db) < 0)
        rc = SE_ERR_DB;
    if (rc < 0)
        pol_db_abort(db);
    return rc;
}

static int write_audited(struct pol_db *db, const char *sql, const char *const *text, int ntext,
                         const void *const *blob, const int *bloblen, int nblob,
                         const char *action, const char *object, const char *detail)
{
    return write_audited_id(db, sql, text, ntext, blob, bloblen, nblob, action, object, detail,
                            NULL);
}

int pol_db_user_add(struct pol_db *db, const char *name, const char *realm,
                    const uint8_t key_md5[16], const uint8_t key_sha256[32])
{
    char now[32];
    snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
    const char *text[] = {name, realm, now};
    const void *blob[] = {key_md5, key_sha256};
    const int len[] = {16, 32};

    return write_audited(db,
                         "INSERT INTO users(name, realm, created_at, key_md5, key_sha256) "
                         "VALUES(?, ?, CAST(? AS INTEGER), ?, ?)",
                         text, 3, blob, len, 2, "user.add", name, realm);
}

int pol_db_user_del(struct pol_db *db, const char *name)
{
    const char *text[] = {name};

    return write_audited(db, "DELETE FROM users WHERE name = ?", text, 1, NULL, NULL, 0,
                         "user.del", name, NULL);
}

int pol_db_user_set_disabled(struct pol_db *db, const char *name, bool disabled)
{
    const char *text[] = {disabled ? "1" : "0", name};

    return write_audited(db, "UPDATE users SET disabled = CAST(? AS INTEGER) WHERE name = ?", text,
                         2, NULL, NULL, 0, disabled ? "user.disable" : "user.enable", name, NULL);
}

int pol_db_user_list(struct pol_db *db, pol_user_cb cb, void *arg)
{
    sqlite3_stmt *st;
    int rc = 0, step;

    if (sqlite3_prepare_v2(db->db,
                           "SELECT name, realm, disabled, created_at FROM users ORDER BY name", -1,
                           &st, NULL) != SQLITE_OK)
        return SE_ERR_DB;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct pol_user_row r = {
            .name = (const char *)sqlite3_column_text(st, 0),
            .realm = (const char *)sqlite3_column_text(st, 1),
            .disabled = sqlite3_column_int(st, 2) != 0,
            .created = sqlite3_column_int64(st, 3),
        };
        if (!r.name || !r.realm)
            continue;
        if ((rc = cb(&r, arg)) != 0)
            break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = SE_ERR_DB;
    sqlite3_finalize(st);
    return rc;
}

int pol_db_secret_add(struct pol_db *db, const char *value)
{
    char now[32];
    snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
    const char *text[] = {value, now};

    /* The audit row never carries the secret itself. */
    return write_audited(db, "INSERT INTO secrets(value, created_at) VALUES(?, CAST(? AS INTEGER))",
                         text, 2, NULL, NULL, 0, "secret.add", NULL, NULL);
}

int pol_db_secret_del(struct pol_db *db, const char *value_or_id)
{
    if (value_or_id[0] == '#') {
        const char *text[] = {value_or_id + 1};
        return write_audited(db, "DELETE FROM secrets WHERE id = CAST(? AS INTEGER)", text, 1,
                             NULL, NULL, 0, "secret.del", value_or_id, NULL);
    }
    const char *text[] = {value_or_id};
    return write_audited(db, "DELETE FROM secrets WHERE value = ?", text, 1, NULL, NULL, 0,
                         "secret.del", NULL, NULL);
}

int pol_db_secret_list(struct pol_db *db, pol_secret_cb cb, void *arg)
{
    sqlite3_stmt *st;
    int rc = 0, step;

    if (sqlite3_prepare_v2(db->db, "SELECT id, value, created_at FROM secrets ORDER BY id", -1,
                           &st, NULL) != SQLITE_OK)
        return SE_ERR_DB;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct pol_secret_row r = {
            .id = sqlite3_column_int64(st, 0),
            .value = (const char *)sqlite3_column_text(st, 1),
            .created = sqlite3_column_int64(st, 2),
        };
        if (!r.value)
            continue;
        if ((rc = cb(&r, arg)) != 0)
            break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = SE_ERR_DB;
    sqlite3_finalize(st);
    return rc;
}

int pol_db_data_version(struct pol_db *db, int64_t *version)
{
    sqlite3_stmt *st;
    int rc = SE_ERR_DB;

    if (sqlite3_prepare_v2(db->db, "PRAGMA data_version", -1, &st, NULL) != SQLITE_OK)
        return SE_ERR_DB;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *version = sqlite3_column_int64(st, 0);
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

int pol_db_load_creds(struct pol_db *db, const char *realm, struct auth_creds **out, int *skipped)
{
    struct auth_creds *c = auth_creds_new();
    sqlite3_stmt *st = NULL;
    int rc = SE_ERR_DB, step;

    *out = NULL;
    *skipped = 0;
    if (!c)
        return SE_ERR_NOMEM;
    if (pol_db_exec(db, "BEGIN") < 0)
        goto out_nocommit;
    if (sqlite3_prepare_v2(db->db,
                           "SELECT name, realm, key_md5, key_sha256 FROM users WHERE disabled = 0",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *r = (const char *)sqlite3_column_text(st, 1);
        const void *k1 = sqlite3_column_blob(st, 2);
        int l1 = sqlite3_column_bytes(st, 2);
        const void *k2 = sqlite3_column_blob(st, 3);
        int l2 = sqlite3_column_bytes(st, 3);
        if (!name || !r || l1 != 16 || l2 != 32 || !k1 || !k2) {
            se_warn("db: skipping malformed user row '%s'", name ? name : "(null)");
            (*skipped)++;
            continue;
        }
        if (strcmp(r, realm) != 0) {
            se_warn("db: user '%s' was created for realm '%s', not '%s': re-add it", name, r,
                    realm);
            (*skipped)++;
            continue;
        }
        if (auth_creds_add_user(c, name, k1, k2) < 0) {
            rc = SE_ERR_NOMEM;
            goto out;
        }
    }
    if (step != SQLITE_DONE)
        goto out;
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db->db, "SELECT value FROM secrets ORDER BY id DESC", -1, &st, NULL) !=
        SQLITE_OK)
        goto out;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (!v || !v[0]) {
            (*skipped)++;
            continue;
        }
        if (auth_creds_add_secret(c, v) < 0) {
            rc = SE_ERR_NOMEM;
            goto out;
        }
    }
    if (step != SQLITE_DONE)
        goto out;
    rc = 0;
out:
    sqlite3_finalize(st);
    pol_db_exec(db, "COMMIT");
out_nocommit:
    if (rc < 0) {
        auth_creds_free(c);
        return rc;
    }
    auth_creds_freeze(c);
    *out = c;
    return 0;
}

int pol_db_user_get(struct pol_db *db, const char *name, struct pol_user_keys *out)
{
    sqlite3_stmt *st;
    int rc = SE_ERR_NOTFOUND;

    memset(out, 0, sizeof(*out));
    if (sqlite3_prepare_v2(db->db,
                           "SELECT realm, key_sha256, disabled FROM users WHERE name = ?", -1, &st,
                           NULL) != SQLITE_OK)
        return SE_ERR_DB;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        const char *realm = (const char *)sqlite3_column_text(st, 0);
        const void *k = sqlite3_column_blob(st, 1);
        if (!realm || !k || sqlite3_column_bytes(st, 1) != AUTH_SHA256_KEY_LEN) {
            rc = SE_ERR_PARSE;
        } else {
            snprintf(out->realm, sizeof(out->realm), "%s", realm);
            memcpy(out->key_sha256, k, AUTH_SHA256_KEY_LEN);
            out->disabled = sqlite3_column_int(st, 2) != 0;
            rc = 0;
        }
    } else if (step != SQLITE_DONE) {
        rc = SE_ERR_DB;
    }
    sqlite3_finalize(st);
    return rc;
}

int pol_db_secret_newest(struct pol_db *db, char *out, size_t outlen)
{
    sqlite3_stmt *st;
    int rc = SE_ERR_NOTFOUND;

    if (sqlite3_prepare_v2(db->db, "SELECT value FROM secrets ORDER BY id DESC LIMIT 1", -1, &st,
                           NULL) != SQLITE_OK)
        return SE_ERR_DB;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (v && v[0] && strlen(v) < outlen) {
            snprintf(out, outlen, "%s", v);
            rc = 0;
        } else {
            rc = SE_ERR_TOOBIG;
        }
    } else if (step != SQLITE_DONE) {
        rc = SE_ERR_DB;
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---- API tokens ---- */

int pol_db_token_add(struct pol_db *db, const char *name, const char *role,
                     const uint8_t hash[32], int64_t *id)
{
    char now[32];
    snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
    const char *text[] = {name, role, now};
    const void *blob[] = {hash};
    const int len[] = {32};
    return write_audited_id(db,
                            "INSERT INTO api_tokens(name, role, created_at, hash) "
                            "VALUES(?, ?, CAST(? AS INTEGER), ?)",
                            text, 3, blob, len, 1, "token.add", name, role, id);
}

int pol_db_token_del(struct pol_db *db, int64_t id)
{
    char ids[32];
    snprintf(ids, sizeof(ids), "%lld", (long long)id);
    const char *text[] = {ids};

    return write_audited(db, "DELETE FROM api_tokens WHERE id = CAST(? AS INTEGER)", text, 1,
                         NULL, NULL, 0, "token.del", ids, NULL);
}

static void token_row(sqlite3_stmt *st, struct pol_token_row *r)
{
    r->id = sqlite3_column_int64(st, 0);
    r->name = (const char *)sqlite3_column_text(st, 1);
    r->role = (const char *)sqlite3_column_text(st, 2);
    r->created = sqlite3_column_int64(st, 3);
    r->last_used = sqlite3_column_int64(st, 4);
}

int pol_db_token_list(struct pol_db *db, pol_token_cb cb, void *arg)
{
    sqlite3_stmt *st;
    int rc = 0, step;

    if (sqlite3_prepare_v2(db->db,
                           "SELECT id, name, role, created_at, IFNULL(last_used, 0) "
                           "FROM api_tokens ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return SE_ERR_DB;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct pol_token_row r;
        token_row(st, &r);
        if (!r.name || !r.role)
            continue;
        if ((rc = cb(&r, arg)) != 0)
            break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = SE_ERR_DB;
    sqlite3_finalize(st);
    return rc;
}

int pol_db_token_find(struct pol_db *db, const uint8_t hash[32], int64_t *id, char *name,
                      size_t namelen, char *role, size_t rolelen)
{
    sqlite3_stmt *st;
    int rc = SE_ERR_NOTFOUND;

    if (sqlite3_prepare_v2(db->db,
                           "SELECT id, name, role, created_at, 0 FROM api_tokens WHERE hash = ?",
                           -1, &st, NULL) != SQLITE_OK)
        return SE_ERR_DB;
    sqlite3_bind_blob(st, 1, hash, 32, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        struct pol_token_row r;
        token_row(st, &r);
        *id = r.id;
        snprintf(name, namelen, "%s", r.name ? r.name : "");
        snprintf(role, rolelen, "%s", r.role ? r.role : "");
        rc = 0;
    } else if (step != SQLITE_DONE) {
        rc = SE_ERR_DB;
    }
    sqlite3_finalize(st);
    if (rc == 0) {
        /* Best effort: a failed last_used update must not refuse the call. */
        if (sqlite3_prepare_v2(db->db, "UPDATE api_tokens SET last_used = ? WHERE id = ?", -1,
                               &st, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
            sqlite3_bind_int64(st, 2, *id);
            sqlite3_step(st);
            sqlite3_finalize(st);
        }
    }
    return rc;
}

