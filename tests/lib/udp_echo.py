#!/usr/bin/python3
"""udp_echo.py - a UDP echo peer that measures what reaches it.

Echoes every datagram back to its sender (like turnutils_peer) and, when
it has been idle for --idle seconds after the first datagram, or after
--max seconds in all, or on SIGTERM, prints one JSON line: datagrams, bytes, the time
between the first and the last arrival, and the throughput over that
span with the first datagram excluded (rate = bytes after the first /
span). Bounded: it always exits within --max seconds.

  udp_echo.py --port 23490 [--addr 127.0.0.1] [--idle 2] [--max 60]
"""
import argparse
import json
import signal
import socket
import time

STOP = False


def on_term(signum, frame):
    global STOP
    STOP = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--idle", type=float, default=2.0)
    ap.add_argument("--max", type=float, default=60.0)
    args = ap.parse_args()
    s = socket.socket(socket.AF_INET6 if ":" in args.addr else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((args.addr, args.port))
    signal.signal(signal.SIGTERM, on_term)
    start = time.monotonic()
    first = last = None
    n = total = first_len = 0
    while True:
        now = time.monotonic()
        if STOP or now - start > args.max or (last is not None and now - last > args.idle):
            break
        s.settimeout(0.1)
        try:
            data, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        t = time.monotonic()
        if first is None:
            first, first_len = t, len(data)
        last = t
        n += 1
        total += len(data)
        s.sendto(data, addr)
    span = (last - first) if first is not None else 0.0
    rate = (total - first_len) * 8 / span / 1000 if span > 0 else 0.0
    print(json.dumps({"datagrams": n, "bytes": total, "span_s": round(span, 3),
                      "kbps": round(rate, 1)}), flush=True)


if __name__ == "__main__":
    main()
