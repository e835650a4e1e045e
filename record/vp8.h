/*
 * vp8.h - VP8 RTP depacketizer (RFC 7741).
 *
 * Packets in sequence order become whole VP8 frames (the concatenated
 * partitions, the sample layout of WebM's V_VP8), handed out only when
 * decodable: a key frame (RFC 6386 §9.1, with its start code and size), or
 * a frame whose reference chain is provably whole after a loss, from the
 * picture ID, TL0PICIDX, TID and Y fields of the payload descriptor
 * (struct rec_layers, record/video.h). The decoder state is what the
 * frames written so far built, so a frame is written only if every frame
 * it may refer to was written.
 *
 * One object per stream, used by one thread; no allocation per packet
 * (the frame buffer grows to the largest frame seen, bounded).
 */
#ifndef SE_REC_VP8_H
#define SE_REC_VP8_H

#include "record/video.h"

enum {
    VP8_DESC_MAX = 6,    /* payload descriptor: 1 + X + 2 (PictureID) + TL0PICIDX + TID/KEYIDX */
    VP8_KEY_HEADER = 10, /* frame tag (3) + start code (3) + width and height (4) */
};

/* The payload descriptor of RFC 7741 §4.2. */
struct vp8_desc {
    bool start;   /* S: first packet of a partition */
    uint8_t part; /* PID */
    bool non_ref; /* N: the frame is not used as a reference */
    bool has_pid; /* I */
    unsigned pid, pid_mod;
    bool has_tl0; /* L */
    uint8_t tl0;
    bool has_tid; /* T */
    uint8_t tid;
    bool sync;  /* Y */
    size_t len; /* bytes of descriptor before the VP8 payload */
};

/* Parse the descriptor at the start of an RTP payload. Returns 0, or
 * SE_ERR_PARSE / SE_ERR_TRUNC; never reads outside p[0..n). */
int vp8_desc_parse(const uint8_t *p, size_t n, struct vp8_desc *d);

/* The first bytes of a frame (RFC 6386 §9.1): key frame, and for key
 * frames the size. Returns 0, or SE_ERR_PARSE (bad start code, zero size,
 * first partition past the end). */
int vp8_frame_header(const uint8_t *p, size_t n, bool *key, unsigned *width, unsigned *height);

struct vp8_depack;

/* Returns a new depacketizer or NULL. Caller frees. kf may be NULL. */
struct vp8_depack *vp8_depack_new(rec_vframe_fn fn, rec_vkf_fn kf, void *arg);
void vp8_depack_free(struct vp8_depack *d);
void vp8_depack_push(struct vp8_depack *d, const struct rtp_pkt *p);
void vp8_depack_flush(struct vp8_depack *d);
const struct rec_vstats *vp8_depack_stats(const struct vp8_depack *d);

#endif
