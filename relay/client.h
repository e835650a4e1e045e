/*
 * client.h - where a TURN client is, and the transport ops behind it.
 *
 * A client reaches a worker over UDP (udp.c) or a stream, TCP or TLS
 * (stream.c). What differs between them is gathered in one small ops
 * table per kind, chosen in one place (client_ops), instead of transport
 * branches spread through the allocation and TURN code: how a message
 * goes back to the client, how an allocation is tied to its client and
 * untied, and whether the client speaks in datagrams (RFC 8656 §3.1: a
 * UDP request's answer may not be much larger than the request, and
 * relayed ChannelData is queued in place, txq.h). Worker thread only.
 */
#ifndef SE_RELAY_CLIENT_H
#define SE_RELAY_CLIENT_H

#include "core/addr.h"
#include "core/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct worker;
struct allocation;
struct udp_listener;
struct stream_conn;

/* Where a client is: what responses and relayed data go back through. */
struct client_ref {
    struct udp_listener *udp;  /* UDP: the socket it wrote to */
    struct stream_conn *conn;  /* TCP/TLS */
    struct se_addr addr;       /* client's address */
    int transport;             /* enum se_transport */
};

struct client_ops {
    /* Send a response, Data indication or relayed frame at once (buf
     * borrowed for the call); channel_data pads it to 4 bytes on streams
     * (RFC 8656 §12.5). 0, or a negative SE_ERR_* (the drop is counted). */
    int (*send)(struct worker *w, const struct client_ref *c, const uint8_t *buf, size_t len,
                bool channel_data);
    /* Allocation a now belongs to its client (how the client's next
     * packets find it): 0 or SE_ERR_NOMEM. */
    int (*attach)(struct allocation *a);
    /* a ends: its client no longer leads to it. */
    void (*detach)(struct allocation *a);
    bool datagram; /* one message per packet (UDP) */
};

extern const struct client_ops udp_client_ops;    /* udp.c */
extern const struct client_ops stream_client_ops; /* stream.c: TCP and TLS */

static inline const struct client_ops *client_ops(const struct client_ref *c)
{
    return c->transport == SE_TP_UDP ? &udp_client_ops : &stream_client_ops;
}

static inline int client_send(struct worker *w, const struct client_ref *c, const uint8_t *buf,
                              size_t len, bool channel_data)
{
    return client_ops(c)->send(w, c, buf, len, channel_data);
}

static inline bool client_is_datagram(const struct client_ref *c)
{
    return client_ops(c)->datagram;
}

#endif
