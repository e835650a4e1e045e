/*
 * test_rtp.c - RTP parsing and the per-stream input: header stripping
 * (CSRC, extension, padding), sequence and timestamp wrap, reordering
 * inside the window, duplicates, RTX unwrap, RED (RFC 2198) unwrap, holes
 * given up by window and by time, sender restarts. Packets are built by hand.
 */
#include "core/err.h"
#include "record/rtp.h"
#include "tests/unit/check.h"

#include <stdint.h>

struct got {
    uint64_t seq[256];
    int64_t ts[256];
    uint32_t lost[256];
    uint8_t first[256];
    size_t len[256];
    int n;
};

static void collect(void *arg, const struct rtp_pkt *p)
{
    struct got *g = arg;
    if (g->n < 256) {
        g->seq[g->n] = p->seq;
        g->ts[g->n] = p->ts;
        g->lost[g->n] = p->lost_before;
        g->first[g->n] = p->payload_len ? p->payload[0] : 0;
        g->len[g->n] = p->payload_len;
        g->n++;
    }
}

/* A minimal packet: 12-byte header, payload byte = low byte of seq. */
static size_t pkt(uint8_t *b, uint8_t pt, uint16_t seq, uint32_t ts, uint32_t ssrc)
{
    b[0] = 0x80;
    b[1] = pt;
    b[2] = (uint8_t)(seq >> 8), b[3] = (uint8_t)seq;
    b[4] = (uint8_t)(ts >> 24), b[5] = (uint8_t)(ts >> 16), b[6] = (uint8_t)(ts >> 8),
    b[7] = (uint8_t)ts;
    b[8] = (uint8_t)(ssrc >> 24), b[9] = (uint8_t)(ssrc >> 16), b[10] = (uint8_t)(ssrc >> 8),
    b[11] = (uint8_t)ssrc;
    b[12] = (uint8_t)seq;
    b[13] = 0xaa;
    return 14;
}

static struct rtp_in *mk(struct got *g, int rtx_pt, unsigned window)
{
    struct rtp_in_cfg c = {.pt = 96,
                           .rtx_pt = rtx_pt,
                           .clock_rate = 90000,
                           .window = window,
                           .max_delay_us = 100000,
                           .start_us = -1,
                           .label = "t"};
    memset(g, 0, sizeof(*g));
    return rtp_in_new(&c, collect, g);
}

static void test_parse_strips(void)
{
    /* CSRC count 1, extension of 1 word, padding of 3 bytes. */
    uint8_t b[] = {0xb1, 0xe0, 0x00, 0x05, 0,    0,    0, 9, 0, 0, 0, 7, /* header, X, P, CC=1, M */
                   1,    2,    3,    4,                                  /* CSRC */
                   0xbe, 0xde, 0x00, 0x01, 0x10, 0xff, 0, 0,             /* one-byte ext, 1 word */
                   0x41, 0x42, 0,    0,    3}; /* payload "AB", padding 3 */
    struct rtp_hdr h;

    CHECK_EQ_INT(rtp_parse(&h, b, sizeof(b)), 0);
    CHECK_EQ_INT(h.pt, 96);
    CHECK(h.marker);
    CHECK_EQ_INT(h.seq, 5);
    CHECK_EQ_INT(h.ts, 9);
    CHECK_EQ_INT(h.ssrc, 7);
    CHECK_EQ_INT(h.payload_len, 2);
    CHECK(h.payload[0] == 0x41 && h.payload[1] == 0x42);
    /* Padding longer than the payload, extension past the end, CSRCs past the end. */
    b[sizeof(b) - 1] = 9;
    CHECK_EQ_INT(rtp_parse(&h, b, sizeof(b)), SE_ERR_TRUNC);
    b[sizeof(b) - 1] = 0;
    CHECK_EQ_INT(rtp_parse(&h, b, sizeof(b)), SE_ERR_TRUNC); /* padding 0 is invalid */
    CHECK_EQ_INT(rtp_parse(&h, b, 18), SE_ERR_TRUNC);
    b[0] = 0x8f;
    CHECK_EQ_INT(rtp_parse(&h, b, 20), SE_ERR_TRUNC);
    b[0] = 0x40;
    CHECK_EQ_INT(rtp_parse(&h, b, sizeof(b)), SE_ERR_PARSE); /* version 1 */
    b[0] = 0x80, b[1] = 200;                                 /* RTCP SR (72 | marker) */
    CHECK_EQ_INT(rtp_parse(&h, b, sizeof(b)), SE_ERR_PARSE);
    CHECK_EQ_INT(rtp_parse(&h, b, 11), SE_ERR_TRUNC);
}

static void test_in_order_wrap(void)
{
    struct got g;
    struct rtp_in *in = mk(&g, -1, 0);
    uint8_t b[64];

    /* seq wraps 65534 -> 1, timestamp wraps 2^32 - 3000 -> 3000 */
    for (int i = 0; i < 4; i++)
        rtp_in_push(in, b,
                    pkt(b, 96, (uint16_t)(65534 + i), (uint32_t)(0xfffff448u + 3000u * i), 1),
                    i * 1000);
    CHECK_EQ_INT(g.n, 4);
    CHECK_EQ_INT(g.seq[1] - g.seq[0], 1);
    CHECK_EQ_INT(g.seq[3] - g.seq[0], 3);
    CHECK_EQ_INT(g.ts[3] - g.ts[0], 9000);
    CHECK_EQ_INT(g.lost[3], 0);
    CHECK_EQ_INT(rtp_in_stats(in)->packets, 4);
    rtp_in_free(in);
}

static void test_reorder_and_duplicates(void)
{
    struct got g;
    struct rtp_in *in = mk(&g, -1, 16);
    uint8_t b[64];
    static const uint16_t order[] = {10, 12, 11, 11, 14, 13, 10, 15};

    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        rtp_in_push(in, b, pkt(b, 96, order[i], order[i] * 10u, 1), (int64_t)i * 1000);
    CHECK_EQ_INT(g.n, 6);
    for (int i = 0; i < g.n; i++)
        CHECK_EQ_INT(g.first[i], 10 + i);
    const struct rtp_in_stats *st = rtp_in_stats(in);
    CHECK_EQ_INT(st->duplicates, 2); /* 11 while held, 10 after it went out */
    CHECK_EQ_INT(st->reordered, 2);
    CHECK_EQ_INT(st->lost, 0);
    rtp_in_free(in);
}

static void test_hole_given_up_by_time_and_window(void)
{
    struct got g;
    struct rtp_in *in = mk(&g, -1, 8);
    uint8_t b[64];

    rtp_in_push(in, b, pkt(b, 96, 100, 0, 1), 0);
    rtp_in_push(in, b, pkt(b, 96, 102, 0, 1), 1000); /* 101 missing */
    CHECK_EQ_INT(g.n, 1);
    rtp_in_tick(in, 50000);
    CHECK_EQ_INT(g.n, 1); /* still waiting */
    rtp_in_tick(in, 101001);
    CHECK_EQ_INT(g.n, 2); /* 100 ms passed: 101 given up */
    CHECK_EQ_INT(g.first[1], 102);
    CHECK_EQ_INT(g.lost[1], 1);
    /* 101 arrives late: dropped, counted */
    CHECK_EQ_INT(rtp_in_push(in, b, pkt(b, 96, 101, 0, 1), 102000), SE_ERR_STALE);
    CHECK_EQ_INT(rtp_in_stats(in)->late, 1);
    /* window of 8: 112 is held while 103..111 may still come ... */
    rtp_in_push(in, b, pkt(b, 96, 112, 0, 1), 103000);
    CHECK_EQ_INT(g.n, 2);
    /* ... until a packet 8 past the oldest hole pushes the holes out */
    rtp_in_push(in, b, pkt(b, 96, 121, 0, 1), 104000);
    CHECK_EQ_INT(g.n, 3);
    CHECK_EQ_INT(g.first[2], 112);
    CHECK_EQ_INT(g.lost[2], 9); /* 103..111 */
    rtp_in_flush(in, 105000);
    CHECK_EQ_INT(g.n, 4);
    CHECK_EQ_INT(g.lost[3], 8); /* 113..120 */
    size_t n;
    const struct rtp_gap *gaps = rtp_in_gaps(in, &n);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(gaps[1].count, 9);
    CHECK_EQ_INT(gaps[1].first_seq & 0xffff, 103);
    CHECK_EQ_INT(gaps[1].at_us, 103000); /* when the packet after it arrived */
    CHECK_EQ_INT(rtp_in_stats(in)->lost, 18);
    rtp_in_free(in);
}

static void test_rtx(void)
{
    struct got g;
    struct rtp_in *in = mk(&g, 97, 16);
    uint8_t b[64], r[64];

    rtp_in_push(in, b, pkt(b, 96, 500, 0, 1), 0);
    rtp_in_push(in, b, pkt(b, 96, 502, 0, 1), 1000);
    /* RFC 4588: RTX SSRC and its own sequence, OSN 501, then the payload */
    size_t n = pkt(r, 97, 7, 0, 99);
    r[12] = 0x01, r[13] = 0xf5; /* OSN 501 */
    r[14] = 0xf5;               /* payload byte = low byte of 501 */
    CHECK_EQ_INT(rtp_in_push(in, r, n + 1, 2000), 0);
    CHECK_EQ_INT(g.n, 3);
    CHECK_EQ_INT(g.first[1], 0xf5);
    CHECK_EQ_INT(g.lost[2], 0);
    /* the same retransmission again is a duplicate; a padding-only RTX is ignored */
    CHECK_EQ_INT(rtp_in_push(in, r, n + 1, 3000), SE_ERR_EXISTS);
    CHECK(rtp_in_push(in, r, 12, 3000) < 0);
    CHECK_EQ_INT(rtp_in_stats(in)->rtx, 2);
    CHECK_EQ_INT(rtp_in_stats(in)->lost, 0);
    rtp_in_free(in);
}

static void test_alternative_payload_types(void)
{
    struct got g;
    struct rtp_in_cfg c = {.pt = 102,
                           .rtx_pt = 103,
                           .clock_rate = 90000,
                           .start_us = -1,
                           .alt_pt = {104},
                           .alt_rtx = {105},
                           .n_alt_pt = 1,
                           .n_alt_rtx = 1};
    struct rtp_in *in;
    uint8_t b[64];

    memset(&g, 0, sizeof(g));
    in = rtp_in_new(&c, collect, &g);
    rtp_in_push(in, b, pkt(b, 104, 1, 0, 1), 0);
    size_t n = pkt(b, 105, 9, 0, 2); /* RTX of 2 on the alternative's RTX type */
    b[12] = 0, b[13] = 2, b[14] = 2;
    rtp_in_push(in, b, n + 1, 100);
    rtp_in_push(in, b, pkt(b, 96, 3, 0, 1), 200); /* not a type of this codec */
    CHECK_EQ_INT(g.n, 2);
    CHECK_EQ_INT(g.first[1], 2);
    CHECK_EQ_INT(rtp_in_stats(in)->foreign, 1);
    rtp_in_free(in);
}

static void test_filters_and_restart(void)
{
    struct got g;
    struct rtp_in *in = mk(&g, -1, 16);
    uint8_t b[64];

    rtp_in_push(in, b, pkt(b, 96, 1000, 90000, 1), 0);
    CHECK(rtp_in_push(in, b, pkt(b, 8, 1001, 0, 1), 100) < 0);   /* other PT */
    CHECK(rtp_in_push(in, b, pkt(b, 96, 1001, 0, 2), 1000) < 0); /* other SSRC, old one live */
    CHECK_EQ_INT(rtp_in_stats(in)->foreign, 2);
    /* the old SSRC silent for 1 s: the new one is a restart; the timeline
     * continues by wall time (1 s = 90000 ticks), not by its timestamp */
    CHECK_EQ_INT(rtp_in_push(in, b, pkt(b, 96, 7, 5, 2), 1000000), 0);
    CHECK_EQ_INT(g.n, 2);
    CHECK_EQ_INT(rtp_in_stats(in)->resyncs, 1);
    CHECK(g.ts[1] - g.ts[0] >= 90000 && g.ts[1] - g.ts[0] <= 90002);
    /* a jump of 3000+ sequence numbers is a restart too */
    rtp_in_push(in, b, pkt(b, 96, 9000, 5, 2), 1001000);
    CHECK_EQ_INT(g.n, 3);
    CHECK_EQ_INT(rtp_in_stats(in)->resyncs, 2);
    /* RTCP multiplexed on the port is not an RTP error */
    b[1] = 200;
    CHECK(rtp_in_push(in, b, 14, 1002000) < 0);
    CHECK_EQ_INT(rtp_in_stats(in)->rtcp, 1);
    CHECK_EQ_INT(rtp_in_stats(in)->malformed, 0);
    rtp_in_free(in);
}

static void test_padding_probe_is_no_loss(void)
{
    struct got g;
    struct rtp_in *in = mk(&g, -1, 16);
    uint8_t b[64];

    rtp_in_push(in, b, pkt(b, 96, 1, 0, 1), 0);
    size_t n = pkt(b, 96, 2, 0, 1);
    b[0] |= 0x20; /* padding: the whole payload */
    b[n - 1] = 2;
    rtp_in_push(in, b, n, 100);
    rtp_in_push(in, b, pkt(b, 96, 3, 0, 1), 200);
    CHECK_EQ_INT(g.n, 2);
    CHECK_EQ_INT(g.lost[1], 0);
    CHECK_EQ_INT(rtp_in_stats(in)->lost, 0);
    rtp_in_free(in);
}

/* RFC 2198 RED (Chromium wraps VP8/VP9 in it, ULPFEC inside too): the
 * primary block is the stream's packet, redundant blocks are skipped, FEC
 * keeps its sequence number without counting a loss, RTX of RED unwraps
 * twice, malformed headers are counted. */
static void test_red(void)
{
    struct got g;
    struct rtp_in_cfg c = {.pt = 96,
                           .rtx_pt = -1,
                           .alt_rtx = {119},
                           .alt_rtx_for = {118 + 1},
                           .n_alt_rtx = 1,
                           .red = 118 + 1,
                           .clock_rate = 90000,
                           .window = 16,
                           .max_delay_us = 100000,
                           .start_us = -1,
                           .label = "t"};
    uint8_t b[64];
    struct rtp_in *in;

    memset(&g, 0, sizeof(g));
    in = rtp_in_new(&c, collect, &g);
    /* seq 1: plain VP8 */
    CHECK_EQ_INT(rtp_in_push(in, b, pkt(b, 96, 1, 0, 5), 0), 0);
    /* seq 2: RED, primary block only: header byte (F=0, PT 96), payload */
    size_t n = pkt(b, 118, 2, 0, 5);
    b[12] = 96, b[13] = 0x42, b[14] = 0x43;
    CHECK_EQ_INT(rtp_in_push(in, b, n + 1, 100), 0);
    /* seq 3: RED with one redundant block of 2 bytes, then the primary */
    n = pkt(b, 118, 3, 0, 5);
    uint8_t red3[] = {0x80 | 96, 0x00, 0x40, 0x02, 96, 0xee, 0xee, 0x51};
    memcpy(b + 12, red3, sizeof(red3));
    CHECK_EQ_INT(rtp_in_push(in, b, 12 + sizeof(red3), 200), 0);
    /* seq 4: ULPFEC in RED: no media, no loss */
    n = pkt(b, 118, 4, 0, 5);
    b[12] = 127;
    CHECK_EQ_INT(rtp_in_push(in, b, n, 300), 0);
    /* seq 6 now, seq 5 later as RTX of RED (OSN 5, then the RED payload) */
    CHECK_EQ_INT(rtp_in_push(in, b, pkt(b, 96, 6, 0, 5), 400), 0);
    n = pkt(b, 119, 77, 0, 9);
    uint8_t rtx5[] = {0x00, 0x05, 96, 0x55};
    memcpy(b + 12, rtx5, sizeof(rtx5));
    CHECK_EQ_INT(rtp_in_push(in, b, 12 + sizeof(rtx5), 500), 0);
    CHECK_EQ_INT(g.n, 5);
    CHECK(g.first[1] == 0x42 && g.len[1] == 2);
    CHECK(g.first[2] == 0x51 && g.len[2] == 1);
    CHECK(g.seq[3] + 1 == g.seq[4] && g.first[3] == 0x55 && g.lost[3] == 0);
    CHECK(g.first[4] == 6 && g.lost[4] == 0 && g.seq[4] == g.seq[0] + 5);
    CHECK_EQ_INT(rtp_in_stats(in)->lost, 0);
    CHECK_EQ_INT(rtp_in_stats(in)->rtx, 1);
    /* hostile: a redundant header cut short, block lengths past the end */
    n = pkt(b, 118, 7, 0, 5);
    b[12] = 0x80 | 96, b[13] = 0;
    CHECK(rtp_in_push(in, b, n, 600) < 0);
    uint8_t bad[] = {0x80 | 96, 0x00, 0x43, 0xff, 96, 1, 2};
    n = pkt(b, 118, 7, 0, 5);
    memcpy(b + 12, bad, sizeof(bad));
    CHECK(rtp_in_push(in, b, 12 + sizeof(bad), 600) < 0);
    CHECK(rtp_in_push(in, b, 12, 600) < 0); /* RED with no header at all */
    CHECK_EQ_INT(rtp_in_stats(in)->malformed, 3);
    rtp_in_free(in);
}

static void test_start_sorted(void)
{
    struct got g;
    struct rtp_in_cfg c = {.pt = 96, .rtx_pt = -1, .clock_rate = 90000, .label = "t"};
    struct rtp_in *in;
    uint8_t b[64];

    memset(&g, 0, sizeof(g));
    in = rtp_in_new(&c, collect, &g);
    /* the stream's first packet overtaken by its second: not "late" */
    rtp_in_push(in, b, pkt(b, 96, 11, 0, 1), 0);
    rtp_in_push(in, b, pkt(b, 96, 10, 0, 1), 2000);
    CHECK_EQ_INT(g.n, 0);
    rtp_in_tick(in, 50000);
    CHECK_EQ_INT(g.n, 2);
    CHECK_EQ_INT(g.first[0], 10);
    CHECK_EQ_INT(rtp_in_stats(in)->late, 0);
    rtp_in_free(in);
}

int main(void)
{
    RUN(test_start_sorted);
    RUN(test_parse_strips);
    RUN(test_in_order_wrap);
    RUN(test_reorder_and_duplicates);
    RUN(test_hole_given_up_by_time_and_window);
    RUN(test_rtx);
    RUN(test_alternative_payload_types);
    RUN(test_filters_and_restart);
    RUN(test_padding_probe_is_no_loss);
    RUN(test_red);
    return check_done();
}
