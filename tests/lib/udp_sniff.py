#!/usr/bin/python3
"""udp_sniff.py - count the UDP datagrams on an interface, by flow.

    udp_sniff.py --iface lo [--max 300]

A packet socket (AF_PACKET; needs root, as the network-namespace tests
are) sees every IPv4 and IPv6 UDP datagram on the interface; each is
counted once (the outgoing copy loopback shows twice is skipped) under
its flow (source address and port, destination address and port). On
SIGTERM, or after --max seconds, prints one JSON line:
{"datagrams": N, "flows": [{"src", "sport", "dst", "dport", "n"}]}.
Bounded: at most 20000 flows are kept (the rest are counted as
"flows_dropped").
"""
import argparse
import ipaddress
import json
import select
import signal
import socket
import struct
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
MAX_FLOWS = 20000
STOP = False


def on_term(signum, frame):
    global STOP
    STOP = True


def parse(frame):
    """(src, sport, dst, dport) of a UDP datagram in an Ethernet frame, or None."""
    if len(frame) < 14:
        return None
    eth_type = struct.unpack("!H", frame[12:14])[0]
    p = frame[14:]
    if eth_type == 0x0800 and len(p) >= 20 and p[9] == 17:
        ihl = (p[0] & 0x0F) * 4
        if len(p) < ihl + 8:
            return None
        sport, dport = struct.unpack("!HH", p[ihl:ihl + 4])
        return str(ipaddress.IPv4Address(p[12:16])), sport, str(ipaddress.IPv4Address(p[16:20])), dport
    if eth_type == 0x86DD and len(p) >= 48 and p[6] == 17:
        sport, dport = struct.unpack("!HH", p[40:44])
        return str(ipaddress.IPv6Address(p[8:24])), sport, str(ipaddress.IPv6Address(p[24:40])), dport
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iface", default="lo")
    ap.add_argument("--max", type=float, default=300)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, on_term)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((a.iface, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    flows, total, dropped = {}, 0, 0
    end = time.time() + a.max
    while not STOP and time.time() < end:
        try:
            r, _, _ = select.select([s], [], [], 0.2)
        except InterruptedError:
            continue
        if not r:
            continue
        frame, addr = s.recvfrom(65535)
        if addr[2] == PACKET_OUTGOING:
            continue
        f = parse(frame)
        if not f:
            continue
        total += 1
        if f in flows:
            flows[f] += 1
        elif len(flows) < MAX_FLOWS:
            flows[f] = 1
        else:
            dropped += 1
    print(json.dumps({"datagrams": total, "flows_dropped": dropped,
                      "flows": [{"src": k[0], "sport": k[1], "dst": k[2], "dport": k[3], "n": n}
                                for k, n in sorted(flows.items(), key=lambda x: -x[1])]}), flush=True)


main()
