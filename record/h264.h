/*
 * h264.h - H.264 RTP depacketizer (RFC 6184, packetization modes 0 and 1)
 * and parameter-set helpers (ITU-T H.264 §7.3.2.1, ISO/IEC 14496-15 avcC).
 *
 * The depacketizer turns in-order RTP packets (struct rtp_pkt, with the
 * loss the input gave up on) into complete, decodable access units in
 * AVCC form: each NAL unit prefixed by its 4-byte big-endian length, the
 * sample layout of MP4 `avc1` and of FLV/RTMP AVC NALU tags. It never
 * hands out a frame it cannot vouch for: nothing before the first IDR,
 * nothing after a loss until the next IDR, and an IDR always carries the
 * SPS and PPS it needs (prepended from the cache when the sender left them
 * out). Each time it starts waiting for an IDR it raises the keyframe
 * callback (rate-limited), which the anchor turns into PLI/FIR.
 *
 * One object per stream, used by one thread; no allocation per packet
 * (the access-unit buffer grows to the largest frame seen, bounded).
 */
#ifndef SE_H264_H
#define SE_H264_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rtp_pkt;

enum {
    H264_NAL_SLICE = 1,
    H264_NAL_IDR = 5,
    H264_NAL_SEI = 6,
    H264_NAL_SPS = 7,
    H264_NAL_PPS = 8,
    H264_NAL_AUD = 9,
    H264_NAL_FILLER = 12,
    H264_NAL_STAP_A = 24, /* RFC 6184 §5.7.1 */
    H264_NAL_STAP_B = 25,
    H264_NAL_MTAP16 = 26,
    H264_NAL_MTAP24 = 27,
    H264_NAL_FU_A = 28, /* RFC 6184 §5.8 */
    H264_NAL_FU_B = 29,
    H264_PS_MAX = 512,     /* largest SPS or PPS accepted, bytes */
    H264_AU_MAX = 8 << 20, /* largest access unit accepted, bytes */
    H264_DIM_MAX = 8192,   /* largest width or height accepted, pixels */
    H264_AVCC_MAX = 2 * H264_PS_MAX + 16,
};

/* What sedge reads from an SPS. */
struct h264_sps_info {
    unsigned width, height; /* after cropping */
    uint8_t profile, compat, level;
    uint8_t chroma_format, bit_depth_luma, bit_depth_chroma; /* bit depths minus 8 */
    unsigned sps_id;
    uint8_t log2_max_frame_num; /* 4..16 */
    uint8_t separate_colour_plane;
};

/*
 * Parse an SPS NAL unit (with its 1-byte header). Returns 0, or
 * SE_ERR_PARSE for anything malformed or absurd (dimensions past
 * H264_DIM_MAX, out-of-range fields). Never reads outside nal[0..len).
 */
int h264_sps_parse(const uint8_t *nal, size_t len, struct h264_sps_info *out);

/*
 * Write an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1, with
 * 4-byte NAL lengths) for one SPS and one PPS into out. Returns its length
 * or SE_ERR_TOOBIG / SE_ERR_PARSE.
 */
int h264_avcc_build(const uint8_t *sps, size_t sps_len, const uint8_t *pps, size_t pps_len,
                    uint8_t *out, size_t cap);

/* The start of a slice header (§7.3.3). */
struct h264_slice {
    uint32_t first_mb;
    long frame_num; /* -1 if unknown (no SPS, or cut short) */
};

/* Parse a slice NAL's header start (header byte included); sps may be NULL. */
int h264_slice_parse(const uint8_t *nal, size_t len, const struct h264_sps_info *sps,
                     struct h264_slice *out);

/* One access unit, borrowed: valid only during the callback. */
struct h264_au {
    int64_t ts;          /* extended RTP timestamp, 90 kHz */
    int64_t arrival_us;  /* arrival of its first packet */
    bool key;            /* IDR: SPS and PPS are in data */
    const uint8_t *data; /* 4-byte length-prefixed NAL units */
    size_t len;
    const uint8_t *sps, *pps; /* the parameter sets in force */
    size_t sps_len, pps_len;
    const struct h264_sps_info *info;
};

typedef void (*h264_au_fn)(void *arg, const struct h264_au *au);
/* Keyframe wanted (send PLI/FIR). Called on the recorder thread. */
typedef void (*h264_kf_fn)(void *arg);

struct h264_stats {
    uint64_t frames;      /* access units handed out */
    uint64_t dropped;     /* frames with VCL data not handed out */
    uint64_t damaged;     /* frames known to be incomplete */
    uint64_t malformed;   /* packets that broke RFC 6184 framing */
    uint64_t bad_ps;      /* parameter sets refused */
    uint64_t kf_requests; /* keyframe callbacks raised */
    uint64_t idr;         /* IDR frames handed out */
};

struct h264_depack;

/* Returns a new depacketizer or NULL (no memory). Caller frees. kf may be NULL. */
struct h264_depack *h264_depack_new(h264_au_fn au, h264_kf_fn kf, void *arg);
void h264_depack_free(struct h264_depack *d);

/*
 * Add parameter sets out of band, from SDP sprop-parameter-sets (RFC 6184
 * §8.1: comma-separated base64 NAL units). Returns the number of NAL units
 * taken, or SE_ERR_PARSE.
 */
int h264_depack_sprop(struct h264_depack *d, const char *sprop);

/* One RTP packet, in order (from struct rtp_in). */
void h264_depack_push(struct h264_depack *d, const struct rtp_pkt *p);

/* End of stream: hand out the last access unit if it is complete. */
void h264_depack_flush(struct h264_depack *d);

const struct h264_stats *h264_depack_stats(const struct h264_depack *d);

#endif
