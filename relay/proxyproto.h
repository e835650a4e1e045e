/*
 * proxyproto.h - the PROXY protocol header, versions 1 and 2 (HAProxy's
 * "proxy-protocol.txt"), which a load balancer in front of sedge's TCP
 * and TLS listeners sends first on every connection to name the real
 * client.
 *
 * A pure parser over the bytes read so far: no sockets, no allocation, any
 * thread. The caller reads into a buffer, calls proxy_parse() until it
 * returns a length, then drops that many bytes and carries on with TURN
 * (or the TLS handshake) on the rest.
 */
#ifndef SE_PROXYPROTO_H
#define SE_PROXYPROTO_H

#include "core/addr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    PROXY_V1_MAX = 107,     /* longest v1 line, CRLF included (spec §2.1) */
    PROXY_V2_FIXED = 16,    /* signature, ver/cmd, family, length (§2.2) */
    PROXY_V2_MAX = 16 + 65535,
    /* What a reader needs before it can tell the version: the v2
     * signature is 12 bytes, "PROXY " is 6. */
    PROXY_SNIFF = 12,
};

struct proxy_info {
    int version;          /* 1 or 2 */
    bool local;           /* v2 LOCAL or v1 UNKNOWN: keep the socket's own addresses */
    int sock_type;        /* SOCK_STREAM or SOCK_DGRAM (v2 only; v1 is TCP) */
    struct se_addr src;   /* the real client (valid unless local) */
    struct se_addr dst;   /* the address the client connected to */
};

/*
 * Parse a header at the start of buf[0..len). Returns the header's length
 * (> 0) when complete, 0 when more bytes are needed (len is a prefix of a
 * valid header so far), SE_ERR_PARSE when buf does not start with a valid
 * header (the connection must be closed: it cannot be resynchronised).
 * Unix-socket and unknown families in v2 are reported as local. TLVs are
 * skipped after their bounds are checked.
 */
int proxy_parse(const uint8_t *buf, size_t len, struct proxy_info *out);

#endif
