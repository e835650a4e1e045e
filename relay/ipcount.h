/*
 * ipcount.h - live objects per client source, in bounded memory (ipcount.c).
 * Any thread (mutex inside): allocations and reservations per source
 * (ports.c), TCP/TLS connections per source (stream.c).
 */
#ifndef SE_RELAY_IPCOUNT_H
#define SE_RELAY_IPCOUNT_H

#include "core/addr.h"

#include <string.h>
#include <stdint.h>
#include <sys/socket.h>

struct ip_counts; /* opaque */
struct ip_counts *ipc_new(void);
void ipc_free(struct ip_counts *t);
/* Count n more for the source key if the total stays within max (0 = no
 * limit): 0, SE_ERR_LIMIT or SE_ERR_NOMEM (then nothing is counted). */
int ipc_take(struct ip_counts *t, const uint8_t key[16], unsigned max, unsigned n);
void ipc_release(struct ip_counts *t, const uint8_t key[16], unsigned n);

/* The unit that per-source limits and throttles count: an IPv4 address,
 * or an IPv6 /64 (one subscriber, RFC 6177), as 16 bytes. */
static inline void ipc_source_key(const struct se_addr *a, uint8_t out[16])
{
    memcpy(out, a->ip, 16);
    if (a->family == AF_INET6)
        memset(out + 8, 0, 8);
}

#endif
