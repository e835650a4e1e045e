/*
 * av1.c - AV1 RTP depacketizer (AOM RTP payload format §4).
 *
 * Elements of a packet are walked with bounded reads; a complete OBU
 * element is converted straight from the packet into the temporal-unit
 * buffer (header with obu_has_size_field set, extension byte, LEB128
 * size, payload). A fragmented OBU (Y=1 ... Z=1) collects in a separate
 * buffer first. The first frame (header) OBU of a temporal unit decides
 * whether it is a key frame: show_existing_frame = 0, frame_type =
 * KEY_FRAME, show_frame = 1 (AV1 §5.9.2), or any frame with
 * reduced_still_picture_header.
 *
 * Loss rules: a loss inside a temporal unit, a continuation without its
 * start, a fragment whose continuation never came, a malformed element
 * or OBU: the unit is incomplete and dropped. A loss between units (or a
 * dropped unit) leaves the decoder without frames it may need; nothing
 * is written until a complete key frame, and a keyframe is requested.
 */
#include "record/av1.h"
#include "core/err.h"
#include "record/rtp.h"

#include <stdlib.h>
#include <string.h>

enum {
    AV1_Z = 0x80, /* aggregation header, §4.4 */
    AV1_Y = 0x40,
    AV1_N = 0x08,
    AV1_OBU_EXT = 0x04, /* OBU header, AV1 §5.3.1 */
    AV1_OBU_HAS_SIZE = 0x02,
    AV1_KEY_FRAME = 0,
};

struct av1_depack {
    struct rec_vout out;
    struct rec_fbuf tu;   /* the temporal unit, low overhead format */
    struct rec_fbuf frag; /* a fragmented OBU element */
    bool frag_open;
    /* the temporal unit being built */
    bool active, damaged, gap_before;
    bool has_seq, has_frame, key;
    int64_t ts, arrival_us;
    bool last_marker;
    bool gap_pending;
    bool waiting_key;
    /* the sequence header in force, as an OBU with its size field */
    uint8_t seq[AV1_SEQ_MAX];
    size_t seq_len;
    struct av1_seq_info si;
};

int av1_leb128(const uint8_t *p, size_t n, uint32_t *v)
{
    uint64_t val = 0;

    for (int i = 0; i < 8; i++) {
        if ((size_t)i >= n)
            return SE_ERR_TRUNC;
        val |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            if (val > UINT32_MAX)
                return SE_ERR_PARSE;
            *v = (uint32_t)val;
            return i + 1;
        }
    }
    return SE_ERR_PARSE;
}

static size_t leb128_put(uint8_t *out, uint32_t v)
{
    size_t n = 0;
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        out[n++] = (uint8_t)(b | (v ? 0x80 : 0));
    } while (v);
    return n;
}

/* uvlc(), AV1 §4.10.3. */
static uint32_t uvlc(struct rec_bits *b)
{
    int zeros = 0;
    while (!rec_bits_get(b, 1)) {
        if (b->over || ++zeros >= 32)
            return UINT32_MAX;
    }
    return zeros ? rec_bits_get(b, zeros) + (uint32_t)((1ull << zeros) - 1) : 0;
}

int av1_seq_parse(const uint8_t *p, size_t n, struct av1_seq_info *out)
{
    struct rec_bits b = {.p = p, .n = n};

    memset(out, 0, sizeof(*out));
    out->profile = (uint8_t)rec_bits_get(&b, 3);
    rec_bits_get(&b, 1); /* still_picture */
    out->reduced_still_picture_header = rec_bits_get(&b, 1);
    if (out->reduced_still_picture_header) {
        rec_bits_get(&b, 5); /* seq_level_idx[0] */
    } else {
        bool decoder_model = false;
        unsigned buffer_delay_len = 0;
        if (rec_bits_get(&b, 1)) {   /* timing_info_present_flag */
            rec_bits_get(&b, 32);    /* num_units_in_display_tick */
            rec_bits_get(&b, 32);    /* time_scale */
            if (rec_bits_get(&b, 1)) /* equal_picture_interval */
                uvlc(&b);
            decoder_model = rec_bits_get(&b, 1);
            if (decoder_model) {
                buffer_delay_len = rec_bits_get(&b, 5) + 1;
                rec_bits_get(&b, 32); /* num_units_in_decoding_tick */
                rec_bits_get(&b, 10); /* buffer_removal_time / frame_presentation_time lengths */
            }
        }
        bool initial_display_delay = rec_bits_get(&b, 1);
        unsigned ops = rec_bits_get(&b, 5) + 1;
        for (unsigned i = 0; i < ops && !b.over; i++) {
            rec_bits_get(&b, 12);        /* operating_point_idc */
            if (rec_bits_get(&b, 5) > 7) /* seq_level_idx */
                rec_bits_get(&b, 1);     /* seq_tier */
            if (decoder_model && rec_bits_get(&b, 1)) {
                rec_bits_get(&b, (int)buffer_delay_len); /* decoder_buffer_delay */
                rec_bits_get(&b, (int)buffer_delay_len); /* encoder_buffer_delay */
                rec_bits_get(&b, 1);                     /* low_delay_mode_flag */
            }
            if (initial_display_delay && rec_bits_get(&b, 1))
                rec_bits_get(&b, 4);
        }
    }
    int wbits = (int)rec_bits_get(&b, 4) + 1, hbits = (int)rec_bits_get(&b, 4) + 1;
    out->max_width = rec_bits_get(&b, wbits) + 1;
    out->max_height = rec_bits_get(&b, hbits) + 1;
    if (b.over || out->profile > 2 || out->max_width > REC_DIM_MAX || out->max_height > REC_DIM_MAX)
        return SE_ERR_PARSE;
    return 0;
}

struct av1_depack *av1_depack_new(rec_vframe_fn fn, rec_vkf_fn kf, void *arg)
{
    struct av1_depack *d = calloc(1, sizeof(*d));

    if (!d)
        return NULL;
    d->out = (struct rec_vout){.fn = fn, .kf = kf, .arg = arg};
    d->waiting_key = true;
    if (!rec_fbuf_reserve(&d->tu, 64 * 1024)) {
        free(d);
        return NULL;
    }
    return d;
}

void av1_depack_free(struct av1_depack *d)
{
    if (!d)
        return;
    rec_fbuf_free(&d->tu);
    rec_fbuf_free(&d->frag);
    free(d);
}

const struct rec_vstats *av1_depack_stats(const struct av1_depack *d)
{
    return &d->out.st;
}

static void malformed(struct av1_depack *d)
{
    d->out.st.malformed++;
    d->damaged = true;
}

/* The first frame (header) OBU of the unit: is it a shown key frame? */
static void note_frame(struct av1_depack *d, const uint8_t *p, size_t n)
{
    struct rec_bits b = {.p = p, .n = n};

    if (d->has_frame)
        return;
    d->has_frame = true;
    if (d->seq_len && d->si.reduced_still_picture_header) {
        d->key = true;
        return;
    }
    if (rec_bits_get(&b, 1)) /* show_existing_frame */
        return;
    unsigned type = rec_bits_get(&b, 2);
    bool show = rec_bits_get(&b, 1);
    d->key = !b.over && type == AV1_KEY_FRAME && show;
}

/* A sequence header: validate and make it the one in force. */
static void take_seq(struct av1_depack *d, const uint8_t *obu, size_t obu_len, const uint8_t *pl,
                     size_t pl_len)
{
    struct av1_seq_info si;

    if (obu_len > sizeof(d->seq) || av1_seq_parse(pl, pl_len, &si) != 0) {
        d->out.st.bad_config++;
        d->damaged = true;
        return;
    }
    memcpy(d->seq, obu, obu_len);
    d->seq_len = obu_len;
    d->si = si;
    d->has_seq = true;
}

/* One complete OBU element (header included) into the temporal unit. */
static void add_obu(struct av1_depack *d, const uint8_t *e, size_t n)
{
    uint8_t hdr[2 + 5];
    size_t hl;
    uint32_t size;

    if (n < 1 || (e[0] & 0x80)) { /* obu_forbidden_bit */
        malformed(d);
        return;
    }
    int type = (e[0] >> 3) & 15;
    hl = (e[0] & AV1_OBU_EXT) ? 2 : 1;
    if (n < hl) {
        malformed(d);
        return;
    }
    const uint8_t *pl = e + hl;
    size_t pl_len = n - hl;
    if (e[0] & AV1_OBU_HAS_SIZE) {
        int r = av1_leb128(pl, pl_len, &size);
        if (r < 0 || (size_t)r + size != pl_len) {
            malformed(d); /* the size must fill the element exactly */
            return;
        }
        pl += r;
        pl_len = size;
    }
    if (hl == 2 && ((e[1] >> 3) & 3) > 0) {
        d->out.st.layers_skipped += type == AV1_OBU_FRAME || type == AV1_OBU_FRAME_HEADER;
        return; /* an upper spatial layer: not recorded */
    }
    if (type == AV1_OBU_TEMPORAL_DELIMITER || type == AV1_OBU_TILE_LIST || type == AV1_OBU_PADDING)
        return; /* §4.3: not in the RTP stream / not in a sample */
    hdr[0] = (uint8_t)(e[0] | AV1_OBU_HAS_SIZE);
    if (hl == 2)
        hdr[1] = e[1];
    size_t total = hl + leb128_put(hdr + hl, (uint32_t)pl_len);
    size_t at = d->tu.len;
    if (!rec_fbuf_put(&d->tu, hdr, total) || !rec_fbuf_put(&d->tu, pl, pl_len)) {
        d->damaged = true;
        return;
    }
    if (type == AV1_OBU_SEQUENCE_HEADER)
        take_seq(d, d->tu.p + at, total + pl_len, pl, pl_len);
    else if (type == AV1_OBU_FRAME || type == AV1_OBU_FRAME_HEADER)
        note_frame(d, pl, pl_len);
}

/* Prepend the cached sequence header to a key frame that came without. */
static bool prepend_seq(struct av1_depack *d)
{
    if (!d->seq_len || !rec_fbuf_reserve(&d->tu, d->seq_len))
        return false;
    memmove(d->tu.p + d->seq_len, d->tu.p, d->tu.len);
    memcpy(d->tu.p, d->seq, d->seq_len);
    d->tu.len += d->seq_len;
    return true;
}

static void finish(struct av1_depack *d)
{
    if (!d->active)
        return;
    if (d->frag_open) {
        d->frag_open = false;
        d->damaged = true; /* the end of a fragmented OBU never came */
    }
    bool complete = !d->damaged && d->has_frame;
    bool key = complete && d->key && (d->has_seq || prepend_seq(d));
    if (d->damaged || d->gap_before)
        d->waiting_key = true;
    if (!d->damaged && !d->has_frame) {
        /* nothing to show (metadata, delimiters only): not a loss */
    } else if (complete && (key || !d->waiting_key)) {
        struct rec_vframe f = {.codec = REC_VC_AV1,
                               .ts = d->ts,
                               .arrival_us = d->arrival_us,
                               .key = key,
                               .data = d->tu.p,
                               .len = d->tu.len};
        if (key) {
            d->waiting_key = false;
            f.config = d->seq;
            f.config_len = d->seq_len;
            f.width = d->si.max_width;
            f.height = d->si.max_height;
        }
        rec_vout_frame(&d->out, &f);
    } else {
        d->out.st.damaged += d->damaged;
        d->waiting_key = true;
        rec_vout_drop(&d->out, d->arrival_us, true);
    }
    d->active = d->damaged = d->gap_before = false;
    d->has_seq = d->has_frame = d->key = false;
    d->tu.len = 0;
}

/* The elements of one packet (after the aggregation header). */
static void add_elements(struct av1_depack *d, uint8_t agg, const uint8_t *p, size_t n)
{
    int w = (agg >> 4) & 3;
    size_t off = 0;

    for (int i = 1; off < n; i++) {
        uint32_t len;
        if (w == 0 || i < w) {
            int r = av1_leb128(p + off, n - off, &len);
            if (r < 0 || len > n - off - (size_t)r) {
                malformed(d);
                break;
            }
            off += (size_t)r;
        } else {
            len = (uint32_t)(n - off);
        }
        const uint8_t *e = p + off;
        off += len;
        bool first = i == 1, last = off == n || (w != 0 && i == w);
        if (len == 0) {
            malformed(d);
            break;
        }
        if (first && (agg & AV1_Z)) {
            if (!d->frag_open) {
                d->damaged = true; /* the start of this OBU was lost */
            } else if (!rec_fbuf_put(&d->frag, e, len)) {
                d->damaged = true;
                d->frag_open = false;
            } else if (!(last && (agg & AV1_Y))) {
                d->frag_open = false;
                add_obu(d, d->frag.p, d->frag.len);
            }
            continue;
        }
        if (d->frag_open) {
            malformed(d); /* a new OBU while a fragment waited for its end */
            d->frag_open = false;
        }
        if (last && (agg & AV1_Y)) {
            d->frag.len = 0;
            d->frag_open = rec_fbuf_put(&d->frag, e, len);
            if (!d->frag_open)
                d->damaged = true;
        } else {
            add_obu(d, e, len);
        }
        if (last)
            break;
    }
    if (off < n && w != 0)
        malformed(d); /* W elements, then bytes left over */
}

void av1_depack_push(struct av1_depack *d, const struct rtp_pkt *p)
{
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
        if (d->frag_open) {
            d->frag_open = false;
            d->damaged = true;
        }
    }
    if (!d->active) {
        d->active = true;
        d->ts = p->ts;
        d->arrival_us = p->arrival_us;
        d->gap_before = d->gap_pending;
        d->gap_pending = false;
        if (d->frag_open) { /* a fragment the previous unit never finished */
            d->frag_open = false;
            d->damaged = true;
        }
    }
    d->last_marker = p->marker;
    if (p->payload_len < 2) {
        malformed(d);
        return;
    }
    add_elements(d, p->payload[0], p->payload + 1, p->payload_len - 1);
}

void av1_depack_flush(struct av1_depack *d)
{
    finish(d);
}
