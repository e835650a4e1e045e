/*
 * db.h - sedge's SQLite database: schema, migrations, users, secrets,
 * audit.
 *
 * Only the control thread and the CLI open it; the relay never does. The
 * database is opened in WAL mode with a busy timeout so a CLI write and
 * the daemon's reads do not block each other. Every change made through
 * this API also writes an audit row in the same transaction.
 */
#ifndef SE_POL_DB_H
#define SE_POL_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct auth_creds;
struct pol_db;
struct pol_rules;
struct pol_rule_spec;

enum { POL_DB_SCHEMA_VERSION = 6 };

/*
 * Open the database at path and migrate it to the current schema. Only
 * with create is a missing file created (owner-only, see dbfile.c);
 * without it a missing file is SE_ERR_NOTFOUND with "does not exist" in
 * err. Other failures: SE_ERR_DB or SE_ERR_IO with a message in err.
 */
int pol_db_open(const char *path, bool create, struct pol_db **out, char *err, size_t errlen);
/* Did pol_db_open() create the file? */
bool pol_db_created(const struct pol_db *db);
/*
 * Is the file at the opened path still the one opened (same device and
 * inode)? 0, or SE_ERR_NOTFOUND once it was deleted or replaced; from
 * then on (for good) every write through this connection is refused and
 * pol_db_errmsg() says why. Cheap (one stat): the daemon's 1 s tick.
 */
int pol_db_check_file(struct pol_db *db);
bool pol_db_lost(const struct pol_db *db);
void pol_db_close(struct pol_db *db);
/* Last SQLite error text of this connection. */
const char *pol_db_errmsg(struct pol_db *db);

/* The actor recorded in audit rows ("cli:root", "api:token-3", ...). */
void pol_db_set_actor(struct pol_db *db, const char *actor);

/* Users: keys are derived from (name, realm, password) by the caller's
 * auth_key_* functions; the password itself is never passed here. */
int pol_db_user_add(struct pol_db *db, const char *name, const char *realm,
                    const uint8_t key_md5[16], const uint8_t key_sha256[32]);
int pol_db_user_del(struct pol_db *db, const char *name);                /* SE_ERR_NOTFOUND */
int pol_db_user_set_disabled(struct pol_db *db, const char *name, bool disabled);

struct pol_user_row {
    const char *name, *realm; /* borrowed for the callback's duration */
    bool disabled;
    int64_t created;
};
typedef int (*pol_user_cb)(const struct pol_user_row *row, void *arg);
int pol_db_user_list(struct pol_db *db, pol_user_cb cb, void *arg);

int pol_db_secret_add(struct pol_db *db, const char *value);   /* SE_ERR_EXISTS */
/* Delete by value, or by id when the text is "#<id>". */
int pol_db_secret_del(struct pol_db *db, const char *value_or_id);
struct pol_secret_row {
    int64_t id;
    const char *value;
    int64_t created;
};
typedef int (*pol_secret_cb)(const struct pol_secret_row *row, void *arg);
int pol_db_secret_list(struct pol_db *db, pol_secret_cb cb, void *arg);

/* Changes by any connection, for the control thread's poll. */
int pol_db_data_version(struct pol_db *db, int64_t *version);

/*
 * Build a frozen credential snapshot of enabled users of this realm and
 * all secrets. Rows that are malformed (wrong key length) are skipped and
 * counted in *skipped with a warning. Caller frees with auth_creds_free.
 */
int pol_db_load_creds(struct pol_db *db, const char *realm, struct auth_creds **out,
                      int *skipped);

/* Append an audit row (for actions not covered above). */
int pol_db_audit(struct pol_db *db, const char *action, const char *object, const char *detail);

/* An audit row; texts are borrowed for the callback's duration, any but
 * actor and action may be NULL (before/after: JSON of the object). */
struct pol_audit_row {
    int64_t id, at;
    const char *actor, *action, *object, *detail, *before, *after;
};
typedef int (*pol_audit_cb)(const struct pol_audit_row *row, void *arg);

/* ---- groups (store.c) ----
 * Members are enterprise user names (long-term users or the user part of
 * REST credentials), not references to the users table. */
int pol_db_group_add(struct pol_db *db, const char *name);                 /* SE_ERR_EXISTS */
/* SE_ERR_NOTFOUND, or SE_ERR_INVAL (message in err) while a rule names it. */
int pol_db_group_del(struct pol_db *db, const char *name, char *err, size_t errlen);
/* Add or remove a member. Adding refuses (SE_ERR_INVAL, message in err) a
 * name without a local account unless external (an identity-provider
 * user), like a rule refuses an unknown group; also SE_ERR_INVAL for a
 * malformed name, SE_ERR_NOTFOUND (group, or member to remove),
 * SE_ERR_EXISTS. */
int pol_db_group_member(struct pol_db *db, const char *group, const char *user, bool add,
                        bool external, char *err, size_t errlen);
/* members: comma-separated, borrowed for the callback's duration. */
typedef int (*pol_group_cb)(const char *group, const char *members, void *arg);
int pol_db_group_list(struct pol_db *db, pol_group_cb cb, void *arg);

/* ---- rules (store.c) ----
 * A rule is validated by compiling it against the current groups before
 * it is written; a bad field gives SE_ERR_INVAL and a message in err, as
 * do a CIDR with host bits set and a user without a local account
 * (unless spec->external_users). priority <= 0 puts the rule after every
 * other (last + 10). */
int pol_db_rule_add(struct pol_db *db, const struct pol_rule_spec *spec, int64_t *id, char *err,
                    size_t errlen);
int pol_db_rule_del(struct pol_db *db, int64_t id); /* SE_ERR_NOTFOUND */
int pol_db_rule_move(struct pol_db *db, int64_t id, int64_t priority);
typedef int (*pol_rule_cb)(const struct pol_rule_spec *spec, void *arg);
int pol_db_rule_list(struct pol_db *db, pol_rule_cb cb, void *arg);
/* One rule as a JSON object text (caller frees), or NULL. */
char *pol_rule_spec_json(const struct pol_rule_spec *spec);

/*
 * Compile groups, rules and disabled users into a frozen rule set. A row
 * that does not compile (edited behind sedge's back) is skipped with a
 * loud error and counted in *skipped; a skipped deny rule fails closed by
 * refusing to build (SE_ERR_INVAL), so the last good set stays in force.
 */
int pol_db_load_rules(struct pol_db *db, bool default_allow, struct pol_rules **out,
                      int *skipped);

/* ---- sessions (sessions.c): one row per allocation or anchored call ----
 * An anchored call (mode "anchor") is a row too: client is the inside
 * party, peers the outside party, relay the anchor's two addresses; the
 * *_client counters are the inside leg, the *_peer counters the outside
 * leg (TURN rows leave those 0). */
struct pol_session {
    const char *sid, *user, *username, *origin, *client, *transport, *relay, *peers;
    int64_t started, updated, ended; /* unix seconds; 0 = not yet */
    uint64_t bytes_from_client, bytes_to_client, packets_from_client, packets_to_client;
    const char *end_reason; /* NULL while live */
    int64_t rule_id;        /* 0: the default action decided */
    const char *rule_name;
    int record;
    const char *mode;       /* NULL: "turn" */
    const char *recording;  /* NULL or "": none (yet) */
    uint64_t bytes_from_peer, bytes_to_peer, packets_from_peer, packets_to_peer;
};
int pol_db_session_start(struct pol_db *db, const struct pol_session *s);
/* Counters, peers (kept if s->peers is empty), client and recording
 * (kept if empty), and the end if s->ended. */
int pol_db_session_update(struct pol_db *db, const struct pol_session *s);
/* Close rows a previous process left open (crash, kill -9). */
int pol_db_session_close_stale(struct pol_db *db, const char *reason);
struct pol_session_filter {
    const char *sid;  /* NULL: all */
    bool live_only;
    const char *user; /* NULL: all */
    int64_t since;    /* started at or after; 0: all */
    int limit;        /* 0: no limit */
};
typedef int (*pol_session_cb)(const struct pol_session *s, void *arg);
/* A session as the JSON object the CLI (--json) and the API print: the
 * row's fields, times as ISO 8601 UTC (and *_unix), peers as an array,
 * rule as its id or null. Returns a new jansson reference (json_t *) or
 * NULL; declared void * to keep jansson out of this header. */
void *pol_session_json(const struct pol_session *s);
int pol_db_session_list(struct pol_db *db, const struct pol_session_filter *f, pol_session_cb cb,
                        void *arg);
/*
 * `sedge sessions kill`: mark a live session for ending, with an audit
 * row. The daemon that owns it sees the change (data_version) and ends
 * the allocation (pol_db_session_kills). 0, SE_ERR_NOTFOUND (no such
 * session), SE_ERR_STALE (it has ended already) or SE_ERR_DB.
 */
int pol_db_session_request_kill(struct pol_db *db, const char *sid);
/* Live sessions with a kill request, for the daemon; sid is borrowed for
 * the callback's duration. */
typedef void (*pol_kill_cb)(const char *sid, void *arg);
int pol_db_session_kills(struct pol_db *db, pol_kill_cb cb, void *arg);
/* Group many writes into one transaction (the control thread's batches).
 * They do not log: after a failure the caller reads pol_db_errmsg() and
 * pol_db_busy(), then calls pol_db_rollback() (also after a failed
 * commit; a no-op when SQLite already rolled back). */
int pol_db_begin(struct pol_db *db);
int pol_db_commit(struct pol_db *db);
int pol_db_rollback(struct pol_db *db);
/* How long a statement waits for another connection's lock before it
 * fails with "database is locked" (pol_db_busy()); 2000 ms after open. */
void pol_db_set_busy_timeout(struct pol_db *db, int ms);
/* Did the last failure come from another connection holding a lock? */
bool pol_db_busy(struct pol_db *db);
/* Or from the database being unusable: deleted or replaced (writes
 * refused), disk full, I/O error, read-only, corrupt? */
bool pol_db_unavailable(struct pol_db *db);

/* ---- audit log (sessions.c) ----
 * The newest `limit` rows at or after `since`, oldest first (the CLI). */
int pol_db_audit_list(struct pol_db *db, int64_t since, int limit, pol_audit_cb cb, void *arg);

/* One user's stored key and state, for HTTP Basic checks by the API.
 * 0, SE_ERR_NOTFOUND, SE_ERR_PARSE (malformed row) or SE_ERR_DB. */
struct pol_user_keys {
    char realm[128];
    uint8_t key_sha256[32];
    bool disabled;
};
int pol_db_user_get(struct pol_db *db, const char *name, struct pol_user_keys *out);
/* The most recently added REST secret into out. SE_ERR_NOTFOUND if none. */
int pol_db_secret_newest(struct pol_db *db, char *out, size_t outlen);

/* API role tokens (schema 2): only the SHA-256 of a token is stored. */
int pol_db_token_add(struct pol_db *db, const char *name, const char *role,
                     const uint8_t hash[32], int64_t *id);
int pol_db_token_del(struct pol_db *db, int64_t id); /* SE_ERR_NOTFOUND */
struct pol_token_row {
    int64_t id;
    const char *name, *role; /* borrowed for the callback's duration */
    int64_t created, last_used;
};
typedef int (*pol_token_cb)(const struct pol_token_row *row, void *arg);
int pol_db_token_list(struct pol_db *db, pol_token_cb cb, void *arg);
/* Look a token up by hash (and stamp last_used). 0 or SE_ERR_NOTFOUND. */
int pol_db_token_find(struct pol_db *db, const uint8_t hash[32], int64_t *id, char *name,
                      size_t namelen, char *role, size_t rolelen);

/* Audit rows newest first, with id < before_id (0: from the newest): the
 * API's pages. (struct pol_audit_row and pol_audit_cb are below.) */
int pol_db_audit_page(struct pol_db *db, int64_t before_id, int limit, pol_audit_cb cb,
                      void *arg);

#endif
