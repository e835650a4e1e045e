/*
 * rtp.h - what the anchor needs to know about the packets on a leg:
 * which protocol a datagram is (RFC 7983 demultiplexing on the first
 * byte, RFC 5761 §4 to tell RTCP from RTP on one port), the fields of an
 * RTP header it looks at, and the RTCP feedback sedge sends itself
 * (RFC 4585 §6.3.1 PLI, RFC 5104 §4.3.1 FIR).
 *
 * Pure, bounded functions on caller buffers (fuzzed through
 * tests/fuzz/fuzz_anchor_demux.c).
 */
#ifndef SE_ANCHOR_RTP_H
#define SE_ANCHOR_RTP_H

#include <stddef.h>
#include <stdint.h>

enum anchor_pkt {
    ANCHOR_PKT_OTHER = 0,
    ANCHOR_PKT_STUN = 1, /* 0-3: libnice's, never seen here */
    ANCHOR_PKT_DTLS = 2, /* 20-63 */
    ANCHOR_PKT_RTP = 3,  /* 128-191, payload type not in 64-95 */
    ANCHOR_PKT_RTCP = 4, /* 128-191, packet type 192-223 */
};

enum {
    RTP_HEADER_MIN = 12,
    RTCP_HEADER_MIN = 8,
    RTCP_PLI_LEN = 12, /* RFC 4585 §6.3.1 */
    RTCP_FIR_LEN = 20, /* RFC 5104 §4.3.1, one FCI entry */
};

static inline int anchor_classify(const uint8_t *b, size_t n)
{
    if (n == 0)
        return ANCHOR_PKT_OTHER;
    if (b[0] <= 3)
        return ANCHOR_PKT_STUN;
    if (b[0] >= 20 && b[0] <= 63)
        return n >= 13 ? ANCHOR_PKT_DTLS : ANCHOR_PKT_OTHER; /* a record header */
    if (b[0] >= 128 && b[0] <= 191) {
        if (n >= RTCP_HEADER_MIN && b[1] >= 192 && b[1] <= 223)
            return ANCHOR_PKT_RTCP;
        return n >= RTP_HEADER_MIN ? ANCHOR_PKT_RTP : ANCHOR_PKT_OTHER;
    }
    return ANCHOR_PKT_OTHER;
}

static inline uint32_t anchor_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The SSRC of an RTP packet or the sender SSRC of an RTCP packet. */
static inline uint32_t anchor_pkt_ssrc(const uint8_t *b, int kind)
{
    return anchor_rd32(b + (kind == ANCHOR_PKT_RTP ? 8 : 4));
}

/* Write a PLI / a FIR for media SSRC `media` from `sender` into out
 * (RTCP_PLI_LEN / RTCP_FIR_LEN bytes, plus SRTCP room for the caller). */
size_t anchor_rtcp_pli(uint8_t *out, uint32_t sender, uint32_t media);
size_t anchor_rtcp_fir(uint8_t *out, uint32_t sender, uint32_t media, uint8_t seq);

#endif
