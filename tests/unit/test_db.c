/*
 * test_db.c - the SQLite store's additions for the API: schema 2
 * (api_tokens) applied to a fresh database and to one left at schema 1,
 * token add / find / list / delete with audit rows, user lookup for
 * HTTP Basic, the newest REST secret, and audit paging.
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

int main(void)
{
    snprintf(path, sizeof(path), "/tmp/sedge-test-db-%d.sqlite", (int)getpid());
    RUN(test_tokens_and_lookups);
    RUN(test_upgrade_from_v1);
    RUN(test_token_id);
    unlink(path);
    char wal[80];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof(wal), "%s-shm", path);
    unlink(wal);
    return check_done();
}
