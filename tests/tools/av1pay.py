#!/usr/bin/python3
"""av1pay.py - packetize an AV1 OBU stream into RTP (AOM "RTP Payload Format
For AV1" §4), framed as RFC 4571 like GStreamer's rtpstreampay writes.

Debian 12 has no AV1 RTP payloader (GStreamer's rtpav1pay is in the Rust
plugins, FFmpeg 5.1's RTP muxer has no AV1), so the recorder's AV1 tests
encode with a real encoder (GStreamer av1enc, libaom) and packetize here:

    gst-launch-1.0 ... ! av1enc ! av1parse ! video/x-av1,stream-format=obu-stream,alignment=tu \\
        ! fdsink fd=1 > x.obu
    av1pay.py x.obu x.rtp [--mtu 1200] [--pt 45] [--fps 30]

Temporal units are split at temporal delimiters, which are dropped (§4.3).
Each OBU goes out without its size field; the aggregation header's W says
how many elements a packet holds (1..3, the last without a length) or is 0
(every element with a LEB128 length) when there are more. An OBU that does
not fit is fragmented (Y on one packet, Z on the next). N is set on the
first packet of a temporal unit that starts with a sequence header; the
marker bit on the last packet of each temporal unit.
"""
import argparse
import struct
import sys

OBU_SEQ, OBU_TD = 1, 2


def leb128(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def read_leb128(data, off):
    v = 0
    for i in range(8):
        b = data[off + i]
        v |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            return v, off + i + 1
    raise ValueError("bad leb128")


def obus(data):
    """(type, obu bytes without size field) for each OBU of a section 5 stream."""
    off = 0
    while off < len(data):
        hdr = data[off]
        ext = 1 if hdr & 0x04 else 0
        if not hdr & 0x02:
            raise ValueError("OBU without size field in the input")
        size, pay = read_leb128(data, off + 1 + ext)
        head = bytes([hdr & ~0x02]) + data[off + 1:off + 1 + ext]
        yield (hdr >> 3) & 15, head + data[pay:pay + size]
        off = pay + size


def temporal_units(data):
    tu = []
    for t, o in obus(data):
        if t == OBU_TD:
            if tu:
                yield tu
            tu = []
        else:
            tu.append((t, o))
    if tu:
        yield tu


def split_packets(tu, mtu):
    """(elements, Z, Y) for each packet of one temporal unit: OBUs fill a
    packet in order; one that does not fit is cut, its rest opens the next."""
    room = mtu - 1
    packets = []  # (elements, Z, Y)
    cur, z = [], False
    for _, o in tu:
        while o:
            used = sum(len(e) + len(leb128(len(e))) for e in cur)
            free = room - used - 3
            if free < 16 and cur:
                packets.append((cur, z, False))
                cur, z = [], False
                continue
            if len(o) <= free:
                cur.append(o)
                o = b""
            else:
                cur.append(o[:free])
                o = o[free:]
                packets.append((cur, z, True))
                cur, z = [], True
    if cur:
        packets.append((cur, z, False))
    return packets


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("obu")
    ap.add_argument("out")
    ap.add_argument("--mtu", type=int, default=1200)
    ap.add_argument("--pt", type=int, default=45)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--ssrc", type=lambda s: int(s, 0), default=0xA1A1A1A1)
    ap.add_argument("--seq", type=int, default=17000)
    ap.add_argument("--ts", type=int, default=90000)
    args = ap.parse_args()
    data = open(args.obu, "rb").read()
    seq, ts, n_tu = args.seq, args.ts, 0
    with open(args.out, "wb") as f:
        for tu in temporal_units(data):
            pk = split_packets(tu, args.mtu)
            for i, (elems, zf, yf) in enumerate(pk):
                w = len(elems) if len(elems) <= 3 else 0
                agg = ((0x80 if zf else 0) | (0x40 if yf else 0) | (w << 4)
                       | (0x08 if i == 0 and tu[0][0] == OBU_SEQ else 0))
                body = bytearray([agg])
                for k, e in enumerate(elems):
                    if w == 0 or k < w - 1:
                        body += leb128(len(e))
                    body += e
                hdr = struct.pack(">BBHII", 0x80, (0x80 if i == len(pk) - 1 else 0) | args.pt,
                                  seq & 0xFFFF, ts & 0xFFFFFFFF, args.ssrc)
                rtp = hdr + bytes(body)
                f.write(struct.pack(">H", len(rtp)) + rtp)
                seq += 1
            ts += 90000 // args.fps
            n_tu += 1
    print(f"{n_tu} temporal units", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
