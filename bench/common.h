/*
 * common.h - helpers the load tools share (bench/loadgen.c, bench/soakgen.c,
 * bench/plainfwd.c): IP:PORT arguments, the server under test read from
 * /proc, and the UDP echo peer thread.
 *
 * Header-only (static functions): every .c file in bench/ is a tool of
 * its own (Makefile), so there is no object to share. The echo peer sends
 * every datagram back to where it came from - for a TURN server, the
 * allocation's relayed address - with recvmmsg/sendmmsg in batches; it
 * polls its stop flag through SO_RCVTIMEO, so stopping takes at most
 * 100 ms. Everything here reads or sends only where it is told.
 */
#ifndef SE_BENCH_COMMON_H
#define SE_BENCH_COMMON_H

#include "core/addr.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* "IP:PORT" (the last ':' splits, so "::1:3478" works) into a. 0 or -1. */
static inline int bench_parse_hostport(const char *s, struct se_addr *a)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof(host))
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    return se_addr_parse_ip(a, host, (uint16_t)atoi(colon + 1));
}

/* utime + stime of process pid (all its threads) in seconds; 0 if gone. */
static inline double bench_proc_cpu(int pid)
{
    char path[64], buf[1024];
    unsigned long ut = 0, stt = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if (!(f = fopen(path, "r")))
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the name may hold spaces and ')' */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stt) != 2)
        return 0;
    return (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
}

/* A "Field:  N kB" line of /proc/pid/status (VmRSS, VmHWM, RssAnon, ...)
 * in KiB; -1 if the process or the field is not there. */
static inline long bench_proc_status(int pid, const char *field)
{
    char path[64], line[256];
    size_t fl = strlen(field);
    long v = -1;
    FILE *f;

    if (pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    if (!(f = fopen(path, "r")))
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':')
            v = atol(line + fl + 1);
    fclose(f);
    return v;
}

/* ---- the echo peer ---- */

struct bench_echo {
    int fd;
    pthread_t thread;
    atomic_bool stop;
    atomic_ulong recv;      /* datagrams received */
    atomic_ulong send_drop; /* received but not sent back (sendmmsg failed) */
};

static inline void *bench_echo_main(void *arg)
{
    enum { B = 64 };
    struct bench_echo *e = arg;
    struct mmsghdr m[B];
    struct iovec iov[B];
    struct sockaddr_in6 from[B];
    static uint8_t bufs[B][2048];

    while (!atomic_load(&e->stop)) {
        for (int i = 0; i < B; i++) {
            iov[i] = (struct iovec){bufs[i], sizeof(bufs[i])};
            m[i].msg_hdr = (struct msghdr){.msg_name = &from[i],
                                           .msg_namelen = sizeof(from[i]),
                                           .msg_iov = &iov[i],
                                           .msg_iovlen = 1};
        }
        int k = recvmmsg(e->fd, m, B, MSG_WAITFORONE, NULL);
        if (k <= 0)
            continue; /* SO_RCVTIMEO: look at the stop flag */
        for (int i = 0; i < k; i++)
            iov[i].iov_len = m[i].msg_len;
        atomic_fetch_add(&e->recv, (unsigned long)k);
        int off = 0;
        while (off < k) {
            int s = sendmmsg(e->fd, m + off, (unsigned)(k - off), 0);
            if (s <= 0)
                break; /* the rest is lost, as on a network */
            off += s;
        }
        if (off < k)
            atomic_fetch_add(&e->send_drop, (unsigned long)(k - off));
    }
    return NULL;
}

/* Bind the echo peer to a and start its thread; buffers of bufsize bytes
 * each way (force: past net.core.rmem_max/wmem_max, needs CAP_NET_ADMIN;
 * falls back to the capped size). Exits the process on failure. */
static inline void bench_echo_start(struct bench_echo *e, const struct se_addr *a, int bufsize,
                                    bool force)
{
    struct sockaddr_storage ss;
    socklen_t sl = se_addr_to_sockaddr(a, &ss);
    struct timeval tv = {0, 100000};

    atomic_store(&e->stop, false);
    atomic_store(&e->recv, 0);
    atomic_store(&e->send_drop, 0);
    e->fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (e->fd < 0 || bind(e->fd, (struct sockaddr *)&ss, sl) < 0) {
        perror("echo peer: bind");
        exit(1);
    }
    setsockopt(e->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (!force || setsockopt(e->fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufsize, sizeof(bufsize)) < 0)
        setsockopt(e->fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
    if (!force || setsockopt(e->fd, SOL_SOCKET, SO_SNDBUFFORCE, &bufsize, sizeof(bufsize)) < 0)
        setsockopt(e->fd, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
    if (pthread_create(&e->thread, NULL, bench_echo_main, e) != 0) {
        perror("echo peer: pthread_create");
        exit(1);
    }
}

/* Stop the thread (within 100 ms); the socket stays open for the caller
 * to read its counters, then close. */
static inline void bench_echo_stop(struct bench_echo *e)
{
    atomic_store(&e->stop, true);
    pthread_join(e->thread, NULL);
}

#endif
