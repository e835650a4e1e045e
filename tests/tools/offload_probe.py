#!/usr/bin/python3
"""offload_probe.py - drive a TURN relay and record exactly what crosses it.

Used by tests/integ/turn_offload.sh to compare sedge's kernel fast path
(relay.offload) with its user-space path. Each subcommand prints one JSON
object. Peers are UDP sockets of this process on --peer-ip; the client is
tests/lib/turn_client.py bound to --bind. Every wait is bounded.

  transcript  a fixed sequence of datagrams both ways (sizes 0..4000, a
              padded ChannelData, a Send indication, an unbound channel, a
              peer without a channel); records every byte the peer and the
              client receive, in order
  stream      ChannelData at --pps for --seconds, echoed by the peer;
              arrival times at the peer and back at the client (epoch ns)
  expiry      a channel left to expire while its permission is refreshed,
              with the relay's clock moved forward through --faketime-file
              (libfaketime): before, the peer's datagrams come back as
              ChannelData, after, as Data indications

--client-netns / --peer-netns put the client's / the peers' sockets into
those network namespaces (ip netns). --check-client-if / --check-peer-if:
capture (AF_PACKET) what arrives on that interface of the client's / the
peers' namespace during a transcript and verify every IPv4 header checksum
and every non-zero UDP checksum ("checksums" in the output).
"""
import argparse
import ctypes
import json
import os
import random
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from turn_client import TurnClient, TurnError  # noqa: E402

CH, CH_UNBOUND = 0x4000, 0x4001
CLONE_NEWNET = 0x40000000
ETH_P_IP = 0x0800
_libc = ctypes.CDLL(None, use_errno=True)


def in_netns(name, fn):
    """fn() with this thread in network namespace name (None: as it is)."""
    if not name:
        return fn()
    here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    there = os.open("/var/run/netns/" + name, os.O_RDONLY)
    try:
        if _libc.setns(there, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + name)
        return fn()
    finally:
        _libc.setns(here, CLONE_NEWNET)
        os.close(here)
        os.close(there)


def capture(netns, ifname):
    """An AF_PACKET socket seeing the IPv4 packets arriving on ifname."""
    def make():
        s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind((ifname, 0))
        return s
    return in_netns(netns, make) if ifname else None


def _sum16(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(int.from_bytes(b[i:i + 2], "big") for i in range(0, len(b), 2))
    while t >> 16:
        t = (t & 0xFFFF) + (t >> 16)
    return t


def check_captured(sock):
    """Verify the checksums of the UDP datagrams sock captured: counts."""
    res = {"udp": 0, "ip_bad": 0, "udp_bad": 0, "udp_zero": 0, "fragments": 0}
    if sock is None:
        return None
    sock.setblocking(False)
    while True:
        try:
            pkt, addr = sock.recvfrom(70000)
        except BlockingIOError:
            break
        if addr[2] == socket.PACKET_OUTGOING or len(pkt) < 28 or pkt[9] != 17:
            continue
        ihl = (pkt[0] & 15) * 4
        if int.from_bytes(pkt[6:8], "big") & 0x3FFF:
            res["fragments"] += 1  # no UDP header to check in most of them
            continue
        res["udp"] += 1
        if _sum16(pkt[:ihl]) != 0xFFFF:
            res["ip_bad"] += 1
        udp = pkt[ihl:]
        if udp[6:8] == b"\0\0":
            res["udp_zero"] += 1
            continue
        pseudo = pkt[12:20] + bytes([0, 17]) + len(udp).to_bytes(2, "big")
        if _sum16(pseudo + udp) != 0xFFFF:
            res["udp_bad"] += 1
    return res


def hostport(s):
    h, p = s.rsplit(":", 1)
    return h, int(p)


def peer_socket(ip, netns=None):
    def make():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind((ip, 0))
        return s
    return in_netns(netns, make)


def recv_one(sock, timeout):
    sock.settimeout(timeout)
    try:
        return sock.recvfrom(65536)
    except socket.timeout:
        return None, None


def client(args):
    return in_netns(args.client_netns, lambda: TurnClient(hostport(args.server), args.user,
                                                           args.password, bind=args.bind))


def transcript(args):
    rnd = random.Random(args.seed)
    p1, p2 = peer_socket(args.peer_ip, args.peer_netns), peer_socket(args.peer_ip, args.peer_netns)
    cap_peer = capture(args.peer_netns, args.check_peer_if)
    cap_client = capture(args.client_netns, args.check_client_if)
    c = client(args)
    relayed = c.allocate(lifetime=600)
    c.channel_bind(CH, p1.getsockname())
    out = {"peer": [], "client": [], "relayed_src_ok": True}
    sent = {"pkts": 0, "bytes": 0}
    back = {"pkts": 0, "bytes": 0}
    sizes = [0, 1, 2, 3, 4, 5, 16, 100, 159, 160, 161, 1000, 1199, 1200, 1201, 1400, 1468,
             1472, 1996, 1997, 2000, 2001, 4000]
    # client -> peer: each datagram must arrive before the next leaves.
    steps = [("cd", n, rnd.randbytes(n)) for n in sizes]
    steps += [("padded", 5, rnd.randbytes(5)), ("send", 300, rnd.randbytes(300)),
              ("unbound", 50, rnd.randbytes(50)), ("cd", 160, rnd.randbytes(160))]
    for kind, n, data in steps:
        if kind == "cd":
            c.send_channel(CH, data)
        elif kind == "padded":
            c.send_channel(CH, data, pad=3)
        elif kind == "send":
            c.send_indication(p1.getsockname(), data)
        else:
            c.send_channel(CH_UNBOUND, data)
        d, src = recv_one(p1, 0.5 if kind == "unbound" else 3)
        out["peer"].append([kind, n, d.hex() if d is not None else None])
        if d is not None:
            out["relayed_src_ok"] &= src == relayed
            sent["pkts"] += 1
            sent["bytes"] += len(d)
    # peer -> client: through the channel (p1), and from a port without one (p2).
    for n in sizes + [1500]:
        data = rnd.randbytes(n)
        p1.sendto(data, relayed)
        r = c.recv(3)
        out["client"].append(["p1", n, None if r is None else [r[0], r[-1].hex() if r[0] == "cd"
                                                              else r[2].hex()]])
        if r is not None:
            back["pkts"] += 1
            back["bytes"] += len(r[2])
    data = rnd.randbytes(77)
    p2.sendto(data, relayed)
    r = c.recv(3)
    out["client"].append(["p2", 77, None if r is None else [r[0], r[2].hex()]])
    if r is not None:
        back["pkts"] += 1
        back["bytes"] += len(r[2])
    out["sent"], out["back"] = sent, back
    out["client_addr"] = "%s:%d" % c.local()
    c.refresh(0)
    time.sleep(0.2)
    out["checksums"] = {"at_peer": check_captured(cap_peer), "at_client": check_captured(cap_client)}
    print(json.dumps(out))


def stream(args):
    p = peer_socket(args.peer_ip, args.peer_netns)
    c = client(args)
    relayed = c.allocate(lifetime=600)
    c.channel_bind(CH, p.getsockname())
    at_peer, at_client = [], []
    stop = time.monotonic() + args.seconds + 3

    def echo():
        while time.monotonic() < stop:
            d, src = recv_one(p, 0.2)
            if d is not None:
                at_peer.append((time.time_ns(), len(d)))
                p.sendto(d, src)

    def back():
        while time.monotonic() < stop:
            r = c.recv(0.2)
            if r is not None and r[0] == "cd":
                at_client.append(time.time_ns())

    threads = [threading.Thread(target=echo), threading.Thread(target=back)]
    for t in threads:
        t.start()
    payload = os.urandom(args.size)
    gap = 1.0 / args.pps
    t0 = time.monotonic()
    n = 0
    if args.ready_file:
        open(args.ready_file, "w").write("%d\n" % c.local()[1])
    while time.monotonic() - t0 < args.seconds:
        c.send_channel(CH, payload)
        n += 1
        nxt = t0 + n * gap
        time.sleep(max(0, nxt - time.monotonic()))
    for t in threads:
        t.join()
    print(json.dumps({"sent": n, "peer": at_peer, "client": at_client,
                      "client_addr": "%s:%d" % c.local(), "relayed": "%s:%d" % relayed}))


def expiry(args):
    def jump(seconds):
        open(args.faketime_file, "w").write("+%ds\n" % seconds)
        time.sleep(args.settle)

    def round_trip():
        data = os.urandom(100)
        c.send_channel(CH, data)
        d, src = recv_one(p, 2)
        p.sendto(data, relayed)
        r = c.recv(2)
        return {"peer_got": d == data, "back": None if r is None else r[0],
                "back_ok": r is not None and r[2] == data}

    p = peer_socket(args.peer_ip)
    c = client(args)
    relayed = c.allocate(lifetime=3600)
    c.channel_bind(CH, p.getsockname())
    res = {"fresh": round_trip()}
    # Channels live 600 s, permissions 300 s (RFC 8656): refresh the
    # permission twice, never the channel.
    jump(290)
    c.create_permission(args.peer_ip)
    res["t290"] = round_trip()
    jump(580)
    c.create_permission(args.peer_ip)
    res["t580"] = round_trip()
    jump(620)
    res["t620"] = round_trip()
    print(json.dumps(res))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["transcript", "stream", "expiry"])
    ap.add_argument("--server", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--bind", default="127.0.0.5")
    ap.add_argument("--peer-ip", default="127.0.0.1")
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--pps", type=float, default=200)
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--ready-file")
    ap.add_argument("--faketime-file")
    ap.add_argument("--settle", type=float, default=4.0)  # faketime cache 1 s + cron 1 s, loaded box
    ap.add_argument("--client-netns")
    ap.add_argument("--peer-netns")
    ap.add_argument("--check-client-if")
    ap.add_argument("--check-peer-if")
    args = ap.parse_args()
    try:
        {"transcript": transcript, "stream": stream, "expiry": expiry}[args.cmd](args)
    except TurnError as e:
        print(json.dumps({"error": str(e)}))
        sys.exit(1)


if __name__ == "__main__":
    main()
