#!/usr/bin/python3
"""webrtc_call.py - a real WebRTC call (aiortc) forced through one TURN server.

Two peer connections in one process exchange audio and video from aiortc's
synthetic sources. ICE is restricted to relay candidates on both sides
(aiortc never passes aioice's TransportPolicy.RELAY, so its Connection is
subclassed), so every media packet crosses the TURN server under test.

Prints one JSON line and exits 0 when both sides decoded video frames and
received audio frames and both selected pairs are relay/relay; exits 1
with the reason otherwise. Bounded by --seconds plus a hard timeout.

  webrtc_call.py --turn turn:127.0.0.1:3478?transport=udp --username U \
                 --password P [--cafile CERT] [--seconds 6]
"""
import argparse
import asyncio
import json
import ssl
import sys

import aioice
import aiortc.rtcicetransport as rtcice
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

SSL_CONTEXT = None


class RelayOnlyConnection(aioice.Connection):
    """aioice Connection with relay-only candidates and our TLS trust."""

    def __init__(self, *args, **kwargs):
        kwargs["transport_policy"] = aioice.TransportPolicy.RELAY
        kwargs["stun_server"] = None  # no server-reflexive candidates
        if kwargs.get("turn_ssl") and SSL_CONTEXT is not None:
            kwargs["turn_ssl"] = SSL_CONTEXT
        super().__init__(*args, **kwargs)


rtcice.Connection = RelayOnlyConnection


def separate_extmap_ids(sdp: str) -> str:
    # aiortc 1.4.0 gives audio-level and abs-send-time the same id; over
    # BUNDLE the receiver then misparses. Move audio-level to its own id.
    return sdp.replace("a=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
                       "a=extmap:3 urn:ietf:params:rtp-hdrext:ssrc-audio-level")


async def consume(track, counts, key, stop):
    while not stop.is_set():
        try:
            await asyncio.wait_for(track.recv(), timeout=1.0)
        except asyncio.TimeoutError:
            continue
        except Exception:
            return
        counts[key] += 1


async def selected_pair(pc):
    """Types of the selected candidate pair of pc's first transport."""
    for t in pc.getTransceivers():
        ice = t.sender.transport.transport
        conn = ice._connection
        for pair in conn._nominated.values():
            return pair.local_candidate.type, pair.remote_candidate.type, \
                f"{pair.remote_candidate.host}:{pair.remote_candidate.port}"
    return None, None, None


async def call(args):
    server = RTCIceServer(urls=[args.turn], username=args.username, credential=args.password)
    config = RTCConfiguration(iceServers=[server])
    caller, callee = RTCPeerConnection(config), RTCPeerConnection(config)
    counts = {"caller_audio": 0, "caller_video": 0, "callee_audio": 0, "callee_video": 0}
    stop = asyncio.Event()
    tasks = []

    def on_track_for(name):
        def on_track(track):
            tasks.append(asyncio.ensure_future(
                consume(track, counts, f"{name}_{track.kind}", stop)))
        return on_track

    caller.on("track", on_track_for("caller"))
    callee.on("track", on_track_for("callee"))
    for pc in (caller, callee):
        pc.addTrack(AudioStreamTrack())
        pc.addTrack(VideoStreamTrack())

    offer = await caller.createOffer()
    offer = RTCSessionDescription(sdp=separate_extmap_ids(offer.sdp), type="offer")
    await caller.setLocalDescription(offer)
    await callee.setRemoteDescription(caller.localDescription)
    answer = await callee.createAnswer()
    await callee.setLocalDescription(answer)
    await caller.setRemoteDescription(callee.localDescription)

    deadline = asyncio.get_event_loop().time() + 15
    while caller.iceConnectionState != "completed" or callee.iceConnectionState != "completed":
        if asyncio.get_event_loop().time() > deadline:
            raise RuntimeError(f"ICE did not complete: caller={caller.iceConnectionState} "
                               f"callee={callee.iceConnectionState}")
        if "failed" in (caller.iceConnectionState, callee.iceConnectionState):
            raise RuntimeError("ICE failed")
        await asyncio.sleep(0.1)

    await asyncio.sleep(args.seconds)
    pairs = {"caller": await selected_pair(caller), "callee": await selected_pair(callee)}
    stop.set()
    await caller.close()
    await callee.close()
    for t in tasks:
        t.cancel()
    return counts, pairs


def main():
    global SSL_CONTEXT
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--turn", required=True)
    ap.add_argument("--username", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--cafile")
    ap.add_argument("--seconds", type=float, default=6)
    args = ap.parse_args()
    if args.cafile:
        SSL_CONTEXT = ssl.create_default_context(cafile=args.cafile)
    try:
        counts, pairs = asyncio.run(asyncio.wait_for(call(args), timeout=args.seconds + 30))
    except Exception as e:  # noqa: BLE001 - report any failure as the test result
        print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}))
        return 1
    problems = [k for k, v in counts.items() if v < 5]
    problems += [f"{side} pair {p[0]}/{p[1]}" for side, p in pairs.items()
                 if p[0] != "relay" or p[1] != "relay"]
    print(json.dumps({"ok": not problems, "frames": counts, "pairs": pairs,
                      "problems": problems}))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
