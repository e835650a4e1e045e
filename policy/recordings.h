/*
 * recordings.h - the recordings catalog in SQLite: one row per recording
 * (who, where from, which rule, when, status, files with sizes and
 * SHA-256, signature state, retention deadline, legal hold), its counters
 * for /metrics, and the audit trail of one recording.
 *
 * Written only by a control thread (sedge serve's, or a CLI process that
 * records): the recorder never waits for SQLite, it posts events that
 * record/catalog.c turns into the calls below. Every change writes its
 * audit row in the same transaction; the actor is the connection's
 * (pol_db_set_actor). Times are unix seconds. Documented in
 * docs/recording.md.
 */
#ifndef SE_POL_RECORDINGS_H
#define SE_POL_RECORDINGS_H

#include "policy/db.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Catalog status of a recording (the CHECK constraint of the table). */
#define POL_REC_RECORDING "recording"
#define POL_REC_COMPLETE "complete"
#define POL_REC_INCOMPLETE "incomplete" /* sealed after a crash */
#define POL_REC_FAILED "failed"         /* sealed at a write error */

enum {
    POL_REC_PAGE_DEFAULT = 50,
    POL_REC_PAGE_MAX = 500,
};

/* One row. Texts are borrowed (from the caller, or from SQLite for the
 * duration of a callback); NULL = unknown. streams and files are JSON
 * array texts: [{"label", "media", "codec", "direction"}] and
 * [{"name", "bytes", "sha256"}]. */
struct pol_recording {
    const char *id, *dir;
    const char *session_id, *user, *origin, *remote, *rule, *source;
    int64_t rule_id;        /* 0: none */
    int64_t started, ended; /* ended 0: not yet */
    int64_t duration_ms;
    const char *status, *reason;
    const char *streams, *files;
    int64_t bytes;
    const char *manifest_sha256; /* hex of manifest.sha256, NULL before sealing */
    const char *signature; /* "none" (no manifest yet), "unsigned", "ed25519", "hmac-sha256" */
    const char *key_id;
    int64_t verified_at;  /* 0: never */
    int verified_ok;      /* -1: never verified */
    int64_t retain_until; /* 0: kept until deleted */
    const char *hold_by, *hold_reason;
    int64_t hold_at; /* 0: not on hold */
    int64_t created, updated;
};
typedef int (*pol_rec_cb)(const struct pol_recording *r, void *arg);

/*
 * A recording started: insert its row (status "recording") with an audit
 * row "recording.start". SE_ERR_EXISTS if the id is taken.
 */
int pol_rec_insert(struct pol_db *db, const struct pol_recording *r);

/*
 * A recording ended or was sealed: update status, end, duration, reason,
 * streams, files, bytes, manifest and signature state, and the start when
 * r->started is known (the first packet; an import's capture time),
 * inserting the row if its start never reached the catalog; with an audit
 * row `action` (object = id, detail). A "failed" status counts in the
 * failures counter, "incomplete" in the sealed one. The retention deadline
 * set at the start stays.
 */
int pol_rec_finish(struct pol_db *db, const struct pol_recording *r, const char *action,
                   const char *detail);

/* Is there a row for id? */
bool pol_rec_exists(struct pol_db *db, const char *id);

/* One recording by id: cb once, or SE_ERR_NOTFOUND. */
int pol_rec_get(struct pol_db *db, const char *id, pol_rec_cb cb, void *arg);

/* A page of the list, newest first (by start, then insertion). Any filter
 * may be NULL / 0. before: the id of the last row of the previous page
 * (SE_ERR_NOTFOUND if it is unknown). limit 1..POL_REC_PAGE_MAX. */
struct pol_rec_filter {
    const char *user, *origin, *status;
    int64_t since, until; /* started in [since, until]; 0 = open */
    const char *before;
    int limit;
};
int pol_rec_list(struct pol_db *db, const struct pol_rec_filter *f, pol_rec_cb cb, void *arg);

/* Every row still in "recording" (crash recovery at start). */
int pol_rec_live(struct pol_db *db, pol_rec_cb cb, void *arg);

/*
 * Legal hold. hold: SE_ERR_NOTFOUND, SE_ERR_EXISTS (already held, the
 * first hold stays). release: SE_ERR_NOTFOUND, SE_ERR_INVAL (not held).
 * Both audited ("recording.hold" / "recording.release") with the reason.
 */
int pol_rec_hold(struct pol_db *db, const char *id, const char *reason);
int pol_rec_release(struct pol_db *db, const char *id, const char *reason);

/* Record the outcome of a verification (audited "recording.verify"). */
int pol_rec_set_verified(struct pol_db *db, const char *id, bool ok, const char *detail);

/*
 * Delete the row of a recording whose files are being removed, after
 * checking in the same transaction that it may go: not recording, not on
 * hold, and past its retention unless force. Returns 0, SE_ERR_NOTFOUND,
 * or SE_ERR_DENIED with the reason in why. Audited as action with detail
 * (the caller puts the manifest hash there); counted as purged.
 */
int pol_rec_delete(struct pol_db *db, const char *id, int64_t now, bool force, const char *action,
                   const char *detail, char *why, size_t whylen);

/* Recordings past retain_until at now, not on hold and not recording,
 * oldest deadline first, at most limit. */
int pol_rec_expired(struct pol_db *db, int64_t now, int limit, pol_rec_cb cb, void *arg);

/* The retention of the rule that required a recording: its id, else its
 * name. *days = 0 when the rule sets none (or is unknown). */
int pol_rec_rule_retention(struct pol_db *db, int64_t rule_id, const char *rule, int *days);

/* Does API token id still exist with role (a grant outlives no token)? */
bool pol_rec_token_alive(struct pol_db *db, int64_t token_id, const char *role);

/* Counters kept in the database, so every process that records adds to
 * the same numbers: "failures", "purged", "sealed". */
int pol_rec_counter_add(struct pol_db *db, const char *name, int64_t n);

struct pol_rec_stats {
    int64_t by_status[4]; /* recording, complete, incomplete, failed */
    int64_t bytes;        /* files of every recording */
    int64_t oldest;       /* start of the oldest recording, 0 if none */
    int64_t held;
    int64_t failures, purged, sealed;
};
int pol_rec_stats(struct pol_db *db, struct pol_rec_stats *out);
/* "recording" -> 0 ... "failed" -> 3; -1 if unknown. */
int pol_rec_status_index(const char *status);

/* The audit rows whose object is this recording, newest first. */
int pol_rec_audit(struct pol_db *db, const char *id, int limit, pol_audit_cb cb, void *arg);

/* A recording as the JSON object the CLI (--json) and the API print.
 * Returns a new jansson reference (json_t *), NULL on OOM. */
void *pol_recording_json(const struct pol_recording *r);

#endif
