/*
 * alloc.h - TURN allocations (RFC 8656 §7-§12) and their lifecycle
 * (alloc.c): creation, permissions, channels, expiry, re-checks, the end.
 *
 * An allocation belongs to the worker that created it (a->w) and is only
 * touched on that worker's thread. Its fields are visible to the relay's
 * own files because the packet path (peer.c, turn.c, uring.c, offload/)
 * reads counters, channels and permissions inline; only alloc.c creates,
 * changes the lifecycle of, or frees one.
 */
#ifndef SE_RELAY_ALLOC_H
#define SE_RELAY_ALLOC_H

#include "auth/auth.h"
#include "core/addr.h"
#include "relay/bwcap.h"
#include "relay/client.h"
#include "relay/worker.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct event;
struct pol_decision;
struct ofl_alloc;

enum {
    PERMISSION_LIFETIME = 300,    /* RFC 8656 §9 */
    CHANNEL_LIFETIME = 600,       /* RFC 8656 §12 */
};

struct permission {
    uint8_t ip[16];
    int64_t expires; /* monotonic seconds */
};

struct channel {
    uint16_t number;
    struct se_addr peer;
    int64_t expires;
};

struct relay_sock {
    struct allocation *alloc;
    struct event *ev;  /* epoll path; NULL with io_uring */
    int fd;
    uint32_t ur_slot;  /* io_uring path (uring.c) */
    struct se_addr addr;
    bool ur_armed;
};

struct allocation {
    /* Ordered by size, so the compiler adds no padding: an idle
     * allocation's memory is a benchmark target (docs/benchmark.md). */
    struct worker *w;
    struct allocation *hnext;       /* UDP 5-tuple hash chain */
    struct allocation *prev, *next; /* worker's list */
    struct client_ref client;
    struct relay_sock relay[2]; /* IPv4 and/or IPv6 (RFC 8656 §7.2 dual) */
    char *user;         /* the USERNAME as sent (REST: "expiry:user[:origin]") */
    char *quota_user;   /* the user the per-user quota counts against */
    char *origin;       /* a REST credential's origin (decoded), or NULL */
    struct permission *perms;
    struct channel *chans;
    struct ofl_alloc *offload; /* channels the kernel forwards (relay/offload/), or NULL */
    int64_t expires, started; /* monotonic */
    int64_t started_wall;
    int64_t deadline;      /* monotonic end of a max-duration limit; 0 = none */
    int64_t next_update;   /* monotonic time of the next session UPDATE */
    uint64_t pkts_from_client, bytes_from_client, pkts_to_client, bytes_to_client;
    uint64_t reported_pkts;
    uint64_t seen_pkts;    /* packets both ways at the last cron */
    int64_t active_at;     /* monotonic: the last cron that saw packets move */
    uint64_t sid;          /* session id (relay_event.sid) */
    int64_t rule_id;       /* the rule that allowed it; 0 = default action */
    struct bwcap rl_out, rl_in; /* client->peer, peer->client */
    uint32_t granted_lifetime;
    uint16_t user_len;     /* STUN attributes are < 64 KiB */
    uint16_t n_perms, cap_perms;
    uint16_t n_chans, cap_chans;
    uint8_t key[AUTH_SHA256_KEY_LEN];
    uint8_t keylen;
    uint8_t tid[12];       /* the Allocate that created it, for retransmits */
    int8_t record;         /* enum pol_record */
    uint8_t n_relay;
    bool peers_changed;
    char text[]; /* user, quota_user and origin point here */
};

/* What an Allocate asks for, already parsed and authorised (turn.c).
 * Every pointer is borrowed for the call. */
struct alloc_request {
    const struct client_ref *client;
    const char *user;     /* USERNAME as sent, user_len bytes */
    size_t user_len;
    const char *quota_user; /* the user the per-user quota counts against */
    const uint8_t *key;   /* the long-term key it authenticated with */
    size_t keylen;
    const uint8_t *tid;   /* 12 bytes: the Allocate's transaction ID */
    int family;           /* AF_INET or AF_INET6 */
    bool dual;            /* also allocate IPv6 (ADDITIONAL-ADDRESS-FAMILY) */
    bool even_port, reserve_next;
    const uint8_t *token; /* RESERVATION-TOKEN or NULL */
    bool dont_fragment;
    uint32_t lifetime;
    const char *origin;   /* decoded REST origin or NULL */
    const struct pol_decision *policy; /* the Allocate decision (allowed) */
};
/* What the answer to it says besides the allocation. */
struct alloc_outcome {
    int stun_err;         /* no allocation: the STUN error to answer with */
    int dual_err;         /* the IPv6 half was refused (440 or 508), or 0 */
    bool has_token;       /* EVEN-PORT R: token reserves the next port */
    uint8_t token[8];
};
/* Create an allocation for req: returns it (owned by w, ended with
 * alloc_free), or NULL with out->stun_err set. */
struct allocation *alloc_create(struct worker *w, const struct alloc_request *req,
                                struct alloc_outcome *out);
void alloc_free(struct allocation *a, const char *reason);
/* All or nothing (RFC 8656 §9.2, §11.2): reserve room for the
 * permissions of ips[0..n) (duplicates and existing ones count once;
 * expired slots are reused) and for a channel number, checking the
 * limits; after both succeed, the installs below cannot fail.
 * 0, SE_ERR_LIMIT or SE_ERR_NOMEM; nothing is installed either way. */
int alloc_perms_reserve(struct allocation *a, const uint8_t (*ips)[16], int n);
int alloc_chan_reserve(struct allocation *a, uint16_t number);
void alloc_perms_install(struct allocation *a, const uint8_t (*ips)[16], int n);
int alloc_perm_install(struct allocation *a, const uint8_t ip[16]);
int alloc_chan_install(struct allocation *a, uint16_t number, const struct se_addr *peer);
struct relay_sock *alloc_relay_for(struct allocation *a, int family);
/* Housekeeping: expire allocations, permissions, channels. */
void alloc_cron(struct worker *w);
/* Draining: end the allocations that moved no packet for idle_s seconds
 * (they would hold the exit for nothing). 0 = keep them. */
void alloc_drain_idle(struct worker *w, unsigned idle_s);
/* Comma-separated permission IPs of a, truncated to len. */
void alloc_peers_str(const struct allocation *a, char *buf, size_t len);
/* Re-check every allocation of w against its current snapshot
 * (verdict.h): revoked credentials (with check_creds: after a snapshot
 * swap), disabled users and denied rules end it ("revoked"); newly
 * denied peers lose their permissions and channels; limits follow the
 * rule that now decides. */
void alloc_recheck_all(struct worker *w, bool check_creds);

/* Lookups of the packet path (both directions, every datagram): short
 * linear scans, inline so that peer.c and turn.c pay no call for them. */
static inline struct permission *alloc_perm_find(struct allocation *a, const uint8_t ip[16])
{
    for (uint16_t i = 0; i < a->n_perms; i++)
        if (memcmp(a->perms[i].ip, ip, 16) == 0)
            return &a->perms[i];
    return NULL;
}

static inline struct channel *alloc_chan_by_number(struct allocation *a, uint16_t number)
{
    for (uint16_t i = 0; i < a->n_chans; i++)
        if (a->chans[i].number == number)
            return &a->chans[i];
    return NULL;
}

static inline struct channel *alloc_chan_by_peer(struct allocation *a, const struct se_addr *peer)
{
    for (uint16_t i = 0; i < a->n_chans; i++)
        if (se_addr_eq(&a->chans[i].peer, peer))
            return &a->chans[i];
    return NULL;
}

#endif
