// probe.js - what one RTCPeerConnection of a window is configured with
// and whether its offer carries sedge's transport (anchored). Used by
// frames.html for every kind of frame, and by frame_probe.html inside a
// cross-origin frame.
"use strict";
async function probe(win, P) {
  const Ctor = P || win.RTCPeerConnection;
  const out = { wrapped: !!(Ctor && Ctor.__sedgeWrapped) };
  try {
    const pc = new Ctor({ iceServers: [{ urls: "stun:127.0.0.9:3478" }] });
    pc.createDataChannel("probe");
    const offer = await Promise.race([pc.createOffer(), new Promise((_, no) => setTimeout(() => no(new Error("createOffer timed out")), 15000))]);
    out.offerAddr = (/c=IN IP4 (\S+)/.exec(offer.sdp) || [])[1] || null;
    await pc.setLocalDescription(offer);
    await new Promise((r) => setTimeout(r, 1500));
    const cfg = pc.getConfiguration();
    out.policy = cfg.iceTransportPolicy;
    out.urls = cfg.iceServers.flatMap((s) => [].concat(s.urls));
    const cands = [];
    (await pc.getStats()).forEach((s) => { if (s.type === "local-candidate") cands.push(s.candidateType); });
    out.candidates = cands;
    pc.close();
  } catch (e) {
    out.error = String(e);
  }
  return out;
}

