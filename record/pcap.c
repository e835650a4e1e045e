/*
 * pcap.c - libpcap and pcapng file reader, UDP only.
 *
 * Each record (pcap) or block (pcapng) is read whole into one buffer of
 * PCAP_SNAP_MAX bytes (a larger one is an error) and peeled with bounds
 * checks: link layer, IP, UDP. Anything not a complete, unfragmented UDP
 * datagram is skipped. pcapng: section headers set the byte order,
 * interface descriptions the link type and timestamp resolution of each
 * interface; enhanced and simple packet blocks carry the packets.
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

enum { PCAPNG_MAX_IF = 32, PCAPNG_SHB = 0x0A0D0D0A };

struct pcap_reader {
    FILE *f;
    bool swap, nsec, ng;
    uint32_t link;
    uint64_t skipped;
    /* pcapng interfaces of the current section */
    uint32_t if_link[PCAPNG_MAX_IF];
    uint64_t if_units[PCAPNG_MAX_IF]; /* timestamp units per second */
    int n_if;
    int64_t last_ts;
    uint8_t buf[PCAP_SNAP_MAX + 64];
};

static uint32_t u32(const struct pcap_reader *r, const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return r->swap ? __builtin_bswap32(v) : v;
}

static uint16_t u16(const struct pcap_reader *r, const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return r->swap ? __builtin_bswap16(v) : v;
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

int pcap_open(struct pcap_reader **out, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    int rc;

    *out = NULL;
    if (!f) {
        snprintf(err, errlen, "%s: cannot open", path);
        return SE_ERR_IO;
    }
    rc = pcap_open_file(out, f);
    if (rc == SE_ERR_NOMEM)
        snprintf(err, errlen, "out of memory");
    else if (rc == SE_ERR_TRUNC)
        snprintf(err, errlen, "%s: too short for a capture file", path);
    else if (rc < 0)
        snprintf(err, errlen, "%s: not a pcap or pcapng file", path);
    return rc;
}

int pcap_open_file(struct pcap_reader **out, FILE *f)
{
    uint8_t h[24];
    struct pcap_reader *r = calloc(1, sizeof(*r));
    int rc = SE_ERR_NOMEM;

    *out = NULL;
    if (!r) {
        fclose(f);
        return rc;
    }
    r->f = f;
    rc = SE_ERR_TRUNC;
    if (fread(h, 1, sizeof(h), r->f) != sizeof(h))
        goto out;
    rc = SE_ERR_PARSE;
    uint32_t magic;
    memcpy(&magic, h, 4);
    if (magic == PCAPNG_SHB) {
        r->ng = true;
        rewind(r->f); /* the section header is read as a block */
    } else if (magic == 0xa1b2c3d4 || magic == 0xa1b23c4d) {
        r->nsec = magic == 0xa1b23c4d;
    } else if (magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1) {
        r->swap = true;
        r->nsec = magic == 0x4d3cb2a1;
    } else {
        goto out;
    }
    if (!r->ng)
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

/* Interface description block body: link type, options (if_tsresol). */
static void ng_interface(struct pcap_reader *r, const uint8_t *b, size_t n)
{
    if (r->n_if == PCAPNG_MAX_IF || n < 8)
        return;
    int i = r->n_if++;
    r->if_link[i] = u16(r, b);
    r->if_units[i] = 1000000;
    for (size_t off = 8; off + 4 <= n;) { /* options, padded to 32 bits */
        uint16_t code = u16(r, b + off), len = u16(r, b + off + 2);
        if (code == 0 || off + 4 + len > n)
            break;
        if (code == 9 && len >= 1) { /* if_tsresol */
            uint8_t v = b[off + 4];
            uint64_t units = 1;
            for (int k = 0; k < (v & 0x7f) && units < (1ull << 40); k++)
                units *= (v & 0x80) ? 2 : 10;
            r->if_units[i] = units;
        }
        off += 4 + ((len + 3u) & ~3u);
    }
}

/* Next pcapng packet: 1, 0 at the end, or a negative SE_ERR_*. */
static int ng_next(struct pcap_reader *r, const uint8_t **data, size_t *len, int64_t *ts)
{
    uint8_t h[8];

    for (;;) {
        size_t got = fread(h, 1, sizeof(h), r->f);
        if (got == 0)
            return 0;
        if (got != sizeof(h))
            return SE_ERR_TRUNC;
        uint32_t type, tot;
        memcpy(&type, h, 4);
        if (type == PCAPNG_SHB) { /* a new section: its own byte order */
            uint8_t bom[4];
            if (fread(bom, 1, 4, r->f) != 4)
                return SE_ERR_TRUNC;
            uint32_t m;
            memcpy(&m, bom, 4);
            if (m != 0x1A2B3C4D && m != 0x4D3C2B1A)
                return SE_ERR_PARSE;
            r->swap = m == 0x4D3C2B1A;
            r->n_if = 0;
            tot = u32(r, h + 4);
            if (tot < 28 || tot % 4 || tot - 12 > sizeof(r->buf) ||
                fread(r->buf, 1, tot - 12, r->f) != tot - 12)
                return SE_ERR_TRUNC;
            continue;
        }
        type = u32(r, h);
        tot = u32(r, h + 4);
        if (tot < 12 || tot % 4 || tot - 8 > sizeof(r->buf))
            return SE_ERR_TOOBIG;
        if (fread(r->buf, 1, tot - 8, r->f) != tot - 8)
            return SE_ERR_TRUNC;
        const uint8_t *b = r->buf;
        size_t n = tot - 12; /* body, without the trailing length */
        if (type == 1) {
            ng_interface(r, b, n);
        } else if (type == 6 && n >= 20) { /* enhanced packet block */
            uint32_t ifc = u32(r, b), cap = u32(r, b + 12);
            if (ifc >= (uint32_t)r->n_if || cap > n - 20) {
                r->skipped++;
                continue;
            }
            uint64_t t = (uint64_t)u32(r, b + 4) << 32 | u32(r, b + 8);
            uint64_t units = r->if_units[ifc];
            *ts = units == 1000000 ? (int64_t)t
                                   : (int64_t)(t / units * 1000000 + t % units * 1000000 / units);
            r->last_ts = *ts;
            r->link = r->if_link[ifc];
            *data = b + 20;
            *len = cap;
            return 1;
        } else if (type == 3 && n >= 4 && r->n_if > 0) { /* simple packet block */
            *ts = r->last_ts;
            r->link = r->if_link[0];
            *data = b + 4;
            *len = n - 4 < u32(r, b) ? n - 4 : u32(r, b);
            return 1;
        }
    }
}

int pcap_next_udp(struct pcap_reader *r, struct pcap_udp *u)
{
    uint8_t h[16];

    while (r->ng) {
        const uint8_t *data;
        size_t len;
        int rc = ng_next(r, &data, &len, &u->ts_us);
        if (rc <= 0)
            return rc;
        if (peel(r, data, len, u) == 0)
            return 1;
        r->skipped++;
    }
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
