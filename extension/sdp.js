// sdp.js - the few SDP operations SecureEdge's page wrapper needs in
// anchor mode. A main-world content script that runs before page.js and
// any page script: it leaves its functions in globalThis.__sedgeSdp,
// which page.js takes and deletes at once, so pages never see them.
// Node tests load it the same way (tests/ext/sdp.test.mjs).
//
// sedge's anchor gives each party the other party's description with
// only the transport replaced (relay/anchor/sdp.c): the attributes in
// TRANSPORT below are removed everywhere, every m-section gets sedge's
// connection line and, where its port is not 0, sedge's port; every
// m-section in use (port, or bundle-only) gets sedge's ice-ufrag,
// ice-pwd, ice-options:trickle, fingerprint and setup; those with a port
// also sedge's candidates and end-of-candidates. sedge keeps one
// transport per leg for the whole call, so after the first exchange the
// wrapper writes renegotiation descriptions the same way locally
// (rewrite) and lets sedge check them when the round completes.
//
// Descriptions are split into lines (CRLF or LF) and written with CRLF.
(() => {
  "use strict";
  const TRANSPORT = ["ice-ufrag", "ice-pwd", "ice-options", "ice-lite", "ice-pacing", "ice-mismatch",
    "candidate", "remote-candidates", "end-of-candidates", "fingerprint", "setup", "rtcp"];

  function attrKey(line) {
    if (line.slice(0, 2) !== "a=") return null;
    const c = line.indexOf(":");
    return c < 0 ? line.slice(2) : line.slice(2, c);
  }

  function attrValue(line) {
    const c = line.indexOf(":");
    return c < 0 ? "" : line.slice(c + 1);
  }

  function isTransport(line) {
    const k = attrKey(line);
    return k !== null && TRANSPORT.indexOf(k) >= 0;
  }

  // { session: [lines], media: [[lines], ...] }; m= lines start sections.
  function parse(sdp) {
    const lines = String(sdp).split(/\r?\n/).filter((l) => l !== "");
    const out = { session: [], media: [] };
    for (const l of lines) {
      if (l.slice(0, 2) === "m=") out.media.push([l]);
      else if (out.media.length) out.media[out.media.length - 1].push(l);
      else out.session.push(l);
    }
    return out;
  }

  function write(p) {
    const all = p.session.slice();
    for (const m of p.media) for (const l of m) all.push(l);
    return all.join("\r\n") + "\r\n";
  }

  function mPort(m) {
    return Number(m[0].split(" ")[1]);
  }

  function attr(lines, key) {
    for (const l of lines) if (attrKey(l) === key) return attrValue(l);
    return null;
  }

  function has(lines, key) {
    return lines.some((l) => attrKey(l) === key);
  }

  // An m-section in use: a port, or bundle-only.
  function active(m) {
    return mPort(m) !== 0 || has(m, "bundle-only");
  }

  // The first m-section carrying the transport (BUNDLE tag, or the first
  // one with a port), with its index.
  function transportSection(p) {
    const group = attr(p.session, "group");
    const tags = group && group.indexOf("BUNDLE ") === 0 ? group.slice(7).trim().split(/\s+/) : [];
    for (const tag of tags)
      for (let i = 0; i < p.media.length; i++)
        if (attr(p.media[i], "mid") === tag && mPort(p.media[i]) !== 0) return i;
    for (let i = 0; i < p.media.length; i++) if (mPort(p.media[i]) !== 0) return i;
    return -1;
  }

  // What a description says about its party's transport: address, port,
  // ICE credentials, fingerprint, setup, candidates (of the transport
  // m-section), its mid and index. null without an m-section in use.
  function transportOf(sdp) {
    const p = parse(sdp);
    const i = transportSection(p);
    if (i < 0) return null;
    const m = p.media[i];
    const pick = (k) => attr(m, k) !== null ? attr(m, k) : attr(p.session, k);
    const c = m.find((l) => l.slice(0, 2) === "c=") || p.session.find((l) => l.slice(0, 2) === "c=") || "c=IN IP4 0.0.0.0";
    const cp = c.slice(2).split(" ");
    return {
      addr: cp[2] || "0.0.0.0", v6: cp[1] === "IP6", port: mPort(m),
      ufrag: pick("ice-ufrag") || "", pwd: pick("ice-pwd") || "",
      fingerprint: pick("fingerprint") || "", setup: pick("setup") || "",
      candidates: m.filter((l) => attrKey(l) === "candidate").map((l) => l.slice(2)),
      mid: attr(m, "mid"), index: i,
    };
  }

  // The description with its transport replaced by `t` (as sedge does).
  function rewrite(sdp, t) {
    const p = parse(sdp);
    const conn = `c=IN ${t.v6 ? "IP6" : "IP4"} ${t.addr}`;
    p.session = p.session.filter((l) => !isTransport(l)).map((l) => (l.slice(0, 2) === "c=" ? conn : l));
    p.media = p.media.map((m) => {
      const port = mPort(m), inUse = active(m);
      const head = m[0].split(" ");
      if (port !== 0) head[1] = String(t.port);
      const rest = m.slice(1).filter((l) => !isTransport(l) && l.slice(0, 2) !== "c=");
      // c= goes right after i= (or the m= line), RFC 8866 order.
      const at = rest.length && rest[0].slice(0, 2) === "i=" ? 1 : 0;
      rest.splice(at, 0, conn);
      if (inUse) {
        rest.push("a=ice-ufrag:" + t.ufrag, "a=ice-pwd:" + t.pwd, "a=ice-options:trickle",
          "a=fingerprint:" + t.fingerprint, "a=setup:" + t.setup);
        if (port !== 0) {
          for (const cand of t.candidates) rest.push("a=" + cand.replace(/^a=/, ""));
          rest.push("a=end-of-candidates");
        }
      }
      return [head.join(" ")].concat(rest);
    });
    return write(p);
  }

  // A description the page changed (SDP munging) carried back to the
  // browser: the page's lines with the browser's own transport lines, m-
  // section by m-section, so the browser accepts it as its own.
  function transplant(pageSdp, nativeSdp) {
    const p = parse(pageSdp), n = parse(nativeSdp);
    const keep = (lines) => lines.filter((l) => isTransport(l));
    const conn = (lines) => lines.find((l) => l.slice(0, 2) === "c=");
    p.session = p.session.filter((l) => !isTransport(l)).concat(keep(n.session));
    p.media = p.media.map((m, i) => {
      const nm = n.media[i];
      if (!nm) return m;
      const head = m[0].split(" ");
      head[1] = nm[0].split(" ")[1];
      const rest = m.slice(1).filter((l) => !isTransport(l)).map((l) => (l.slice(0, 2) === "c=" && conn(nm) ? conn(nm) : l));
      return [head.join(" ")].concat(rest, keep(nm.slice(1)));
    });
    return write(p);
  }

  // sedge's DTLS role on a leg once the party answered: the opposite of
  // the party's a=setup; a role already taken stays (RFC 8842).
  function roleAfterAnswer(ours, theirs) {
    if (ours === "active" || ours === "passive") return ours;
    return theirs === "active" ? "passive" : theirs === "passive" ? "active" : ours;
  }

  function setupOf(sdp) {
    const t = transportOf(sdp);
    return t ? t.setup : "";
  }

  // Do two descriptions carry the same transport (what a party checks)?
  function sameTransport(a, b) {
    const x = transportOf(a), y = transportOf(b);
    return !!x && !!y && x.ufrag === y.ufrag && x.pwd === y.pwd &&
      x.fingerprint.toUpperCase() === y.fingerprint.toUpperCase() && x.port === y.port && x.addr === y.addr;
  }

  // The candidates of the transport m-section as RTCIceCandidateInit.
  function candidatesOf(sdp) {
    const t = transportOf(sdp);
    if (!t) return [];
    return t.candidates.map((c) => ({ candidate: c, sdpMid: t.mid, sdpMLineIndex: t.index, usernameFragment: t.ufrag }));
  }

  function iceUfrag(sdp) {
    const t = transportOf(sdp);
    return t ? t.ufrag : "";
  }

  globalThis.__sedgeSdp = Object.freeze({ parse, write, transportOf, rewrite, transplant, roleAfterAnswer,
    setupOf, sameTransport, candidatesOf, iceUfrag });
})();
