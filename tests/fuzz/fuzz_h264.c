/*
 * fuzz_h264.c - libFuzzer target for the H.264 depacketizer and the SPS
 * reader. The input is a sequence of RTP payloads ([u16 length][u8 flags:
 * bit 0 marker, bit 1 new timestamp, bit 2 packets lost before][bytes]);
 * the whole input is also tried as an SPS and as sprop-parameter-sets.
 * Every access unit handed out must be well-formed AVCC, and a keyframe
 * must carry an SPS and a PPS.
 */
#include "record/h264.h"
#include "record/rtp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void on_au(void *arg, const struct h264_au *au)
{
    size_t off = 0;
    int sps = 0, pps = 0;

    while (off < au->len) {
        if (au->len - off < 4)
            abort();
        size_t n = (size_t)au->data[off] << 24 | au->data[off + 1] << 16 | au->data[off + 2] << 8 |
                   au->data[off + 3];
        if (n == 0 || n > au->len - off - 4 || (au->data[off + 4] & 0x80))
            abort();
        sps += (au->data[off + 4] & 0x1f) == H264_NAL_SPS;
        pps += (au->data[off + 4] & 0x1f) == H264_NAL_PPS;
        off += 4 + n;
    }
    if (au->key && (!sps || !pps || !au->info || au->info->width == 0))
        abort();
    uint8_t avcc[H264_AVCC_MAX];
    if (au->key &&
        h264_avcc_build(au->sps, au->sps_len, au->pps, au->pps_len, avcc, sizeof(avcc)) < 0)
        abort(); /* a keyframe's parameter sets must make an avcC */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct h264_sps_info si;
    struct h264_depack *d = h264_depack_new(on_au, NULL, NULL);
    char *s = malloc(size + 1);
    int64_t ts = 0;
    uint64_t seq = 1;

    (void)h264_sps_parse(data, size, &si);
    if (s) {
        memcpy(s, data, size);
        s[size] = 0;
        (void)h264_depack_sprop(d, s);
        free(s);
    }
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
        h264_depack_push(d, &p);
        data += n;
        size -= n;
    }
    h264_depack_flush(d);
    h264_depack_free(d);
    return 0;
}
