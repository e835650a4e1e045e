/*
 * vp9.h - VP9 RTP depacketizer (RFC 9628), flexible and non-flexible mode.
 *
 * Packets in sequence order become whole VP9 frames (the bytes the encoder
 * produced, superframes included: the sample layout of MP4 `vp09` and
 * WebM V_VP9), handed out only when decodable:
 *   - flexible mode (F=1): a frame is decodable iff every picture its
 *     P_DIFF fields name was written (exact, from RFC 9628 §4.2);
 *   - non-flexible mode: from picture ID, TL0PICIDX, TID and U, as for VP8
 *     (struct rec_layers, record/video.h);
 *   - a key frame (uncompressed header frame_type 0) always; it gives the
 *     size, profile, bit depth and chroma subsampling the vpcC box needs.
 *
 * Spatial layers (SVC): the recording holds the base spatial layer (SID
 * 0) only. It never depends on the layers above it, so every player
 * decodes the same frames at one size; the upper layers can be decoded
 * only together with the lower ones in one sample (a superframe), which
 * libvpx shows as the top layer but FFmpeg as one picture per layer, so
 * two players would disagree about the recording. Upper-layer frames are
 * counted (layers_skipped) and their losses do not affect the base layer.
 *
 * One object per stream, used by one thread; no allocation per packet.
 */
#ifndef SE_REC_VP9_H
#define SE_REC_VP9_H

#include "record/video.h"

enum {
    VP9_MAX_PDIFF = 3,   /* RFC 9628 §4.2 */
    VP9_MAX_SPATIAL = 8, /* N_S + 1 */
    VP9_PID_RING = 128,  /* pictures remembered for flexible-mode references */
};

/* The payload descriptor of RFC 9628 §4.2 (and its scalability structure). */
struct vp9_desc {
    bool has_pid; /* I */
    unsigned pid, pid_mod;
    bool inter;      /* P: inter-picture predicted */
    bool layers;     /* L: TID/U/SID/D present */
    bool flexible;   /* F */
    bool begin, end; /* B, E: first / last packet of a layer frame */
    bool has_ss;     /* V */
    bool z;          /* Z: not a reference for upper spatial layers */
    uint8_t tid, sid;
    bool switch_up, inter_layer; /* U, D */
    bool has_tl0;
    uint8_t tl0;
    int n_pdiff;
    uint8_t pdiff[VP9_MAX_PDIFF];
    /* scalability structure (V) */
    int n_spatial; /* N_S + 1 */
    bool has_res;  /* Y */
    uint16_t width[VP9_MAX_SPATIAL], height[VP9_MAX_SPATIAL];
    int n_gof;  /* N_G, 0 if G is not set */
    size_t len; /* bytes of descriptor before the VP9 payload */
};

/* Parse the descriptor at the start of an RTP payload. Returns 0, or
 * SE_ERR_PARSE / SE_ERR_TRUNC; never reads outside p[0..n). */
int vp9_desc_parse(const uint8_t *p, size_t n, struct vp9_desc *d);

/* What the uncompressed header of a frame says (VP9 bitstream §6.2). */
struct vp9_frame_info {
    bool key, show_existing;
    unsigned width, height; /* key frames */
    struct rec_vformat fmt; /* key frames */
};

/* Parse the start of a frame. Returns 0 or SE_ERR_PARSE. */
int vp9_frame_header(const uint8_t *p, size_t n, struct vp9_frame_info *out);

struct vp9_depack;

/* Returns a new depacketizer or NULL. Caller frees. kf may be NULL. */
struct vp9_depack *vp9_depack_new(rec_vframe_fn fn, rec_vkf_fn kf, void *arg);
void vp9_depack_free(struct vp9_depack *d);
void vp9_depack_push(struct vp9_depack *d, const struct rtp_pkt *p);
void vp9_depack_flush(struct vp9_depack *d);
const struct rec_vstats *vp9_depack_stats(const struct vp9_depack *d);

#endif
