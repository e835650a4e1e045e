/*
 * fuzz_pcap.c - libFuzzer target for capture files given to
 * `sedge record import`: the input is a pcap or pcapng file; every UDP
 * datagram the reader yields must lie inside the record it came from.
 */
#include "record/pcap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pcap_reader *r;
    struct pcap_udp u;
    FILE *f;

    if (size == 0 || !(f = fmemopen((void *)data, size, "rb")))
        return 0;
    if (pcap_open_file(&r, f) != 0)
        return 0;
    for (int i = 0; i < 100000 && pcap_next_udp(r, &u) == 1; i++)
        if (u.len > PCAP_SNAP_MAX || (u.len && !u.payload))
            abort();
        else if (u.len)
            (void)u.payload[u.len - 1]; /* in bounds: ASan checks */
    pcap_close(r);
    return 0;
}
