/*
 * uring.c - relay sockets over io_uring (relay.io = "auto" | "io_uring").
 *
 * Every allocation has its own relay socket (its relayed transport
 * address), so with epoll a worker pays per datagram on that side: one
 * readiness event and one recvmmsg per ready socket, one sendmmsg per run
 * toward a peer. The kernel's own work per datagram is the same either
 * way; what io_uring removes is the system call and the epoll bookkeeping
 * around it (docs/benchmark.md has the figures):
 *
 *  - receive: each relay socket has one multishot RECVMSG armed on the
 *    worker's receive ring. The kernel picks a buffer from a ring of
 *    provided buffers (buffer group RX_BGID), writes the peer address and
 *    the datagram into it and posts a completion; nothing is submitted per
 *    datagram. The ring's fd sits in the worker's event_base, so one
 *    wake-up reads every datagram that arrived on any relay socket.
 *    Each datagram goes to peer_datagram (peer.c); who owns its buffer
 *    from then on is told in txq.h. When the buffers run out, the kernel ends that socket's multishot with ENOBUFS (the
 *    datagram stays in the socket); the socket is re-armed once buffers
 *    are back. A multishot also ends after an empty datagram (anyone can
 *    send one to a relay port) or a full completion queue: re-armed in
 *    the same wake-up (on_rx_end lists every cause).
 *  - send: the queue toward peers (datagrams from several relay sockets)
 *    becomes one SENDMSG per run of the same socket and destination (UDP
 *    GSO as in txq.c) on a second ring and leaves with one io_uring_enter.
 *    MSG_DONTWAIT makes every send complete during the submit (a full
 *    socket answers EAGAIN instead of waiting), so the buffers are free
 *    when uring_send returns (txq.h).
 *
 * A completion names its socket by a slot number and a generation
 * (user_data), never by pointer: a completion that arrives after its
 * allocation was freed finds a newer generation and only gives its buffer
 * back. Closing a relay socket cancels its receive first (the armed
 * request holds a reference to the socket, which would keep the port).
 *
 * Whether the kernel can do all this is probed once at start
 * (uring_probe); "auto" falls back to epoll, "io_uring" refuses to
 * start. Worker thread only, except the probe.
 */
#include "relay/uring.h"
#include "relay/peer.h"
#include "relay/alloc.h"
#include "relay/clock.h"
#include "relay/server.h"
#include "relay/txq.h"
#include "relay/worker.h"
#include "core/err.h"
#include "core/log.h"

#include <errno.h>
#include <event2/event.h>
#include <liburing.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum {
    RX_ENTRIES = 256,      /* submission slots: arming and cancelling only */
    RX_CQ_ENTRIES = 8192,  /* completions waiting between two wake-ups */
    RX_BGID = 1,           /* their buffer group */
    TX_ENTRIES = 2 * RELAY_TXQ_MAX,
    RX_STRIDE = (RELAY_BUF_SIZE + 4095) & ~4095, /* page-aligned: a small datagram touches one page */
};

/* user_data: generation << 32 | slot; these two are not sockets. */
#define UD_IGNORE UINT64_MAX

struct relay_uring {
    struct io_uring rx, tx;
    bool tx_ok;
    struct io_uring_buf_ring *br;
    uint8_t *bufs;        /* nbufs x RX_STRIDE */
    unsigned nbufs;       /* relay.io_buffers: a power of two */
    unsigned held;        /* buffers not given back to the kernel */
    struct msghdr rmsg;   /* multishot template: room for an IPv6 address */
    struct event *ev;
    /* relay sockets by slot */
    struct relay_sock **socks;
    uint32_t *gen;
    uint32_t *free_slots;
    uint32_t n_slots, n_free;
    /* sockets whose receive ended: out of buffers (re-armed when some
     * are back) or an error (retried once a second, by the cron); a slot
     * is in at most one list, once */
    uint32_t *rearm, *retry;
    uint32_t n_rearm, n_retry;
};

static struct se_log_rl rl_uring, rl_starved;

static unsigned ring_flags(void)
{
    return IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
}

static struct io_uring_sqe *get_sqe(struct io_uring *r)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(r);
    if (!sqe) {
        io_uring_submit(r); /* full: hand over what is queued */
        sqe = io_uring_get_sqe(r);
    }
    return sqe;
}

static void buf_give(struct relay_uring *u, unsigned bid)
{
    io_uring_buf_ring_add(u->br, u->bufs + (size_t)bid * RX_STRIDE, RELAY_BUF_SIZE,
                          (unsigned short)bid, io_uring_buf_ring_mask(u->nbufs), 0);
    io_uring_buf_ring_advance(u->br, 1);
    u->held--;
}

static int arm(struct relay_uring *u, uint32_t slot)
{
    struct io_uring_sqe *sqe = get_sqe(&u->rx);

    if (!sqe)
        return SE_ERR_FULL;
    io_uring_prep_recvmsg_multishot(sqe, u->socks[slot]->fd, &u->rmsg, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = RX_BGID;
    io_uring_sqe_set_data64(sqe, (uint64_t)u->gen[slot] << 32 | slot);
    u->socks[slot]->ur_armed = true;
    return 0;
}

/* ---- receive ---- */

/* Arm the sockets of a list again; those that do not fit stay listed. */
static void rearm_list(struct relay_uring *u, uint32_t *list, uint32_t *n)
{
    uint32_t keep = 0;

    for (uint32_t i = 0; i < *n; i++) {
        uint32_t slot = list[i];
        if (u->socks[slot]->ur_armed)
            continue;
        if (arm(u, slot) < 0)
            list[keep++] = slot;
    }
    *n = keep;
    io_uring_submit(&u->rx);
}

static void rearm_pending(struct worker *w)
{
    rearm_list(w->ur, w->ur->rearm, &w->ur->n_rearm);
}

void uring_cron(struct worker *w)
{
    if (w->ur && w->ur->n_retry)
        rearm_list(w->ur, w->ur->retry, &w->ur->n_retry);
}

/* Take slot out of a list (closing its socket). */
static void unlist(uint32_t *list, uint32_t *n, uint32_t slot)
{
    for (uint32_t i = 0; i < *n; i++) {
        if (list[i] == slot) {
            list[i] = list[--*n];
            return;
        }
    }
}

/* A completion's result for the log: an errno name, or the byte count a
 * successful receive returns (positive results are not errors). */
static const char *res_str(int res, char *buf, size_t len)
{
    if (res < 0)
        return strerror(-res);
    snprintf(buf, len, "result %d, not an error", res);
    return buf;
}

/*
 * A socket's multishot receive ended (a completion without
 * IORING_CQE_F_MORE). Every cause but an unexpected error is re-armed in
 * this same wake-up (rx_cb's rearm_pending), so datagrams waiting in the
 * socket are read at once:
 *  - res >= 0: the kernel ends a multishot after a receive of 0 bytes (an
 *    empty datagram, which anyone can send to a relay port) or when it
 *    could not post a completion (a full completion queue). Its buffer,
 *    if any, is handled like any datagram's;
 *  - -ENOBUFS: no provided buffer was free (the datagram waits in the
 *    socket); armed again once buffers come back;
 *  - -ECANCELED: our own cancel (uring_del), which also retired
 *    the slot's generation, so it never reaches here;
 *  - any other error: retried by the cron once a second, so that an
 *    error that persists cannot spin the loop.
 */
static void on_rx_end(struct worker *w, struct relay_sock *rs, uint32_t slot, int res)
{
    struct relay_uring *u = w->ur;

    rs->ur_armed = false;
    if (res >= 0) {
        atomic_fetch_add_explicit(&w->st.uring_rx_rearmed, 1, memory_order_relaxed);
        u->rearm[u->n_rearm++] = slot;
    } else if (res == -ENOBUFS) {
        atomic_fetch_add_explicit(&w->st.uring_rx_starved, 1, memory_order_relaxed);
        se_log_rl(&rl_starved, SE_LOG_DEBUG,
                  "io_uring receive buffers exhausted (relay.io_buffers = %u): re-arming",
                  u->nbufs);
        u->rearm[u->n_rearm++] = slot;
    } else {
        char as[SE_ADDR_STRLEN], rb[48];
        se_log_rl(&rl_uring, SE_LOG_WARN, "relay socket %s: receive ended (%s), retrying in 1 s",
                  se_addr_str(&rs->addr, as, sizeof(as)), res_str(res, rb, sizeof(rb)));
        u->retry[u->n_retry++] = slot;
    }
}

static void on_rx_cqe(struct worker *w, const struct io_uring_cqe *cqe)
{
    struct relay_uring *u = w->ur;
    uint64_t ud = cqe->user_data;
    uint32_t slot = (uint32_t)ud;
    bool has_buf = cqe->flags & IORING_CQE_F_BUFFER;
    unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
    struct relay_sock *rs = NULL;

    if (has_buf)
        u->held++;
    if (ud != UD_IGNORE && slot < u->n_slots && u->gen[slot] == (uint32_t)(ud >> 32))
        rs = u->socks[slot];
    if (rs && !(cqe->flags & IORING_CQE_F_MORE))
        on_rx_end(w, rs, slot, cqe->res);
    if (!has_buf)
        return;
    if (!rs || cqe->res <= 0) {
        buf_give(u, bid);
        return;
    }
    uint8_t *b = u->bufs + (size_t)bid * RX_STRIDE;
    struct io_uring_recvmsg_out *o = io_uring_recvmsg_validate(b, cqe->res, &u->rmsg);
    if (!o || (o->flags & MSG_TRUNC) || o->namelen > u->rmsg.msg_namelen) {
        atomic_fetch_add_explicit(&w->st.dropped_bad_input, 1, memory_order_relaxed);
        buf_give(u, bid);
        return;
    }
    struct relay_txq *q = &w->to_client;
    if (q->n == RELAY_TXQ_MAX)
        txq_send(w, q); /* gives its buffers back */
    uint8_t *payload = io_uring_recvmsg_payload(o, &u->rmsg);
    size_t n = io_uring_recvmsg_payload_length(o, cqe->res, &u->rmsg);
    /* An empty datagram is data (dropped by peer_datagram), not an end. */
    if (!peer_datagram(w, rs->alloc, payload, n, io_uring_recvmsg_name(o), -1, (int)bid))
        buf_give(u, bid);
}

static void rx_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct relay_uring *u = w->ur;
    struct io_uring_cqe *cqe;

    (void)fd;
    (void)what;
    w->now = relay_now_mono();
    /* Completions are handled one by one and consumed at once: handling
     * one may flush the client queue, which may run task work that posts
     * more; the loop is bounded so other sockets get their turn. */
    for (int i = 0; i < RX_CQ_ENTRIES && io_uring_peek_cqe(&u->rx, &cqe) == 0; i++) {
        struct io_uring_cqe c = *cqe;
        io_uring_cqe_seen(&u->rx, cqe);
        on_rx_cqe(w, &c);
    }
    if (u->n_rearm && u->held < u->nbufs)
        rearm_pending(w);
    /* Data queued toward clients leaves with flush_ev after this pass. */
}

/* ---- send ---- */

/* Send one message the plain way; returns the datagrams lost. */
static uint64_t send_plain(int fd, const struct msghdr *m, int count)
{
    if (sendmsg(fd, m, MSG_DONTWAIT) >= 0)
        return 0;
    if (errno == EAGAIN || errno == ENOBUFS)
        return (uint64_t)count;
    return txq_send_each(fd, m, count);
}

bool uring_can_send(const struct worker *w)
{
    return w->ur && w->ur->tx_ok;
}

uint64_t uring_send(struct worker *w, struct msghdr *const *msg, const int *fd, const int *count,
                    int n)
{
    struct relay_uring *u = w->ur;
    struct io_uring_cqe *cqe;
    int queued = 0, submitted, done = 0;
    uint64_t lost = 0;

    for (int g = 0; g < n; g++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&u->tx);
        if (!sqe)
            break; /* not while TX_ENTRIES >= RELAY_TXQ_MAX */
        io_uring_prep_sendmsg(sqe, fd[g], msg[g], MSG_DONTWAIT);
        io_uring_sqe_set_data64(sqe, (uint64_t)g);
        queued++;
    }
    submitted = queued ? io_uring_submit(&u->tx) : 0;
    if (submitted < queued) {
        /* The ring refused work (it should not: SUBMIT_ALL). What it kept
         * points at buffers about to be reused, so it must never be
         * submitted: stop using this ring, send the rest the plain way. */
        se_log(SE_LOG_WARN, "io_uring send ring failed (%s); worker %d sends with sendmsg now",
               submitted < 0 ? strerror(-submitted) : "partial submit", w->id);
        u->tx_ok = false;
        if (submitted < 0)
            submitted = 0;
    }
    for (int g = submitted; g < n; g++)
        lost += send_plain(fd[g], msg[g], count[g]);
    /* MSG_DONTWAIT: every send completed during the submit. Wait for
     * stragglers anyway: their buffers must not be reused before. */
    while (done < submitted) {
        if (io_uring_peek_cqe(&u->tx, &cqe) != 0 && io_uring_wait_cqe(&u->tx, &cqe) != 0)
            break;
        uint64_t g = cqe->user_data;
        int res = cqe->res;
        io_uring_cqe_seen(&u->tx, cqe);
        done++;
        if (res >= 0 || g >= (uint64_t)n)
            continue;
        if (res == -EAGAIN || res == -ENOBUFS) {
            lost += (uint64_t)count[g];
        } else {
            se_log_rl(&rl_uring, SE_LOG_DEBUG, "udp send to peer failed: %s", strerror(-res)); /* res < 0 */
            lost += txq_send_each(fd[g], msg[g], count[g]);
        }
    }
    return lost;
}

/* ---- buffers, sockets ---- */

void uring_recycle(struct worker *w, const int *bid, int n)
{
    struct relay_uring *u = w->ur;

    for (int i = 0; i < n; i++)
        if (bid[i] >= 0)
            buf_give(u, (unsigned)bid[i]);
    if (u->n_rearm)
        rearm_pending(w);
}

int uring_add(struct worker *w, struct relay_sock *rs)
{
    struct relay_uring *u = w->ur;
    uint32_t slot;

    if (u->n_free) {
        slot = u->free_slots[--u->n_free];
    } else {
        if (u->n_slots == UINT32_MAX / 2)
            return SE_ERR_FULL;
        uint32_t cap = u->n_slots ? u->n_slots * 2 : 256;
        struct relay_sock **s = realloc(u->socks, cap * sizeof(*s));
        if (s)
            u->socks = s;
        uint32_t *g = s ? realloc(u->gen, cap * sizeof(*g)) : NULL;
        if (g)
            u->gen = g;
        uint32_t *f = g ? realloc(u->free_slots, cap * sizeof(*f)) : NULL;
        if (f)
            u->free_slots = f;
        uint32_t *r = f ? realloc(u->rearm, cap * sizeof(*r)) : NULL;
        if (r)
            u->rearm = r;
        uint32_t *t = r ? realloc(u->retry, cap * sizeof(*t)) : NULL;
        if (!t)
            return SE_ERR_NOMEM;
        u->retry = t;
        for (uint32_t i = u->n_slots; i < cap; i++) {
            u->socks[i] = NULL;
            u->gen[i] = 1;
        }
        /* hand out the new slots from the lowest */
        for (uint32_t i = cap; i > u->n_slots + 1; i--)
            u->free_slots[u->n_free++] = i - 1;
        slot = u->n_slots;
        u->n_slots = cap;
    }
    u->socks[slot] = rs;
    rs->ur_slot = slot;
    if (arm(u, slot) < 0 || io_uring_submit(&u->rx) < 0) {
        u->socks[slot] = NULL;
        u->free_slots[u->n_free++] = slot;
        return SE_ERR_IO;
    }
    return 0;
}

void uring_del(struct worker *w, struct relay_sock *rs)
{
    struct relay_uring *u = w->ur;
    uint32_t slot = rs->ur_slot;

    if (slot >= u->n_slots || u->socks[slot] != rs)
        return;
    if (rs->ur_armed) {
        struct io_uring_sqe *sqe = get_sqe(&u->rx);
        if (sqe) {
            io_uring_prep_cancel64(sqe, (uint64_t)u->gen[slot] << 32 | slot, 0);
            io_uring_sqe_set_data64(sqe, UD_IGNORE);
            io_uring_submit(&u->rx); /* cancelled before the caller closes the fd */
        }
    }
    unlist(u->rearm, &u->n_rearm, slot);
    unlist(u->retry, &u->n_retry, slot);
    u->socks[slot] = NULL;
    u->gen[slot] = (u->gen[slot] + 1) & 0x7fffffffu; /* late completions: stale */
    if (!u->gen[slot])
        u->gen[slot] = 1;
    u->free_slots[u->n_free++] = slot;
}

/* ---- setup ---- */

static int setup_rx(struct relay_uring *u)
{
    struct io_uring_params p = {.flags = ring_flags() | IORING_SETUP_CQSIZE,
                                .cq_entries = RX_CQ_ENTRIES};
    int rc = io_uring_queue_init_params(RX_ENTRIES, &u->rx, &p);
    if (rc < 0)
        return rc;
    size_t rsz = u->nbufs * sizeof(struct io_uring_buf);
    u->br = mmap(NULL, rsz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    u->bufs = mmap(NULL, (size_t)u->nbufs * RX_STRIDE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (u->br == MAP_FAILED || u->bufs == MAP_FAILED) {
        if (u->br != MAP_FAILED)
            munmap(u->br, rsz);
        u->br = NULL;
        u->bufs = u->bufs == MAP_FAILED ? NULL : u->bufs;
        return -ENOMEM;
    }
    io_uring_buf_ring_init(u->br);
    struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)u->br,
                                   .ring_entries = u->nbufs,
                                   .bgid = RX_BGID};
    if ((rc = io_uring_register_buf_ring(&u->rx, &reg, 0)) < 0)
        return rc;
    u->held = u->nbufs;
    for (unsigned i = 0; i < u->nbufs; i++)
        buf_give(u, i);
    u->rmsg.msg_namelen = sizeof(struct sockaddr_in6);
    return 0;
}

static void uring_state_free(struct relay_uring *u)
{
    if (!u)
        return;
    if (u->rx.ring_fd > 0)
        io_uring_queue_exit(&u->rx);
    if (u->tx_ok)
        io_uring_queue_exit(&u->tx);
    if (u->br)
        munmap(u->br, u->nbufs * sizeof(struct io_uring_buf));
    if (u->bufs)
        munmap(u->bufs, (size_t)u->nbufs * RX_STRIDE);
    free(u->socks);
    free(u->gen);
    free(u->free_slots);
    free(u->rearm);
    free(u->retry);
    free(u);
}

/* Both rings and the receive buffers: what a worker runs on, and what the
 * probe tries. u is zeroed; uring_state_free(u) cleans up on failure too. */
static int rings_init(struct relay_uring *u, unsigned nbufs, char *err, size_t errlen)
{
    int rc;

    u->rx.ring_fd = -1;
    u->nbufs = nbufs;
    if ((rc = setup_rx(u)) < 0) {
        snprintf(err, errlen, "io_uring receive ring: %s", strerror(-rc));
        return rc;
    }
    if ((rc = io_uring_queue_init(TX_ENTRIES, &u->tx, ring_flags() | IORING_SETUP_SUBMIT_ALL)) <
        0) {
        snprintf(err, errlen, "io_uring send ring: %s", strerror(-rc));
        return rc;
    }
    u->tx_ok = true;
    return 0;
}

int uring_init(struct worker *w, char *err, size_t errlen)
{
    struct relay_uring *u = calloc(1, sizeof(*u));
    int rc;

    if (!u) {
        snprintf(err, errlen, "out of memory");
        return SE_ERR_NOMEM;
    }
    if ((rc = rings_init(u, w->srv->cfg->relay_io_buffers ? w->srv->cfg->relay_io_buffers : 512,
                         err, errlen)) < 0)
        goto fail;
    u->ev = event_new(w->base, u->rx.ring_fd, EV_READ | EV_PERSIST, rx_cb, w);
    if (!u->ev || event_add(u->ev, NULL) < 0) {
        snprintf(err, errlen, "io_uring: cannot watch the ring");
        rc = SE_ERR_NOMEM;
        goto fail;
    }
    w->ur = u;
    atomic_store_explicit(&w->st.uring_on, 1, memory_order_relaxed);
    return 0;
fail:
    if (u->ev)
        event_free(u->ev);
    uring_state_free(u);
    return rc < 0 ? rc : SE_ERR_IO;
}

void uring_free(struct worker *w)
{
    if (!w->ur)
        return;
    if (w->ur->ev)
        event_free(w->ur->ev);
    uring_state_free(w->ur);
    w->ur = NULL;
    atomic_store_explicit(&w->st.uring_on, 0, memory_order_relaxed);
}

/*
 * Can this kernel do what the data path needs? The worker's own ring setup
 * (flags, provided buffers) is tried for real, then a loopback socket:
 * one datagram sent to itself must come back through a multishot receive
 * that stays armed.
 */
int uring_probe(char *err, size_t errlen)
{
    struct relay_uring *u = calloc(1, sizeof(*u));
    struct io_uring_cqe *cqe;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    int fd = -1, rc;

    if (!u) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if ((rc = rings_init(u, 8, err, errlen)) < 0)
        goto out;
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
        rc = -errno;
        snprintf(err, errlen, "loopback socket: %s", strerror(errno));
        goto out;
    }
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->rx);
    io_uring_prep_recvmsg_multishot(sqe, fd, &u->rmsg, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = RX_BGID;
    if ((rc = io_uring_submit(&u->rx)) < 0 ||
        (rc = (int)sendto(fd, "probe", 5, 0, (struct sockaddr *)&sa, sizeof(sa))) < 0) {
        rc = rc < 0 ? rc : -errno;
        snprintf(err, errlen, "io_uring submit: %s", strerror(-rc));
        goto out;
    }
    struct __kernel_timespec ts = {.tv_sec = 1};
    if ((rc = io_uring_wait_cqe_timeout(&u->rx, &cqe, &ts)) < 0) {
        snprintf(err, errlen, "multishot receive: %s", strerror(-rc));
        goto out;
    }
    if (cqe->res < 0 || !(cqe->flags & IORING_CQE_F_MORE) ||
        !(cqe->flags & IORING_CQE_F_BUFFER)) {
        rc = cqe->res < 0 ? cqe->res : -EOPNOTSUPP;
        snprintf(err, errlen, "multishot receive: %s", strerror(-rc));
        goto out;
    }
    rc = 0;
out:
    uring_state_free(u); /* its ring exit cancels the receive */
    if (fd >= 0)
        close(fd);
    return rc;
}
