/*
 * dtls.h - DTLS 1.2 for the anchor's legs (RFC 6347, DTLS-SRTP RFC 5763/5764).
 *
 * One struct anchor_cert per process: an ECDSA P-256 self-signed
 * certificate whose SHA-256 fingerprint sedge puts in every description
 * it writes, and the OpenSSL context (use_srtp profiles, DTLS 1.2 only,
 * peer certificate required).
 *
 * One struct anchor_dtls per leg, driven through memory: records the
 * party sent are fed in with anchor_dtls_input(), records to send come
 * out through the send callback one datagram at a time, decrypted
 * application data (the SCTP packets of data channels) through the app
 * callback. The peer's certificate must match one of the fingerprints of
 * that party's own description: anything else ends the handshake (this
 * check is the security of anchor mode). Keys come from the RFC 5705
 * exporter with the RFC 5764 §4.2 label.
 *
 * Thread: a leg's DTLS object is used by one thread (its anchor thread).
 * Callbacks run inside anchor_dtls_* calls.
 */
#ifndef SE_ANCHOR_DTLS_H
#define SE_ANCHOR_DTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct anchor_fp;
struct anchor_cert;
struct anchor_dtls;

enum {
    ANCHOR_FP_TEXT = 128, /* "sha-256 " + 32 hex pairs with colons */
    ANCHOR_DTLS_MTU = 1200,
    ANCHOR_SRTP_KEY_MAX = 32 + 14,
};

/* Make the certificate and context. 0, or SE_ERR_CRYPTO with err. */
int anchor_cert_new(struct anchor_cert **out, char *err, size_t errlen);
void anchor_cert_free(struct anchor_cert *c);
/* "sha-256 AB:CD:..." (borrowed, valid as long as c). */
const char *anchor_cert_fingerprint(const struct anchor_cert *c);

enum anchor_dtls_state {
    ANCHOR_DTLS_NEW = 0,       /* not started */
    ANCHOR_DTLS_HANDSHAKE = 1,
    ANCHOR_DTLS_CONNECTED = 2,
    ANCHOR_DTLS_FAILED = 3,
    ANCHOR_DTLS_CLOSED = 4,    /* close_notify from the party */
};

struct anchor_dtls_cb {
    void (*send)(void *arg, const uint8_t *buf, size_t len); /* one datagram */
    void (*app)(void *arg, uint8_t *buf, size_t len);        /* one record's payload */
    void *arg;
};

/*
 * A leg's DTLS: client (sends the ClientHello at anchor_dtls_start) or
 * server; fp[0..n_fp) are the party's fingerprints (copied). NULL on
 * allocation failure.
 */
struct anchor_dtls *anchor_dtls_new(struct anchor_cert *c, bool client, const struct anchor_fp *fp,
                                    int n_fp, const struct anchor_dtls_cb *cb);
void anchor_dtls_free(struct anchor_dtls *d);
/* Begin the handshake (a client sends its first flight). */
void anchor_dtls_start(struct anchor_dtls *d);
/* One datagram from the party. Returns the state after it. */
int anchor_dtls_input(struct anchor_dtls *d, const uint8_t *buf, size_t len);
/* Send application data (an SCTP packet) as one record. 0 or SE_ERR_*. */
int anchor_dtls_write(struct anchor_dtls *d, const uint8_t *buf, size_t len);
/* Retransmit a flight whose timer ran out (call every ~100 ms). */
void anchor_dtls_tick(struct anchor_dtls *d);
int anchor_dtls_state(const struct anchor_dtls *d);
bool anchor_dtls_is_client(const struct anchor_dtls *d);
/* Why it failed ("" if it did not). */
const char *anchor_dtls_error(const struct anchor_dtls *d);

/* The SRTP profile and master keys of a connected leg (RFC 5764 §4.2). */
enum anchor_srtp_profile {
    ANCHOR_SRTP_AES128_CM_SHA1_80 = 1,
    ANCHOR_SRTP_AES128_CM_SHA1_32 = 2,
    ANCHOR_SRTP_AEAD_AES_128_GCM = 7,
    ANCHOR_SRTP_AEAD_AES_256_GCM = 8,
};
struct anchor_srtp_keys {
    int profile;             /* enum anchor_srtp_profile */
    size_t key_len, salt_len;
    uint8_t local[ANCHOR_SRTP_KEY_MAX];  /* what sedge sends with: key || salt */
    uint8_t remote[ANCHOR_SRTP_KEY_MAX]; /* what the party sends with */
};
int anchor_dtls_keys(const struct anchor_dtls *d, struct anchor_srtp_keys *k);
const char *anchor_srtp_profile_name(int profile);

#endif
