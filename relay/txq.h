/*
 * txq.h - the worker's UDP send queues, and who owns a datagram's buffer.
 *
 * BUFFER OWNERSHIP ON THE UDP DATA PATH (the one place this is told; the
 * other files point here). No datagram is copied and nothing is allocated
 * per packet; a buffer always has exactly one owner:
 *
 *  - Listener receive slots (w->rx_slots, RELAY_RX_BATCH x RELAY_BUF_SIZE,
 *    udp.c) are owned by the listener. ChannelData read into them is
 *    queued toward peers in w->to_peer by pointer, borrowed: udp.c
 *    sends that queue before the slots are read into again and before any
 *    STUN message of the batch is handled (a Refresh may close a relay
 *    socket). With io_uring the send completes inside the submit
 *    (MSG_DONTWAIT), so the slots are free when txq_send returns.
 *  - The queue toward clients (w->to_client) owns RELAY_TXQ_MAX buffers
 *    (w->tx_slots). Entries i < n hold queued datagrams in buf[i];
 *    buf[n..RELAY_TXQ_MAX) are free. The epoll path (relay/peer.c) reads
 *    a relay socket with recvmmsg straight into free buffers, behind
 *    RELAY_DATA_HEADROOM bytes, and queues a datagram by swapping its
 *    buffer pointer with buf[n] (the ChannelData header is written into
 *    the headroom). A datagram not queued leaves its buffer free.
 *  - io_uring (relay/uring.c): the kernel owns the provided buffers until
 *    a completion hands one to the worker. A datagram queued toward a
 *    client records its buffer id in bid[i] (the header is written over
 *    the tail of the address area before the payload) and the buffer goes
 *    back to the kernel after the queue is sent (uring_recycle); a
 *    datagram not queued gives its buffer back at once.
 *  - w->rxbuf / w->txbuf are the worker's scratch for one message at a
 *    time (stream frames, PROXY headers; responses and Data indications):
 *    valid until the worker's callback returns.
 * Queues fill during one event-loop pass: to_peer is sent at the end of a
 * listener's receive batch, to_client by flush_ev after the pass's other
 * ready events (or when it is full). Worker thread only; no lock.
 */
#ifndef SE_RELAY_TXQ_H
#define SE_RELAY_TXQ_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct se_addr;
struct worker;
struct client_ref;

enum {
    RELAY_BUF_SIZE = 65536 + 64,  /* largest UDP datagram plus framing */
    RELAY_TXQ_MAX = 64,           /* queued datagrams per sendmmsg (both ways) */
    RELAY_DATA_HEADROOM = 64,     /* room to prepend a ChannelData header */
    RELAY_GSO_SEGS = 64,          /* datagrams per UDP GSO message (kernel: <= 64) */
    RELAY_GSO_BYTES = 65000,      /* bytes per UDP GSO message (IP datagram limit) */
};

union relay_sockaddr {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
};

/* A send queue: datagrams held until one sendmmsg (or one io_uring
 * submit) per run of equal sockets sends them. Buffers: see above. */
struct relay_txq {
    int n;
    int fd[RELAY_TXQ_MAX];
    struct mmsghdr msg[RELAY_TXQ_MAX];
    struct iovec iov[RELAY_TXQ_MAX];
    union relay_sockaddr to[RELAY_TXQ_MAX];
    uint8_t *buf[RELAY_TXQ_MAX];
    int bid[RELAY_TXQ_MAX]; /* io_uring: the receive buffer to give back after sending, or -1 */
};

/* Send everything queued in q; what the kernel refused counts as
 * backpressure drops. q is empty on return. */
void txq_send(struct worker *w, struct relay_txq *q);
/* Queue the ChannelData frame for UDP client c; sent at the end of this
 * event-loop pass. Epoll path (bid < 0): frame lies in to_client.buf[n],
 * a free buffer the caller filled. io_uring path: frame lies in receive
 * buffer bid, given back to the kernel once sent. */
void txq_to_client(struct worker *w, const struct client_ref *c, uint8_t *frame, size_t len,
                   int bid);
/* Append one datagram to q (the caller checked q->n < RELAY_TXQ_MAX);
 * data is borrowed until q is sent. */
void txq_add(struct relay_txq *q, int fd, const struct se_addr *to, uint8_t *data, size_t len);
/* A message of count datagrams failed as a whole (a GSO message refused
 * for its size, or a pending ICMP error): send its datagrams one by one.
 * A single datagram is not retried. Returns how many were lost. */
uint64_t txq_send_each(int fd, const struct msghdr *m, int count);
/* Does this kernel take UDP_SEGMENT (Linux >= 4.18)? Probed once per worker. */
bool txq_gso_supported(void);

#endif
