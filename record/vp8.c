/*
 * vp8.c - VP8 RTP depacketizer, RFC 7741.
 *
 * A frame is the run of packets with one RTP timestamp (§4.1; the marker
 * bit is only a hint, used to decide whom a loss belongs to). Its first
 * packet has S=1 and PID=0 (§4.2) and carries the descriptor fields the
 * layer chain needs (picture ID, TL0PICIDX, TID, Y, N); the payloads after
 * each descriptor, in order, are the frame (partitions are not reframed).
 *
 * Loss rules:
 *   - a loss inside a frame, a frame without its start, a second start
 *     with the same timestamp, a malformed descriptor or key frame header:
 *     the frame is incomplete and dropped;
 *   - a loss at a frame boundary after a frame without the marker bit
 *     damages that frame, and may have taken whole frames;
 *   - whether whole frames went, and which layers they belonged to, comes
 *     from the picture ID and TL0PICIDX (rec_layers_frame): the frames
 *     that cannot depend on them are kept, the others dropped until a key
 *     frame (or a Y frame repairs their layer), with a keyframe request.
 */
#include "record/vp8.h"
#include "core/err.h"
#include "record/rtp.h"

#include <stdlib.h>
#include <string.h>

enum {
    VP8_X = 0x80, /* descriptor byte 0, RFC 7741 §4.2 */
    VP8_N = 0x20,
    VP8_S = 0x10,
    VP8_PID = 0x07,
    VP8_I = 0x80, /* extension byte */
    VP8_L = 0x40,
    VP8_T = 0x20,
    VP8_K = 0x10,
    VP8_M = 0x80, /* picture ID: 15 bits */
};

struct vp8_depack {
    struct rec_vout out;
    struct rec_fbuf buf;
    /* the frame being built */
    bool active, started, damaged, gap_before;
    int64_t ts, arrival_us;
    struct vp8_desc first; /* descriptor of its first packet */
    bool last_marker;
    bool gap_pending; /* a loss before the next frame */
    struct rec_layers chain;
};

int vp8_desc_parse(const uint8_t *p, size_t n, struct vp8_desc *d)
{
    size_t off = 1;

    memset(d, 0, sizeof(*d));
    if (n < 1)
        return SE_ERR_TRUNC;
    d->non_ref = p[0] & VP8_N;
    d->start = p[0] & VP8_S;
    d->part = p[0] & VP8_PID;
    if (p[0] & VP8_X) {
        if (n < 2)
            return SE_ERR_TRUNC;
        uint8_t x = p[1];
        off = 2;
        if (x & VP8_I) {
            if (off >= n)
                return SE_ERR_TRUNC;
            d->has_pid = true;
            if (p[off] & VP8_M) {
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
        if (x & VP8_L) {
            if (off >= n)
                return SE_ERR_TRUNC;
            d->has_tl0 = true;
            d->tl0 = p[off++];
        }
        if (x & (VP8_T | VP8_K)) {
            if (off >= n)
                return SE_ERR_TRUNC;
            if (x & VP8_T) {
                d->has_tid = true;
                d->tid = p[off] >> 6;
                d->sync = p[off] & 0x20;
            }
            off++;
        }
        if ((x & VP8_L) && !(x & VP8_T))
            return SE_ERR_PARSE; /* §4.2: L requires T */
    }
    d->len = off;
    return 0;
}

int vp8_frame_header(const uint8_t *p, size_t n, bool *key, unsigned *width, unsigned *height)
{
    if (n < 3)
        return SE_ERR_PARSE;
    uint32_t tag = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
    uint32_t first_part = tag >> 5;
    *key = !(tag & 1);
    *width = *height = 0;
    if (((tag >> 1) & 7) > 3)
        return SE_ERR_PARSE; /* RFC 6386 §9.1: versions 0..3 */
    if (!*key)
        return first_part <= n - 3 ? 0 : SE_ERR_PARSE;
    if (n < VP8_KEY_HEADER || p[3] != 0x9d || p[4] != 0x01 || p[5] != 0x2a)
        return SE_ERR_PARSE;
    *width = ((unsigned)p[6] | (unsigned)p[7] << 8) & 0x3fff;
    *height = ((unsigned)p[8] | (unsigned)p[9] << 8) & 0x3fff;
    if (!*width || !*height || first_part > n - VP8_KEY_HEADER)
        return SE_ERR_PARSE;
    return 0;
}

struct vp8_depack *vp8_depack_new(rec_vframe_fn fn, rec_vkf_fn kf, void *arg)
{
    struct vp8_depack *d = calloc(1, sizeof(*d));

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

void vp8_depack_free(struct vp8_depack *d)
{
    if (!d)
        return;
    rec_fbuf_free(&d->buf);
    free(d);
}

const struct rec_vstats *vp8_depack_stats(const struct vp8_depack *d)
{
    return &d->out.st;
}

static void finish(struct vp8_depack *d)
{
    struct rec_vframe f = {.codec = REC_VC_VP8, .ts = d->ts, .arrival_us = d->arrival_us};
    bool complete = d->started && !d->damaged && d->buf.len > 0;

    if (!d->active)
        return;
    if (complete && vp8_frame_header(d->buf.p, d->buf.len, &f.key, &f.width, &f.height) != 0) {
        d->out.st.malformed++;
        complete = false;
    }
    const struct vp8_desc *h = &d->first;
    struct rec_layer_frame lf = {.key = complete && f.key,
                                 .has_pid = d->started && h->has_pid,
                                 .pid = h->pid,
                                 .pid_mod = h->pid_mod,
                                 .has_tid = d->started && h->has_tid,
                                 .tid = h->tid,
                                 .has_tl0 = d->started && h->has_tl0,
                                 .tl0 = h->tl0,
                                 .non_ref = d->started && h->non_ref,
                                 .base_sync = h->sync,
                                 .gap_before = d->gap_before,
                                 .complete = complete};
    if (!complete)
        d->out.st.damaged++;
    if (rec_layers_frame(&d->chain, &lf)) {
        f.data = d->buf.p;
        f.len = d->buf.len;
        rec_vout_frame(&d->out, &f);
    } else {
        rec_vout_drop(&d->out, d->arrival_us, d->chain.broken_from < REC_LAYERS_OK);
    }
    d->active = d->started = d->damaged = d->gap_before = false;
    d->buf.len = 0;
}

void vp8_depack_push(struct vp8_depack *d, const struct rtp_pkt *p)
{
    struct vp8_desc h;

    if (d->active && p->ts != d->ts) {
        if (p->lost_before && !d->last_marker)
            d->damaged = true; /* its tail may be what was lost */
        finish(d);
    }
    if (p->lost_before) {
        if (d->active)
            d->damaged = true;
        else
            d->gap_pending = true;
    }
    if (!d->active) {
        d->active = true;
        d->ts = p->ts;
        d->arrival_us = p->arrival_us;
        d->gap_before = d->gap_pending;
        d->gap_pending = false;
    }
    d->last_marker = p->marker;
    if (vp8_desc_parse(p->payload, p->payload_len, &h) != 0 || h.len >= p->payload_len) {
        d->out.st.malformed++;
        d->damaged = true;
        return;
    }
    if (h.start && h.part == 0) {
        if (d->started || d->buf.len) {
            d->out.st.malformed++; /* a second frame start at one timestamp */
            d->damaged = true;
            return;
        }
        d->started = true;
        d->first = h;
    } else if (!d->started) {
        d->damaged = true; /* the frame's first packet is missing */
        return;
    }
    if (!rec_fbuf_put(&d->buf, p->payload + h.len, p->payload_len - h.len))
        d->damaged = true; /* larger than REC_FRAME_MAX */
}

void vp8_depack_flush(struct vp8_depack *d)
{
    finish(d);
}
