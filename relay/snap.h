/*
 * snap.h - the fields of a relay snapshot, for the relay's own files.
 *
 * relay.h gives the rest of sedge an opaque struct relay_snap; inside
 * relay/ the workers read these fields directly. A snapshot is immutable
 * once published: every field is read without a lock by any worker that
 * holds a reference (snap.c: reference counting, the TLS context).
 */
#ifndef SE_RELAY_SNAP_H
#define SE_RELAY_SNAP_H

#include "relay/relay.h"

#include <stdatomic.h>
#include <stdbool.h>

struct relay_snap {
    atomic_int refs;
    struct auth_creds *creds;
    struct pol_peers *peers;
    struct pol_rules *rules;
    SSL_CTX *tls;
    char realm[128];
    char software[64];
    bool features;
    unsigned nonce_lifetime;
    unsigned max_allocations, max_allocations_per_user, max_allocations_per_ip;
    unsigned max_permissions, max_channels;
    unsigned default_lifetime, max_lifetime;
    unsigned stream_out_max;
    unsigned max_connections, max_connections_per_ip; /* TCP/TLS (stream.c) */
    unsigned tls_handshake_timeout, stream_idle_timeout, stream_stall_timeout;
    unsigned allocate_rate_per_user, allocate_burst_per_user;
    unsigned tls_handshake_rate_per_ip, tls_handshake_burst_per_ip;
    unsigned policy_recheck, session_update;
};

#endif
