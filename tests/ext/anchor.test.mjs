// anchor.test.mjs - extension/anchor-page.js (the page wrapper's anchor
// mode) driven without a browser: a fake RTCPeerConnection that keeps
// the signaling state machine of RFC 8829 and a fake sedge that answers
// like /v1/anchor does (including 409 for an offer while another is
// waiting, which a correct wrapper never causes). The browser tests
// (tests/integ/browser_anchor.sh) run the same code in Chromium against
// the real sedge; these cases pin the sequences: which description goes
// where, in which order, and what sedge never sees (rolled-back rounds).
import { test } from "node:test";
import assert from "node:assert/strict";

await import("../../extension/sdp.js");
await import("../../extension/anchor-page.js");
const SDP = globalThis.__sedgeSdp;
const makeAnchor = globalThis.__sedgeAnchor;

const NATIVE_FP = "sha-256 11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:11";
const REMOTE_FP = "sha-256 22:22:22:22:22:22:22:22:22:22:22:22:22:22:22:22:22:22:22:22:22:22:22:22:22:22:22:22:22:22:22:22";
const SEDGE_FP = "sha-256 33:33:33:33:33:33:33:33:33:33:33:33:33:33:33:33:33:33:33:33:33:33:33:33:33:33:33:33:33:33:33:33";
let seq = 0;

function description({ ufrag, fp, setup, mids, addr = "0.0.0.0", port = 9, cands = [] }) {
  const l = ["v=0", `o=- ${++seq} 2 IN IP4 127.0.0.1`, "s=-", "t=0 0", `a=group:BUNDLE ${mids.join(" ")}`];
  mids.forEach((mid, i) => {
    l.push(`m=${i ? "video" : "audio"} ${port} UDP/TLS/RTP/SAVPF ${i ? 96 : 111}`, `c=IN IP4 ${addr}`, `a=mid:${mid}`,
      `a=ice-ufrag:${ufrag}`, `a=ice-pwd:${ufrag}pwdpwdpwdpwdpwdpwd`, "a=ice-options:trickle", `a=fingerprint:${fp}`,
      `a=setup:${setup}`, "a=sendrecv", i ? "a=rtpmap:96 VP8/90000" : "a=rtpmap:111 opus/48000/2");
    if (i === 0) for (const c of cands) l.push("a=" + c);
  });
  return l.join("\r\n") + "\r\n";
}

// The browser's connection, as far as the wrapper uses it.
class FakePC {
  constructor() {
    this.state = "stable";
    this.current = { local: null, remote: null };
    this.pending = { local: null, remote: null };
    this.ufrag = "nat" + ++seq;
    this.mids = ["0", "1"];
    this.gathering = "new";
    this.events = [];
    this.applied = [];
  }
  createOffer(o) {
    if (o && o.iceRestart) this.ufrag = "nat" + ++seq;
    return Promise.resolve({ type: "offer", sdp: description({ ufrag: this.ufrag, fp: NATIVE_FP, setup: "actpass", mids: this.mids }) });
  }
  createAnswer() {
    if (this.state !== "have-remote-offer") return Promise.reject(new Error("createAnswer in " + this.state));
    const mids = SDP.parse(this.pending.remote.sdp).media.map((m) => m.find((l) => l.startsWith("a=mid:")).slice(6));
    return Promise.resolve({ type: "answer", sdp: description({ ufrag: this.ufrag, fp: NATIVE_FP, setup: "active", mids }) });
  }
  setLocalDescription(d) {
    this.applied.push(["local", d.type, d.sdp]);
    if (d.type === "rollback") {
      if (this.state !== "have-local-offer") return Promise.reject(new Error("rollback in " + this.state));
      this.pending.local = null;
      this.state = "stable";
    } else if (d.type === "offer") {
      if (this.state !== "stable" && this.state !== "have-local-offer") return Promise.reject(new Error("offer in " + this.state));
      this.pending.local = d;
      this.state = "have-local-offer";
    } else {
      if (this.state !== "have-remote-offer") return Promise.reject(new Error("answer in " + this.state));
      this.current = { local: d, remote: this.pending.remote };
      this.pending = { local: null, remote: null };
      this.state = "stable";
    }
    return Promise.resolve();
  }
  setRemoteDescription(d) {
    this.applied.push(["remote", d.type, d.sdp]);
    if (d.type === "rollback") {
      this.pending.remote = null;
      this.state = "stable";
    } else if (d.type === "offer") {
      if (this.state === "have-local-offer") this.pending.local = null; // implicit rollback
      this.pending.remote = d;
      this.state = "have-remote-offer";
    } else {
      if (this.state !== "have-local-offer") return Promise.reject(new Error("answer in " + this.state));
      this.current = { local: this.pending.local, remote: d };
      this.pending = { local: null, remote: null };
      this.state = "stable";
    }
    return Promise.resolve();
  }
}

// sedge's /v1/anchor as the extension sees it (through the worker).
class FakeSedge {
  constructor() {
    this.sessions = new Map();
    this.calls = [];
    this.fail = null;
  }
  leg(side) {
    return { addr: side === "inside" ? "10.0.0.3" : "203.0.113.4", v6: false, port: side === "inside" ? 50000 : 50001,
      ufrag: side === "inside" ? "sIn" : "sOut", pwd: side + "sedgepwdsedgepwd", fingerprint: SEDGE_FP, setup: "actpass",
      candidates: [`candidate:1 1 udp 2130706431 ${side === "inside" ? "10.0.0.3 50000" : "203.0.113.4 50001"} typ host`] };
  }
  async request(m) {
    this.calls.push(m.op + (m.side ? ":" + m.side : "") + (m.end ? ":end" : ""));
    if (this.fail && this.fail.op === m.op) return { ok: false, error: this.fail.error };
    const other = (s) => (s === "inside" ? "outside" : "inside");
    const s = this.sessions.get(m.session);
    switch (m.op) {
      case "create": {
        const id = "an-" + ++seq;
        this.sessions.set(id, { pending: m.side, candidates: [] });
        return { ok: true, session: id, sdp: SDP.rewrite(m.offer, this.leg(other(m.side))), record: true };
      }
      case "answer":
        if (!s) return { ok: false, error: "no such anchored call" };
        if (!s.pending) return { ok: false, error: "no offer is waiting for an answer" };
        s.answered = s.pending;
        s.pending = null;
        return { ok: true, sdp: SDP.rewrite(m.answer, { ...this.leg(s.answered), setup: "passive" }) };
      case "offer":
        if (!s) return { ok: false, error: "no such anchored call" };
        if (s.pending) return { ok: false, error: `the ${s.pending} party's offer is still waiting for an answer` };
        s.pending = m.side;
        return { ok: true, sdp: SDP.rewrite(m.offer, { ...this.leg(other(m.side)), setup: "passive" }) };
      case "candidate":
        if (!s) return { ok: false, error: "no such anchored call" };
        s.candidates.push([m.side, m.end ? "end" : m.candidate]);
        return { ok: true };
      case "delete":
        this.sessions.delete(m.session);
        return { ok: true };
    }
    return { ok: false, error: "unknown" };
  }
}

function setup() {
  const sedge = new FakeSedge();
  const deferred = [];
  const A = makeAnchor({
    SDP,
    native: {
      createOffer: (pc, o) => pc.createOffer(o),
      createAnswer: (pc, o) => pc.createAnswer(o),
      setLocalDescription: (pc, d) => pc.setLocalDescription(d),
      setRemoteDescription: (pc, d) => pc.setRemoteDescription(d),
      localDescription: (pc) => pc.pending.local || pc.current.local,
      pendingLocalDescription: (pc) => pc.pending.local,
      signalingState: (pc) => pc.state,
      iceGatheringState: (pc) => pc.gathering,
      dispatch: (pc, e) => pc.events.push(e),
    },
    request: (m) => sedge.request(m),
    makeDesc: (init) => ({ ...init }),
    makeIceEvent: (c) => ({ type: "icecandidate", candidate: c }),
    makeEvent: (type) => ({ type }),
    domError: (message, name) => Object.assign(new Error(message), { name }),
    defer: (fn) => deferred.push(fn),
    log: () => {},
  });
  const pc = new FakePC();
  A.attach(pc);
  const flush = () => { while (deferred.length) deferred.shift()(); };
  return { A, pc, sedge, flush };
}

const remoteOffer = (mids = ["0", "1"], ufrag = "rem") => ({ type: "offer", sdp: description({ ufrag, fp: REMOTE_FP, setup: "actpass", mids, addr: "192.0.2.9", port: 6000, cands: ["candidate:9 1 udp 1 192.0.2.9 6000 typ host"] }) });
const remoteAnswer = (offerSdp) => {
  const mids = SDP.parse(offerSdp).media.map((m) => m.find((l) => l.startsWith("a=mid:")).slice(6));
  return { type: "answer", sdp: description({ ufrag: "rem", fp: REMOTE_FP, setup: "active", mids, addr: "192.0.2.9", port: 6000 }) };
};

test("the employee calls: the page sends sedge's offer, the browser gets sedge's answer", async () => {
  const { A, pc, sedge, flush } = setup();
  const offer = await A.createOffer(pc);
  assert.equal(SDP.transportOf(offer.sdp).ufrag, "sOut", "the page's offer carries sedge's outside transport");
  assert.ok(!offer.sdp.includes(NATIVE_FP.slice(8)), "never the browser's fingerprint");
  await A.setLocalDescription(pc, offer);
  assert.equal(SDP.transportOf(pc.pending.local.sdp).fingerprint, NATIVE_FP, "the browser applied its own offer");
  assert.equal(A.view(pc, "pendingLocal").sdp, offer.sdp);
  flush();
  const cands = pc.events.filter((e) => e.type === "icecandidate");
  assert.equal(cands.length, 2, "sedge's outside candidate, then end-of-candidates");
  assert.match(cands[0].candidate.candidate, /203\.0\.113\.4/);
  assert.equal(cands[1].candidate, null);
  assert.equal(A.gatheringState(pc), "complete");
  const answer = remoteAnswer(offer.sdp);
  await A.setRemoteDescription(pc, answer);
  assert.equal(SDP.transportOf(pc.current.remote.sdp).fingerprint, SEDGE_FP, "the browser talks DTLS with sedge");
  assert.equal(A.view(pc, "currentRemote").sdp, answer.sdp, "the page reads the remote party's answer");
  assert.equal(A.view(pc, "currentLocal").sdp, offer.sdp);
  assert.deepEqual(sedge.calls, ["create:inside", "answer"]);
});

test("the employee is called; candidates go to the right legs", async () => {
  const { A, pc, sedge, flush } = setup();
  const off = remoteOffer();
  await A.setRemoteDescription(pc, off);
  assert.equal(SDP.transportOf(pc.pending.remote.sdp).ufrag, "sIn", "the browser gets sedge's inside offer");
  await A.addIceCandidate(pc, { candidate: "candidate:8 1 udp 1 192.0.2.9 6001 typ host", sdpMid: "0" });
  await A.addIceCandidate(pc, null);
  const ans = await A.createAnswer(pc);
  assert.equal(SDP.transportOf(ans.sdp).ufrag, "sOut");
  await A.setLocalDescription(pc, ans);
  A.nativeCandidate(pc, { candidate: "candidate:7 1 udp 1 10.1.1.1 5000 typ relay", sdpMid: "0" });
  A.nativeCandidate(pc, null);
  await new Promise((r) => setTimeout(r, 0));
  flush();
  const s = [...sedge.sessions.values()][0];
  assert.deepEqual(s.candidates.map((c) => c[0] + ":" + (c[1] === "end" ? "end" : c[1].split(" ")[4])),
    ["outside:192.0.2.9", "outside:end", "inside:10.1.1.1", "inside:end"]);
  assert.deepEqual(sedge.calls.slice(0, 2), ["create:outside", "candidate:outside"]);
  assert.ok(sedge.calls.includes("answer"));
  assert.equal(A.view(pc, "currentRemote").sdp, off.sdp);
  assert.equal(pc.events.filter((e) => e.type === "icecandidate" && e.candidate && /10\.1\.1\.1/.test(e.candidate.candidate)).length, 0,
    "the page never sees the browser's own candidate");
});

async function established() {
  const t = setup();
  const offer = await t.A.createOffer(t.pc);
  await t.A.setLocalDescription(t.pc, offer);
  await t.A.setRemoteDescription(t.pc, remoteAnswer(offer.sdp));
  t.flush();
  t.sedge.calls = [];
  return t;
}

test("renegotiation from the employee's side: written locally, committed with the answer", async () => {
  const { A, pc, sedge } = await established();
  pc.mids = ["0", "1", "2"];
  const offer = await A.createOffer(pc);
  assert.deepEqual(sedge.calls, [], "nothing reaches sedge until the round completes");
  assert.equal(SDP.transportOf(offer.sdp).ufrag, "sOut");
  assert.equal(SDP.parse(offer.sdp).media.length, 3);
  await A.setLocalDescription(pc, offer);
  A.nativeCandidate(pc, { candidate: "candidate:5 1 udp 1 10.1.1.2 5001 typ relay", sdpMid: "0" });
  await A.setRemoteDescription(pc, remoteAnswer(offer.sdp));
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(sedge.calls, ["offer:inside", "answer", "candidate:inside"], "offer, answer, then the held candidate");
  assert.equal(SDP.transportOf(pc.current.remote.sdp).ufrag, "sIn");
});

test("perfect negotiation: the polite employee's offer is rolled back, sedge never sees it", async () => {
  const { A, pc, sedge } = await established();
  pc.mids = ["0", "1", "2"];
  const mine = await A.createOffer(pc);
  await A.setLocalDescription(pc, mine);
  const theirs = remoteOffer(["0", "1", "3"]);
  await A.setRemoteDescription(pc, theirs); // implicit rollback
  assert.deepEqual(sedge.calls, []);
  const ans = await A.createAnswer(pc);
  await A.setLocalDescription(pc, ans);
  assert.deepEqual(sedge.calls, ["offer:outside", "answer"], "only the remote party's round");
  assert.equal(A.view(pc, "pendingLocal"), null);
  assert.equal(A.view(pc, "currentRemote").sdp, theirs.sdp);
  // Explicit rollback of a local offer: nothing to tell sedge.
  const again = await A.createOffer(pc);
  await A.setLocalDescription(pc, again);
  await A.setLocalDescription(pc, { type: "rollback" });
  assert.deepEqual(sedge.calls, ["offer:outside", "answer"]);
  assert.equal(pc.state, "stable");
});

test("glare on the first offer: the employee's session ends, the remote offer starts one", async () => {
  const { A, pc, sedge } = setup();
  const mine = await A.createOffer(pc);
  await A.setLocalDescription(pc, mine);
  const first = [...sedge.sessions.keys()][0];
  await A.setRemoteDescription(pc, remoteOffer());
  assert.deepEqual(sedge.calls, ["create:inside", "delete", "create:outside"]);
  assert.ok(!sedge.sessions.has(first));
  await A.setLocalDescription(pc); // implicit: an answer
  assert.equal(sedge.calls.at(-1), "answer");
  assert.equal(pc.state, "stable");
});

test("a description the page changed reaches the browser with the browser's transport", async () => {
  const { A, pc } = setup();
  const offer = await A.createOffer(pc);
  const munged = { type: "offer", sdp: offer.sdp.replace("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 stereo=1") };
  await A.setLocalDescription(pc, munged);
  assert.ok(pc.pending.local.sdp.includes("stereo=1"));
  assert.equal(SDP.transportOf(pc.pending.local.sdp).fingerprint, NATIVE_FP);
  assert.equal(A.view(pc, "pendingLocal").sdp, munged.sdp);
});

test("restartIce: the page sees the candidates again; sedge's new inside transport is kept", async () => {
  const { A, pc, sedge, flush } = await established();
  pc.events = [];
  const offer = await A.createOffer(pc, { iceRestart: true });
  await A.setLocalDescription(pc, offer);
  flush();
  assert.equal(pc.events.filter((e) => e.type === "icecandidate").length, 2);
  await A.setRemoteDescription(pc, remoteAnswer(offer.sdp));
  assert.deepEqual(sedge.calls, ["offer:inside", "answer"]);
});

test("no fail-open: sedge refuses, the page's call fails and the browser got nothing", async () => {
  const { A, pc, sedge } = setup();
  sedge.fail = { op: "create", error: "the recording anchor refused the call: limit" };
  await assert.rejects(A.createOffer(pc), (e) => e.name === "OperationError" && /SecureEdge: .*limit/.test(e.message));
  await assert.rejects(A.setLocalDescription(pc), /SecureEdge/);
  assert.deepEqual(pc.applied, [], "the browser never got a description");
  // A remote offer sedge refuses: the browser never sees it either.
  await assert.rejects(A.setRemoteDescription(pc, remoteOffer()), /SecureEdge/);
  assert.deepEqual(pc.applied, []);
});

test("an ended call fails further operations; close ends the session", async () => {
  const { A, pc, sedge } = await established();
  A.close(pc);
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(sedge.calls, ["delete"]);
  await assert.rejects(A.createOffer(pc), (e) => e.name === "InvalidStateError");
  const t = await established();
  t.A.ended(t.pc, "revoked: denied by rule #2");
  assert.equal(t.A.endedReason(t.pc), "revoked: denied by rule #2");
  assert.deepEqual(t.pc.events.map((e) => e.type).slice(-2), ["iceconnectionstatechange", "connectionstatechange"]);
  await assert.rejects(t.A.createOffer(t.pc), /ended this call/);
});
