"""turnc.py - a small STUN/TURN client for the tests that attack sedge.

The legitimate client in the integration tests is coturn's
turnutils_uclient; this module is the attacker's (and the prober's)
tool: it builds any message, well-formed or not (RFC 8489 / RFC 8656,
long-term credentials with MESSAGE-INTEGRITY and FINGERPRINT), sends it
over UDP, TCP or TLS from a chosen source address, and parses what comes
back. Every wait is bounded; nothing here leaves the addresses the test
gives it (the tests keep them on loopback).

    c = Client("udp", ("127.0.0.1", port), bind="127.0.0.5")
    r = c.allocate("alice", "pw", realm_hint=None)   # 401 round trip included
    r.code, r.attr(XOR_RELAYED_ADDRESS)
"""
import binascii
import hashlib
import hmac
import os
import socket
import ssl
import struct
import time

MAGIC = 0x2112A442
FP_XOR = 0x5354554E

BINDING, ALLOCATE, REFRESH, SEND, DATA, CREATE_PERMISSION, CHANNEL_BIND = 1, 3, 4, 6, 7, 8, 9
REQUEST, INDICATION, SUCCESS, ERROR = 0, 1, 2, 3

MAPPED_ADDRESS = 0x0001
USERNAME = 0x0006
MESSAGE_INTEGRITY = 0x0008
ERROR_CODE = 0x0009
CHANNEL_NUMBER = 0x000C
LIFETIME = 0x000D
XOR_PEER_ADDRESS = 0x0012
DATA_ATTR = 0x0013
REALM = 0x0014
NONCE = 0x0015
XOR_RELAYED_ADDRESS = 0x0016
REQUESTED_ADDRESS_FAMILY = 0x0017
EVEN_PORT = 0x0018
REQUESTED_TRANSPORT = 0x0019
XOR_MAPPED_ADDRESS = 0x0020
RESERVATION_TOKEN = 0x0022
SOFTWARE = 0x8022
FINGERPRINT = 0x8028


def msg_type(method, cls):
    return ((method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2)
            | ((cls & 1) << 4) | ((cls & 2) << 7))


def split_type(t):
    method = (t & 0x000F) | ((t & 0x00E0) >> 1) | ((t & 0x3E00) >> 2)
    cls = ((t >> 4) & 1) | ((t >> 7) & 2)
    return method, cls


def xor_addr(ip, port, tid):
    """XOR-*-ADDRESS value for (ip, port) (RFC 8489 §14.2)."""
    fam6 = ":" in ip
    raw = socket.inet_pton(socket.AF_INET6 if fam6 else socket.AF_INET, ip)
    pad = struct.pack("!I", MAGIC) + tid
    x = bytes(b ^ pad[i] for i, b in enumerate(raw))
    return struct.pack("!BBH", 0, 2 if fam6 else 1, port ^ (MAGIC >> 16)) + x


def parse_xor_addr(v, tid):
    fam, port = v[1], struct.unpack("!H", v[2:4])[0] ^ (MAGIC >> 16)
    pad = struct.pack("!I", MAGIC) + tid
    raw = bytes(b ^ pad[i] for i, b in enumerate(v[4:]))
    ip = socket.inet_ntop(socket.AF_INET6 if fam == 2 else socket.AF_INET, raw)
    return ip, port


def pad4(n):
    return (n + 3) & ~3


class Msg:
    """A message being built: attributes in order, then optional integrity."""

    def __init__(self, method, cls=REQUEST, tid=None):
        self.method, self.cls = method, cls
        self.tid = tid if tid is not None else os.urandom(12)
        self.attrs = []

    def add(self, typ, value):
        self.attrs.append((typ, bytes(value)))
        return self

    def body(self):
        out = b""
        for typ, v in self.attrs:
            out += struct.pack("!HH", typ, len(v)) + v + b"\0" * (pad4(len(v)) - len(v))
        return out

    def encode(self, key=None, fingerprint=False):
        body = self.body()
        hdr = lambda blen: struct.pack("!HHI", msg_type(self.method, self.cls), blen, MAGIC) + self.tid
        if key is not None:
            mac = hmac.new(key, hdr(len(body) + 24) + body, hashlib.sha1).digest()
            body += struct.pack("!HH", MESSAGE_INTEGRITY, 20) + mac
        if fingerprint:
            crc = binascii.crc32(hdr(len(body) + 8) + body) ^ FP_XOR
            body += struct.pack("!HHI", FINGERPRINT, 4, crc & 0xFFFFFFFF)
        return hdr(len(body)) + body


class Reply:
    def __init__(self, raw):
        self.raw = raw
        t, blen, magic = struct.unpack("!HHI", raw[:8])
        self.method, self.cls = split_type(t)
        self.tid = raw[8:20]
        self.attrs = []
        pos = 20
        while pos + 4 <= 20 + blen:
            typ, alen = struct.unpack("!HH", raw[pos:pos + 4])
            self.attrs.append((typ, raw[pos + 4:pos + 4 + alen]))
            pos += 4 + pad4(alen)
        ec = self.attr(ERROR_CODE)
        self.code = (ec[2] & 7) * 100 + ec[3] if ec else 0
        self.reason = ec[4:].decode("utf-8", "replace") if ec else ""

    def attr(self, typ):
        for t, v in self.attrs:
            if t == typ:
                return v
        return None

    def addr(self, typ):
        v = self.attr(typ)
        return parse_xor_addr(v, self.tid) if v else None

    def __repr__(self):
        return "<Reply method=%d cls=%d code=%d %r len=%d>" % (
            self.method, self.cls, self.code, self.reason, len(self.raw))


def lt_key(user, realm, password):
    """Long-term key MD5(user:realm:password) (RFC 8489 §9.2.2)."""
    u = user if isinstance(user, bytes) else user.encode()
    return hashlib.md5(u + b":" + realm + b":" + password.encode()).digest()


class Client:
    """One 5-tuple toward the server: UDP, TCP or TLS, from bind (an IP)."""

    def __init__(self, transport, server, bind=None, timeout=2.0, connect=True):
        self.transport, self.server, self.timeout = transport, server, timeout
        fam = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
        st = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(fam, st)
        if bind:
            self.sock.bind((bind, 0))
        self.sock.settimeout(timeout)
        self.buf = b""
        self.key = self.realm = self.nonce = self.user = None
        if transport != "udp" and connect:
            self.sock.connect(server)
            if transport == "tls":
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                self.sock = ctx.wrap_socket(self.sock)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def local(self):
        return self.sock.getsockname()

    def send_raw(self, data):
        if self.transport == "udp":
            self.sock.sendto(data, self.server)
        else:
            self.sock.sendall(data)

    def recv_raw(self, timeout=None):
        """One datagram, or one framed message from the stream; None on timeout."""
        self.sock.settimeout(timeout if timeout is not None else self.timeout)
        try:
            if self.transport == "udp":
                return self.sock.recvfrom(70000)[0]
            while True:
                if len(self.buf) >= 4:
                    n = struct.unpack("!H", self.buf[2:4])[0]
                    if self.buf[0] < 0x40:
                        need = 20 + n
                    else:
                        need = pad4(4 + n)
                    if len(self.buf) >= need:
                        out, self.buf = self.buf[:need], self.buf[need:]
                        return out
                chunk = self.sock.recv(70000)
                if not chunk:
                    return None
                self.buf += chunk
        except (socket.timeout, ssl.SSLError, ConnectionError):
            return None

    def transact(self, msg, key=None, fingerprint=True, tries=None):
        """Send a request and wait for the answer with its transaction id;
        on UDP retransmit (RTO 0.25 s doubling), up to tries sends."""
        data = msg.encode(key, fingerprint)
        tries = tries or (4 if self.transport == "udp" else 1)
        rto = 0.25
        for _ in range(tries):
            self.send_raw(data)
            end = time.monotonic() + (rto if self.transport == "udp" else self.timeout)
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    break
                raw = self.recv_raw(left)
                if raw is None:
                    break
                if len(raw) >= 20 and raw[0] < 0x40 and raw[8:20] == msg.tid:
                    return Reply(raw)
            rto *= 2
        return None

    def _auth(self, msg):
        msg.add(USERNAME, self.user).add(REALM, self.realm).add(NONCE, self.nonce)
        return msg

    def request(self, method, attrs=(), auth=True, fingerprint=True, tries=None):
        """An authenticated request (after login()); a 438 gets one retry."""
        for _ in range(2):
            m = Msg(method)
            for typ, v in attrs:
                m.add(typ, v)
            if auth:
                self._auth(m)
            r = self.transact(m, self.key if auth else None, fingerprint, tries)
            if r is not None and r.code == 438 and auth:
                self.nonce = r.attr(NONCE)
                continue
            return r
        return r

    def login(self, user, password, first=None):
        """The 401 round trip: remember realm, nonce and key. first is the
        unauthenticated request to send (default: a plain Allocate)."""
        m = first or Msg(ALLOCATE).add(REQUESTED_TRANSPORT, b"\x11\0\0\0")
        r = self.transact(m, None, True)
        if r is None or r.code != 401:
            return r
        self.user = user if isinstance(user, bytes) else user.encode()
        self.realm, self.nonce = r.attr(REALM), r.attr(NONCE)
        self.key = lt_key(self.user, self.realm, password)
        return r

    def allocate(self, user, password, extra=(), lifetime=None):
        r = self.login(user, password)
        if r is None or r.code != 401:
            return r
        attrs = [(REQUESTED_TRANSPORT, b"\x11\0\0\0")] + list(extra)
        if lifetime is not None:
            attrs.append((LIFETIME, struct.pack("!I", lifetime)))
        return self.request(ALLOCATE, attrs)

    def refresh(self, lifetime):
        return self.request(REFRESH, [(LIFETIME, struct.pack("!I", lifetime))])

    def create_permission(self, peers):
        tid = os.urandom(12)
        m = Msg(CREATE_PERMISSION, tid=tid)
        for ip in peers:
            m.add(XOR_PEER_ADDRESS, xor_addr(ip, 0, tid))
        self._auth(m)
        r = self.transact(m, self.key)
        if r is not None and r.code == 438:
            self.nonce = r.attr(NONCE)
            return self.create_permission(peers)
        return r

    def channel_bind(self, number, ip, port):
        tid = os.urandom(12)
        m = Msg(CHANNEL_BIND, tid=tid)
        m.add(CHANNEL_NUMBER, struct.pack("!HH", number, 0))
        m.add(XOR_PEER_ADDRESS, xor_addr(ip, port, tid))
        self._auth(m)
        r = self.transact(m, self.key)
        if r is not None and r.code == 438:
            self.nonce = r.attr(NONCE)
            return self.channel_bind(number, ip, port)
        return r

    def send_indication(self, ip, port, data):
        tid = os.urandom(12)
        m = Msg(SEND, INDICATION, tid=tid)
        m.add(XOR_PEER_ADDRESS, xor_addr(ip, port, tid)).add(DATA_ATTR, data)
        self.send_raw(m.encode())

    def channel_data(self, number, data):
        frame = struct.pack("!HH", number, len(data)) + data
        if self.transport != "udp":
            frame += b"\0" * (pad4(len(frame)) - len(frame))
        self.send_raw(frame)


def relay_of(reply):
    """The XOR-RELAYED-ADDRESS of an Allocate success, as (ip, port)."""
    return reply.addr(XOR_RELAYED_ADDRESS) if reply is not None else None


def big_binding(opt_len=65508, tail=FINGERPRINT):
    """The issue-11 crasher: a Binding request with a comprehension-optional
    attribute of opt_len bytes followed by FINGERPRINT, 65 540 bytes."""
    m = Msg(BINDING)
    m.add(0x8030, b"x" * opt_len)
    return m.encode(None, tail == FINGERPRINT)
