/*
 * udp.c - a worker's UDP clients: listener receive path, the 5-tuple
 * table, and the UDP client ops (client.h).
 *
 * A listener reads up to RELAY_RX_BATCH datagrams per recvmmsg into the
 * worker's receive slots and classifies each on its first byte (RFC
 * 7983): STUN goes to turn.c, ChannelData of a known 5-tuple to turn.c's
 * ChannelData path (which queues it toward the peer, peer.c), the rest is
 * dropped and counted. The to-peer queue is sent before any STUN message
 * of the batch is handled (a Refresh may close a relay socket the queue
 * names) and at the end of the batch, before the slots are read into
 * again; the to-client queue leaves when udp_on_flush runs at the end of
 * the loop pass. Buffer ownership: txq.h.
 *
 * An allocation of a UDP client is found by (listener, client address) in
 * a chained hash table with a random per-worker seed (clients cannot
 * choose colliding 5-tuples to degrade it) that doubles when full.
 * Worker thread only; nothing here allocates per packet or locks.
 */
#include "relay/udp.h"
#include "core/err.h"
#include "core/log.h"
#include "relay/alloc.h"
#include "relay/client.h"
#include "relay/clock.h"
#include "relay/turn.h"
#include "relay/txq.h"
#include "relay/worker.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static struct se_log_rl rl_send;

/* ---- the 5-tuple table ---- */

static size_t bucket(const struct worker *w, const struct udp_listener *ul,
                     const struct se_addr *addr)
{
    return (se_addr_hash(addr, w->hseed) ^ (uint32_t)ul->index * 0x9E3779B1u) & (w->hsize - 1);
}

struct allocation *udp_find(struct worker *w, const struct udp_listener *ul,
                            const struct se_addr *client)
{
    if (!w->hsize)
        return NULL;
    for (struct allocation *a = w->htab[bucket(w, ul, client)]; a; a = a->hnext)
        if (a->client.udp == ul && se_addr_eq(&a->client.addr, client))
            return a;
    return NULL;
}

static int htab_grow(struct worker *w)
{
    size_t nsize = w->hsize ? w->hsize * 2 : 64;
    struct allocation **n = calloc(nsize, sizeof(*n));

    if (!n)
        return SE_ERR_NOMEM;
    struct allocation **old = w->htab;
    size_t osize = w->hsize;
    w->htab = n;
    w->hsize = nsize;
    for (size_t i = 0; i < osize; i++) {
        for (struct allocation *a = old[i], *next; a; a = next) {
            next = a->hnext;
            size_t b = bucket(w, a->client.udp, &a->client.addr);
            a->hnext = n[b];
            n[b] = a;
        }
    }
    free(old);
    return 0;
}

static int udp_attach(struct allocation *a)
{
    struct worker *w = a->w;

    if (w->hcount >= w->hsize && htab_grow(w) < 0)
        return SE_ERR_NOMEM;
    size_t b = bucket(w, a->client.udp, &a->client.addr);
    a->hnext = w->htab[b];
    w->htab[b] = a;
    w->hcount++;
    return 0;
}

static void udp_detach(struct allocation *a)
{
    struct worker *w = a->w;
    struct allocation **pp = &w->htab[bucket(w, a->client.udp, &a->client.addr)];

    for (; *pp; pp = &(*pp)->hnext) {
        if (*pp == a) {
            *pp = a->hnext;
            w->hcount--;
            return;
        }
    }
}

/* ---- sending to UDP clients ---- */

static int udp_send(struct worker *w, const struct client_ref *c, const uint8_t *buf, size_t len,
                    bool channel_data)
{
    struct sockaddr_storage ss;
    socklen_t sl = se_addr_to_sockaddr(&c->addr, &ss);

    (void)channel_data; /* a datagram needs no padding */
    if (sendto(c->udp->fd, buf, len, 0, (struct sockaddr *)&ss, sl) < 0) {
        if (errno == EAGAIN || errno == ENOBUFS)
            atomic_fetch_add_explicit(&w->st.dropped_backpressure, 1, memory_order_relaxed);
        else
            se_log_rl(&rl_send, SE_LOG_WARN, "udp send to client failed: %s", strerror(errno));
        return SE_ERR_IO;
    }
    return 0;
}


const struct client_ops udp_client_ops = {
    .send = udp_send,
    .attach = udp_attach,
    .detach = udp_detach,
    .datagram = true,
};

/* ---- listeners ---- */

void udp_on_flush(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;

    (void)fd;
    (void)what;
    txq_send(w, &w->to_client);
}

static void udp_dispatch(struct worker *w, struct udp_listener *ul, uint8_t *buf, size_t n,
                         const struct sockaddr *from)
{
    struct client_ref c = {.transport = SE_TP_UDP, .udp = ul};

    if (se_addr_from_sockaddr(&c.addr, from) < 0 || n < 4) {
        atomic_fetch_add_explicit(&w->st.dropped_bad_input, 1, memory_order_relaxed);
        return;
    }
    uint8_t b0 = buf[0];
    if (b0 < 0x40) {
        /* A STUN request may free an allocation (Refresh 0) and with it a
         * relay socket that queued datagrams name: send them first. */
        w->to_peer_batching = false;
        txq_send(w, &w->to_peer);
        turn_on_stun(w, &c, udp_find(w, ul, &c.addr), buf, n);
        w->to_peer_batching = true;
    } else if (b0 < 0x80) {
        struct allocation *a = udp_find(w, ul, &c.addr);
        if (a)
            turn_on_channel_data(w, a, buf, n);
        else
            atomic_fetch_add_explicit(&w->st.dropped_bad_input, 1, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&w->st.dropped_bad_input, 1, memory_order_relaxed);
    }
}

void udp_on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct udp_listener *ul = arg;
    struct worker *w = ul->w;
    struct mmsghdr m[RELAY_RX_BATCH];
    struct iovec iov[RELAY_RX_BATCH];
    union relay_sockaddr from[RELAY_RX_BATCH];

    (void)what;
    w->now = relay_now_mono();
    for (int round = 0; round < RELAY_UDP_BURST / RELAY_RX_BATCH; round++) {
        for (int i = 0; i < RELAY_RX_BATCH; i++) {
            iov[i].iov_base = w->rx_slots + (size_t)i * RELAY_BUF_SIZE;
            iov[i].iov_len = RELAY_BUF_SIZE;
            m[i].msg_hdr = (struct msghdr){.msg_name = &from[i],
                                           .msg_namelen = sizeof(from[i]),
                                           .msg_iov = &iov[i],
                                           .msg_iovlen = 1};
        }
        int k = recvmmsg(fd, m, RELAY_RX_BATCH, MSG_DONTWAIT, NULL);
        if (k < 0) {
            if (errno == EINTR || errno == ECONNREFUSED)
                continue;
            break; /* EAGAIN or a real error: wait for the next readiness */
        }
        w->to_peer_batching = true;
        for (int i = 0; i < k; i++)
            udp_dispatch(w, ul, iov[i].iov_base, m[i].msg_len, &from[i].sa);
        w->to_peer_batching = false;
        txq_send(w, &w->to_peer); /* before the slots are read into again */
        if (k < RELAY_RX_BATCH)
            break; /* drained: no extra call just to see EAGAIN */
    }
}

