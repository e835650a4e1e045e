/*
 * srtp.c - libsrtp2 contexts for a leg (see srtp.h).
 *
 * libsrtp2 is initialised once per process. The mapping from the DTLS
 * profile to libsrtp's crypto policies follows RFC 5764 §4.1.2 and
 * RFC 7714 §14.2: for AES_CM_128_HMAC_SHA1_32, RTCP keeps the 80-bit tag.
 */
#include "relay/anchor/srtp.h"
#include "core/err.h"
#include "core/log.h"
#include "relay/anchor/dtls.h"

#include <pthread.h>
#include <srtp2/srtp.h>
#include <stdlib.h>
#include <string.h>

struct anchor_srtp {
    srtp_t rx, tx;
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static srtp_err_status_t init_status = srtp_err_status_fail;

static void init_once(void)
{
    init_status = srtp_init();
}

static int policy_for(int profile, srtp_policy_t *p)
{
    switch (profile) {
    case ANCHOR_SRTP_AES128_CM_SHA1_80:
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtcp);
        return 0;
    case ANCHOR_SRTP_AES128_CM_SHA1_32:
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&p->rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtcp);
        return 0;
    case ANCHOR_SRTP_AEAD_AES_128_GCM:
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtcp);
        return 0;
    case ANCHOR_SRTP_AEAD_AES_256_GCM:
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&p->rtp);
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&p->rtcp);
        return 0;
    }
    return SE_ERR_UNSUPP;
}

static int make(srtp_t *ctx, int profile, const uint8_t *key, bool inbound)
{
    srtp_policy_t p;
    uint8_t k[ANCHOR_SRTP_KEY_MAX];

    memset(&p, 0, sizeof(p));
    if (policy_for(profile, &p) < 0)
        return SE_ERR_UNSUPP;
    memcpy(k, key, sizeof(k));
    p.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
    p.key = k;
    p.window_size = ANCHOR_SRTP_WINDOW;
    p.allow_repeat_tx = 1;
    srtp_err_status_t st = srtp_create(ctx, &p);
    memset(k, 0, sizeof(k));
    return st == srtp_err_status_ok ? 0 : SE_ERR_CRYPTO;
}

int anchor_srtp_new(struct anchor_srtp **out, const struct anchor_srtp_keys *k)
{
    struct anchor_srtp *s;

    *out = NULL;
    pthread_once(&once, init_once);
    if (init_status != srtp_err_status_ok)
        return SE_ERR_CRYPTO;
    if (!(s = calloc(1, sizeof(*s))))
        return SE_ERR_NOMEM;
    if (make(&s->rx, k->profile, k->remote, true) < 0 ||
        make(&s->tx, k->profile, k->local, false) < 0) {
        anchor_srtp_free(s);
        return SE_ERR_CRYPTO;
    }
    *out = s;
    return 0;
}

void anchor_srtp_free(struct anchor_srtp *s)
{
    if (!s)
        return;
    if (s->rx)
        srtp_dealloc(s->rx);
    if (s->tx)
        srtp_dealloc(s->tx);
    free(s);
}

static int map(srtp_err_status_t st)
{
    switch (st) {
    case srtp_err_status_ok: return 0;
    case srtp_err_status_auth_fail: return SE_ERR_AUTH;
    case srtp_err_status_replay_fail:
    case srtp_err_status_replay_old: return SE_ERR_STALE;
    case srtp_err_status_bad_param: return SE_ERR_PARSE;
    default: return SE_ERR_CRYPTO;
    }
}

int anchor_srtp_unprotect(struct anchor_srtp *s, uint8_t *buf, int *len, bool rtcp)
{
    return map(rtcp ? srtp_unprotect_rtcp(s->rx, buf, len) : srtp_unprotect(s->rx, buf, len));
}

int anchor_srtp_protect(struct anchor_srtp *s, uint8_t *buf, int *len, bool rtcp)
{
    return map(rtcp ? srtp_protect_rtcp(s->tx, buf, len) : srtp_protect(s->tx, buf, len));
}
