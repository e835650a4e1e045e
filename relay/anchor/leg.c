/*
 * leg.c - one leg's ICE agent (libnice) and the start of its DTLS.
 *
 * Full ICE (RFC 8445), not ICE-lite: sedge is the controlling agent on
 * the leg it offers, so it nominates there and can restart ICE itself;
 * libnice's RFC 7675 consent freshness needs a full agent, and it is what
 * ends a leg whose party vanished; and a full agent also pairs with a
 * party that is itself ICE-lite (docs/anchor.md has the reasoning).
 *
 * One stream, one component (rtcp-mux and BUNDLE are required), host
 * candidates on the configured address of the leg's side only, in the
 * anchor's port range, announced with the advertised address. Trickle is
 * on: the agent waits for end-of-candidates before declaring failure
 * (non-trickle descriptions carry it inline).
 *
 * Every call here runs on the session's anchor thread; libnice's
 * signals and receive callback are dispatched there too (the agent is
 * created on that thread's context). Signal handlers never free the
 * agent: ending a session only schedules its teardown.
 */
#include "relay/anchor/internal.h"
#include "core/err.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static struct se_log_rl rl_cand;

const char *anchor_ice_state_name(int st)
{
    switch (st) {
    case NICE_COMPONENT_STATE_DISCONNECTED: return "new";
    case NICE_COMPONENT_STATE_GATHERING: return "gathering";
    case NICE_COMPONENT_STATE_CONNECTING: return "checking";
    case NICE_COMPONENT_STATE_CONNECTED: return "connected";
    case NICE_COMPONENT_STATE_READY: return "completed";
    case NICE_COMPONENT_STATE_FAILED: return "failed";
    }
    return "?";
}

const char *anchor_dtls_state_name(int st)
{
    switch (st) {
    case ANCHOR_DTLS_NEW: return "new";
    case ANCHOR_DTLS_HANDSHAKE: return "connecting";
    case ANCHOR_DTLS_CONNECTED: return "connected";
    case ANCHOR_DTLS_FAILED: return "failed";
    case ANCHOR_DTLS_CLOSED: return "closed";
    }
    return "?";
}

static void on_state(NiceAgent *agent, guint stream, guint comp, guint state, gpointer arg)
{
    struct anchor_leg *l = arg;

    (void)agent;
    (void)stream;
    (void)comp;
    atomic_store_explicit(&l->ice_state, (int)state, memory_order_relaxed);
    se_debug("anchor: %s %s leg: ICE %s", l->s->id, l->side ? "outside" : "inside",
             anchor_ice_state_name((int)state));
    if (state == NICE_COMPONENT_STATE_CONNECTED || state == NICE_COMPONENT_STATE_READY) {
        l->ice_up = true;
        anchor_leg_try_dtls(l);
    }
    anchor_session_leg_changed(l);
}

static void on_pair(NiceAgent *agent, guint stream, guint comp, NiceCandidate *lc,
                    NiceCandidate *rc, gpointer arg)
{
    struct anchor_leg *l = arg;
    char ip[NICE_ADDRESS_STRING_LEN];

    (void)lc;
    nice_address_to_string(&rc->addr, ip);
    snprintf(l->remote_addr, sizeof(l->remote_addr), strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip,
             nice_address_get_port(&rc->addr));
    /* A keyframe arrives as a burst of a hundred datagrams or more while
     * the thread may be busy with the other leg: give the socket room. */
    GSocket *gs = nice_agent_get_selected_socket(agent, stream, comp);
    if (gs) {
        g_socket_set_option(gs, SOL_SOCKET, SO_RCVBUF, ANCHOR_SOCKET_BUF, NULL);
        g_socket_set_option(gs, SOL_SOCKET, SO_SNDBUF, ANCHOR_SOCKET_BUF, NULL);
        g_object_unref(gs);
    }
}

static void on_recv(NiceAgent *agent, guint stream, guint comp, guint len, gchar *buf,
                    gpointer arg)
{
    (void)agent;
    (void)stream;
    (void)comp;
    anchor_media_input(arg, (const uint8_t *)buf, len);
}

/* Local credentials (new after an ICE restart). */
static void read_credentials(struct anchor_leg *l)
{
    gchar *u = NULL, *p = NULL;

    if (nice_agent_get_local_credentials(l->agent, l->stream, &u, &p)) {
        snprintf(l->ufrag, sizeof(l->ufrag), "%s", u);
        snprintf(l->pwd, sizeof(l->pwd), "%s", p);
    }
    g_free(u);
    g_free(p);
}

int anchor_leg_open(struct anchor_leg *l, const struct se_addr *bind, const struct se_addr *adv)
{
    const struct anchor_config *c = &l->s->srv->conf;
    GMainContext *ctx = l->s->t->ctx;
    char ip[SE_ADDR_STRLEN], advip[SE_ADDR_STRLEN];
    NiceAddress na;

    l->agent = nice_agent_new_full(ctx, NICE_COMPATIBILITY_RFC5245,
                                   NICE_AGENT_OPTION_ICE_TRICKLE |
                                       NICE_AGENT_OPTION_CONSENT_FRESHNESS);
    if (!l->agent)
        return SE_ERR_NOMEM;
    g_object_set(l->agent, "ice-tcp", FALSE, "controlling-mode", l->controlling, NULL);
    if (g_object_class_find_property(G_OBJECT_GET_CLASS(l->agent), "upnp"))
        g_object_set(l->agent, "upnp", FALSE, NULL); /* never probe the LAN for a router */
    nice_address_init(&na);
    if (!nice_address_set_from_string(&na, se_addr_ip_str(bind, ip, sizeof(ip))) ||
        !nice_agent_add_local_address(l->agent, &na))
        return SE_ERR_INVAL;
    if (!(l->stream = nice_agent_add_stream(l->agent, 1)))
        return SE_ERR_NOMEM;
    nice_agent_set_port_range(l->agent, l->stream, 1, c->min_port, c->max_port);
    g_signal_connect(l->agent, "component-state-changed", G_CALLBACK(on_state), l);
    g_signal_connect(l->agent, "new-selected-pair-full", G_CALLBACK(on_pair), l);
    nice_agent_attach_recv(l->agent, l->stream, 1, ctx, on_recv, l);
    if (!nice_agent_gather_candidates(l->agent, l->stream))
        return SE_ERR_AGAIN; /* no free port in the range */
    read_credentials(l);
    se_addr_ip_str(adv, advip, sizeof(advip));
    GSList *cands = nice_agent_get_local_candidates(l->agent, l->stream, 1);
    for (GSList *i = cands; i; i = i->next) {
        NiceCandidate *nc = i->data;
        if (nc->type != NICE_CANDIDATE_TYPE_HOST || nc->transport != NICE_CANDIDATE_TRANSPORT_UDP ||
            l->n_cand >= ANCHOR_LOCAL_CANDS)
            continue;
        unsigned port = nice_address_get_port(&nc->addr);
        snprintf(l->cand[l->n_cand++], ANCHOR_CAND_LEN, "candidate:%s 1 udp %u %s %u typ host",
                 nc->foundation, nc->priority, advip, port);
        l->local = *bind;
        l->local.port = (uint16_t)port;
    }
    g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);
    return l->n_cand ? 0 : SE_ERR_AGAIN;
}

/* Hand one "candidate:..." to the agent. 0 (also when libnice cannot use
 * it, like an mDNS name it cannot resolve), or SE_ERR_PARSE. */
static int add_candidate(struct anchor_leg *l, const char *cand)
{
    char line[ANCHOR_CAND_LEN + 8], f[40], tp[8], ip[64], typ[8], kind[16];
    unsigned comp, port;
    unsigned long prio;

    if (strncmp(cand, "candidate:", 10) != 0 || strlen(cand) >= ANCHOR_CAND_LEN ||
        sscanf(cand + 10, "%39s %u %7s %lu %63s %u %7s %15s", f, &comp, tp, &prio, ip, &port, typ,
               kind) != 8 ||
        strcmp(typ, "typ") != 0 || port > 65535)
        return SE_ERR_PARSE;
    if (comp != 1 || g_ascii_strcasecmp(tp, "udp") != 0)
        return 0; /* rtcp-mux: component 1 only; UDP only */
    if (l->n_remote_cands >= ANCHOR_MAX_REMOTE_CANDS)
        return 0;
    snprintf(line, sizeof(line), "a=%s", cand);
    NiceCandidate *nc = nice_agent_parse_remote_candidate_sdp(l->agent, l->stream, line);
    if (!nc) {
        se_log_rl(&rl_cand, SE_LOG_DEBUG, "anchor: %s: candidate not usable: %.80s", l->s->id,
                  cand);
        return 0;
    }
    GSList one = {.data = nc, .next = NULL};
    if (nice_agent_set_remote_candidates(l->agent, l->stream, 1, &one) > 0)
        l->n_remote_cands++;
    nice_candidate_free(nc);
    return 0;
}

int anchor_leg_remote(struct anchor_leg *l, const struct anchor_transport *t)
{
    bool restart = l->remote_ufrag[0] && strcmp(l->remote_ufrag, t->ufrag) != 0;

    if (l->dtls) {
        /* A running DTLS association keeps its peer: the same certificate. */
        bool same = t->n_fp == l->n_fp;
        for (int i = 0; same && i < t->n_fp; i++)
            same = t->fp[i].nid == l->fp[i].nid &&
                   memcmp(t->fp[i].md, l->fp[i].md, t->fp[i].len) == 0;
        if (!same)
            return SE_ERR_UNSUPP;
    } else {
        memcpy(l->fp, t->fp, sizeof(l->fp));
        l->n_fp = t->n_fp;
    }
    if (restart) {
        /* RFC 8445 §9: new credentials on both sides, candidates again. */
        se_info("anchor: %s: ICE restart on the %s leg", l->s->id, l->side ? "outside" : "inside");
        nice_agent_restart_stream(l->agent, l->stream);
        read_credentials(l);
        l->n_remote_cands = 0;
    }
    if (restart || !l->remote_ufrag[0]) {
        nice_agent_set_remote_credentials(l->agent, l->stream, t->ufrag, t->pwd);
        snprintf(l->remote_ufrag, sizeof(l->remote_ufrag), "%s", t->ufrag);
    }
    snprintf(l->remote_mid, sizeof(l->remote_mid), "%s", t->mid);
    if (t->ice_lite && !l->controlling) {
        l->controlling = true; /* RFC 8445 §6.1.1: a lite peer is always controlled */
        g_object_set(l->agent, "controlling-mode", TRUE, NULL);
    }
    for (int i = 0; i < t->n_cand; i++)
        add_candidate(l, t->cand[i]);
    if (t->end_of_candidates)
        nice_agent_peer_candidate_gathering_done(l->agent, l->stream);
    return 0;
}

int anchor_leg_candidate(struct anchor_leg *l, const char *cand)
{
    if (!cand) {
        nice_agent_peer_candidate_gathering_done(l->agent, l->stream);
        return 0;
    }
    return add_candidate(l, cand);
}

static void dtls_send(void *arg, const uint8_t *buf, size_t len)
{
    anchor_leg_send(arg, buf, len);
}

/* Application data of this leg's DTLS: the party's SCTP, for the other leg. */
static void dtls_app(void *arg, uint8_t *buf, size_t len)
{
    struct anchor_leg *l = arg, *o = &l->s->leg[!l->side];

    atomic_fetch_add_explicit(&l->sctp_in, 1, memory_order_relaxed);
    if (o->dtls && anchor_dtls_state(o->dtls) == ANCHOR_DTLS_CONNECTED) {
        if (anchor_dtls_write(o->dtls, buf, len) < 0)
            atomic_fetch_add_explicit(&l->dropped, 1, memory_order_relaxed);
        return;
    }
    if (len > ANCHOR_SCTP_HELD_MAX || l->n_sctp_held >= ANCHOR_SCTP_HELD ||
        (!l->sctp_held && !(l->sctp_held = malloc(ANCHOR_SCTP_HELD * ANCHOR_SCTP_HELD_MAX)))) {
        atomic_fetch_add_explicit(&l->dropped, 1, memory_order_relaxed);
        return;
    }
    memcpy(l->sctp_held + (size_t)l->n_sctp_held * ANCHOR_SCTP_HELD_MAX, buf, len);
    l->sctp_held_len[l->n_sctp_held++] = (uint16_t)len;
}

void anchor_leg_flush_sctp(struct anchor_leg *l)
{
    struct anchor_leg *from = &l->s->leg[!l->side];

    for (int i = 0; i < from->n_sctp_held && l->dtls; i++)
        if (anchor_dtls_write(l->dtls, from->sctp_held + (size_t)i * ANCHOR_SCTP_HELD_MAX,
                              from->sctp_held_len[i]) < 0)
            atomic_fetch_add_explicit(&from->dropped, 1, memory_order_relaxed);
    from->n_sctp_held = 0;
    free(from->sctp_held);
    from->sctp_held = NULL;
}

void anchor_leg_keep_early(struct anchor_leg *l, const uint8_t *buf, size_t len)
{
    if (len > ANCHOR_DTLS_EARLY_MAX || l->n_early >= ANCHOR_EARLY_DTLS ||
        (!l->early && !(l->early = malloc(ANCHOR_EARLY_DTLS * ANCHOR_DTLS_EARLY_MAX)))) {
        atomic_fetch_add_explicit(&l->dropped, 1, memory_order_relaxed);
        return; /* the party retransmits its flight */
    }
    memcpy(l->early + (size_t)l->n_early * ANCHOR_DTLS_EARLY_MAX, buf, len);
    l->early_len[l->n_early++] = (uint16_t)len;
}

void anchor_leg_try_dtls(struct anchor_leg *l)
{
    struct anchor_dtls_cb cb = {.send = dtls_send, .app = dtls_app, .arg = l};
    struct anchor_session *s = l->s;

    if (l->dtls || l->role == ROLE_NONE || s->ending)
        return;
    /* Keys are made only once the recorder can take what they decrypt. */
    if (s->record && !s->rec)
        return;
    /* A server just waits for the ClientHello; a client speaks first,
     * once the party can answer: ICE is up and it has our description. */
    if (l->role == ROLE_CLIENT && (!l->ice_up || !l->described))
        return;
    if (!(l->dtls = anchor_dtls_new(s->srv->cert, l->role == ROLE_CLIENT, l->fp, l->n_fp, &cb))) {
        anchor_session_end(s, "out of memory for DTLS");
        return;
    }
    anchor_dtls_start(l->dtls);
    atomic_store_explicit(&l->dtls_state, anchor_dtls_state(l->dtls), memory_order_relaxed);
    int n = l->n_early;
    l->n_early = 0;
    for (int i = 0; i < n && !s->ending && l->dtls; i++)
        anchor_media_input(l, l->early + (size_t)i * ANCHOR_DTLS_EARLY_MAX, l->early_len[i]);
    free(l->early);
    l->early = NULL;
}

void anchor_leg_close(struct anchor_leg *l)
{
    if (l->agent) {
        g_signal_handlers_disconnect_by_data(l->agent, l);
        if (l->stream)
            nice_agent_attach_recv(l->agent, l->stream, 1, l->s->t->ctx, NULL, NULL);
        g_object_unref(l->agent);
        l->agent = NULL;
    }
    anchor_dtls_free(l->dtls);
    l->dtls = NULL;
    anchor_srtp_free(l->srtp);
    l->srtp = NULL;
    free(l->early);
    l->early = NULL;
    l->n_early = 0;
    free(l->sctp_held);
    l->sctp_held = NULL;
    l->n_sctp_held = 0;
}
