/*
 * db_internal.h - what the policy store's own files (db.c, store.c,
 * sessions.c) share. Nothing outside policy/ includes it.
 */
#ifndef SE_POL_DB_INTERNAL_H
#define SE_POL_DB_INTERNAL_H

#include <sqlite3.h>
#include <stdint.h>

struct pol_db {
    sqlite3 *db;
    char actor[128];
};

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
