/*
 * loadgen.c - a TURN load generator for the benchmark (bench/bench_turn.sh).
 *
 * N clients, each on its own socket (its own 5-tuple), do what a WebRTC
 * client does: Allocate (first unauthenticated, then with the long-term
 * credential from the 401's REALM and NONCE), CreatePermission and
 * ChannelBind toward one UDP echo peer, then send ChannelData. The echo
 * peer runs in this process (a thread with recvmmsg/sendmmsg) and sends
 * every datagram back to where it came from: the allocation's relayed
 * address. So each datagram is relayed twice by the server under test.
 *
 * Payload: ChannelData header, then client index, sequence number and a
 * CLOCK_MONOTONIC send time in ns, so the round trip is measured per
 * packet (histogram in microseconds) and loss is sent - received after a
 * drain pause.
 *
 * Phases, each with the server's CPU time read from /proc/PID/stat
 * (utime + stime) and the whole machine's busy CPU time (/proc/stat; the
 * only fair measure when the kernel forwards on behalf of the sender, as
 * with sedge's relay.offload) before and after:
 *   alloc  all clients set up concurrently (a bounded number in flight),
 *          allocations per second counted at the Allocate success;
 *   paced  --rate packets/s in total, spread over the clients (1 ms ticks);
 *   sat    saturating: keep --window packets in flight in total.
 * Results go to stdout as one "key=value" line per phase.
 *
 * --plain drives bench/plainfwd instead: no TURN setup, the same framing
 * (plainfwd keys clients by the index in the payload).
 *
 * I/O. Setup and the TCP/TLS phases use epoll over the clients' sockets
 * and one send() per message. The UDP data phases (paced, sat) use
 * io_uring, so that the load generator costs much less per packet than
 * the server it measures (it shares the machine's CPUs with it):
 *   - sends: the packets of a tick (paced) or of a window refill (sat)
 *     become one SEND SQE each, across many client sockets, submitted
 *     together by one io_uring_enter. MSG_DONTWAIT makes a full socket
 *     buffer complete as -EAGAIN at once (counted as a send error, as the
 *     epoll path does) instead of being retried later; every send buffer
 *     is still a slot of its own, reused only after its CQE is reaped;
 *   - receives: one multishot recv per client socket into a ring of
 *     provided buffers; re-armed when a CQE comes without F_MORE (e.g.
 *     -ENOBUFS when every buffer is in use);
 *   - the ring uses DEFER_TASKRUN (completions are run when loadgen asks
 *     for them, never by interrupting it), and the sockets are registered
 *     files.
 * --no-uring keeps everything on the epoll path (for comparison); it is
 * also used when io_uring cannot be set up (kernel or seccomp).
 *
 * Every loop is bounded in time; all traffic goes to the given addresses,
 * which the benchmark keeps on loopback.
 */
#include "auth/auth.h"
#include "bench/common.h"
#include "core/addr.h"
#include "relay/stun.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
    TP_UDP,
    TP_TCP,
    TP_TLS,
    HDR = 4,              /* ChannelData header */
    PAYLOAD_MIN = 16,     /* index, sequence, timestamp */
    SETUP_INFLIGHT = 256, /* concurrent setups */
    SETUP_RTO_MS = 500,   /* UDP request retransmission */
    SETUP_TRIES = 6,
    HIST_US = 200000, /* RTT histogram: 1 us buckets up to 200 ms */
    CHANNEL = 0x4000,
    STREAM_BUF = 8192,
    BATCH = 64,
};

enum st { ST_IDLE, ST_ALLOC0, ST_ALLOC, ST_PERM, ST_BIND, ST_READY, ST_FAILED, ST_RELEASE };

struct client {
    int fd;
    SSL *ssl;
    enum st st;
    int tries;
    int64_t deadline; /* ns: retransmit or give up */
    uint8_t tid[12];
    uint8_t *sbuf; /* stream reassembly (TCP/TLS) */
    size_t slen;
    uint8_t nonce_len;
    char nonce[128]; /* servers may bind nonces to the client's address */
};

static struct {
    int tp;
    struct se_addr server, peer;
    const char *user, *pass;
    int n;
    size_t payload;
    double rate;
    int window;
    double seconds;
    int spid;
    bool plain;
    bool hold;              /* after setup, wait for stdin EOF (RSS at rest) */
    bool no_uring;          /* UDP data phases on the epoll path */
    struct se_addr bind_ip; /* clients' source address */
} opt = {.tp = TP_UDP,
         .user = "bench",
         .pass = "bench",
         .n = 1,
         .payload = 160,
         .rate = 0,
         .window = 0,
         .seconds = 3};

static struct client *cl;
static char realm[128];
static uint8_t key[16];
static SSL_CTX *tls_ctx;
static int ep;
static uint32_t *hist;
static uint64_t hist_over;
static uint64_t n_sent, n_recv, n_send_err;
static struct bench_echo echo; /* the echo peer (bench/common.h) */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *m)
{
    fprintf(stderr, "loadgen: %s%s%s\n", m, errno ? ": " : "", errno ? strerror(errno) : "");
    exit(1);
}

/* Server CPU time in seconds (utime + stime of all its threads). */
static double server_cpu(void)
{
    return opt.spid > 0 ? bench_proc_cpu(opt.spid) : 0;
}

/*
 * Busy CPU time of the whole machine in seconds: user, nice, system, irq,
 * softirq and steal of every CPU (/proc/stat's "cpu" line). A relay whose
 * work happens in the kernel on behalf of the sending process (loopback
 * delivery, an offloaded flow) shows up here and not in its own stat.
 */
static double machine_cpu(void)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");

    if (!f)
        return 0;
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 8)
        return 0;
    /* user nice system idle iowait irq softirq steal: all but idle/iowait */
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU time of the kernel's softirq threads (ksoftirqd/N): softirq work the
 * kernel deferred there is not charged to any process of the benchmark.
 * Without CONFIG_IRQ_TIME_ACCOUNTING the rest of it is charged to the task
 * it interrupted - on loopback, the sender - so server + generator +
 * ksoftirqd is the benchmark's own CPU, whatever else the machine runs. */
static int ksoftirqd[256], n_ksoftirqd = -1;

static double softirqd_cpu(void)
{
    double sum = 0;

    if (n_ksoftirqd < 0) {
        n_ksoftirqd = 0;
        for (int pid = 2; pid < 4096 && n_ksoftirqd < 256; pid++) {
            char path[64], comm[32] = "";
            snprintf(path, sizeof(path), "/proc/%d/comm", pid);
            FILE *f = fopen(path, "r");
            if (!f)
                continue;
            if (fgets(comm, sizeof(comm), f) && strncmp(comm, "ksoftirqd/", 10) == 0)
                ksoftirqd[n_ksoftirqd++] = pid;
            fclose(f);
        }
    }
    for (int i = 0; i < n_ksoftirqd; i++)
        sum += bench_proc_cpu(ksoftirqd[i]);
    return sum;
}

/* The machine's busy CPU per second while this process does nothing
 * (other work on a shared machine), measured before the load phases. */
static double machine_bg_per_s;

static void machine_background(double seconds)
{
    double c0 = machine_cpu();
    struct timespec t0, t1;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct timespec d = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&d, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    machine_bg_per_s = el > 0 ? (machine_cpu() - c0) / el : 0;
    printf("phase=idle secs=%.3f machine_cpu_per_s=%.4f ncpu=%ld\n", el, machine_bg_per_s,
           sysconf(_SC_NPROCESSORS_ONLN));
    fflush(stdout);
}

/* VmRSS or VmHWM of the server in KiB. */
static long server_mem(const char *field)
{
    return opt.spid > 0 ? bench_proc_status(opt.spid, field) : -1;
}

/* ---- client I/O ---- */

static int wait_fd(int fd, short ev)
{
    struct pollfd p = {fd, ev, 0};
    return poll(&p, 1, 1000);
}

/* Send a whole message. UDP: one datagram (a full buffer drops it, as the
 * network would). Streams: all of it, waiting if the socket is full. */
static int client_send(struct client *c, const uint8_t *buf, size_t len)
{
    if (opt.tp == TP_UDP)
        return send(c->fd, buf, len, 0) == (ssize_t)len ? 0 : -1;
    if (opt.tp == TP_TLS) {
        for (int tries = 0; tries < 50; tries++) {
            int r = SSL_write(c->ssl, buf, (int)len);
            if (r > 0)
                return 0;
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_WRITE)
                wait_fd(c->fd, POLLOUT);
            else if (e == SSL_ERROR_WANT_READ)
                wait_fd(c->fd, POLLIN);
            else
                return -1;
        }
        return -1;
    }
    size_t off = 0;
    for (int tries = 0; off < len && tries < 50;) {
        ssize_t r = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);
        if (r > 0) {
            off += (size_t)r;
        } else if (r < 0 && errno == EAGAIN) {
            wait_fd(c->fd, POLLOUT);
            tries++;
        } else {
            return -1;
        }
    }
    return off == len ? 0 : -1;
}

static void on_message(struct client *c, uint8_t *buf, size_t len, int64_t now);

/* Read what is there and hand complete messages to on_message. */
static void client_read(struct client *c, int64_t now)
{
    if (opt.tp == TP_UDP) {
        struct mmsghdr m[BATCH];
        struct iovec iov[BATCH];
        static uint8_t bufs[BATCH][2048];
        for (int round = 0; round < 4; round++) {
            for (int i = 0; i < BATCH; i++) {
                iov[i] = (struct iovec){bufs[i], sizeof(bufs[i])};
                m[i].msg_hdr = (struct msghdr){.msg_iov = &iov[i], .msg_iovlen = 1};
            }
            int k = recvmmsg(c->fd, m, BATCH, MSG_DONTWAIT, NULL);
            if (k <= 0)
                return;
            for (int i = 0; i < k; i++)
                on_message(c, bufs[i], m[i].msg_len, now);
            if (k < BATCH)
                return;
        }
        return;
    }
    for (int round = 0; round < 8; round++) {
        ssize_t r;
        if (opt.tp == TP_TLS) {
            r = SSL_read(c->ssl, c->sbuf + c->slen, (int)(STREAM_BUF - c->slen));
            if (r <= 0)
                return;
        } else {
            r = recv(c->fd, c->sbuf + c->slen, STREAM_BUF - c->slen, MSG_DONTWAIT);
            if (r <= 0)
                return;
        }
        c->slen += (size_t)r;
        size_t off = 0;
        while (c->slen - off >= 4) {
            size_t payload, frame;
            if (stun_frame(c->sbuf + off, &payload, &frame) < 0) {
                c->slen = 0; /* cannot resynchronise */
                c->st = ST_FAILED;
                return;
            }
            if (c->slen - off < frame)
                break;
            on_message(c, c->sbuf + off, payload, now);
            off += frame;
        }
        memmove(c->sbuf, c->sbuf + off, c->slen - off);
        c->slen -= off;
    }
}

/* ---- setup (Allocate, CreatePermission, ChannelBind) ---- */

static void send_request(struct client *c, int64_t now)
{
    uint8_t buf[512];
    struct stun_builder b;
    uint16_t method = c->st == ST_PERM      ? TURN_CREATE_PERMISSION
                      : c->st == ST_BIND    ? TURN_CHANNEL_BIND
                      : c->st == ST_RELEASE ? TURN_REFRESH
                                            : TURN_ALLOCATE;

    stun_build_begin(&b, buf, sizeof(buf), method, STUN_REQUEST, c->tid);
    if (method == TURN_REFRESH) {
        stun_put_u32(&b, STUN_A_LIFETIME, 0);
    } else if (method == TURN_ALLOCATE) {
        uint8_t rt[4] = {STUN_PROTO_UDP, 0, 0, 0};
        stun_put_attr(&b, STUN_A_REQUESTED_TRANSPORT, rt, 4);
    } else {
        if (method == TURN_CHANNEL_BIND)
            stun_put_u32(&b, STUN_A_CHANNEL_NUMBER, (uint32_t)CHANNEL << 16);
        stun_put_xor_addr(&b, STUN_A_XOR_PEER_ADDRESS, &opt.peer);
    }
    if (c->st != ST_ALLOC0) {
        stun_put_attr(&b, STUN_A_USERNAME, opt.user, strlen(opt.user));
        stun_put_attr(&b, STUN_A_REALM, realm, strlen(realm));
        stun_put_attr(&b, STUN_A_NONCE, c->nonce, c->nonce_len);
        stun_put_integrity(&b, key, sizeof(key));
    }
    int len = stun_build_end(&b);
    if (len < 0 || client_send(c, buf, (size_t)len) < 0)
        c->st = ST_FAILED;
    c->deadline = now + (int64_t)SETUP_RTO_MS * 1000000;
}

static void next_step(struct client *c, enum st st, int64_t now)
{
    c->st = st;
    c->tries = 0;
    for (int i = 0; i < 12; i++)
        c->tid[i] = (uint8_t)rand();
    if (st != ST_READY)
        send_request(c, now);
}

static uint64_t allocs_ok;
static int64_t alloc_first_ns, alloc_last_ns;

static void on_response(struct client *c, const uint8_t *buf, size_t len, int64_t now)
{
    struct stun_msg m;
    const struct stun_attr *a;

    if (stun_parse(&m, buf, len) < 0 || memcmp(m.tid, c->tid, 12) != 0)
        return; /* stale retransmit or garbage */
    if (m.cls == STUN_ERROR) {
        int code = 0;
        if ((a = stun_find(&m, STUN_A_ERROR_CODE)))
            stun_attr_error_code(&m, a, &code);
        if (code == 401 || code == 438) {
            const struct stun_attr *r = stun_find(&m, STUN_A_REALM);
            const struct stun_attr *nn = stun_find(&m, STUN_A_NONCE);
            if (!r || !nn || nn->len > sizeof(c->nonce) || r->len >= sizeof(realm) ||
                (c->st != ST_ALLOC0 && code == 401)) {
                c->st = ST_FAILED;
                return;
            }
            if (!realm[0]) {
                memcpy(realm, stun_attr_value(&m, r), r->len);
                auth_key_md5(opt.user, realm, opt.pass, key);
            }
            memcpy(c->nonce, stun_attr_value(&m, nn), nn->len);
            c->nonce_len = (uint8_t)nn->len;
            next_step(c, c->st == ST_ALLOC0 ? ST_ALLOC : c->st, now);
            return;
        }
        fprintf(stderr, "loadgen: client %ld: error %d in state %d\n", (long)(c - cl), code, c->st);
        c->st = ST_FAILED;
        return;
    }
    if (m.cls != STUN_SUCCESS)
        return;
    switch (c->st) {
    case ST_ALLOC0: /* a server without auth */
    case ST_ALLOC:
        allocs_ok++;
        alloc_last_ns = now;
        next_step(c, ST_PERM, now);
        break;
    case ST_PERM:
        next_step(c, ST_BIND, now);
        break;
    case ST_BIND:
        next_step(c, ST_READY, now);
        break;
    default:
        break;
    }
}

/* ---- data ---- */

static uint64_t n_bad;

static void on_data(const uint8_t *buf, size_t len, int64_t now)
{
    size_t dlen = (size_t)(buf[2] << 8 | buf[3]);
    if (len < HDR + PAYLOAD_MIN || dlen != opt.payload || len < HDR + dlen) {
        n_bad++; /* a relay that garbles datagrams must not look fast */
        return;
    }
    int64_t t;
    memcpy(&t, buf + HDR + 8, 8);
    int64_t us = (now - t) / 1000;
    n_recv++;
    if (us >= 0 && us < HIST_US)
        hist[us]++;
    else
        hist_over++;
}

static void on_message(struct client *c, uint8_t *buf, size_t len, int64_t now)
{
    if (len < 4)
        return;
    if (buf[0] >= 0x40 && buf[0] < 0x80)
        on_data(buf, len, now);
    else if (c->st != ST_READY)
        on_response(c, buf, len, now);
}

static uint8_t *pkt; /* ChannelData header, then zeros */

/* Fill in a data packet for client idx (header and padding come from pkt). */
static void put_data(uint8_t *buf, uint32_t idx, uint32_t seq, int64_t now)
{
    if (buf != pkt)
        memcpy(buf, pkt, HDR);
    memcpy(buf + HDR, &idx, 4);
    memcpy(buf + HDR + 4, &seq, 4);
    memcpy(buf + HDR + 8, &now, 8);
}

/* ---- the io_uring data path (UDP) ---- */

enum {
    UR_SQ = 1024,    /* SQ entries; a fuller burst is submitted in parts */
    UR_CQ = 16384,   /* CQ entries (the kernel keeps overflow, never drops) */
    UR_BUFS = 4096,  /* provided receive buffers, a power of 2 */
    UR_BUFSZ = 2048, /* one datagram each */
    UR_BGID = 7,     /* buffer group id */
    UR_SLOTS = 4096, /* send buffers, each busy from its SQE to its CQE */
};
#define UD_RECV (1ULL << 32) /* user_data: tag | client index or send slot */

static struct {
    bool on;
    struct io_uring ring;
    struct io_uring_buf_ring *br;
    uint8_t *rbufs;      /* UR_BUFS x UR_BUFSZ */
    uint8_t *sbufs;      /* UR_SLOTS x slot_sz */
    size_t slot_sz;
    uint32_t *free_slot; /* stack of free send slots */
    unsigned n_free;
    unsigned pending;    /* sends submitted or queued, CQE not yet reaped */
    uint32_t *rearm;     /* clients whose multishot recv has ended */
    unsigned n_rearm;
} ur;

/* An SQE; when the SQ is full, what is in it is submitted first. */
static struct io_uring_sqe *ur_sqe(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ur.ring);
    if (!sqe) {
        io_uring_submit(&ur.ring);
        sqe = io_uring_get_sqe(&ur.ring);
    }
    return sqe;
}

/* Arm the multishot receive of client i (fixed file i). */
static void ur_arm(uint32_t i)
{
    struct io_uring_sqe *sqe = ur_sqe();
    if (!sqe)
        return; /* cannot happen after a submit; the client just goes deaf */
    io_uring_prep_recv_multishot(sqe, (int)i, NULL, 0, 0);
    sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
    sqe->buf_group = UR_BGID;
    io_uring_sqe_set_data64(sqe, UD_RECV | i);
}

/* Queue a data packet of client i: 0 queued, 1 no send slot free. */
static int ur_send(uint32_t i, int64_t now)
{
    struct io_uring_sqe *sqe;

    if (!ur.n_free || !(sqe = ur_sqe()))
        return 1;
    uint32_t slot = ur.free_slot[--ur.n_free];
    uint8_t *buf = ur.sbufs + slot * ur.slot_sz;
    put_data(buf, i, (uint32_t)(n_sent + ur.pending), now);
    io_uring_prep_send(sqe, (int)i, buf, HDR + opt.payload, MSG_DONTWAIT);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, slot);
    ur.pending++;
    return 0;
}

/* Handle every CQE there is: send results, received datagrams (their
 * buffers go back to the ring), ended multishot receives (re-armed). */
static void ur_reap(int64_t now)
{
    struct io_uring_cqe *cqe;
    unsigned head, n = 0, bufs = 0;

    io_uring_for_each_cqe(&ur.ring, head, cqe)
    {
        uint64_t ud = io_uring_cqe_get_data64(cqe);
        uint32_t id = (uint32_t)ud;
        n++;
        if (!(ud & UD_RECV)) {
            ur.free_slot[ur.n_free++] = id;
            ur.pending--;
            if (cqe->res == (int)(HDR + opt.payload))
                n_sent++;
            else
                n_send_err++; /* -EAGAIN: a full socket buffer drops it */
            continue;
        }
        if (cqe->flags & IORING_CQE_F_BUFFER) {
            unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
            uint8_t *buf = ur.rbufs + (size_t)bid * UR_BUFSZ;
            if (cqe->res > 0)
                on_message(&cl[id], buf, (size_t)cqe->res, now);
            io_uring_buf_ring_add(ur.br, buf, UR_BUFSZ, (unsigned short)bid,
                                  io_uring_buf_ring_mask(UR_BUFS), (int)bufs++);
        }
        if (!(cqe->flags & IORING_CQE_F_MORE))
            ur.rearm[ur.n_rearm++] = id; /* -ENOBUFS, a socket error, ... */
    }
    if (bufs)
        io_uring_buf_ring_advance(ur.br, (int)bufs);
    io_uring_cq_advance(&ur.ring, n);
    for (; ur.n_rearm; ur.n_rearm--)
        ur_arm(ur.rearm[ur.n_rearm - 1]);
}

/* Submit what is queued, wait up to timeout_ms until something has come
 * back (the sends' own completions do not count), handle it. */
static void ur_poll(int timeout_ms)
{
    struct __kernel_timespec ts = {0, (long long)timeout_ms * 1000000};
    struct io_uring_cqe *cqe;

    if (timeout_ms > 0)
        io_uring_submit_and_wait_timeout(&ur.ring, &cqe, ur.pending + 1, &ts, NULL);
    else
        io_uring_submit_and_get_events(&ur.ring);
    ur_reap(now_ns());
}

static void *map_or_null(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Set up the ring for the UDP clients (all of cl[] as fixed files) and arm
 * their receives. false: io_uring is not available, stay on epoll. */
static bool ur_init(void)
{
    static const unsigned flags[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, /* 6.1 */
        IORING_SETUP_COOP_TASKRUN,                               /* 5.19 */
        0,
    };
    const char *what = "io_uring_queue_init";
    int r = -1;

    for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]) && r < 0; k++) {
        struct io_uring_params p = {.flags = flags[k] | IORING_SETUP_CQSIZE, .cq_entries = UR_CQ};
        r = io_uring_queue_init_params(UR_SQ, &ur.ring, &p);
    }
    if (r < 0)
        goto fail;

    int *fds = malloc((size_t)opt.n * sizeof(*fds));
    for (int i = 0; fds && i < opt.n; i++)
        fds[i] = cl[i].fd;
    r = fds ? io_uring_register_files(&ur.ring, fds, (unsigned)opt.n) : -ENOMEM;
    free(fds);
    what = "register_files";
    if (r < 0)
        goto fail_ring;

    ur.slot_sz = (HDR + opt.payload + 63) & ~(size_t)63;
    ur.br = map_or_null(UR_BUFS * sizeof(struct io_uring_buf));
    ur.rbufs = map_or_null((size_t)UR_BUFS * UR_BUFSZ);
    ur.sbufs = map_or_null(UR_SLOTS * ur.slot_sz);
    ur.free_slot = calloc(UR_SLOTS, sizeof(*ur.free_slot));
    ur.rearm = calloc((size_t)opt.n, sizeof(*ur.rearm));
    if (!ur.br || !ur.rbufs || !ur.sbufs || !ur.free_slot || !ur.rearm)
        die("out of memory");
    struct io_uring_buf_reg reg = {
        .ring_addr = (unsigned long)(uintptr_t)ur.br, .ring_entries = UR_BUFS, .bgid = UR_BGID};
    what = "register_buf_ring";
    if ((r = io_uring_register_buf_ring(&ur.ring, &reg, 0)) < 0)
        goto fail_ring;
    io_uring_buf_ring_init(ur.br);
    for (int b = 0; b < UR_BUFS; b++)
        io_uring_buf_ring_add(ur.br, ur.rbufs + (size_t)b * UR_BUFSZ, UR_BUFSZ,
                              (unsigned short)b, io_uring_buf_ring_mask(UR_BUFS), b);
    io_uring_buf_ring_advance(ur.br, UR_BUFS);
    for (uint32_t s = 0; s < UR_SLOTS; s++)
        ur.free_slot[s] = UR_SLOTS - 1 - s;
    ur.n_free = UR_SLOTS;

    for (int i = 0; i < opt.n; i++)
        ur_arm((uint32_t)i);
    what = "submit";
    if ((r = io_uring_submit(&ur.ring)) < 0)
        goto fail_ring;
    ur.on = true;
    return true;

fail_ring:
    io_uring_queue_exit(&ur.ring);
fail:
    fprintf(stderr, "loadgen: io_uring unavailable (%s: %s), using epoll\n", what, strerror(-r));
    return false;
}

/* ---- data, sent and received ---- */

/* Send (epoll path) or queue (io_uring) a data packet of client i:
 * 0 sent or queued, -1 failed, 1 no room to queue it now. */
static int send_data(int i, int64_t now)
{
    struct client *c = &cl[i];

    if (c->st != ST_READY)
        return -1;
    if (ur.on)
        return ur_send((uint32_t)i, now);
    put_data(pkt, (uint32_t)i, (uint32_t)n_sent, now);
    if (client_send(c, pkt, HDR + opt.payload) < 0)
        return -1;
    n_sent++;
    return 0;
}

/* Wait for the clients' sockets for up to timeout_ms and read what came
 * (with io_uring: submit the queued sends first). */
static void poll_clients(int timeout_ms)
{
    if (ur.on) {
        ur_poll(timeout_ms);
        return;
    }
    struct epoll_event evs[256];
    int k = epoll_wait(ep, evs, 256, timeout_ms);
    int64_t now = now_ns();

    for (int i = 0; i < k; i++)
        client_read(&cl[evs[i].data.u32], now);
    if (opt.tp == TP_TLS) /* records already decrypted into SSL's buffer */
        for (int i = 0; i < opt.n; i++)
            if (SSL_pending(cl[i].ssl))
                client_read(&cl[i], now);
}

/* ---- phases ---- */

static void open_clients(void)
{
    struct sockaddr_storage ss;
    socklen_t sl = se_addr_to_sockaddr(&opt.server, &ss);

    ep = epoll_create1(0);
    for (int i = 0; i < opt.n; i++) {
        struct client *c = &cl[i];
        int one = 1;
        c->fd = socket(ss.ss_family, opt.tp == TP_UDP ? SOCK_DGRAM : SOCK_STREAM, 0);
        if (c->fd < 0)
            die("socket");
        if (opt.tp != TP_UDP)
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        /* Room for a whole window of echoes: loss should be the server's. */
        int rcv = 1 << 20;
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
        /* An explicit source address: the ephemeral ports are then taken
         * on that address only, not on every address (autobind). */
        struct sockaddr_storage bs;
        socklen_t bl = se_addr_to_sockaddr(&opt.bind_ip, &bs);
        if (bind(c->fd, (struct sockaddr *)&bs, bl) < 0)
            die("bind");
        if (connect(c->fd, (struct sockaddr *)&ss, sl) < 0)
            die("connect");
        if (opt.tp == TP_TLS) {
            c->ssl = SSL_new(tls_ctx);
            SSL_set_fd(c->ssl, c->fd);
            if (SSL_connect(c->ssl) != 1)
                die("TLS handshake");
        }
        if (opt.tp != TP_UDP)
            c->sbuf = malloc(STREAM_BUF);
        fcntl(c->fd, F_SETFL, O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
}

static void phase_setup(void)
{
    int64_t t0 = now_ns(), end = t0 + (int64_t)(30 + opt.n / 100) * 1000000000;
    double cpu0 = server_cpu();
    int started = 0, ready = 0, failed = 0;

    alloc_first_ns = t0;
    while (now_ns() < end) {
        int64_t now = now_ns();
        int inflight = 0;
        ready = failed = 0;
        for (int i = 0; i < started; i++) {
            struct client *c = &cl[i];
            if (c->st == ST_READY) {
                ready++;
                continue;
            }
            if (c->st == ST_FAILED) {
                failed++;
                continue;
            }
            inflight++;
            if (now >= c->deadline) {
                if (opt.tp != TP_UDP || ++c->tries >= SETUP_TRIES)
                    c->st = ST_FAILED;
                else
                    send_request(c, now);
            }
        }
        if (ready + failed == opt.n)
            break;
        while (started < opt.n && inflight < SETUP_INFLIGHT) {
            next_step(&cl[started++], ST_ALLOC0, now); /* as a real client: 401 first */
            inflight++;
        }
        poll_clients(1);
    }
    double cpu = server_cpu() - cpu0;
    double secs = (double)(alloc_last_ns - alloc_first_ns) / 1e9;
    printf("phase=alloc clients=%d ready=%d failed=%d allocs=%llu secs=%.3f allocs_per_s=%.0f "
           "server_cpu=%.3f\n",
           opt.n, ready, opt.n - ready, (unsigned long long)allocs_ok, secs,
           secs > 0 ? (double)allocs_ok / secs : 0, cpu);
    fflush(stdout);
}

static void plain_setup(void)
{
    for (int i = 0; i < opt.n; i++)
        cl[i].st = ST_READY;
}

static double pct(double p)
{
    uint64_t total = n_recv, want = (uint64_t)(p * (double)total), acc = 0;
    if (!total)
        return -1;
    for (int i = 0; i < HIST_US; i++) {
        acc += hist[i];
        if (acc > want)
            return i;
    }
    return HIST_US;
}

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* CPU time of the echo peer thread. */
static void peer_cputime(struct timespec *ts)
{
    clockid_t cid;
    *ts = (struct timespec){0, 0};
    if (pthread_getcpuclockid(echo.thread, &cid) == 0)
        clock_gettime(cid, ts);
}

/* One load phase: paced at rate (packets/s in total) or, with rate 0,
 * saturating with window packets in flight in total. */
static void phase_load(const char *name, double rate, int window)
{
    memset(hist, 0, HIST_US * sizeof(*hist));
    hist_over = 0;
    n_sent = n_recv = n_bad = 0;
    atomic_store(&echo.recv, 0);
    uint64_t lost_assumed = 0, last_recv = 0;
    int64_t last_progress = now_ns();
    double cpu0 = server_cpu(), mcpu0 = machine_cpu(), kcpu0 = softirqd_cpu();
    int64_t t0 = now_ns(), end = t0 + (int64_t)(opt.seconds * 1e9);
    int next = 0;
    struct rusage ru0;
    struct timespec pt0;
    getrusage(RUSAGE_SELF, &ru0);
    peer_cputime(&pt0);
    n_send_err = 0;

    for (int64_t now = t0; now < end; now = now_ns()) {
        uint64_t due;
        if (rate > 0) {
            due = (uint64_t)((double)(now - t0) / 1e9 * rate) + 1;
        } else {
            if (n_recv != last_recv) {
                last_recv = n_recv;
                last_progress = now;
            } else if (now - last_progress > 20000000) { /* 20 ms: count the window as lost */
                lost_assumed = n_sent - n_recv;
                last_progress = now;
            }
            due = n_recv + lost_assumed + (uint64_t)window;
        }
        for (int burst = 0; n_sent + ur.pending < due && burst < 4096; burst++) {
            int r = send_data(next, now);
            if (r > 0)
                break; /* no send slot free: reap first */
            if (r < 0)
                n_send_err++;
            if (++next == opt.n)
                next = 0;
            if (n_send_err > 1000000)
                break;
        }
        /* Saturating, the epoll path spins (as it always has); io_uring
         * sleeps until an echo comes back, which leaves the CPU to the
         * server and the echo peer instead of burning it in a poll loop. */
        poll_clients(rate > 0 || ur.on ? 1 : 0);
    }
    int64_t t1 = now_ns();
    double cpu_mid = server_cpu();
    /* Drain: whatever arrives in the next 300 ms still counts. */
    for (int64_t d = now_ns() + 300000000; now_ns() < d;)
        poll_clients(10);
    double cpu = server_cpu() - cpu0, mcpu = machine_cpu() - mcpu0, kcpu = softirqd_cpu() - kcpu0;
    double msecs = (double)(now_ns() - t0) / 1e9; /* the machine was measured over this */
    (void)cpu_mid;
    struct rusage ru1;
    struct timespec pt1;
    getrusage(RUSAGE_SELF, &ru1);
    peer_cputime(&pt1);
    double gen_cpu = tv_s(ru1.ru_utime) - tv_s(ru0.ru_utime) + tv_s(ru1.ru_stime) -
                     tv_s(ru0.ru_stime);
    double peer_cpu = (double)(pt1.tv_sec - pt0.tv_sec) + (double)(pt1.tv_nsec - pt0.tv_nsec) / 1e9;
    double secs = (double)(t1 - t0) / 1e9;
    uint64_t peer = atomic_load(&echo.recv);
    uint64_t relayed = peer + n_recv;
    double loss = n_sent ? 100.0 * (double)(n_sent - n_recv) / (double)n_sent : 0;
    printf("phase=%s clients=%d payload=%zu secs=%.3f sent=%llu peer_recv=%llu recv=%llu "
           "loss_pct=%.3f relayed=%llu relayed_per_s=%.0f server_cpu=%.3f pkts_per_cpu_s=%.0f "
           "rtt_p50_us=%.0f rtt_p99_us=%.0f send_errors=%llu bad=%llu rss_kib=%ld hwm_kib=%ld "
           "io=%s loadgen_cpu=%.3f peer_cpu=%.3f loadgen_pkts_per_cpu_s=%.0f machine_cpu=%.3f "
           "machine_bg=%.3f machine_us_per_pkt=%.3f machine_net_us_per_pkt=%.3f ksoftirqd_cpu=%.3f "
           "procs_us_per_pkt=%.3f\n",
           name, opt.n, opt.payload, secs, (unsigned long long)n_sent, (unsigned long long)peer,
           (unsigned long long)n_recv, loss, (unsigned long long)relayed, (double)relayed / secs,
           cpu, cpu > 0 ? (double)relayed / cpu : 0, pct(0.5), pct(0.99),
           (unsigned long long)n_send_err, (unsigned long long)n_bad, server_mem("VmRSS"),
           server_mem("VmHWM"), ur.on ? "uring" : "epoll", gen_cpu, peer_cpu,
           gen_cpu > 0 ? (double)relayed / gen_cpu : 0, mcpu, machine_bg_per_s * msecs,
           relayed ? mcpu * 1e6 / (double)relayed : 0,
           relayed ? (mcpu - machine_bg_per_s * msecs) * 1e6 / (double)relayed : 0, kcpu,
           relayed ? (cpu + gen_cpu + kcpu) * 1e6 / (double)relayed : 0);
    fflush(stdout);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen -s IP:PORT -e PEER_IP:PORT [-t udp|tcp|tls] [-n CLIENTS] [-l BYTES]\n"
            "               [-u USER -w PASS] [--rate PPS] [--window N] [-d SECONDS]\n"
            "               [--server-pid PID] [--plain] [--hold] [--no-uring] [-b CLIENT_IP]\n"
            "               [--machine-idle SECONDS]\n"
            "  Sets up CLIENTS TURN allocations (channel to PEER, an echo peer this\n"
            "  process runs) and relays ChannelData through the server. --rate paces the\n"
            "  total send rate; --window saturates with N packets in flight; both may be\n"
            "  given (paced phase, then saturating phase). --hold: after setup, print\n"
            "  the server's RSS and wait for a line on stdin (or 60 s) before the load.\n"
            "  --no-uring: UDP data phases on epoll + send() instead of io_uring.\n"
            "  --machine-idle S: before the load, sample the machine's busy CPU for S\n"
            "  seconds (other work), reported and subtracted as machine_net_us_per_pkt.\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"rate", 1, 0, 'R'},       {"window", 1, 0, 'W'},
                                       {"server-pid", 1, 0, 'P'}, {"plain", 0, 0, 'X'},
                                       {"hold", 0, 0, 'H'},       {"no-uring", 0, 0, 'U'},
                                       {"machine-idle", 1, 0, 'I'}, {0, 0, 0, 0}};
    double idle_sample = 0;
    bool have_s = false, have_e = false;
    int o;

    se_addr_parse_ip(&opt.bind_ip, "127.0.0.5", 0);
    while ((o = getopt_long(argc, argv, "s:e:t:n:l:u:w:d:b:", lo, NULL)) != -1) {
        switch (o) {
        case 'b':
            if (se_addr_parse_ip(&opt.bind_ip, optarg, 0) < 0)
                usage();
            break;
        case 's':
            have_s = bench_parse_hostport(optarg, &opt.server) == 0;
            break;
        case 'e':
            have_e = bench_parse_hostport(optarg, &opt.peer) == 0;
            break;
        case 't':
            opt.tp = !strcmp(optarg, "tls") ? TP_TLS : !strcmp(optarg, "tcp") ? TP_TCP : TP_UDP;
            break;
        case 'n':
            opt.n = atoi(optarg);
            break;
        case 'l':
            opt.payload = (size_t)atol(optarg);
            break;
        case 'u':
            opt.user = optarg;
            break;
        case 'w':
            opt.pass = optarg;
            break;
        case 'd':
            opt.seconds = atof(optarg);
            break;
        case 'R':
            opt.rate = atof(optarg);
            break;
        case 'W':
            opt.window = atoi(optarg);
            break;
        case 'P':
            opt.spid = atoi(optarg);
            break;
        case 'X':
            opt.plain = true;
            break;
        case 'H':
            opt.hold = true;
            break;
        case 'U':
            opt.no_uring = true;
            break;
        case 'I':
            idle_sample = atof(optarg);
            break;
        default:
            usage();
        }
    }
    if (!have_s || !have_e || opt.n < 1 || opt.payload < PAYLOAD_MIN || opt.payload > 1400 ||
        opt.seconds <= 0 || opt.seconds > 60 || (opt.rate <= 0 && opt.window <= 0))
        usage();
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    srand((unsigned)now_ns() ^ (unsigned)getpid());
    cl = calloc((size_t)opt.n, sizeof(*cl));
    hist = calloc(HIST_US, sizeof(*hist));
    pkt = calloc(1, HDR + 1500);
    if (!cl || !hist || !pkt)
        die("out of memory");
    pkt[0] = CHANNEL >> 8;
    pkt[1] = CHANNEL & 0xff;
    pkt[2] = (uint8_t)(opt.payload >> 8);
    pkt[3] = (uint8_t)opt.payload;
    if (opt.tp == TP_TLS) {
        tls_ctx = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL); /* loopback benchmark only */
    }
    bench_echo_start(&echo, &opt.peer, 4 << 20, false);
    long rss0 = server_mem("VmRSS");
    open_clients();
    if (opt.plain)
        plain_setup();
    else
        phase_setup();
    long rss1 = server_mem("VmRSS");
    printf("phase=mem clients=%d rss_before_kib=%ld rss_after_kib=%ld per_alloc_bytes=%.0f\n",
           opt.n, rss0, rss1, rss0 > 0 ? (double)(rss1 - rss0) * 1024.0 / opt.n : -1);
    fflush(stdout);
    if (opt.hold) {
        struct pollfd p = {0, POLLIN, 0};
        poll(&p, 1, 60000);
    }
    if (opt.tp == TP_UDP && !opt.no_uring)
        ur_init();
    if (idle_sample > 0 && idle_sample <= 10)
        machine_background(idle_sample);
    if (opt.rate > 0)
        phase_load("paced", opt.rate, 0);
    if (opt.window > 0)
        phase_load("sat", 0, opt.window);
    /* Release the allocations (Refresh, LIFETIME 0), so a later run that
     * gets the same ephemeral ports does not meet them (437). */
    for (int i = 0; i < opt.n; i++)
        if (cl[i].st == ST_READY && !opt.plain)
            next_step(&cl[i], ST_RELEASE, now_ns());
    for (int64_t d = now_ns() + 200000000; now_ns() < d;)
        poll_clients(10);
    bench_echo_stop(&echo);
    if (ur.on)
        io_uring_queue_exit(&ur.ring);
    for (int i = 0; i < opt.n; i++) {
        if (cl[i].ssl)
            SSL_free(cl[i].ssl);
        close(cl[i].fd);
        free(cl[i].sbuf);
    }
    return 0;
}
