#!/usr/bin/python3
"""seeds.py - large seed inputs for the fuzz targets.

    tests/fuzz/seeds.py TARGET DIR

writes seeds at (and just past) the size limits of TARGET's parser into
DIR, next to the small hand-made corpus in tests/fuzz/corpus/TARGET.
libFuzzer grows inputs slowly from small seeds, so without these a target
never sees a message at its real maximum size (issue 11: the STUN parser
crashed only on stream frames past 65 535 bytes, which a 4 KiB fuzzer
never made). Each target's -max_len is in tests/fuzz/TARGET.options and
must cover the largest seed here. Deterministic: same bytes every run.
"""
import os
import random
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import turnc  # noqa: E402

rnd = random.Random(11)


def blob(n):
    return rnd.randbytes(n)


def corpus(target, name):
    with open(os.path.join(HERE, "corpus", target, name), "rb") as f:
        return f.read()


# ---- stun: datagrams and stream frames up to 20 + 65 535 bytes ----

def stun_seeds():
    out = {}
    tid = bytes(range(12))
    # The issue-11 crasher: FINGERPRINT's value at offset 65 536.
    out["big_fingerprint"] = turnc.Msg(turnc.BINDING, tid=tid).add(0x8030, b"x" * 65508).encode(None, True)
    # An authenticated-looking Allocate, MESSAGE-INTEGRITY-SHA256 (16 bytes) at 65 536.
    m = turnc.Msg(turnc.ALLOCATE, tid=tid).add(turnc.REQUESTED_TRANSPORT, b"\x11\0\0\0")
    m.add(turnc.USERNAME, b"alice").add(turnc.REALM, b"sedge.test").add(turnc.NONCE, b"AAAAAAAAAAAA")
    m.add(0x8030, b"y" * (65536 - 20 - len(m.body()) - 8)).add(0x001C, b"\0" * 16)
    out["big_mi256"] = m.encode()
    # MESSAGE-INTEGRITY then FINGERPRINT at the end of a 65 552-byte message.
    m = turnc.Msg(turnc.REFRESH, tid=tid).add(0x8030, b"z" * 65496)
    out["big_mi_fp"] = m.encode(b"0123456789abcdef", True)
    # Largest ChannelData (padded on a stream), and a stream of two big frames.
    cd = struct.pack("!HH", 0x4000, 65535) + blob(65535) + b"\0"
    out["big_channeldata"] = cd
    half = turnc.Msg(turnc.SEND, turnc.INDICATION, tid=tid).add(turnc.DATA_ATTR, blob(32000)).encode()
    out["stream_two_frames"] = half + struct.pack("!HH", 0x4001, 32000) + blob(32000)
    return out


# ---- api: a selector byte, then up to api.max_body (1 MiB) ----

API_BODY_MAX = 1 << 20


def api_seeds():
    out = {}
    pad = API_BODY_MAX - 200
    out["json_max_body"] = b'j{"origin":"https://meet.example.com","name":"alice","pad":"' + \
        b"a" * pad + b'"}'
    out["json_deep"] = b"j" + b"[" * 4096 + b"]" * 4096
    out["jwt_over_max"] = b"t" + b"eyJhbGciOiJFUzI1NiJ9." + b"A" * 8300 + b".sig"
    out["bearer_64k"] = b"aBearer sedge_" + b"B" * 65500
    out["origin_64k"] = b"ohttps://" + b"x" * 65500 + b".example.com/v1/admin/users/" + b"u" * 300
    return out


# ---- h264: [u16 len][u8 flags][payload]..., access units up to 8 MiB ----

H264_AU_MAX = 8 << 20


def h264_records(nal_type, total, frag=65532):
    """One access unit of total bytes as FU-A fragments (RFC 6184 §5.8)."""
    recs, sent, first = b"", 0, True
    while sent < total:
        n = min(frag, total - sent)
        last = sent + n >= total
        fu = bytes([0x7C, (0x80 if first else 0) | (0x40 if last else 0) | nal_type])
        payload = fu + blob(n)
        flags = (1 if last else 0) | (2 if first else 0)
        recs += struct.pack("!HB", len(payload), flags) + payload
        sent, first = sent + n, False
    return recs


def h264_seeds():
    base = corpus("h264", "mode0")  # SPS, PPS and frames of a real encoder
    return {
        "au_at_max": base + h264_records(5, H264_AU_MAX - 4096),
        "au_over_max": base + h264_records(5, H264_AU_MAX + 70000) + h264_records(1, 3000),
    }


# ---- rtp: [u16 len][u8 step][datagram]..., datagrams up to 65 535 ----

def rtp_packet(seq, ts, pt, payload, marker=False, ssrc=0x11223344):
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts, ssrc) + payload


def rtp_seeds():
    base = corpus("rtp", "mode0")
    big = rtp_packet(40000, 900000, 96, b"\x7C\x85" + blob(65535 - 14), marker=True)
    small = rtp_packet(40001, 903000, 96, b"\x41" + blob(500), marker=True)
    return {"max_datagram": base + struct.pack("!HB", len(big), 1) + big +
            struct.pack("!HB", len(small), 1) + small}


# ---- pcap: records/blocks up to PCAP_SNAP_MAX (262 144) bytes ----

PCAP_SNAP_MAX = 262144
LINK_RAW = 101


def ip_udp(payload):
    udp_len = 8 + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0x4000, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    return ip + struct.pack("!HHHH", 40000, 5004, udp_len, 0) + payload


def pcap_seeds():
    rtp = rtp_packet(1, 0, 96, b"\x41" + blob(200))
    biggest_udp = ip_udp(rtp_packet(2, 3000, 96, b"\x41" + blob(65507 - 13)))
    hdr = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, PCAP_SNAP_MAX, LINK_RAW)

    def rec(data, ts=1):
        return struct.pack("<IIII", ts, 0, len(data), len(data)) + data

    classic = hdr + rec(ip_udp(rtp)) + rec(biggest_udp + blob(PCAP_SNAP_MAX - len(biggest_udp)), 2)
    classic += rec(ip_udp(rtp), 3)
    classic_over = hdr + rec(ip_udp(rtp)) + struct.pack("<IIII", 2, 0, PCAP_SNAP_MAX + 1,
                                                        PCAP_SNAP_MAX + 1) + blob(PCAP_SNAP_MAX + 1)

    def block(btype, body):
        body += b"\0" * ((4 - len(body) % 4) % 4)
        n = 12 + len(body)
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)

    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb = block(1, struct.pack("<HHI", LINK_RAW, 0, 0))

    def epb(data, ts=1):
        return block(6, struct.pack("<IIIII", 0, 0, ts, len(data), len(data)) + data)

    fill = PCAP_SNAP_MAX - 32 - len(biggest_udp)  # the whole block is PCAP_SNAP_MAX bytes
    ng = shb + idb + epb(ip_udp(rtp)) + epb(biggest_udp + blob(fill), 2) + epb(ip_udp(rtp), 3)
    return {"classic_max_record": classic, "classic_over_max": classic_over,
            "pcapng_max_block": ng}


# ---- record: [u8 stream][u16 len][u8 step][RTP]..., a whole session ----

def record_seeds():
    base = corpus("record", "av")
    # Continue the seed's video stream (stream 0) with a ~900 KB key frame.
    pos, seq, ts, ssrc = 0, 0, 0, 0
    while pos + 4 <= len(base):
        n = base[pos + 1] << 8 | base[pos + 2]
        pkt = base[pos + 4:pos + 4 + n]
        if base[pos] & 1 == 0 and len(pkt) >= 12:
            seq, ts, ssrc = struct.unpack("!HII", pkt[2:12])
        pos += 4 + n
    out, sent, first, total = b"", 0, True, 900000
    seq, ts = seq + 1, ts + 3000
    while sent < total:
        n = min(1200, total - sent)
        last = sent + n >= total
        fu = bytes([0x7C, (0x80 if first else 0) | (0x40 if last else 0) | 5])
        pkt = rtp_packet(seq, ts, 96, fu + blob(n), marker=last, ssrc=ssrc)
        out += struct.pack("!BHB", 0, len(pkt), 1) + pkt
        seq, sent, first = seq + 1, sent + n, False
    return {"big_keyframe": base + out}


# ---- vp8, vp9, av1: [u16 len][u8 flags][payload]..., frames up to 8 MiB ----
# (tests/fuzz/video_fuzz.h; flags: bit 0 marker, bit 1 new timestamp)

REC_FRAME_MAX = 8 << 20
PAYLOAD_MAX = 65535

# A key frame's first packet (descriptor + frame header, as
# tests/tools/fuzzseed.py), and the descriptors of the packets after it.
VIDEO_FIRST = {
    "vp8": bytes([0x90, 0x80, 0x01, 0x10, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]),
    "vp9": bytes([0x88, 0x01, 0x82, 0x49, 0x83, 0x42, 0x20, 0x13, 0xf0, 0x0e, 0xf6]),
    # aggregation header Y=1: the frame OBU goes on in the next packet
    "av1": bytes([0x68, 0x0d, 0x08, 0x00, 0x00, 0x00, 0x04, 0x3c, 0xff, 0xbf, 0x81, 0xb5,
                  0xf2, 0x00, 0x80, 0x30, 0x10]),
}
VIDEO_MIDDLE = {"vp8": bytes([0x80, 0x80, 0x01]),   # S=0: not the frame's start (RFC 7741)
                "vp9": bytes([0x80, 0x01]),         # B=0 E=0 (RFC 9628)
                "av1": bytes([0xD0])}               # Z=1 Y=1 W=1 (AV1 RTP §4.4)
VIDEO_LAST = {"vp8": VIDEO_MIDDLE["vp8"], "vp9": bytes([0x84, 0x01]), "av1": bytes([0x90])}


def video_frame(codec, total):
    """One key frame of about total bytes in payloads of PAYLOAD_MAX."""
    first = VIDEO_FIRST[codec]
    out = struct.pack("!HB", PAYLOAD_MAX, 2) + first + blob(PAYLOAD_MAX - len(first))
    sent = PAYLOAD_MAX - len(first)
    while sent < total:
        last = total - sent <= PAYLOAD_MAX - len(VIDEO_LAST[codec])
        d = VIDEO_LAST[codec] if last else VIDEO_MIDDLE[codec]
        n = min(PAYLOAD_MAX - len(d), total - sent)
        out += struct.pack("!HB", len(d) + n, 1 if last else 0) + d + blob(n)
        sent += n
    return out


def video_seeds(codec):
    stream = corpus(codec, "stream")  # a real encoder's packets
    return {
        "frame_at_max": video_frame(codec, REC_FRAME_MAX - 4096) + stream,
        "frame_over_max": video_frame(codec, REC_FRAME_MAX + 70000) + stream,
    }


# ---- anchor_demux: datagram sequences up to max_len (65 536) ----

def anchor_demux_seeds():
    # The real encoder/handshake seeds repeated until one input fills
    # max_len: the session then sees thousands of datagrams in one run.
    out = {}
    for name in ("srtp-both-ways", "largest-packet"):
        one = corpus("anchor_demux", name)
        n = max(1, 65536 // len(one))
        out["repeat-" + name] = one * n
    return out


GEN = {"stun": stun_seeds, "anchor_demux": anchor_demux_seeds, "api": api_seeds, "h264": h264_seeds, "rtp": rtp_seeds,
       "pcap": pcap_seeds, "record": record_seeds,
       "vp8": lambda: video_seeds("vp8"), "vp9": lambda: video_seeds("vp9"),
       "av1": lambda: video_seeds("av1")}


def main():
    target, outdir = sys.argv[1], sys.argv[2]
    if target not in GEN:
        return 0
    for name, data in GEN[target]().items():
        with open(os.path.join(outdir, "large-" + name), "wb") as f:
            f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
