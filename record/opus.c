/*
 * opus.c - Opus RTP depacketizer (RFC 7587) with gap filling.
 *
 * The depacketizer keeps the timestamp where the next packet should start
 * (previous ts + previous duration). A packet that starts later leaves a
 * hole, filled with TOC-only packets of the previous packet's frame size;
 * one that starts earlier overlaps audio already written and is dropped,
 * which keeps presentation times strictly increasing for the muxers.
 */
#include "record/opus.h"
#include "core/err.h"
#include "record/rtp.h"

#include <stdlib.h>

struct opus_depack {
    opus_frame_fn cb;
    void *arg;
    bool started;
    int64_t next_ts;
    uint8_t toc; /* last packet's TOC, code 0: the filler packet */
    int frame_size;
    int64_t last_arrival_us;
    struct opus_stats st;
};

/* Samples at 48 kHz per frame for a TOC configuration, RFC 6716 §3.1. */
static int frame_samples(unsigned config)
{
    static const int silk[4] = {480, 960, 1920, 2880};
    static const int celt[4] = {120, 240, 480, 960};
    if (config < 12)
        return silk[config & 3];
    if (config < 16)
        return (config & 1) ? 960 : 480;
    return celt[config & 3];
}

int opus_packet_duration(const uint8_t *p, size_t len)
{
    int frames;

    if (len < 1)
        return SE_ERR_PARSE;
    switch (p[0] & 3) {
    case 0:
        frames = 1;
        break;
    case 1:
        frames = 2;
        break;
    case 2:
        if (len < 2)
            return SE_ERR_PARSE;
        frames = 2;
        break;
    default:
        if (len < 2 || (p[1] & 0x3f) == 0)
            return SE_ERR_PARSE;
        frames = p[1] & 0x3f;
        break;
    }
    int d = frames * frame_samples(p[0] >> 3);
    return d > OPUS_MAX_DURATION ? SE_ERR_PARSE : d;
}

struct opus_depack *opus_depack_new(opus_frame_fn cb, void *arg)
{
    struct opus_depack *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->cb = cb;
    d->arg = arg;
    return d;
}

void opus_depack_free(struct opus_depack *d)
{
    free(d);
}

const struct opus_stats *opus_depack_stats(const struct opus_depack *d)
{
    return &d->st;
}

static void fill(struct opus_depack *d, int64_t upto, int64_t arrival_us)
{
    int64_t hole = upto - d->next_ts;

    if (hole <= 0 || d->frame_size <= 0)
        return;
    /* Fill only what wall time backs: a timestamp leap the packets' arrival
     * does not show (a hostile or broken sender) is left as a jump, so one
     * packet can never make the recorder write minutes of filler. */
    int64_t hole_us = hole * 1000000 / OPUS_CLOCK;
    if (hole > (int64_t)OPUS_FILL_MAX_MS * (OPUS_CLOCK / 1000) ||
        hole_us > arrival_us - d->last_arrival_us + OPUS_FILL_SLACK_US) {
        d->st.jumps++;
        return;
    }
    while (upto - d->next_ts >= d->frame_size) {
        struct opus_frame f = {.ts = d->next_ts,
                               .duration = d->frame_size,
                               .filler = true,
                               .arrival_us = arrival_us,
                               .data = &d->toc,
                               .len = 1};
        d->cb(d->arg, &f);
        d->st.filled_samples += (uint64_t)d->frame_size;
        d->next_ts += d->frame_size;
    }
}

void opus_depack_push(struct opus_depack *d, const struct rtp_pkt *p)
{
    int dur = opus_packet_duration(p->payload, p->payload_len);

    if (dur <= 0) {
        if (p->payload_len > 0)
            d->st.malformed++;
        return;
    }
    if (d->started) {
        if (p->ts < d->next_ts) {
            d->st.overlapped++;
            return;
        }
        fill(d, p->ts, p->arrival_us);
    }
    d->started = true;
    d->last_arrival_us = p->arrival_us;
    d->toc = (uint8_t)(p->payload[0] & 0xfc);
    d->frame_size = frame_samples(p->payload[0] >> 3);
    struct opus_frame f = {.ts = p->ts,
                           .duration = dur,
                           .arrival_us = p->arrival_us,
                           .data = p->payload,
                           .len = p->payload_len};
    d->st.packets++;
    d->next_ts = p->ts + dur;
    d->cb(d->arg, &f);
}
