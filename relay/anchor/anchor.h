/*
 * anchor.h - anchor mode: sedge in the middle of a WebRTC call as the
 * DTLS endpoint of both legs (docs/anchor.md).
 *
 * A signalling application (the browser extension) passes each party's
 * description through sedge: the other party receives the same
 * description with sedge's ICE credentials, candidates and DTLS
 * fingerprint in place of the first party's (fingerprint substitution).
 * Each party then runs ICE (libnice) and DTLS-SRTP with sedge; sedge
 * decrypts what one leg sends, hands RTP to the recorder where policy
 * says so, and encrypts it again for the other leg. Data channels pass
 * from one leg's DTLS to the other's without sedge terminating SCTP.
 *
 * The control thread owns the server and calls everything here; the
 * media runs on the anchor's own threads (anchor.threads, one GLib main
 * context each). Calls that touch a session wait for its thread (a few
 * microseconds; at most ANCHOR_CALL_TIMEOUT_MS). Strings passed in are
 * copied; strings returned through char ** are the caller's to free().
 */
#ifndef SE_ANCHOR_H
#define SE_ANCHOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct anchor_server;
struct rec_catalog;
struct se_config;
struct se_addr;

enum anchor_side { ANCHOR_INSIDE = 0, ANCHOR_OUTSIDE = 1 };

enum {
    ANCHOR_ID_LEN = 32,      /* "an-" + 24 hex + NUL */
    ANCHOR_USER_MAX = 128,
    ANCHOR_ORIGIN_MAX = 512,
    ANCHOR_REASON_MAX = 160,
};

/* What serve hands over from sedge.conf (anchor and recording groups). */
struct anchor_config {
    char inside[64], outside[64];           /* bound addresses */
    char inside_adv[64], outside_adv[64];   /* advertised */
    unsigned min_port, max_port;
    unsigned max_sessions, max_sessions_per_user;
    unsigned setup_timeout; /* seconds for both legs to connect */
    unsigned threads;
    unsigned session_update; /* seconds between UPDATE events */
    /* recording: the serve loop's catalog (borrowed; NULL without
     * recording.dir: calls that must be recorded are refused), and
     * recording.on_failure for calls a rule requires to be recorded and
     * for others (se_config_rec_end_call) */
    struct rec_catalog *catalog;
    bool rec_end_required, rec_end_optional;
};
/* Everything but catalog, which the caller sets. */
void anchor_config_from(const struct se_config *cfg, struct anchor_config *out);

/* Something worth the control thread's attention was queued (any thread). */
typedef void (*anchor_notify_fn)(void *arg);

/*
 * Start the anchor: certificate, threads, recorder (records into
 * c->catalog, which must outlive the server). 0, or SE_ERR_* with a message in err. Control thread.
 */
int anchor_server_new(const struct anchor_config *c, anchor_notify_fn notify, void *arg,
                      struct anchor_server **out, char *err, size_t errlen);
/* End every session (reason "shutdown"), seal their recordings and stop
 * the threads; their END events stay queued for anchor_take_events().
 * Idempotent. */
void anchor_server_stop(struct anchor_server *a);
/* Stop (if not yet), then free; queued events are lost. NULL: no-op. */
void anchor_server_free(struct anchor_server *a);
/* SIGHUP: limits and timeouts (addresses and ports need a restart). */
void anchor_server_reconfigure(struct anchor_server *a, const struct anchor_config *c);
/* Can calls that policy says must be recorded be anchored here? */
bool anchor_can_record(const struct anchor_server *a);
/* sedge's DTLS fingerprint ("sha-256 AB:..."), borrowed. */
const char *anchor_fingerprint(const struct anchor_server *a);

/* A new anchored call, as the API decided it. */
struct anchor_request {
    const char *user;
    const char *origin;            /* NULL: none */
    const struct se_addr *client;  /* who called the API */
    int side;                      /* enum anchor_side: who made the offer */
    const char *sdp;               /* that offer */
    size_t sdp_len;
    int64_t rule_id;               /* 0: the default action decided */
    const char *rule_name;
    bool record;
};

/*
 * Create a session from an offer: *id (ANCHOR_ID_LEN) names it, *sdp_out
 * is the offer for the other party. Returns 0, or:
 *   SE_ERR_PARSE / SE_ERR_TOOBIG / SE_ERR_UNSUPP  the offer (err says why)
 *   SE_ERR_LIMIT  anchor.max_sessions reached
 *   SE_ERR_FULL   anchor.max_sessions_per_user reached for this user
 *   SE_ERR_AGAIN  no free port, or the anchor is overloaded
 */
int anchor_create(struct anchor_server *a, const struct anchor_request *rq, char *id,
                  char **sdp_out, char *err, size_t errlen);
/* The other party's answer to the pending offer; *sdp_out is the answer
 * for the offerer. SE_ERR_NOTFOUND (no such session of user), SE_ERR_INVAL
 * (no offer pending), or the parse errors above. */
int anchor_answer(struct anchor_server *a, const char *id, const char *user, const char *sdp,
                  size_t len, char **sdp_out, char *err, size_t errlen);
/* A new offer from side (renegotiation, ICE restart); *sdp_out goes to
 * the other party, whose answer comes through anchor_answer(). */
int anchor_offer(struct anchor_server *a, const char *id, const char *user, int side,
                 const char *sdp, size_t len, char **sdp_out, char *err, size_t errlen);
/* A trickled candidate of side's party ("candidate:...", for mid), or
 * its end-of-candidates (cand NULL). Candidates of other m-lines than the
 * BUNDLE tag are ignored (0). */
int anchor_candidate(struct anchor_server *a, const char *id, const char *user, int side,
                     const char *cand, const char *mid, char *err, size_t errlen);
/* End a session (DELETE): both legs end, the recording is sealed. */
int anchor_delete(struct anchor_server *a, const char *id, const char *user);
/* End a session for an admin (user not checked). 0 or SE_ERR_NOTFOUND. */
int anchor_kill(struct anchor_server *a, const char *id, const char *reason);

struct anchor_leg_info {
    char ice[16], dtls[16], role[8], srtp[32];
    char local[64], remote[64];
    char cand[4][256];
    int n_cand;
    uint64_t bytes_in, bytes_out, pkts_in, pkts_out;
    uint64_t auth_failures, replays, dropped;
};
struct anchor_info {
    char id[ANCHOR_ID_LEN], user[ANCHOR_USER_MAX], origin[ANCHOR_ORIGIN_MAX];
    char state[16];     /* "connecting", "live" */
    char recording[128]; /* "" if none */
    bool record;
    int64_t started;
    int64_t rule_id;
    char rule_name[128];
    struct anchor_leg_info leg[2];
};
/* The state of both legs. 0 or SE_ERR_NOTFOUND. */
int anchor_get(struct anchor_server *a, const char *id, const char *user,
               struct anchor_info *out);

/*
 * Policy for live sessions: decide(arg, user, origin, inside party) says
 * whether the session may go on (allow) and whether it must be recorded,
 * with the deciding rule. Sessions no longer allowed end ("revoked");
 * sessions that now must be recorded start recording. Control thread,
 * after every policy publish and periodically.
 */
struct anchor_verdict {
    bool allow, record;
    int64_t rule_id;
    const char *rule_name;
};
typedef void (*anchor_policy_fn)(void *arg, const char *user, const char *origin,
                                 const struct se_addr *client, struct anchor_verdict *v);
void anchor_recheck(struct anchor_server *a, anchor_policy_fn fn, void *arg);

/*
 * Session events for the control thread (sessions table, audit, log).
 * START when created, UPDATE with counters every anchor session_update
 * seconds while media flows, END when over (after the recording is
 * sealed). RECORD is internal: a session is ready to be recorded (both
 * legs up) and waits for anchor_handle_event() to attach the recorder.
 */
enum anchor_event_type {
    ANCHOR_EV_START = 1,
    ANCHOR_EV_UPDATE = 2,
    ANCHOR_EV_END = 3,
    ANCHOR_EV_RECORD = 4,
};
struct anchor_event {
    int type;
    char sid[ANCHOR_ID_LEN];
    int64_t at; /* unix seconds */
    char user[ANCHOR_USER_MAX], origin[ANCHOR_ORIGIN_MAX];
    char inside[80], outside[80]; /* the parties: "udp:1.2.3.4:5" or "" */
    char local[160];              /* the anchor's two addresses */
    int64_t rule_id;
    char rule_name[128];
    int record;
    /* inside leg: from / to the inside party; outside leg likewise */
    uint64_t in_bytes_from, in_bytes_to, in_pkts_from, in_pkts_to;
    uint64_t out_bytes_from, out_bytes_to, out_pkts_from, out_pkts_to;
    char recording[128];
    char reason[ANCHOR_REASON_MAX];
};
/* Take up to max events (oldest first); caller frees each with free(). */
size_t anchor_take_events(struct anchor_server *a, struct anchor_event **out, size_t max);
/* Act on a RECORD event (opens the recording, attaches it; ends the
 * session if it cannot be recorded). Control thread. */
void anchor_handle_event(struct anchor_server *a, const struct anchor_event *e);

struct anchor_stats {
    uint64_t live, created, refused, ended, events_dropped;
    /* over live and ended calls, both legs */
    uint64_t pkts_out, auth_failures, replays, dropped;
};
void anchor_server_stats(struct anchor_server *a, struct anchor_stats *out);

#endif
