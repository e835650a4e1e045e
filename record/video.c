/*
 * video.c - the video depacketizers behind one ops table, and the pieces
 * they share.
 *
 * H.264 keeps its own access-unit type (record/h264.h, written before the
 * other codecs existed); its adapter here turns each access unit into a
 * struct rec_vframe and, for IDRs, builds the avcC the MP4 sample entry
 * needs from the SPS/PPS in force. VP8, VP9 and AV1 speak rec_vframe
 * natively.
 *
 * The layer chain (rec_layers_frame) decides decodability after a loss
 * from what RFC 7741 and RFC 9628 put in every packet: the picture ID
 * says whether whole frames went missing, TL0PICIDX whether a base-layer
 * frame was among them, and the temporal layer ID which frames depend on
 * what was lost (layers never depend on higher layers). It errs towards
 * dropping: whatever it cannot prove whole waits for a key frame.
 */
#include "record/video.h"
#include "core/err.h"
#include "record/av1.h"
#include "record/h264.h"
#include "record/vp8.h"
#include "record/vp9.h"

#include <stdlib.h>
#include <string.h>

struct rec_video_ops {
    void (*push)(void *d, const struct rtp_pkt *p);
    void (*flush)(void *d);
    void (*free)(void *d);
    void (*stats)(const void *d, struct rec_vstats *out);
};

struct rec_video {
    enum rec_vcodec codec;
    const struct rec_video_ops *ops;
    void *d;
    /* H.264 adapter */
    rec_vframe_fn fn;
    rec_vkf_fn kf;
    void *arg;
    uint8_t avcc[H264_AVCC_MAX];
};

const char *rec_vcodec_name(enum rec_vcodec c)
{
    static const char *const names[] = {"H264", "VP8", "VP9", "AV1"};
    return (unsigned)c < 4 ? names[c] : "?";
}

/* ---- H.264 adapter ---------------------------------------------------- */

static void h264_on_au(void *arg, const struct h264_au *au)
{
    struct rec_video *v = arg;
    struct rec_vframe f = {.codec = REC_VC_H264,
                           .ts = au->ts,
                           .arrival_us = au->arrival_us,
                           .key = au->key,
                           .data = au->data,
                           .len = au->len};
    if (au->key) {
        int n =
            h264_avcc_build(au->sps, au->sps_len, au->pps, au->pps_len, v->avcc, sizeof(v->avcc));
        if (n < 0)
            return; /* cannot happen: the depacketizer checked both */
        f.config = v->avcc;
        f.config_len = (size_t)n;
        f.width = au->info->width;
        f.height = au->info->height;
    }
    v->fn(v->arg, &f);
}

static void h264_on_kf(void *arg)
{
    struct rec_video *v = arg;
    v->kf(v->arg);
}

static void h264_push(void *d, const struct rtp_pkt *p)
{
    h264_depack_push(d, p);
}
static void h264_flush(void *d)
{
    h264_depack_flush(d);
}
static void h264_free(void *d)
{
    h264_depack_free(d);
}
static void h264_stats(const void *d, struct rec_vstats *out)
{
    const struct h264_stats *s = h264_depack_stats(d);
    *out = (struct rec_vstats){.frames = s->frames,
                               .dropped = s->dropped,
                               .damaged = s->damaged,
                               .malformed = s->malformed,
                               .bad_config = s->bad_ps,
                               .kf_requests = s->kf_requests,
                               .keyframes = s->idr};
}

/* ---- VP8, VP9, AV1 ----------------------------------------------------- */

#define NATIVE_OPS(name)                                                                           \
    static void name##_push(void *d, const struct rtp_pkt *p)                                      \
    {                                                                                              \
        name##_depack_push(d, p);                                                                  \
    }                                                                                              \
    static void name##_flush(void *d)                                                              \
    {                                                                                              \
        name##_depack_flush(d);                                                                    \
    }                                                                                              \
    static void name##_free(void *d)                                                               \
    {                                                                                              \
        name##_depack_free(d);                                                                     \
    }                                                                                              \
    static void name##_stats(const void *d, struct rec_vstats *out)                                \
    {                                                                                              \
        *out = *name##_depack_stats(d);                                                            \
    }
NATIVE_OPS(vp8)
NATIVE_OPS(vp9)
NATIVE_OPS(av1)
#undef NATIVE_OPS

static const struct rec_video_ops ops[] = {
    [REC_VC_H264] = {h264_push, h264_flush, h264_free, h264_stats},
    [REC_VC_VP8] = {vp8_push, vp8_flush, vp8_free, vp8_stats},
    [REC_VC_VP9] = {vp9_push, vp9_flush, vp9_free, vp9_stats},
    [REC_VC_AV1] = {av1_push, av1_flush, av1_free, av1_stats},
};

struct rec_video *rec_video_new(enum rec_vcodec c, rec_vframe_fn fn, rec_vkf_fn kf, void *arg)
{
    struct rec_video *v;

    if ((unsigned)c > REC_VC_AV1 || !fn)
        return NULL;
    v = calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    v->codec = c;
    v->ops = &ops[c];
    v->fn = fn;
    v->arg = arg;
    switch (c) {
    case REC_VC_H264:
        v->kf = kf;
        v->d = h264_depack_new(h264_on_au, kf ? h264_on_kf : NULL, v);
        break;
    case REC_VC_VP8:
        v->d = vp8_depack_new(fn, kf, arg);
        break;
    case REC_VC_VP9:
        v->d = vp9_depack_new(fn, kf, arg);
        break;
    case REC_VC_AV1:
        v->d = av1_depack_new(fn, kf, arg);
        break;
    }
    if (!v->d) {
        free(v);
        return NULL;
    }
    return v;
}

void rec_video_free(struct rec_video *v)
{
    if (!v)
        return;
    v->ops->free(v->d);
    free(v);
}

enum rec_vcodec rec_video_codec(const struct rec_video *v)
{
    return v->codec;
}

int rec_video_sprop(struct rec_video *v, const char *sprop)
{
    return v->codec == REC_VC_H264 ? h264_depack_sprop(v->d, sprop) : SE_ERR_UNSUPP;
}

void rec_video_push(struct rec_video *v, const struct rtp_pkt *p)
{
    v->ops->push(v->d, p);
}

void rec_video_flush(struct rec_video *v)
{
    v->ops->flush(v->d);
}

void rec_video_stats(const struct rec_video *v, struct rec_vstats *out)
{
    v->ops->stats(v->d, out);
}

/* ---- shared helpers ---------------------------------------------------- */

bool rec_fbuf_reserve(struct rec_fbuf *b, size_t n)
{
    if (b->len + n <= b->cap)
        return true;
    if (n > REC_FRAME_MAX || b->len + n > REC_FRAME_MAX)
        return false;
    size_t cap = b->cap ? b->cap : 64 * 1024;
    while (cap < b->len + n)
        cap *= 2;
    if (cap > REC_FRAME_MAX)
        cap = REC_FRAME_MAX;
    uint8_t *nb = realloc(b->p, cap);
    if (!nb)
        return false;
    b->p = nb;
    b->cap = cap;
    return true;
}

bool rec_fbuf_put(struct rec_fbuf *b, const void *src, size_t n)
{
    if (!rec_fbuf_reserve(b, n))
        return false;
    if (n)
        memcpy(b->p + b->len, src, n);
    b->len += n;
    return true;
}

void rec_fbuf_free(struct rec_fbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

bool rec_kf_due(struct rec_kf_limit *l, int64_t now_us)
{
    if (l->ever && now_us - l->last_us < REC_KF_INTERVAL_US && now_us >= l->last_us)
        return false;
    l->ever = true;
    l->last_us = now_us;
    return true;
}

uint32_t rec_bits_get(struct rec_bits *b, int count)
{
    uint32_t v = 0;

    while (count-- > 0) {
        if (b->pos >= b->n * 8) {
            b->over = true;
            return 0;
        }
        v = v << 1 | ((b->p[b->pos >> 3] >> (7 - (b->pos & 7))) & 1);
        b->pos++;
    }
    return v;
}

void rec_vout_frame(struct rec_vout *o, const struct rec_vframe *f)
{
    o->st.frames++;
    o->st.keyframes += f->key;
    o->fn(o->arg, f);
}

void rec_vout_drop(struct rec_vout *o, int64_t at_us, bool want_key)
{
    o->st.dropped++;
    if (want_key && rec_kf_due(&o->kfl, at_us)) {
        o->st.kf_requests++;
        if (o->kf)
            o->kf(o->arg);
    }
}

void rec_layers_init(struct rec_layers *c)
{
    memset(c, 0, sizeof(*c));
    c->broken_from = 0; /* nothing decodable before the first key frame */
}

/* After a loss before f: the lowest layer that may have lost a frame. */
static int lost_from(const struct rec_layers *c, const struct rec_layer_frame *f)
{
    int tid = f->has_tid ? f->tid : 0;

    if (c->have_pid && f->has_pid && c->pid_mod == f->pid_mod &&
        (f->pid + f->pid_mod - c->pid - 1) % f->pid_mod == 0)
        return REC_LAYERS_OK; /* consecutive picture IDs: no frame went missing */
    if (c->have_tl0 && f->has_tl0 && f->has_tid) {
        /* A base frame carries the next TL0PICIDX; the others the one of
         * the base frame they follow. Either way: was a base frame lost? */
        bool base_whole = tid == 0 ? (uint8_t)(f->tl0 - c->tl0) == 1 : f->tl0 == c->tl0;
        return base_whole ? 1 : 0;
    }
    return 0;
}

bool rec_layers_frame(struct rec_layers *c, const struct rec_layer_frame *f)
{
    int tid = f->has_tid ? f->tid : 0;
    bool ok;

    if (tid < 0 || tid >= REC_LAYERS_OK)
        tid = 0;
    if (f->gap_before) {
        int from = lost_from(c, f);
        if (from < c->broken_from)
            c->broken_from = from;
    }
    if (!f->complete) {
        ok = false;
        if (tid < c->broken_from && !(f->non_ref && !f->key))
            c->broken_from = f->key ? 0 : tid;
    } else if (f->key) {
        ok = true;
        c->broken_from = REC_LAYERS_OK;
    } else {
        ok = tid < c->broken_from || (f->base_sync && tid > 0 && c->broken_from > 0);
        if (ok && f->base_sync && c->broken_from == tid)
            c->broken_from = tid + 1 < REC_LAYERS_OK ? tid + 1 : REC_LAYERS_OK;
        if (ok && f->switch_up)
            c->broken_from = REC_LAYERS_OK;
    }
    c->have_pid = f->has_pid;
    c->pid = f->pid;
    c->pid_mod = f->pid_mod;
    if (f->has_tl0 && (tid == 0 || f->key)) {
        c->have_tl0 = true;
        c->tl0 = f->tl0;
    }
    return ok;
}
