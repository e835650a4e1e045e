/*
 * pcap.h - a bounded reader of libpcap and pcapng capture files that
 * yields the UDP datagrams inside (Ethernet with VLAN tags, Linux cooked
 * v1/v2, raw IP, BSD loopback; IPv4 without fragments, IPv6 without
 * extension headers).
 */
#ifndef SE_REC_PCAP_H
#define SE_REC_PCAP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { PCAP_SNAP_MAX = 262144 };

struct pcap_udp {
    int64_t ts_us; /* capture time, microseconds since the epoch */
    uint16_t sport, dport;
    char src[46], dst[46];
    const uint8_t *payload; /* borrowed: valid until the next call */
    size_t len;
};

struct pcap_reader;

/* Open path. Returns 0 and *out, or SE_ERR_IO / SE_ERR_PARSE (err says why). */
int pcap_open(struct pcap_reader **out, const char *path, char *err, size_t errlen);

/* The same over an open stream; takes ownership of f (closed by pcap_close,
 * or at once on failure). */
int pcap_open_file(struct pcap_reader **out, FILE *f);

/*
 * Next UDP datagram. Returns 1 with *u filled, 0 at the end of the file,
 * SE_ERR_TRUNC if the file ends inside a record. Non-UDP records are
 * skipped and counted.
 */
int pcap_next_udp(struct pcap_reader *r, struct pcap_udp *u);

uint64_t pcap_skipped(const struct pcap_reader *r);
void pcap_close(struct pcap_reader *r);

#endif
