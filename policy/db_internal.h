/*
 * db_internal.h - what the policy store's own files (db.c, store.c,
 * sessions.c) share. Nothing outside policy/ includes it.
 */
#ifndef SE_POL_DB_INTERNAL_H
#define SE_POL_DB_INTERNAL_H

#include <sqlite3.h>
#include <stdbool.h>
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

#endif
