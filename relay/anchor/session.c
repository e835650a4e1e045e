/*
 * session.c - an anchored call on its anchor thread: the jobs the control
 * thread runs on it, its state as its legs come up, housekeeping, end.
 *
 * Life: created from the first offer (both legs' agents made, the
 * offerer's transport applied), described further by answers and
 * renegotiation offers, live once both legs' DTLS is connected, ended by
 * the API, an admin, policy, a failed or vanished leg, or the setup
 * timeout. Ending stops media at once and tears the legs down from an
 * idle callback (never inside a libnice signal or a DTLS callback); the
 * END event follows once the recording, if any, is sealed.
 *
 * DTLS roles (RFC 8842): on the leg where the party offered, sedge takes
 * the role the offer leaves it (active for actpass); on the leg sedge
 * offered it says actpass and takes what the answer leaves it. Later
 * offers in either direction keep the roles: sedge's re-offers say the
 * role it holds, and a description that would swap them is refused.
 */
#include "relay/anchor/session.h"
#include "core/err.h"
#include "core/log.h"

#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *side_name(int side)
{
    return side == ANCHOR_INSIDE ? "inside" : "outside";
}

static int role_setup(int role)
{
    return role == ROLE_CLIENT ? ANCHOR_SETUP_ACTIVE
           : role == ROLE_SERVER ? ANCHOR_SETUP_PASSIVE
                                 : ANCHOR_SETUP_ACTPASS;
}

static void desc_out(struct anchor_session *s, const struct anchor_leg *l, int setup,
                     struct anchor_desc *d)
{
    const struct anchor_config *c = &s->srv->conf;

    memset(d, 0, sizeof(*d));
    snprintf(d->ufrag, sizeof(d->ufrag), "%s", l->ufrag);
    snprintf(d->pwd, sizeof(d->pwd), "%s", l->pwd);
    snprintf(d->fingerprint, sizeof(d->fingerprint), "%s", anchor_cert_fingerprint(s->srv->cert));
    snprintf(d->addr, sizeof(d->addr), "%s",
             l->side == ANCHOR_INSIDE ? c->inside_adv : c->outside_adv);
    d->v6 = strchr(d->addr, ':') != NULL;
    d->port = l->local.port;
    d->setup = setup;
    for (int i = 0; i < l->n_cand; i++)
        snprintf(d->cand[i], sizeof(d->cand[i]), "%s", l->cand[i]);
    d->n_cand = l->n_cand;
}

/* ---- creation ---- */

static int open_leg(struct anchor_session *s, int side)
{
    const struct anchor_config *c = &s->srv->conf;
    struct se_addr bind, adv;

    s->leg[side].s = s;
    s->leg[side].side = side;
    if (se_addr_parse_ip(&bind, side == ANCHOR_INSIDE ? c->inside : c->outside, 0) < 0 ||
        se_addr_parse_ip(&adv, side == ANCHOR_INSIDE ? c->inside_adv : c->outside_adv, 0) < 0)
        return SE_ERR_INVAL;
    return anchor_leg_open(&s->leg[side], &bind, &adv);
}

int anchor_job_create(struct anchor_session *s, void *arg)
{
    struct anchor_create_job *j = arg;
    struct anchor_thread *t = s->t;
    int side = j->side, rc;

    /* Full ICE: the offerer controls its leg, sedge the leg it offers. */
    s->leg[side].controlling = j->t->ice_lite;
    s->leg[!side].controlling = true;
    if ((rc = open_leg(s, ANCHOR_INSIDE)) < 0 || (rc = open_leg(s, ANCHOR_OUTSIDE)) < 0) {
        snprintf(j->err, sizeof(j->err), rc == SE_ERR_AGAIN
                                             ? "no free port in anchor.min_port-max_port"
                                             : "cannot start ICE on the anchor's addresses");
        goto fail;
    }
    if ((rc = anchor_leg_remote(&s->leg[side], j->t)) < 0) {
        snprintf(j->err, sizeof(j->err), "cannot use the offer's transport");
        goto fail;
    }
    /* RFC 8842 §5.2: actpass or passive leaves sedge the client role. */
    s->leg[side].role = j->t->setup == ANCHOR_SETUP_ACTIVE ? ROLE_SERVER : ROLE_CLIENT;
    if (RAND_bytes((uint8_t *)&s->own_ssrc, sizeof(s->own_ssrc)) != 1 || !s->own_ssrc)
        s->own_ssrc = g_random_int() | 1;
    int64_t now = anchor_now_ms();
    s->deadline_ms = now + (int64_t)s->srv->conf.setup_timeout * 1000;
    s->next_update_ms = now + (int64_t)s->srv->conf.session_update * 1000;
    s->tnext = t->sessions;
    if (t->sessions)
        t->sessions->tprev = s;
    t->sessions = s;
    atomic_fetch_add(&t->n_sessions, 1);
    anchor_session_ref(s); /* the thread's */
    anchor_leg_try_dtls(&s->leg[side]);
    desc_out(s, &s->leg[!side], ANCHOR_SETUP_ACTPASS, j->out);
    se_info("anchor: %s created user=%s origin=%s offer from the %s party, anchor %s:%u / %s:%u",
            s->id, s->user, s->origin[0] ? s->origin : "-", side_name(side),
            s->srv->conf.inside_adv, s->leg[ANCHOR_INSIDE].local.port, s->srv->conf.outside_adv,
            s->leg[ANCHOR_OUTSIDE].local.port);
    return 0;
fail:
    anchor_leg_close(&s->leg[ANCHOR_INSIDE]);
    anchor_leg_close(&s->leg[ANCHOR_OUTSIDE]);
    return rc;
}

/* ---- descriptions ---- */

/* The role sedge takes on leg l from the party's a=setup, or refuses. */
static int take_role(struct anchor_leg *l, int setup, bool is_offer, char *err, size_t errlen)
{
    int want = setup == ANCHOR_SETUP_ACTIVE    ? ROLE_SERVER
               : setup == ANCHOR_SETUP_PASSIVE ? ROLE_CLIENT
               : is_offer                      ? (l->role ? l->role : ROLE_CLIENT)
                                               : ROLE_NONE;
    if (want == ROLE_NONE) {
        snprintf(err, errlen, "an answer must say a=setup:active or passive");
        return SE_ERR_UNSUPP;
    }
    if (l->role != ROLE_NONE && l->role != want) {
        snprintf(err, errlen, "the %s party's a=setup:%s would swap the DTLS roles",
                 side_name(l->side), anchor_setup_name(setup));
        return SE_ERR_UNSUPP;
    }
    l->role = want;
    return 0;
}

int anchor_job_describe(struct anchor_session *s, void *arg)
{
    struct anchor_desc_job *j = arg;
    struct anchor_leg *l = &s->leg[j->side], *o = &s->leg[!j->side];
    int rc;

    if ((rc = take_role(l, j->t->setup, j->is_offer, j->err, sizeof(j->err))) < 0)
        return rc;
    if ((rc = anchor_leg_remote(l, j->t)) < 0) {
        snprintf(j->err, sizeof(j->err), "the %s party's certificate fingerprint changed",
                 side_name(l->side));
        return rc;
    }
    if (!j->is_offer) {
        l->described = true; /* it answered sedge's offer */
        o->described = true; /* the offerer gets sedge's answer now */
    }
    anchor_leg_try_dtls(l);
    anchor_leg_try_dtls(o);
    desc_out(s, o, role_setup(o->role), j->out);
    return 0;
}

int anchor_job_candidate(struct anchor_session *s, void *arg)
{
    struct anchor_cand_job *j = arg;
    struct anchor_leg *l = &s->leg[j->side];

    if (j->mid && l->remote_mid[0] && strcmp(j->mid, l->remote_mid) != 0)
        return 0; /* a transport BUNDLE does not use */
    if (anchor_leg_candidate(l, j->cand) < 0) {
        snprintf(j->err, sizeof(j->err), "malformed candidate (RFC 8839 §5.1)");
        return SE_ERR_PARSE;
    }
    return 0;
}

/* ---- state ---- */

void anchor_session_leg_changed(struct anchor_leg *l)
{
    struct anchor_session *s = l->s;
    int ice = atomic_load_explicit(&l->ice_state, memory_order_relaxed);

    if (s->ending)
        return;
    if (ice == NICE_COMPONENT_STATE_FAILED) {
        anchor_session_end(s, "ICE failed on the %s leg%s", side_name(l->side),
                           l->ice_up ? " (the party vanished: consent lost)" : "");
        return;
    }
    if (l->dtls && anchor_dtls_state(l->dtls) == ANCHOR_DTLS_FAILED) {
        anchor_session_end(s, "DTLS failed on the %s leg: %s", side_name(l->side),
                           anchor_dtls_error(l->dtls));
        return;
    }
    if (l->dtls && anchor_dtls_state(l->dtls) == ANCHOR_DTLS_CLOSED) {
        anchor_session_end(s, "the %s party closed its DTLS association", side_name(l->side));
        return;
    }
    if (!s->live && s->leg[0].srtp && s->leg[1].srtp) {
        s->live = true;
        se_info("anchor: %s live: inside %s (%s), outside %s (%s)%s", s->id,
                s->leg[0].remote_addr, anchor_srtp_profile_name(s->leg[0].profile),
                s->leg[1].remote_addr, anchor_srtp_profile_name(s->leg[1].profile),
                s->record ? ", recording" : "");
    }
    /* The recorder is asked for as soon as both parties' addresses are
     * known (ICE up), so it is attached before DTLS finishes and records
     * the first keyframe; media waits for it either way. */
    if (s->leg[0].ice_up && s->leg[1].ice_up && s->record && !s->rec && !s->rec_asked) {
        s->rec_asked = true;
        anchor_post(s->srv, anchor_event_new(s, ANCHOR_EV_RECORD, NULL));
    }
}

static gboolean teardown_cb(gpointer p)
{
    struct anchor_session *s = p;

    if (!s->torn)
        anchor_session_teardown(s, NULL);
    return G_SOURCE_REMOVE;
}

void anchor_session_end(struct anchor_session *s, const char *fmt, ...)
{
    va_list ap;

    if (s->ending)
        return;
    s->ending = true;
    va_start(ap, fmt);
    vsnprintf(s->end_reason, sizeof(s->end_reason), fmt, ap);
    va_end(ap);
    GSource *src = g_idle_source_new();
    anchor_session_ref(s);
    g_source_set_callback(src, teardown_cb, s, (GDestroyNotify)anchor_session_unref);
    g_source_attach(src, s->t->ctx);
    g_source_unref(src);
}

void anchor_session_teardown(struct anchor_session *s, const char *reason)
{
    struct anchor_thread *t = s->t;

    if (s->torn)
        return;
    if (!s->ending) {
        s->ending = true;
        snprintf(s->end_reason, sizeof(s->end_reason), "%s", reason ? reason : "ended");
    }
    s->torn = true;
    struct anchor_event *end = anchor_event_new(s, ANCHOR_EV_END, s->end_reason);
    anchor_leg_close(&s->leg[ANCHOR_INSIDE]);
    anchor_leg_close(&s->leg[ANCHOR_OUTSIDE]);
    if (s->tprev)
        s->tprev->tnext = s->tnext;
    else
        t->sessions = s->tnext;
    if (s->tnext)
        s->tnext->tprev = s->tprev;
    s->tprev = s->tnext = NULL;
    atomic_fetch_sub(&t->n_sessions, 1);
    se_info("anchor: %s ended user=%s: %s", s->id, s->user, s->end_reason);
    if (s->rec) {
        anchor_rec_close(s->srv->recorder, s->rec, end); /* END once it is sealed */
        s->rec = NULL;
    } else {
        anchor_post(s->srv, end);
    }
    anchor_forget(s);
    anchor_session_unref(s); /* the thread's */
}

void anchor_session_tick(struct anchor_session *s, int64_t now)
{
    if (s->ending)
        return;
    if (!s->live && now > s->deadline_ms) {
        anchor_session_end(s, "setup timed out: the legs did not connect within %u s",
                           s->srv->conf.setup_timeout);
        return;
    }
    for (int i = 0; i < 2; i++) {
        struct anchor_leg *l = &s->leg[i];
        if (l->dtls && anchor_dtls_state(l->dtls) == ANCHOR_DTLS_HANDSHAKE) {
            anchor_dtls_tick(l->dtls);
            if (anchor_dtls_state(l->dtls) != ANCHOR_DTLS_HANDSHAKE) {
                atomic_store_explicit(&l->dtls_state, anchor_dtls_state(l->dtls),
                                      memory_order_relaxed);
                anchor_session_leg_changed(l);
                if (s->ending)
                    return;
            }
        }
    }
    if (s->rec)
        anchor_rec_tick(s->rec, s, now);
    if (now >= s->next_update_ms) {
        uint64_t pkts = 0;
        s->next_update_ms = now + (int64_t)s->srv->conf.session_update * 1000;
        for (int i = 0; i < 2; i++)
            pkts += atomic_load_explicit(&s->leg[i].pkts_in, memory_order_relaxed);
        if (pkts != s->reported_pkts) {
            s->reported_pkts = pkts;
            anchor_post(s->srv, anchor_event_new(s, ANCHOR_EV_UPDATE, NULL));
        }
    }
}

/* ---- other jobs ---- */

int anchor_job_end(struct anchor_session *s, void *arg)
{
    anchor_session_end(s, "%s", arg ? (const char *)arg : "ended");
    return 0;
}

int anchor_job_policy(struct anchor_session *s, void *arg)
{
    struct anchor_policy_job *j = arg;

    if (!j->v.allow) {
        if (j->v.rule_id)
            anchor_session_end(s, "revoked: denied by rule #%lld %s", (long long)j->v.rule_id,
                               j->v.rule_name ? j->v.rule_name : "");
        else
            anchor_session_end(s, "revoked: denied by the default action");
        return 0;
    }
    s->rule_id = j->v.rule_id;
    snprintf(s->rule_name, sizeof(s->rule_name), "%s", j->v.rule_name ? j->v.rule_name : "");
    if (j->v.record && !s->record) {
        /* Recording is required from now on: media waits for the recorder. */
        se_info("anchor: %s: policy now requires recording (rule #%lld)", s->id,
                (long long)s->rule_id);
        s->record = true;
        anchor_session_leg_changed(&s->leg[0]);
    }
    return 0;
}

int anchor_job_attach(struct anchor_session *s, void *arg)
{
    if (s->rec)
        return SE_ERR_EXISTS;
    s->rec = arg;
    s->rec_asked = false;
    se_info("anchor: %s: recording %s", s->id, anchor_rec_id(s->rec));
    anchor_leg_try_dtls(&s->leg[0]); /* DTLS waited for the recorder */
    anchor_leg_try_dtls(&s->leg[1]);
    return 0;
}

int anchor_job_recording(struct anchor_session *s, void *arg)
{
    (void)arg;
    return s->rec ? 1 : 0;
}

int anchor_job_swap(struct anchor_session *s, void *arg)
{
    struct anchor_rec *old = s->rec;

    if (!old)
        return SE_ERR_INVAL;
    s->rec = arg; /* the next packet goes to the new one: no gap */
    se_info("anchor: %s: the streams changed: recording %s continues as %s", s->id,
            anchor_rec_id(old), anchor_rec_id(s->rec));
    anchor_rec_close(s->srv->recorder, old, NULL);
    return 0;
}

static void leg_info(const struct anchor_session *s, const struct anchor_leg *l,
                     struct anchor_leg_info *o)
{
    char ls[SE_ADDR_STRLEN];
    const char *adv = l->side == ANCHOR_INSIDE ? s->srv->conf.inside_adv : s->srv->conf.outside_adv;

    snprintf(o->ice, sizeof(o->ice), "%s",
             anchor_ice_state_name(atomic_load_explicit(&l->ice_state, memory_order_relaxed)));
    snprintf(o->dtls, sizeof(o->dtls), "%s",
             anchor_dtls_state_name(l->dtls ? anchor_dtls_state(l->dtls) : ANCHOR_DTLS_NEW));
    snprintf(o->role, sizeof(o->role), "%s",
             l->role == ROLE_CLIENT ? "client" : l->role == ROLE_SERVER ? "server" : "");
    snprintf(o->srtp, sizeof(o->srtp), "%s", l->srtp ? anchor_srtp_profile_name(l->profile) : "");
    snprintf(o->local, sizeof(o->local), strchr(adv, ':') ? "[%s]:%u" : "%s:%u", adv,
             l->local.port);
    (void)ls;
    snprintf(o->remote, sizeof(o->remote), "%s", l->remote_addr);
    for (int i = 0; i < l->n_cand && i < 4; i++)
        snprintf(o->cand[i], sizeof(o->cand[i]), "%s", l->cand[i]);
    o->n_cand = l->n_cand < 4 ? l->n_cand : 4;
    o->bytes_in = atomic_load_explicit(&l->bytes_in, memory_order_relaxed);
    o->bytes_out = atomic_load_explicit(&l->bytes_out, memory_order_relaxed);
    o->pkts_in = atomic_load_explicit(&l->pkts_in, memory_order_relaxed);
    o->pkts_out = atomic_load_explicit(&l->pkts_out, memory_order_relaxed);
    o->auth_failures = atomic_load_explicit(&l->auth_fail, memory_order_relaxed);
    o->replays = atomic_load_explicit(&l->replay, memory_order_relaxed);
    o->dropped = atomic_load_explicit(&l->dropped, memory_order_relaxed);
}

int anchor_job_info(struct anchor_session *s, void *arg)
{
    struct anchor_info *o = arg;

    snprintf(o->id, sizeof(o->id), "%s", s->id);
    snprintf(o->user, sizeof(o->user), "%s", s->user);
    snprintf(o->origin, sizeof(o->origin), "%s", s->origin);
    snprintf(o->state, sizeof(o->state), "%s", s->live ? "live" : "connecting");
    if (s->rec)
        snprintf(o->recording, sizeof(o->recording), "%s", anchor_rec_id(s->rec));
    o->record = s->record;
    o->started = s->started_wall;
    o->rule_id = s->rule_id;
    snprintf(o->rule_name, sizeof(o->rule_name), "%s", s->rule_name);
    for (int i = 0; i < 2; i++)
        leg_info(s, &s->leg[i], &o->leg[i]);
    return 0;
}
