#!/usr/bin/python3
"""turnclient.py - a small hand-made TURN client (RFC 8656) for tests.

Unlike coturn's turnutils_uclient it lets a test issue each request on its
own - Allocate, CreatePermission, ChannelBind, a Send indication, a
ChannelData message - and see the server's answer, so a test can check
that the relay itself enforces a rule whatever a client tries.

Long-term credentials (RFC 8489 §9.2) with MD5 keys, MESSAGE-INTEGRITY
and FINGERPRINT, over UDP. Every wait is bounded.

As a command (one JSON line per step on stdout):
  turnclient.py --server 127.0.0.1:3478 --user U --password P \\
      [--permission IP]... [--bind CH:IP:PORT]... [--send IP:PORT:TEXT]... \\
      [--chandata CH:TEXT]...
"""
import argparse
import hashlib
import hmac
import json
import os
import socket
import struct
import sys
import zlib

MAGIC = 0x2112A442
ALLOCATE, REFRESH, SEND, DATA, CREATE_PERMISSION, CHANNEL_BIND = 0x003, 0x004, 0x006, 0x007, 0x008, 0x009
A_USERNAME, A_MI, A_ERROR, A_CHANNEL, A_LIFETIME = 0x0006, 0x0008, 0x0009, 0x000C, 0x000D
A_PEER, A_DATA, A_REALM, A_NONCE, A_RELAYED = 0x0012, 0x0013, 0x0014, 0x0015, 0x0016
A_TRANSPORT, A_MAPPED, A_FINGERPRINT = 0x0019, 0x0020, 0x8028


def _attr(t, v):
    pad = (4 - len(v) % 4) % 4
    return struct.pack("!HH", t, len(v)) + v + b"\0" * pad


def _xor_addr(ip, port, tid):
    packed = socket.inet_aton(ip)
    x = struct.unpack("!I", packed)[0] ^ MAGIC
    return struct.pack("!BBHI", 0, 1, port ^ (MAGIC >> 16), x)


def _parse_xor_addr(v):
    port = struct.unpack("!H", v[2:4])[0] ^ (MAGIC >> 16)
    ip = socket.inet_ntoa(struct.pack("!I", struct.unpack("!I", v[4:8])[0] ^ MAGIC))
    return ip, port


def parse(msg):
    """(type, tid, {attr: value}) of a STUN message, or None."""
    if len(msg) < 20 or msg[0] & 0xC0:
        return None
    mtype, mlen, magic = struct.unpack("!HHI", msg[:8])
    if magic != MAGIC or 20 + mlen > len(msg):
        return None
    attrs, off = {}, 20
    while off + 4 <= 20 + mlen:
        t, ln = struct.unpack("!HH", msg[off:off + 4])
        attrs.setdefault(t, msg[off + 4:off + 4 + ln])
        off += 4 + ln + (4 - ln % 4) % 4
    return mtype, msg[8:20], attrs


class TurnClient:
    def __init__(self, server, user, password, timeout=2.0):
        host, port = server.rsplit(":", 1)
        self.server = (host, int(port))
        self.user, self.password = user.encode(), password.encode()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(timeout)
        self.realm = self.nonce = None
        self.key = None
        self.relayed = None
        self.received = []  # (peer, data) from Data indications and ChannelData

    def _build(self, method, cls, attrs, auth=True):
        tid = os.urandom(12)
        body = b"".join(_attr(t, v) for t, v in attrs)
        if auth and self.key:
            body += _attr(A_USERNAME, self.user) + _attr(A_REALM, self.realm) + _attr(A_NONCE, self.nonce)
            hdr = struct.pack("!HHI", method | cls, len(body) + 24, MAGIC) + tid
            mac = hmac.new(self.key, hdr + body, hashlib.sha1).digest()
            body += _attr(A_MI, mac)
        hdr = struct.pack("!HHI", method | cls, len(body) + 8, MAGIC) + tid
        crc = (zlib.crc32(hdr + body) ^ 0x5354554E) & 0xFFFFFFFF
        body += _attr(A_FINGERPRINT, struct.pack("!I", crc))
        return struct.pack("!HHI", method | cls, len(body), MAGIC) + tid + body, tid

    def _recv_until(self, tid):
        while True:
            try:
                data, _ = self.sock.recvfrom(65536)
            except socket.timeout:
                return None
            if data and 0x40 <= data[0] <= 0x7F:
                self._channel_data(data)
                continue
            p = parse(data)
            if not p:
                continue
            if p[0] == 0x0017:  # Data indication
                if A_PEER in p[2] and A_DATA in p[2]:
                    self.received.append((_parse_xor_addr(p[2][A_PEER]), p[2][A_DATA]))
                continue
            if p[1] == tid:
                return p

    def _channel_data(self, data):
        ch, ln = struct.unpack("!HH", data[:4])
        self.received.append((("channel", ch), data[4:4 + ln]))

    def request(self, method, attrs):
        """Send a request (authenticating after a 401/438); returns (code, attrs)."""
        code = None
        for _ in range(3):
            had_key = self.key is not None
            msg, tid = self._build(method, 0x000, attrs)
            self.sock.sendto(msg, self.server)
            p = self._recv_until(tid)
            if p is None:
                return None, {}
            if p[0] & 0x0110 == 0x0100:
                return 0, p[2]
            err = p[2].get(A_ERROR, b"\0\0\0\0")
            code = (err[2] & 7) * 100 + err[3]
            if A_NONCE in p[2] and (code == 438 or (code == 401 and not had_key)):
                self.realm, self.nonce = p[2][A_REALM], p[2][A_NONCE]
                self.key = hashlib.md5(self.user + b":" + self.realm + b":" + self.password).digest()
                continue
            return code, p[2]
        return code, {}

    def allocate(self):
        code, attrs = self.request(ALLOCATE, [(A_TRANSPORT, b"\x11\0\0\0")])
        if code == 0 and A_RELAYED in attrs:
            self.relayed = _parse_xor_addr(attrs[A_RELAYED])
        return code

    def permission(self, ip):
        return self.request(CREATE_PERMISSION, [(A_PEER, _xor_addr(ip, 0, None))])[0]

    def channel_bind(self, ch, ip, port):
        return self.request(CHANNEL_BIND, [(A_CHANNEL, struct.pack("!HH", ch, 0)),
                                           (A_PEER, _xor_addr(ip, port, None))])[0]

    def send(self, ip, port, data):
        msg, _ = self._build(SEND, 0x010, [(A_PEER, _xor_addr(ip, port, None)), (A_DATA, data)], auth=False)
        self.sock.sendto(msg, self.server)

    def chandata(self, ch, data):
        pad = (4 - len(data) % 4) % 4
        self.sock.sendto(struct.pack("!HH", ch, len(data)) + data + b"\0" * pad, self.server)

    def drain(self, seconds=0.5):
        """Collect relayed data for a while."""
        self.sock.settimeout(seconds)
        try:
            while True:
                data, _ = self.sock.recvfrom(65536)
                if data and 0x40 <= data[0] <= 0x7F:
                    self._channel_data(data)
                    continue
                p = parse(data)
                if p and p[0] == 0x0017 and A_PEER in p[2] and A_DATA in p[2]:
                    self.received.append((_parse_xor_addr(p[2][A_PEER]), p[2][A_DATA]))
        except socket.timeout:
            pass
        return self.received


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--permission", action="append", default=[])
    ap.add_argument("--bind", action="append", default=[], help="CH:IP:PORT (CH in hex, 0x4000..)")
    ap.add_argument("--send", action="append", default=[], help="IP:PORT:TEXT (Send indication)")
    ap.add_argument("--chandata", action="append", default=[], help="CH:TEXT")
    a = ap.parse_args()
    c = TurnClient(a.server, a.user, a.password)
    code = c.allocate()
    print(json.dumps({"step": "allocate", "code": code, "relayed": c.relayed}), flush=True)
    if code != 0:
        return 1
    for ip in a.permission:
        print(json.dumps({"step": "permission", "peer": ip, "code": c.permission(ip)}), flush=True)
    for b in a.bind:
        ch, ip, port = b.split(":")
        print(json.dumps({"step": "bind", "peer": f"{ip}:{port}", "code":
                          c.channel_bind(int(ch, 16), ip, int(port))}), flush=True)
    for s in a.send:
        ip, port, text = s.split(":", 2)
        c.send(ip, int(port), text.encode())
        print(json.dumps({"step": "send", "peer": f"{ip}:{port}"}), flush=True)
    for s in a.chandata:
        ch, text = s.split(":", 1)
        c.chandata(int(ch, 16), text.encode())
        print(json.dumps({"step": "chandata", "channel": ch}), flush=True)
    got = c.drain(0.5)
    print(json.dumps({"step": "received", "data": [[str(p), d.decode(errors="replace")] for p, d in got]}),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
