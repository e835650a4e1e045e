#!/usr/bin/python3
"""anchor_call.py - a real WebRTC call (aiortc) anchored by sedge.

Two peer connections in one process, A (the inside party) and B (the
outside party), signalled the way the browser extension would do it:
A's offer goes to POST /v1/anchor, the offer sedge returns goes to B, B's
answer to POST /v1/anchor/{id}/answer, and the answer sedge returns to A.
Both send audio and video from aiortc's synthetic sources (H.264 when
--h264, else the default VP8) and open a data channel.

Prints one JSON line: frames each side decoded and sent, data channel
messages both ways, the DTLS fingerprint each side saw from its peer (it
must be sedge's, never the other party's), the anchor id and GET state.
Exit 0 when media and data flowed both ways and both fingerprints are
sedge's; 1 otherwise. --tamper corrupts the fingerprint in the offer A
sends or the answer B sends (then nothing may flow; exit 0 when nothing
did). Bounded by --seconds plus a hard timeout.
"""
import argparse
import asyncio
import base64
import json
import shlex
import ssl
import subprocess
import sys
import urllib.request

import aioice
import aioice.ice
import aiortc.rtcicetransport as rtcice
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from aiortc.rtcdtlstransport import RTCDtlsTransport, certificate_digest
from aiortc.rtcrtpsender import RTCRtpSender

# aioice skips 127.0.0.1 when gathering: the test network is loopback only.
# A relay-only party gathers no host address at all: aioice pairs every
# socket it has with every remote candidate, whatever the policy says.
aioice.ice.get_host_addresses = (
    lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 and not RELAY_ONLY["on"] else [])

SEEN = {}  # id(dtls transport) -> peer certificate fingerprint
RELAY_ONLY = {"on": False, "cafile": None}
NOISE = {"on": False}


class MaybeRelayOnly(aioice.Connection):
    """A's ICE with --turn: relay candidates only (what the extension forces
    on a browser), B's as usual. aiortc never passes aioice's policy."""

    def __init__(self, *a, **kw):
        if RELAY_ONLY["on"]:
            kw["transport_policy"] = aioice.TransportPolicy.RELAY
            kw["stun_server"] = None
        super().__init__(*a, **kw)


rtcice.Connection = MaybeRelayOnly


def _patch_dtls():
    orig = RTCDtlsTransport.start

    async def start(self, remote):
        await orig(self, remote)
        try:
            SEEN[id(self)] = certificate_digest(self._ssl.get_peer_certificate())
        except Exception:  # noqa: BLE001 - handshake failed: nothing seen
            cert = getattr(getattr(self, "ssl", None), "get_peer_certificate", None)
            if cert and cert():
                SEEN[id(self)] = certificate_digest(cert())
    RTCDtlsTransport.start = start


_patch_dtls()


def separate_extmap_ids(sdp):
    return sdp.replace("a=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
                       "a=extmap:3 urn:ietf:params:rtp-hdrext:ssrc-audio-level")


def tamper_fp(sdp):
    out = []
    for line in sdp.split("\r\n"):
        if line.startswith("a=fingerprint:sha-256 "):
            hexes = line.split(" ", 1)[1].split(":")
            hexes[0] = "%02X" % (int(hexes[0], 16) ^ 0xFF)
            line = "a=fingerprint:sha-256 " + ":".join(hexes)
        out.append(line)
    return "\r\n".join(out)


class Api:
    def __init__(self, base, user, password, cafile):
        self.base = base.rstrip("/")
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.ctx = ssl.create_default_context(cafile=cafile)
        self.ctx.check_hostname = False

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Authorization": self.auth,
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, json.loads(raw) if raw else None

    async def acall(self, *a):
        return await asyncio.get_event_loop().run_in_executor(None, self.call, *a)


class Counting(VideoStreamTrack):
    """aiortc's synthetic video (a still green frame, a few kbit/s), or
    with NOISE["on"] 320x240 random pictures (about 1 Mbit/s: fills a
    small disk fast)."""

    def __init__(self, counts, key):
        super().__init__()
        self.counts, self.key = counts, key

    async def recv(self):
        f = await super().recv()
        if NOISE["on"]:
            import av  # noqa: PLC0415 - only with --noise
            import numpy  # noqa: PLC0415
            img = numpy.random.randint(0, 256, (240, 320, 3), dtype=numpy.uint8)
            n = av.VideoFrame.from_ndarray(img, format="rgb24")
            n.pts, n.time_base = f.pts, f.time_base
            f = n
        self.counts[self.key] += 1
        return f


class CountingAudio(AudioStreamTrack):
    def __init__(self, counts, key):
        super().__init__()
        self.counts, self.key = counts, key

    async def recv(self):
        f = await super().recv()
        self.counts[self.key] += 1
        return f


async def consume(track, counts, key, stop):
    while not stop.is_set():
        try:
            await asyncio.wait_for(track.recv(), timeout=1.0)
        except asyncio.TimeoutError:
            continue
        except Exception:  # noqa: BLE001 - the track ended
            return
        counts[key] += 1


def prefer_h264(pc):
    caps = RTCRtpSender.getCapabilities("video").codecs
    h264 = [c for c in caps if c.mimeType.lower() in ("video/h264", "video/rtx")]
    for t in pc.getTransceivers():
        if t.kind == "video":
            t.setCodecPreferences(h264)


def dtls_of(pc):
    for t in pc.getTransceivers():
        if t.sender.transport:
            return t.sender.transport
    return pc.sctp.transport if pc.sctp else None


async def call(args):
    api = Api(args.api, args.user, args.password, args.cafile)
    config = RTCConfiguration(iceServers=[])
    if args.turn:
        user, pw = args.turn_user, args.turn_password
        a = RTCPeerConnection(RTCConfiguration(iceServers=[RTCIceServer(urls=[args.turn],
                                                                        username=user, credential=pw)]))
        RELAY_ONLY["on"] = True  # A's transports are made below, before B's
    else:
        a = RTCPeerConnection(config)
    b = RTCPeerConnection(config)
    counts = {k: 0 for k in ("a_audio", "a_video", "b_audio", "b_video", "a_sent_video",
                             "b_sent_video", "a_sent_audio", "b_sent_audio")}
    dc = {"a_got": [], "b_got": []}
    stop = asyncio.Event()
    tasks = []

    def on_track_for(name):
        def on_track(track):
            tasks.append(asyncio.ensure_future(consume(track, counts, f"{name}_{track.kind}", stop)))
        return on_track

    a.on("track", on_track_for("a"))
    b.on("track", on_track_for("b"))
    a.addTrack(CountingAudio(counts, "a_sent_audio"))
    a.addTrack(Counting(counts, "a_sent_video"))
    chan_a = a.createDataChannel("chat")
    chan_a.on("message", lambda m: dc["a_got"].append(m))

    @b.on("datachannel")
    def on_dc(ch):
        ch.on("message", lambda m: dc["b_got"].append(m))
        dc["b_chan"] = ch

    if args.h264:
        prefer_h264(a)
    await a.setLocalDescription(await a.createOffer())
    RELAY_ONLY["on"] = False
    offer = separate_extmap_ids(a.localDescription.sdp)
    if args.tamper == "offer-fp":
        offer = tamper_fp(offer)
    st, body = await api.acall("POST", "/v1/anchor",
                               {"origin": args.origin, "side": "inside", "offer": offer})
    if st != 201:
        raise RuntimeError(f"POST /v1/anchor -> {st} {body}")
    anchor_id = body["id"]
    result = {"id": anchor_id, "record": body["record"]}
    await b.setRemoteDescription(RTCSessionDescription(sdp=body["offer"], type="offer"))
    b.addTrack(CountingAudio(counts, "b_sent_audio"))
    b.addTrack(Counting(counts, "b_sent_video"))
    if args.h264:
        prefer_h264(b)
    await b.setLocalDescription(await b.createAnswer())
    answer = b.localDescription.sdp
    if args.tamper == "answer-fp":
        answer = tamper_fp(answer)
    st, body2 = await api.acall("POST", f"/v1/anchor/{anchor_id}/answer", {"answer": answer})
    if st != 200:
        raise RuntimeError(f"POST answer -> {st} {body2}")
    await a.setRemoteDescription(RTCSessionDescription(sdp=body2["answer"], type="answer"))
    result["offer_to_b"] = body["offer"]
    result["answer_to_a"] = body2["answer"]

    start = asyncio.get_event_loop().time()
    deadline = start + args.seconds
    sent = 0
    while asyncio.get_event_loop().time() < deadline:
        await asyncio.sleep(0.5)
        if args.then_rule and asyncio.get_event_loop().time() > start + args.seconds / 3:
            subprocess.run(shlex.split(args.then_rule), check=True, stdout=subprocess.DEVNULL)
            args.then_rule = None
        if chan_a.readyState == "open" and "b_chan" in dc and dc["b_chan"].readyState == "open":
            chan_a.send(f"from-a-{sent}")
            dc["b_chan"].send(f"from-b-{sent}")
            sent += 1
    st, info = await api.acall("GET", f"/v1/anchor/{anchor_id}")
    result["get"] = info
    result["get_status"] = st
    result["seen_by_a"] = SEEN.get(id(dtls_of(a)))
    result["seen_by_b"] = SEEN.get(id(dtls_of(b)))
    result["a_own"] = dtls_of(a).getLocalParameters().fingerprints[-1].value if dtls_of(a) else None
    result["b_own"] = dtls_of(b).getLocalParameters().fingerprints[-1].value if dtls_of(b) else None
    result["dtls_state"] = {"a": dtls_of(a).state if dtls_of(a) else None,
                            "b": dtls_of(b).state if dtls_of(b) else None}
    if not args.keep:
        st, _ = await api.acall("DELETE", f"/v1/anchor/{anchor_id}")
        result["delete_status"] = st
    stop.set()
    await a.close()
    await b.close()
    for t in tasks:
        t.cancel()
    result["frames"] = counts
    result["dc"] = {"a_got": len(dc["a_got"]), "b_got": len(dc["b_got"])}
    return result


def judge(r, tamper):
    fp = (r.get("get") or {}).get("fingerprint", "")
    sedge_fp = fp.split(" ", 1)[1].lower() if " " in fp else ""
    f = r["frames"]
    if tamper != "none":
        flowed = f["a_video"] + f["b_video"] + f["a_audio"] + f["b_audio"] + r["dc"]["a_got"] + r["dc"]["b_got"]
        return [] if flowed == 0 else [f"media or data flowed despite a wrong fingerprint: {f} {r['dc']}"]
    problems = []
    for side in ("a", "b"):
        if f[f"{side}_video"] < 10:
            problems.append(f"{side} decoded {f[side + '_video']} video frames")
        if f[f"{side}_audio"] < 20:
            problems.append(f"{side} received {f[side + '_audio']} audio frames")
        if r["dc"][f"{side}_got"] < 1:
            problems.append(f"{side} got no data channel message")
        seen = (r.get(f"seen_by_{side}") or "").lower()
        if not sedge_fp or seen != sedge_fp:
            problems.append(f"{side} saw fingerprint {seen or None}, sedge's is {sedge_fp or None}")
    own = {(r.get("a_own") or "").lower(), (r.get("b_own") or "").lower()}
    if (r.get("seen_by_a") or "").lower() in own or (r.get("seen_by_b") or "").lower() in own:
        problems.append("a party saw the other party's fingerprint")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--api", required=True)
    ap.add_argument("--cafile", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--origin", default="https://meet.example.com")
    ap.add_argument("--seconds", type=float, default=6)
    ap.add_argument("--h264", action="store_true")
    ap.add_argument("--noise", action="store_true", help="send random pictures (a high bitrate)")
    ap.add_argument("--keep", action="store_true", help="do not DELETE the session at the end")
    ap.add_argument("--then-rule", help="a command to run a third into the call (a policy change)")
    ap.add_argument("--turn", help="party A reaches the anchor relay-only through this TURN URI")
    ap.add_argument("--turn-user", help="TURN username for --turn")
    ap.add_argument("--turn-password", help="TURN password for --turn")
    ap.add_argument("--tamper", choices=["none", "offer-fp", "answer-fp"], default="none")
    args = ap.parse_args()
    NOISE["on"] = args.noise
    try:
        r = asyncio.run(asyncio.wait_for(call(args), timeout=args.seconds + 40))
    except Exception as e:  # noqa: BLE001 - report any failure as the test result
        print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}))
        return 1
    problems = judge(r, args.tamper)
    r.pop("offer_to_b", None)
    r.pop("answer_to_a", None)
    r["ok"] = not problems
    r["problems"] = problems
    print(json.dumps(r))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
