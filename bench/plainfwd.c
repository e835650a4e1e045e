/*
 * plainfwd.c - the ceiling: a plain batched UDP forwarder.
 *
 * What user space can do on this machine with the least work per packet:
 * one thread, two sockets, recvmmsg/sendmmsg in batches of 64. Datagrams
 * from clients (on -l) go unchanged to the peer (-e) from a second
 * socket; datagrams from the peer go back to the client whose index
 * loadgen wrote after the 4-byte header (the address learned from that
 * client's own datagrams). No parsing, no permissions, no allocations: a
 * TURN relay can only be slower, and the benchmark reports how much.
 *
 * Exits on SIGTERM/SIGINT or after -t seconds (default 600).
 */
#include "bench/common.h"
#include "core/addr.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { BATCH = 64, MAX_CLIENTS = 65536, HDR = 4, BUFSZ = 2048 };

static volatile sig_atomic_t stop;
static struct sockaddr_in6 *clients; /* by index; sin6_family 0 = unknown */

static void on_signal(int s)
{
    (void)s;
    stop = 1;
}

static int udp_socket(const struct se_addr *a)
{
    struct sockaddr_storage ss;
    socklen_t sl = se_addr_to_sockaddr(a, &ss);
    int sz = 4 << 20;
    int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);

    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl) < 0) {
        perror("plainfwd: bind");
        exit(1);
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    return fd;
}

static uint8_t bufs[BATCH][BUFSZ];
static struct sockaddr_in6 names[BATCH];
static struct iovec iov[BATCH];
static struct mmsghdr m[BATCH];

static int rx(int fd)
{
    for (int i = 0; i < BATCH; i++) {
        iov[i] = (struct iovec){bufs[i], BUFSZ};
        m[i].msg_hdr = (struct msghdr){.msg_name = &names[i],
                                       .msg_namelen = sizeof(names[i]),
                                       .msg_iov = &iov[i],
                                       .msg_iovlen = 1};
    }
    return recvmmsg(fd, m, BATCH, MSG_DONTWAIT, NULL);
}

static void tx(int fd, int k)
{
    for (int off = 0; off < k;) {
        int s = sendmmsg(fd, m + off, (unsigned)(k - off), 0);
        if (s <= 0) {
            if (s < 0 && errno != EAGAIN && errno != ENOBUFS)
                perror("plainfwd: sendmmsg");
            return; /* a full buffer loses the rest, as in a relay */
        }
        off += s;
    }
}

static uint32_t client_index(int i)
{
    uint32_t idx;
    if (m[i].msg_len < HDR + 4)
        return MAX_CLIENTS;
    memcpy(&idx, bufs[i] + HDR, 4);
    return idx;
}

int main(int argc, char **argv)
{
    struct se_addr la, pa, ea;
    struct sockaddr_storage peer;
    socklen_t peer_len;
    int o, seconds = 600;
    const char *listen = NULL, *peer_s = NULL, *out = "127.0.0.1:0";

    while ((o = getopt(argc, argv, "l:e:o:t:")) != -1) {
        switch (o) {
        case 'l':
            listen = optarg;
            break;
        case 'e':
            peer_s = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 't':
            seconds = atoi(optarg);
            break;
        default:
            goto usage;
        }
    }
    if (!listen || !peer_s || bench_parse_hostport(listen, &la) < 0 || bench_parse_hostport(peer_s, &ea) < 0 ||
        bench_parse_hostport(out, &pa) < 0)
        goto usage;
    clients = calloc(MAX_CLIENTS, sizeof(*clients));
    if (!clients)
        return 1;
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    int cfd = udp_socket(&la), pfd = udp_socket(&pa);
    peer_len = se_addr_to_sockaddr(&ea, &peer);
    time_t end = time(NULL) + seconds;
    struct pollfd p[2] = {{cfd, POLLIN, 0}, {pfd, POLLIN, 0}};
    printf("plainfwd ready\n");
    fflush(stdout);

    while (!stop && time(NULL) < end) {
        if (poll(p, 2, 200) <= 0)
            continue;
        if (p[0].revents & POLLIN) {
            int k = rx(cfd);
            for (int i = 0; i < k; i++) {
                uint32_t idx = client_index(i);
                if (idx < MAX_CLIENTS)
                    memcpy(&clients[idx], &names[i], sizeof(names[i]));
                iov[i].iov_len = m[i].msg_len;
                m[i].msg_hdr.msg_name = &peer;
                m[i].msg_hdr.msg_namelen = peer_len;
            }
            if (k > 0)
                tx(pfd, k);
        }
        if (p[1].revents & POLLIN) {
            int k = rx(pfd), n = 0;
            for (int i = 0; i < k; i++) {
                uint32_t idx = client_index(i);
                if (idx >= MAX_CLIENTS || !clients[idx].sin6_family)
                    continue;
                /* compact the batch in place: slot n takes packet i */
                iov[n] = (struct iovec){bufs[i], m[i].msg_len};
                m[n].msg_hdr = (struct msghdr){.msg_name = &clients[idx],
                                               .msg_namelen = clients[idx].sin6_family == AF_INET
                                                                  ? sizeof(struct sockaddr_in)
                                                                  : sizeof(struct sockaddr_in6),
                                               .msg_iov = &iov[n],
                                               .msg_iovlen = 1};
                n++;
            }
            if (n > 0)
                tx(cfd, n);
        }
    }
    return 0;
usage:
    fprintf(stderr,
            "usage: plainfwd -l LISTEN_IP:PORT -e PEER_IP:PORT [-o OUT_IP:PORT] [-t SECONDS]\n");
    return 2;
}
