/*
 * dtls.c - DTLS 1.2 through memory BIOs for the anchor (see dtls.h).
 *
 * Design: the read side is a memory BIO that holds exactly one datagram
 * at a time (fed, then consumed by the SSL call that follows); the write
 * side is a small sink BIO that hands every write to the send callback
 * as one datagram, so record boundaries survive (a memory BIO would glue
 * a flight together). The sink answers the MTU queries OpenSSL makes
 * with ANCHOR_DTLS_MTU: handshake messages are fragmented to fit.
 *
 * The fingerprint check runs in the verify callback, on the leaf
 * certificate, before the handshake can finish: a mismatch aborts with
 * a bad_certificate alert and no keys are ever exported. It is repeated
 * once the handshake is done (defence in depth, and the only check when
 * a party sends no chain callback would see).
 *
 * Invariants: a failed DTLS object stays failed; nothing is sent after
 * it failed or closed.
 */
#include "relay/anchor/dtls.h"
#include "core/err.h"
#include "relay/anchor/sdp.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/srtp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CERT_DAYS = 365, EXPORTER_MAX = 2 * ANCHOR_SRTP_KEY_MAX };

/* Ordered by preference: AEAD first (Chromium offers both GCM profiles). */
static const char srtp_profiles[] =
    "SRTP_AEAD_AES_128_GCM:SRTP_AEAD_AES_256_GCM:SRTP_AES128_CM_SHA1_80:SRTP_AES128_CM_SHA1_32";
static const char ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA";

struct anchor_cert {
    SSL_CTX *ctx;
    char fingerprint[ANCHOR_FP_TEXT];
};

struct anchor_dtls {
    SSL *ssl;
    BIO *rbio; /* memory: one datagram in */
    struct anchor_dtls_cb cb;
    struct anchor_fp fp[ANCHOR_MAX_FP];
    int n_fp;
    int state;
    bool client;
    bool fp_checked;
    char error[160];
    uint8_t app[16384 + 64];
};

static int ssl_idx = -1;
static BIO_METHOD *sink_method;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* ---- the sink BIO: each write is one datagram ---- */

static int sink_write(BIO *b, const char *buf, int len)
{
    struct anchor_dtls *d = BIO_get_data(b);

    if (len <= 0)
        return 0;
    if (d && d->state != ANCHOR_DTLS_FAILED && d->state != ANCHOR_DTLS_CLOSED)
        d->cb.send(d->cb.arg, (const uint8_t *)buf, (size_t)len);
    return len; /* datagrams are fire and forget */
}

static long sink_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH: return 1;
    case BIO_CTRL_DGRAM_QUERY_MTU:
    case BIO_CTRL_DGRAM_GET_FALLBACK_MTU: return ANCHOR_DTLS_MTU;
    case BIO_CTRL_WPENDING:
    case BIO_CTRL_PENDING: return 0;
    default: return 0;
    }
}

static int sink_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void init_once(void)
{
    ssl_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    sink_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sedge-dtls-sink");
    if (sink_method) {
        BIO_meth_set_write(sink_method, sink_write);
        BIO_meth_set_ctrl(sink_method, sink_ctrl);
        BIO_meth_set_create(sink_method, sink_create);
    }
}

/* ---- certificate ---- */

static int fingerprint_text(X509 *x, char *out, size_t len)
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    size_t o;

    if (X509_digest(x, EVP_sha256(), md, &n) != 1 || n != 32)
        return SE_ERR_CRYPTO;
    o = (size_t)snprintf(out, len, "sha-256 ");
    for (unsigned i = 0; i < n && o + 3 < len; i++)
        o += (size_t)snprintf(out + o, len - o, "%s%02X", i ? ":" : "", md[i]);
    return 0;
}

static int verify_cb(int ok, X509_STORE_CTX *xs);

int anchor_cert_new(struct anchor_cert **out, char *err, size_t errlen)
{
    struct anchor_cert *c = calloc(1, sizeof(*c));
    EVP_PKEY *key = NULL;
    X509 *x = NULL;
    uint8_t serial[8];

    *out = NULL;
    pthread_once(&once, init_once);
    if (!c || ssl_idx < 0 || !sink_method) {
        snprintf(err, errlen, "anchor: out of memory");
        free(c);
        return SE_ERR_NOMEM;
    }
    if (!(key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) || !(x = X509_new()) ||
        RAND_bytes(serial, sizeof(serial)) != 1)
        goto fail;
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    X509_NAME *name = X509_get_subject_name(x);
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
        X509_set_version(x, 2) != 1 || !X509_gmtime_adj(X509_getm_notBefore(x), -86400) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), (long)CERT_DAYS * 86400) ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"sedge", -1,
                                   -1, 0) != 1 ||
        X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, key) != 1 ||
        X509_sign(x, key, EVP_sha256()) <= 0) {
        BN_free(bn);
        goto fail;
    }
    BN_free(bn);
    if (!(c->ctx = SSL_CTX_new(DTLS_method())) ||
        SSL_CTX_set_min_proto_version(c->ctx, DTLS1_2_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(c->ctx, DTLS1_2_VERSION) != 1 ||
        SSL_CTX_use_certificate(c->ctx, x) != 1 || SSL_CTX_use_PrivateKey(c->ctx, key) != 1 ||
        SSL_CTX_check_private_key(c->ctx) != 1 ||
        SSL_CTX_set_cipher_list(c->ctx, ciphers) != 1 ||
        SSL_CTX_set1_groups_list(c->ctx, "X25519:P-256:P-384") != 1 ||
        SSL_CTX_set_tlsext_use_srtp(c->ctx, srtp_profiles) != 0 ||
        fingerprint_text(x, c->fingerprint, sizeof(c->fingerprint)) < 0)
        goto fail;
    SSL_CTX_set_options(c->ctx, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET |
                                    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_read_ahead(c->ctx, 1);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
    SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_OFF);
    X509_free(x);
    EVP_PKEY_free(key);
    *out = c;
    return 0;
fail:
    snprintf(err, errlen, "anchor: cannot make the DTLS certificate: %s",
             ERR_reason_error_string(ERR_peek_last_error()));
    ERR_clear_error();
    X509_free(x);
    EVP_PKEY_free(key);
    anchor_cert_free(c);
    return SE_ERR_CRYPTO;
}

void anchor_cert_free(struct anchor_cert *c)
{
    if (!c)
        return;
    SSL_CTX_free(c->ctx);
    free(c);
}

const char *anchor_cert_fingerprint(const struct anchor_cert *c)
{
    return c->fingerprint;
}

/* ---- fingerprint check ---- */

static bool fp_matches(const struct anchor_dtls *d, X509 *x)
{
    for (int i = 0; x && i < d->n_fp; i++) {
        const EVP_MD *md = EVP_get_digestbynid(d->fp[i].nid);
        uint8_t out[EVP_MAX_MD_SIZE];
        unsigned n = 0;
        if (md && X509_digest(x, md, out, &n) == 1 && n == d->fp[i].len &&
            CRYPTO_memcmp(out, d->fp[i].md, n) == 0)
            return true;
    }
    return false;
}

static int verify_cb(int ok, X509_STORE_CTX *xs)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct anchor_dtls *d = ssl ? SSL_get_ex_data(ssl, ssl_idx) : NULL;

    (void)ok; /* self-signed: the chain never verifies; the fingerprint decides */
    if (!d)
        return 0;
    if (X509_STORE_CTX_get_error_depth(xs) != 0)
        return 1;
    if (fp_matches(d, X509_STORE_CTX_get_current_cert(xs))) {
        d->fp_checked = true;
        return 1;
    }
    snprintf(d->error, sizeof(d->error),
             "the party's certificate does not match the fingerprint in its description");
    return 0;
}

/* ---- a leg ---- */

/* Retransmission timer (RFC 6347 §4.2.4.1 leaves the initial value to the
 * implementation): 150 ms, doubling to 3 s. The first flight often
 * races the party's setRemoteDescription; 1 s (OpenSSL's default) would
 * be added to most call setups. */
static unsigned int dtls_timer(SSL *ssl, unsigned int prev_us)
{
    (void)ssl;
    if (prev_us == 0)
        return 150000;
    return prev_us >= 1500000 ? 3000000 : prev_us * 2;
}


struct anchor_dtls *anchor_dtls_new(struct anchor_cert *c, bool client, const struct anchor_fp *fp,
                                    int n_fp, const struct anchor_dtls_cb *cb)
{
    struct anchor_dtls *d = calloc(1, sizeof(*d));
    BIO *wbio = NULL;

    if (!d)
        return NULL;
    d->cb = *cb;
    d->client = client;
    d->n_fp = n_fp < ANCHOR_MAX_FP ? n_fp : ANCHOR_MAX_FP;
    memcpy(d->fp, fp, (size_t)d->n_fp * sizeof(*fp));
    if (!(d->ssl = SSL_new(c->ctx)) || !(d->rbio = BIO_new(BIO_s_mem())) ||
        !(wbio = BIO_new(sink_method))) {
        BIO_free(d->rbio);
        SSL_free(d->ssl);
        free(d);
        return NULL;
    }
    BIO_set_mem_eof_return(d->rbio, -1); /* empty: "try again", not EOF */
    BIO_set_data(wbio, d);
    SSL_set_bio(d->ssl, d->rbio, wbio); /* the SSL owns both now */
    SSL_set_ex_data(d->ssl, ssl_idx, d);
    DTLS_set_timer_cb(d->ssl, dtls_timer);
    SSL_set_mtu(d->ssl, ANCHOR_DTLS_MTU);
    DTLS_set_link_mtu(d->ssl, ANCHOR_DTLS_MTU);
    if (client)
        SSL_set_connect_state(d->ssl);
    else
        SSL_set_accept_state(d->ssl);
    return d;
}

void anchor_dtls_free(struct anchor_dtls *d)
{
    if (!d)
        return;
    SSL_free(d->ssl);
    free(d);
}

static void fail(struct anchor_dtls *d, const char *what, int ssl_err)
{
    unsigned long e = ERR_peek_last_error();

    if (!d->error[0]) {
        long vr = SSL_get_verify_result(d->ssl);
        snprintf(d->error, sizeof(d->error), "%s: %s", what,
                 e ? ERR_reason_error_string(e)
                   : vr != X509_V_OK ? X509_verify_cert_error_string(vr)
                                     : ssl_err == SSL_ERROR_SYSCALL ? "closed" : "protocol error");
    }
    ERR_clear_error();
    d->state = ANCHOR_DTLS_FAILED;
}

static void handshake(struct anchor_dtls *d)
{
    int r = SSL_do_handshake(d->ssl);

    if (r == 1) {
        if (!fp_matches(d, SSL_get0_peer_certificate(d->ssl))) {
            snprintf(d->error, sizeof(d->error),
                     "the party's certificate does not match the fingerprint in its description");
            d->state = ANCHOR_DTLS_FAILED;
            return;
        }
        if (!SSL_get_selected_srtp_profile(d->ssl)) {
            snprintf(d->error, sizeof(d->error), "no SRTP profile in common (use_srtp)");
            d->state = ANCHOR_DTLS_FAILED;
            return;
        }
        d->state = ANCHOR_DTLS_CONNECTED;
        return;
    }
    int e = SSL_get_error(d->ssl, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
        fail(d, "handshake failed", e);
}

void anchor_dtls_start(struct anchor_dtls *d)
{
    if (d->state != ANCHOR_DTLS_NEW)
        return;
    d->state = ANCHOR_DTLS_HANDSHAKE;
    if (d->client)
        handshake(d);
}

int anchor_dtls_input(struct anchor_dtls *d, const uint8_t *buf, size_t len)
{
    if (d->state == ANCHOR_DTLS_FAILED || d->state == ANCHOR_DTLS_CLOSED || len > INT32_MAX)
        return d->state;
    if (d->state == ANCHOR_DTLS_NEW) {
        if (d->client)
            return d->state; /* not our turn yet: the party speaks after us */
        d->state = ANCHOR_DTLS_HANDSHAKE;
    }
    (void)BIO_reset(d->rbio); /* one datagram at a time */
    if (BIO_write(d->rbio, buf, (int)len) != (int)len)
        return d->state;
    if (d->state == ANCHOR_DTLS_HANDSHAKE) {
        handshake(d);
        if (d->state != ANCHOR_DTLS_CONNECTED)
            return d->state;
    }
    for (;;) {
        int n = SSL_read(d->ssl, d->app, sizeof(d->app));
        if (n > 0) {
            d->cb.app(d->cb.arg, d->app, (size_t)n);
            if (d->state != ANCHOR_DTLS_CONNECTED)
                break;
            continue;
        }
        int e = SSL_get_error(d->ssl, n);
        if (e == SSL_ERROR_ZERO_RETURN)
            d->state = ANCHOR_DTLS_CLOSED;
        else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            fail(d, "record layer", e);
        break;
    }
    ERR_clear_error();
    return d->state;
}

int anchor_dtls_write(struct anchor_dtls *d, const uint8_t *buf, size_t len)
{
    if (d->state != ANCHOR_DTLS_CONNECTED)
        return SE_ERR_AGAIN;
    if (len == 0 || len > sizeof(d->app))
        return SE_ERR_TOOBIG;
    int n = SSL_write(d->ssl, buf, (int)len);
    if (n != (int)len) {
        ERR_clear_error();
        return SE_ERR_TLS;
    }
    return 0;
}

void anchor_dtls_tick(struct anchor_dtls *d)
{
    struct timeval tv;

    if (d->state != ANCHOR_DTLS_HANDSHAKE)
        return;
    if (DTLSv1_get_timeout(d->ssl, &tv) == 1 && tv.tv_sec == 0 && tv.tv_usec == 0 &&
        DTLSv1_handle_timeout(d->ssl) < 0)
        fail(d, "handshake timed out", SSL_ERROR_SSL);
}

int anchor_dtls_state(const struct anchor_dtls *d)
{
    return d->state;
}

bool anchor_dtls_is_client(const struct anchor_dtls *d)
{
    return d->client;
}

const char *anchor_dtls_error(const struct anchor_dtls *d)
{
    return d->error;
}

const char *anchor_srtp_profile_name(int profile)
{
    switch (profile) {
    case ANCHOR_SRTP_AES128_CM_SHA1_80: return "AES_CM_128_HMAC_SHA1_80";
    case ANCHOR_SRTP_AES128_CM_SHA1_32: return "AES_CM_128_HMAC_SHA1_32";
    case ANCHOR_SRTP_AEAD_AES_128_GCM: return "AEAD_AES_128_GCM";
    case ANCHOR_SRTP_AEAD_AES_256_GCM: return "AEAD_AES_256_GCM";
    }
    return "?";
}

int anchor_dtls_keys(const struct anchor_dtls *d, struct anchor_srtp_keys *k)
{
    static const char label[] = "EXTRACTOR-dtls_srtp"; /* RFC 5764 §4.2 */
    const SRTP_PROTECTION_PROFILE *p;
    uint8_t m[EXPORTER_MAX];

    memset(k, 0, sizeof(*k));
    if (d->state != ANCHOR_DTLS_CONNECTED || !(p = SSL_get_selected_srtp_profile(d->ssl)))
        return SE_ERR_INVAL;
    switch (p->id) {
    case SRTP_AES128_CM_SHA1_80:
    case SRTP_AES128_CM_SHA1_32: k->key_len = 16, k->salt_len = 14; break;
    case SRTP_AEAD_AES_128_GCM: k->key_len = 16, k->salt_len = 12; break;
    case SRTP_AEAD_AES_256_GCM: k->key_len = 32, k->salt_len = 12; break;
    default: return SE_ERR_UNSUPP;
    }
    k->profile = (int)p->id;
    size_t kl = k->key_len, sl = k->salt_len;
    if (SSL_export_keying_material(d->ssl, m, 2 * (kl + sl), label, sizeof(label) - 1, NULL, 0,
                                   0) != 1) {
        ERR_clear_error();
        return SE_ERR_CRYPTO;
    }
    /* client key | server key | client salt | server salt */
    const uint8_t *ck = m, *sk = m + kl, *cs = m + 2 * kl, *ss = m + 2 * kl + sl;
    memcpy(k->local, d->client ? ck : sk, kl);
    memcpy(k->local + kl, d->client ? cs : ss, sl);
    memcpy(k->remote, d->client ? sk : ck, kl);
    memcpy(k->remote + kl, d->client ? ss : cs, sl);
    OPENSSL_cleanse(m, sizeof(m));
    return 0;
}
