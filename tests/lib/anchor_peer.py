#!/usr/bin/python3
"""anchor_peer.py - an aiortc user of a WebRTC site, reached through the
site's own signalling (tests/lib/signal_server.py), as the remote party
of a call an employee's browser starts (tests/e2e/anchor_call.html).

    anchor_peer.py --signal http://127.0.0.6:PORT --room R [--seconds 12]

Waits for the offer, answers with a synthetic camera and microphone
(aiortc's sources, counted) with its candidates in the answer (aiortc
does not trickle), answers data channel messages, and after --seconds
of connected call hangs up the site's way ({"bye": true}). Prints one
JSON line: frames received per kind, frames sent per kind, data channel
messages received, the DTLS fingerprint of the peer it talked to (with
sedge in the middle: sedge's), its connection state. Bounded by a hard
timeout of --seconds + 40.
"""
import argparse
import asyncio
import json
import sys
import urllib.request

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

# anchor_call.py (same folder) has the aiortc pieces: loopback gathering,
# the DTLS peer certificate (SEEN by transport), counting sources and
# a consumer of received tracks.
from anchor_call import SEEN, Counting, CountingAudio, consume, dtls_of


class Signal:
    def __init__(self, base, room, me):
        self.base, self.room, self.me, self.after = base.rstrip("/"), room, me, 0

    def _send(self, msg):
        req = urllib.request.Request(f"{self.base}/signal?room={self.room}&from={self.me}",
                                     data=json.dumps(msg).encode(), method="POST")
        urllib.request.urlopen(req, timeout=10).read()

    def _poll(self):
        with urllib.request.urlopen(f"{self.base}/signal?room={self.room}&me={self.me}&after={self.after}",
                                    timeout=10) as r:
            out = json.loads(r.read())["messages"]
        if out:
            self.after = out[-1]["seq"]
        return [m["msg"] for m in out]

    async def send(self, msg):
        await asyncio.get_event_loop().run_in_executor(None, self._send, msg)

    async def poll(self):
        return await asyncio.get_event_loop().run_in_executor(None, self._poll)


async def run(a):
    sig = Signal(a.signal, a.room, a.me)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    counts = {"got_video": 0, "got_audio": 0, "sent_video": 0, "sent_audio": 0}
    dc = {"got": 0, "chan": None}
    stop = asyncio.Event()
    tasks = []
    pc.on("track", lambda t: tasks.append(asyncio.ensure_future(consume(t, counts, "got_" + t.kind, stop))))

    @pc.on("datachannel")
    def on_dc(ch):
        dc["chan"] = ch

        @ch.on("message")
        def on_message(m):
            dc["got"] += 1
            if ch.readyState == "open":
                ch.send("from-aiortc-" + str(dc["got"]))

    answered = False
    loop = asyncio.get_event_loop()
    connected_at = None
    while True:
        for m in await sig.poll():
            d = m.get("description")
            if m.get("bye"):
                stop.set()
            if d and d["type"] == "offer":
                await pc.setRemoteDescription(RTCSessionDescription(sdp=d["sdp"], type="offer"))
                if not answered:
                    pc.addTrack(CountingAudio(counts, "sent_audio"))
                    pc.addTrack(Counting(counts, "sent_video"))
                await pc.setLocalDescription(await pc.createAnswer())
                await sig.send({"description": {"type": "answer", "sdp": pc.localDescription.sdp}})
                answered = True
        if stop.is_set():
            break
        if connected_at is None and pc.connectionState == "connected":
            connected_at = loop.time()
        if connected_at is not None and loop.time() - connected_at > a.seconds:
            await sig.send({"bye": True})
            break
        if pc.connectionState == "failed":
            break
    state = pc.connectionState
    seen = SEEN.get(id(dtls_of(pc)))
    stop.set()
    await pc.close()
    for t in tasks:
        t.cancel()
    return {"frames": {"video": counts["got_video"], "audio": counts["got_audio"]},
            "sent": {"video": counts["sent_video"], "audio": counts["sent_audio"]},
            "dc_got": dc["got"], "seen": seen, "state": state}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--signal", required=True)
    ap.add_argument("--room", required=True)
    ap.add_argument("--me", default="aiortc")
    ap.add_argument("--seconds", type=float, default=12)
    a = ap.parse_args()
    try:
        r = asyncio.run(asyncio.wait_for(run(a), timeout=a.seconds + 40))
    except Exception as e:  # noqa: BLE001 - report any failure as the result
        print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}))
        return 1
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
