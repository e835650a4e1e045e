/*
 * video.h - one interface over the video depacketizers: H.264 (RFC 6184,
 * record/h264.h), VP8 (RFC 7741, record/vp8.h), VP9 (RFC 9628,
 * record/vp9.h) and AV1 (the AOM RTP payload format, record/av1.h).
 *
 * Each depacketizer turns in-order RTP packets (struct rtp_pkt, with the
 * loss the input gave up on) into decodable frames in the sample layout
 * of the container (struct rec_vframe): nothing before the first key
 * frame, nothing after a loss until the stream is provably whole again
 * (or the next key frame), and a key frame carries what the container's
 * sample entry needs (size, codec configuration). Each time one starts
 * waiting for a key frame it raises the keyframe callback, rate-limited
 * to two a second, which the anchor turns into PLI then FIR.
 *
 * struct rec_video wraps one of them behind a small ops table, so the
 * session (record/session.c) handles every codec alike. The helpers
 * below the wrapper (frame buffer, keyframe limiter, temporal-layer
 * chain) are shared by the VP8, VP9 and AV1 depacketizers.
 *
 * One object per stream, used by one thread (the recorder's).
 */
#ifndef SE_REC_VIDEO_H
#define SE_REC_VIDEO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rtp_pkt;

enum rec_vcodec { REC_VC_H264 = 0, REC_VC_VP8 = 1, REC_VC_VP9 = 2, REC_VC_AV1 = 3 };

enum {
    REC_FRAME_MAX = 8 << 20,     /* largest frame accepted, bytes (as H264_AU_MAX) */
    REC_VCONFIG_MAX = 1100,      /* largest codec configuration (avcC, AV1 sequence header) */
    REC_KF_INTERVAL_US = 500000, /* at most two keyframe requests a second */
    REC_DIM_MAX = 16384,         /* largest width or height accepted, pixels */
};

/* What a VP9 key frame says about its pixels (the vpcC box needs it). */
struct rec_vformat {
    uint8_t profile;     /* VP9 profile 0..3 */
    uint8_t bit_depth;   /* 8, 10, 12 */
    uint8_t subsampling; /* 0 = 4:2:0, 1 = 4:2:2, 2 = 4:4:0, 3 = 4:4:4 */
    bool full_range;
};

/* One decodable frame. Borrowed: valid only during the callback. */
struct rec_vframe {
    enum rec_vcodec codec;
    int64_t ts;         /* extended RTP timestamp, 90 kHz */
    int64_t arrival_us; /* arrival of its first packet */
    bool key;           /* a random access point: a file may start here */
    const uint8_t *data;
    size_t len;
    /* Key frames only (0 / NULL otherwise): */
    unsigned width, height;
    const uint8_t *config; /* avcC (H.264), sequence header OBU (AV1); NULL for VP8/VP9 */
    size_t config_len;
    struct rec_vformat fmt; /* VP9 */
};

typedef void (*rec_vframe_fn)(void *arg, const struct rec_vframe *f);
/* Keyframe wanted (send PLI/FIR). Called on the recorder thread. */
typedef void (*rec_vkf_fn)(void *arg);

/* Counters every video depacketizer keeps (metadata.json "frames"). */
struct rec_vstats {
    uint64_t frames;         /* frames handed out */
    uint64_t dropped;        /* frames not handed out (incomplete or undecodable) */
    uint64_t damaged;        /* frames known to be incomplete */
    uint64_t malformed;      /* packets that broke the payload format */
    uint64_t bad_config;     /* parameter sets / headers refused */
    uint64_t kf_requests;    /* keyframe callbacks raised */
    uint64_t keyframes;      /* key frames handed out */
    uint64_t layers_skipped; /* SVC: upper spatial layer frames not recorded */
};

/* "H264", "VP8", "VP9", "AV1". */
const char *rec_vcodec_name(enum rec_vcodec c);

struct rec_video;

/* A depacketizer for codec c, or NULL (no memory). Caller frees. kf may be NULL. */
struct rec_video *rec_video_new(enum rec_vcodec c, rec_vframe_fn fn, rec_vkf_fn kf, void *arg);
void rec_video_free(struct rec_video *v);
enum rec_vcodec rec_video_codec(const struct rec_video *v);

/* H.264 only: SDP sprop-parameter-sets. Returns as h264_depack_sprop(),
 * or SE_ERR_UNSUPP for other codecs. */
int rec_video_sprop(struct rec_video *v, const char *sprop);

/* One RTP packet, in order (from struct rtp_in). */
void rec_video_push(struct rec_video *v, const struct rtp_pkt *p);
/* End of stream: hand out the last frame if it is complete. */
void rec_video_flush(struct rec_video *v);
void rec_video_stats(const struct rec_video *v, struct rec_vstats *out);

/* ---- helpers for the depacketizers ------------------------------------ */

/* A frame buffer that grows (bounded by REC_FRAME_MAX) and never shrinks. */
struct rec_fbuf {
    uint8_t *p;
    size_t len, cap;
};
/* Room for n more bytes; false past REC_FRAME_MAX or without memory. */
bool rec_fbuf_reserve(struct rec_fbuf *b, size_t n);
/* Append n bytes; false as rec_fbuf_reserve. */
bool rec_fbuf_put(struct rec_fbuf *b, const void *src, size_t n);
void rec_fbuf_free(struct rec_fbuf *b);

/* Rate-limited keyframe requests: true if one goes out now. */
struct rec_kf_limit {
    int64_t last_us;
    bool ever;
};
bool rec_kf_due(struct rec_kf_limit *l, int64_t now_us);

/* Where a depacketizer's frames go, and its counters. */
struct rec_vout {
    rec_vframe_fn fn;
    rec_vkf_fn kf; /* may be NULL */
    void *arg;
    struct rec_kf_limit kfl;
    struct rec_vstats st;
};
/* Hand out a decodable frame (counted). */
void rec_vout_frame(struct rec_vout *o, const struct rec_vframe *f);
/* Count a frame not handed out and ask for a key frame (rate-limited, at
 * at_us) if `want_key`. */
void rec_vout_drop(struct rec_vout *o, int64_t at_us, bool want_key);

/* A bounded MSB-first bit reader; reading past the end yields zeros and
 * sets `over`. */
struct rec_bits {
    const uint8_t *p;
    size_t n, pos; /* pos in bits */
    bool over;
};
/* The next count (0..32) bits. */
uint32_t rec_bits_get(struct rec_bits *b, int count);

/*
 * The temporal-layer chain of a stream with VP8 / VP9 (non-flexible)
 * layer indices: which layers can be decoded after a loss. `broken_from`
 * is the lowest temporal layer whose reference chain is broken
 * (REC_LAYERS_OK if none; 0 means only a key frame helps). Layers never
 * depend on higher ones, so a frame of layer t is decodable iff
 * t < broken_from. Streams without layer indices are all layer 0.
 */
enum { REC_LAYERS_OK = 8 };

struct rec_layers {
    int broken_from;
    bool have_pid, have_tl0;
    unsigned pid, pid_mod; /* picture ID of the last frame seen */
    uint8_t tl0;           /* TL0PICIDX of the last base-layer frame seen */
};

/* One frame as the chain needs to know it (all fields from its first packet). */
struct rec_layer_frame {
    bool key;
    bool has_pid;
    unsigned pid, pid_mod; /* pid_mod: 128 or 32768 */
    bool has_tid;
    int tid;
    bool has_tl0;
    uint8_t tl0;
    bool non_ref;    /* VP8 N: nothing refers to it, losing it breaks nothing */
    bool base_sync;  /* VP8 Y: depends only on base-layer frames (RFC 7741 §4.2) */
    bool switch_up;  /* VP9 U: later higher layers need nothing older (RFC 9628 §4.2) */
    bool gap_before; /* packets were lost between the previous frame and this one */
    bool complete;   /* no packet of it lost */
};

void rec_layers_init(struct rec_layers *c);
/*
 * Account for the loss before frame f (whole frames may have gone) and
 * for f itself, and return whether f can be written.
 */
bool rec_layers_frame(struct rec_layers *c, const struct rec_layer_frame *f);

#endif
