/*
 * db_internal.h - what the policy store's own files (db.c, store.c,
 * sessions.c) share. Nothing outside policy/ includes it.
 */
#ifndef SE_POL_DB_INTERNAL_H
#define SE_POL_DB_INTERNAL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum { SE_POL_DB_PATH_MAX = 512 };

struct pol_db {
    sqlite3 *db;
    char actor[128];
    /* dbfile.c: the file this connection opened, and whether it is gone */
    char path[SE_POL_DB_PATH_MAX];
    dev_t dev;
    ino_t ino;
    bool created; /* this open created the file */
    bool lost;    /* deleted or replaced since: writes are refused */
    char lost_why[SE_POL_DB_PATH_MAX + 128];
    /* The failure a write's rollback would otherwise erase (pol_db_abort). */
    int fail_rc;
    char fail_msg[256];
};

/* Start a write transaction (BEGIN IMMEDIATE) without logging: a busy
 * database is the caller's to report. 0 or SE_ERR_DB. */
int pol_db_begin_write(struct pol_db *db);
/* Commit; on failure the error is kept for pol_db_errmsg()/pol_db_busy(). */
int pol_db_commit_write(struct pol_db *db);
/* After a failed write: keep its error for pol_db_errmsg()/pol_db_busy(),
 * then roll back if a transaction is still open. */
void pol_db_abort(struct pol_db *db);

/* dbfile.c: before sqlite3_open: check that path is a regular file, or
 * (with create) create it owner-only with missing directories 0700.
 * SE_ERR_NOTFOUND ("does not exist" in err) when missing without create. */
int pol_dbfile_prepare(const char *path, bool create, bool *created, char *err, size_t errlen);
/* After open: remember path's device and inode, install the authorizer
 * that refuses writes once pol_db_check_file() finds the file gone. */
int pol_dbfile_watch(struct pol_db *db, const char *path);

/* Run SQL without results; logs and returns SE_ERR_DB on failure. */
int pol_db_exec(struct pol_db *db, const char *sql);
/* Append an audit row inside the caller's transaction; before/after are
 * JSON texts of the object (either may be NULL). */
int pol_db_audit_row(struct pol_db *db, const char *action, const char *object,
                     const char *detail, const char *before, const char *after);

/* End the caller's BEGIN: COMMIT if rc == 0, else (or if COMMIT fails)
 * ROLLBACK. Returns rc, or SE_ERR_DB when the commit failed. (store.c) */
int pol_db_finish_tx(struct pol_db *db, int rc);

/* Step an audit SELECT of (id, at, actor, action, object, detail, before,
 * after), parameters bound, handing each row to cb; finalizes st.
 * (sessions.c) Returns cb's non-zero, 0, or SE_ERR_DB. */
struct pol_audit_row;
int pol_db_audit_rows(sqlite3_stmt *st, int (*cb)(const struct pol_audit_row *, void *),
                      void *arg);

/* JSON helpers shared by the row printers (sessions.c): a string or null
 * for NULL/""; unix seconds as "2026-01-01T00:00:00Z" or null for 0. */
typedef struct json_t json_t;
json_t *pol_json_str(const char *s);
json_t *pol_json_time(int64_t t);

#endif
