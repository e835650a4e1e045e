/*
 * media.c - the anchor's packet path: demultiplex what a party sends
 * (RFC 7983), DTLS to the leg's handshake, SRTP/SRTCP decrypted with the
 * leg.s keys, RTP and RTCP handed to the recorder, then encrypted with the other
 * leg's keys and sent to the other party; and the RTCP sedge writes
 * itself (PLI/FIR when the recorder needs a keyframe).
 *
 * Invariants: no lock and no allocation per packet (the copy goes into
 * the thread's scratch buffer, libsrtp works in place, the recorder tap
 * is rec_feed_push into a preallocated ring); a packet that fails
 * authentication or replays is dropped and counted, never forwarded;
 * nothing is forwarded before both legs have keys, nor, when the call
 * must be recorded, before the recorder is attached (fail closed).
 */
#include "relay/anchor/internal.h"
#include "core/err.h"
#include "core/log.h"
#include "relay/anchor/rtp.h"

#include <string.h>

static struct se_log_rl rl_auth;

static void count(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

void anchor_leg_send(struct anchor_leg *l, const uint8_t *buf, size_t len)
{
    if (l->send_fn) {
        l->send_fn(l, buf, len); /* tests and benchmarks without sockets */
    } else if (!l->agent ||
               nice_agent_send(l->agent, l->stream, 1, (guint)len, (const gchar *)buf) < 0) {
        count(&l->dropped);
        return;
    }
    count(&l->pkts_out);
    atomic_fetch_add_explicit(&l->bytes_out, len, memory_order_relaxed);
}

int anchor_media_keys(struct anchor_leg *l)
{
    struct anchor_srtp_keys k;
    int rc;

    if ((rc = anchor_dtls_keys(l->dtls, &k)) < 0 || (rc = anchor_srtp_new(&l->srtp, &k)) < 0)
        return rc;
    l->profile = k.profile;
    memset(&k, 0, sizeof(k));
    return 0;
}

static void dtls_in(struct anchor_leg *in, const uint8_t *buf, size_t len)
{
    if (!in->dtls) {
        anchor_leg_keep_early(in, buf, len); /* fed once the leg's DTLS starts */
        return;
    }
    int before = anchor_dtls_state(in->dtls);
    int st = anchor_dtls_input(in->dtls, buf, len);
    if (st == before)
        return;
    if (st == ANCHOR_DTLS_CONNECTED && anchor_media_keys(in) < 0) {
        anchor_session_end(in->s, "cannot set up SRTP on the %s leg",
                           in->side ? "outside" : "inside");
        return;
    }
    if (st == ANCHOR_DTLS_CONNECTED)
        anchor_leg_flush_sctp(in);
    atomic_store_explicit(&in->dtls_state, st, memory_order_relaxed);
    anchor_session_leg_changed(in);
}

/* The index of ssrc among those this party used (-1: new), or false if
 * it may not start another. */
static bool ssrc_ok(const struct anchor_leg *l, uint32_t ssrc, int *idx)
{
    for (int i = 0; i < l->n_ssrcs; i++)
        if (l->ssrcs[i] == ssrc) {
            *idx = i;
            return true;
        }
    *idx = -1;
    return l->n_ssrcs < ANCHOR_MAX_SSRC;
}

static void srtp_in(struct anchor_leg *in, int kind, const uint8_t *buf, size_t len)
{
    struct anchor_session *s = in->s;
    struct anchor_leg *out = &s->leg[!in->side];
    uint8_t *p = s->t->buf;
    bool rtcp = kind == ANCHOR_PKT_RTCP;
    int n = (int)len, rc, idx;

    if (!in->srtp || len > ANCHOR_PKT_MAX) {
        count(&in->dropped);
        return;
    }
    uint32_t ssrc = anchor_pkt_ssrc(buf, kind);
    if (!ssrc_ok(in, ssrc, &idx)) {
        count(&in->dropped);
        return;
    }
    memcpy(p, buf, len);
    if ((rc = anchor_srtp_unprotect(in->srtp, p, &n, rtcp)) < 0) {
        if (rc == SE_ERR_STALE) {
            count(&in->replay);
        } else {
            count(&in->auth_fail);
            se_log_rl(&rl_auth, SE_LOG_INFO, "anchor: %s: %s leg: SRTP%s packet failed "
                      "authentication (dropped)", s->id, in->side ? "outside" : "inside",
                      rtcp ? "C" : "");
        }
        return;
    }
    if (idx < 0) {
        idx = in->n_ssrcs++;
        in->ssrcs[idx] = ssrc;
        in->held[idx] = false;
    }
    if (s->rec) /* RTP, and RTCP for the sender reports (A/V sync) */
        anchor_rec_tap(s->rec, in->side, rtcp, p, (size_t)n);
    if (!out->srtp || (s->record && !s->rec)) {
        in->held[idx] = !rtcp;
        count(&in->dropped);
        return;
    }
    if (in->held[idx]) {
        /* The receiver missed the start of this stream (a keyframe,
         * likely): ask the sender for a new one (RFC 4585 PLI). */
        in->held[idx] = false;
        anchor_media_keyframe(in, ssrc, false, 0);
    }
    if (anchor_srtp_protect(out->srtp, p, &n, rtcp) < 0) {
        count(&in->dropped);
        return;
    }
    anchor_leg_send(out, p, (size_t)n);
}

void anchor_media_input(struct anchor_leg *in, const uint8_t *buf, size_t len)
{
    if (in->s->ending)
        return;
    count(&in->pkts_in);
    atomic_fetch_add_explicit(&in->bytes_in, len, memory_order_relaxed);
    switch (anchor_classify(buf, len)) {
    case ANCHOR_PKT_DTLS: dtls_in(in, buf, len); break;
    case ANCHOR_PKT_RTP: srtp_in(in, ANCHOR_PKT_RTP, buf, len); break;
    case ANCHOR_PKT_RTCP: srtp_in(in, ANCHOR_PKT_RTCP, buf, len); break;
    default: count(&in->dropped); break;
    }
}

void anchor_media_keyframe(struct anchor_leg *l, uint32_t ssrc, bool fir, uint8_t fir_seq)
{
    uint8_t pkt[RTCP_PLI_LEN + RTCP_FIR_LEN + ANCHOR_SRTP_TRAILER];
    size_t n;
    int len;

    if (!l->srtp)
        return;
    n = anchor_rtcp_pli(pkt, l->s->own_ssrc, ssrc);
    if (fir)
        n += anchor_rtcp_fir(pkt + n, l->s->own_ssrc, ssrc, fir_seq);
    len = (int)n;
    if (anchor_srtp_protect(l->srtp, pkt, &len, true) == 0)
        anchor_leg_send(l, pkt, (size_t)len);
}

/* ---- RTCP sedge writes (rtp.h) ---- */

static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

size_t anchor_rtcp_pli(uint8_t *out, uint32_t sender, uint32_t media)
{
    out[0] = 0x80 | 1; /* V=2, FMT=1 (PLI) */
    out[1] = 206;      /* PSFB */
    out[2] = 0;
    out[3] = 2;        /* length in words - 1 */
    wr32(out + 4, sender);
    wr32(out + 8, media);
    return RTCP_PLI_LEN;
}

size_t anchor_rtcp_fir(uint8_t *out, uint32_t sender, uint32_t media, uint8_t seq)
{
    out[0] = 0x80 | 4; /* FMT=4 (FIR) */
    out[1] = 206;
    out[2] = 0;
    out[3] = 4;
    wr32(out + 4, sender);
    wr32(out + 8, 0);  /* media source: unused for FIR (RFC 5104 §4.3.1.2) */
    wr32(out + 12, media);
    out[16] = seq;
    out[17] = out[18] = out[19] = 0;
    return RTCP_FIR_LEN;
}
