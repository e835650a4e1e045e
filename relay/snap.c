/*
 * snap.c - the relay snapshot and the TLS context.
 *
 * A snapshot is what the data path reads: credentials, the peer filter,
 * the TLS context and the limits, frozen together. The control thread
 * creates one per change and hands a reference to each worker; the last
 * unref (a worker swapping in a newer one, or shutdown) frees it, so no
 * worker ever reads freed memory and none ever takes a lock to read.
 */
#include "relay/snap.h"
#include "auth/auth.h"
#include "core/config.h"
#include "core/err.h"
#include "policy/peers.h"
#include "policy/rules.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct relay_snap *relay_snap_new(const struct se_config *cfg, struct auth_creds *creds,
                                  struct pol_peers *peers, struct pol_rules *rules, SSL_CTX *tls)
{
    struct relay_snap *s = calloc(1, sizeof(*s));

    if (!s) {
        auth_creds_free(creds);
        pol_peers_free(peers);
        pol_rules_free(rules);
        return NULL;
    }
    atomic_init(&s->refs, 1);
    s->creds = creds;
    s->peers = peers;
    s->rules = rules;
    if (tls && SSL_CTX_up_ref(tls) == 1)
        s->tls = tls;
    snprintf(s->realm, sizeof(s->realm), "%s", cfg->realm);
    snprintf(s->software, sizeof(s->software), "%s", cfg->software);
    s->features = cfg->security_features;
    s->nonce_lifetime = cfg->nonce_lifetime;
    s->max_allocations = cfg->max_allocations;
    s->max_allocations_per_user = cfg->max_allocations_per_user;
    s->max_allocations_per_ip = cfg->max_allocations_per_ip;
    s->max_permissions = cfg->max_permissions;
    s->max_channels = cfg->max_channels;
    s->default_lifetime = cfg->default_lifetime;
    s->max_lifetime = cfg->max_lifetime;
    s->stream_out_max = cfg->stream_out_max;
    s->max_connections = cfg->max_connections;
    s->max_connections_per_ip = cfg->max_connections_per_ip;
    s->tls_handshake_timeout = cfg->tls_handshake_timeout;
    s->stream_idle_timeout = cfg->stream_idle_timeout;
    s->stream_stall_timeout = cfg->stream_stall_timeout;
    s->allocate_rate_per_user = cfg->allocate_rate_per_user;
    s->allocate_burst_per_user = cfg->allocate_burst_per_user;
    s->tls_handshake_rate_per_ip = cfg->tls_handshake_rate_per_ip;
    s->tls_handshake_burst_per_ip = cfg->tls_handshake_burst_per_ip;
    s->policy_recheck = cfg->policy_recheck;
    s->session_update = cfg->session_update;
    return s;
}

const struct pol_rules *relay_snap_rules(const struct relay_snap *s)
{
    return s->rules;
}

const struct pol_peers *relay_snap_peers(const struct relay_snap *s)
{
    return s->peers;
}

void relay_snap_ref(struct relay_snap *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void relay_snap_unref(struct relay_snap *s)
{
    if (!s)
        return;
    /* acq_rel: the freeing thread must see every reader's last use. */
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    auth_creds_free(s->creds);
    pol_peers_free(s->peers);
    pol_rules_free(s->rules);
    SSL_CTX_free(s->tls);
    free(s);
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char proto[] = "\x09stun.turn";
    unsigned char *sel = NULL;

    (void)ssl;
    (void)arg;
    if (SSL_select_next_proto(&sel, outlen, proto, sizeof(proto) - 1, in, inlen) ==
        OPENSSL_NPN_NEGOTIATED) {
        *out = sel;
        return SSL_TLSEXT_ERR_OK;
    }
    /* A client offering only other protocols still gets TURN. */
    return SSL_TLSEXT_ERR_NOACK;
}

SSL_CTX *relay_tls_ctx_new(const char *cert, const char *key, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (!ctx) {
        snprintf(err, errlen, "TLS: cannot create context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        snprintf(err, errlen, "tls.cert: cannot load certificate chain \"%s\": %s", cert,
                 ERR_reason_error_string(ERR_get_error()));
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        snprintf(err, errlen, "tls.key: cannot load private key \"%s\": %s", key,
                 ERR_reason_error_string(ERR_get_error()));
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "tls.key: \"%s\" does not match tls.cert \"%s\"", key, cert);
        goto fail;
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}
