/*
 * rtcp.c - sender reports out of RTCP compound packets (RFC 3550 §6.4.1).
 *
 * A bounded walk over the packets of a compound: each header must say
 * version 2 and a length that fits; an SR must be long enough for its
 * sender info. Reception report blocks and every other packet type are
 * skipped. Nothing is trusted beyond the bytes actually present.
 */
#include "record/rtcp.h"
#include "core/err.h"

enum { NTP_UNIX_OFFSET = 2208988800u }; /* seconds from 1900 to 1970 */

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

bool rtcp_is(const uint8_t *buf, size_t len)
{
    return len >= 8 && (buf[0] >> 6) == 2 && buf[1] >= 192 && buf[1] <= 223; /* RFC 5761 §4 */
}

int rtcp_sender_reports(const uint8_t *buf, size_t len,
                        void (*fn)(void *arg, const struct rtcp_sr *sr), void *arg)
{
    size_t off = 0;
    int n = 0;

    if (len < 4)
        return SE_ERR_TRUNC;
    while (off < len) {
        if (len - off < 4)
            return SE_ERR_TRUNC;
        const uint8_t *p = buf + off;
        if ((p[0] >> 6) != 2)
            return SE_ERR_PARSE;
        size_t plen = ((size_t)(p[2] << 8 | p[3]) + 1) * 4;
        if (plen > len - off)
            return SE_ERR_TRUNC;
        if (p[1] == RTCP_SR) {
            if (plen < RTCP_SR_LEN)
                return SE_ERR_PARSE;
            struct rtcp_sr sr = {.ssrc = rd32(p + 4),
                                 .ntp = (uint64_t)rd32(p + 8) << 32 | rd32(p + 12),
                                 .rtp_ts = rd32(p + 16),
                                 .packets = rd32(p + 20),
                                 .octets = rd32(p + 24)};
            fn(arg, &sr);
            n++;
        }
        off += plen;
    }
    return n;
}

int64_t rtcp_ntp_to_unix_us(uint64_t ntp)
{
    int64_t sec = (int64_t)(ntp >> 32);
    if (sec < 0x80000000)
        sec += (int64_t)1 << 32; /* RFC 4330 §3: MSB clear is era 1, from 2036 */
    sec -= NTP_UNIX_OFFSET;
    int64_t frac = (int64_t)(((ntp & 0xffffffffu) * 1000000u) >> 32);
    return sec * 1000000 + frac;
}
