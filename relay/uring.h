/*
 * uring.h - a worker's relay sockets over io_uring (relay.io), see uring.c.
 * Buffer ownership: relay/txq.h. Worker thread only, except the probe.
 */
#ifndef SE_RELAY_URING_H
#define SE_RELAY_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct msghdr;
struct worker;
struct relay_sock;
struct relay_uring; /* opaque: the rings, the provided buffers, socket slots */

/* Can this kernel run the io_uring data path? 0, or -errno and why. */
int uring_probe(char *err, size_t errlen);
/* Set up w->ur (worker thread, before its loop runs). */
int uring_init(struct worker *w, char *err, size_t errlen);
void uring_free(struct worker *w);
/* Start receiving on a new relay socket / stop before it is closed. */
int uring_add(struct worker *w, struct relay_sock *rs);
void uring_del(struct worker *w, struct relay_sock *rs);
/* Once a second: retry receives that ended with an error. */
void uring_cron(struct worker *w);
/* Give receive buffers back (entries < 0 are skipped). */
void uring_recycle(struct worker *w, const int *bid, int n);
/* Is the send ring usable? */
bool uring_can_send(const struct worker *w);
/* Send n messages (message g on fd[g], count[g] datagrams) with one
 * submit; every send is complete on return. Returns datagrams lost. */
uint64_t uring_send(struct worker *w, struct msghdr *const *msg, const int *fd, const int *count,
                    int n);

#endif
