/*
 * test_db.c - the SQLite store's additions for the API: schema 2
 * (api_tokens) applied to a fresh database and to one left at schema 1,
 * token add / find / list / delete with audit rows, user lookup for
 * HTTP Basic, the newest REST secret, and audit paging; ids never
 * reused (migration 4, from schema 3) and the recordings catalog
 * (migration 5, from schemas 3 and 4) and anchor mode's session
 * columns (migration 6).
 */
#include "auth/auth.h"
#include "core/err.h"
#include "policy/db.h"
#include "policy/rules.h"
#include "tests/unit/check.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char path[64];

static int count_cb(const struct pol_audit_row *r, void *arg)
{
    (void)r;
    (*(int *)arg)++;
    return 0;
}

static int last_id_cb(const struct pol_audit_row *r, void *arg)
{
    *(int64_t *)arg = r->id;
    return 0;
}

static int token_cb(const struct pol_token_row *r, void *arg)
{
    CHECK_STR(r->role, "auditor");
    (*(int *)arg)++;
    return 0;
}

static void test_tokens_and_lookups(void)
{
    struct pol_db *db;
    char err[256], name[80], role[16], secret[64];
    uint8_t h[32], k1[16], k2[32];
    int64_t id = 0, found = 0;
    struct pol_user_keys uk;
    int n = 0;

    unlink(path);
    CHECK_EQ_INT(pol_db_open(path, true, &db, err, sizeof(err)), 0);
    if (!db)
        return;
    pol_db_set_actor(db, "test");
    CHECK_EQ_INT(auth_token_hash("sedge_x", 7, h), 0);
    CHECK_EQ_INT(pol_db_token_add(db, "ops", "admin", h, &id), 0);
    CHECK(id > 0);
    CHECK_EQ_INT(pol_db_token_add(db, "dup", "admin", h, NULL), SE_ERR_EXISTS); /* same hash */
    CHECK_EQ_INT(pol_db_token_find(db, h, &found, name, sizeof(name), role, sizeof(role)), 0);
    CHECK_EQ_INT(found, id);
    CHECK_STR(name, "ops");
    CHECK_STR(role, "admin");
    h[0] ^= 1;
    CHECK_EQ_INT(pol_db_token_find(db, h, &found, name, sizeof(name), role, sizeof(role)),
                 SE_ERR_NOTFOUND);
    CHECK_EQ_INT(pol_db_token_add(db, "", "root", h, NULL), SE_ERR_EXISTS); /* CHECK constraint */
    CHECK_EQ_INT(pol_db_token_add(db, "", "auditor", h, NULL), 0);
    CHECK_EQ_INT(pol_db_token_del(db, id), 0);
    CHECK_EQ_INT(pol_db_token_del(db, id), SE_ERR_NOTFOUND);
    CHECK_EQ_INT(pol_db_token_list(db, token_cb, &n), 0);
    CHECK_EQ_INT(n, 1);

    CHECK_EQ_INT(pol_db_user_get(db, "alice", &uk), SE_ERR_NOTFOUND);
    auth_key_md5("alice", "r", "pw", k1);
    auth_key_sha256("alice", "r", "pw", k2);
    CHECK_EQ_INT(pol_db_user_add(db, "alice", "r", k1, k2), 0);
    CHECK_EQ_INT(pol_db_user_set_disabled(db, "alice", true), 0);
    CHECK_EQ_INT(pol_db_user_get(db, "alice", &uk), 0);
    CHECK_STR(uk.realm, "r");
    CHECK_MEM(uk.key_sha256, k2, 32);
    CHECK(uk.disabled);

    CHECK_EQ_INT(pol_db_secret_newest(db, secret, sizeof(secret)), SE_ERR_NOTFOUND);
    CHECK_EQ_INT(pol_db_secret_add(db, "first-secret"), 0);
    CHECK_EQ_INT(pol_db_secret_add(db, "second-secret"), 0);
    CHECK_EQ_INT(pol_db_secret_newest(db, secret, sizeof(secret)), 0);
    CHECK_STR(secret, "second-secret");
    CHECK_EQ_INT(pol_db_secret_newest(db, secret, 8), SE_ERR_TOOBIG);

    /* 3 token adds (one refused: no row), 1 del, user add + disable, 2 secrets */
    n = 0;
    CHECK_EQ_INT(pol_db_audit_page(db, 0, 500, count_cb, &n), 0);
    CHECK_EQ_INT(n, 7);
    int64_t last = 0;
    n = 0;
    CHECK_EQ_INT(pol_db_audit_page(db, 0, 3, last_id_cb, &last), 0);
    CHECK_EQ_INT(pol_db_audit_page(db, last, 500, count_cb, &n), 0);
    CHECK_EQ_INT(n, 4); /* the page after the newest three */
    pol_db_close(db);
}

static void test_upgrade_from_v1(void)
{
    struct pol_db *db;
    sqlite3 *s;
    char err[256];

    unlink(path);
    CHECK_EQ_INT(sqlite3_open(path, &s), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(s,
                              "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL "
                              "UNIQUE, realm TEXT NOT NULL, key_md5 BLOB NOT NULL, key_sha256 BLOB "
                              "NOT NULL, disabled INTEGER NOT NULL DEFAULT 0, created_at INTEGER "
                              "NOT NULL);"
                              "CREATE TABLE secrets (id INTEGER PRIMARY KEY, value TEXT NOT NULL "
                              "UNIQUE, created_at INTEGER NOT NULL);"
                              "CREATE TABLE audit (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, "
                              "actor TEXT NOT NULL, action TEXT NOT NULL, object TEXT, detail "
                              "TEXT);"
                              "INSERT INTO secrets VALUES (1, 'kept-secret', 0);"
                              "PRAGMA user_version = 1;",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(s);
    /* Readable by others, as sqlite3_open makes it under umask 022:
     * refused until it is owner-only. */
    chmod(path, 0644);
    CHECK_EQ_INT(pol_db_open(path, false, &db, err, sizeof(err)), SE_ERR_DB);
    CHECK(strstr(err, "readable or writable by group or others") != NULL);
    chmod(path, 0600);
    CHECK_EQ_INT(pol_db_open(path, false, &db, err, sizeof(err)), 0);
    if (!db)
        return;
    char secret[64];
    uint8_t h[32] = {1};
    CHECK_EQ_INT(pol_db_secret_newest(db, secret, sizeof(secret)), 0);
    CHECK_STR(secret, "kept-secret");
    CHECK_EQ_INT(pol_db_token_add(db, "", "compliance", h, NULL), 0);
    pol_db_close(db);
    CHECK_EQ_INT(sqlite3_open(path, &s), SQLITE_OK);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(s, "PRAGMA user_version", -1, &st, NULL);
    CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_int(st, 0), POL_DB_SCHEMA_VERSION);
    sqlite3_finalize(st);
    sqlite3_close(s);
}

static int64_t add_rule(struct pol_db *db, const char *name)
{
    struct pol_rule_spec s = {.action = "allow", .name = name};
    char err[256];
    int64_t id = 0;

    CHECK_EQ_INT(pol_db_rule_add(db, &s, &id, err, sizeof(err)), 0);
    return id;
}

static int64_t add_token(struct pol_db *db, uint8_t tag)
{
    uint8_t h[32] = {tag};
    int64_t id = 0;

    CHECK_EQ_INT(pol_db_token_add(db, "t", "admin", h, &id), 0);
    return id;
}

static int last_secret_cb(const struct pol_secret_row *r, void *arg)
{
    *(int64_t *)arg = r->id;
    return 0;
}

static int64_t add_secret(struct pol_db *db, const char *v)
{
    int64_t id = 0;

    CHECK_EQ_INT(pol_db_secret_add(db, v), 0);
    CHECK_EQ_INT(pol_db_secret_list(db, last_secret_cb, &id), 0);
    return id;
}

static int token_ids_cb(const struct pol_token_row *r, void *arg)
{
    *(int64_t *)arg = r->id;
    return 0;
}

/* The id token add reports is the token's, not its audit row's. */
static void test_token_id(void)
{
    struct pol_db *db;
    char err[256], name[80], role[16];
    uint8_t k1[16] = {0}, k2[32] = {0}, h[32] = {7};
    int64_t id = 0, listed = 0, found = 0;

    unlink(path);
    CHECK_EQ_INT(pol_db_open(path, true, &db, err, sizeof(err)), 0);
    if (!db)
        return;
    CHECK_EQ_INT(pol_db_user_add(db, "u1", "r", k1, k2), 0); /* audit rows 1 and 2 */
    CHECK_EQ_INT(pol_db_user_add(db, "u2", "r", k1, k2), 0);
    CHECK_EQ_INT(pol_db_token_add(db, "ops", "admin", h, &id), 0);
    CHECK_EQ_INT(pol_db_token_list(db, token_ids_cb, &listed), 0);
    CHECK_EQ_INT(id, listed);
    CHECK_EQ_INT(pol_db_token_find(db, h, &found, name, sizeof(name), role, sizeof(role)), 0);
    CHECK_EQ_INT(found, id);
    CHECK_EQ_INT(pol_db_token_del(db, id), 0);
    pol_db_close(db);
}

/* Session rows and audit rows name rules, tokens and secrets by id: a
 * deleted id must never come back for a new object. */
static void test_ids_never_reused(void)
{
    struct pol_db *db;
    char err[256], ref[32];

    unlink(path);
    CHECK_EQ_INT(pol_db_open(path, true, &db, err, sizeof(err)), 0);
    if (!db)
        return;
    int64_t r1 = add_rule(db, "one"), r2 = add_rule(db, "two");
    CHECK_EQ_INT(pol_db_rule_del(db, r2), 0);
    CHECK(add_rule(db, "three") > r2);
    int64_t t1 = add_token(db, 1), t2 = add_token(db, 2);
    CHECK(t2 > t1);
    CHECK_EQ_INT(pol_db_token_del(db, t2), 0);
    CHECK(add_token(db, 3) > t2);
    add_secret(db, "secret-one");
    int64_t s2 = add_secret(db, "secret-two");
    snprintf(ref, sizeof(ref), "#%lld", (long long)s2);
    CHECK_EQ_INT(pol_db_secret_del(db, ref), 0);
    CHECK(add_secret(db, "secret-three") > s2);
    CHECK(r1 > 0);
    pol_db_close(db);
}

/* A database at schema 3 whose highest rule, token and secret were
 * deleted (only session and audit rows still name them) is migrated
 * with every row kept, and new ids start above every id ever named. */
static void test_migrate_v3_ids(void)
{
    struct pol_db *db;
    sqlite3 *s;
    char err[256];

    unlink(path);
    CHECK_EQ_INT(sqlite3_open(path, &s), SQLITE_OK);
    CHECK_EQ_INT(
        sqlite3_exec(
            s,
            /* schema 3 as released (the tables this migration touches) */
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, realm TEXT NOT "
            "NULL, key_md5 BLOB NOT NULL, key_sha256 BLOB NOT NULL, disabled INTEGER NOT NULL "
            "DEFAULT 0, created_at INTEGER NOT NULL);"
            "CREATE TABLE secrets (id INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE, created_at "
            "INTEGER NOT NULL);"
            "CREATE TABLE audit (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, actor TEXT NOT NULL, "
            "action TEXT NOT NULL, object TEXT, detail TEXT, before TEXT, after TEXT);"
            "CREATE TABLE api_tokens (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '', role "
            "TEXT NOT NULL CHECK (role IN ('admin', 'compliance', 'auditor')), hash BLOB NOT NULL "
            "UNIQUE, created_at INTEGER NOT NULL, last_used INTEGER);"
            "CREATE TABLE groups (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at "
            "INTEGER NOT NULL);"
            "CREATE TABLE group_members (group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE "
            "CASCADE, user TEXT NOT NULL, PRIMARY KEY (group_id, user));"
            "CREATE TABLE rules (id INTEGER PRIMARY KEY, priority INTEGER NOT NULL, name TEXT NOT "
            "NULL DEFAULT '', action TEXT NOT NULL, users TEXT, groups TEXT, origins TEXT, peers "
            "TEXT, clients TEXT, transports TEXT, days TEXT, hours TEXT, max_kbps INTEGER NOT NULL "
            "DEFAULT 0, max_allocs INTEGER NOT NULL DEFAULT 0, max_duration INTEGER NOT NULL "
            "DEFAULT 0, record TEXT NOT NULL DEFAULT 'never', created_at INTEGER NOT NULL);"
            "CREATE INDEX rules_priority ON rules(priority, id);"
            "CREATE TABLE sessions (id INTEGER PRIMARY KEY, sid TEXT NOT NULL UNIQUE, user TEXT NOT "
            "NULL, username TEXT NOT NULL, origin TEXT, client TEXT NOT NULL, transport TEXT NOT "
            "NULL, relay TEXT NOT NULL, peers TEXT NOT NULL DEFAULT '', started INTEGER NOT NULL, "
            "updated INTEGER, ended INTEGER, bytes_from_client INTEGER NOT NULL DEFAULT 0, "
            "bytes_to_client INTEGER NOT NULL DEFAULT 0, packets_from_client INTEGER NOT NULL "
            "DEFAULT 0, packets_to_client INTEGER NOT NULL DEFAULT 0, end_reason TEXT, rule_id "
            "INTEGER, rule_name TEXT, record INTEGER NOT NULL DEFAULT 0);"
            /* rules 1, 2 left; 3 named by a session, 5 by the audit log */
            "INSERT INTO rules (id, priority, name, action, users, peers, max_kbps, record, "
            "created_at) VALUES (1, 10, 'keep-one', 'allow', 'alice', NULL, 400, 'never', 11),"
            "(2, 20, 'keep-two', 'deny', NULL, '10.0.0.0/8', 0, 'always', 12);"
            "INSERT INTO sessions (sid, user, username, client, transport, relay, started, "
            "rule_id, rule_name) VALUES ('x-1', 'alice', 'alice', 'udp:1.2.3.4:5', 'udp', "
            "'5.6.7.8:9', 100, 3, 'gone');"
            "INSERT INTO audit (at, actor, action, object) VALUES (1, 'cli:root', 'rule.del', "
            "'rule#5');"
            /* tokens 1, 2 left; 4 acted (audit actor), 6 was deleted */
            "INSERT INTO api_tokens VALUES (1, 'ops', 'admin', x'01', 1, NULL), (2, '', 'auditor', "
            "x'02', 2, 3);"
            "INSERT INTO audit (at, actor, action, object) VALUES (2, 'api:token-4/gone', "
            "'api.call', 'GET /v1/admin/users'), (3, 'cli:root', 'token.del', '6');"
            /* secret 1 left; #3 was deleted */
            "INSERT INTO secrets VALUES (1, 'kept-secret', 7);"
            "INSERT INTO audit (at, actor, action, object) VALUES (4, 'cli:root', 'secret.del', "
            "'#3');"
            "PRAGMA user_version = 3;",
            NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(s);
    chmod(path, 0600);
    CHECK_EQ_INT(pol_db_open(path, false, &db, err, sizeof(err)), 0);
    if (!db)
        return;
    CHECK(add_rule(db, "new") > 5);
    CHECK(add_token(db, 9) > 6);
    CHECK(add_secret(db, "new-secret") > 3);
    pol_db_close(db);

    /* Every row as it was, column by column. */
    CHECK_EQ_INT(sqlite3_open(path, &s), SQLITE_OK);
    static const char *const want[][2] = {
        {"SELECT group_concat(id || '|' || priority || '|' || name || '|' || action || '|' || "
         "IFNULL(users, '-') || '|' || IFNULL(peers, '-') || '|' || max_kbps || '|' || record || "
         "'|' || created_at, ';') FROM (SELECT * FROM rules WHERE id < 3 ORDER BY id)",
         "1|10|keep-one|allow|alice|-|400|never|11;2|20|keep-two|deny|-|10.0.0.0/8|0|always|12"},
        {"SELECT group_concat(id || '|' || name || '|' || role || '|' || hex(hash) || '|' || "
         "created_at || '|' || IFNULL(last_used, '-'), ';') FROM (SELECT * FROM api_tokens WHERE "
         "id < 3 ORDER BY id)",
         "1|ops|admin|01|1|-;2||auditor|02|2|3"},
        {"SELECT id || '|' || value || '|' || created_at FROM secrets WHERE id = 1",
         "1|kept-secret|7"},
        {"SELECT rule_id || '|' || rule_name FROM sessions", "3|gone"},
        {"SELECT count(*) FROM audit WHERE at < 5", "4"},
        {"SELECT count(*) FROM sqlite_master WHERE name = 'rules_priority'", "1"},
        /* ...and on through migration 5: the catalog, per-rule retention */
        {"SELECT group_concat(retention_days) FROM (SELECT * FROM rules WHERE id < 3 ORDER BY id)",
         "0,0"},
        {"SELECT count(*) FROM sqlite_master WHERE name IN ('recordings', 'recording_counters', "
         "'audit_object')",
         "3"},
        {"PRAGMA user_version", "6"},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        sqlite3_stmt *st;
        CHECK_EQ_INT(sqlite3_prepare_v2(s, want[i][0], -1, &st, NULL), SQLITE_OK);
        CHECK_EQ_INT(sqlite3_step(st), SQLITE_ROW);
        CHECK_STR((const char *)sqlite3_column_text(st, 0), want[i][1]);
        sqlite3_finalize(st);
    }
    sqlite3_close(s);
}

/* The first column of the first row sql gives on s, or "". */
static void query1(sqlite3 *s, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st;

    out[0] = '\0';
    CHECK_EQ_INT(sqlite3_prepare_v2(s, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

/*
 * A database at schema 4 (migration 4 as released: AUTOINCREMENT ids,
 * the metrics role, sessions.kill_requested) reaches 5, the recordings
 * catalog, with its rows, sequences and columns kept. The schema-4 file
 * is today's, rolled back by exactly what migration 5 adds (migrations
 * 1-4 are never edited, so that is the released schema 4).
 */
static void test_migrate_v4_recordings(void)
{
    struct pol_db *db;
    sqlite3 *s;
    char err[256], v[128];
    uint8_t h[32] = {0x44};

    unlink(path);
    CHECK_EQ_INT(pol_db_open(path, true, &db, err, sizeof(err)), 0);
    if (!db)
        return;
    int64_t r1 = add_rule(db, "kept"), r2 = add_rule(db, "deleted");
    CHECK_EQ_INT(pol_db_rule_del(db, r2), 0);
    CHECK_EQ_INT(pol_db_token_add(db, "scrape", "metrics", h, NULL), 0);
    pol_db_close(db);
    CHECK_EQ_INT(sqlite3_open(path, &s), SQLITE_OK);
    CHECK_EQ_INT(sqlite3_exec(s,
                              "DROP TABLE recordings; DROP TABLE recording_counters;"
                              "DROP INDEX audit_object;"
                              "ALTER TABLE rules DROP COLUMN retention_days;"
                              /* and what migration 6 adds (anchor mode) */
                              "ALTER TABLE sessions DROP COLUMN mode;"
                              "ALTER TABLE sessions DROP COLUMN recording;"
                              "ALTER TABLE sessions DROP COLUMN bytes_from_peer;"
                              "ALTER TABLE sessions DROP COLUMN bytes_to_peer;"
                              "ALTER TABLE sessions DROP COLUMN packets_from_peer;"
                              "ALTER TABLE sessions DROP COLUMN packets_to_peer;"
                              "INSERT INTO sessions (sid, user, username, client, transport, relay, "
                              "started, rule_id, kill_requested) VALUES ('k-1', 'alice', 'alice', "
                              "'udp:1.2.3.4:5', 'udp', '5.6.7.8:9', 100, 1, 123);"
                              "PRAGMA user_version = 4;",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    query1(s, "SELECT count(*) FROM pragma_table_info('rules') WHERE name = 'retention_days'", v,
           sizeof(v));
    CHECK_STR(v, "0");
    sqlite3_close(s);

    CHECK_EQ_INT(pol_db_open(path, false, &db, err, sizeof(err)), 0);
    if (!db)
        return;
    struct pol_rule_spec spec = {.action = "allow", .name = "kept-a-year", .retention_days = 365};
    int64_t r3 = 0;
    CHECK_EQ_INT(pol_db_rule_add(db, &spec, &r3, err, sizeof(err)), 0);
    CHECK(r3 > r2); /* the rules sequence survived migration 5 */
    pol_db_close(db);

    CHECK_EQ_INT(sqlite3_open(path, &s), SQLITE_OK);
    static const char *const want[][2] = {
        {"PRAGMA user_version", "6"},
        {"SELECT group_concat(id || '|' || name || '|' || retention_days, ';') FROM "
         "(SELECT * FROM rules ORDER BY id)",
         NULL}, /* filled below */
        {"SELECT role FROM api_tokens WHERE name = 'scrape'", "metrics"},
        /* migration 6: the session kept, as a TURN session */
        {"SELECT mode || '|' || bytes_from_peer FROM sessions WHERE sid = 'k-1'", "turn|0"},
        {"SELECT kill_requested FROM sessions WHERE sid = 'k-1'", "123"},
        {"SELECT count(*) FROM sqlite_master WHERE name IN ('recordings', 'recording_counters', "
         "'audit_object', 'recordings_started', 'recordings_retain')",
         "5"},
    };
    char rules[128];
    snprintf(rules, sizeof(rules), "%lld|kept|0;%lld|kept-a-year|365", (long long)r1,
             (long long)r3);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        query1(s, want[i][0], v, sizeof(v));
        CHECK_STR(v, want[i][1] ? want[i][1] : rules);
    }
    /* The catalog takes a row (the CHECK on status holds). */
    CHECK_EQ_INT(sqlite3_exec(s,
                              "INSERT INTO recordings (id, dir, started, created_at, updated_at) "
                              "VALUES ('rec-x', '/r/x', 1, 1, 1);",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    CHECK(sqlite3_exec(s, "UPDATE recordings SET status = 'lost'", NULL, NULL, NULL) != SQLITE_OK);
    sqlite3_close(s);
}

int main(void)
{
    snprintf(path, sizeof(path), "/tmp/sedge-test-db-%d.sqlite", (int)getpid());
    RUN(test_tokens_and_lookups);
    RUN(test_upgrade_from_v1);
    RUN(test_token_id);
    RUN(test_ids_never_reused);
    RUN(test_migrate_v3_ids);
    RUN(test_migrate_v4_recordings);
    unlink(path);
    char wal[80];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof(wal), "%s-shm", path);
    unlink(wal);
    return check_done();
}
