/*
 * test_codecs.c - the VP8 (RFC 7741), VP9 (RFC 9628) and AV1 (AOM RTP
 * payload format) depacketizers with hand-built payload descriptors: the
 * descriptor and header readers against the RFC layouts and bytes real
 * encoders wrote, fragmentation, key / non-key frames, loss inside and
 * between frames, temporal layers (VP8 TID/Y, VP9 U), flexible-mode
 * references, spatial layers, OBU reassembly; then the layer chain, RTCP
 * sender reports and a session that records VP8 into WebM.
 */
#include "core/err.h"
#include "record/av1.h"
#include "record/rec.h"
#include "record/rtcp.h"
#include "record/rtp.h"
#include "record/video.h"
#include "record/vp8.h"
#include "record/vp9.h"
#include "tests/unit/check.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- a frame sink --------------------------------------------------------- */

struct sink {
    int n, keys, kf;
    int64_t ts[64];
    size_t len[64];
    unsigned w, h;
    struct rec_vformat fmt;
    uint8_t data[64][512];
    uint8_t config[64];
    size_t config_len;
};

static void on_frame(void *arg, const struct rec_vframe *f)
{
    struct sink *k = arg;
    if (k->n >= 64)
        return;
    k->ts[k->n] = f->ts;
    k->len[k->n] = f->len;
    memcpy(k->data[k->n], f->data, f->len < 512 ? f->len : 512);
    if (f->key) {
        k->keys++;
        k->w = f->width;
        k->h = f->height;
        k->fmt = f->fmt;
        k->config_len = f->config_len < 64 ? f->config_len : 0;
        if (k->config_len)
            memcpy(k->config, f->config, k->config_len);
    }
    k->n++;
}

static void on_kf(void *arg)
{
    ((struct sink *)arg)->kf++;
}

static uint64_t seq_no = 5000;

/* One packet in order; lost = packets given up just before it. */
static struct rtp_pkt pkt(const uint8_t *p, size_t n, int64_t ts, bool marker, uint32_t lost)
{
    seq_no += 1 + lost;
    return (struct rtp_pkt){.seq = seq_no,
                            .ts = ts,
                            .marker = marker,
                            .lost_before = lost,
                            .arrival_us = ts * 100 / 9 + 1000000,
                            .payload = p,
                            .payload_len = n};
}

/* ---- VP8 ------------------------------------------------------------------ */

/* The first 10 bytes of a 320x240 key frame as vp8enc wrote them (its
 * first partition: 265 bytes). */
static const uint8_t vp8_enc_hdr[] = {0x30, 0x21, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00};
/* The same with a first partition of 0 bytes, for short test frames. */
static const uint8_t vp8_key_hdr[] = {0x10, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00};

static void test_vp8_descriptor(void)
{
    struct vp8_desc d;
    /* S=1 PID=0, no extension (rtpvp8pay's default) */
    static const uint8_t a[] = {0x10, 0x30};
    CHECK_EQ_INT(vp8_desc_parse(a, sizeof(a), &d), 0);
    CHECK(d.start && d.part == 0 && !d.has_pid && d.len == 1);
    /* X, I with a 7-bit picture ID 17 (RFC 7741 §4.2) */
    static const uint8_t b[] = {0x90, 0x80, 0x11, 0x00};
    CHECK_EQ_INT(vp8_desc_parse(b, sizeof(b), &d), 0);
    CHECK(d.has_pid && d.pid == 17 && d.pid_mod == 128 && d.len == 3);
    /* X, I (M: 15 bits 0x00ab), L (TL0PICIDX 5), T (TID 2, Y), N, PID 3 */
    static const uint8_t c[] = {0xa3, 0xe0, 0x80, 0xab, 0x05, 0xa0, 0x77};
    CHECK_EQ_INT(vp8_desc_parse(c, sizeof(c), &d), 0);
    CHECK(d.non_ref && !d.start && d.part == 3);
    CHECK(d.pid == 0xab && d.pid_mod == 32768 && d.has_tl0 && d.tl0 == 5);
    CHECK(d.has_tid && d.tid == 2 && d.sync && d.len == 6);
    /* K alone: the TID/KEYIDX byte is there, TID is not valid */
    static const uint8_t k[] = {0x90, 0x10, 0xc7, 0x00};
    CHECK_EQ_INT(vp8_desc_parse(k, sizeof(k), &d), 0);
    CHECK(!d.has_tid && d.len == 3);
    /* truncated at every field; L without T */
    for (size_t n = 0; n < 6; n++)
        CHECK_EQ_INT(vp8_desc_parse(c, n, &d), SE_ERR_TRUNC);
    static const uint8_t lt[] = {0x90, 0x40, 0x05, 0x00};
    CHECK_EQ_INT(vp8_desc_parse(lt, sizeof(lt), &d), SE_ERR_PARSE);

    bool key;
    unsigned w, h;
    uint8_t frame[10 + 265] = {0};
    memcpy(frame, vp8_enc_hdr, sizeof(vp8_enc_hdr));
    CHECK_EQ_INT(vp8_frame_header(frame, sizeof(frame), &key, &w, &h), 0);
    CHECK(key && w == 320 && h == 240);
    /* the first partition cannot end past the frame */
    CHECK_EQ_INT(vp8_frame_header(frame, sizeof(frame) - 1, &key, &w, &h), SE_ERR_PARSE);
    CHECK_EQ_INT(vp8_frame_header(vp8_key_hdr, sizeof(vp8_key_hdr), &key, &w, &h), 0);
    uint8_t bad[sizeof(vp8_key_hdr)];
    memcpy(bad, vp8_key_hdr, sizeof(bad));
    bad[4] = 0x02; /* broken start code */
    CHECK_EQ_INT(vp8_frame_header(bad, sizeof(bad), &key, &w, &h), SE_ERR_PARSE);
    static const uint8_t inter[] = {0x31, 0x00, 0x00, 0x11}; /* P bit set, partition 0 bytes */
    CHECK_EQ_INT(vp8_frame_header(inter, sizeof(inter), &key, &w, &h), 0);
    CHECK(!key);
}

/* A VP8 packet: descriptor with picture ID pid (15 bits), optional layer
 * fields (tid < 0: none), then body bytes (key frame header if key). */
static size_t vp8_pkt(uint8_t *out, bool start, int pid, int tid, int tl0, bool y, bool key,
                      size_t body)
{
    size_t n = 0;
    out[n++] = (uint8_t)(0x80 | (start ? 0x10 : 0));
    out[n++] = (uint8_t)(0x80 | (tid >= 0 ? 0x60 : 0));
    out[n++] = (uint8_t)(0x80 | (pid >> 8));
    out[n++] = (uint8_t)pid;
    if (tid >= 0) {
        out[n++] = (uint8_t)tl0;
        out[n++] = (uint8_t)(tid << 6 | (y ? 0x20 : 0));
    }
    if (start) {
        if (key) {
            memcpy(out + n, vp8_key_hdr, sizeof(vp8_key_hdr));
            n += sizeof(vp8_key_hdr);
        } else {
            out[n++] = 0x31, out[n++] = 0x00, out[n++] = 0x00; /* inter frame tag */
        }
    }
    for (size_t i = 0; i < body; i++)
        out[n++] = (uint8_t)(0x40 + i);
    return n;
}

static void test_vp8_frames_and_loss(void)
{
    struct sink k = {0};
    struct vp8_depack *d = vp8_depack_new(on_frame, on_kf, &k);
    uint8_t b[64];
    size_t n;
    struct rtp_pkt p;

    /* an inter frame before any key frame: dropped, keyframe requested */
    n = vp8_pkt(b, true, 1, -1, 0, false, false, 4);
    p = pkt(b, n, 0, true, 0);
    vp8_depack_push(d, &p);
    /* key frame in two packets (the first partition fragmented) */
    n = vp8_pkt(b, true, 2, -1, 0, false, true, 8);
    p = pkt(b, n, 3000, false, 0);
    vp8_depack_push(d, &p);
    n = vp8_pkt(b, false, 2, -1, 0, false, false, 6);
    p = pkt(b, n, 3000, true, 0);
    vp8_depack_push(d, &p);
    /* inter frame 3 */
    n = vp8_pkt(b, true, 3, -1, 0, false, false, 5);
    p = pkt(b, n, 6000, true, 0);
    vp8_depack_push(d, &p);
    /* a loss between frames, but picture IDs 3 -> 4: no frame missing */
    n = vp8_pkt(b, true, 4, -1, 0, false, false, 5);
    p = pkt(b, n, 9000, true, 1);
    vp8_depack_push(d, &p);
    /* a loss inside frame 5: dropped; frame 6 refers to it: dropped */
    n = vp8_pkt(b, true, 5, -1, 0, false, false, 5);
    p = pkt(b, n, 12000, false, 0);
    vp8_depack_push(d, &p);
    n = vp8_pkt(b, false, 5, -1, 0, false, false, 5);
    p = pkt(b, n, 12000, true, 1);
    vp8_depack_push(d, &p);
    n = vp8_pkt(b, true, 6, -1, 0, false, false, 5);
    p = pkt(b, n, 15000, true, 0);
    vp8_depack_push(d, &p);
    /* the next key frame repairs everything */
    n = vp8_pkt(b, true, 7, -1, 0, false, true, 3);
    p = pkt(b, n, 18000, true, 0);
    vp8_depack_push(d, &p);
    /* a whole frame lost (picture ID 8 never seen): 9 is dropped */
    n = vp8_pkt(b, true, 9, -1, 0, false, false, 3);
    p = pkt(b, n, 24000, true, 2);
    vp8_depack_push(d, &p);
    vp8_depack_flush(d);

    CHECK_EQ_INT(k.n, 4); /* key 2, inter 3, inter 4, key 7 */
    CHECK_EQ_INT(k.keys, 2);
    CHECK(k.ts[0] == 3000 && k.ts[1] == 6000 && k.ts[2] == 9000 && k.ts[3] == 18000);
    CHECK(k.w == 320 && k.h == 240);
    /* the frame is the payloads after the descriptors, partitions joined */
    CHECK_EQ_INT(k.len[0], sizeof(vp8_key_hdr) + 8 + 6);
    CHECK_MEM(k.data[0], vp8_key_hdr, sizeof(vp8_key_hdr));
    CHECK(k.data[0][sizeof(vp8_key_hdr) + 8] == 0x40);
    const struct rec_vstats *st = vp8_depack_stats(d);
    CHECK_EQ_INT(st->frames, 4);
    CHECK_EQ_INT(st->dropped, 4);
    CHECK_EQ_INT(st->damaged, 1);
    CHECK(k.kf >= 1 && st->kf_requests == (uint64_t)k.kf);
    vp8_depack_free(d);

    /* a frame without its first packet, a second start at one timestamp,
     * a descriptor with no payload: all refused, nothing crashes */
    memset(&k, 0, sizeof(k));
    d = vp8_depack_new(on_frame, NULL, &k);
    n = vp8_pkt(b, true, 1, -1, 0, false, true, 3);
    p = pkt(b, n, 0, true, 0);
    vp8_depack_push(d, &p);
    p = pkt(b, n, 0, true, 0); /* the same start again */
    vp8_depack_push(d, &p);
    n = vp8_pkt(b, false, 2, -1, 0, false, false, 3);
    p = pkt(b, n, 3000, true, 0);
    vp8_depack_push(d, &p);
    static const uint8_t empty[] = {0x10};
    p = pkt(empty, 1, 6000, true, 0);
    vp8_depack_push(d, &p);
    vp8_depack_flush(d);
    CHECK_EQ_INT(k.n, 0);
    CHECK_EQ_INT(vp8_depack_stats(d)->malformed, 2);
    vp8_depack_free(d);
}

/* L3T3: TID pattern 0 2 1 2. A whole TID 2 frame is lost: TL0PICIDX
 * shows the base layer whole, so base frames go on; layers 1 and 2 wait
 * for layer sync frames (Y: depends on the base only) to repair them. */
static void test_vp8_temporal_layers(void)
{
    static const int tids[] = {0, 2, 1, 2};
    struct sink k = {0};
    struct vp8_depack *d = vp8_depack_new(on_frame, on_kf, &k);
    uint8_t b[64];
    int tl0 = 0;
    uint32_t lost = 0;

    for (int i = 0; i < 16; i++) {
        int tid = tids[i % 4];
        if (tid == 0)
            tl0++;
        if (i == 5) { /* TID 2, lost whole */
            lost++;
            continue;
        }
        size_t n = vp8_pkt(b, true, 100 + i, tid, tl0, i == 10 || i == 13, i == 0, 2);
        struct rtp_pkt p = pkt(b, n, i * 3000, true, lost);
        lost = 0;
        vp8_depack_push(d, &p);
    }
    vp8_depack_flush(d);
    /* 6 (TID 1) and 7, 9, 11 (TID 2) wait; 8 and 12 (TID 0) go; 10 (TID 1,
     * Y) repairs layer 1; 13 (TID 2, Y) repairs layer 2; 14, 15 go */
    static const int64_t expect[] = {0, 1, 2, 3, 4, 8, 10, 12, 13, 14, 15};
    CHECK_EQ_INT(k.n, 11);
    for (int i = 0; i < k.n && i < 11; i++)
        CHECK_EQ_INT(k.ts[i], expect[i] * 3000);
    vp8_depack_free(d);

    /* a lost base frame: TL0PICIDX jumps, only a key frame helps */
    memset(&k, 0, sizeof(k));
    d = vp8_depack_new(on_frame, on_kf, &k);
    static const int t2[] = {0, 1, 0, 1, 0, 1};
    for (int i = 0; i < 6; i++) {
        if (i == 2)
            continue;
        size_t n = vp8_pkt(b, true, i, t2[i], 1 + i / 2, true, i == 0, 2);
        struct rtp_pkt p = pkt(b, n, i * 3000, true, i == 3);
        vp8_depack_push(d, &p);
    }
    vp8_depack_flush(d);
    CHECK_EQ_INT(k.n, 2);
    vp8_depack_free(d);
}

/* ---- VP9 ------------------------------------------------------------------ */

/* The first bytes of a 320x240 profile 0 key frame as vp9enc wrote them. */
static const uint8_t vp9_key_hdr[] = {0x82, 0x49, 0x83, 0x42, 0x20, 0x13, 0xf0, 0x0e, 0xf6};

static void test_vp9_descriptor(void)
{
    struct vp9_desc d;
    struct vp9_frame_info fi;

    /* rtpvp9pay's key frame: B E V, SS with one 320x240 layer and a GOF
     * of one picture referring one back */
    static const uint8_t a[] = {0x0e, 0x18, 0x01, 0x40, 0x00, 0xf0, 0x01, 0x04, 0x01, 0x82};
    CHECK_EQ_INT(vp9_desc_parse(a, sizeof(a), &d), 0);
    CHECK(d.begin && d.end && d.has_ss && !d.has_pid && !d.inter);
    CHECK(d.n_spatial == 1 && d.has_res && d.width[0] == 320 && d.height[0] == 240);
    CHECK(d.n_gof == 1 && d.len == 9);
    /* flexible mode: I (15 bits), P, L (TID 1 U SID 0), F, B; two P_DIFFs */
    static const uint8_t b[] = {0xf8, 0x81, 0x02, 0x30, 0x03, 0x04, 0xaa};
    CHECK_EQ_INT(vp9_desc_parse(b, sizeof(b), &d), 0);
    CHECK(d.flexible && d.inter && d.pid == 0x102 && d.pid_mod == 32768);
    CHECK(d.tid == 1 && d.switch_up && d.sid == 0 && !d.has_tl0);
    CHECK(d.n_pdiff == 2 && d.pdiff[0] == 1 && d.pdiff[1] == 2 && d.len == 6);
    /* non-flexible: I (7 bits), L (TID 2, SID 1, D), TL0PICIDX 9 */
    static const uint8_t c[] = {0xa8, 0x05, 0x43, 0x09, 0x00};
    CHECK_EQ_INT(vp9_desc_parse(c, sizeof(c), &d), 0);
    CHECK(d.pid == 5 && d.tid == 2 && d.sid == 1 && d.inter_layer && d.has_tl0 && d.tl0 == 9);
    for (size_t n = 0; n < 6; n++)
        CHECK(vp9_desc_parse(b, n, &d) < 0);
    /* four P_DIFFs, a P_DIFF of 0, flexible without a picture ID */
    static const uint8_t e[] = {0xd0, 0x01, 0x03, 0x03, 0x03, 0x02, 0x00};
    CHECK_EQ_INT(vp9_desc_parse(e, sizeof(e), &d), SE_ERR_PARSE);
    static const uint8_t f[] = {0xd0, 0x01, 0x00, 0x00};
    CHECK_EQ_INT(vp9_desc_parse(f, sizeof(f), &d), SE_ERR_PARSE);
    static const uint8_t g[] = {0x58, 0x02, 0x00};
    CHECK_EQ_INT(vp9_desc_parse(g, sizeof(g), &d), SE_ERR_PARSE);

    CHECK_EQ_INT(vp9_frame_header(vp9_key_hdr, sizeof(vp9_key_hdr), &fi), 0);
    CHECK(fi.key && fi.width == 320 && fi.height == 240);
    CHECK(fi.fmt.profile == 0 && fi.fmt.bit_depth == 8 && fi.fmt.subsampling == 0);
    static const uint8_t inter[] = {0x86, 0x00}; /* profile 0, inter, shown */
    CHECK_EQ_INT(vp9_frame_header(inter, sizeof(inter), &fi), 0);
    CHECK(!fi.key);
    /* profile 3 as vp9enc chose without caps (ffprobe: yuv444p12le) */
    static const uint8_t p3[] = {0xb1, 0x24, 0xc1, 0xa1, 0x48, 0x00, 0x9f, 0x80, 0x77, 0xb0};
    CHECK_EQ_INT(vp9_frame_header(p3, sizeof(p3), &fi), 0);
    CHECK(fi.key && fi.fmt.profile == 3 && fi.fmt.bit_depth == 12 && fi.fmt.subsampling == 3);
    CHECK(fi.width == 320 && fi.height == 240);
    CHECK_EQ_INT(vp9_frame_header(vp9_key_hdr, 5, &fi), SE_ERR_PARSE); /* cut short */
}

/* A flexible-mode VP9 layer frame in one packet. */
static size_t vp9_flex(uint8_t *out, int pid, int sid, bool key, const int *pdiff, int n_pdiff)
{
    size_t n = 0;
    out[n++] = (uint8_t)(0x80 | (n_pdiff ? 0x40 : 0) | 0x20 | 0x10 | 0x08 | 0x04);
    out[n++] = (uint8_t)(0x80 | (pid >> 8));
    out[n++] = (uint8_t)pid;
    out[n++] = (uint8_t)(sid << 1);
    for (int i = 0; i < n_pdiff; i++)
        out[n++] = (uint8_t)(pdiff[i] << 1 | (i + 1 < n_pdiff));
    if (key) {
        memcpy(out + n, vp9_key_hdr, sizeof(vp9_key_hdr));
        n += sizeof(vp9_key_hdr);
    } else {
        out[n++] = 0x86, out[n++] = 0x00;
    }
    out[n++] = (uint8_t)(0x10 + pid);
    return n;
}

static void test_vp9_flexible_and_svc(void)
{
    struct sink k = {0};
    struct vp9_depack *d = vp9_depack_new(on_frame, on_kf, &k);
    uint8_t b[64];
    size_t n;
    struct rtp_pkt p;
    static const int one[] = {1}, two[] = {2}, four[] = {4};

    /* picture 10: key, with an upper spatial layer (not recorded) */
    n = vp9_flex(b, 10, 0, true, NULL, 0);
    p = pkt(b, n, 0, false, 0);
    vp9_depack_push(d, &p);
    n = vp9_flex(b, 10, 1, false, NULL, 0);
    p = pkt(b, n, 0, true, 0);
    vp9_depack_push(d, &p);
    /* 11 refers to 10; its upper layer is lost (irrelevant) */
    n = vp9_flex(b, 11, 0, false, one, 1);
    p = pkt(b, n, 3000, false, 0);
    vp9_depack_push(d, &p);
    /* 12 is lost whole (with the upper layer of 11) */
    /* 13 refers to 11 (two back): decodable; 14 refers to 12: not */
    n = vp9_flex(b, 13, 0, false, two, 1);
    p = pkt(b, n, 9000, true, 3);
    vp9_depack_push(d, &p);
    n = vp9_flex(b, 14, 0, false, two, 1);
    p = pkt(b, n, 12000, true, 0);
    vp9_depack_push(d, &p);
    /* 15 refers to 14 (dropped): not; 17 refers to 13 (four back): yes */
    n = vp9_flex(b, 15, 0, false, one, 1);
    p = pkt(b, n, 15000, true, 0);
    vp9_depack_push(d, &p);
    n = vp9_flex(b, 17, 0, false, four, 1);
    p = pkt(b, n, 21000, true, 1);
    vp9_depack_push(d, &p);
    vp9_depack_flush(d);

    CHECK_EQ_INT(k.n, 4);
    CHECK(k.ts[0] == 0 && k.ts[1] == 3000 && k.ts[2] == 9000 && k.ts[3] == 21000);
    CHECK(k.keys == 1 && k.w == 320 && k.h == 240);
    CHECK_MEM(k.data[0], vp9_key_hdr, sizeof(vp9_key_hdr));
    const struct rec_vstats *st = vp9_depack_stats(d);
    CHECK_EQ_INT(st->layers_skipped, 1);
    CHECK_EQ_INT(st->dropped, 2);
    CHECK(k.kf >= 1);
    vp9_depack_free(d);
}

/* Non-flexible: a picture split over packets B..E, TID/U/TL0PICIDX. */
static void test_vp9_non_flexible(void)
{
    struct sink k = {0};
    struct vp9_depack *d = vp9_depack_new(on_frame, on_kf, &k);
    uint8_t b[32];
    struct rtp_pkt p;
    /* key picture over two packets: B, then E */
    size_t n = 0;
    b[n++] = 0x80 | 0x20 | 0x08, b[n++] = 1, b[n++] = 0x00, b[n++] = 0;
    memcpy(b + n, vp9_key_hdr, sizeof(vp9_key_hdr));
    n += sizeof(vp9_key_hdr);
    p = pkt(b, n, 0, false, 0);
    vp9_depack_push(d, &p);
    static const uint8_t e[] = {0x80 | 0x20 | 0x04, 1, 0x00, 0, 0x55, 0x66};
    p = pkt(e, sizeof(e), 0, true, 0);
    vp9_depack_push(d, &p);
    /* pictures 2..5, TIDs 1 0 1(U) 0; picture 3 (TID 0) has a loss in
     * its middle: 4 (TID 1) and 5 (TID 0) cannot be decoded */
    static const int tids[] = {1, 0, 1, 0};
    for (int i = 0; i < 4; i++) {
        static const int tl0s[] = {0, 1, 1, 2};
        int pid = 2 + i, tid = tids[i], tl0 = tl0s[i];
        uint8_t x[8] = {(uint8_t)(0x80 | 0x40 | 0x20 | 0x08 | (pid == 3 ? 0 : 0x04)),
                        (uint8_t)pid,
                        (uint8_t)(tid << 5 | (i == 2 ? 0x10 : 0)),
                        (uint8_t)tl0,
                        0x86,
                        0x00,
                        0x11};
        p = pkt(x, 7, 3000 * (i + 1), pid != 3, 0);
        vp9_depack_push(d, &p);
        if (pid == 3) {
            uint8_t y[] = {0x80 | 0x40 | 0x20 | 0x04, 3, 0, (uint8_t)tl0, 0x22};
            p = pkt(y, sizeof(y), 3000 * (i + 1), true, 1);
            vp9_depack_push(d, &p);
        }
    }
    vp9_depack_flush(d);
    CHECK_EQ_INT(k.n, 2);
    CHECK(k.ts[0] == 0 && k.ts[1] == 3000);
    CHECK_EQ_INT(k.len[0], sizeof(vp9_key_hdr) + 2);
    vp9_depack_free(d);
}

/* ---- AV1 ------------------------------------------------------------------ */

/* The sequence header OBU libaom (GStreamer av1enc) wrote for 320x240. */
static const uint8_t av1_seq[] = {0x0a, 0x0c, 0x00, 0x00, 0x00, 0x04, 0x3c,
                                  0xff, 0xbf, 0x81, 0xb5, 0xf2, 0x00, 0x80};

static void test_av1_leb128_and_seq(void)
{
    uint32_t v;
    static const uint8_t a[] = {0x00}, b[] = {0x7f}, c[] = {0x80, 0x01},
                         d[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    static const uint8_t big[] = {0xff, 0xff, 0xff, 0xff, 0x1f};
    static const uint8_t nine[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    CHECK(av1_leb128(a, 1, &v) == 1 && v == 0);
    CHECK(av1_leb128(b, 1, &v) == 1 && v == 127);
    CHECK(av1_leb128(c, 2, &v) == 2 && v == 128);
    CHECK(av1_leb128(d, 5, &v) == 5 && v == UINT32_MAX);
    CHECK_EQ_INT(av1_leb128(big, 5, &v), SE_ERR_PARSE);
    CHECK_EQ_INT(av1_leb128(nine, 9, &v), SE_ERR_PARSE);
    CHECK_EQ_INT(av1_leb128(c, 1, &v), SE_ERR_TRUNC);

    struct av1_seq_info si;
    CHECK_EQ_INT(av1_seq_parse(av1_seq + 2, sizeof(av1_seq) - 2, &si), 0);
    CHECK(si.profile == 0 && !si.reduced_still_picture_header);
    CHECK(si.max_width == 320 && si.max_height == 240);
    CHECK_EQ_INT(av1_seq_parse(av1_seq + 2, 4, &si), SE_ERR_PARSE);
}

/* A frame OBU element without a size field: KEY_FRAME shown, or inter. */
static size_t av1_frame(uint8_t *out, bool key, size_t body)
{
    size_t n = 0;
    out[n++] = AV1_OBU_FRAME << 3;
    out[n++] = key ? 0x10 : 0x30; /* show_existing 0, frame_type 0/1, show_frame 1 */
    for (size_t i = 0; i < body; i++)
        out[n++] = (uint8_t)(0xa0 + i);
    return n;
}

static void test_av1_depacketizer(void)
{
    struct sink k = {0};
    struct av1_depack *d = av1_depack_new(on_frame, on_kf, &k);
    uint8_t b[128], fr[64];
    size_t n, fn;
    struct rtp_pkt p;

    /* TU 1: W=2, N: [len][sequence header without size field][frame] */
    n = 0;
    b[n++] = 0x20 | 0x08;
    b[n++] = sizeof(av1_seq) - 1; /* the element: header + 12 bytes */
    b[n++] = 0x08;                /* sequence header, obu_has_size_field 0 */
    memcpy(b + n, av1_seq + 2, sizeof(av1_seq) - 2);
    n += sizeof(av1_seq) - 2;
    fn = av1_frame(fr, true, 6);
    memcpy(b + n, fr, fn);
    n += fn;
    p = pkt(b, n, 0, true, 0);
    av1_depack_push(d, &p);
    /* TU 2: an inter frame fragmented over three packets (Y; Z Y; Z),
     * with a temporal delimiter first (W=0: every element has a length) */
    fn = av1_frame(fr, false, 20);
    n = 0;
    b[n++] = 0x40; /* Y, W=0 */
    b[n++] = 1, b[n++] = AV1_OBU_TEMPORAL_DELIMITER << 3;
    b[n++] = 8;
    memcpy(b + n, fr, 8);
    n += 8;
    p = pkt(b, n, 3000, false, 0);
    av1_depack_push(d, &p);
    n = 0;
    b[n++] = 0x80 | 0x40 | 0x10; /* Z Y W=1 */
    memcpy(b + n, fr + 8, 8);
    n += 8;
    p = pkt(b, n, 3000, false, 0);
    av1_depack_push(d, &p);
    n = 0;
    b[n++] = 0x80 | 0x10; /* Z W=1 */
    memcpy(b + n, fr + 16, fn - 16);
    n += fn - 16;
    p = pkt(b, n, 3000, true, 0);
    av1_depack_push(d, &p);
    /* TU 3: its middle fragment is lost: dropped; TU 4: waits for a key */
    for (int tu = 3; tu <= 4; tu++) {
        n = 0;
        b[n++] = 0x40 | 0x10;
        memcpy(b + n, fr, 8);
        n += 8;
        p = pkt(b, n, 3000 * tu, false, 0);
        av1_depack_push(d, &p);
        n = 0;
        b[n++] = 0x80 | 0x10;
        memcpy(b + n, fr + 16, fn - 16);
        n += fn - 16;
        p = pkt(b, n, 3000 * tu, true, tu == 3);
        av1_depack_push(d, &p);
    }
    /* TU 5: a key frame without a sequence header (the cached one goes in
     * front), with an upper spatial layer OBU (skipped) */
    n = 0;
    b[n++] = 0x20;
    fn = av1_frame(fr, true, 3);
    b[n++] = (uint8_t)fn;
    memcpy(b + n, fr, fn);
    n += fn;
    b[n++] = AV1_OBU_FRAME << 3 | 0x04, b[n++] = 0x08 /* spatial_id 1 */, b[n++] = 0x10;
    p = pkt(b, n, 15000, true, 0);
    av1_depack_push(d, &p);
    av1_depack_flush(d);

    CHECK_EQ_INT(k.n, 3);
    CHECK(k.ts[0] == 0 && k.ts[1] == 3000 && k.ts[2] == 15000);
    CHECK_EQ_INT(k.keys, 2);
    CHECK(k.w == 320 && k.h == 240);
    /* samples are low overhead format: the sequence header with its size */
    CHECK_EQ_INT(k.config_len, sizeof(av1_seq));
    CHECK_MEM(k.config, av1_seq, sizeof(av1_seq));
    CHECK_MEM(k.data[0], av1_seq, sizeof(av1_seq));
    CHECK(k.data[0][sizeof(av1_seq)] == (AV1_OBU_FRAME << 3 | 0x02) &&
          k.data[0][sizeof(av1_seq) + 1] == 7);
    /* TU 2: no temporal delimiter, one frame OBU of 21 bytes payload */
    CHECK_EQ_INT(k.len[1], 2 + 21);
    CHECK(k.data[1][0] == (AV1_OBU_FRAME << 3 | 0x02) && k.data[1][1] == 21 &&
          k.data[1][2] == 0x30 && k.data[1][22] == 0xa0 + 19);
    CHECK_MEM(k.data[2], av1_seq, sizeof(av1_seq)); /* prepended */
    const struct rec_vstats *st = av1_depack_stats(d);
    CHECK_EQ_INT(st->dropped, 2);
    CHECK_EQ_INT(st->layers_skipped, 1);
    CHECK(k.kf >= 1);
    av1_depack_free(d);

    /* hostile: Z without a start, lengths past the end, a size field that
     * does not fill its element, the forbidden bit */
    memset(&k, 0, sizeof(k));
    d = av1_depack_new(on_frame, NULL, &k);
    static const uint8_t h1[] = {0x90, 0x30, 0x01}, h2[] = {0x00, 0x09, 0x30},
                         h3[] = {0x10, 0x32, 0x05, 0x01}, h4[] = {0x10, 0xb0, 0x00};
    const uint8_t *hs[] = {h1, h2, h3, h4};
    for (int i = 0; i < 4; i++) {
        p = pkt(hs[i], i == 2 ? 4 : 3, 3000 * i, true, 0);
        av1_depack_push(d, &p);
    }
    av1_depack_flush(d);
    CHECK_EQ_INT(k.n, 0);
    CHECK_EQ_INT(av1_depack_stats(d)->malformed, 3);
    av1_depack_free(d);
}

/* ---- the layer chain, RTCP ------------------------------------------------ */

static void test_layer_chain(void)
{
    struct rec_layers c;
    rec_layers_init(&c);
    struct rec_layer_frame f = {.has_pid = true, .pid_mod = 128, .complete = true};
    f.pid = 1;
    CHECK(!rec_layers_frame(&c, &f)); /* no key frame yet */
    f.pid = 2, f.key = true;
    CHECK(rec_layers_frame(&c, &f));
    f.key = false, f.pid = 3, f.gap_before = true;
    CHECK(rec_layers_frame(&c, &f)); /* consecutive picture IDs: nothing lost */
    f.pid = 0, f.gap_before = true;  /* 127 -> 0 wraps; here 3 -> 0: 124 lost */
    CHECK(!rec_layers_frame(&c, &f));
    CHECK_EQ_INT(c.broken_from, 0);
    f.pid = 1, f.gap_before = false, f.key = true;
    CHECK(rec_layers_frame(&c, &f));
    f.key = false, f.pid = 127, f.gap_before = false;
    CHECK(rec_layers_frame(&c, &f));
    f.pid = 0, f.gap_before = true; /* 127 -> 0: consecutive across the wrap */
    CHECK(rec_layers_frame(&c, &f));
    /* no picture ID at all: any gap breaks the chain */
    struct rec_layer_frame g = {.complete = true, .gap_before = true};
    CHECK(!rec_layers_frame(&c, &g));
}

static void on_sr(void *arg, const struct rtcp_sr *sr)
{
    struct rtcp_sr *out = arg;
    out[out[0].packets == 0 ? 0 : 1] = *sr;
}

static void test_rtcp_sr(void)
{
    /* SR (SSRC 0x11223344, NTP 2026-01-01T00:00:00.5Z, RTP 90000) with no
     * report block, then an RR, then SDES */
    static const uint8_t c[] = {
        0x80, 200,  0x00, 0x06, 0x11, 0x22, 0x33, 0x44, 0xed, 0x00, 0x37, 0x80, 0x80, 0x00,
        0x00, 0x00, 0x00, 0x01, 0x5f, 0x90, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x03, 0xe8,
        0x81, 201,  0x00, 0x07, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x81, 202,  0x00, 0x01, 0x11, 0x22, 0x33, 0x44};
    struct rtcp_sr sr[2] = {0};
    CHECK(rtcp_is(c, sizeof(c)));
    CHECK_EQ_INT(rtcp_sender_reports(c, sizeof(c), on_sr, sr), 1);
    CHECK(sr[0].ssrc == 0x11223344 && sr[0].rtp_ts == 90000 && sr[0].packets == 10 &&
          sr[0].octets == 1000);
    CHECK_EQ_INT(rtcp_ntp_to_unix_us(sr[0].ntp), 1767225600500000LL);
    /* truncated anywhere: an error, never a read past the end */
    for (size_t n = 0; n < sizeof(c); n += 3)
        if (n != 28 && n != 60)
            CHECK(rtcp_sender_reports(c, n, on_sr, sr) < 0);
    uint8_t bad[sizeof(c)];
    memcpy(bad, c, sizeof(c));
    bad[3] = 0x05; /* an SR too short for its sender info */
    CHECK(rtcp_sender_reports(bad, 24, on_sr, sr) < 0);
    bad[0] = 0x40; /* version 1 */
    CHECK_EQ_INT(rtcp_sender_reports(bad, sizeof(bad), on_sr, sr), SE_ERR_PARSE);
    static const uint8_t rtp[] = {0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1};
    CHECK(!rtcp_is(rtp, sizeof(rtp)));
    /* reduced-size RTCP (RFC 5506): a PLI alone is RTCP too, with no SR */
    static const uint8_t pli[] = {0x81, 206, 0, 2, 0, 0, 0, 1, 0x11, 0x22, 0x33, 0x44};
    CHECK(rtcp_is(pli, sizeof(pli)));
    CHECK_EQ_INT(rtcp_sender_reports(pli, sizeof(pli), on_sr, sr), 0);
}

/* ---- a session: two parties, VP8 + Opus and VP9, an unknown codec ----- */

static size_t rtp(uint8_t *b, uint8_t pt, bool marker, uint16_t seq, uint32_t ts, uint32_t ssrc,
                  const uint8_t *pl, size_t n)
{
    b[0] = 0x80, b[1] = (uint8_t)(pt | (marker ? 0x80 : 0));
    b[2] = (uint8_t)(seq >> 8), b[3] = (uint8_t)seq;
    b[4] = (uint8_t)(ts >> 24), b[5] = (uint8_t)(ts >> 16), b[6] = (uint8_t)(ts >> 8);
    b[7] = (uint8_t)ts;
    b[8] = (uint8_t)(ssrc >> 24), b[9] = (uint8_t)(ssrc >> 16), b[10] = (uint8_t)(ssrc >> 8);
    b[11] = (uint8_t)ssrc;
    memcpy(b + 12, pl, n);
    return 12 + n;
}

static int kf_calls[8];

static void on_session_kf(void *arg, int stream)
{
    kf_calls[stream]++;
}

static void test_session_two_parties(void)
{
    char dir[] = "/tmp/sedge-test-codecs.XXXXXX";
    struct rec_session_cfg c = {0};
    struct rec_session *s;
    uint8_t b[256], pl[64];
    int64_t t0 = 1767225600000000;

    if (!mkdtemp(dir))
        return;
    snprintf(c.dir, sizeof(c.dir), "%s/rec", dir);
    c.n_parties = 2;
    snprintf(c.parties[0].label, 32, "inside");
    snprintf(c.parties[0].name, 128, "alice@example.com");
    snprintf(c.parties[1].label, 32, "outside");
    snprintf(c.parties[1].address, 64, "192.0.2.7:50000");
    c.kf = on_session_kf;
    c.n_streams = 4;
    c.streams[0] = (struct rec_stream_cfg){.media = REC_VIDEO,
                                           .codec = REC_CODEC_VP8,
                                           .label = "0",
                                           .party = "inside",
                                           .pt = 96,
                                           .rtx_pt = 97,
                                           .clock_rate = 90000};
    c.streams[1] = (struct rec_stream_cfg){.media = REC_AUDIO,
                                           .codec = REC_CODEC_OPUS,
                                           .label = "1",
                                           .party = "inside",
                                           .pt = 111,
                                           .rtx_pt = -1,
                                           .clock_rate = 48000,
                                           .channels = 2};
    c.streams[2] = (struct rec_stream_cfg){.media = REC_VIDEO,
                                           .codec = REC_CODEC_VP9,
                                           .label = "0",
                                           .party = "outside",
                                           .pt = 98,
                                           .rtx_pt = -1,
                                           .clock_rate = 90000};
    c.streams[3] = (struct rec_stream_cfg){.media = REC_AUDIO,
                                           .codec = REC_CODEC_UNKNOWN,
                                           .codec_name = "PCMU",
                                           .label = "1",
                                           .party = "outside",
                                           .pt = 0,
                                           .rtx_pt = -1,
                                           .clock_rate = 8000};
    CHECK_EQ_INT(rec_session_open(&s, &c), 0);
    /* an SR of the VP9 sender before any RTP: the recording starts with the
     * first RTP packet all the same */
    static const uint8_t early_sr[28] = {0x80, 200, 0, 6, 0, 0, 0, 0xb2, 0xed, 0x00, 0x37, 0x7f};
    rec_session_rtp(s, 2, early_sr, sizeof(early_sr), t0 - 500000);
    for (int i = 0; i < 60; i++) {
        int64_t t = t0 + i * 33333;
        uint32_t ts = 1000 + (uint32_t)i * 3000;
        /* inside: VP8, a key frame every 30; the first frame is an inter
         * frame (the recording started mid-stream): a keyframe request */
        size_t n = vp8_pkt(pl, true, i, -1, 0, false, i % 30 == 1, 4);
        rec_session_rtp(s, 0, b, rtp(b, 96, true, (uint16_t)i, ts, 0xa1, pl, n), t);
        /* outside: VP9 flexible, every picture refers to the one before */
        static const int one[] = {1};
        n = vp9_flex(pl, i, 0, i == 0, one, i ? 1 : 0);
        rec_session_rtp(s, 2, b, rtp(b, 98, true, (uint16_t)i, ts, 0xb2, pl, n), t + 10);
        /* Opus 20 ms (CELT FB), PCMU */
        pl[0] = 0xf8, pl[1] = 0x11;
        rec_session_rtp(s, 1, b, rtp(b, 111, true, (uint16_t)i, (uint32_t)i * 1600, 0xa3, pl, 2),
                        t + 20);
        rec_session_rtp(s, 3, b, rtp(b, 0, false, (uint16_t)i, (uint32_t)i * 267, 0xb4, pl, 20),
                        t + 30);
        if (i % 20 == 0) { /* an SR for the VP8 stream, pushed like any packet */
            static uint8_t sr[28] = {0x80, 200, 0, 6, 0, 0, 0, 0xa1};
            uint64_t ntp = ((uint64_t)(t / 1000000 + 2208988800u) << 32) |
                           (uint64_t)((t % 1000000) * 4294967296.0 / 1e6);
            for (int k = 0; k < 8; k++)
                sr[8 + k] = (uint8_t)(ntp >> (56 - 8 * k));
            sr[16] = (uint8_t)(ts >> 24), sr[17] = (uint8_t)(ts >> 16);
            sr[18] = (uint8_t)(ts >> 8), sr[19] = (uint8_t)ts;
            rec_session_rtp(s, 0, sr, sizeof(sr), t + 40);
        }
        rec_session_tick(s, t + 50);
    }
    CHECK_EQ_INT(rec_session_close(s, t0 + 2100000), 0);
    CHECK(kf_calls[0] >= 1 && kf_calls[2] == 0);

    char path[128];
    snprintf(path, sizeof(path), "%s/rec/metadata.json", dir);
    json_t *m = json_load_file(path, 0, NULL);
    CHECK(m != NULL);
    json_t *st = json_object_get(m, "streams"), *segs = json_object_get(m, "segments");
    CHECK_EQ_INT(json_array_size(json_object_get(m, "parties")), 2);
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(m, "parties"), 1), "address")),
              "192.0.2.7:50000");
    CHECK_STR(json_string_value(json_object_get(json_array_get(st, 0), "codec")), "VP8");
    CHECK_STR(json_string_value(json_object_get(json_array_get(st, 2), "party")), "outside");
    CHECK(json_is_true(json_object_get(json_array_get(st, 2), "recorded")));
    CHECK(json_is_false(json_object_get(json_array_get(st, 3), "recorded")));
    CHECK_STR(json_string_value(json_object_get(json_array_get(st, 3), "not_recorded")),
              "codec PCMU");
    /* the SR mapping of the VP8 stream: 3 reports, the first at RTP 1000 */
    json_t *rt = json_object_get(json_array_get(st, 0), "rtcp");
    CHECK_EQ_INT(json_integer_value(json_object_get(rt, "sender_reports")), 3);
    json_t *first = json_object_get(rt, "first");
    CHECK_EQ_INT(json_integer_value(json_object_get(first, "rtp_timestamp")), 1000);
    CHECK_STR(json_string_value(json_object_get(first, "ntp")), "2026-01-01T00:00:00.000Z");
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(json_array_get(st, 2), "rtcp"),
                                                    "sender_reports")),
                 1);
    CHECK_STR(json_string_value(json_object_get(m, "start")), "2026-01-01T00:00:00.000Z");
    CHECK_EQ_INT(json_integer_value(json_object_get(
                     json_object_get(json_array_get(st, 0), "timeline"), "first_rtp_timestamp")),
                 1000);
    /* one segment per party: WebM (VP8 + Opus), MP4 (VP9) */
    CHECK_EQ_INT(json_array_size(segs), 2);
    json_t *g0 = json_array_get(segs, 0), *g1 = json_array_get(segs, 1);
    const char *f0 = json_string_value(json_object_get(g0, "file"));
    const char *f1 = json_string_value(json_object_get(g1, "file"));
    bool webm_first = f0 && strstr(f0, ".webm");
    json_t *gw = webm_first ? g0 : g1, *gm = webm_first ? g1 : g0;
    CHECK(strstr(webm_first ? f0 : f1, ".webm") && strstr(webm_first ? f1 : f0, ".mp4"));
    CHECK_STR(json_string_value(json_object_get(gw, "party")), "inside");
    CHECK_STR(json_string_value(json_object_get(gm, "party")), "outside");
    CHECK_STR(json_string_value(json_object_get(json_object_get(gw, "video"), "codec")), "VP8");
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(gw, "video"), "frames")),
                 59); /* from the first key frame (i = 1) */
    CHECK(json_object_get(gw, "audio") != NULL && json_object_get(gm, "audio") == NULL);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(gm, "video"), "frames")), 60);
    json_decref(m);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        printf("    could not remove %s\n", dir);
}

/* The sender switches from VP8 to VP9 (payload types of one m-line); an
 * RTX packet of the VP9 type repairs a loss as VP9, not as the main type. */
static void test_session_codec_switch(void)
{
    char dir[] = "/tmp/sedge-test-switch.XXXXXX";
    struct rec_session_cfg c = {0};
    struct rec_session *s;
    uint8_t b[256], pl[64];
    int64_t t0 = 1767225600000000;
    static const int one[] = {1};

    if (!mkdtemp(dir))
        return;
    snprintf(c.dir, sizeof(c.dir), "%s/rec", dir);
    c.n_streams = 1;
    c.streams[0] = (struct rec_stream_cfg){.media = REC_VIDEO,
                                           .codec = REC_CODEC_VP8,
                                           .label = "v",
                                           .pt = 96,
                                           .rtx_pt = 97,
                                           .alt_pt = {98},
                                           .alt_codec = {REC_CODEC_VP9},
                                           .n_alt_pt = 1,
                                           .alt_rtx = {99},
                                           .alt_rtx_for = {98 + 1},
                                           .n_alt_rtx = 1,
                                           .clock_rate = 90000};
    CHECK_EQ_INT(rec_session_open(&s, &c), 0);
    for (int i = 0; i < 40; i++) {
        int64_t t = t0 + i * 33333;
        uint32_t ts = (uint32_t)i * 3000;
        size_t n;
        uint8_t pt;
        if (i < 20) {
            n = vp8_pkt(pl, true, i, -1, 0, false, i == 0, 4);
            pt = 96;
        } else {
            n = vp9_flex(pl, i, 0, i == 20, one, i == 20 ? 0 : 1);
            pt = 98;
        }
        n = rtp(b, pt, true, (uint16_t)i, ts, 0xc1, pl, n);
        if (i == 30) { /* lost, then retransmitted 10 ms later as RTX (RFC 4588) */
            uint8_t r[256];
            memcpy(r + 14, b + 12, n - 12);
            r[12] = 0, r[13] = (uint8_t)i; /* the original sequence number */
            size_t rn = rtp(r, 99, true, 500, ts, 0xc2, r + 14, 0) + 2 + (n - 12);
            rec_session_rtp(s, 0, r, rn, t + 10000);
            continue;
        }
        rec_session_rtp(s, 0, b, n, t);
        rec_session_tick(s, t + 1);
    }
    CHECK_EQ_INT(rec_session_close(s, t0 + 1500000), 0);
    char path[128];
    snprintf(path, sizeof(path), "%s/rec/metadata.json", dir);
    json_t *m = json_load_file(path, 0, NULL);
    json_t *st = json_array_get(json_object_get(m, "streams"), 0);
    json_t *segs = json_object_get(m, "segments");
    CHECK_EQ_INT(json_integer_value(json_object_get(st, "codec_switches")), 1);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(st, "rtp"), "rtx")), 1);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(st, "rtp"), "lost")), 0);
    CHECK_EQ_INT(json_array_size(segs), 2);
    json_t *g0 = json_array_get(segs, 0), *g1 = json_array_get(segs, 1);
    CHECK_STR(json_string_value(json_object_get(g0, "file")), "segment-000.webm");
    CHECK_STR(json_string_value(json_object_get(g1, "file")), "segment-001.mp4");
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(g0, "video"), "frames")), 20);
    CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(g1, "video"), "frames")), 20);
    json_decref(m);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        printf("    could not remove %s\n", dir);
}

int main(void)
{
    RUN(test_vp8_descriptor);
    RUN(test_vp8_frames_and_loss);
    RUN(test_vp8_temporal_layers);
    RUN(test_vp9_descriptor);
    RUN(test_vp9_flexible_and_svc);
    RUN(test_vp9_non_flexible);
    RUN(test_av1_leb128_and_seq);
    RUN(test_av1_depacketizer);
    RUN(test_layer_chain);
    RUN(test_rtcp_sr);
    RUN(test_session_two_parties);
    RUN(test_session_codec_switch);
    return check_done();
}
