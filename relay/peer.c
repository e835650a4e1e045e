/*
 * peer.c - the relay's data path on the peer side (RFC 8656 §10-§12).
 *
 * Toward the client: a datagram from a peer on one of an allocation's
 * relay sockets (read here with epoll + recvmmsg, or handed over by
 * uring.c) passes the permission check (by IP) and the bandwidth cap,
 * then leaves as ChannelData when a channel is bound to the peer (the
 * 4-byte header is written in front of the payload, no copy; queued in
 * place for UDP clients) or as a Data indication otherwise. Toward the
 * peer: ChannelData and Send payloads, after the caller (turn.c) checked
 * the channel or permission, go out on the relay socket of the peer's
 * family, batched in w->to_peer while a listener's receive batch lasts.
 *
 * Who owns each buffer on the way is told once, in txq.h. Nothing here
 * allocates or locks; an allocation's counters are updated inline and
 * reach the worker's totals when it ends. Worker thread only.
 */
#include "relay/peer.h"
#include "relay/client.h"
#include "core/log.h"
#include "relay/alloc.h"
#include "relay/clock.h"
#include "relay/stun.h"
#include "relay/txq.h"

#include <errno.h>
#include <event2/event.h>
#include <string.h>
#include <sys/socket.h>

enum {
    RELAY_PEER_BATCH = 16, /* datagrams per recvmmsg on a relay socket */
};

static struct se_log_rl rl_peer_send;

static uint32_t xorshift(uint32_t *s)
{
    uint32_t x = *s ? *s : 0x9E3779B9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* Epoll path: one recvmmsg reads what the socket holds straight into
 * free buffers of the queue toward the clients (txq.h). */
void peer_on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct relay_sock *rs = arg;
    struct allocation *a = rs->alloc;
    struct worker *w = a->w;
    struct relay_txq *q = &w->to_client;
    struct mmsghdr m[RELAY_PEER_BATCH];
    struct iovec iov[RELAY_PEER_BATCH];
    union relay_sockaddr from[RELAY_PEER_BATCH];

    (void)what;
    w->now = relay_now_mono();
    for (int round = 0; round < RELAY_UDP_BURST / RELAY_PEER_BATCH; round++) {
        if (q->n + RELAY_PEER_BATCH > RELAY_TXQ_MAX)
            txq_send(w, q);
        int base = q->n;
        for (int i = 0; i < RELAY_PEER_BATCH; i++) {
            iov[i].iov_base = q->buf[base + i] + RELAY_DATA_HEADROOM;
            iov[i].iov_len = RELAY_BUF_SIZE - RELAY_DATA_HEADROOM;
            m[i].msg_hdr = (struct msghdr){.msg_name = &from[i],
                                           .msg_namelen = sizeof(from[i]),
                                           .msg_iov = &iov[i],
                                           .msg_iovlen = 1};
        }
        int k = recvmmsg(fd, m, RELAY_PEER_BATCH, MSG_DONTWAIT, NULL);
        if (k < 0) {
            if (errno == EINTR || errno == ECONNREFUSED)
                continue;
            break;
        }
        for (int i = 0; i < k; i++)
            peer_datagram(w, a, q->buf[base + i] + RELAY_DATA_HEADROOM, m[i].msg_len, &from[i].sa,
                            base + i, -1);
        if (k < RELAY_PEER_BATCH)
            break; /* drained */
    }
}

bool peer_datagram(struct worker *w, struct allocation *a, uint8_t *payload, size_t n,
                     const struct sockaddr *from, int slot, int bid)
{
    struct relay_txq *q = &w->to_client;
    struct se_addr peer;
    bool queued = false;

    if (se_addr_from_sockaddr(&peer, from) < 0)
        return false;
    if (n == 0) {
        /* An empty datagram (which also ends an io_uring multishot receive,
         * uring.c): nothing to relay. */
        atomic_fetch_add_explicit(&w->st.dropped_bad_input, 1, memory_order_relaxed);
        return false;
    }
    struct permission *p = alloc_perm_find(a, peer.ip);
    if (!p || p->expires <= w->now) {
        atomic_fetch_add_explicit(&w->st.dropped_no_permission, 1, memory_order_relaxed);
        return false;
    }
    if (!bwcap_ok(&a->rl_in, n)) {
        atomic_fetch_add_explicit(&w->st.dropped_rate_limit, 1, memory_order_relaxed);
        return false;
    }
    struct channel *ch = alloc_chan_by_peer(a, &peer);
    int rc;
    if (ch && ch->expires > w->now) {
        /* The header goes in front of the payload: headroom (epoll) or
         * the tail of the address area already read (io_uring). */
        uint8_t *frame = payload - CHANNEL_HEADER_LEN;
        frame[0] = (uint8_t)(ch->number >> 8);
        frame[1] = (uint8_t)ch->number;
        frame[2] = (uint8_t)(n >> 8);
        frame[3] = (uint8_t)n;
        if (client_is_datagram(&a->client)) {
            if (bid < 0) {
                /* Its buffer trades places with the first free one
                 * (slot >= q->n, and every buffer in between is free). */
                uint8_t *t = q->buf[q->n];
                q->buf[q->n] = q->buf[slot];
                q->buf[slot] = t;
            }
            txq_to_client(w, &a->client, frame, n + CHANNEL_HEADER_LEN, bid);
            queued = true;
            rc = 0; /* counted as sent; a full socket counts dropped_backpressure */
        } else {
            rc = client_send(w, &a->client, frame, n + CHANNEL_HEADER_LEN, true);
        }
    } else {
        struct stun_builder b;
        uint32_t tid[3];
        for (int k = 0; k < 3; k++)
            tid[k] = xorshift(&w->rng);
        stun_build_begin(&b, w->txbuf, sizeof(w->txbuf), TURN_DATA, STUN_INDICATION,
                         (const uint8_t *)tid);
        stun_put_xor_addr(&b, STUN_A_XOR_PEER_ADDRESS, &peer);
        stun_put_attr(&b, STUN_A_DATA, payload, n);
        int len = stun_build_end(&b);
        rc = len < 0 ? len : client_send(w, &a->client, w->txbuf, (size_t)len, false);
    }
    if (rc == 0) {
        a->pkts_to_client++;
        a->bytes_to_client += (uint64_t)n;
    }
    return queued;
}

/* ---- client -> peer ---- */

void peer_send(struct allocation *a, const struct se_addr *peer, const uint8_t *data,
                        size_t len)
{
    struct relay_sock *rs = alloc_relay_for(a, peer->family);
    struct worker *w = a->w;
    struct sockaddr_storage ss;
    socklen_t sl;

    if (!rs)
        return;
    if (!bwcap_ok(&a->rl_out, len)) {
        atomic_fetch_add_explicit(&w->st.dropped_rate_limit, 1, memory_order_relaxed);
        return;
    }
    if (w->to_peer_batching) {
        /* data lies in the listener's receive slots, which stay put until
         * udp_on_readable sends this queue (udp.c, txq.h). */
        if (w->to_peer.n == RELAY_TXQ_MAX)
            txq_send(w, &w->to_peer);
        txq_add(&w->to_peer, rs->fd, peer, (uint8_t *)data, len);
        a->pkts_from_client++; /* as for the client queue: drops count as backpressure */
        a->bytes_from_client += len;
        return;
    }
    sl = se_addr_to_sockaddr(peer, &ss);
    if (sendto(rs->fd, data, len, 0, (struct sockaddr *)&ss, sl) < 0) {
        if (errno == EAGAIN || errno == ENOBUFS)
            atomic_fetch_add_explicit(&a->w->st.dropped_backpressure, 1, memory_order_relaxed);
        else
            se_log_rl(&rl_peer_send, SE_LOG_DEBUG, "send to peer failed: %s", strerror(errno));
        return;
    }
    a->pkts_from_client++;
    a->bytes_from_client += len;
}

