/*
 * rtcp.h - the sender reports of an RTCP compound packet (RFC 3550 §6.4.1),
 * for A/V sync: each SR maps the sender's NTP wall clock to its RTP
 * timestamp clock.
 */
#ifndef SE_REC_RTCP_H
#define SE_REC_RTCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    RTCP_SR = 200, /* RFC 3550 §12.1 */
    RTCP_RR = 201,
    RTCP_SR_LEN = 28, /* header, SSRC, NTP (8), RTP timestamp, packet and octet counts */
};

struct rtcp_sr {
    uint32_t ssrc;
    uint64_t ntp; /* NTP timestamp: seconds since 1900 << 32 | fraction */
    uint32_t rtp_ts;
    uint32_t packets, octets;
};

/* Whether buf looks like RTCP multiplexed with RTP (RFC 5761 §4: packet
 * types 200..204 in the second byte). */
bool rtcp_is(const uint8_t *buf, size_t len);

/*
 * Walk a compound packet and call fn for each SR. Returns the number of
 * SRs, or SE_ERR_PARSE / SE_ERR_TRUNC at the first malformed packet (the
 * SRs before it were reported). Never reads outside buf.
 */
int rtcp_sender_reports(const uint8_t *buf, size_t len,
                        void (*fn)(void *arg, const struct rtcp_sr *sr), void *arg);

/* Microseconds since the Unix epoch of an NTP timestamp. */
int64_t rtcp_ntp_to_unix_us(uint64_t ntp);

#endif
