/*
 * config.h - sedge.conf (libconfig syntax), loaded and validated once.
 *
 * se_config_load() reads the file, checks every setting and returns a
 * complete struct or an error message that names the setting and its
 * line. The struct is immutable after load; a reload builds a new one.
 * Documented in docs/admin.md and deploy/sedge.conf.
 */
#ifndef SE_CONFIG_H
#define SE_CONFIG_H

#include "core/addr.h"

#include <stdbool.h>
#include <stddef.h>

enum se_transport { SE_TP_UDP = 0, SE_TP_TCP = 1, SE_TP_TLS = 2 };
enum { SE_MAX_LISTEN = 16, SE_PATH_MAX = 512 };
enum { SE_API_MAX_JWT = 8, SE_API_MAX_CORS = 16 };

/* One trusted JWT issuer key (api.jwt list entry). */
struct se_api_jwt {
    char issuer[256];
    char audience[256];
    char key[SE_PATH_MAX]; /* PEM public key file */
    char alg[8];           /* "RS256" or "ES256" */
};

/* The HTTPS control API (the `api` group); enabled only if present. */
struct se_api_config {
    bool enabled;
    struct se_addr addr; /* ip + port */
    char tls_cert[SE_PATH_MAX], tls_key[SE_PATH_MAX]; /* resolved: api.tls or tls */
    char turn_host[256];  /* host part of the returned TURN URIs */
    char user_claim[64];  /* JWT claim naming the user */
    struct se_api_jwt jwt[SE_API_MAX_JWT];
    int n_jwt;
    char cors[SE_API_MAX_CORS][256]; /* allowed Origins; a trailing star matches the rest */
    int n_cors;
    unsigned credential_ttl;  /* seconds a minted TURN credential lives */
    unsigned rate, burst;     /* requests per second per source, bucket size */
    unsigned max_connections; /* concurrent HTTPS connections */
    unsigned max_body;        /* request body bytes */
    unsigned max_headers;     /* request line + header bytes */
    unsigned timeout;         /* seconds to deliver each complete request */
    /* api.management: a second listener for admin endpoints and /metrics
     * (no token for /metrics there), with its own connection budget. */
    bool mgmt_enabled;
    struct se_addr mgmt_addr;
    unsigned mgmt_max_connections;
};

/*
 * The anchor (the `anchor` group, docs/anchor.md): where sedge terminates
 * DTLS-SRTP. Its addresses are also what a `record always` credential may
 * relay to, and nothing else (the fail-closed rule, docs/policy.md).
 */
struct se_anchor_config {
    bool enabled;
    struct se_addr inside, outside;         /* bound (port 0) */
    struct se_addr inside_adv, outside_adv; /* put in SDP; = bound if not set */
    uint16_t min_port, max_port;            /* its own UDP range */
    unsigned max_sessions;                  /* whole server (429 beyond) */
    unsigned max_sessions_per_user;         /* per user (429 beyond) */
    unsigned setup_timeout;                 /* seconds for both legs to connect */
    unsigned threads;                       /* media threads */
};

/* relay.io: io_uring for the relay sockets where the kernel allows it. */
enum se_relay_io { SE_IO_AUTO, SE_IO_URING, SE_IO_EPOLL };
/* relay.offload: channel data forwarded by the kernel (relay/offload/). */
enum se_relay_offload { SE_OFFLOAD_AUTO, SE_OFFLOAD_BPF, SE_OFFLOAD_OFF };

struct se_listen {
    int transport;       /* enum se_transport */
    struct se_addr addr; /* ip + port */
    /* TCP/TLS behind a load balancer: every connection starts with a PROXY
     * protocol v1/v2 header naming the real client, and is accepted only
     * from proxy_from (owned; NULL unless proxy_protocol). */
    bool proxy_protocol;
    struct se_cidr_set *proxy_from;
};

/* recording.on_failure */
enum se_rec_on_failure {
    SE_REC_ON_FAILURE_DEFAULT = 0, /* unset: terminate for `record always`, else continue */
    SE_REC_ON_FAILURE_CONTINUE,
    SE_REC_ON_FAILURE_TERMINATE, /* "terminate", or its alias "end_call" */
};

struct se_config {
    char path[SE_PATH_MAX];
    char realm[128];
    char database[SE_PATH_MAX];
    char software[64]; /* SOFTWARE attribute; "" to omit */
    struct se_listen listen[SE_MAX_LISTEN];
    int n_listen;
    struct se_addr relay_v4, relay_v6;
    bool has_relay_v4, has_relay_v6;
    /* relay.external_address / external_address6: what XOR-RELAYED-ADDRESS
     * says behind a 1:1 NAT (the sockets stay bound to relay_v4/v6) */
    struct se_addr relay_ext_v4, relay_ext_v6;
    bool has_relay_ext_v4, has_relay_ext_v6;
    /* user / group: who `sedge serve` runs as after start ("" = unchanged) */
    char run_user[64], run_group[64];
    uint16_t min_port, max_port;
    int relay_io; /* enum se_relay_io: how relay sockets are read and written */
    unsigned relay_io_buffers; /* io_uring receive buffers per worker (power of two) */
    int relay_offload; /* enum se_relay_offload */
    char tls_cert[SE_PATH_MAX], tls_key[SE_PATH_MAX];
    struct se_cidr_set *peer_allow; /* owned */
    struct se_cidr_set *peer_deny;  /* owned */
    int workers;                    /* resolved: >= 1 */
    int log_level;
    int log_format; /* SE_LOG_TEXT or SE_LOG_JSON */
    /* limits */
    unsigned max_allocations;
    unsigned max_allocations_per_user;
    unsigned max_allocations_per_ip; /* per client IPv4 address / IPv6 /64; 0 = no limit */
    unsigned max_permissions; /* per allocation */
    unsigned max_channels;    /* per allocation */
    unsigned default_lifetime, max_lifetime; /* seconds, RFC 8656 §7.2 */
    unsigned nonce_lifetime;
    unsigned auth_fail_limit, auth_fail_window, auth_block_time;
    unsigned auth_source_fail_limit; /* failures for any users that block a whole source */
    unsigned challenge_rate; /* oversized 401/438 per source per second */
    unsigned drain_timeout; /* drain.timeout (also limits.drain_timeout) */
    unsigned drain_idle;    /* drain.idle: allocations quiet this long are not waited for */
    struct se_addr drain_alternate; /* drain.alternate: 300 ALTERNATE-SERVER while draining */
    bool has_drain_alternate;
    unsigned stream_out_max; /* bytes queued to a TCP/TLS client before dropping */
    unsigned max_connections;        /* TCP/TLS client connections in all */
    unsigned max_connections_per_ip; /* per IPv4 address / IPv6 /64; 0 = no limit */
    unsigned tls_handshake_timeout;  /* seconds */
    unsigned stream_idle_timeout;    /* seconds a connection may go without an allocation */
    unsigned stream_stall_timeout;   /* seconds a client may leave our data unread */
    unsigned allocate_rate_per_user, allocate_burst_per_user; /* Allocates/s; 0 = no limit */
    unsigned tls_handshake_rate_per_ip, tls_handshake_burst_per_ip; /* per s; 0 = no limit */
    bool security_features;  /* RFC 8489 nonce cookie + PASSWORD-ALGORITHMS */
    /* policy */
    bool policy_default_allow;  /* when no rule matches */
    char policy_timezone[64];   /* IANA name for days/hours windows */
    unsigned policy_recheck;    /* seconds between re-checks of live allocations */
    unsigned session_update;    /* seconds between session row counter updates */
    struct se_api_config api;
    struct se_anchor_config anchor;
    /* recording = { ... } (docs/recording.md) */
    char rec_dir[SE_PATH_MAX];           /* where recordings go; "" = not set */
    char rec_sign_key_file[SE_PATH_MAX]; /* HMAC secret or Ed25519 PEM; "" = unsigned */
    bool rec_key_default;                /* the path above is the default (created on use) */
    char rec_keyring_dir[SE_PATH_MAX];   /* retired keys that still verify */
    unsigned rec_fsync_interval;         /* ms between fdatasyncs; 0 = only at close */
    unsigned rec_retention;              /* days a recording is kept; 0 = no deadline */
    enum se_rec_on_failure rec_on_failure; /* on_failure; see se_config_rec_end_call() */
    unsigned rec_purge_interval;         /* seconds between retention passes */
};

/*
 * Whether a call whose recording failed is ended (recording.on_failure):
 * "terminate" (or its alias "end_call") ends it, "continue" lets it go
 * on unrecorded; unset, a call that policy requires to be recorded
 * (record_required: a `record always` rule) is ended, any other goes on.
 * The producer asks this when the recording's on_fail callback fires
 * (record/rec.h; docs/recording.md).
 */
bool se_config_rec_end_call(const struct se_config *c, bool record_required);

/*
 * Load and validate path. On success *out is a new config (caller frees
 * with se_config_free). On failure returns SE_ERR_CONFIG and writes
 * "FILE:LINE: setting: problem" into err.
 */
int se_config_load(const char *path, struct se_config **out, char *err, size_t errlen);
void se_config_free(struct se_config *c);

const char *se_transport_name(int t);

#endif
