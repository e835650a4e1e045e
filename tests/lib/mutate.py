#!/usr/bin/python3
"""mutate.py - send mutated STUN/TURN datagrams to a server.

    mutate.py --server 127.0.0.1:3478 --bind 127.0.0.14 --count 200000
              [--rate 20000] [--seed 11] [--max-seconds 60]

Starts from well-formed messages (Binding, Allocate with and without
credentials, Refresh, CreatePermission, ChannelBind, Send, ChannelData,
a 401 answer, RFC 5769 vectors' shapes) and applies random mutations:
bit flips, byte overwrites, truncation, extension, length-field and
attribute-length edits, attribute duplication, first-byte class changes.
Paced at --rate datagrams/s, bounded in count and in time; reads and
discards whatever comes back. Prints one JSON line of totals.
Deterministic for a given --seed.
"""
import argparse
import json
import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import turnc  # noqa: E402


def seeds(rnd):
    tid = bytes(rnd.getrandbits(8) for _ in range(12))
    rt = (turnc.REQUESTED_TRANSPORT, b"\x11\0\0\0")
    auth = [(turnc.USERNAME, b"legit"), (turnc.REALM, b"sedge.test"), (turnc.NONCE, b"A" * 12)]
    out = [
        turnc.Msg(turnc.BINDING, tid=tid).encode(),
        turnc.Msg(turnc.BINDING, tid=tid).encode(None, True),
        turnc.Msg(turnc.ALLOCATE, tid=tid).add(*rt).encode(None, True),
        turnc.Msg(turnc.ALLOCATE, tid=tid).add(*rt).add(turnc.EVEN_PORT, b"\x80")
        .add(turnc.LIFETIME, struct.pack("!I", 600)).encode(None, True),
    ]
    for method in (turnc.ALLOCATE, turnc.REFRESH, turnc.CREATE_PERMISSION, turnc.CHANNEL_BIND):
        m = turnc.Msg(method, tid=tid)
        if method == turnc.ALLOCATE:
            m.add(*rt)
        if method in (turnc.CREATE_PERMISSION, turnc.CHANNEL_BIND):
            m.add(turnc.XOR_PEER_ADDRESS, turnc.xor_addr("198.51.100.7", 5000, tid))
        if method == turnc.CHANNEL_BIND:
            m.add(turnc.CHANNEL_NUMBER, b"\x40\x00\0\0")
        for a in auth:
            m.add(*a)
        out.append(m.encode(b"k" * 16, True))
    out.append(turnc.Msg(turnc.SEND, turnc.INDICATION, tid=tid)
               .add(turnc.XOR_PEER_ADDRESS, turnc.xor_addr("198.51.100.7", 5000, tid))
               .add(turnc.DATA_ATTR, b"d" * 100).encode())
    out.append(struct.pack("!HH", 0x4000, 100) + b"c" * 100)
    out.append(turnc.Msg(turnc.ALLOCATE, turnc.ERROR, tid=tid).add(turnc.ERROR_CODE, b"\0\0\x04\x01")
               .add(turnc.REALM, b"sedge.test").add(turnc.NONCE, b"B" * 12).encode())
    return out


def mutate(rnd, msg):
    b = bytearray(msg)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randrange(9)
        if op == 0 and b:
            i = rnd.randrange(len(b))
            b[i] ^= 1 << rnd.randrange(8)
        elif op == 1 and b:
            b[rnd.randrange(len(b))] = rnd.getrandbits(8)
        elif op == 2 and len(b) > 1:
            del b[rnd.randrange(1, len(b)):]
        elif op == 3:
            b += bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 64)))
        elif op == 4 and len(b) >= 4:
            struct.pack_into("!H", b, 2, rnd.choice([0, 4, len(b) - 20, len(b), 0xFFFF,
                                                      rnd.getrandbits(16)]) & 0xFFFF)
        elif op == 5 and len(b) >= 24:
            struct.pack_into("!H", b, 22, rnd.choice([0, 1, 0xFFFF, rnd.getrandbits(16)]))
        elif op == 6 and len(b) >= 28:
            i = 20 + 4 * rnd.randrange((len(b) - 20) // 4)
            b[i:i] = b[i:i + 8]  # duplicate an attribute-sized chunk
        elif op == 7 and b:
            b[0] = rnd.choice([0x00, 0x01, 0x3f, 0x40, 0x7f, 0x80, 0xff])
        elif op == 8 and len(b) >= 8:
            b[4:8] = bytes(rnd.getrandbits(8) for _ in range(4))  # magic cookie
    return bytes(b[:65507])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--bind", default="127.0.0.14")
    ap.add_argument("--count", type=int, default=200000)
    ap.add_argument("--rate", type=float, default=20000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--max-seconds", type=float, default=60)
    a = ap.parse_args()
    host, port = a.server.rsplit(":", 1)
    srv = (host, int(port))
    rnd = random.Random(a.seed)
    base = seeds(rnd)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.bind, 0))
    s.setblocking(False)
    sent = got = got_bytes = sent_bytes = 0
    t0 = time.monotonic()
    batch = 50
    while sent < a.count and time.monotonic() - t0 < a.max_seconds:
        for _ in range(batch):
            d = mutate(rnd, rnd.choice(base))
            try:
                s.sendto(d, srv)
                sent += 1
                sent_bytes += len(d)
            except BlockingIOError:
                pass
            except OSError:
                pass
        while True:
            try:
                got_bytes += len(s.recv(70000))
                got += 1
            except (BlockingIOError, ConnectionRefusedError):
                break
        ahead = sent / a.rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
    print(json.dumps({"sent": sent, "sent_bytes": sent_bytes, "answers": got,
                      "answer_bytes": got_bytes, "seconds": round(time.monotonic() - t0, 2)}))


if __name__ == "__main__":
    main()
