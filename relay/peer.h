/*
 * peer.h - relayed data between an allocation's relay sockets and its
 * peers (peer.c). Buffer ownership: txq.h. Worker thread only.
 */
#ifndef SE_RELAY_PEER_H
#define SE_RELAY_PEER_H

#include <event2/util.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;
struct se_addr;
struct worker;
struct allocation;

/* libevent callback of a relay socket (epoll path); arg is its relay_sock. */
void peer_on_readable(evutil_socket_t fd, short what, void *arg);
/* A datagram from a peer on one of a's relay sockets. Epoll path: it lies
 * in to_client.buf[slot] behind RELAY_DATA_HEADROOM (bid = -1); io_uring
 * path: in receive buffer bid with at least 4 bytes free before payload.
 * Returns true if it was queued toward the client (the queue owns the
 * buffer now), false if the caller still owns it. */
bool peer_datagram(struct worker *w, struct allocation *a, uint8_t *payload, size_t n,
                   const struct sockaddr *from, int slot, int bid);
/* Send data (borrowed until the to-peer queue is sent) from a's client to
 * peer through the relay socket of its family: the caller checked the
 * permission or channel; the bandwidth cap is checked here. */
void peer_send(struct allocation *a, const struct se_addr *peer, const uint8_t *data, size_t len);

#endif
