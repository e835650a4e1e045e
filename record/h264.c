/*
 * h264.c - H.264 RTP depacketizer, RFC 6184 modes 0 and 1.
 *
 * Packets come in sequence order with the number of packets lost just
 * before each. NAL units are written straight into one access-unit buffer
 * in AVCC form (4-byte length, then the NAL unit); an FU-A (§5.8) is
 * reassembled in place and its length patched at the end fragment. The
 * buffer keeps 2 * (4 + H264_PS_MAX) bytes of headroom in front so cached
 * SPS/PPS can be prepended to an IDR without a copy.
 *
 * An access unit ends when the timestamp changes (§5.1; the marker bit is
 * only a hint, used to decide whom a loss belongs to). Loss rules:
 *   - a loss inside an FU-A, or after the first slice of a frame, damages
 *     the frame: it is dropped;
 *   - a loss at a frame boundary after a frame without the marker bit
 *     damages that frame;
 *   - a loss between frames may have taken whole frames: the next frame
 *     is kept only if it starts at macroblock 0 and its frame_num is the
 *     one that follows the last frame written (§7.4.3: no reference frame
 *     is missing, so only non-VCL units or non-reference frames went), or
 *     it is an IDR starting at macroblock 0 (parameter sets come from the
 *     cache); otherwise frames are dropped until an IDR and a keyframe is
 *     requested;
 *   - a fragment without its start, an FU-A with S and E, the forbidden
 *     bit, STAP-A sizes past the end, STAP-B/MTAP/FU-B (not allowed in
 *     modes 0/1) are malformed: the packet is dropped and the frame too.
 */
#include "record/h264.h"
#include "core/err.h"
#include "core/log.h"
#include "record/rtp.h"

#include <stdlib.h>
#include <string.h>

enum {
    H264_HEADROOM = 2 * (4 + H264_PS_MAX),
    H264_KF_INTERVAL_US = 500000, /* at most two keyframe requests a second */
};

struct h264_depack {
    h264_au_fn au_cb;
    h264_kf_fn kf_cb;
    void *arg;
    uint8_t *buf; /* H264_HEADROOM + cap */
    size_t cap, len;
    /* the access unit being built */
    bool active, has_vcl, idr, has_sps, has_pps, damaged, vcl_gap, first_mb0, ref;
    long frame_num;
    int64_t ts, arrival_us;
    /* FU-A in progress: offset of its length field */
    bool fu_active;
    size_t fu_off;
    int fu_type;
    bool last_marker;
    bool waiting_idr; /* reference chain broken: drop until an IDR */
    bool chain_gap;   /* packets lost since the last frame written */
    long prev_fn;     /* frame_num of the last frame written, -1 if unknown */
    bool prev_ref;
    int64_t kf_last_us;
    bool kf_ever;
    /* parameter set cache */
    uint8_t sps[H264_PS_MAX], pps[H264_PS_MAX];
    size_t sps_len, pps_len;
    struct h264_sps_info info;
    struct h264_stats st;
};

static inline uint8_t *au_data(struct h264_depack *d)
{
    return d->buf + H264_HEADROOM;
}

struct h264_depack *h264_depack_new(h264_au_fn au, h264_kf_fn kf, void *arg)
{
    struct h264_depack *d = calloc(1, sizeof(*d));

    if (!d)
        return NULL;
    d->au_cb = au;
    d->kf_cb = kf;
    d->arg = arg;
    d->cap = 256 * 1024;
    d->buf = malloc(H264_HEADROOM + d->cap);
    if (!d->buf) {
        free(d);
        return NULL;
    }
    d->waiting_idr = true;
    d->prev_fn = -1;
    return d;
}

void h264_depack_free(struct h264_depack *d)
{
    if (!d)
        return;
    free(d->buf);
    free(d);
}

const struct h264_stats *h264_depack_stats(const struct h264_depack *d)
{
    return &d->st;
}

static void request_keyframe(struct h264_depack *d, int64_t now_us)
{
    if (d->kf_ever && now_us - d->kf_last_us < H264_KF_INTERVAL_US)
        return;
    d->kf_ever = true;
    d->kf_last_us = now_us;
    d->st.kf_requests++;
    if (d->kf_cb)
        d->kf_cb(d->arg);
}

/* Make room for n more bytes in the access unit; false past H264_AU_MAX. */
static bool reserve(struct h264_depack *d, size_t n)
{
    if (d->len + n <= d->cap)
        return true;
    if (d->len + n > H264_AU_MAX)
        return false;
    size_t cap = d->cap * 2;
    while (cap < d->len + n)
        cap *= 2;
    if (cap > H264_AU_MAX)
        cap = H264_AU_MAX;
    uint8_t *nb = realloc(d->buf, H264_HEADROOM + cap);
    if (!nb)
        return false;
    d->buf = nb;
    d->cap = cap;
    return true;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Cache a parameter set; false if refused (bad or absurd). */
static bool cache_ps(struct h264_depack *d, const uint8_t *nal, size_t len)
{
    static struct se_log_rl rl;
    int type = nal[0] & 0x1f;

    if (len > H264_PS_MAX || len < 2)
        goto bad;
    if (type == H264_NAL_SPS) {
        struct h264_sps_info si;
        if (h264_sps_parse(nal, len, &si) != 0)
            goto bad;
        d->info = si;
        memcpy(d->sps, nal, len);
        d->sps_len = len;
    } else {
        memcpy(d->pps, nal, len);
        d->pps_len = len;
    }
    return true;
bad:
    d->st.bad_ps++;
    se_log_rl(&rl, SE_LOG_WARN, "record h264: refused %s of %zu bytes",
              type == H264_NAL_SPS ? "SPS" : "PPS", len);
    return false;
}

/* Note the kind of a complete or starting NAL unit in the access unit. */
static void note_nal(struct h264_depack *d, const uint8_t *nal, size_t len)
{
    int type = nal[0] & 0x1f;

    if (type >= H264_NAL_SLICE && type <= H264_NAL_IDR) {
        if (!d->has_vcl) {
            struct h264_slice sl;
            bool ok = h264_slice_parse(nal, len, d->sps_len ? &d->info : NULL, &sl) == 0;
            d->first_mb0 = ok && sl.first_mb == 0;
            d->frame_num = ok ? sl.frame_num : -1;
            d->ref = (nal[0] & 0x60) != 0; /* nal_ref_idc */
        }
        d->has_vcl = true;
        if (type == H264_NAL_IDR)
            d->idr = true;
    }
}

/* Append one complete NAL unit (header included). */
static void add_nal(struct h264_depack *d, const uint8_t *nal, size_t len)
{
    int type;

    if (len < 1 || (nal[0] & 0x80)) { /* forbidden_zero_bit, §5.3 */
        d->st.malformed++;
        d->damaged = true;
        return;
    }
    type = nal[0] & 0x1f;
    if (type == H264_NAL_AUD || type == H264_NAL_FILLER || type == 0 || type >= 24 || type == 10 ||
        type == 11)
        return; /* not kept: delimiters, filler, end markers, reserved */
    if (type == H264_NAL_SPS || type == H264_NAL_PPS) {
        if (!cache_ps(d, nal, len)) {
            d->damaged = true;
            return;
        }
        if (type == H264_NAL_SPS)
            d->has_sps = true;
        else
            d->has_pps = true;
    }
    if (len > UINT32_MAX || !reserve(d, 4 + len)) {
        d->damaged = true;
        return;
    }
    note_nal(d, nal, len);
    put32(au_data(d) + d->len, (uint32_t)len);
    memcpy(au_data(d) + d->len + 4, nal, len);
    d->len += 4 + len;
}

/* Drop an unfinished FU-A. Losing a slice damages the frame; losing SEI
 * or a parameter-set copy does not (the cache and the slices tell). */
static void fu_abort(struct h264_depack *d)
{
    if (d->fu_active) {
        d->len = d->fu_off;
        d->fu_active = false;
        if (d->fu_type >= H264_NAL_SLICE && d->fu_type <= H264_NAL_IDR)
            d->damaged = true;
    }
}

static void add_fu_a(struct h264_depack *d, const uint8_t *p, size_t n)
{
    if (n < 3) {
        d->st.malformed++;
        fu_abort(d);
        d->damaged = true;
        return;
    }
    uint8_t ind = p[0], hdr = p[1];
    bool s = hdr & 0x80, e = hdr & 0x40;
    uint8_t nal_hdr = (uint8_t)((ind & 0xe0) | (hdr & 0x1f));
    int type = hdr & 0x1f;

    /* §5.8: S and E together, the reserved bit, an aggregate inside. */
    if ((s && e) || (hdr & 0x20) || type == 0 || type >= 24 || (ind & 0x80)) {
        d->st.malformed++;
        fu_abort(d);
        d->damaged = true;
        return;
    }
    if (s) {
        fu_abort(d); /* a new start while one was open: the old one is lost */
        if (!reserve(d, 5 + (n - 2))) {
            d->damaged = true;
            return;
        }
        d->fu_active = true;
        d->fu_type = type;
        d->fu_off = d->len;
        au_data(d)[d->len + 4] = nal_hdr;
        d->len += 5;
    } else if (!d->fu_active) {
        /* A fragment without its start: every FU header names its NAL type. */
        if (type >= H264_NAL_SLICE && type <= H264_NAL_IDR)
            d->damaged = true;
        return;
    } else if (type != d->fu_type) {
        fu_abort(d); /* fragments of two different units: both incomplete */
        if (type >= H264_NAL_SLICE && type <= H264_NAL_IDR)
            d->damaged = true;
        return;
    }
    if (!reserve(d, n - 2)) {
        fu_abort(d);
        return;
    }
    memcpy(au_data(d) + d->len, p + 2, n - 2);
    d->len += n - 2;
    if (s && type >= H264_NAL_SLICE && type <= H264_NAL_IDR) /* the slice header is here */
        note_nal(d, au_data(d) + d->fu_off + 4, d->len - d->fu_off - 4);
    if (!e)
        return;
    d->fu_active = false;
    uint8_t *nal = au_data(d) + d->fu_off + 4;
    size_t nal_len = d->len - d->fu_off - 4;
    if (type == H264_NAL_SPS || type == H264_NAL_PPS || type == H264_NAL_AUD ||
        type == H264_NAL_FILLER || type == 10 || type == 11) {
        /* Rare: a fragmented parameter set. Re-add it as a whole unit. */
        uint8_t tmp[H264_PS_MAX];
        d->len = d->fu_off;
        if (nal_len > sizeof(tmp)) {
            if (type == H264_NAL_SPS || type == H264_NAL_PPS) {
                d->st.bad_ps++;
                d->damaged = true;
            }
            return;
        }
        memcpy(tmp, nal, nal_len);
        add_nal(d, tmp, nal_len);
        return;
    }
    put32(au_data(d) + d->fu_off, (uint32_t)nal_len);
}

static void add_stap_a(struct h264_depack *d, const uint8_t *p, size_t n)
{
    size_t off = 1;

    /* §5.7.1: validate every size before taking any unit. */
    while (off < n) {
        if (off + 2 > n)
            goto bad;
        size_t sz = (size_t)(p[off] << 8 | p[off + 1]);
        if (sz == 0 || off + 2 + sz > n)
            goto bad;
        off += 2 + sz;
    }
    if (n < 4)
        goto bad;
    for (off = 1; off < n;) {
        size_t sz = (size_t)(p[off] << 8 | p[off + 1]);
        const uint8_t *nal = p + off + 2;
        if ((nal[0] & 0x1f) >= 24 || (nal[0] & 0x1f) == 0)
            goto bad; /* no aggregates inside aggregates */
        add_nal(d, nal, sz);
        off += 2 + sz;
    }
    return;
bad:
    d->st.malformed++;
    d->damaged = true;
}

/* Prepend cached SPS/PPS in the headroom; returns the new start. */
static uint8_t *prepend_ps(struct h264_depack *d, size_t *len)
{
    uint8_t *start = au_data(d);

    if (!d->has_pps) {
        start -= 4 + d->pps_len;
        put32(start, (uint32_t)d->pps_len);
        memcpy(start + 4, d->pps, d->pps_len);
    }
    if (!d->has_sps) {
        start -= 4 + d->sps_len;
        put32(start, (uint32_t)d->sps_len);
        memcpy(start + 4, d->sps, d->sps_len);
    }
    *len = d->len + (size_t)(au_data(d) - start);
    return start;
}

/* After a loss: does this frame follow the last one written (§7.4.3)? */
static bool chain_holds(const struct h264_depack *d)
{
    if (!d->first_mb0 || d->frame_num < 0 || d->prev_fn < 0)
        return false;
    long max = 1L << d->info.log2_max_frame_num;
    return d->frame_num == (d->prev_ref ? (d->prev_fn + 1) % max : d->prev_fn);
}

static void finish_au(struct h264_depack *d)
{
    if (!d->active)
        return;
    fu_abort(d);
    if (d->has_vcl) {
        bool ok = !d->damaged;
        if (ok && d->idr)
            ok = d->sps_len && d->pps_len && (!d->vcl_gap || d->first_mb0);
        else if (ok)
            ok = !d->waiting_idr && (!d->chain_gap || chain_holds(d));
        if (d->damaged)
            d->st.damaged++;
        if (!ok) {
            se_debug("record h264: frame ts=%lld dropped: %s", (long long)d->ts,
                     d->damaged              ? "incomplete"
                     : d->idr && !d->sps_len ? "no SPS/PPS"
                     : d->idr                ? "first slice missing"
                     : d->waiting_idr        ? "waiting for an IDR"
                                             : "a reference frame is missing");
            d->st.dropped++;
            d->waiting_idr = true;
            request_keyframe(d, d->arrival_us);
        } else {
            struct h264_au au = {.ts = d->ts,
                                 .arrival_us = d->arrival_us,
                                 .key = d->idr,
                                 .sps = d->sps,
                                 .pps = d->pps,
                                 .sps_len = d->sps_len,
                                 .pps_len = d->pps_len,
                                 .info = &d->info};
            au.data = d->idr ? prepend_ps(d, &au.len) : au_data(d);
            if (!d->idr)
                au.len = d->len;
            d->waiting_idr = d->chain_gap = false;
            d->prev_fn = d->frame_num;
            d->prev_ref = d->ref;
            d->st.frames++;
            d->st.idr += d->idr;
            d->au_cb(d->arg, &au);
        }
    }
    d->active = d->has_vcl = d->idr = d->has_sps = d->has_pps = false;
    d->damaged = d->vcl_gap = d->first_mb0 = false;
    d->len = 0;
}

void h264_depack_push(struct h264_depack *d, const struct rtp_pkt *p)
{
    const uint8_t *pl = p->payload;
    size_t n = p->payload_len;

    if (d->active && p->ts != d->ts) {
        if (p->lost_before && !d->last_marker)
            d->damaged = true; /* its tail may be what was lost */
        finish_au(d);
    }
    if (p->lost_before) {
        d->chain_gap = true; /* whole frames may have gone */
        if (d->active && d->has_vcl)
            d->damaged = true;
        fu_abort(d);       /* damages the frame if the unit was a slice */
        d->vcl_gap = true; /* lost units before this AU's first slice */
    }
    if (!d->active) {
        d->active = true;
        d->ts = p->ts;
        d->arrival_us = p->arrival_us;
    }
    d->last_marker = p->marker;
    if (n < 1)
        return;
    int type = pl[0] & 0x1f;
    if (type != H264_NAL_FU_A && d->fu_active)
        fu_abort(d); /* the FU's end never came */
    if (pl[0] & 0x80) {
        d->st.malformed++;
        d->damaged = true;
    } else if (type >= 1 && type <= 23) {
        add_nal(d, pl, n);
    } else if (type == H264_NAL_STAP_A) {
        add_stap_a(d, pl, n);
    } else if (type == H264_NAL_FU_A) {
        add_fu_a(d, pl, n);
    } else if (type == H264_NAL_STAP_B || type == H264_NAL_MTAP16 || type == H264_NAL_MTAP24 ||
               type == H264_NAL_FU_B) {
        d->st.malformed++; /* interleaved mode (2) only */
        d->damaged = true;
    }
    /* 0, 30, 31: reserved, ignored (§5.4) */
}

void h264_depack_flush(struct h264_depack *d)
{
    finish_au(d);
}

/* RFC 4648 base64, bounded; returns the decoded length or -1. */
static int b64_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '+')
            v = 62;
        else if (c == '/')
            v = 63;
        else if (c == '=')
            break;
        else
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == cap)
                return -1;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return (int)o;
}

int h264_depack_sprop(struct h264_depack *d, const char *sprop)
{
    uint8_t nal[H264_PS_MAX];
    int taken = 0;

    while (sprop && *sprop) {
        size_t n = strcspn(sprop, ",");
        int len = b64_decode(sprop, n, nal, sizeof(nal));
        if (len < 2)
            return SE_ERR_PARSE;
        int type = nal[0] & 0x1f;
        if ((type == H264_NAL_SPS || type == H264_NAL_PPS) && cache_ps(d, nal, (size_t)len))
            taken++;
        sprop += n;
        if (*sprop == ',')
            sprop++;
    }
    return taken;
}
