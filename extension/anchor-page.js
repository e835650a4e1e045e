// anchor-page.js - anchor mode of SecureEdge's page wrapper: every
// offer and answer of an RTCPeerConnection goes through sedge's anchor
// (POST /v1/anchor...), which terminates DTLS on both legs and records
// the call. A main-world content script that runs before page.js; it
// leaves a factory in globalThis.__sedgeAnchor, which page.js takes and
// deletes at once. Node tests drive the factory with a fake peer
// connection and a fake sedge (tests/ext/anchor.test.mjs).
//
// Two views of one connection:
//   native  what the browser's own RTCPeerConnection negotiates: its leg
//           to sedge's inside address (the "inside" leg);
//   page    what the page reads and sends through its own signalling:
//           descriptions for the remote party, carrying sedge's outside
//           transport (the "outside" leg).
//
// Design:
// - The page's calls keep their order through a chain of operations per
//   connection, like the browser's own operations chain.
// - The first exchange creates the session: createOffer sends the
//   browser's offer to sedge (side "inside") and gives the page sedge's
//   offer; or setRemoteDescription sends the remote party's offer (side
//   "outside") and gives the browser sedge's offer. The answer goes
//   through /answer. sedge keeps one transport per leg for the call, so
//   later rounds (tracks added or removed, restartIce) are written
//   locally (sdp.js rewrite) and committed to sedge, offer and answer
//   together, once the round completes. A round the page rolls back
//   (perfect negotiation) never reaches sedge; a first offer rolled back
//   ends its session and the remote party's offer starts a new one.
// - Trickle: the browser's own candidates go to sedge's inside leg and
//   never to the page; the page's icecandidate events carry sedge's
//   outside candidates, then end-of-candidates; addIceCandidate sends
//   the remote party's candidates to sedge's outside leg.
// - Fail closed: when sedge cannot set the call up, the operation fails
//   with an OperationError and the browser never gets a description it
//   could connect with. The browser's connection is relay-only through
//   sedge's TURN with a credential the relay lets reach only the anchor
//   (page.js), so even a description a hostile page tampered with cannot
//   route media anywhere else.
(() => {
  "use strict";

  globalThis.__sedgeAnchor = function makeAnchor(d) {
    const SDP = d.SDP;
    const N = d.native;
    const states = new WeakMap(); // pc -> anchor state

    function state(pc) {
      return states.get(pc);
    }

    function attach(pc) {
      const A = {
        id: "", record: false, established: false, answered: false, closed: false, ended: "",
        chain: Promise.resolve(),
        view: { pendingLocal: null, currentLocal: null, pendingRemote: null, currentRemote: null },
        cache: new Map(), // view slot -> description object handed out
        last: null, // { type, pageSdp, nativeSdp } of the last createOffer/createAnswer
        legs: { inside: null, outside: null }, // sedge's transport per leg
        commit: null, // a round sedge has not seen yet: { kind: "local-offer" } | { kind: "remote-offer", sdp }
        queued: [], // candidates waiting for the commit
        posted: new Set(), // the browser's candidates sedge has (this session)
        nativeUfrag: "", // of the browser's last local offer/answer
        gathering: "new", // the page's iceGatheringState
      };
      states.set(pc, A);
      return A;
    }

    function op(pc, fn) {
      const A = state(pc);
      const run = A.chain.then(() => {
        if (A.closed) throw d.domError("The RTCPeerConnection's signalingState is 'closed'.", "InvalidStateError");
        if (A.ended) throw fail("the recording anchor ended this call: " + A.ended);
        return fn(A);
      });
      A.chain = run.then(() => {}, () => {});
      return run;
    }

    function fail(reason) {
      return d.domError("SecureEdge: " + reason, "OperationError");
    }

    async function api(A, msg) {
      const r = await d.request(msg);
      if (!r || !r.ok) throw fail((r && r.error) || "no answer from the extension");
      return r;
    }

    function setView(A, slot, desc) {
      A.view[slot] = desc;
      A.cache.delete(slot);
    }

    // The page's view of a description slot (objects stay the same
    // between reads until the slot changes).
    function view(pc, slot) {
      const A = state(pc);
      const v = A.view[slot];
      if (!v) return null;
      if (!A.cache.has(slot)) A.cache.set(slot, d.makeDesc(v));
      return A.cache.get(slot);
    }

    async function endSession(A) {
      if (!A.id) return;
      const id = A.id;
      A.id = "";
      A.posted = new Set();
      A.legs = { inside: null, outside: null };
      A.answered = false;
      await d.request({ op: "delete", session: id }).catch(() => {});
    }

    // ---- candidates ----
    function post(A, c) {
      if (A.commit) {
        A.queued.push(c);
        return Promise.resolve();
      }
      return d.request({ op: "candidate", session: A.id, ...c });
    }

    async function flush(A) {
      const q = A.queued;
      A.queued = [];
      for (const c of q) await d.request({ op: "candidate", session: A.id, ...c });
    }

    // The browser's own candidate (icecandidate event): to sedge only.
    function nativeCandidate(pc, cand) {
      const A = state(pc);
      if (!A || !A.id || A.closed) return;
      let c;
      if (!cand || !cand.candidate) c = { side: "inside", end: true };
      else {
        if (A.posted.has(cand.candidate)) return;
        A.posted.add(cand.candidate);
        c = { side: "inside", candidate: cand.candidate, sdpMid: cand.sdpMid };
      }
      post(A, c).then((r) => {
        if (r && r.ok === false) d.log("sedge refused a candidate of the browser: " + r.error);
      });
    }

    // Candidates the browser gathered before the session existed.
    async function postGathered(pc, A) {
      const ld = N.localDescription(pc);
      if (!ld) return;
      for (const c of SDP.candidatesOf(ld.sdp)) nativeCandidate(pc, c);
      if (N.iceGatheringState(pc) === "complete") nativeCandidate(pc, null);
    }

    // The page sees sedge's outside candidates, then end-of-candidates,
    // and its gathering state follows them (the browser's own gathering
    // toward sedge is not the page's business).
    function announce(pc, pageSdp) {
      const cands = SDP.candidatesOf(pageSdp);
      d.defer(() => {
        const A = state(pc);
        if (!A || A.closed) return;
        A.gathering = "gathering";
        N.dispatch(pc, d.makeEvent("icegatheringstatechange"));
        for (const c of cands) N.dispatch(pc, d.makeIceEvent(c));
        A.gathering = "complete";
        N.dispatch(pc, d.makeEvent("icegatheringstatechange"));
        N.dispatch(pc, d.makeIceEvent(null));
      });
    }

    // ---- offers and answers ----
    async function createOffer(pc, A, options) {
      const native = await N.createOffer(pc, options);
      let pageSdp;
      if (A.established) {
        pageSdp = SDP.rewrite(native.sdp, A.legs.outside);
      } else {
        await endSession(A); // an unanswered first offer: start over
        const r = await api(A, { op: "create", side: "inside", offer: native.sdp });
        A.id = r.session;
        A.record = !!r.record;
        pageSdp = r.sdp;
        A.legs.outside = SDP.transportOf(pageSdp);
        if (!A.legs.outside) throw fail("sedge's offer has no transport");
        await postGathered(pc, A);
      }
      A.last = { type: "offer", pageSdp, nativeSdp: native.sdp };
      return { type: "offer", sdp: pageSdp };
    }

    async function createAnswer(pc, A, options) {
      const native = await N.createAnswer(pc, options);
      let pageSdp;
      if (!A.established && !A.answered) {
        // The remote party's first offer is waiting at sedge.
        const r = await api(A, { op: "answer", session: A.id, answer: native.sdp });
        pageSdp = r.sdp;
        A.answered = true;
        A.legs.outside = SDP.transportOf(pageSdp);
        A.legs.inside.setup = SDP.roleAfterAnswer(A.legs.inside.setup, SDP.setupOf(native.sdp));
      } else if (A.commit && A.commit.kind === "remote-offer") {
        // Commit the round: the remote party's offer, then our answer.
        const r1 = await api(A, { op: "offer", session: A.id, side: "outside", offer: A.commit.sdp });
        if (!SDP.sameTransport(r1.sdp, A.commit.nativeSdp))
          d.log("sedge's inside transport changed during renegotiation");
        const r2 = await api(A, { op: "answer", session: A.id, answer: native.sdp });
        pageSdp = r2.sdp;
        A.legs.outside = SDP.transportOf(pageSdp) || A.legs.outside; // new after the remote's ICE restart
        A.commit = null;
        await flush(A);
      } else {
        pageSdp = SDP.rewrite(native.sdp, A.legs.outside);
      }
      A.last = { type: "answer", pageSdp, nativeSdp: native.sdp };
      return { type: "answer", sdp: pageSdp };
    }

    // The browser's description for what the page hands back.
    async function toNative(pc, A, desc) {
      if (!A.last || A.last.type !== desc.type)
        await (desc.type === "offer" ? createOffer(pc, A) : createAnswer(pc, A));
      if (desc.sdp === undefined || desc.sdp === "" || desc.sdp === A.last.pageSdp) return A.last.nativeSdp;
      return SDP.transplant(desc.sdp, A.last.nativeSdp); // munged by the page
    }

    async function setLocal(pc, A, desc) {
      let dsc = desc;
      if (!dsc || !dsc.type) {
        const st = N.signalingState(pc);
        dsc = st === "have-remote-offer" || st === "have-local-pranswer" ? await createAnswer(pc, A) : await createOffer(pc, A);
      }
      if (dsc.type === "rollback") {
        await N.setLocalDescription(pc, { type: "rollback" });
        setView(A, "pendingLocal", null);
        A.commit = null;
        A.queued = [];
        if (!A.established) await endSession(A);
        return;
      }
      if (dsc.type !== "offer" && dsc.type !== "answer")
        throw fail(`a description of type "${dsc.type}" cannot go through the recording anchor`);
      const nativeSdp = await toNative(pc, A, dsc);
      const pageSdp = dsc.sdp || A.last.pageSdp;
      await N.setLocalDescription(pc, { type: dsc.type, sdp: nativeSdp });
      const restarted = SDP.iceUfrag(nativeSdp) !== A.nativeUfrag;
      A.nativeUfrag = SDP.iceUfrag(nativeSdp);
      if (dsc.type === "offer") {
        setView(A, "pendingLocal", { type: "offer", sdp: pageSdp });
        if (A.established) A.commit = { kind: "local-offer" };
      } else {
        setView(A, "currentLocal", { type: "answer", sdp: pageSdp });
        setView(A, "currentRemote", A.view.pendingRemote);
        setView(A, "pendingRemote", null);
        setView(A, "pendingLocal", null);
        A.established = true;
      }
      A.last = null;
      if (restarted) announce(pc, pageSdp);
      await postGathered(pc, A);
    }

    async function setRemote(pc, A, desc) {
      if (!desc || (desc.type !== "offer" && desc.type !== "answer" && desc.type !== "rollback"))
        throw fail(`a description of type "${desc && desc.type}" cannot go through the recording anchor`);
      if (desc.type === "rollback") {
        await N.setRemoteDescription(pc, { type: "rollback" });
        setView(A, "pendingRemote", null);
        A.commit = null;
        A.queued = [];
        if (!A.established) await endSession(A);
        return;
      }
      if (desc.type === "offer") {
        let nativeSdp;
        if (!A.established) {
          await endSession(A); // glare on the first offer: ours is rolled back
          const r = await api(A, { op: "create", side: "outside", offer: desc.sdp });
          A.id = r.session;
          A.record = !!r.record;
          nativeSdp = r.sdp;
          A.legs.inside = SDP.transportOf(nativeSdp);
          if (!A.legs.inside) throw fail("sedge's offer has no transport");
          A.commit = null;
        } else {
          nativeSdp = SDP.rewrite(desc.sdp, A.legs.inside);
          A.commit = { kind: "remote-offer", sdp: desc.sdp, nativeSdp };
          A.queued = [];
        }
        await N.setRemoteDescription(pc, { type: "offer", sdp: nativeSdp });
        setView(A, "pendingLocal", null); // an implicit rollback of ours, if any
        setView(A, "pendingRemote", { type: "offer", sdp: desc.sdp });
        A.last = null;
        return;
      }
      // An answer to our offer.
      let nativeSdp;
      if (!A.established) {
        const r = await api(A, { op: "answer", session: A.id, answer: desc.sdp });
        nativeSdp = r.sdp;
        A.legs.inside = SDP.transportOf(nativeSdp);
      } else {
        const local = N.pendingLocalDescription(pc);
        if (!local) throw d.domError("Failed to set remote answer sdp: Called in wrong state: stable", "InvalidStateError");
        const r1 = await api(A, { op: "offer", session: A.id, side: "inside", offer: local.sdp });
        if (A.view.pendingLocal && !SDP.sameTransport(r1.sdp, A.view.pendingLocal.sdp))
          d.log("sedge's outside transport changed during renegotiation");
        const r2 = await api(A, { op: "answer", session: A.id, answer: desc.sdp });
        nativeSdp = r2.sdp;
        A.legs.inside = SDP.transportOf(nativeSdp) || A.legs.inside; // new after our ICE restart
      }
      A.legs.outside.setup = SDP.roleAfterAnswer(A.legs.outside.setup, SDP.setupOf(desc.sdp));
      A.commit = null;
      await N.setRemoteDescription(pc, { type: "answer", sdp: nativeSdp });
      setView(A, "currentRemote", { type: "answer", sdp: desc.sdp });
      setView(A, "currentLocal", A.view.pendingLocal);
      setView(A, "pendingLocal", null);
      setView(A, "pendingRemote", null);
      A.established = true;
      await flush(A);
    }

    async function addCandidate(pc, A, cand) {
      if (!A.view.pendingRemote && !A.view.currentRemote)
        throw d.domError("Failed to execute 'addIceCandidate' on 'RTCPeerConnection': The remote description was null", "InvalidStateError");
      let c;
      if (!cand || cand.candidate === "" || cand.candidate === undefined || cand.candidate === null)
        c = { side: "outside", end: true };
      else {
        if (cand.sdpMid === null && (cand.sdpMLineIndex === null || cand.sdpMLineIndex === undefined))
          throw d.domError("Failed to execute 'addIceCandidate' on 'RTCPeerConnection': Candidate missing values for both sdpMid and sdpMLineIndex", "TypeError");
        c = { side: "outside", candidate: String(cand.candidate), sdpMid: cand.sdpMid === undefined ? null : cand.sdpMid };
      }
      const r = await post(A, c);
      if (r && r.ok === false) throw d.domError("Failed to execute 'addIceCandidate' on 'RTCPeerConnection': " + r.error, "OperationError");
    }

    // sedge ended the session (policy, an administrator, a vanished party).
    function ended(pc, reason) {
      const A = state(pc);
      if (!A || A.closed || A.ended) return;
      A.ended = reason || "the recording anchor ended the call";
      A.id = "";
      d.log("the anchored call ended: " + A.ended);
      N.dispatch(pc, d.makeEvent("iceconnectionstatechange"));
      N.dispatch(pc, d.makeEvent("connectionstatechange"));
    }

    function close(pc) {
      const A = state(pc);
      if (!A || A.closed) return;
      A.closed = true;
      endSession(A);
    }

    return {
      attach, state,
      isAnchored: (pc) => states.has(pc),
      createOffer: (pc, options) => op(pc, (A) => createOffer(pc, A, options)),
      createAnswer: (pc, options) => op(pc, (A) => createAnswer(pc, A, options)),
      setLocalDescription: (pc, desc) => op(pc, (A) => setLocal(pc, A, desc)),
      setRemoteDescription: (pc, desc) => op(pc, (A) => setRemote(pc, A, desc)),
      addIceCandidate: (pc, cand) => op(pc, (A) => addCandidate(pc, A, cand)),
      nativeCandidate, view, ended, close,
      sessionId: (pc) => (states.get(pc) || {}).id || "",
      gatheringState: (pc) => (states.get(pc) || {}).gathering || "new",
      endedReason: (pc) => (states.get(pc) || {}).ended || "",
    };
  };
})();
