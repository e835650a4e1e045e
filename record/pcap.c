/*
 * pcap.c - classic libpcap file reader, UDP only.
 *
 * Each record is read whole into one buffer of PCAP_SNAP_MAX bytes (a
 * larger record is an error) and peeled with bounds checks: link layer,
 * IP, UDP. Anything not a complete, unfragmented UDP datagram is skipped.
 */
#include "record/pcap.h"
#include "core/err.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    LINK_NULL = 0,
    LINK_ETHERNET = 1,
    LINK_RAW = 101,
    LINK_RAW_OLD = 12,
    LINK_SLL = 113,
    LINK_SLL2 = 276,
    LINK_IPV4 = 228,
    LINK_IPV6 = 229,
};

struct pcap_reader {
    FILE *f;
    bool swap, nsec;
    uint32_t link;
    uint64_t skipped;
    uint8_t buf[PCAP_SNAP_MAX];
};

static uint32_t u32(const struct pcap_reader *r, const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return r->swap ? __builtin_bswap32(v) : v;
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

int pcap_open(struct pcap_reader **out, const char *path, char *err, size_t errlen)
{
    uint8_t h[24];
    struct pcap_reader *r = calloc(1, sizeof(*r));
    int rc = SE_ERR_NOMEM;

    *out = NULL;
    if (!r)
        goto out;
    rc = SE_ERR_IO;
    r->f = fopen(path, "rb");
    if (!r->f) {
        snprintf(err, errlen, "%s: cannot open", path);
        goto out;
    }
    rc = SE_ERR_PARSE;
    if (fread(h, 1, sizeof(h), r->f) != sizeof(h)) {
        snprintf(err, errlen, "%s: too short for a pcap file", path);
        goto out;
    }
    uint32_t magic;
    memcpy(&magic, h, 4);
    if (magic == 0xa1b2c3d4 || magic == 0xa1b23c4d) {
        r->nsec = magic == 0xa1b23c4d;
    } else if (magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1) {
        r->swap = true;
        r->nsec = magic == 0x4d3cb2a1;
    } else {
        snprintf(err, errlen, "%s: not a classic pcap file (pcapng? convert with editcap -F pcap)",
                 path);
        goto out;
    }
    r->link = u32(r, h + 20) & 0x0fffffff;
    rc = 0;
    *out = r;
out:
    if (rc)
        pcap_close(r);
    return rc;
}

void pcap_close(struct pcap_reader *r)
{
    if (!r)
        return;
    if (r->f)
        fclose(r->f);
    free(r);
}

uint64_t pcap_skipped(const struct pcap_reader *r)
{
    return r->skipped;
}

/* Peel link, IP and UDP headers off p[0..n); 0 if it is a UDP datagram. */
static int peel(struct pcap_reader *r, const uint8_t *p, size_t n, struct pcap_udp *u)
{
    size_t off = 0;
    uint16_t et = 0;
    int rc = SE_ERR_PARSE;

    switch (r->link) {
    case LINK_ETHERNET:
        if (n < 14)
            goto out;
        et = be16(p + 12);
        off = 14;
        while ((et == 0x8100 || et == 0x88a8) && off + 4 <= n) {
            et = be16(p + off + 2);
            off += 4;
        }
        break;
    case LINK_SLL:
        if (n < 16)
            goto out;
        et = be16(p + 14);
        off = 16;
        break;
    case LINK_SLL2:
        if (n < 20)
            goto out;
        et = be16(p);
        off = 20;
        break;
    case LINK_NULL:
        if (n < 4)
            goto out;
        off = 4;
        et = (p[0] == 2 || p[3] == 2) ? 0x0800 : 0x86dd;
        break;
    case LINK_RAW:
    case LINK_RAW_OLD:
    case LINK_IPV4:
    case LINK_IPV6:
        if (n < 1)
            goto out;
        et = (p[0] >> 4) == 4 ? 0x0800 : 0x86dd;
        break;
    default:
        goto out;
    }
    p += off;
    n -= off;
    if (et == 0x0800) {
        if (n < 20 || (p[0] >> 4) != 4)
            goto out;
        size_t ihl = (size_t)(p[0] & 15) * 4, tot = be16(p + 2);
        if (ihl < 20 || tot < ihl || tot > n || p[9] != 17 || (be16(p + 6) & 0x3fff))
            goto out; /* not UDP, or a fragment */
        inet_ntop(AF_INET, p + 12, u->src, sizeof(u->src));
        inet_ntop(AF_INET, p + 16, u->dst, sizeof(u->dst));
        p += ihl;
        n = tot - ihl;
    } else if (et == 0x86dd) {
        if (n < 40 || (p[0] >> 4) != 6 || p[6] != 17)
            goto out;
        size_t pl = be16(p + 4);
        if (40 + pl > n)
            goto out;
        inet_ntop(AF_INET6, p + 8, u->src, sizeof(u->src));
        inet_ntop(AF_INET6, p + 24, u->dst, sizeof(u->dst));
        p += 40;
        n = pl;
    } else {
        goto out;
    }
    if (n < 8)
        goto out;
    size_t ulen = be16(p + 4);
    if (ulen < 8 || ulen > n)
        goto out;
    u->sport = be16(p);
    u->dport = be16(p + 2);
    u->payload = p + 8;
    u->len = ulen - 8;
    rc = 0;
out:
    return rc;
}

int pcap_next_udp(struct pcap_reader *r, struct pcap_udp *u)
{
    uint8_t h[16];

    for (;;) {
        size_t got = fread(h, 1, sizeof(h), r->f);
        if (got == 0)
            return 0;
        if (got != sizeof(h))
            return SE_ERR_TRUNC;
        uint32_t sec = u32(r, h), frac = u32(r, h + 4), incl = u32(r, h + 8);
        if (incl > PCAP_SNAP_MAX)
            return SE_ERR_TOOBIG;
        if (fread(r->buf, 1, incl, r->f) != incl)
            return SE_ERR_TRUNC;
        u->ts_us = (int64_t)sec * 1000000 + (r->nsec ? frac / 1000 : frac);
        if (peel(r, r->buf, incl, u) == 0)
            return 1;
        r->skipped++;
    }
}
