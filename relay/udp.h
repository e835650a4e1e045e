/*
 * udp.h - a worker's UDP clients (udp.c): its listeners' receive path and
 * the 5-tuple table that finds a UDP client's allocation. The ops for
 * sending to UDP clients are udp_client_ops (client.h). Worker thread.
 */
#ifndef SE_RELAY_UDP_H
#define SE_RELAY_UDP_H

#include <event2/util.h>

struct se_addr;
struct worker;
struct udp_listener;
struct allocation;

/* libevent callback of a UDP listener; arg is its struct udp_listener. */
void udp_on_readable(evutil_socket_t fd, short what, void *arg);
/* libevent callback of w->flush_ev (arg = w): send the queue toward the
 * clients at the end of the loop pass. */
void udp_on_flush(evutil_socket_t fd, short what, void *arg);
/* The allocation of the UDP client at addr that wrote to ul, or NULL. */
struct allocation *udp_find(struct worker *w, const struct udp_listener *ul,
                            const struct se_addr *addr);

#endif
