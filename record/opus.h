/*
 * opus.h - Opus RTP depacketizer (RFC 7587) with gap filling.
 *
 * Each RTP payload is one Opus packet (RFC 7587 §4.2); its duration comes
 * from the TOC byte and frame count (RFC 6716 §3.1). Packets are handed
 * out with a presentation time on the 48 kHz RTP clock. When the timeline
 * jumps (loss, or DTX pauses), the hole is filled with TOC-only packets
 * (zero-length frames, RFC 6716 §3.2.1: the decoder conceals them), so
 * the written audio lasts as long as the wall time it covers. A fill is
 * bounded by OPUS_FILL_MAX_MS and by the arrival time that passed (plus
 * OPUS_FILL_SLACK_US); anything else is left as a timestamp jump.
 */
#ifndef SE_OPUS_H
#define SE_OPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rtp_pkt;

enum {
    OPUS_CLOCK = 48000,       /* RFC 7587 §4.1 */
    OPUS_MAX_DURATION = 5760, /* 120 ms, RFC 6716 §3.2.5 */
    OPUS_FILL_MAX_MS = 10000,
    OPUS_FILL_SLACK_US = 500000, /* a hole may exceed the arrival gap by this much */
};

/*
 * Duration in 48 kHz samples of one Opus packet, from its TOC byte and
 * frame count; SE_ERR_PARSE if malformed or past 120 ms.
 */
int opus_packet_duration(const uint8_t *p, size_t len);

/* One Opus packet out; borrowed, valid only during the callback. */
struct opus_frame {
    int64_t ts;   /* extended RTP timestamp, 48 kHz */
    int duration; /* samples at 48 kHz */
    bool filler;  /* made up by sedge to fill a gap */
    int64_t arrival_us;
    const uint8_t *data;
    size_t len;
};

typedef void (*opus_frame_fn)(void *arg, const struct opus_frame *f);

struct opus_stats {
    uint64_t packets, malformed, overlapped;
    uint64_t filled_samples; /* gap filler, 48 kHz samples */
    uint64_t jumps;          /* timestamp leaps left unfilled: not backed by wall time */
};

struct opus_depack;

/* Returns a new depacketizer or NULL. Caller frees. */
struct opus_depack *opus_depack_new(opus_frame_fn cb, void *arg);
void opus_depack_free(struct opus_depack *d);
void opus_depack_push(struct opus_depack *d, const struct rtp_pkt *p);
const struct opus_stats *opus_depack_stats(const struct opus_depack *d);

#endif
