/*
 * video_fuzz.h - the harness the video depacketizer fuzz targets share
 * (fuzz_vp8.c, fuzz_vp9.c, fuzz_av1.c). The input is a sequence of RTP
 * payloads: [u16 length][u8 flags: bit 0 marker, bit 1 new timestamp,
 * bit 2 packets lost before][bytes], so one payload can reach 65 535
 * bytes (the largest a UDP datagram carries). Every frame handed out must
 * hold what its codec promises: a size and configuration on key frames,
 * and for AV1 a sample of well-formed OBUs with size fields and no
 * temporal delimiter.
 */
#ifndef SE_VIDEO_FUZZ_H
#define SE_VIDEO_FUZZ_H

#include "record/av1.h"
#include "record/rtp.h"
#include "record/video.h"

#include <stdint.h>
#include <stdlib.h>

static void fuzz_check_av1(const uint8_t *p, size_t n)
{
    size_t off = 0;
    while (off < n) {
        uint8_t h = p[off];
        size_t hl = (h & 0x04) ? 2 : 1;
        uint32_t size;
        if ((h & 0x80) || !(h & 0x02) || ((h >> 3) & 15) == AV1_OBU_TEMPORAL_DELIMITER ||
            off + hl > n)
            abort();
        int r = av1_leb128(p + off + hl, n - off - hl, &size);
        if (r < 0 || size > n - off - hl - (size_t)r)
            abort();
        off += hl + (size_t)r + size;
    }
}

static void fuzz_on_frame(void *arg, const struct rec_vframe *f)
{
    if (f->len == 0 || f->len > REC_FRAME_MAX || f->codec != *(enum rec_vcodec *)arg)
        abort();
    if (f->key && (!f->width || !f->height || f->width > REC_DIM_MAX || f->height > REC_DIM_MAX ||
                   f->config_len > REC_VCONFIG_MAX))
        abort();
    if (f->key && f->codec == REC_VC_AV1 && (!f->config_len || !f->config))
        abort(); /* the av1C needs a sequence header */
    if (f->codec == REC_VC_AV1)
        fuzz_check_av1(f->data, f->len);
    if (f->key && f->codec == REC_VC_VP9 && f->fmt.profile > 3)
        abort();
}

static int fuzz_video(enum rec_vcodec c, const uint8_t *data, size_t size)
{
    static enum rec_vcodec codec;
    int64_t ts = 0;
    uint64_t seq = 1;

    codec = c;
    struct rec_video *v = rec_video_new(c, fuzz_on_frame, NULL, &codec);
    if (!v)
        return 0;
    while (size >= 3) {
        size_t n = (size_t)(data[0] << 8 | data[1]);
        uint8_t fl = data[2];
        data += 3;
        size -= 3;
        if (n > size)
            n = size;
        ts += (fl & 2) ? 3000 : 0;
        struct rtp_pkt p = {.seq = seq++,
                            .ts = ts,
                            .marker = fl & 1,
                            .lost_before = (fl & 4) ? 1 : 0,
                            .payload = data,
                            .payload_len = n,
                            .arrival_us = ts * 11};
        rec_video_push(v, &p);
        data += n;
        size -= n;
    }
    rec_video_flush(v);
    rec_video_free(v);
    return 0;
}

#endif
