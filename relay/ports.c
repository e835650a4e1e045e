/*
 * ports.c - relay ports, EVEN-PORT reservations and what allocations hold.
 *
 * Relay ports are picked at random from the configured range (RFC 8656
 * §7.2, RFC 6056: a client must not predict another's relayed address);
 * the kernel's bind() is the arbiter of which are free, so workers share
 * no port map.
 *
 * What an allocation holds - a place in limits.max_allocations, in its
 * user's quota and in its client source's quota (IPv4 address or IPv6
 * /64, ipcount.c) - is taken and given back here (ports_hold/release),
 * all or none. A reservation (EVEN-PORT with R) holds a port and an fd
 * just like an allocation, so it holds the same places until it is
 * redeemed by its RESERVATION-TOKEN or expires after 30 s.
 *
 * Reservations and per-user quotas are server-wide and take the server
 * lock; both happen only at Allocate, teardown and the 1 s cron, never
 * per packet.
 */
#include "relay/ports.h"
#include "core/err.h"
#include "relay/ipcount.h"
#include "relay/server.h"
#include "relay/snap.h"
#include "relay/worker.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
    PORT_SEARCH_MAX = 512,     /* bind attempts before answering 508 */
    PORT_RANDOM_TRIES = 16,    /* of those, independent random picks */
    RELAY_SOCK_RCVBUF = 512 * 1024, /* per relay socket (the kernel doubles it) */
    RESERVATION_LIFETIME = 30, /* RFC 8656 §7.2: "about 30 seconds" */
};

/* A port held for a later Allocate with RESERVATION-TOKEN (RFC 8656
 * §7.2). It counts as an allocation of its user and its client's source
 * until it is redeemed or expires. */
struct reservation {
    uint8_t token[8];
    int fd;
    struct se_addr addr;
    int64_t expires;
    uint8_t source[16]; /* ipc_source_key of the client that made it */
    struct reservation *next;
    char quota_user[];     /* the user it counts against */
};

struct user_quota {
    char *name;
    unsigned count;
    struct user_quota *next;
};

/* ---- quotas ---- */

/* Count n more allocations for user, if that stays within max. */
static int quota_take(struct relay_server *srv, const char *user, unsigned max, unsigned n)
{
    struct user_quota *q;
    int rc = 0;

    pthread_mutex_lock(&srv->lock);
    for (q = srv->quotas; q && strcmp(q->name, user) != 0; q = q->next)
        ;
    if (!q) {
        q = calloc(1, sizeof(*q));
        if (!q || !(q->name = strdup(user))) {
            free(q);
            rc = SE_ERR_NOMEM;
            goto out;
        }
        q->next = srv->quotas;
        srv->quotas = q;
    }
    if (q->count + n > max) {
        rc = SE_ERR_LIMIT;
        if (q->count == 0) { /* just created: keep no empty entry */
            srv->quotas = q->next;
            free(q->name);
            free(q);
        }
    } else {
        q->count += n;
    }
out:
    pthread_mutex_unlock(&srv->lock);
    return rc;
}

static void quota_release(struct relay_server *srv, const char *user, unsigned n)
{
    pthread_mutex_lock(&srv->lock);
    for (struct user_quota **pp = &srv->quotas; *pp; pp = &(*pp)->next) {
        struct user_quota *q = *pp;
        if (strcmp(q->name, user) == 0) {
            q->count = q->count > n ? q->count - n : 0;
            if (q->count == 0) {
                *pp = q->next;
                free(q->name);
                free(q);
            }
            break;
        }
    }
    pthread_mutex_unlock(&srv->lock);
}

/* ---- relay ports ---- */

static int bind_udp(const struct se_addr *ip, uint16_t port)
{
    struct se_addr a = *ip;
    struct sockaddr_storage ss;
    socklen_t sl;
    int fd = socket(ip->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    a.port = port;
    sl = se_addr_to_sockaddr(&a, &ss);
    if (ip->family == AF_INET6) {
        int one = 1;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
        close(fd);
        return -1;
    }
    /* Room for a video key frame burst (a few hundred datagrams) from a
     * peer; the kernel charges only what is queued. */
    int rcv = RELAY_SOCK_RCVBUF;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    return fd;
}

/* A uniformly random number below n (n > 0), unpredictable to clients. */
static unsigned random_below(unsigned n)
{
    uint32_t r;

    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
        r = (uint32_t)random(); /* never seen in practice; still spread */
    return (unsigned)(((uint64_t)r * n) >> 32);
}

/*
 * Bind a relay port on ip; with reserve_next also port+1 into *fd2.
 * Ports are random within the range (RFC 8656 §7.2, RFC 6056 §3.3.2):
 * a fresh random candidate for each of the first PORT_RANDOM_TRIES
 * attempts, then a walk from a random place so a nearly full range
 * still finds its free ports. bind() is the arbiter of what is free.
 */
int ports_bind(struct relay_server *srv, const struct se_addr *ip, bool even, bool reserve_next,
               int *fd, uint16_t *port, int *fd2)
{
    const struct se_config *cfg = srv->cfg;
    unsigned range = (unsigned)cfg->max_port - cfg->min_port + 1;
    unsigned start = random_below(range);
    unsigned tries = range < PORT_SEARCH_MAX ? range : PORT_SEARCH_MAX;

    for (unsigned i = 0; i < tries; i++) {
        unsigned p = cfg->min_port +
                     (i < PORT_RANDOM_TRIES ? random_below(range) : (start + i) % range);
        if ((even || reserve_next) && (p & 1))
            p = p + 1 <= cfg->max_port ? p + 1 : p - 1;
        if (reserve_next && p + 1 > cfg->max_port)
            continue;
        int f = bind_udp(ip, (uint16_t)p);
        if (f < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM))
            break; /* out of descriptors or memory: no other port will do */
        if (f < 0)
            continue;
        if (reserve_next) {
            int f2 = bind_udp(ip, (uint16_t)(p + 1));
            if (f2 < 0) {
                close(f);
                continue;
            }
            *fd2 = f2;
        }
        *fd = f;
        *port = (uint16_t)p;
        return 0;
    }
    return SE_ERR_LIMIT;
}

/*
 * What an allocation (or a reservation, which holds a port and an fd just
 * the same) counts against: the server's total, its user's quota and its
 * client source's quota. Taken n at a time (an Allocate with EVEN-PORT R
 * holds two: itself and the reserved port), all or none. 0, or the STUN
 * error to answer (508 for the total, 486 for user or source).
 */
int ports_hold(struct worker *w, const char *user, unsigned per_user, const uint8_t source[16],
               unsigned n)
{
    struct relay_server *srv = w->srv;

    if (atomic_fetch_add(&srv->n_allocs, n) + n > w->snap->max_allocations) {
        atomic_fetch_sub(&srv->n_allocs, n);
        return 508;
    }
    if (quota_take(srv, user, per_user, n) < 0) {
        atomic_fetch_sub(&srv->n_allocs, n);
        return 486;
    }
    if (ipc_take(srv->alloc_sources, source, w->snap->max_allocations_per_ip, n) < 0) {
        quota_release(srv, user, n);
        atomic_fetch_sub(&srv->n_allocs, n);
        return 486;
    }
    return 0;
}

void ports_release(struct relay_server *srv, const char *user, const uint8_t source[16], unsigned n)
{
    ipc_release(srv->alloc_sources, source, n);
    quota_release(srv, user, n);
    atomic_fetch_sub(&srv->n_allocs, n);
}

static void reservation_free(struct relay_server *srv, struct reservation *r)
{
    ports_release(srv, r->quota_user, r->source, 1);
    atomic_fetch_sub_explicit(&srv->n_resv, 1, memory_order_relaxed);
    free(r);
}

/* Redeem a token: its fd and address move to the caller, and what the
 * reservation held is given back (the new allocation takes its own). */
int ports_resv_take(struct relay_server *srv, const uint8_t token[8], int *fd, struct se_addr *addr)
{
    struct reservation *found = NULL;

    pthread_mutex_lock(&srv->lock);
    for (struct reservation **pp = &srv->resv; *pp; pp = &(*pp)->next) {
        struct reservation *r = *pp;
        if (memcmp(r->token, token, 8) == 0) {
            *fd = r->fd;
            *addr = r->addr;
            *pp = r->next;
            found = r;
            break;
        }
    }
    pthread_mutex_unlock(&srv->lock);
    if (!found)
        return SE_ERR_NOTFOUND;
    reservation_free(srv, found); /* takes the lock itself */
    return 0;
}

/* Keep fd as a reservation; it takes over one unit of holdings the
 * caller took for user and source. */
int ports_resv_add(struct relay_server *srv, int fd, const struct se_addr *addr, int64_t now,
                   const char *user, const uint8_t source[16], uint8_t token[8])
{
    size_t ulen = strlen(user);
    struct reservation *r = calloc(1, sizeof(*r) + ulen + 1);

    if (!r || RAND_bytes(token, 8) != 1) {
        free(r);
        return SE_ERR_NOMEM;
    }
    memcpy(r->token, token, 8);
    r->fd = fd;
    r->addr = *addr;
    r->expires = now + RESERVATION_LIFETIME;
    memcpy(r->source, source, 16);
    memcpy(r->quota_user, user, ulen + 1);
    atomic_fetch_add_explicit(&srv->n_resv, 1, memory_order_relaxed);
    pthread_mutex_lock(&srv->lock);
    r->next = srv->resv;
    srv->resv = r;
    pthread_mutex_unlock(&srv->lock);
    return 0;
}

void ports_resv_expire(struct relay_server *srv, int64_t now)
{
    struct reservation *gone = NULL;

    pthread_mutex_lock(&srv->lock);
    for (struct reservation **pp = &srv->resv; *pp;) {
        struct reservation *r = *pp;
        if (r->expires <= now) {
            *pp = r->next;
            r->next = gone;
            gone = r;
        } else {
            pp = &r->next;
        }
    }
    pthread_mutex_unlock(&srv->lock);
    while (gone) {
        struct reservation *r = gone;
        gone = r->next;
        close(r->fd);
        reservation_free(srv, r);
    }
}

void ports_free(struct relay_server *srv)
{
    while (srv->resv) {
        struct reservation *r = srv->resv;
        srv->resv = r->next;
        close(r->fd);
        free(r);
    }
    while (srv->quotas) {
        struct user_quota *q = srv->quotas;
        srv->quotas = q->next;
        free(q->name);
        free(q);
    }
}
