/*
 * rtp.h - RTP packet view (RFC 3550) and per-stream input: sequence and
 * timestamp unwrap, a bounded reorder window, duplicate and RTX (RFC 4588)
 * removal, gap accounting.
 *
 * rtp_parse() fills a transparent struct rtp_hdr that borrows the packet
 * buffer; CSRCs, the header extension and padding are stripped so
 * payload/payload_len are exactly the media payload.
 *
 * struct rtp_in is opaque and owned by one thread (the recorder's). It
 * copies packets into preallocated slots (no malloc per packet) and hands
 * them to its output callback in sequence order, each at most once. A hole
 * is given up when the window is full or its oldest packet waited longer
 * than max_delay_us; the next packet out then carries lost_before > 0.
 */
#ifndef SE_RTP_H
#define SE_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    RTP_HEADER_LEN = 12, /* RFC 3550 §5.1 */
    RTP_VERSION = 2,
    RTP_SLOT_MAX = 2048,      /* largest packet the reorder window holds */
    RTP_WINDOW_MAX = 1024,    /* largest reorder window, packets */
    RTP_WINDOW_DEFAULT = 128, /* ~0.5 s of 2.5 Mbit/s video */
    RTP_DELAY_DEFAULT_US = 200000,
    RTP_RESYNC_JUMP = 3000, /* a sequence jump this large is a restart */
    RTP_GAPS_MAX = 256,     /* gap records kept per stream */
    RTP_ALT_PT_MAX = 16,    /* more payload types of the m-line (offers list several) */
};

/* One parsed RTP packet; borrows the buffer it was parsed from. */
struct rtp_hdr {
    uint8_t pt;
    bool marker;
    uint16_t seq;
    uint32_t ts;
    uint32_t ssrc;
    const uint8_t *payload;
    size_t payload_len;
};

/*
 * Parse buf[0..len). Returns 0, or SE_ERR_PARSE (not RTP version 2, RTCP
 * payload type range) or SE_ERR_TRUNC (CSRC list, extension or padding
 * past the end). Never reads outside buf.
 */
int rtp_parse(struct rtp_hdr *h, const uint8_t *buf, size_t len);

/* A packet in order, as handed to the output callback. Borrowed: valid
 * only during the callback. */
struct rtp_pkt {
    uint64_t seq; /* extended sequence number */
    int64_t ts;   /* extended timestamp (first packet's value + delta) */
    uint32_t ssrc;
    uint8_t pt;
    bool marker;
    uint32_t lost_before; /* packets given up on just before this one */
    int64_t arrival_us;   /* arrival time of this packet */
    const uint8_t *payload;
    size_t payload_len;
};

/* One gap: when it was given up and how many packets it held. */
struct rtp_gap {
    int64_t at_us; /* arrival time of the packet after the gap */
    uint64_t first_seq;
    uint32_t count;
};

struct rtp_in_stats {
    uint64_t packets, bytes; /* accepted and handed out */
    uint64_t lost;           /* given up on */
    uint64_t duplicates;     /* same sequence number seen again (incl. RTX) */
    uint64_t late;           /* arrived after its hole was given up */
    uint64_t rtx;            /* RTX packets unwrapped (RFC 4588) */
    uint64_t malformed;      /* failed rtp_parse or too large */
    uint64_t foreign;        /* other payload type or SSRC */
    uint64_t reordered;      /* arrived out of order but in time */
    uint64_t resyncs;        /* sender restarts (SSRC or sequence jump) */
    uint64_t gaps_dropped;   /* gap records not kept (past RTP_GAPS_MAX) */
    uint64_t rtcp;           /* RTCP multiplexed on the port, ignored */
};

struct rtp_in_cfg {
    int pt;                              /* media payload type; -1 accepts any */
    int rtx_pt;                          /* RTX payload type (a=fmtp apt=), -1 for none */
    uint8_t alt_pt[RTP_ALT_PT_MAX];      /* other payload types of the stream */
    uint8_t alt_rtx[RTP_ALT_PT_MAX];     /* their RTX payload types */
    uint8_t alt_rtx_for[RTP_ALT_PT_MAX]; /* 1 + the type alt_rtx[i] repairs; 0: pt */
    int n_alt_pt, n_alt_rtx;
    uint8_t red;          /* 1 + RED payload type (RFC 2198) wrapping the stream, 0: none */
    unsigned clock_rate;  /* Hz; 0 = 90000 */
    unsigned window;      /* packets; 0 = RTP_WINDOW_DEFAULT */
    int64_t max_delay_us; /* 0 = RTP_DELAY_DEFAULT_US */
    int64_t start_us;     /* hold the first packets this long to sort the start;
                           * 0 = min(50 ms, max_delay), < 0 = not at all */
    const char *label;    /* for log lines; borrowed for the object's life */
};

typedef void (*rtp_out_fn)(void *arg, const struct rtp_pkt *p);

struct rtp_in;

/* Returns a new input, or NULL on bad cfg or no memory. Caller frees. */
struct rtp_in *rtp_in_new(const struct rtp_in_cfg *cfg, rtp_out_fn out, void *arg);
void rtp_in_free(struct rtp_in *in);

/*
 * Feed one datagram that arrived at now_us (monotonic or capture time;
 * must not go backwards by much). Returns 0 if the packet was taken (it
 * may come out later), or a negative SE_ERR_* saying why it was dropped
 * (counted in the stats either way).
 */
int rtp_in_push(struct rtp_in *in, const uint8_t *buf, size_t len, int64_t now_us);

/* Give up holes whose packets waited past max_delay at now_us. */
void rtp_in_tick(struct rtp_in *in, int64_t now_us);

/* Hand out everything held, giving up every hole (end of stream). */
void rtp_in_flush(struct rtp_in *in, int64_t now_us);

const struct rtp_in_stats *rtp_in_stats(const struct rtp_in *in);
/* Gap records, oldest first; borrowed, valid until the next push. */
const struct rtp_gap *rtp_in_gaps(const struct rtp_in *in, size_t *n);

#endif
