#!/usr/bin/python3
"""rtpinject.py - replay encoder RTP with seeded loss, reordering, duplicates
and RTX, into a pcap file or over UDP, and compute what a correct recorder
must write.

Input: RFC 4571 framed RTP as GStreamer's `rtpstreampay ! filesink` writes
it (one video file: H.264, or with --vcodec VP8, VP9 or AV1; one Opus audio
file). Each stream's packets are
timed by their RTP timestamps from a common start (packets of one video
frame 0.2 ms apart, never before the packet sent ahead of them), so the two
streams line up as they did at the encoder.

    rtpinject.py make  --video V --audio A [impairments] --pcap OUT [--pcapng] --sdp OUT --report OUT
    rtpinject.py send  --video V --audio A [impairments] --to HOST --sdp OUT --report OUT
                       [--seconds S]   (real time; stop after S seconds of media)
impairments: --seed N --loss P --reorder P --dup P --rtx P (fraction of the
lost video packets retransmitted as RFC 4588 RTX 30 ms later)
             --loss-after S (no loss in the first S seconds)

The report (JSON) says: video frames sent, frames a correct recorder writes,
audio packets and duration, and the packets dropped. For VP8, VP9 and AV1
(one frame per RTP timestamp, no temporal layers from these encoders) a
frame is written iff no packet of it was lost and it is a key frame or the
frame before it was written. For H.264 a frame is written iff
  - no packet of it was lost from its first slice on (a receiver cannot tell
    a lost slice from a lost copy of a parameter set, so such a frame cannot
    be vouched for), and
  - it is an IDR, or the frame before it was written (every P frame x264
    makes here is a reference frame).
Packets lost before a frame's first slice (AUD, SPS/PPS copies, SEI) do not
count: its first_mb_in_slice and frame_num prove nothing else went, and the
parameter sets come from the SDP or earlier in the stream.
"""
import argparse
import base64
import json
import random
import socket
import struct
import sys
import time

VPT, APT, RTXPT = 96, 111, 97
RTX_SSRC = 0x5E0E5E0E


def read_4571(path):
    data = open(path, "rb").read()
    out, off = [], 0
    while off + 2 <= len(data):
        n = struct.unpack(">H", data[off:off + 2])[0]
        out.append(data[off + 2:off + 2 + n])
        off += 2 + n
    return out


def splice(parts):
    """One stream out of several encodes (--video A,B): the later ones get
    the first one's SSRC and continue its sequence numbers and timestamps
    (one 30 fps frame apart), as an encoder changing resolution would."""
    out = list(parts[0])
    for part in parts[1:]:
        last = rtp_fields(out[-1])
        f0 = rtp_fields(part[0])
        dseq = (last["seq"] + 1 - f0["seq"]) & 0xffff
        dts = (last["ts"] + 3000 - f0["ts"]) & 0xffffffff
        for p in part:
            b0, b1, seq, ts, _ssrc = struct.unpack(">BBHII", p[:12])
            out.append(struct.pack(">BBHII", b0, b1, (seq + dseq) & 0xffff,
                                   (ts + dts) & 0xffffffff, last["ssrc"]) + p[12:])
    return out


def rtp_fields(pkt):
    b0, b1, seq, ts, ssrc = struct.unpack(">BBHII", pkt[:12])
    off = 12 + (b0 & 15) * 4
    if b0 & 0x10:
        off += 4 + struct.unpack(">H", pkt[off + 2:off + 4])[0] * 4
    end = len(pkt) - (pkt[-1] if b0 & 0x20 else 0)
    return {"seq": seq, "ts": ts, "ssrc": ssrc, "marker": bool(b1 & 0x80),
            "payload": pkt[off:end]}


def nal_units(payload):
    """(type, is_start, nal bytes or None) for each NAL unit (part) in a packet."""
    t = payload[0] & 0x1f
    if 1 <= t <= 23:
        return [(t, True, payload)]
    if t == 24:
        out, off = [], 1
        while off + 2 <= len(payload):
            n = struct.unpack(">H", payload[off:off + 2])[0]
            nal = payload[off + 2:off + 2 + n]
            out.append((nal[0] & 0x1f, True, nal))
            off += 2 + n
        return out
    if t == 28:
        return [(payload[1] & 0x1f, bool(payload[1] & 0x80), None)]
    return []


def timeline(video, audio, video_delay=0.0):
    """[(time_s, kind, index)] for every packet, in send order."""
    ev = []
    if video:
        ts0, last_ts, k, last_t = rtp_fields(video[0])["ts"], None, 0, -1.0
        for i, p in enumerate(video):
            ts = rtp_fields(p)["ts"]
            k = k + 1 if ts == last_ts else 0
            last_ts = ts
            # a sender paces in sequence order: a frame too large for its
            # interval (a 1080p key frame) delays the next, never overtakes
            t = max(((ts - ts0) & 0xffffffff) / 90000.0 + k * 0.0002 + video_delay, last_t + 0.00005)
            last_t = t
            ev.append((t, "v", i))
    if audio:
        ts0 = rtp_fields(audio[0])["ts"]
        for i, p in enumerate(audio):
            ev.append((((rtp_fields(p)["ts"] - ts0) & 0xffffffff) / 48000.0, "a", i))
    ev.sort(key=lambda e: (e[0], e[1] == "a", e[2]))
    return ev


def impair(ev, video, args):
    """Apply loss/reorder/dup/rtx; returns (events, lost video idx, lost audio idx)."""
    rnd = random.Random(args.seed)
    out, lost = [], {"v": set(), "a": set()}
    for t, kind, i in ev:
        if t >= args.loss_after and rnd.random() < args.loss:
            if kind == "v" and rnd.random() < args.rtx:
                out.append((t + 0.030, "rtx", i))  # recovered by retransmission
            else:
                lost[kind].add(i)
            continue
        if rnd.random() < args.reorder:
            t += 0.001 + rnd.random() * 0.004  # overtaken by the next few packets
        out.append((t, kind, i))
        if rnd.random() < args.dup:
            out.append((t + 0.002, kind, i))
    out.sort(key=lambda e: e[0])
    return out, lost["v"], lost["a"]


def rtx_packet(orig, rtx_seq):
    f = rtp_fields(orig)
    hdr = bytes([0x80, (0x80 if f["marker"] else 0) | RTXPT])
    hdr += struct.pack(">HII", rtx_seq, f["ts"], RTX_SSRC)
    return hdr + struct.pack(">H", f["seq"]) + f["payload"]


def vpx_key(codec, pl):
    """Whether a frame whose first packet has payload pl is a key frame."""
    if codec == "vp8":  # RFC 7741 §4.2 descriptor, then the frame tag's P bit
        off = 1
        if pl[0] & 0x80:
            x, off = pl[1], 2
            if x & 0x80:
                off += 2 if pl[off] & 0x80 else 1
            off += (1 if x & 0x40 else 0) + (1 if x & 0x30 else 0)
        return bool(pl[0] & 0x10) and not pl[off] & 1
    if codec == "vp9":  # RFC 9628: B set, P (inter-picture predicted) clear
        return bool(pl[0] & 0x08) and not pl[0] & 0x40
    return bool(pl[0] & 0x08)  # AV1: N, a new coded video sequence


def analyse_vpx(codec, video, lost_v):
    frames = []
    for i, p in enumerate(video):
        f = rtp_fields(p)
        if not frames or frames[-1]["ts"] != f["ts"]:
            frames.append({"ts": f["ts"], "pkts": [], "key": vpx_key(codec, f["payload"])})
        frames[-1]["pkts"].append(i)
    ok_prev, written, keys = False, 0, 0
    for fr in frames:
        ok = not any(i in lost_v for i in fr["pkts"]) and (fr["key"] or ok_prev)
        written += ok
        keys += fr["key"]
        ok_prev = ok
    return len(frames), keys, written, tail(frames, lost_v, ok_prev)


def tail(frames, lost_v, last_ok):
    """What a receiver can know of the video's end: whether any packet of
    the last frame arrived, and whether that frame was written."""
    seen = bool(frames) and any(i not in lost_v for i in frames[-1]["pkts"])
    return {"last_frame_seen": seen, "last_frame_written": bool(frames) and last_ok}


def analyse(video, lost_v, audio, lost_a, codec="h264"):
    """The frames a correct recorder writes, and sprop-parameter-sets."""
    frames, sps, pps = [], None, None
    if codec != "h264":
        video_for_h264 = []
    else:
        video_for_h264 = video
    for i, p in enumerate(video_for_h264):
        f = rtp_fields(p)
        if not frames or frames[-1]["ts"] != f["ts"]:
            frames.append({"ts": f["ts"], "pkts": [], "first_vcl": None, "idr": False})
        frames[-1]["pkts"].append(i)
        for t, _start, nal in nal_units(f["payload"]):
            if t == 7 and nal and sps is None:
                sps = nal
            if t == 8 and nal and pps is None:
                pps = nal
            if 1 <= t <= 5:
                if frames[-1]["first_vcl"] is None:
                    frames[-1]["first_vcl"] = i
                frames[-1]["idr"] |= t == 5
    frames = [fr for fr in frames if fr["first_vcl"] is not None]
    ok_prev, written, idr = False, 0, 0
    for fr in frames:
        intact = not any(i in lost_v for i in fr["pkts"] if i >= fr["first_vcl"])
        ok = intact and (fr["idr"] or ok_prev)
        written += ok
        idr += fr["idr"]
        ok_prev = ok
    n_frames, end = len(frames), tail(frames, lost_v, ok_prev)
    if codec != "h264":
        n_frames, idr, written, end = analyse_vpx(codec, video, lost_v)
    dur = 0
    for p in audio:
        pl = rtp_fields(p)["payload"]
        c = pl[0] >> 3
        fs = ([480, 960, 1920, 2880][c & 3] if c < 12 else
              (960 if c & 1 else 480) if c < 16 else [120, 240, 480, 960][c & 3])
        dur += fs * ((1, 2, 2)[pl[0] & 3] if pl[0] & 3 != 3 else pl[1] & 0x3f)
    def observable(lost, n):
        # a receiver cannot see packets lost before its first or after its last
        got = [i for i in range(n) if i not in lost]
        return sum(1 for i in lost if got and got[0] < i < got[-1])
    sprop = ",".join(base64.b64encode(x).decode() for x in (sps, pps) if x)
    return {"frames_sent": n_frames, "idr_sent": idr, "frames_expected": written,
            "video_duration": n_frames / 30.0, "audio_packets": len(audio),
            "audio_duration": dur / 48000.0, "video_lost": sorted(lost_v),
            "audio_lost": sorted(lost_a),
            "lost_observable": observable(lost_v, len(video)) + observable(lost_a, len(audio)),
            **end}, sprop


def sdp_text(addr, vport, aport, sprop, mode, rtx, codec="h264"):
    v = [f"m=video {vport} RTP/AVP {VPT}" + (f" {RTXPT}" if rtx else ""),
         f"a=rtpmap:{VPT} {codec.upper()}/90000"]
    if codec == "h264":
        v.append(f"a=fmtp:{VPT} packetization-mode={mode};profile-level-id=42c01f"
                 + (f";sprop-parameter-sets={sprop}" if sprop else ""))
    if rtx:
        v += [f"a=rtpmap:{RTXPT} rtx/90000", f"a=fmtp:{RTXPT} apt={VPT}"]
    a = [f"m=audio {aport} RTP/AVP {APT}", f"a=rtpmap:{APT} opus/48000/2",
         f"a=fmtp:{APT} minptime=10;useinbandfec=1"]
    return "\r\n".join(["v=0", f"o=- 1 1 IN IP4 {addr}", "s=sedge test", f"c=IN IP4 {addr}",
                        "t=0 0"] + v + a) + "\r\n"


def ip_udp(src, dst, sport, dport, payload):
    udp = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    return b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00" + ip + udp


def packets(events, video, audio):
    rtx_seq = 1000
    for t, kind, i in events:
        if kind == "rtx":
            rtx_seq += 1
            yield t, "v", rtx_packet(video[i], rtx_seq)
        else:
            yield t, kind, (video if kind == "v" else audio)[i]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["make", "send"])
    ap.add_argument("--video")
    ap.add_argument("--audio")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--loss", type=float, default=0.0)
    ap.add_argument("--loss-after", type=float, default=0.0)
    ap.add_argument("--reorder", type=float, default=0.0)
    ap.add_argument("--dup", type=float, default=0.0)
    ap.add_argument("--rtx", type=float, default=0.0)
    ap.add_argument("--mode", type=int, default=1)
    ap.add_argument("--vcodec", choices=["h264", "vp8", "vp9", "av1"], default="h264")
    ap.add_argument("--no-sprop", action="store_true")
    ap.add_argument("--pcap")
    ap.add_argument("--pcapng", action="store_true", help="write pcapng (ns timestamps)")
    ap.add_argument("--sdp")
    ap.add_argument("--report")
    ap.add_argument("--to", default="127.0.0.1")
    ap.add_argument("--vport", type=int, default=5004)
    ap.add_argument("--aport", type=int, default=5006)
    ap.add_argument("--seconds", type=float, default=0)
    ap.add_argument("--video-delay", type=float, default=0.0, help="video starts this much later")
    ap.add_argument("--start", type=float, default=1767225600.0)  # 2026-01-01T00:00:00Z
    args = ap.parse_args()

    video = splice([read_4571(f) for f in args.video.split(",")]) if args.video else []
    audio = read_4571(args.audio) if args.audio else []
    ev = timeline(video, audio, args.video_delay)
    if args.seconds:
        ev = [e for e in ev if e[0] < args.seconds]
        vmax = max([i for _, k, i in ev if k == "v"], default=-1)
        amax = max([i for _, k, i in ev if k == "a"], default=-1)
        video, audio = video[:vmax + 1], audio[:amax + 1]
    ev, lost_v, lost_a = impair(ev, video, args)
    report, sprop = analyse(video, lost_v, audio, lost_a, args.vcodec)
    report["rtx_sent"] = sum(1 for e in ev if e[1] == "rtx")
    if args.sdp:
        with open(args.sdp, "w") as f:
            f.write(sdp_text(args.to, args.vport, args.aport, "" if args.no_sprop else sprop,
                             args.mode, args.rtx > 0, args.vcodec))
    if args.cmd == "make":
        with open(args.pcap, "wb") as f:
            if args.pcapng:  # section header, one Ethernet interface in ns (if_tsresol 9)
                f.write(struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1)
                        + struct.pack("<I", 28))
                opts = struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0)
                f.write(struct.pack("<IIHHI", 1, 16 + len(opts) + 4, 1, 0, 65535) + opts
                        + struct.pack("<I", 16 + len(opts) + 4))
            else:
                f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
            for t, kind, p in packets(ev, video, audio):
                us = int(round((args.start + t) * 1e6))
                port = args.vport if kind == "v" else args.aport
                frame = ip_udp("127.0.0.1", args.to, 40000, port, p)
                if args.pcapng:
                    ns = us * 1000
                    pad = b"\0" * (-len(frame) % 4)
                    tot = 32 + len(frame) + len(pad)
                    f.write(struct.pack("<IIIIIII", 6, tot, 0, ns >> 32, ns & 0xffffffff,
                                        len(frame), len(frame)) + frame + pad
                            + struct.pack("<I", tot))
                else:
                    f.write(struct.pack("<IIII", us // 1000000, us % 1000000, len(frame),
                                        len(frame)))
                    f.write(frame)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t0 = time.monotonic()
        for t, kind, p in packets(ev, video, audio):
            delay = t0 + t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            s.sendto(p, (args.to, args.vport if kind == "v" else args.aport))
    if args.report:
        with open(args.report, "w") as f:
            json.dump(report, f, indent=1)
    print(json.dumps({k: v for k, v in report.items() if not k.endswith("_lost")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
