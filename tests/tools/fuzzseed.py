#!/usr/bin/python3
"""fuzzseed.py - seeds for the video fuzz targets from real encoder RTP.

    fuzzseed.py video IN.rtp OUT [--lossy] [--big CODEC]
        IN: RFC 4571 framed RTP (rtpstreampay, av1pay.py). OUT: the
        tests/fuzz/video_fuzz.h format, [u16 len][u8 flags][payload]...
        --lossy marks every 7th packet "lost before"; --big CODEC puts a
        65 535-byte payload first (a key frame of that codec whose first
        packet fills a datagram), so libFuzzer's max_len reaches the
        largest payload a UDP datagram can carry.
    fuzzseed.py record V.rtp A.rtp OUT --first BYTE
        the fuzz_record.c format, [u8 stream][u16 len][u8 ms step][datagram]...
"""
import argparse
import struct


def read_4571(path):
    data, out, off = open(path, "rb").read(), [], 0
    while off + 2 <= len(data):
        n = struct.unpack(">H", data[off:off + 2])[0]
        out.append(data[off + 2:off + 2 + n])
        off += 2 + n
    return out


def payload(p):
    cc, x = p[0] & 15, p[0] & 0x10
    off = 12 + cc * 4
    if x:
        off += 4 + struct.unpack(">H", p[off + 2:off + 4])[0] * 4
    return p[off:]


BIG_HEAD = {  # a key frame's first packet: descriptor + frame header
    "vp8": bytes([0x90, 0x80, 0x01, 0x10, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]),
    "vp9": bytes([0x8c, 0x01, 0x82, 0x49, 0x83, 0x42, 0x20, 0x13, 0xf0, 0x0e, 0xf6]),
    "av1": bytes([0x28, 0x0d, 0x08, 0x00, 0x00, 0x00, 0x04, 0x3c, 0xff, 0xbf, 0x81, 0xb5,
                  0xf2, 0x00, 0x80, 0x30, 0x10]),
}


def video(args):
    out = bytearray()
    if args.big:
        head = BIG_HEAD[args.big]
        body = head + bytes((i * 37 + 11) & 0xff for i in range(65535 - len(head)))
        out += struct.pack(">HB", len(body), 1 | 2) + body
    last = None
    for i, p in enumerate(read_4571(args.inp)):
        ts = struct.unpack(">I", p[4:8])[0]
        fl = (1 if p[1] & 0x80 else 0) | (2 if ts != last else 0)
        if args.lossy and i % 7 == 6:
            fl |= 4
        last = ts
        pl = payload(p)
        out += struct.pack(">HB", len(pl), fl) + pl
    open(args.out, "wb").write(out)


def record(args):
    v, a = read_4571(args.inp), read_4571(args.audio)
    out = bytearray([args.first])
    for i in range(max(len(v), len(a))):
        if i < len(v):
            out += struct.pack(">BHB", 0, len(v[i]), 10) + v[i]
        if i < len(a) and i % 2 == 0:
            out += struct.pack(">BHB", 1, len(a[i // 2]), 10) + a[i // 2]
    open(args.out, "wb").write(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["video", "record"])
    ap.add_argument("inp")
    ap.add_argument("audio", nargs="?")
    ap.add_argument("out")
    ap.add_argument("--lossy", action="store_true")
    ap.add_argument("--big")
    ap.add_argument("--first", type=lambda s: int(s, 0), default=0)
    args = ap.parse_args()
    if args.kind == "video":
        video(args)
    else:
        record(args)


if __name__ == "__main__":
    main()
