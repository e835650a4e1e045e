/*
 * catalog.h - how recordings reach the catalog, and what the control
 * thread does with them.
 *
 * Every recording goes through one struct rec_catalog, whoever makes it
 * (the anchor's live calls, `sedge record listen|import --config`):
 *
 *   producer (anchor / CLI)          recorder thread            control thread
 *   rec_catalog_prepare(party, cfg)  rec_session_open(cfg) ---> rec_catalog_drain(db)
 *   rec_session_open / engine_add     posts START, END events    reads the directory,
 *                                     (bounded queue, never      writes the row and its
 *                                      waits for SQLite)         audit row (policy/recordings.h)
 *
 * The producer names the party (user, origin, remote, rule, session);
 * rec_catalog_prepare() turns that into a session configuration under
 * recording.dir with a fresh id, the signing key and the recording
 * settings. The session posts a START event when its directory exists and
 * an END event when it is sealed (complete, or failed at a write error);
 * the control thread drains them into SQLite, reading the sealed
 * directory's metadata.json and manifest for streams, files, hashes and
 * signature. A full queue drops the event and counts it; the next start's
 * recovery (rec_catalog_recover) registers whatever the catalog missed.
 *
 * Thread rules: rec_catalog_prepare() and the posting functions are safe
 * from any thread; everything taking a struct pol_db * runs on the one
 * thread that owns that database connection.
 */
#ifndef SE_REC_CATALOG_H
#define SE_REC_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pol_db;
struct rec_catalog;
struct rec_session_cfg;
struct se_config;

enum {
    REC_CATALOG_QUEUE = 1024, /* events waiting for the control thread */
    REC_ID_MAX = 64,
};

/* Who and what a recording is about (all texts may be NULL/""). */
struct rec_party {
    const char *session_id; /* the anchor session / call id */
    const char *user;       /* the enterprise user */
    const char *origin;     /* the web origin of the call */
    const char *remote;     /* the remote party */
    const char *rule;       /* name of the rule that required recording */
    int64_t rule_id;        /* its id, 0 if unknown */
    int retention_days;     /* -1: the rule's, else recording.retention; 0: none */
    const char *source;     /* "anchor", "listen", "import:FILE" */
};

/*
 * A catalog for the recording settings of cfg (recording.dir must be
 * set): loads the signing key (creating an Ed25519 key at the default
 * path if none is configured, see docs/recording.md) and creates
 * recording.dir. Returns 0, or SE_ERR_CONFIG / SE_ERR_IO with err.
 * Caller frees with rec_catalog_free().
 */
int rec_catalog_new(struct rec_catalog **out, const struct se_config *cfg, char *err,
                    size_t errlen);
/* Events still queued are dropped (counted). NULL is a no-op. */
void rec_catalog_free(struct rec_catalog *c);

/* recording.dir of this catalog. */
const char *rec_catalog_dir(const struct rec_catalog *c);

/*
 * Fill a session configuration for a new recording of party p: a new id
 * and its directory under recording.dir, the signing key, fsync and
 * fragment settings, the party fields, the call's two parties
 * (cfg->parties: REC_PARTY_INSIDE named p->user, REC_PARTY_OUTSIDE named
 * p->remote), and cfg->catalog = c. The caller
 * adds the streams (and may change anything else) before
 * rec_session_open(). Any thread. Returns 0 or SE_ERR_INVAL (a field
 * too long). The key in cfg points into c: valid while c lives.
 */
int rec_catalog_prepare(struct rec_catalog *c, const struct rec_party *p,
                        struct rec_session_cfg *cfg);

/* ---- recorder side (record/session.c): never blocks ---- */
/* The recording's directory and first metadata exist. */
void rec_catalog_post_start(struct rec_catalog *c, const struct rec_session_cfg *cfg,
                            int64_t at_us);
/* The recording is sealed: status "complete" or "failed" (reason says
 * why), its manifest written (or not, if even that failed: reason). */
void rec_catalog_post_end(struct rec_catalog *c, const struct rec_session_cfg *cfg,
                          const char *status, const char *reason, int64_t at_us);
/* Events dropped because the queue was full. */
uint64_t rec_catalog_dropped(struct rec_catalog *c);

/* ---- control thread ---- */
/*
 * Write every queued event into db (catalog row + audit row). Returns the
 * number of events handled, or SE_ERR_DB (the events stay lost: counted,
 * logged; recovery at the next start repairs the rows).
 */
int rec_catalog_drain(struct rec_catalog *c, struct pol_db *db);

/*
 * At start, before this process records: seal every recording a dead
 * process left (status "recording" whose journal nobody holds) as
 * "incomplete" with a signed manifest, register directories under
 * recording.dir the catalog does not know, mark rows whose directory is
 * gone "failed". Returns the number of rows written, or SE_ERR_DB /
 * SE_ERR_IO.
 */
int rec_catalog_recover(struct rec_catalog *c, struct pol_db *db);

/*
 * Delete recording id: not while recording or on hold, and only past its
 * retention unless force (an admin's, with a reason). The directory is
 * moved aside, the row deleted with an audit row `action` carrying the
 * manifest's SHA-256 and the reason, then the files removed (purge.c
 * says why in that order). Downloads already streaming go on from their
 * open files. Returns 0, SE_ERR_NOTFOUND, SE_ERR_DENIED (why says which
 * rule), SE_ERR_IO, SE_ERR_DB.
 */
int rec_catalog_delete(struct rec_catalog *c, struct pol_db *db, const char *id, bool force,
                       const char *action, const char *reason, char *why, size_t whylen);

/*
 * The retention pass: delete (or with dry_run only list) recordings past
 * their deadline that are not on hold, at most REC_PURGE_BATCH per call
 * (the next pass takes the rest: bounded database and disk time on the
 * control thread). cb (may be NULL) hears of each: rc 0 or the error and
 * why. Returns the number deleted (dry run: that would be), or an error.
 */
enum { REC_PURGE_BATCH = 100 };
typedef void (*rec_purge_fn)(void *arg, const char *id, int rc, const char *why);
int rec_catalog_purge(struct rec_catalog *c, struct pol_db *db, bool dry_run, rec_purge_fn cb,
                      void *arg);

/*
 * Verify recording id: re-hash its files and check the signature with the
 * catalog's keyring (the signing key and retired ones); record the
 * outcome in its row (audited "recording.verify"). Fills *v (free with
 * rec_verify_free) also when the directory is gone (v->error says so).
 * Returns 0 (verified), SE_ERR_AUTH (not), SE_ERR_NOTFOUND (no such
 * recording, v->error empty), SE_ERR_DB.
 */
struct rec_verify;
int rec_catalog_verify(struct rec_catalog *c, struct pol_db *db, const char *id,
                       struct rec_verify *v);
/* A verification as JSON: {"id", "ok", "error", "files": [{"name", "state",
 * "bytes", "expected"}], "signature": {"state", "alg", "key_id", "text",
 * "error"}, "manifest_sha256"}. Returns a new json_t * (void * here). */
void *rec_verify_json(const struct rec_verify *v, const char *id);
/* The keyring that verifies this catalog's recordings (borrowed). */
const struct rec_keyring *rec_catalog_keyring(const struct rec_catalog *c);
/* The signing key (borrowed) and its id; key_len 0 if recordings are unsigned. */
const uint8_t *rec_catalog_key(const struct rec_catalog *c, size_t *key_len, const char **id);

#endif
