/*
 * rtp.c - RTP parsing and per-stream input (RFC 3550, RFC 4588).
 *
 * The input keeps a ring of `window` preallocated slots indexed by the
 * extended sequence number. `next` is the first sequence number not yet
 * handed out; everything below it is history (late or duplicate), a
 * packet at or past next + window forces the oldest holes to be given up.
 * A hole is also given up when the oldest packet waiting behind it has
 * waited max_delay. So a packet leaves the input in order, exactly once,
 * and at most window packets or max_delay later than it would in order.
 *
 * Sequence numbers are extended by picking the 64-bit value closest to the
 * highest seen (RFC 3550 A.1); timestamps by adding the signed 32-bit
 * delta to the previous packet's (B-frames move it backwards). A sender
 * restart (new SSRC after silence, or a jump of RTP_RESYNC_JUMP sequence
 * numbers) flushes the window and continues the extended timestamp by the
 * wall time elapsed, so downstream timelines stay monotonic.
 *
 * Zero-length payloads (padding-only probes) keep their sequence number,
 * so they never show up as loss, but are not handed out.
 */
#include "record/rtp.h"
#include "core/err.h"
#include "core/log.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum {
    RTP_SSRC_SILENCE_US = 300000, /* old SSRC quiet this long: accept a new one */
    RTP_OLD_STRIKES = 3,          /* far-behind packets in a row: a restart */
    RTP_START_US = 50000,         /* first packets held this long to sort the start */
};

struct rtp_slot {
    uint64_t seq;
    int64_t arrival_us;
    uint32_t ts, ssrc;
    uint16_t len;
    uint8_t pt;
    bool marker, used;
};

struct rtp_in {
    struct rtp_in_cfg cfg;
    rtp_out_fn out;
    void *arg;
    struct rtp_slot *slots;
    uint8_t *data; /* window * RTP_SLOT_MAX bytes */
    unsigned held;
    bool synced, have_ssrc, have_ts;
    bool started;     /* the start of the stream has been sorted out */
    int64_t start_us; /* arrival of the first packet since (re)sync */
    uint32_t ssrc;
    int64_t ssrc_seen_us;
    uint64_t next, max_ext;
    int old_strikes;
    uint32_t last_ts32;
    int64_t ext_ts, last_emit_us;
    bool resync_ts; /* continue ext_ts by wall time at the next emission */
    uint32_t pending_lost;
    int64_t pending_lost_at;
    struct rtp_in_stats st;
    struct rtp_gap gaps[RTP_GAPS_MAX];
    size_t n_gaps;
};

static inline uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int rtp_parse(struct rtp_hdr *h, const uint8_t *buf, size_t len)
{
    size_t off = RTP_HEADER_LEN, end = len;
    int rc = SE_ERR_TRUNC;

    if (len < RTP_HEADER_LEN)
        goto out;
    rc = SE_ERR_PARSE;
    if ((buf[0] >> 6) != RTP_VERSION)
        goto out;
    /* RFC 5761 §4: 72-76 with the marker bit are RTCP SR/RR/SDES/BYE/APP. */
    if ((buf[1] & 0x7f) >= 72 && (buf[1] & 0x7f) <= 76)
        goto out;
    rc = SE_ERR_TRUNC;
    off += (size_t)(buf[0] & 0x0f) * 4; /* CSRC list */
    if (off > end)
        goto out;
    if (buf[0] & 0x10) { /* header extension, RFC 3550 §5.3.1 */
        if (off + 4 > end)
            goto out;
        off += 4 + (size_t)rd16(buf + off + 2) * 4;
        if (off > end)
            goto out;
    }
    if (buf[0] & 0x20) { /* padding: last byte counts itself, RFC 3550 §5.1 */
        uint8_t pad = buf[len - 1];
        if (pad == 0 || pad > end - off)
            goto out;
        end -= pad;
    }
    h->marker = buf[1] & 0x80;
    h->pt = buf[1] & 0x7f;
    h->seq = rd16(buf + 2);
    h->ts = rd32(buf + 4);
    h->ssrc = rd32(buf + 8);
    h->payload = buf + off;
    h->payload_len = end - off;
    rc = 0;
out:
    return rc;
}

struct rtp_in *rtp_in_new(const struct rtp_in_cfg *cfg, rtp_out_fn out, void *arg)
{
    struct rtp_in *in;
    unsigned w = cfg->window ? cfg->window : RTP_WINDOW_DEFAULT;

    if (w > RTP_WINDOW_MAX || !out)
        return NULL;
    in = calloc(1, sizeof(*in));
    if (!in)
        return NULL;
    in->cfg = *cfg;
    in->cfg.window = w;
    if (!in->cfg.max_delay_us)
        in->cfg.max_delay_us = RTP_DELAY_DEFAULT_US;
    if (!in->cfg.clock_rate)
        in->cfg.clock_rate = 90000;
    if (!in->cfg.label)
        in->cfg.label = "rtp";
    in->out = out;
    in->arg = arg;
    in->slots = calloc(w, sizeof(*in->slots));
    in->data = malloc((size_t)w * RTP_SLOT_MAX);
    if (!in->slots || !in->data) {
        rtp_in_free(in);
        return NULL;
    }
    return in;
}

void rtp_in_free(struct rtp_in *in)
{
    if (!in)
        return;
    free(in->slots);
    free(in->data);
    free(in);
}

static void note_gap(struct rtp_in *in, uint64_t first, uint32_t count, int64_t at_us)
{
    static struct se_log_rl rl;

    in->st.lost += count;
    se_log_rl(&rl, SE_LOG_INFO,
              "record %s: gap of %" PRIu32 " packets at seq %" PRIu64 " (t=%.3fs)", in->cfg.label,
              count, first, (double)at_us / 1e6);
    if (in->n_gaps == RTP_GAPS_MAX) {
        in->st.gaps_dropped++;
        return;
    }
    in->gaps[in->n_gaps++] = (struct rtp_gap){.at_us = at_us, .first_seq = first, .count = count};
}

static void emit(struct rtp_in *in, struct rtp_slot *s)
{
    const uint8_t *payload = in->data + (size_t)(s - in->slots) * RTP_SLOT_MAX;

    if (!in->have_ts) {
        in->ext_ts = s->ts;
        in->have_ts = true;
    } else if (in->resync_ts) {
        /* A restarted sender: continue by the wall time that passed. */
        int64_t dt = s->arrival_us - in->last_emit_us;
        in->ext_ts += dt > 0 ? dt * (int64_t)in->cfg.clock_rate / 1000000 + 1 : 1;
    } else {
        in->ext_ts += (int32_t)(s->ts - in->last_ts32);
    }
    in->resync_ts = false;
    in->last_ts32 = s->ts;
    in->last_emit_us = s->arrival_us;
    s->used = false;
    /* s->seq stays: it identifies later duplicates. */
    in->held--;
    if (s->len == 0)
        return; /* padding probe: its sequence number is not a loss */
    struct rtp_pkt p = {
        .seq = s->seq,
        .ts = in->ext_ts,
        .ssrc = s->ssrc,
        .pt = s->pt,
        .marker = s->marker,
        .lost_before = in->pending_lost,
        .arrival_us = s->arrival_us,
        .payload = payload,
        .payload_len = s->len,
    };
    if (in->pending_lost)
        note_gap(in, s->seq - in->pending_lost, in->pending_lost, s->arrival_us);
    in->pending_lost = 0;
    in->st.packets++;
    in->st.bytes += s->len;
    in->out(in->arg, &p);
}

/* Hand out or give up every sequence number below target. */
static void advance_to(struct rtp_in *in, uint64_t target)
{
    while (in->next < target) {
        struct rtp_slot *s = &in->slots[in->next % in->cfg.window];
        if (s->used && s->seq == in->next)
            emit(in, s);
        else
            in->pending_lost++;
        in->next++;
    }
}

static void drain(struct rtp_in *in)
{
    if (!in->started)
        return;
    for (;;) {
        struct rtp_slot *s = &in->slots[in->next % in->cfg.window];
        if (!s->used || s->seq != in->next)
            return;
        emit(in, s);
        in->next++;
    }
}

/* The start waits RTP_START_US (or half a window) so that packets which
 * overtook the stream's first one do not make it "late". */
static void maybe_start(struct rtp_in *in, int64_t now_us)
{
    if (in->started || !in->synced)
        return;
    int64_t wait = in->cfg.start_us                      ? in->cfg.start_us
                   : in->cfg.max_delay_us < RTP_START_US ? in->cfg.max_delay_us
                                                         : RTP_START_US;
    if (wait < 0 || now_us - in->start_us >= wait || in->held >= in->cfg.window / 2) {
        in->started = true;
        drain(in);
    }
}

void rtp_in_tick(struct rtp_in *in, int64_t now_us)
{
    maybe_start(in, now_us);
    if (!in->started)
        return;
    while (in->held > 0) {
        uint64_t seq = in->next;
        struct rtp_slot *s = NULL;
        for (; seq <= in->max_ext; seq++) {
            s = &in->slots[seq % in->cfg.window];
            if (s->used && s->seq == seq)
                break;
        }
        if (seq > in->max_ext || now_us - s->arrival_us < in->cfg.max_delay_us)
            return;
        advance_to(in, seq);
        drain(in);
    }
}

void rtp_in_flush(struct rtp_in *in, int64_t now_us)
{
    in->started = true;
    if (in->synced)
        advance_to(in, in->max_ext + 1);
    in->pending_lost = 0; /* trailing holes are not gaps: nothing came after */
}

/* Start over at a restarted sender: hand out what is held, forget history. */
static void resync(struct rtp_in *in, int64_t now_us)
{
    rtp_in_flush(in, now_us);
    in->synced = false;
    in->old_strikes = 0;
    in->resync_ts = in->have_ts;
    in->st.resyncs++;
}

static void maybe_start(struct rtp_in *in, int64_t now_us);

/* The extended number of a stream's first packet: in a cycle above any
 * number handed out before (a restart keeps the order), with room below
 * for packets that were overtaken. */
static uint64_t start_seq(struct rtp_in *in, uint16_t seq, int64_t now_us)
{
    uint64_t e = (in->max_ext ? (in->max_ext & ~(uint64_t)0xffff) + 0x20000 : 0x10000) | seq;
    in->synced = true;
    in->started = false;
    in->start_us = now_us;
    in->next = in->max_ext = e;
    maybe_start(in, now_us);
    return e;
}

static bool pt_in(int pt, int main, const uint8_t *alt, int n)
{
    if (pt == main)
        return true;
    for (int i = 0; i < n; i++)
        if (alt[i] == pt)
            return true;
    return false;
}

enum { RTX_NONE = -2, RTX_MAIN = -1 };

/* RFC 2198 §3: the primary (last) block of a RED payload; h's payload
 * type and payload become that block's. 0, or SE_ERR_PARSE (headers or
 * block lengths past the end). */
static int red_primary(struct rtp_hdr *h)
{
    const uint8_t *p = h->payload;
    size_t n = h->payload_len, off = 0, skip = 0;

    while (off < n && (p[off] & 0x80)) { /* F=1: a redundant block's 4-byte header */
        if (n - off < 4)
            return SE_ERR_PARSE;
        skip += (size_t)(p[off + 2] & 0x03) << 8 | p[off + 3];
        off += 4;
    }
    if (off >= n || skip > n - off - 1)
        return SE_ERR_PARSE;
    h->pt = p[off] & 0x7f;
    h->payload = p + off + 1 + skip;
    h->payload_len = n - off - 1 - skip;
    return 0;
}

/* Whether pt is an RTX payload type: RTX_MAIN, the index in alt_rtx, or RTX_NONE. */
static int rtx_index(const struct rtp_in_cfg *c, int pt)
{
    if (c->rtx_pt >= 0 && pt == c->rtx_pt)
        return RTX_MAIN;
    for (int i = 0; i < c->n_alt_rtx; i++)
        if (c->alt_rtx[i] == pt)
            return i;
    return RTX_NONE;
}

static uint64_t extend_seq(const struct rtp_in *in, uint16_t seq)
{
    uint64_t base = in->max_ext & ~(uint64_t)0xffff, c = base | seq;
    if (c > in->max_ext && c - in->max_ext > 0x8000 && c >= 0x10000)
        c -= 0x10000;
    else if (c < in->max_ext && in->max_ext - c > 0x8000)
        c += 0x10000;
    return c;
}

int rtp_in_push(struct rtp_in *in, const uint8_t *buf, size_t len, int64_t now_us)
{
    struct rtp_hdr h;
    bool is_rtx = false;
    uint64_t e;

    if (len >= 2 && (buf[0] >> 6) == RTP_VERSION && (buf[1] & 0x7f) >= 72 &&
        (buf[1] & 0x7f) <= 76) {
        in->st.rtcp++; /* rtcp-mux (RFC 5761): not ours to record */
        return SE_ERR_PARSE;
    }
    if (rtp_parse(&h, buf, len) != 0) {
        in->st.malformed++;
        return SE_ERR_PARSE;
    }
    int rtx_of = rtx_index(&in->cfg, h.pt);
    if (rtx_of != RTX_NONE) {
        /* RFC 4588 §4: the original sequence number, then the payload. An
         * RTX packet with no OSN is a padding probe. */
        if (h.payload_len < 2 || !in->synced) {
            in->st.foreign++;
            return SE_ERR_PARSE;
        }
        h.seq = rd16(h.payload);
        h.payload += 2;
        h.payload_len -= 2;
        if (rtx_of >= 0 && in->cfg.alt_rtx_for[rtx_of])
            h.pt = (uint8_t)(in->cfg.alt_rtx_for[rtx_of] - 1); /* an alternative's RTX */
        else if (in->cfg.pt >= 0)
            h.pt = (uint8_t)in->cfg.pt;
        h.ssrc = in->ssrc;
        is_rtx = true;
        in->st.rtx++;
    }
    if (in->cfg.red && h.pt == in->cfg.red - 1) {
        if (red_primary(&h) < 0) {
            in->st.malformed++;
            return SE_ERR_PARSE;
        }
        if (in->cfg.pt >= 0 && !pt_in(h.pt, in->cfg.pt, in->cfg.alt_pt, in->cfg.n_alt_pt)) {
            /* FEC (ULPFEC) in RED shares the media's sequence numbers:
             * keep its number as a filler, so it is not counted lost. */
            in->st.foreign++;
            h.payload_len = 0;
        }
    } else if (!is_rtx && in->cfg.pt >= 0 &&
               !pt_in(h.pt, in->cfg.pt, in->cfg.alt_pt, in->cfg.n_alt_pt)) {
        in->st.foreign++;
        return SE_ERR_PARSE;
    }
    if (h.payload_len > RTP_SLOT_MAX) {
        in->st.malformed++;
        return SE_ERR_TOOBIG;
    }
    if (!in->have_ssrc) {
        in->ssrc = h.ssrc;
        in->have_ssrc = true;
    } else if (h.ssrc != in->ssrc) {
        if (now_us - in->ssrc_seen_us < RTP_SSRC_SILENCE_US) {
            in->st.foreign++;
            return SE_ERR_PARSE;
        }
        resync(in, now_us);
        in->ssrc = h.ssrc;
    }
    if (!is_rtx)
        in->ssrc_seen_us = now_us;

    if (!in->synced) {
        e = start_seq(in, h.seq, now_us);
    } else {
        e = extend_seq(in, h.seq);
        if (e >= in->next + RTP_RESYNC_JUMP ||
            (e + RTP_RESYNC_JUMP < in->next && ++in->old_strikes >= RTP_OLD_STRIKES)) {
            resync(in, now_us);
            e = start_seq(in, h.seq, now_us);
        }
    }
    if (!in->started && e < in->next && in->max_ext - e < in->cfg.window) {
        in->next = e; /* overtaken at the start: the stream begins earlier */
    } else if (e < in->next) {
        /* A slot keeps the number of the packet it last handed out. */
        const struct rtp_slot *old = &in->slots[e % in->cfg.window];
        if (in->next - e <= in->cfg.window && old->seq == e && !old->used) {
            in->st.duplicates++;
            return SE_ERR_EXISTS;
        }
        in->st.late++;
        return SE_ERR_STALE;
    }
    in->old_strikes = 0;
    if (e >= in->next + in->cfg.window)
        advance_to(in, e - in->cfg.window + 1);

    struct rtp_slot *s = &in->slots[e % in->cfg.window];
    if (s->used && s->seq == e) {
        in->st.duplicates++;
        return SE_ERR_EXISTS;
    }
    *s = (struct rtp_slot){.seq = e,
                           .arrival_us = now_us,
                           .ts = h.ts,
                           .ssrc = h.ssrc,
                           .len = (uint16_t)h.payload_len,
                           .pt = h.pt,
                           .marker = h.marker,
                           .used = true};
    memcpy(in->data + (size_t)(e % in->cfg.window) * RTP_SLOT_MAX, h.payload, h.payload_len);
    in->held++;
    if (e > in->max_ext)
        in->max_ext = e;
    else if (e < in->max_ext)
        in->st.reordered++;
    drain(in);
    rtp_in_tick(in, now_us);
    return 0;
}

const struct rtp_in_stats *rtp_in_stats(const struct rtp_in *in)
{
    return &in->st;
}

const struct rtp_gap *rtp_in_gaps(const struct rtp_in *in, size_t *n)
{
    *n = in->n_gaps;
    return in->gaps;
}
