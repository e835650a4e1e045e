/*
 * session.h - the jobs the control thread runs on a session's anchor
 * thread (through anchor_call(), server.c), and their arguments. Private
 * to relay/anchor/.
 *
 * Each job runs on the anchor thread with the session alive and not
 * ending; its arguments are borrowed from the waiting control thread for
 * the job's duration; outputs are written into them.
 */
#ifndef SE_ANCHOR_SESSION_H
#define SE_ANCHOR_SESSION_H

#include "relay/anchor/internal.h"

/* sedge's transport toward one party, for a rewrite (server.c). */
struct anchor_desc {
    char ufrag[ANCHOR_UFRAG_MAX + 1], pwd[ANCHOR_PWD_MAX + 1];
    char fingerprint[ANCHOR_FP_TEXT];
    char addr[64];
    bool v6;
    uint16_t port;
    int setup; /* enum anchor_setup */
    char cand[ANCHOR_LOCAL_CANDS][ANCHOR_CAND_LEN];
    int n_cand;
};

/* A new session from side's offer; out: sedge's offer transport for the
 * other party. On failure the job leaves nothing behind. */
struct anchor_create_job {
    int side;
    const struct anchor_transport *t;
    struct anchor_desc *out;
    char err[160];
};
int anchor_job_create(struct anchor_session *s, void *arg);

/* side's description (an offer, or the answer to the other's offer);
 * out: sedge's transport for the other party. */
struct anchor_desc_job {
    int side;
    bool is_offer;
    const struct anchor_transport *t;
    struct anchor_desc *out;
    char err[160];
};
int anchor_job_describe(struct anchor_session *s, void *arg);

struct anchor_cand_job {
    int side;
    const char *cand; /* NULL: end-of-candidates */
    const char *mid;  /* NULL: the BUNDLE tag */
    char err[160];
};
int anchor_job_candidate(struct anchor_session *s, void *arg);

/* arg: the reason (const char *). */
int anchor_job_end(struct anchor_session *s, void *arg);
/* arg: struct anchor_info * to fill. */
int anchor_job_info(struct anchor_session *s, void *arg);

struct anchor_policy_job {
    struct anchor_verdict v;
};
int anchor_job_policy(struct anchor_session *s, void *arg);
/* arg: the struct anchor_rec * to attach (taken on success). */
int anchor_job_attach(struct anchor_session *s, void *arg);
/* Is s recording now? (0 or 1; SE_ERR_NOTFOUND once ending) */
int anchor_job_recording(struct anchor_session *s, void *arg);
/* arg: the call's next recording: it replaces the attached one, which is
 * sealed (taken on success). SE_ERR_INVAL when none is attached. */
int anchor_job_swap(struct anchor_session *s, void *arg);

/* Tear s down now (anchor thread): legs closed, recording handed to be
 * sealed, END posted, the thread's reference dropped. */
void anchor_session_teardown(struct anchor_session *s, const char *reason);

#endif
