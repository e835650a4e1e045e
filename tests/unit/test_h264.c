/*
 * test_h264.c - the RFC 6184 depacketizer and parameter-set helpers with
 * hand-built packets: single NAL, STAP-A, FU-A reassembly, SPS/PPS from
 * sprop-parameter-sets prepended to IDRs, nothing before the first IDR,
 * loss rules (FU-A gaps, frame_num continuity), hostile packets, and the
 * Opus TOC durations and gap filling.
 */
#include "core/err.h"
#include "record/h264.h"
#include "record/opus.h"
#include "record/rtp.h"
#include "tests/unit/check.h"

#include <stdint.h>
#include <stdlib.h>

/* The SPS/PPS x264 (GStreamer x264enc) wrote for 320x240 baseline. */
static const uint8_t sps[] = {0x67, 0x42, 0xc0, 0x0d, 0xda, 0x05, 0x07, 0xec, 0x05,
                              0xa8, 0x30, 0x30, 0x35, 0x28, 0x00, 0x00, 0x03, 0x00,
                              0x08, 0x00, 0x00, 0x03, 0x01, 0xe4, 0x78, 0xa1, 0x55};
static const uint8_t pps[] = {0x68, 0xce, 0x3c, 0x80};
static const char sprop[] = "Z0LADdoFB+wFqDAwNSgAAAMACAAAAwHkeKFV,aM48gA==";

struct aus {
    int n, keys, kf;
    int64_t ts[64];
    size_t len[64];
    uint8_t data[64][4096];
};

static void on_au(void *arg, const struct h264_au *au)
{
    struct aus *a = arg;
    if (a->n < 64 && au->len <= sizeof(a->data[0])) {
        a->ts[a->n] = au->ts;
        a->len[a->n] = au->len;
        memcpy(a->data[a->n], au->data, au->len);
        a->keys += au->key;
        a->n++;
    }
}

static void on_kf(void *arg)
{
    ((struct aus *)arg)->kf++;
}

static int log2_mfn;

/* A slice NAL: header byte, first_mb 0, slice_type, pps 0, frame_num, filler. */
static size_t slice(uint8_t *out, bool idr, unsigned frame_num, size_t body)
{
    uint64_t bits = 0;
    int n = 0;
#define PUT(v, w) (bits = bits << (w) | (v), n += (w))
    PUT(1, 1); /* first_mb_in_slice = 0 */
    if (idr)
        PUT(0x8, 7); /* slice_type 7 (I): 0001000 */
    else
        PUT(0x6, 5); /* slice_type 5 (P): 00110 */
    PUT(1, 1);       /* pic_parameter_set_id 0 */
    PUT(frame_num, log2_mfn);
    PUT(1, 1);
#undef PUT
    out[0] = idr ? 0x65 : 0x41;
    size_t bytes = (size_t)(n + 7) / 8;
    bits <<= bytes * 8 - (size_t)n;
    for (size_t i = 0; i < bytes; i++)
        out[1 + i] = (uint8_t)(bits >> (8 * (bytes - 1 - i)));
    for (size_t i = 1 + bytes; i < body; i++)
        out[i] = (uint8_t)(0x11 + i);
    return body;
}

static struct rtp_pkt P(const uint8_t *pl, size_t n, int64_t ts, uint32_t lost) {
    static uint64_t seq = 1000;
    return (struct rtp_pkt){.seq = seq++,
                            .ts = ts,
                            .payload = pl,
                            .payload_len = n,
                            .lost_before = lost,
                            .arrival_us = ts * 100 / 9};
}

static struct h264_depack *
mk(struct aus *a, bool with_sprop)
{
    memset(a, 0, sizeof(*a));
    struct h264_depack *d = h264_depack_new(on_au, on_kf, a);
    if (with_sprop)
        CHECK_EQ_INT(h264_depack_sprop(d, sprop), 2);
    return d;
}

/* Each test frame is one slice: the marker goes on its last packet. */
static void push(struct h264_depack *d, const uint8_t *pl, size_t n, int64_t ts, uint32_t lost)
{
    struct rtp_pkt p = P(pl, n, ts, lost);
    int type = n ? pl[0] & 0x1f : 0;
    p.marker = type == H264_NAL_FU_A ? n > 1 && (pl[1] & 0x40) : type != H264_NAL_STAP_A;
    h264_depack_push(d, &p);
}

/* FU-A fragments of nal into pieces of at most `frag` bytes. */
static void push_fu(struct h264_depack *d, const uint8_t *nal, size_t n, size_t frag, int64_t ts,
                    int skip)
{
    uint8_t b[2048];
    size_t off = 1;
    int i = 0;
    while (off < n) {
        size_t k = n - off < frag ? n - off : frag;
        b[0] = (uint8_t)((nal[0] & 0xe0) | H264_NAL_FU_A);
        b[1] = (uint8_t)((off == 1 ? 0x80 : 0) | (off + k == n ? 0x40 : 0) | (nal[0] & 0x1f));
        memcpy(b + 2, nal + off, k);
        if (i++ != skip)
            push(d, b, k + 2, ts, i - 1 == skip + 1 && skip >= 0 ? 1 : 0);
        off += k;
    }
}

static void test_sps_and_avcc(void)
{
    struct h264_sps_info si;
    uint8_t avcc[H264_AVCC_MAX];

    CHECK_EQ_INT(h264_sps_parse(sps, sizeof(sps), &si), 0);
    CHECK_EQ_INT(si.width, 320);
    CHECK_EQ_INT(si.height, 240);
    CHECK_EQ_INT(si.profile, 66);
    log2_mfn = si.log2_max_frame_num;
    CHECK(log2_mfn >= 4 && log2_mfn <= 16);
    int n = h264_avcc_build(sps, sizeof(sps), pps, sizeof(pps), avcc, sizeof(avcc));
    CHECK_EQ_INT(n, 11 + (int)sizeof(sps) + (int)sizeof(pps));
    CHECK(avcc[0] == 1 && avcc[1] == 66 && avcc[4] == 0xff && avcc[5] == 0xe1);
    CHECK_MEM(avcc + 8, sps, sizeof(sps));
    CHECK_EQ_INT(h264_avcc_build(sps, sizeof(sps), pps, sizeof(pps), avcc, 20), SE_ERR_TOOBIG);
    /* truncated, wrong type, forbidden bit, absurd width */
    CHECK_EQ_INT(h264_sps_parse(sps, 6, &si), SE_ERR_PARSE);
    CHECK_EQ_INT(h264_sps_parse(pps, sizeof(pps), &si), SE_ERR_PARSE);
    uint8_t bad[sizeof(sps)];
    memcpy(bad, sps, sizeof(sps));
    bad[0] |= 0x80;
    CHECK_EQ_INT(h264_sps_parse(bad, sizeof(bad), &si), SE_ERR_PARSE);
    /* profile 66, level, sps_id 0, then ue fields all-zero bits: 32+ leading zeros */
    static const uint8_t absurd[] = {0x67, 0x42, 0x00, 0x1e, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00};
    CHECK_EQ_INT(h264_sps_parse(absurd, sizeof(absurd), &si), SE_ERR_PARSE);
}

static void test_single_nal_idr_gets_parameter_sets(void)
{
    struct aus a;
    struct h264_depack *d = mk(&a, true);
    uint8_t idr[300], p1[100], p2[100];

    push(d, idr, slice(idr, true, 0, sizeof(idr)), 3000, 0);
    push(d, p1, slice(p1, false, 1, sizeof(p1)), 6000, 0);
    push(d, p2, slice(p2, false, 2, sizeof(p2)), 9000, 0);
    h264_depack_flush(d);
    CHECK_EQ_INT(a.n, 3);
    CHECK_EQ_INT(a.keys, 1);
    /* [len][SPS][len][PPS][len][IDR], AVCC 4-byte lengths */
    CHECK_EQ_INT(a.len[0], 4 + sizeof(sps) + 4 + sizeof(pps) + 4 + sizeof(idr));
    CHECK(a.data[0][3] == sizeof(sps) && a.data[0][4] == 0x67);
    CHECK(a.data[0][4 + sizeof(sps) + 3] == sizeof(pps));
    CHECK_EQ_INT(a.len[1], 4 + sizeof(p1));
    CHECK(a.data[1][4] == 0x41);
    CHECK_EQ_INT(a.ts[2], 9000);
    CHECK_EQ_INT(a.kf, 0);
    h264_depack_free(d);
}

static void test_stap_a_and_fu_a(void)
{
    struct aus a;
    struct h264_depack *d = mk(&a, false);
    uint8_t stap[64], idr[1500];
    size_t n = 0;

    stap[n++] = 0x78; /* STAP-A, NRI 3 */
    stap[n++] = 0, stap[n++] = sizeof(sps);
    memcpy(stap + n, sps, sizeof(sps)), n += sizeof(sps);
    stap[n++] = 0, stap[n++] = sizeof(pps);
    memcpy(stap + n, pps, sizeof(pps)), n += sizeof(pps);
    push(d, stap, n, 3000, 0);
    push_fu(d, idr, slice(idr, true, 0, sizeof(idr)), 500, 3000, -1);
    h264_depack_flush(d);
    CHECK_EQ_INT(a.n, 1);
    CHECK_EQ_INT(a.keys, 1);
    /* in-band SPS/PPS are kept once, the IDR reassembled whole */
    CHECK_EQ_INT(a.len[0], 4 + sizeof(sps) + 4 + sizeof(pps) + 4 + sizeof(idr));
    CHECK(a.data[0][4 + sizeof(sps) + 4 + sizeof(pps) + 4] == 0x65);
    CHECK_MEM(a.data[0] + a.len[0] - 100, idr + sizeof(idr) - 100, 100);
    h264_depack_free(d);
}

static void test_nothing_before_idr_then_loss_rules(void)
{
    struct aus a;
    struct h264_depack *d = mk(&a, true);
    uint8_t f[1500];
    int64_t ts = 0;

    /* joined mid-GOP: P frames are dropped, a keyframe is asked for */
    push(d, f, slice(f, false, 5, 200), ts += 3000, 0);
    push(d, f, slice(f, false, 6, 200), ts += 3000, 0);
    push_fu(d, f, slice(f, true, 0, 1200), 500, ts += 3000, -1); /* IDR */
    push(d, f, slice(f, false, 1, 200), ts += 3000, 0);
    /* the middle FU-A fragment of frame 2 is lost: it and what follows go */
    push_fu(d, f, slice(f, false, 2, 1200), 500, ts += 3000, 1);
    push(d, f, slice(f, false, 3, 200), ts += 3000, 0);
    push_fu(d, f, slice(f, true, 0, 1200), 500, ts += 3000, -1); /* IDR: back */
    push(d, f, slice(f, false, 1, 200), ts += 3000, 0);
    /* a loss between frames, but frame_num follows: nothing referenced is missing */
    push(d, f, slice(f, false, 2, 200), ts += 3000, 1);
    /* a loss that took a whole frame: frame_num jumps, dropped */
    push(d, f, slice(f, false, 4, 200), ts += 3000, 1);
    h264_depack_flush(d);
    const struct h264_stats *st = h264_depack_stats(d);
    CHECK_EQ_INT(a.n, 5); /* IDR, P1, IDR, P1, P2 */
    CHECK_EQ_INT(a.keys, 2);
    CHECK_EQ_INT(st->dropped, 5);
    CHECK_EQ_INT(st->damaged, 1);
    CHECK(a.kf >= 1 && st->kf_requests == (uint64_t)a.kf);
    h264_depack_free(d);
}

static void test_hostile_packets(void)
{
    struct aus a;
    struct h264_depack *d = mk(&a, true);
    uint8_t f[1500], b[64];
    int64_t ts = 0;

    push_fu(d, f, slice(f, true, 0, 1200), 500, ts += 3000, -1);
    /* FU-A with S and E together */
    b[0] = 0x7c, b[1] = 0xc1, b[2] = 0;
    push(d, b, 3, ts += 3000, 0);
    /* STAP-A whose size runs past the end */
    b[0] = 0x78, b[1] = 0x01, b[2] = 0x00, b[3] = 0x67;
    push(d, b, 4, ts += 3000, 0);
    /* forbidden bit */
    b[0] = 0xc1;
    push(d, b, 10, ts += 3000, 0);
    /* FU-A middle without a start, MTAP (mode 2 only), empty, one byte */
    b[0] = 0x7c, b[1] = 0x01;
    push(d, b, 10, ts += 3000, 0);
    b[0] = 26;
    push(d, b, 10, ts += 3000, 0);
    push(d, b, 0, ts += 3000, 0);
    b[0] = 0x7c;
    push(d, b, 1, ts += 3000, 0);
    /* an absurd in-band SPS is refused and its frame dropped */
    static const uint8_t absurd[] = {0x67, 0x42, 0x00, 0x1e, 0x80, 0x00, 0x00, 0x00};
    push(d, absurd, sizeof(absurd), ts += 3000, 0);
    push(d, f, slice(f, true, 0, 100), ts, 0);
    h264_depack_flush(d);
    const struct h264_stats *st = h264_depack_stats(d);
    CHECK_EQ_INT(a.n, 1); /* only the first IDR */
    CHECK(st->malformed >= 4);
    CHECK_EQ_INT(st->bad_ps, 1);
    h264_depack_free(d);
}

struct ops {
    int n, fill;
    int64_t ts[64];
    int dur[64];
};

static void on_opus(void *arg, const struct opus_frame *f)
{
    struct ops *o = arg;
    if (o->n < 64) {
        o->ts[o->n] = f->ts;
        o->dur[o->n] = f->duration;
        o->fill += f->filler;
        o->n++;
    }
}

static void test_opus(void)
{
    /* RFC 6716 §3.1: config 31 CELT FB 20 ms; config 0 SILK NB 10 ms; code 3 with 3 frames */
    static const uint8_t c20[] = {0xf8, 1}, c10x2[] = {0x01, 1, 2}, c3[] = {0x03, 0x03, 1, 2, 3};
    static const uint8_t bad[] = {0x03, 0x00}, big[] = {0x1b, 0x07}; /* 0 frames; 7x60 ms */
    CHECK_EQ_INT(opus_packet_duration(c20, 2), 960);
    CHECK_EQ_INT(opus_packet_duration(c10x2, 3), 960);
    CHECK_EQ_INT(opus_packet_duration(c3, 5), 1440);
    CHECK_EQ_INT(opus_packet_duration(bad, 2), SE_ERR_PARSE);
    CHECK_EQ_INT(opus_packet_duration(big, 2), SE_ERR_PARSE);
    CHECK_EQ_INT(opus_packet_duration(c20, 0), SE_ERR_PARSE);

    struct ops o = {0};
    struct opus_depack *d = opus_depack_new(on_opus, &o);
    struct rtp_pkt p = {.payload = c20, .payload_len = 2};
    p.ts = 1000, opus_depack_push(d, &p);
    p.ts = 1960, opus_depack_push(d, &p);
    p.ts = 1960 + 3 * 960, opus_depack_push(d, &p);       /* two packets lost: filled */
    p.ts = 1960 + 3 * 960 - 100, opus_depack_push(d, &p); /* overlaps: dropped */
    CHECK_EQ_INT(o.n, 5);
    CHECK_EQ_INT(o.fill, 2);
    CHECK_EQ_INT(o.ts[2], 2920);
    CHECK_EQ_INT(o.ts[4], 1960 + 3 * 960);
    CHECK_EQ_INT(opus_depack_stats(d)->overlapped, 1);
    CHECK_EQ_INT(opus_depack_stats(d)->filled_samples, 1920);
    /* 5 s of timestamps in 20 ms of arrival: a jump, not 250 filler packets */
    p.arrival_us = 20000;
    p.ts = 1960 + 4 * 960 + 5 * 48000, opus_depack_push(d, &p);
    CHECK_EQ_INT(o.n, 6);
    CHECK_EQ_INT(opus_depack_stats(d)->jumps, 1);
    opus_depack_free(d);
}

int main(void)
{
    RUN(test_sps_and_avcc);
    RUN(test_single_nal_idr_gets_parameter_sets);
    RUN(test_stap_a_and_fu_a);
    RUN(test_nothing_before_idr_then_loss_rules);
    RUN(test_hostile_packets);
    RUN(test_opus);
    return check_done();
}
