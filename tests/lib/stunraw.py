#!/usr/bin/python3
"""stunraw.py - a STUN/TURN client that sends exactly the bytes it is given.

Real clients (coturn's tools, aioice) refuse to put a NUL, CR, LF, ESC or
invalid UTF-8 into USERNAME or SOFTWARE; an attacker does not. This client
builds RFC 8489 messages from raw attribute bytes, computes
MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 14.5) with the long-term key of
whichever user the caller names, and reports the answer. Used by the
hostile-input tests; loopback only.

  stunraw.py allocate HOST PORT --username-hex HEX --key-user U --password P
             --realm R [--tcp] [--software-hex HEX]
      unauthenticated Allocate, then the authenticated one with the 401's
      NONCE; prints "success" or "error CODE REASON" for the second answer.
"""
import argparse
import hashlib
import hmac
import os
import socket
import struct
import sys

MAGIC = 0x2112A442
ALLOCATE = 0x003
A_USERNAME, A_MI, A_ERROR, A_REALM, A_NONCE = 0x0006, 0x0008, 0x0009, 0x0014, 0x0015
A_REQ_TRANSPORT, A_SOFTWARE = 0x0019, 0x8022


def attr(t, v):
    pad = (4 - len(v) % 4) % 4
    return struct.pack("!HH", t, len(v)) + v + b"\0" * pad


def message(method, cls, tid, attrs, key=None):
    """A request (cls 0) with attrs [(type, bytes)], MESSAGE-INTEGRITY last if key."""
    mtype = (method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2)
    mtype |= ((cls & 1) << 4) | ((cls & 2) << 7)
    body = b"".join(attr(t, v) for t, v in attrs)
    if key is None:
        return struct.pack("!HHI", mtype, len(body), MAGIC) + tid + body
    # The length covers MESSAGE-INTEGRITY itself (RFC 8489 14.5).
    head = struct.pack("!HHI", mtype, len(body) + 24, MAGIC) + tid
    mac = hmac.new(key, head + body, hashlib.sha1).digest()
    return head + body + attr(A_MI, mac)


def parse(data):
    mtype, length, magic = struct.unpack("!HHI", data[:8])
    attrs, off = {}, 20
    while off + 4 <= 20 + length:
        t, n = struct.unpack("!HH", data[off:off + 4])
        attrs.setdefault(t, data[off + 4:off + 4 + n])
        off += 4 + n + (4 - n % 4) % 4
    cls = ((mtype >> 4) & 1) | ((mtype >> 7) & 2)
    return cls, attrs


class Conn:
    def __init__(self, host, port, tcp):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.s = socket.socket(fam, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
        self.s.settimeout(3)
        self.s.connect((host, port))
        self.tcp = tcp

    def ask(self, msg):
        self.s.send(msg)
        if not self.tcp:
            return self.s.recv(65536)
        head = b""
        while len(head) < 20:
            chunk = self.s.recv(20 - len(head))
            if not chunk:
                raise ConnectionError("closed")
            head += chunk
        need = struct.unpack("!H", head[2:4])[0]
        body = b""
        while len(body) < need:
            chunk = self.s.recv(need - len(body))
            if not chunk:
                raise ConnectionError("closed")
            body += chunk
        return head + body


def allocate(a):
    c = Conn(a.host, a.port, a.tcp)
    extra = [(A_SOFTWARE, bytes.fromhex(a.software_hex))] if a.software_hex else []
    rt = [(A_REQ_TRANSPORT, struct.pack("!I", 17 << 24))]
    cls, at = parse(c.ask(message(ALLOCATE, 0, os.urandom(12), rt + extra)))
    if cls != 3 or A_NONCE not in at:
        print("no 401 challenge")
        return 1
    key = hashlib.md5(f"{a.key_user}:{a.realm}:{a.password}".encode()).digest()
    attrs = [(A_USERNAME, bytes.fromhex(a.username_hex)), (A_REALM, a.realm.encode()),
             (A_NONCE, at[A_NONCE])] + rt + extra
    cls, at = parse(c.ask(message(ALLOCATE, 0, os.urandom(12), attrs, key)))
    if cls == 2:
        print("success")
    else:
        e = at.get(A_ERROR, b"\0\0\0\0")
        print(f"error {(e[2] & 7) * 100 + e[3]} {e[4:].decode(errors='replace')}")
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    al = sub.add_parser("allocate")
    al.add_argument("host")
    al.add_argument("port", type=int)
    al.add_argument("--username-hex", required=True)
    al.add_argument("--key-user", required=True)
    al.add_argument("--password", required=True)
    al.add_argument("--realm", required=True)
    al.add_argument("--software-hex", default="")
    al.add_argument("--tcp", action="store_true")
    a = p.parse_args()
    return allocate(a)


if __name__ == "__main__":
    sys.exit(main())
