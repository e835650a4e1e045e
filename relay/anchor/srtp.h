/*
 * srtp.h - the SRTP/SRTCP contexts of one leg (RFC 3711, RFC 7714 AEAD),
 * with libsrtp2.
 *
 * A leg has two contexts keyed from its DTLS handshake: one that
 * unprotects what the party sends, and one that protects what sedge
 * sends to the party (packets of the other leg, and sedge's own RTCP).
 * Both accept any SSRC (ssrc_any_inbound / ssrc_any_outbound), so the
 * SSRCs, payload types, header extensions, RTX, FEC and simulcast
 * streams of the parties pass through unchanged. The receive context's
 * replay window is ANCHOR_SRTP_WINDOW packets; a retransmission the
 * sender repeats with the same index is sent again (allow_repeat_tx).
 *
 * Thread: one leg's contexts are used by its anchor thread only. No
 * allocation per packet: libsrtp2 adds a stream the first time an SSRC
 * authenticates; the media path (media.c) bounds how many SSRCs a leg
 * may use.
 */
#ifndef SE_ANCHOR_SRTP_H
#define SE_ANCHOR_SRTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct anchor_srtp_keys;
struct anchor_srtp;

enum {
    ANCHOR_SRTP_WINDOW = 1024,
    ANCHOR_SRTP_TRAILER = 160, /* room protect may add: tag, MKI, SRTCP index */
};

/* Both contexts from a connected leg's keys. 0, or SE_ERR_CRYPTO/NOMEM. */
int anchor_srtp_new(struct anchor_srtp **out, const struct anchor_srtp_keys *k);
void anchor_srtp_free(struct anchor_srtp *s);

/*
 * In place. *len is the packet length in and out. Unprotect: 0, or
 * SE_ERR_AUTH (authentication failed), SE_ERR_STALE (replayed or too
 * old), SE_ERR_PARSE (malformed). Protect: 0 or SE_ERR_*; the buffer
 * must have ANCHOR_SRTP_TRAILER bytes of room after *len.
 */
int anchor_srtp_unprotect(struct anchor_srtp *s, uint8_t *buf, int *len, bool rtcp);
int anchor_srtp_protect(struct anchor_srtp *s, uint8_t *buf, int *len, bool rtcp);

#endif
