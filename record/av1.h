/*
 * av1.h - AV1 RTP depacketizer (AOM "RTP Payload Format For AV1", v1.0).
 *
 * Each RTP payload is an aggregation header (Z, Y, W, N) and OBU elements,
 * LEB128-length-prefixed except the last when W says so; an OBU may be
 * fragmented over packets (Y on one, Z on the next). A temporal unit is
 * the run of packets with one RTP timestamp. The depacketizer rebuilds
 * each temporal unit in the "low overhead bitstream format" (AV1 §5.2:
 * every OBU with obu_has_size_field = 1), without temporal delimiters,
 * tile lists or padding: the sample layout of MP4 `av01` and WebM V_AV1.
 *
 * A temporal unit is a key (sync) sample when its first frame is a shown
 * KEY_FRAME; it then carries a sequence header (prepended from the cache
 * when the sender left it out), which is also the codec configuration the
 * container's av1C is built from. The payload format carries nothing that
 * tells which frames a lost packet belonged to, so after any loss temporal
 * units are dropped until the next key frame, with a keyframe request.
 * Spatial layers: as for VP9 (vp9.h), only the base spatial layer
 * (spatial_id 0 in the OBU extension) is recorded.
 */
#ifndef SE_REC_AV1_H
#define SE_REC_AV1_H

#include "record/video.h"

enum {
    AV1_OBU_SEQUENCE_HEADER = 1, /* AV1 §6.2.2 obu_type */
    AV1_OBU_TEMPORAL_DELIMITER = 2,
    AV1_OBU_FRAME_HEADER = 3,
    AV1_OBU_TILE_GROUP = 4,
    AV1_OBU_METADATA = 5,
    AV1_OBU_FRAME = 6,
    AV1_OBU_REDUNDANT_FRAME_HEADER = 7,
    AV1_OBU_TILE_LIST = 8,
    AV1_OBU_PADDING = 15,
    AV1_SEQ_MAX = 512, /* largest sequence header OBU kept, bytes */
};

/*
 * Read a LEB128 value (AV1 §4.10.5) from p[0..n). Returns the bytes used
 * (1..8), or SE_ERR_TRUNC / SE_ERR_PARSE (more than 8 bytes, or a value
 * past 2^32 - 1).
 */
int av1_leb128(const uint8_t *p, size_t n, uint32_t *v);

/* What sedge reads from a sequence header OBU's payload (AV1 §5.5). */
struct av1_seq_info {
    uint8_t profile;
    bool reduced_still_picture_header;
    unsigned max_width, max_height;
};

/* Parse a sequence header payload (after the OBU header and size).
 * Returns 0 or SE_ERR_PARSE; never reads outside p[0..n). */
int av1_seq_parse(const uint8_t *p, size_t n, struct av1_seq_info *out);

struct av1_depack;

/* Returns a new depacketizer or NULL. Caller frees. kf may be NULL. */
struct av1_depack *av1_depack_new(rec_vframe_fn fn, rec_vkf_fn kf, void *arg);
void av1_depack_free(struct av1_depack *d);
void av1_depack_push(struct av1_depack *d, const struct rtp_pkt *p);
void av1_depack_flush(struct av1_depack *d);
const struct rec_vstats *av1_depack_stats(const struct av1_depack *d);

#endif
