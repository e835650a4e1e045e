#!/usr/bin/python3
"""streamflood.py - hold many idle TCP/TLS connections to sedge.

    streamflood.py --addr 127.0.0.1 --tcp PORT --tls PORT --bind 127.0.0.5
                   [--tcp-count 4000] [--tls-count 1000] [--hold 10] [--hello N]

Opens the connections as fast as the kernel lets it (non-blocking
connects), sends nothing on the TCP ones and, on N of the TLS ones, the
first bytes of a ClientHello only (a half-open handshake), then holds them
all for --hold seconds and prints one JSON line: how many were
established, and how many the server had closed by the end. Bounded in
count and time; talks only to --addr.
"""
import argparse
import errno
import json
import resource
import selectors
import socket
import time

HELLO_START = bytes.fromhex("16030100c8010000c40303") + b"\x11" * 32  # truncated ClientHello


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--tcp", type=int, required=True)
    ap.add_argument("--tls", type=int, required=True)
    ap.add_argument("--bind", default="127.0.0.5")
    ap.add_argument("--tcp-count", type=int, default=4000)
    ap.add_argument("--tls-count", type=int, default=1000)
    ap.add_argument("--hello", type=int, default=500)
    ap.add_argument("--hold", type=float, default=10)
    a = ap.parse_args()
    want = a.tcp_count + a.tls_count + 100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    sel = selectors.DefaultSelector()
    socks = []
    t0 = time.monotonic()
    for i in range(a.tcp_count + a.tls_count):
        tls = i >= a.tcp_count
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((a.bind, 0))
            s.connect_ex((a.addr, a.tls if tls else a.tcp))
        except OSError as e:
            s.close()
            if e.errno in (errno.EMFILE, errno.EADDRNOTAVAIL):
                break
            continue
        socks.append((s, tls))
        if time.monotonic() - t0 > 30:
            break
    time.sleep(0.5)
    established = 0
    hello_sent = 0
    for s, tls in socks:
        try:
            s.getpeername()
            established += 1
            if tls and hello_sent < a.hello:
                s.send(HELLO_START)
                hello_sent += 1
            sel.register(s, selectors.EVENT_READ)
        except OSError:
            pass
    # Hold, noticing connections the server closes (EOF or reset).
    closed = set()
    end = time.monotonic() + a.hold
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                closed.add(s.fileno())
                sel.unregister(s)
    print(json.dumps({"opened": len(socks), "established": established, "hello": hello_sent,
                      "closed_by_server": len(closed), "open_at_end": established - len(closed)}))
    for s, _ in socks:
        s.close()


if __name__ == "__main__":
    main()
