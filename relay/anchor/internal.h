/*
 * internal.h - what the anchor's own files share (server.c, session.c,
 * leg.c, media.c, rec.c). Not a public header: only relay/anchor/
 * includes it.
 *
 * Ownership and threads:
 *   - struct anchor_server belongs to the control thread; its session
 *     table and per-user counts are under `lock` (taken per API call and
 *     per session start/end, never per packet).
 *   - a session belongs to one anchor thread (its GMainContext): every
 *     libnice, DTLS, SRTP and recorder-feed call for it runs there. The
 *     control thread reaches it only through anchor_call() (a job run on
 *     that thread while the caller waits) and reads its counters
 *     (relaxed atomics). Fields marked "ctl" are the control thread's.
 *   - sessions are reference counted: the table holds one reference, the
 *     anchor thread one while the session is live, each API call one for
 *     its duration.
 */
#ifndef SE_ANCHOR_INTERNAL_H
#define SE_ANCHOR_INTERNAL_H

#include "core/addr.h"
#include "record/rec.h"
#include "relay/anchor/anchor.h"
#include "relay/anchor/dtls.h"
#include "relay/anchor/sdp.h"
#include "relay/anchor/srtp.h"

#include <glib.h>
#include <nice/agent.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct anchor_rec;
struct anchor_recorder;
struct se_queue;

enum {
    ANCHOR_PKT_MAX = 8192,        /* largest RTP/RTCP/DTLS datagram forwarded */
    ANCHOR_LOCAL_CANDS = 4,       /* sedge's candidates per leg */
    ANCHOR_MAX_SSRC = 32,         /* SSRCs one party may use (bounds libsrtp streams) */
    ANCHOR_MAX_REMOTE_CANDS = 64, /* candidates one party may give a leg, in all */
    ANCHOR_TICK_MS = 100,         /* DTLS retransmissions, keyframe requests, expiry */
    ANCHOR_CALL_TIMEOUT_MS = 3000, /* longest wait for an anchor thread to take a job */
    ANCHOR_EVENT_QUEUE = 4096,
    ANCHOR_EARLY_DTLS = 4,        /* datagrams of a first flight kept per leg */
    ANCHOR_DTLS_EARLY_MAX = 1500,
    ANCHOR_SCTP_HELD = 8,
    ANCHOR_SOCKET_BUF = 1 << 20,  /* SO_RCVBUF/SO_SNDBUF of a leg's selected socket */
    ANCHOR_SCTP_HELD_MAX = 1500,
};

enum anchor_role { ROLE_NONE = 0, ROLE_CLIENT = 1, ROLE_SERVER = 2 };

struct anchor_leg {
    struct anchor_session *s;
    int side; /* enum anchor_side */
    /* Where datagrams to the party go; NULL: the ICE agent. Set only by
     * unit tests and fuzz targets that run the packet path without sockets. */
    void (*send_fn)(struct anchor_leg *l, const uint8_t *buf, size_t len);
    /* ICE */
    NiceAgent *agent;
    guint stream;
    bool controlling;
    bool ice_up; /* reached CONNECTED once: a later FAILED means consent lost */
    _Atomic int ice_state; /* NiceComponentState */
    char ufrag[ANCHOR_UFRAG_MAX + 1], pwd[ANCHOR_PWD_MAX + 1];
    char cand[ANCHOR_LOCAL_CANDS][ANCHOR_CAND_LEN];
    int n_cand;
    struct se_addr local;        /* bound address and port */
    char remote_ufrag[ANCHOR_UFRAG_MAX + 1];
    char remote_mid[ANCHOR_MID_MAX + 1]; /* the party's BUNDLE tag */
    int n_remote_cands;
    char remote_addr[SE_ADDR_STRLEN]; /* selected pair, "" before */
    /* DTLS */
    struct anchor_fp fp[ANCHOR_MAX_FP];
    int n_fp;
    int role;        /* enum anchor_role, fixed by the first offer/answer */
    bool described;  /* the party has sedge's description: DTLS may start */
    struct anchor_dtls *dtls;
    _Atomic int dtls_state;
    /* DTLS that arrived before the leg's DTLS could start (a recorded
     * call waits for its recorder): kept, then fed in order */
    uint8_t *early;      /* ANCHOR_EARLY_DTLS x ANCHOR_DTLS_EARLY_MAX, made on first use */
    uint16_t early_len[4];
    int n_early;
    /* SCTP the party sent before the other leg's DTLS was up (its INIT,
     * typically): kept, then passed on when it is, instead of waiting for
     * the party's SCTP retransmission (3 s in some stacks) */
    uint8_t *sctp_held;  /* ANCHOR_SCTP_HELD x ANCHOR_SCTP_HELD_MAX, made on first use */
    uint16_t sctp_held_len[8];
    int n_sctp_held;
    /* SRTP */
    struct anchor_srtp *srtp;
    int profile;
    uint32_t ssrcs[ANCHOR_MAX_SSRC];
    bool held[ANCHOR_MAX_SSRC]; /* RTP of this SSRC was held back (other leg not ready) */
    int n_ssrcs;
    /* counters: written by the anchor thread only */
    _Atomic uint64_t pkts_in, bytes_in, pkts_out, bytes_out;
    _Atomic uint64_t auth_fail, replay, dropped, sctp_in;
};

struct anchor_thread;

struct anchor_session {
    atomic_int refs;
    struct anchor_server *srv;
    struct anchor_thread *t;
    char id[ANCHOR_ID_LEN];
    /* fixed at creation */
    char user[ANCHOR_USER_MAX], origin[ANCHOR_ORIGIN_MAX];
    char api_client[SE_ADDR_STRLEN];
    int64_t started_wall;
    /* policy: written by jobs (anchor thread), read by the control thread
     * only inside jobs or from events */
    int64_t rule_id;
    char rule_name[128];
    bool record;
    /* anchor thread */
    struct anchor_leg leg[2];
    bool live;       /* both legs' DTLS connected */
    bool ending;     /* teardown scheduled */
    bool rec_asked;  /* ANCHOR_EV_RECORD posted, waiting for the recorder */
    bool torn;       /* torn down: off its thread */
    char end_reason[160];
    int64_t deadline_ms;    /* monotonic: end unless live by then */
    int64_t next_update_ms; /* monotonic: next UPDATE event */
    uint64_t reported_pkts;
    uint32_t own_ssrc;      /* sedge's RTCP sender SSRC */
    struct anchor_rec *rec; /* attached recorder, NULL if none */
    struct anchor_session *tprev, *tnext; /* the thread's list */
    /* ctl: control thread only */
    struct anchor_sdp *ctl_offer;     /* the offer waiting for an answer */
    int ctl_offer_side;
    char *ctl_desc[2];                /* the latest description each party wrote, once
                                       * answered (the recorder's streams) */
    bool ctl_counted;                 /* counted in the per-user and global limits */
};

struct anchor_thread {
    struct anchor_server *srv;
    int index;
    GMainContext *ctx;
    GMainLoop *loop;
    GThread *thread;
    GSource *tick;
    struct anchor_session *sessions;
    atomic_uint n_sessions;
    /* the packet path's scratch: one datagram, plus room for SRTP trailers */
    uint8_t buf[ANCHOR_PKT_MAX + ANCHOR_SRTP_TRAILER];
};

struct anchor_server {
    struct anchor_config conf;
    struct anchor_cert *cert;
    struct anchor_thread *threads;
    int n_threads;
    unsigned next_thread;
    GMutex lock; /* table, per-user counts */
    GHashTable *table;  /* id -> session (one reference) */
    GHashTable *per_user; /* user -> count (GUINT_TO_POINTER) */
    unsigned n_live;
    struct se_queue *events;
    anchor_notify_fn notify;
    void *notify_arg;
    struct anchor_recorder *recorder;
    _Atomic uint64_t created, refused, ended, events_dropped;
    /* counters of calls that ended (live ones are summed at read time) */
    _Atomic uint64_t gone_pkts_out, gone_auth_fail, gone_replay, gone_dropped;
};

/* ---- server.c ---- */
typedef int (*anchor_job_fn)(struct anchor_session *s, void *arg);
/* Run fn(s, arg) on s's anchor thread and wait for it (control thread).
 * Returns fn's result, SE_ERR_NOTFOUND if s is ending, or SE_ERR_AGAIN
 * if the thread did not take the job within ANCHOR_CALL_TIMEOUT_MS (it
 * then never runs). */
int anchor_call(struct anchor_session *s, anchor_job_fn fn, void *arg);
void anchor_session_ref(struct anchor_session *s);
void anchor_session_unref(struct anchor_session *s);
/* Queue an event for the control thread (takes ownership; counted when
 * dropped). Any thread. */
void anchor_post(struct anchor_server *srv, struct anchor_event *e);
/* An event of type about s (anchor thread, or control thread in a job). */
struct anchor_event *anchor_event_new(struct anchor_session *s, int type, const char *reason);
/* The session left its thread: drop it from the table and the limits
 * (any thread). */
void anchor_forget(struct anchor_session *s);
int64_t anchor_now_ms(void);

/* ---- session.c (anchor thread) ---- */
/* Schedule the end of s (idempotent): media stops at once, the legs are
 * torn down from an idle callback, the END event follows. */
void anchor_session_end(struct anchor_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The thread's 100 ms housekeeping for one session. */
void anchor_session_tick(struct anchor_session *s, int64_t now_ms);
/* A leg changed state (ICE up/failed, DTLS connected/failed). */
void anchor_session_leg_changed(struct anchor_leg *l);

/* ---- leg.c (anchor thread) ---- */
/* Make the leg's agent: bind, gather host candidates (advertised in
 * cand[]). 0, SE_ERR_LIMIT (no free port) or SE_ERR_IO. */
int anchor_leg_open(struct anchor_leg *l, const struct se_addr *bind, const struct se_addr *adv);
/* The party's transport from its description: credentials, candidates
 * (and end-of-candidates), fingerprints; an ICE restart when the
 * credentials changed. 0 or SE_ERR_*. */
int anchor_leg_remote(struct anchor_leg *l, const struct anchor_transport *t);
/* One trickled candidate ("candidate:..."), or end (cand NULL). */
int anchor_leg_candidate(struct anchor_leg *l, const char *cand);
/* Start DTLS once the role is known, ICE is up, the party has our
 * description and, for a recorded call, the recorder is attached
 * (idempotent); then feed what arrived early. */
void anchor_leg_try_dtls(struct anchor_leg *l);
/* Keep a DTLS datagram that came before the leg's DTLS started. */
void anchor_leg_keep_early(struct anchor_leg *l, const uint8_t *buf, size_t len);
/* The leg's DTLS just connected: pass on the SCTP the other party sent
 * while it was not. */
void anchor_leg_flush_sctp(struct anchor_leg *l);
void anchor_leg_close(struct anchor_leg *l);
const char *anchor_ice_state_name(int st);
const char *anchor_dtls_state_name(int st);

/* ---- media.c (anchor thread) ---- */
/* A datagram from the leg's party (libnice's receive callback). */
void anchor_media_input(struct anchor_leg *in, const uint8_t *buf, size_t len);
/* Send one datagram to the leg's party. */
void anchor_leg_send(struct anchor_leg *l, const uint8_t *buf, size_t len);
/* The leg's DTLS connected: set up SRTP. 0 or SE_ERR_*. */
int anchor_media_keys(struct anchor_leg *l);
/* Ask the party of leg l for a keyframe of its stream ssrc (PLI, and FIR
 * as well when fir). */
void anchor_media_keyframe(struct anchor_leg *l, uint32_t ssrc, bool fir, uint8_t fir_seq);

/* ---- rec.c: every call into record/ ---- */
int anchor_recorder_new(const struct anchor_config *c, struct anchor_server *srv,
                        struct anchor_recorder **out, char *err, size_t errlen);
void anchor_recorder_free(struct anchor_recorder *r);
/* Is there a catalog (recording.dir) to record into? */
bool anchor_recorder_ready(const struct anchor_recorder *r);
/* recording.dir, or NULL when not ready. */
const char *anchor_recorder_dir(const struct anchor_recorder *r);
/* Open the session's recording (control thread): one recording in the
 * catalog holding both parties, its streams from the latest description
 * each party wrote (desc[ANCHOR_INSIDE], desc[ANCHOR_OUTSIDE]; what a
 * party sends is described by the other's); inside and outside are the
 * parties' addresses ("udp:IP:PORT" or ""). 0 and *out, or SE_ERR_* with
 * err. */
int anchor_rec_open(struct anchor_recorder *r, struct anchor_session *s, const char *const desc[2],
                    const char *inside, const char *outside, struct anchor_rec **out,
                    char *err, size_t errlen);
/* Its id: the catalog's recording id (the directory's name). */
const char *anchor_rec_id(const struct anchor_rec *r);
/* One decrypted RTP packet, or RTCP compound packet, from side's party
 * (anchor thread, per packet; never blocks). */
void anchor_rec_tap(struct anchor_rec *r, int side, bool rtcp, const uint8_t *buf, size_t len);
/* Keyframe requests the recorder made, a new stream, a failure the
 * recorder reported (recording.on_failure: the call may end here)
 * (anchor thread). */
void anchor_rec_tick(struct anchor_rec *r, struct anchor_session *s, int64_t now_ms);
/* Close and seal it off the media threads, then post end (takes both). */
void anchor_rec_close(struct anchor_recorder *r, struct anchor_rec *rec, struct anchor_event *end);
/* A recording opened but never attached (control thread). */
void anchor_rec_discard(struct anchor_recorder *r, struct anchor_rec *rec);
/* Would a recording of the new descriptions hold the same streams as one
 * of the old? (A renegotiation that adds or changes recordable streams
 * starts the call's next recording.) */
bool anchor_rec_same_streams(const char *const old_desc[2], const char *const new_desc[2]);

#endif
