/*
 * soakgen.c - the load of `make soak` (bench/soak.sh): N TURN allocations
 * of paced media held for a long time, with allocation churn and policy
 * changes that reach live allocations, while the server's RSS, open fds
 * and CPU time are sampled.
 *
 * Clients. Each slot is one client socket (its own 5-tuple) that does
 * what a WebRTC client does, as bench/loadgen.c does: Allocate (401
 * first, then with a credential), CreatePermission and ChannelBind toward
 * one UDP echo peer (a thread of this process that sends every datagram
 * back), then ChannelData. Media is paced per allocation: slot i sends in
 * the milliseconds m with m % period == i % period (period = 1000 / pps),
 * so the load is spread evenly over each period. Both directions carry
 * it (client -> relay -> peer, echo, peer -> relay -> client).
 *
 * Churn. Each incarnation of a slot lives a random time in [L/2, 3L/2]
 * (L = --churn), then goes quiet (no sends) until its packets in flight
 * have come back (at least DRAIN_MS, at most DRAIN_MAX_MS: a generator
 * that lags on a busy machine must not release an allocation its echoes
 * are still queued for), releases the allocation (Refresh, LIFETIME 0),
 * closes its socket and starts again on a new socket with fresh
 * credentials: alternately a TURN REST username with a new expiry, signed
 * with one of --secrets shared secrets, and one of --lt-users long-term
 * users. Incarnations that outlive REFRESH_S keep their allocation,
 * permission and channel alive (ChannelBind, Refresh) as a browser does.
 *
 * Policy events, one every --policy-every seconds, run by the --ctl
 * script (bench/soak_ctl.sh, which calls the sedge CLI and the admin API):
 *   - changes that must not disturb live media: a bandwidth rule edited
 *     through the API and through the CLI, an unrelated peer deny rule
 *     added and removed (every live allocation is re-checked);
 *   - changes that must end live allocations: a user deleted (then added
 *     back with a new password), a user disabled (then enabled), a REST
 *     secret deleted (then a new one added). The slots holding that
 *     credential go quiet and drain first (so no media is in flight),
 *     the change is made, and after REVOKE_WAIT_MS each sends PROBES
 *     datagrams on its channel: a probe that comes back means the change
 *     did not reach the live allocation ("revoke leaks"). Those slots
 *     then start again with other credentials.
 *
 * Accounting. Media sent and received per incarnation; an incarnation's
 * loss is counted when it closes (after its drain). The generator's own
 * drops are counted apart: sends that failed (-EAGAIN), and datagrams the
 * kernel dropped on its sockets (SO_MEMINFO drops, read before close).
 *
 * Samples (every --sample seconds, "sample ..." lines): the server's VmRSS,
 * its anonymous and file-backed parts and VmHWM (/proc/PID/status), open fds (/proc/PID/fd), CPU
 * time
 * (/proc/PID/stat), and the allocations this generator holds. The report
 * (bench/report_soak.py) reads them.
 *
 * I/O: media sends are io_uring SEND SQEs submitted together each 1 ms
 * tick; every client socket has one multishot receive into a ring of
 * provided buffers (user_data carries the slot and its incarnation, so a
 * completion of a closed socket is recognised); STUN requests are plain
 * send()s. Every loop is bounded in time; traffic goes only to the given
 * addresses, which soak.sh keeps on loopback.
 */
#include "auth/auth.h"
#include "bench/common.h"
#include "core/addr.h"
#include "relay/stun.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <liburing.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

enum {
    HDR = 4,
    PAYLOAD_MIN = 20, /* slot, incarnation, kind, send time */
    CHANNEL = 0x4000,
    RTO_MS = 500, /* request retransmission */
    TRIES = 6,
    SETUP_INFLIGHT = 128,
    DRAIN_MS = 200,        /* quiet time at least, before an incarnation ends */
    DRAIN_MAX_MS = 10000,  /* ... and at most, if echoes are missing */
    REFRESH_S = 200,       /* ChannelBind + Refresh of long-lived incarnations */
    REVOKE_WAIT_MS = 4000, /* after the change: serve re-reads the DB each second */
    PROBES = 3,
    CTL_TIMEOUT_S = 30,
    UR_SQ = 1024,
    UR_CQ = 16384,
    UR_BUFS = 4096,
    UR_BUFSZ = 2048,
    UR_BGID = 9,
    UR_SLOTS = 4096,
    MAX_USERS = 64,
    MAX_SECRETS = 16,
};
#define UD_RECV (1ULL << 63)
#define UD_CANCEL (1ULL << 62)

enum st { S_IDLE, S_ALLOC0, S_ALLOC, S_PERM, S_BIND, S_LIVE, S_QUIET, S_RELEASE };
enum req { R_NONE, R_REBIND, R_REFRESH };

struct client {
    int fd;
    uint32_t gen; /* incarnation; bumped at close */
    enum st st;
    enum req req; /* a keep-alive request in flight while S_LIVE */
    int tries;
    int64_t deadline; /* retransmit / give up, or end of drain */
    int64_t end_at;   /* end of this incarnation (churn) */
    int64_t next_refresh;
    int64_t restart_at; /* S_IDLE: when to start again */
    uint8_t tid[12];
    bool doomed; /* its credential is being revoked */
    bool probed;
    int cred_user;   /* long-term user index, or -1 */
    int cred_secret; /* REST secret slot, or -1 */
    uint64_t tx, rx, probe_rx;
    uint8_t nonce_len;
    char nonce[128];
    char user[96];
    uint8_t key[16];
};

static struct {
    struct se_addr server, peer, bind_ip;
    int n, pps, lt_users, secrets;
    size_t payload;
    double seconds, churn, policy_every, sample;
    int spid;
    const char *ctl;
} opt = {.n = 1000,
         .pps = 50,
         .lt_users = 16,
         .secrets = 4,
         .payload = 200,
         .seconds = 600,
         .churn = 120,
         .policy_every = 20,
         .sample = 5};

static struct client *cl;
static char realm[128];
static int period_ms;
static int user_ver[MAX_USERS], secret_ver[MAX_SECRETS];
static bool user_busy[MAX_USERS], secret_busy[MAX_SECRETS];
static uint64_t n_creds;

/* Totals. */
static uint64_t m_tx, m_rx, m_lost, send_err, skipped, bad, probes_tx, probe_leaks;
static uint64_t created, ended_churn, ended_revoked, setup_fail, refresh_fail, release_fail;
static uint64_t gen_sock_drops, rearms, ctl_fail, events_done[6];
static uint64_t err_codes[700];
static struct bench_echo peer;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
#define MS(x) ((int64_t)(x)*1000000)

static void die(const char *m)
{
    fprintf(stderr, "soakgen: %s%s%s\n", m, errno ? ": " : "", errno ? strerror(errno) : "");
    exit(1);
}

/* ---- the server, seen from /proc ---- */

static int proc_fds(void)
{
    char path[64];
    int n = 0;
    snprintf(path, sizeof(path), "/proc/%d/fd", opt.spid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/*
 * Datagrams the kernel dropped on the server's UDP sockets (its receive
 * buffer was full: the server did not read in time), from the "drops"
 * column of /proc/net/udp for the sockets among /proc/PID/fd. A relay
 * socket's count goes when the socket closes, so the largest count seen
 * per inode is kept and summed (drops in a socket's last few seconds can
 * be missed; the listener sockets live for the whole run).
 */
enum { SD_SLOTS = 1 << 17 };
static struct sd {
    unsigned long ino;
    unsigned drops;
} * sd_tab;

static int cmp_ul(const void *a, const void *b)
{
    unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
    return x < y ? -1 : x > y;
}

static uint64_t server_sock_drops(void)
{
    static unsigned long inos[32768];
    size_t n = 0;
    char path[64], link[64], line[512];
    uint64_t sum = 0;

    if (!sd_tab && !(sd_tab = calloc(SD_SLOTS, sizeof(*sd_tab))))
        return 0;
    snprintf(path, sizeof(path), "/proc/%d/fd", opt.spid);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d)) && n < sizeof(inos) / sizeof(inos[0]);) {
        char fp[320];
        snprintf(fp, sizeof(fp), "%s/%s", path, e->d_name);
        ssize_t l = readlink(fp, link, sizeof(link) - 1);
        if (l > 0) {
            link[l] = 0;
            if (sscanf(link, "socket:[%lu]", &inos[n]) == 1)
                n++;
        }
    }
    closedir(d);
    qsort(inos, n, sizeof(inos[0]), cmp_ul);
    FILE *f = fopen("/proc/net/udp", "r");
    while (f && fgets(line, sizeof(line), f)) {
        unsigned long ino;
        unsigned drops;
        if (sscanf(line, "%*s %*s %*s %*s %*s %*s %*s %*s %*s %lu %*s %*s %u", &ino, &drops) != 2 ||
            !bsearch(&ino, inos, n, sizeof(inos[0]), cmp_ul))
            continue;
        for (size_t h = (ino * 2654435761u) & (SD_SLOTS - 1), k = 0; k < SD_SLOTS;
             k++, h = (h + 1) & (SD_SLOTS - 1)) {
            if (sd_tab[h].ino == ino || !sd_tab[h].ino) {
                sd_tab[h].ino = ino;
                if (drops > sd_tab[h].drops)
                    sd_tab[h].drops = drops;
                break;
            }
        }
    }
    if (f)
        fclose(f);
    for (size_t h = 0; h < SD_SLOTS; h++)
        sum += sd_tab[h].drops;
    return sum;
}

static int held(void)
{
    int k = 0;
    for (int i = 0; i < opt.n; i++)
        k += cl[i].st >= S_PERM;
    return k;
}

static void sample(double t)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double gcpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                  (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    int live = 0;
    for (int i = 0; i < opt.n; i++)
        live += cl[i].st == S_LIVE;
    printf(
        "sample t=%.1f rss_kib=%ld anon_kib=%ld file_kib=%ld hwm_kib=%ld fds=%d cpu_s=%.2f "
        "gen_cpu_s=%.2f held=%d live=%d "
        "tx=%llu rx=%llu peer_rx=%lu lost=%llu send_err=%llu created=%llu server_sock_drops=%llu\n",
        t, bench_proc_status(opt.spid, "VmRSS"), bench_proc_status(opt.spid, "RssAnon"),
        bench_proc_status(opt.spid, "RssFile"), bench_proc_status(opt.spid, "VmHWM"), proc_fds(),
        bench_proc_cpu(opt.spid), gcpu, held(), live, (unsigned long long)m_tx,
        (unsigned long long)m_rx, atomic_load(&peer.recv), (unsigned long long)m_lost,
        (unsigned long long)send_err, (unsigned long long)created,
        (unsigned long long)server_sock_drops());
    fflush(stdout);
}

/* Datagrams the kernel dropped on this socket (full receive buffer). */
static unsigned sock_drops(int fd)
{
    uint32_t mi[SK_MEMINFO_VARS] = {0};
    socklen_t l = sizeof(mi);
    if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mi, &l) < 0 || l < sizeof(mi))
        return 0;
    return mi[SK_MEMINFO_DROPS];
}

/* ---- io_uring ---- */

static struct {
    struct io_uring ring;
    struct io_uring_buf_ring *br;
    uint8_t *rbufs, *sbufs;
    size_t slot_sz;
    uint32_t free_slot[UR_SLOTS], slot_idx[UR_SLOTS], slot_gen[UR_SLOTS];
    unsigned n_free;
} ur;

static struct io_uring_sqe *ur_sqe(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ur.ring);
    if (!sqe) {
        io_uring_submit(&ur.ring);
        sqe = io_uring_get_sqe(&ur.ring);
    }
    if (!sqe)
        die("io_uring SQ full");
    return sqe;
}

static uint64_t recv_ud(uint32_t i)
{
    return UD_RECV | (uint64_t)(cl[i].gen & 0x3fffffff) << 32 | i;
}

static void ur_arm(uint32_t i)
{
    struct io_uring_sqe *sqe = ur_sqe();
    io_uring_prep_recv_multishot(sqe, cl[i].fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = UR_BGID;
    io_uring_sqe_set_data64(sqe, recv_ud(i));
}

static void *map_or_die(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap");
    return p;
}

static void ur_init(void)
{
    struct io_uring_params p = {.flags = IORING_SETUP_CQSIZE, .cq_entries = UR_CQ};
    int r = io_uring_queue_init_params(UR_SQ, &ur.ring, &p);
    if (r < 0) {
        errno = -r;
        die("io_uring_queue_init (soakgen needs io_uring)");
    }
    ur.slot_sz = (HDR + opt.payload + 63) & ~(size_t)63;
    ur.br = map_or_die(UR_BUFS * sizeof(struct io_uring_buf));
    ur.rbufs = map_or_die((size_t)UR_BUFS * UR_BUFSZ);
    ur.sbufs = map_or_die(UR_SLOTS * ur.slot_sz);
    struct io_uring_buf_reg reg = {
        .ring_addr = (unsigned long)(uintptr_t)ur.br, .ring_entries = UR_BUFS, .bgid = UR_BGID};
    if ((r = io_uring_register_buf_ring(&ur.ring, &reg, 0)) < 0) {
        errno = -r;
        die("io_uring_register_buf_ring");
    }
    io_uring_buf_ring_init(ur.br);
    for (int b = 0; b < UR_BUFS; b++)
        io_uring_buf_ring_add(ur.br, ur.rbufs + (size_t)b * UR_BUFSZ, UR_BUFSZ, (unsigned short)b,
                              io_uring_buf_ring_mask(UR_BUFS), b);
    io_uring_buf_ring_advance(ur.br, UR_BUFS);
    for (uint32_t s = 0; s < UR_SLOTS; s++)
        ur.free_slot[s] = UR_SLOTS - 1 - s;
    ur.n_free = UR_SLOTS;
}

/* A data datagram: slot, incarnation, kind (0 media, 1 probe), send time. */
static void put_data(uint8_t *buf, uint32_t i, uint32_t kind, int64_t now)
{
    buf[0] = CHANNEL >> 8;
    buf[1] = CHANNEL & 0xff;
    buf[2] = (uint8_t)(opt.payload >> 8);
    buf[3] = (uint8_t)opt.payload;
    memcpy(buf + HDR, &i, 4);
    memcpy(buf + HDR + 4, &cl[i].gen, 4);
    memcpy(buf + HDR + 8, &kind, 4);
    memcpy(buf + HDR + 12, &now, 8);
}

static void ur_reap(int64_t now);

/* Queue one datagram of slot i; false if no send slot is free even after
 * submitting what is queued (MSG_DONTWAIT sends complete in the submit). */
static bool ur_send(uint32_t i, uint32_t kind, int64_t now)
{
    if (!ur.n_free) {
        io_uring_submit_and_get_events(&ur.ring);
        ur_reap(now);
    }
    if (!ur.n_free)
        return false;
    uint32_t s = ur.free_slot[--ur.n_free];
    uint8_t *buf = ur.sbufs + s * ur.slot_sz;
    put_data(buf, i, kind, now);
    ur.slot_idx[s] = i | kind << 31;
    ur.slot_gen[s] = cl[i].gen;
    struct io_uring_sqe *sqe = ur_sqe();
    io_uring_prep_send(sqe, cl[i].fd, buf, HDR + opt.payload, MSG_DONTWAIT);
    io_uring_sqe_set_data64(sqe, s);
    return true;
}

/* ---- client requests ---- */

/* A new transaction; a retransmission keeps the ID (RFC 8489 §6.2.1), or
 * the server would take it for a second request: a second Allocate from
 * the same 5-tuple is a 437, and the first allocation would be orphaned. */
static void new_tid(struct client *c)
{
    for (int k = 0; k < 12; k++)
        c->tid[k] = (uint8_t)rand();
}

static void send_req(struct client *c, uint16_t method, int64_t now)
{
    uint8_t buf[512];
    struct stun_builder b;

    stun_build_begin(&b, buf, sizeof(buf), method, STUN_REQUEST, c->tid);
    if (method == TURN_REFRESH) {
        stun_put_u32(&b, STUN_A_LIFETIME, c->st == S_RELEASE ? 0 : 600);
    } else if (method == TURN_ALLOCATE) {
        uint8_t rt[4] = {STUN_PROTO_UDP, 0, 0, 0};
        stun_put_attr(&b, STUN_A_REQUESTED_TRANSPORT, rt, 4);
    } else {
        if (method == TURN_CHANNEL_BIND)
            stun_put_u32(&b, STUN_A_CHANNEL_NUMBER, (uint32_t)CHANNEL << 16);
        stun_put_xor_addr(&b, STUN_A_XOR_PEER_ADDRESS, &opt.peer);
    }
    if (c->st != S_ALLOC0) {
        stun_put_attr(&b, STUN_A_USERNAME, c->user, strlen(c->user));
        stun_put_attr(&b, STUN_A_REALM, realm, strlen(realm));
        stun_put_attr(&b, STUN_A_NONCE, c->nonce, c->nonce_len);
        stun_put_integrity(&b, c->key, sizeof(c->key));
    }
    int len = stun_build_end(&b);
    if (len > 0)
        (void)send(c->fd, buf, (size_t)len, MSG_DONTWAIT); /* lost: retransmitted */
    c->deadline = now + MS(RTO_MS);
}

static uint16_t st_method(const struct client *c)
{
    if (c->st == S_LIVE)
        return c->req == R_REBIND ? TURN_CHANNEL_BIND : TURN_REFRESH;
    return c->st == S_PERM      ? TURN_CREATE_PERMISSION
           : c->st == S_BIND    ? TURN_CHANNEL_BIND
           : c->st == S_RELEASE ? TURN_REFRESH
                                : TURN_ALLOCATE;
}

static void step(struct client *c, enum st st, int64_t now)
{
    c->st = st;
    c->tries = 0;
    new_tid(c);
    send_req(c, st_method(c), now);
}

/* Pick a credential for a new incarnation: REST and long-term alternately,
 * round robin over those not being revoked. Keys need the realm. */
static bool pick_cred(struct client *c)
{
    uint64_t k = n_creds++;
    char pw[64];
    for (int t = 0; t < MAX_USERS + MAX_SECRETS; t++, k++) {
        if (k % 2 == 0) {
            int s = (int)(k / 2 % (uint64_t)opt.secrets);
            if (secret_busy[s])
                continue;
            char secret[64];
            snprintf(secret, sizeof(secret), "soak-secret-%d-%d", s, secret_ver[s]);
            snprintf(c->user, sizeof(c->user), "%lld:soak-rest-%d", (long long)time(NULL) + 3600,
                     (int)(k / 2 % 64));
            if (auth_rest_password(secret, c->user, strlen(c->user), pw, sizeof(pw)) < 0)
                return false;
            c->cred_user = -1;
            c->cred_secret = s;
        } else {
            int u = (int)(k / 2 % (uint64_t)opt.lt_users);
            if (user_busy[u])
                continue;
            snprintf(c->user, sizeof(c->user), "soak-lt-%d", u);
            snprintf(pw, sizeof(pw), "soak-pw-%d-%d", u, user_ver[u]);
            c->cred_user = u;
            c->cred_secret = -1;
        }
        return realm[0] && auth_key_md5(c->user, realm, pw, c->key) == 0;
    }
    return false;
}

static void client_open(uint32_t i, int64_t now)
{
    struct client *c = &cl[i];
    struct sockaddr_storage ss, bs;
    socklen_t sl = se_addr_to_sockaddr(&opt.server, &ss);
    socklen_t bl = se_addr_to_sockaddr(&opt.bind_ip, &bs);
    int rcv = 1 << 20; /* 5 s of its own media */

    c->fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket");
    if (setsockopt(c->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)) < 0)
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    if (bind(c->fd, (struct sockaddr *)&bs, bl) < 0 ||
        connect(c->fd, (struct sockaddr *)&ss, sl) < 0)
        die("bind/connect");
    c->tx = c->rx = c->probe_rx = 0;
    c->doomed = c->probed = false;
    c->req = R_NONE;
    c->cred_user = c->cred_secret = -1;
    ur_arm(i);
    step(c, S_ALLOC0, now); /* as a browser does: 401 first, then the credential */
}

/* End an incarnation: count its media, cancel its receive, close. */
static void client_close(uint32_t i, int64_t now, double restart_s)
{
    struct client *c = &cl[i];
    if (c->tx > c->rx)
        m_lost += c->tx - c->rx;
    gen_sock_drops += sock_drops(c->fd);
    struct io_uring_sqe *sqe = ur_sqe();
    io_uring_prep_cancel64(sqe, recv_ud(i), 0);
    io_uring_sqe_set_data64(sqe, UD_CANCEL);
    io_uring_submit(&ur.ring); /* before close: the cancel finds the request */
    close(c->fd);
    c->fd = -1;
    c->gen++;
    c->st = S_IDLE;
    c->restart_at = now + (int64_t)(restart_s * 1e9);
}

/* Quiet long enough: every echo is back, or DRAIN_MAX_MS have passed
 * (deadline is DRAIN_MS after going quiet). */
static bool drained(const struct client *c, int64_t now)
{
    return now >= c->deadline &&
           (c->rx >= c->tx || now >= c->deadline + MS(DRAIN_MAX_MS - DRAIN_MS));
}

static void go_live(struct client *c, int64_t now)
{
    c->st = S_LIVE;
    c->req = R_NONE;
    created++;
    double life = opt.churn * (0.5 + (double)rand() / RAND_MAX);
    c->end_at = now + (int64_t)(life * 1e9);
    c->next_refresh = now + (int64_t)REFRESH_S * 1000000000;
    if (c->doomed) { /* its credential is being revoked: no media */
        c->st = S_QUIET;
        c->deadline = now + MS(DRAIN_MS);
    }
}

static void on_response(uint32_t i, const uint8_t *buf, size_t len, int64_t now)
{
    struct client *c = &cl[i];
    struct stun_msg m;
    const struct stun_attr *a;

    if (stun_parse(&m, buf, len) < 0 || memcmp(m.tid, c->tid, 12) != 0)
        return;
    if ((c->st == S_LIVE && c->req == R_NONE) || c->st == S_QUIET || c->st == S_IDLE)
        return; /* a late answer to a request no longer in flight */
    if (m.cls == STUN_ERROR) {
        int code = 0;
        if ((a = stun_find(&m, STUN_A_ERROR_CODE)))
            stun_attr_error_code(&m, a, &code);
        if (code == 401 || code == 438) {
            const struct stun_attr *r = stun_find(&m, STUN_A_REALM);
            const struct stun_attr *nn = stun_find(&m, STUN_A_NONCE);
            if (r && nn && nn->len <= sizeof(c->nonce) && r->len < sizeof(realm) &&
                (c->st == S_ALLOC0 || code == 438)) {
                if (!realm[0])
                    memcpy(realm, stun_attr_value(&m, r), r->len);
                memcpy(c->nonce, stun_attr_value(&m, nn), nn->len);
                c->nonce_len = (uint8_t)nn->len;
                if (c->st == S_ALLOC0) {
                    if (!pick_cred(c))
                        die("no credential");
                    step(c, S_ALLOC, now);
                } else {
                    new_tid(c);
                    send_req(c, st_method(c), now);
                }
                return;
            }
        }
        if (code >= 0 && code < 700)
            err_codes[code]++;
        if (c->st == S_RELEASE && code == 437) { /* already gone: still released */
            client_close(i, now, 0.2);
            return;
        }
        if (c->st == S_LIVE) {
            refresh_fail++;
            c->req = R_NONE;
            return;
        }
        if (c->st == S_RELEASE) {
            release_fail++;
            client_close(i, now, 0.2);
            return;
        }
        if (!c->doomed)
            setup_fail++;
        if (c->st >= S_PERM && !c->doomed)
            step(c, S_RELEASE, now); /* the allocation exists: give it back */
        else
            client_close(i, now, c->doomed ? 0.2 : 2.0);
        return;
    }
    if (m.cls != STUN_SUCCESS)
        return;
    switch (c->st) {
    case S_ALLOC0:
    case S_ALLOC:
        step(c, S_PERM, now);
        break;
    case S_PERM:
        step(c, S_BIND, now);
        break;
    case S_BIND:
        go_live(c, now);
        break;
    case S_LIVE:
        if (c->req == R_REBIND) {
            c->req = R_REFRESH;
            c->tries = 0;
            new_tid(c);
            send_req(c, TURN_REFRESH, now);
        } else {
            c->req = R_NONE;
        }
        break;
    case S_RELEASE:
        ended_churn++;
        client_close(i, now, 0.2);
        break;
    default:
        break;
    }
}

static void on_datagram(uint32_t i, uint8_t *buf, size_t len, int64_t now)
{
    struct client *c = &cl[i];
    if (len < 4)
        return;
    if (buf[0] < 0x40 || buf[0] >= 0x80) {
        on_response(i, buf, len, now);
        return;
    }
    uint32_t idx, gen, kind;
    if (len < HDR + opt.payload || (size_t)(buf[2] << 8 | buf[3]) != opt.payload) {
        bad++;
        return;
    }
    memcpy(&idx, buf + HDR, 4);
    memcpy(&gen, buf + HDR + 4, 4);
    memcpy(&kind, buf + HDR + 8, 4);
    if (idx != i || gen != c->gen) {
        bad++;
        return;
    }
    if (kind == 1) {
        c->probe_rx++;
        probe_leaks++;
    } else {
        c->rx++;
        m_rx++;
    }
}

static void ur_reap(int64_t now)
{
    struct io_uring_cqe *cqe;
    unsigned head, n = 0, bufs = 0;
    static uint32_t *rearm;
    unsigned n_rearm = 0;

    if (!rearm && !(rearm = calloc((size_t)opt.n, sizeof(*rearm))))
        die("out of memory");

    io_uring_for_each_cqe(&ur.ring, head, cqe)
    {
        uint64_t ud = io_uring_cqe_get_data64(cqe);
        n++;
        if (ud == UD_CANCEL)
            continue;
        if (!(ud & UD_RECV)) { /* a send */
            uint32_t s = (uint32_t)ud, i = ur.slot_idx[s] & 0x7fffffff;
            bool probe = ur.slot_idx[s] >> 31;
            ur.free_slot[ur.n_free++] = s;
            if (cqe->res != (int)(HDR + opt.payload)) {
                send_err++; /* -EAGAIN: the generator dropped it, never sent */
            } else if (probe) {
                probes_tx++;
            } else if (ur.slot_gen[s] == cl[i].gen) {
                cl[i].tx++;
                m_tx++;
            }
            continue;
        }
        uint32_t i = (uint32_t)ud, gen = (uint32_t)(ud >> 32) & 0x3fffffff;
        bool current = i < (uint32_t)opt.n && gen == (cl[i].gen & 0x3fffffff) && cl[i].fd >= 0;
        if (cqe->flags & IORING_CQE_F_BUFFER) {
            unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
            uint8_t *buf = ur.rbufs + (size_t)bid * UR_BUFSZ;
            if (current && cqe->res > 0)
                on_datagram(i, buf, (size_t)cqe->res, now);
            io_uring_buf_ring_add(ur.br, buf, UR_BUFSZ, (unsigned short)bid,
                                  io_uring_buf_ring_mask(UR_BUFS), (int)bufs++);
        }
        if (!(cqe->flags & IORING_CQE_F_MORE) && current && n_rearm < (unsigned)opt.n) {
            rearm[n_rearm++] = i; /* -ENOBUFS: the datagrams wait in the socket */
            rearms++;
        }
    }
    if (bufs)
        io_uring_buf_ring_advance(ur.br, (int)bufs);
    io_uring_cq_advance(&ur.ring, n);
    for (unsigned k = 0; k < n_rearm; k++)
        if (cl[rearm[k]].fd >= 0)
            ur_arm(rearm[k]);
}

static void ur_poll(int timeout_ms)
{
    struct __kernel_timespec ts = {0, (long long)timeout_ms * 1000000};
    struct io_uring_cqe *cqe;
    io_uring_submit_and_wait_timeout(&ur.ring, &cqe, 1, &ts, NULL);
    ur_reap(now_ns());
}

/* ---- policy events ---- */

enum ev_kind { EV_BW_API, EV_USER_DEL, EV_DENY_RULE, EV_SECRET, EV_BW_CLI, EV_USER_DISABLE };
static const char *ev_name[] = {"bw-api",        "user-del", "deny-rule",
                                "secret-rotate", "bw-cli",   "user-disable"};

static struct {
    enum ev_kind kind;
    int stage; /* 0 idle */
    int target;
    int64_t at;
    pid_t child;
    int64_t child_deadline;
    uint64_t seq;
} ev;

static pid_t ctl_spawn(const char *a1, const char *a2, const char *a3)
{
    char *argv[] = {(char *)opt.ctl, (char *)a1, (char *)a2, (char *)a3, NULL};
    pid_t pid;
    if (!opt.ctl || posix_spawn(&pid, opt.ctl, NULL, NULL, argv, environ) != 0) {
        ctl_fail++;
        return -1;
    }
    ev.child_deadline = now_ns() + (int64_t)CTL_TIMEOUT_S * 1000000000;
    return pid;
}

/* true once the ctl child has ended (or timed out; counted). */
static bool ctl_done(void)
{
    int status;
    if (ev.child <= 0)
        return true;
    pid_t r = waitpid(ev.child, &status, WNOHANG);
    if (r == 0 && now_ns() < ev.child_deadline)
        return false;
    if (r == 0) {
        kill(ev.child, SIGKILL);
        waitpid(ev.child, &status, 0);
        ctl_fail++;
    } else if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        ctl_fail++;
    }
    ev.child = 0;
    return true;
}

static bool ev_revokes(void)
{
    return ev.kind == EV_USER_DEL || ev.kind == EV_USER_DISABLE || ev.kind == EV_SECRET;
}

static bool holds_target(const struct client *c)
{
    return ev.kind == EV_SECRET ? c->cred_secret == ev.target : c->cred_user == ev.target;
}

static void ev_start(int64_t now)
{
    char a[64];
    ev.kind = (enum ev_kind)(ev.seq % 6);
    ev.stage = 1;
    if (!ev_revokes()) {
        snprintf(a, sizeof(a), "%llu", (unsigned long long)ev.seq);
        ev.child = ctl_spawn(ev_name[ev.kind], a, NULL);
        ev.stage = 9; /* wait for it, then done */
        return;
    }
    /* Revoking: doom the slots of one credential; they go quiet and drain. */
    ev.target = ev.kind == EV_SECRET ? (int)(ev.seq / 6 % (uint64_t)opt.secrets)
                                     : (int)(ev.seq / 3 % (uint64_t)opt.lt_users);
    if (ev.kind == EV_SECRET)
        secret_busy[ev.target] = true;
    else
        user_busy[ev.target] = true;
    for (int i = 0; i < opt.n; i++) {
        struct client *c = &cl[i];
        if (c->st == S_IDLE || !holds_target(c))
            continue;
        c->doomed = true;
        if (c->st == S_LIVE) {
            c->st = S_QUIET;
            c->deadline = now + MS(DRAIN_MS);
        }
    }
    ev.at = now + MS(DRAIN_MS + 500);
}

static void ev_step(int64_t now)
{
    char a[64], b[64];
    switch (ev.stage) {
    case 1: /* drained: make the change */
        if (now < ev.at)
            return;
        for (int i = 0; i < opt.n; i++)
            if (cl[i].doomed && cl[i].st == S_QUIET && !drained(&cl[i], now))
                return;
        if (ev.kind == EV_SECRET) {
            snprintf(a, sizeof(a), "soak-secret-%d-%d", ev.target, secret_ver[ev.target]);
            ev.child = ctl_spawn("secret-del", a, NULL);
        } else {
            snprintf(a, sizeof(a), "soak-lt-%d", ev.target);
            ev.child = ctl_spawn(ev.kind == EV_USER_DEL ? "user-del" : "user-disable", a, NULL);
        }
        ev.stage = 2;
        return;
    case 2:
        if (!ctl_done())
            return;
        ev.at = now + MS(REVOKE_WAIT_MS);
        ev.stage = 3;
        return;
    case 3: /* probe the doomed allocations */
        if (now < ev.at)
            return;
        for (int i = 0; i < opt.n; i++)
            if (cl[i].doomed && cl[i].st == S_QUIET) {
                for (int p = 0; p < PROBES; p++)
                    ur_send((uint32_t)i, 1, now);
                cl[i].probed = true;
            }
        ev.at = now + MS(1000);
        ev.stage = 4;
        return;
    case 4: /* verdict; those slots start again; the credential comes back */
        if (now < ev.at)
            return;
        for (int i = 0; i < opt.n; i++) {
            if (!cl[i].doomed || cl[i].st == S_IDLE)
                continue;
            if (cl[i].probed)
                ended_revoked++;
            client_close((uint32_t)i, now, 0.5);
        }
        if (ev.kind == EV_SECRET) {
            secret_ver[ev.target]++;
            snprintf(a, sizeof(a), "soak-secret-%d-%d", ev.target, secret_ver[ev.target]);
            ev.child = ctl_spawn("secret-add", a, NULL);
        } else if (ev.kind == EV_USER_DEL) {
            user_ver[ev.target]++;
            snprintf(a, sizeof(a), "soak-lt-%d", ev.target);
            snprintf(b, sizeof(b), "soak-pw-%d-%d", ev.target, user_ver[ev.target]);
            ev.child = ctl_spawn("user-add", a, b);
        } else {
            snprintf(a, sizeof(a), "soak-lt-%d", ev.target);
            ev.child = ctl_spawn("user-enable", a, NULL);
        }
        ev.stage = 5;
        return;
    case 5:
        if (!ctl_done())
            return;
        ev.at = now + MS(1500); /* serve reloads within a second */
        ev.stage = 6;
        return;
    case 6:
        if (now < ev.at)
            return;
        if (ev.kind == EV_SECRET)
            secret_busy[ev.target] = false;
        else
            user_busy[ev.target] = false;
        /* fall through */
    case 9:
        if (!ctl_done())
            return;
        events_done[ev.kind]++;
        ev.stage = 0;
        ev.seq++;
        return;
    }
}

/* ---- the run ---- */

/* Per-slot housekeeping: retransmissions, churn, drains, restarts. */
static void tend(int64_t now, bool ending, int *inflight)
{
    for (int i = 0; i < opt.n; i++) {
        struct client *c = &cl[i];
        switch (c->st) {
        case S_IDLE:
            if (!ending && now >= c->restart_at && *inflight < SETUP_INFLIGHT) {
                client_open((uint32_t)i, now);
                ++*inflight;
            }
            break;
        case S_LIVE:
            if (ending || now >= c->end_at) {
                c->st = S_QUIET;
                c->deadline = now + MS(DRAIN_MS);
            } else if (c->req != R_NONE && now >= c->deadline) {
                if (++c->tries >= TRIES) {
                    refresh_fail++;
                    c->req = R_NONE;
                } else {
                    send_req(c, st_method(c), now);
                }
            } else if (c->req == R_NONE && now >= c->next_refresh) {
                c->next_refresh = now + (int64_t)REFRESH_S * 1000000000;
                c->req = R_REBIND;
                c->tries = 0;
                new_tid(c);
                send_req(c, TURN_CHANNEL_BIND, now);
            }
            break;
        case S_QUIET:
            if (!c->doomed && drained(c, now))
                step(c, S_RELEASE, now);
            break;
        default: /* a request in flight */
            if (now >= c->deadline) {
                if (++c->tries >= TRIES) {
                    if (c->st == S_RELEASE) {
                        release_fail++;
                        client_close((uint32_t)i, now, 0.2);
                    } else if (c->st >= S_PERM && !c->doomed) {
                        setup_fail++;
                        step(c, S_RELEASE, now); /* the allocation exists */
                    } else {
                        if (!c->doomed)
                            setup_fail++;
                        client_close((uint32_t)i, now, 2.0);
                    }
                } else {
                    send_req(c, st_method(c), now);
                }
            }
            if (c->st >= S_ALLOC0 && c->st <= S_BIND)
                ++*inflight;
        }
    }
}

static void usage(void)
{
    fprintf(stderr,
            "usage: soakgen -s IP:PORT -e PEER_IP:PORT -b CLIENT_IP --server-pid PID --ctl SCRIPT\n"
            "               [-n ALLOCS] [--pps N] [-l BYTES] [-d SECONDS] [--churn SECONDS]\n"
            "               [--policy-every SECONDS] [--sample SECONDS] [--lt-users N]\n"
            "               [--secrets N]\n"
            "  Holds ALLOCS TURN allocations with paced media (N packets/s each, echoed\n"
            "  back by a peer in this process), ends and re-creates them (mean life\n"
            "  --churn), runs a policy change every --policy-every seconds through\n"
            "  SCRIPT, samples the server every --sample seconds. Long-term users are\n"
            "  soak-lt-K / soak-pw-K-V, REST secrets soak-secret-K-V (V from 0).\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"server-pid", 1, 0, 'P'}, {"ctl", 1, 0, 'C'},          {"pps", 1, 0, 'R'},
        {"churn", 1, 0, 'H'},      {"policy-every", 1, 0, 'E'}, {"sample", 1, 0, 'S'},
        {"lt-users", 1, 0, 'U'},   {"secrets", 1, 0, 'K'},      {0, 0, 0, 0}};
    bool have_s = false, have_e = false, have_b = false;
    int o;

    while ((o = getopt_long(argc, argv, "s:e:b:n:l:d:", lo, NULL)) != -1) {
        switch (o) {
        case 's':
            have_s = bench_parse_hostport(optarg, &opt.server) == 0;
            break;
        case 'e':
            have_e = bench_parse_hostport(optarg, &opt.peer) == 0;
            break;
        case 'b':
            have_b = se_addr_parse_ip(&opt.bind_ip, optarg, 0) == 0;
            break;
        case 'n':
            opt.n = atoi(optarg);
            break;
        case 'l':
            opt.payload = (size_t)atol(optarg);
            break;
        case 'd':
            opt.seconds = atof(optarg);
            break;
        case 'P':
            opt.spid = atoi(optarg);
            break;
        case 'C':
            opt.ctl = optarg;
            break;
        case 'R':
            opt.pps = atoi(optarg);
            break;
        case 'H':
            opt.churn = atof(optarg);
            break;
        case 'E':
            opt.policy_every = atof(optarg);
            break;
        case 'S':
            opt.sample = atof(optarg);
            break;
        case 'U':
            opt.lt_users = atoi(optarg);
            break;
        case 'K':
            opt.secrets = atoi(optarg);
            break;
        default:
            usage();
        }
    }
    if (!have_s || !have_e || !have_b || opt.spid <= 0 || opt.n < 1 || opt.n > 20000 ||
        opt.pps < 1 || opt.pps > 1000 || opt.payload < PAYLOAD_MIN || opt.payload > 1400 ||
        opt.seconds <= 0 || opt.seconds > 86400 || opt.churn < 2 || opt.sample < 1 ||
        opt.lt_users < 1 || opt.lt_users > MAX_USERS || opt.secrets < 1 ||
        opt.secrets > MAX_SECRETS)
        usage();
    period_ms = 1000 / opt.pps;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    srand((unsigned)now_ns() ^ (unsigned)getpid());
    cl = calloc((size_t)opt.n, sizeof(*cl));
    if (!cl)
        die("out of memory");
    for (int i = 0; i < opt.n; i++)
        cl[i].fd = -1;

    /* 32 MiB each way, past rmem_max if allowed: about a second of the
     * whole load, so the echo is not what drops */
    bench_echo_start(&peer, &opt.peer, 32 << 20, true);
    ur_init();

    int64_t t0 = now_ns(), end = t0 + (int64_t)(opt.seconds * 1e9);
    int64_t next_sample = t0, next_ev = t0 + (int64_t)(opt.policy_every * 1e9);
    int64_t last_ms = 0, hard_end = end + MS(60000);
    sample(0);
    for (int64_t now = t0; now < hard_end; now = now_ns()) {
        bool ending = now >= end;
        int inflight = 0;
        tend(now, ending, &inflight);
        /* media of the milliseconds since the last pass; a generator that
         * stalled for more than a second skips the rest (counted) */
        int64_t ms = (now - t0) / 1000000, from = last_ms + 1;
        if (ms - from > 1000) {
            skipped += (uint64_t)(ms - from - 1000) * (uint64_t)opt.n / (uint64_t)period_ms;
            from = ms - 1000;
        }
        for (int64_t m = from; m <= ms; m++)
            for (int i = (int)(m % period_ms); i < opt.n; i += period_ms)
                if (cl[i].st == S_LIVE && !ur_send((uint32_t)i, 0, now))
                    send_err++;
        last_ms = ms;
        if (ev.stage)
            ev_step(now);
        else if (!ending && now >= next_ev) {
            ev_start(now);
            next_ev = now + (int64_t)(opt.policy_every * 1e9);
        }
        if (now >= next_sample) {
            sample((double)(now - t0) / 1e9);
            next_sample += (int64_t)(opt.sample * 1e9);
        }
        ur_poll(1);
        if (ending && !ev.stage) {
            bool any = false;
            for (int i = 0; i < opt.n && !any; i++)
                any = cl[i].st != S_IDLE;
            if (!any)
                break;
        }
    }
    int64_t t1 = now_ns();
    sample((double)(t1 - t0) / 1e9);
    bench_echo_stop(&peer);
    unsigned still = 0;
    for (int i = 0; i < opt.n; i++)
        if (cl[i].fd >= 0) {
            still++;
            client_close((uint32_t)i, t1, 0);
        }
    unsigned pdrops = sock_drops(peer.fd);
    printf("summary secs=%.1f allocs=%d pps=%d payload=%zu tx=%llu rx=%llu peer_rx=%lu lost=%llu "
           "send_err=%llu skipped=%llu gen_sock_drops=%llu peer_sock_drops=%u peer_send_drop=%lu "
           "bad=%llu "
           "created=%llu ended_churn=%llu ended_revoked=%llu setup_fail=%llu refresh_fail=%llu "
           "release_fail=%llu rearms=%llu probes=%llu probe_leaks=%llu ctl_fail=%llu not_ended=%u",
           (double)(t1 - t0) / 1e9, opt.n, opt.pps, opt.payload, (unsigned long long)m_tx,
           (unsigned long long)m_rx, atomic_load(&peer.recv), (unsigned long long)m_lost,
           (unsigned long long)send_err, (unsigned long long)skipped,
           (unsigned long long)gen_sock_drops, pdrops, atomic_load(&peer.send_drop),
           (unsigned long long)bad, (unsigned long long)created, (unsigned long long)ended_churn,
           (unsigned long long)ended_revoked, (unsigned long long)setup_fail,
           (unsigned long long)refresh_fail, (unsigned long long)release_fail,
           (unsigned long long)rearms, (unsigned long long)probes_tx,
           (unsigned long long)probe_leaks, (unsigned long long)ctl_fail, still);
    for (int k = 0; k < 6; k++)
        printf(" ev_%s=%llu", ev_name[k], (unsigned long long)events_done[k]);
    for (int k = 0; k < 700; k++)
        if (err_codes[k])
            printf(" err_%d=%llu", k, (unsigned long long)err_codes[k]);
    printf("\n");
    return 0;
}
