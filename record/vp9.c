/*
 * vp9.c - VP9 RTP depacketizer, RFC 9628.
 *
 * Only base spatial layer frames (SID 0; every frame when L=0) are built;
 * see vp9.h for why. A layer frame runs from the packet with B=1 to the
 * one with E=1 (§4.2), all with one RTP timestamp; it is finished at E, or
 * as incomplete when the timestamp changes, a packet of another layer
 * arrives, or a new B comes first. The frame's first packet carries the
 * fields decodability is judged on (picture ID, P, P_DIFF, TID, U,
 * TL0PICIDX); the frame bytes are the payloads after each descriptor.
 *
 * Loss attribution: a gap while a base frame is open damages it; a gap
 * after its E (upper layers, or the start of the next picture) is noted
 * and judged at the next base frame: in flexible mode its P_DIFF
 * references say exactly whether it can be decoded, otherwise the picture
 * ID / TL0PICIDX rules of rec_layers_frame() apply.
 */
#include "record/vp9.h"
#include "core/err.h"
#include "record/rtp.h"

#include <stdlib.h>
#include <string.h>

enum {
    VP9_I = 0x80, /* descriptor byte 0, RFC 9628 §4.2 */
    VP9_P = 0x40,
    VP9_L = 0x20,
    VP9_F = 0x10,
    VP9_B = 0x08,
    VP9_E = 0x04,
    VP9_V = 0x02,
    VP9_Z = 0x01,
    VP9_M = 0x80,             /* picture ID: 15 bits */
    VP9_SYNC_CODE = 0x498342, /* VP9 bitstream §6.2.1 */
    VP9_CS_RGB = 7,
};

struct vp9_depack {
    struct rec_vout out;
    struct rec_fbuf buf;
    /* the base layer frame being built */
    bool active, started, damaged, gap_before;
    int64_t ts, arrival_us;
    struct vp9_desc first;
    bool gap_pending;
    bool have_done_ts; /* a base frame of done_ts was finished */
    int64_t done_ts;
    struct rec_layers chain;
    uint16_t decoded[VP9_PID_RING]; /* flexible mode: pid + 1 of written pictures */
};

int vp9_desc_parse(const uint8_t *p, size_t n, struct vp9_desc *d)
{
    size_t off = 1;

    memset(d, 0, sizeof(*d));
    if (n < 1)
        return SE_ERR_TRUNC;
    uint8_t b = p[0];
    d->inter = b & VP9_P;
    d->layers = b & VP9_L;
    d->flexible = b & VP9_F;
    d->begin = b & VP9_B;
    d->end = b & VP9_E;
    d->has_ss = b & VP9_V;
    d->z = b & VP9_Z;
    if (b & VP9_I) {
        if (off >= n)
            return SE_ERR_TRUNC;
        d->has_pid = true;
        if (p[off] & VP9_M) {
            if (off + 2 > n)
                return SE_ERR_TRUNC;
            d->pid = (unsigned)(p[off] & 0x7f) << 8 | p[off + 1];
            d->pid_mod = 1u << 15;
            off += 2;
        } else {
            d->pid = p[off] & 0x7f;
            d->pid_mod = 1u << 7;
            off++;
        }
    }
    if (d->layers) {
        if (off >= n)
            return SE_ERR_TRUNC;
        d->tid = p[off] >> 5;
        d->switch_up = p[off] & 0x10;
        d->sid = (p[off] >> 1) & 7;
        d->inter_layer = p[off] & 1;
        off++;
        if (!d->flexible) {
            if (off >= n)
                return SE_ERR_TRUNC;
            d->has_tl0 = true;
            d->tl0 = p[off++];
        }
    }
    if (d->flexible && d->inter) {
        bool more = true;
        while (more) {
            if (d->n_pdiff == VP9_MAX_PDIFF)
                return SE_ERR_PARSE;
            if (off >= n)
                return SE_ERR_TRUNC;
            d->pdiff[d->n_pdiff] = p[off] >> 1;
            more = p[off] & 1;
            if (d->pdiff[d->n_pdiff] == 0)
                return SE_ERR_PARSE; /* a picture cannot refer to itself */
            d->n_pdiff++;
            off++;
        }
    }
    if (d->has_ss) {
        if (off >= n)
            return SE_ERR_TRUNC;
        uint8_t ss = p[off++];
        d->n_spatial = (ss >> 5) + 1;
        d->has_res = ss & 0x10;
        bool g = ss & 0x08;
        if (d->has_res) {
            if (off + 4 * (size_t)d->n_spatial > n)
                return SE_ERR_TRUNC;
            for (int i = 0; i < d->n_spatial; i++, off += 4) {
                d->width[i] = (uint16_t)(p[off] << 8 | p[off + 1]);
                d->height[i] = (uint16_t)(p[off + 2] << 8 | p[off + 3]);
            }
        }
        if (g) {
            if (off >= n)
                return SE_ERR_TRUNC;
            d->n_gof = p[off++];
            for (int i = 0; i < d->n_gof; i++) {
                if (off >= n)
                    return SE_ERR_TRUNC;
                size_t r = (p[off] >> 2) & 3;
                off += 1 + r;
                if (off > n)
                    return SE_ERR_TRUNC;
            }
        }
    }
    if (d->has_pid == false && d->flexible)
        return SE_ERR_PARSE; /* §4.2: flexible mode needs picture IDs */
    d->len = off;
    return 0;
}

int vp9_frame_header(const uint8_t *p, size_t n, struct vp9_frame_info *out)
{
    struct rec_bits b = {.p = p, .n = n};

    memset(out, 0, sizeof(*out));
    if (rec_bits_get(&b, 2) != 2)
        return SE_ERR_PARSE; /* frame_marker */
    unsigned profile = rec_bits_get(&b, 1);
    profile |= rec_bits_get(&b, 1) << 1;
    if (profile == 3 && rec_bits_get(&b, 1))
        return SE_ERR_PARSE; /* reserved_zero */
    out->show_existing = rec_bits_get(&b, 1);
    if (out->show_existing)
        return b.over ? SE_ERR_PARSE : 0;
    out->key = rec_bits_get(&b, 1) == 0;
    rec_bits_get(&b, 2); /* show_frame, error_resilient_mode */
    if (!out->key)
        return b.over ? SE_ERR_PARSE : 0;
    if (rec_bits_get(&b, 24) != VP9_SYNC_CODE)
        return SE_ERR_PARSE;
    unsigned depth = profile >= 2 ? (rec_bits_get(&b, 1) ? 12 : 10) : 8;
    unsigned cs = rec_bits_get(&b, 3), sx = 1, sy = 1;
    bool full = true;
    if (cs != VP9_CS_RGB) {
        full = rec_bits_get(&b, 1);
        if (profile == 1 || profile == 3) {
            sx = rec_bits_get(&b, 1);
            sy = rec_bits_get(&b, 1);
            if (rec_bits_get(&b, 1))
                return SE_ERR_PARSE;
        }
    } else {
        if (profile == 0 || profile == 2)
            return SE_ERR_PARSE; /* RGB needs 4:4:4: profiles 1 and 3 */
        sx = sy = 0;
        if (rec_bits_get(&b, 1))
            return SE_ERR_PARSE;
    }
    out->width = rec_bits_get(&b, 16) + 1;
    out->height = rec_bits_get(&b, 16) + 1;
    if (b.over || out->width > REC_DIM_MAX || out->height > REC_DIM_MAX)
        return SE_ERR_PARSE;
    if ((profile == 1 || profile == 3) && sx && sy)
        return SE_ERR_PARSE; /* 4:2:0 belongs to profiles 0 and 2 */
    out->fmt = (struct rec_vformat){.profile = (uint8_t)profile,
                                    .bit_depth = (uint8_t)depth,
                                    .subsampling = (uint8_t)(sx && sy ? 0
                                                             : sx     ? 1
                                                             : sy     ? 2
                                                                      : 3),
                                    .full_range = full};
    return 0;
}

struct vp9_depack *vp9_depack_new(rec_vframe_fn fn, rec_vkf_fn kf, void *arg)
{
    struct vp9_depack *d = calloc(1, sizeof(*d));

    if (!d)
        return NULL;
    d->out = (struct rec_vout){.fn = fn, .kf = kf, .arg = arg};
    rec_layers_init(&d->chain);
    if (!rec_fbuf_reserve(&d->buf, 64 * 1024)) {
        free(d);
        return NULL;
    }
    return d;
}

void vp9_depack_free(struct vp9_depack *d)
{
    if (!d)
        return;
    rec_fbuf_free(&d->buf);
    free(d);
}

const struct rec_vstats *vp9_depack_stats(const struct vp9_depack *d)
{
    return &d->out.st;
}

/* Flexible mode: were all the pictures f refers to written? */
static bool refs_written(const struct vp9_depack *d, const struct vp9_desc *h)
{
    for (int i = 0; i < h->n_pdiff; i++) {
        unsigned ref = (h->pid + h->pid_mod - h->pdiff[i]) % h->pid_mod;
        if (d->decoded[ref % VP9_PID_RING] != ref + 1)
            return false;
    }
    return true;
}

/* Is frame h decodable? Updates the chain / reference ring. */
static bool judge(struct vp9_depack *d, const struct vp9_desc *h, bool complete, bool key)
{
    bool ok;

    if (d->started && h->flexible && h->has_pid) {
        ok = complete && (key || !h->inter || refs_written(d, h));
        d->decoded[h->pid % VP9_PID_RING] = ok ? (uint16_t)(h->pid + 1) : 0;
        if (key)
            rec_layers_init(&d->chain); /* in case the sender changes mode */
        return ok;
    }
    struct rec_layer_frame lf = {.key = key,
                                 .has_pid = d->started && h->has_pid,
                                 .pid = h->pid,
                                 .pid_mod = h->pid_mod,
                                 .has_tid = d->started && h->layers,
                                 .tid = h->tid,
                                 .has_tl0 = d->started && h->has_tl0,
                                 .tl0 = h->tl0,
                                 .switch_up = h->switch_up,
                                 .gap_before = d->gap_before,
                                 .complete = complete};
    ok = rec_layers_frame(&d->chain, &lf);
    if (d->started && h->has_pid)
        d->decoded[h->pid % VP9_PID_RING] = ok ? (uint16_t)(h->pid + 1) : 0;
    return ok;
}

static void finish(struct vp9_depack *d)
{
    struct rec_vframe f = {.codec = REC_VC_VP9, .ts = d->ts, .arrival_us = d->arrival_us};
    struct vp9_frame_info fi = {0};
    bool complete = d->started && !d->damaged && d->buf.len > 0;

    if (!d->active)
        return;
    if (complete && vp9_frame_header(d->buf.p, d->buf.len, &fi) != 0) {
        d->out.st.malformed++;
        complete = false;
    }
    if (!complete)
        d->out.st.damaged++;
    bool key = complete && fi.key;
    if (judge(d, &d->first, complete, key)) {
        f.key = key;
        f.data = d->buf.p;
        f.len = d->buf.len;
        if (key) {
            f.width = fi.width;
            f.height = fi.height;
            f.fmt = fi.fmt;
        }
        rec_vout_frame(&d->out, &f);
    } else {
        rec_vout_drop(&d->out, d->arrival_us, true);
    }
    d->have_done_ts = true;
    d->done_ts = d->ts;
    d->active = d->started = d->damaged = d->gap_before = false;
    d->buf.len = 0;
}

/* Open a base frame at p (its first packet, or a later one if B was lost). */
static void open_frame(struct vp9_depack *d, const struct rtp_pkt *p)
{
    d->active = true;
    d->ts = p->ts;
    d->arrival_us = p->arrival_us;
    d->gap_before = d->gap_pending;
    d->gap_pending = false;
}

void vp9_depack_push(struct vp9_depack *d, const struct rtp_pkt *p)
{
    struct vp9_desc h;

    if (d->active && p->ts != d->ts) {
        d->damaged = true; /* its E never came */
        finish(d);
    }
    if (p->lost_before) {
        if (d->active)
            d->damaged = true;
        else
            d->gap_pending = true;
    }
    if (vp9_desc_parse(p->payload, p->payload_len, &h) != 0 || h.len >= p->payload_len) {
        d->out.st.malformed++;
        if (d->active)
            d->damaged = true;
        else
            d->gap_pending = true; /* it may have been a base frame's start */
        return;
    }
    if (h.layers && h.sid > 0) {
        if (d->active) {
            d->damaged = true; /* the base frame's E never came */
            finish(d);
        }
        d->out.st.layers_skipped += h.begin;
        return;
    }
    if (h.begin) {
        if (d->active) {
            d->damaged = true;
            finish(d);
        }
        if (d->have_done_ts && d->done_ts == p->ts) {
            d->out.st.malformed++; /* a second base frame in one picture */
            return;
        }
        open_frame(d, p);
        d->started = true;
        d->first = h;
    } else if (!d->active) {
        if (d->have_done_ts && d->done_ts == p->ts)
            return; /* the rest of a frame already given up */
        open_frame(d, p);
        d->damaged = true; /* the frame's B packet is missing */
    }
    if (!rec_fbuf_put(&d->buf, p->payload + h.len, p->payload_len - h.len))
        d->damaged = true;
    if (h.end)
        finish(d);
}

void vp9_depack_flush(struct vp9_depack *d)
{
    finish(d);
}
