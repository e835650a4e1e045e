"""turn_client.py - a small TURN client over UDP (RFC 8656, RFC 8489) for tests.

Written from the RFCs for tests that need what coturn's turnutils_uclient
cannot do: choose exact payload bytes, pad ChannelData, send Send
indications, leave a channel to expire while refreshing its permission,
and see every datagram the relay sends back (ChannelData frames verbatim,
Data indications decoded). Long-term credentials with MD5 keys; a 401 or
438 answer is followed once with the realm and nonce it carries.

    c = TurnClient(("127.0.0.1", 3478), "alice", "pw", bind="127.0.0.5")
    relayed = c.allocate(lifetime=600)
    c.channel_bind(0x4000, ("127.0.0.1", 9000))
    c.send_channel(0x4000, b"hello")
    kind, *rest = c.recv(1.0)   # ("cd", number, payload, frame) / ("data", peer, payload)

Every wait is bounded; nothing here leaves the addresses it is given.
"""
import hashlib
import hmac
import os
import socket
import struct
import time
import zlib

COOKIE = 0x2112A442
ALLOCATE, REFRESH, SEND, DATA, CREATE_PERMISSION, CHANNEL_BIND = 0x003, 0x004, 0x006, 0x007, 0x008, 0x009
REQUEST, INDICATION, SUCCESS, ERROR = 0x000, 0x010, 0x100, 0x110
A_USERNAME, A_MI, A_ERROR, A_CHANNEL, A_LIFETIME = 0x0006, 0x0008, 0x0009, 0x000C, 0x000D
A_PEER, A_DATA, A_REALM, A_NONCE, A_RELAYED, A_TRANSPORT = 0x0012, 0x0013, 0x0014, 0x0015, 0x0016, 0x0019
A_MAPPED, A_FINGERPRINT = 0x0020, 0x8028


class TurnError(Exception):
    def __init__(self, code, reason):
        super().__init__("%d %s" % (code, reason))
        self.code = code


def _type(method, cls):
    m = method
    return (m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | cls


def _split_type(t):
    cls = t & 0x0110
    m = (t & 0x000F) | ((t >> 1) & 0x0070) | ((t >> 2) & 0x0F80)
    return m, cls


def _xor_addr(addr, tid):
    ip, port = addr
    raw = socket.inet_aton(ip)
    x = bytes(a ^ b for a, b in zip(raw, struct.pack("!I", COOKIE)))
    return struct.pack("!BBH", 0, 1, port ^ (COOKIE >> 16)) + x


def _unxor_addr(v, tid):
    fam, port = v[1], struct.unpack("!H", v[2:4])[0] ^ (COOKIE >> 16)
    if fam != 1:
        raise ValueError("IPv6 address: not needed by these tests")
    ip = bytes(a ^ b for a, b in zip(v[4:8], struct.pack("!I", COOKIE)))
    return socket.inet_ntoa(ip), port


def build(method, cls, attrs, tid=None, key=None):
    """A STUN message; key adds MESSAGE-INTEGRITY (HMAC-SHA1), then FINGERPRINT."""
    tid = tid or os.urandom(12)
    body = b""
    for t, v in attrs:
        body += struct.pack("!HH", t, len(v)) + v + b"\0" * (-len(v) % 4)
    if key is not None:
        hdr = struct.pack("!HHI", _type(method, cls), len(body) + 24, COOKIE) + tid
        mac = hmac.new(key, hdr + body, hashlib.sha1).digest()
        body += struct.pack("!HH", A_MI, 20) + mac
    hdr = struct.pack("!HHI", _type(method, cls), len(body) + 8, COOKIE) + tid
    crc = (zlib.crc32(hdr + body) ^ 0x5354554E) & 0xFFFFFFFF
    body += struct.pack("!HHI", A_FINGERPRINT, 4, crc)
    return struct.pack("!HHI", _type(method, cls), len(body), COOKIE) + tid + body


def parse(buf):
    """(method, class, tid, {type: value}) or None for anything but STUN."""
    if len(buf) < 20 or buf[0] >= 0x40:
        return None
    t, ln, cookie = struct.unpack("!HHI", buf[:8])
    if cookie != COOKIE or 20 + ln != len(buf):
        return None
    attrs, off = {}, 20
    while off + 4 <= len(buf):
        at, al = struct.unpack("!HH", buf[off:off + 4])
        attrs.setdefault(at, buf[off + 4:off + 4 + al])
        off += 4 + al + (-al % 4)
    m, cls = _split_type(t)
    return m, cls, buf[8:20], attrs


class TurnClient:
    def __init__(self, server, user, password, bind="127.0.0.1", rto=0.25, tries=6):
        self.server, self.user, self.password = server, user, password
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((bind, 0))
        self.rto, self.tries = rto, tries
        self.realm = self.nonce = self.key = None
        self.pending = []  # datagrams that arrived while waiting for a response

    def local(self):
        return self.sock.getsockname()

    def _auth_attrs(self):
        return [(A_USERNAME, self.user.encode()), (A_REALM, self.realm), (A_NONCE, self.nonce)]

    def request(self, method, attrs):
        """Send a request (authenticated once a realm is known); the success attributes."""
        for _ in range(3):  # unauthenticated, then 401 / 438 answers
            tid = os.urandom(12)
            a = list(attrs) + (self._auth_attrs() if self.key else [])
            msg = build(method, REQUEST, a, tid, self.key)
            m = self._transact(msg, tid)
            _, cls, _, at = m
            if cls == SUCCESS:
                return at
            code = struct.unpack("!I", at.get(A_ERROR, b"\0\0\0\0")[:4])[0]
            code = (code >> 8 & 7) * 100 + (code & 0xFF)
            reason = at.get(A_ERROR, b"")[4:].decode(errors="replace")
            if code in (401, 438) and A_NONCE in at and (code == 438 or self.key is None):
                self.realm = at.get(A_REALM, self.realm)
                self.nonce = at[A_NONCE]
                self.key = hashlib.md5(b"%s:%s:%s" % (self.user.encode(), self.realm,
                                                      self.password.encode())).digest()
                continue
            raise TurnError(code, reason)
        raise TurnError(0, "authentication did not converge")

    def _transact(self, msg, tid):
        for i in range(self.tries):
            self.sock.sendto(msg, self.server)
            end = time.monotonic() + self.rto * (2 ** i if i < 3 else 8)
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self.sock.settimeout(left)
                try:
                    d, src = self.sock.recvfrom(65536)
                except socket.timeout:
                    break
                p = parse(d)
                if p and p[2] == tid and p[1] in (SUCCESS, ERROR):
                    return p
                self.pending.append(d)
        raise TurnError(0, "no response")

    def allocate(self, lifetime=None):
        attrs = [(A_TRANSPORT, bytes([17, 0, 0, 0]))]
        if lifetime:
            attrs.append((A_LIFETIME, struct.pack("!I", lifetime)))
        at = self.request(ALLOCATE, attrs)
        return _unxor_addr(at[A_RELAYED], None)

    def refresh(self, lifetime):
        at = self.request(REFRESH, [(A_LIFETIME, struct.pack("!I", lifetime))])
        return struct.unpack("!I", at[A_LIFETIME])[0]

    def create_permission(self, ip):
        self.request(CREATE_PERMISSION, [(A_PEER, _xor_addr((ip, 0), None))])

    def channel_bind(self, number, peer):
        self.request(CHANNEL_BIND, [(A_CHANNEL, struct.pack("!HH", number, 0)),
                                    (A_PEER, _xor_addr(peer, None))])

    def send_channel(self, number, payload, pad=0):
        """ChannelData; pad adds that many bytes after the payload (not counted in its length)."""
        self.sock.sendto(struct.pack("!HH", number, len(payload)) + payload + b"\xee" * pad,
                         self.server)

    def send_indication(self, peer, payload):
        self.sock.sendto(build(SEND, INDICATION, [(A_PEER, _xor_addr(peer, None)),
                                                  (A_DATA, payload)]), self.server)

    def recv(self, timeout):
        """The next relayed datagram: ("cd", number, payload, frame) for ChannelData,
        ("data", peer, payload) for a Data indication, None on timeout."""
        end = time.monotonic() + timeout
        while True:
            if self.pending:
                d = self.pending.pop(0)
            else:
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.sock.settimeout(left)
                try:
                    d, _ = self.sock.recvfrom(65536)
                except socket.timeout:
                    return None
            if 0x40 <= d[0] < 0x80 and len(d) >= 4:
                number, ln = struct.unpack("!HH", d[:4])
                return "cd", number, d[4:4 + ln], d
            p = parse(d)
            if p and p[0] == DATA and p[1] == INDICATION:
                return "data", _unxor_addr(p[3][A_PEER], None), p[3].get(A_DATA, b"")

    def close(self):
        self.sock.close()
