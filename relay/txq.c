/*
 * txq.c - the relay's UDP send queues (struct relay_txq, txq.h).
 *
 * Datagrams are queued with their destination and sent by txq_send
 * with one sendmmsg per run of entries on the same socket; txq.h's head
 * comment says when each queue fills and empties. Within a run, datagrams
 * of one size to one destination become one UDP GSO message (UDP_SEGMENT,
 * Linux 4.18), which the kernel cuts into datagrams at the end of its
 * path: route lookup and IP/UDP work then happen once per run.
 *
 * Errors: a full socket (EAGAIN/ENOBUFS) drops the rest of its run; any
 * other error skips one message (a GSO message is retried datagram by
 * datagram). Drops count as dropped_backpressure. Worker thread only; no
 * allocation, no lock.
 */
#include "relay/txq.h"
#include "relay/client.h"
#include "relay/server.h"
#include "relay/uring.h"
#include "relay/worker.h"
#include "core/log.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct se_log_rl rl_send;

static socklen_t to_sockaddr(const struct se_addr *a, union relay_sockaddr *u)
{
    if (a->family == AF_INET) {
        memset(&u->in, 0, sizeof(u->in)); /* sin_zero too: gso_run compares bytes */
        u->in.sin_family = AF_INET;
        u->in.sin_port = htons(a->port);
        memcpy(&u->in.sin_addr, a->ip + 12, 4);
        return sizeof(u->in);
    }
    memset(&u->in6, 0, sizeof(u->in6));
    u->in6.sin6_family = AF_INET6;
    u->in6.sin6_port = htons(a->port);
    memcpy(&u->in6.sin6_addr, a->ip, 16);
    return sizeof(u->in6);
}

void txq_add(struct relay_txq *q, int fd, const struct se_addr *to, uint8_t *data, size_t len)
{
    int i = q->n++;

    q->fd[i] = fd;
    q->iov[i].iov_base = data;
    q->iov[i].iov_len = len;
    q->msg[i].msg_hdr = (struct msghdr){.msg_name = &q->to[i],
                                        .msg_namelen = to_sockaddr(to, &q->to[i]),
                                        .msg_iov = &q->iov[i],
                                        .msg_iovlen = 1};
}

void txq_to_client(struct worker *w, const struct client_ref *c, uint8_t *frame, size_t len,
                   int bid)
{
    struct relay_txq *q = &w->to_client;

    if (q->n == 0)
        event_active(w->flush_ev, EV_WRITE, 0); /* runs after this pass's ready sockets */
    q->bid[q->n] = bid;
    txq_add(q, c->udp->fd, &c->addr, frame, len);
}

/*
 * UDP GSO (UDP_SEGMENT, Linux 4.18): consecutive datagrams of one socket
 * to one destination with one size (a burst read from one relay socket)
 * go down the stack as one message and are cut into datagrams at the
 * end, so the route lookup and the IP/UDP path run once per run, not per
 * datagram. Returns how many entries from i on form the run.
 */
static int gso_run(const struct relay_txq *q, int i, int end)
{
    size_t len = q->iov[i].iov_len, total = len;
    int j = i + 1;

    while (j < end && j - i < RELAY_GSO_SEGS && q->iov[j].iov_len == len &&
           total + len <= RELAY_GSO_BYTES &&
           q->msg[j].msg_hdr.msg_namelen == q->msg[i].msg_hdr.msg_namelen &&
           memcmp(&q->to[j], &q->to[i], q->msg[i].msg_hdr.msg_namelen) == 0) {
        total += len;
        j++;
    }
    return j - i;
}

void txq_send(struct worker *w, struct relay_txq *q)
{
    struct mmsghdr gm[RELAY_TXQ_MAX];
    struct msghdr *gp[RELAY_TXQ_MAX];
    int gfd[RELAY_TXQ_MAX], count[RELAY_TXQ_MAX], ng = 0;
    union {
        char buf[CMSG_SPACE(sizeof(uint16_t))];
        struct cmsghdr align;
    } ctl[RELAY_TXQ_MAX];
    uint64_t lost = 0;

    /* Messages: one per datagram, or one GSO message per run of equal
     * datagrams from one socket to one destination. */
    for (int i = 0; i < q->n;) {
        int end = i + 1;
        while (end < q->n && q->fd[end] == q->fd[i])
            end++;
        for (int k = i; k < end; k += count[ng++]) {
            count[ng] = w->gso ? gso_run(q, k, end) : 1;
            gfd[ng] = q->fd[k];
            gm[ng].msg_hdr = q->msg[k].msg_hdr;
            gp[ng] = &gm[ng].msg_hdr;
            if (count[ng] > 1) {
                struct cmsghdr *cm = &ctl[ng].align;
                uint16_t seg = (uint16_t)q->iov[k].iov_len;
                cm->cmsg_level = SOL_UDP;
                cm->cmsg_type = UDP_SEGMENT;
                cm->cmsg_len = CMSG_LEN(sizeof(seg));
                memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
                gm[ng].msg_hdr.msg_iovlen = (size_t)count[ng];
                gm[ng].msg_hdr.msg_control = ctl[ng].buf;
                gm[ng].msg_hdr.msg_controllen = sizeof(ctl[ng].buf);
            }
        }
        i = end;
    }
    if (q == &w->to_peer && uring_can_send(w)) {
        /* Many relay sockets: one submit for all (uring.c). */
        lost = uring_send(w, gp, gfd, count, ng);
    } else {
        /* One sendmmsg per run of messages on the same socket. */
        for (int g = 0; g < ng;) {
            int end = g + 1;
            while (end < ng && gfd[end] == gfd[g])
                end++;
            while (g < end) {
                int sent = sendmmsg(gfd[g], &gm[g], (unsigned)(end - g), 0);
                if (sent > 0) {
                    g += sent;
                } else if (errno == EAGAIN || errno == ENOBUFS) {
                    /* The socket is full: the rest of this run would fail too. */
                    for (; g < end; g++)
                        lost += (uint64_t)count[g];
                } else if (errno != EINTR) {
                    /* An error for one message: a pending ICMP error on the
                     * socket, or a GSO segment larger than the path MTU
                     * allows (EINVAL/EMSGSIZE), where single datagrams may
                     * still go (fragmented). Send its datagrams one by one,
                     * go on. */
                    se_log_rl(&rl_send, SE_LOG_DEBUG, "udp send failed: %s", strerror(errno));
                    lost += txq_send_each(gfd[g], gp[g], count[g]);
                    g++;
                }
            }
        }
    }
    if (lost)
        atomic_fetch_add_explicit(&w->st.dropped_backpressure, lost, memory_order_relaxed);
    if (q == &w->to_client && w->ur)
        uring_recycle(w, q->bid, q->n);
    q->n = 0;
}

uint64_t txq_send_each(int fd, const struct msghdr *m, int count)
{
    struct msghdr one = *m;
    uint64_t lost = 0;

    if (count == 1)
        return 1; /* the message that failed was that datagram */
    one.msg_control = NULL; /* no UDP_SEGMENT */
    one.msg_controllen = 0;
    one.msg_iovlen = 1;
    for (int k = 0; k < count; k++) {
        one.msg_iov = m->msg_iov + k;
        if (sendmsg(fd, &one, MSG_DONTWAIT) < 0)
            lost++;
    }
    return lost;
}

/* Does this kernel take UDP_SEGMENT (Linux >= 4.18)? */
bool txq_gso_supported(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), seg = 1200;
    bool ok = fd >= 0 && setsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg)) == 0;

    if (fd >= 0)
        close(fd);
    return ok;
}
