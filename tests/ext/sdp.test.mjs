// sdp.test.mjs - extension/sdp.js on real descriptions (Chromium's and
// aiortc's offers from the anchor's fuzz corpus): sedge's transport
// replaces the party's and nothing else changes (the rule of
// relay/anchor/sdp.c); a page's munged description goes back to the
// browser with the browser's own transport.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

await import("../../extension/sdp.js");
const SDP = globalThis.__sedgeSdp;
const corpus = (n) => readFileSync(new URL(`../fuzz/corpus/anchor_sdp/${n}`, import.meta.url), "utf8");
const chrome = corpus("chrome-offer");
const aiortc = corpus("aiortc-offer");

const T = {
  addr: "198.51.100.7", v6: false, port: 40001, ufrag: "sedg", pwd: "sedgepasswordsedgepass",
  fingerprint: "sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99",
  setup: "actpass", candidates: ["candidate:1 1 udp 2130706431 198.51.100.7 40001 typ host"],
};
const TRANSPORT = /^a=(ice-ufrag|ice-pwd|ice-options|ice-lite|candidate|end-of-candidates|fingerprint|setup|rtcp|remote-candidates)(:|$)/;
const rest = (sdp) => sdp.split(/\r?\n/).filter((l) => l && !TRANSPORT.test(l) && !l.startsWith("c=") && !l.startsWith("m="));
const mlines = (sdp) => sdp.split(/\r?\n/).filter((l) => l.startsWith("m=")).map((l) => l.split(" ").filter((_, i) => i !== 1).join(" "));

test("the party's transport as it reads", () => {
  const t = SDP.transportOf(chrome);
  assert.equal(t.ufrag, "TbVM");
  assert.equal(t.pwd, "OWHFwUKuLK73PQ2SnNy8iM/i");
  assert.match(t.fingerprint, /^sha-256 C9:41:98/);
  assert.equal(t.setup, "actpass");
  assert.equal(t.port, 46842);
  assert.equal(t.addr, "127.0.0.1");
  assert.equal(t.mid, "0");
  assert.equal(t.index, 0);
  assert.equal(t.candidates.length, 2);
  assert.equal(SDP.candidatesOf(chrome)[0].sdpMid, "0");
  assert.equal(SDP.transportOf("v=0\r\ns=-\r\n"), null);
});

for (const [name, sdp] of [["Chromium", chrome], ["aiortc", aiortc]]) {
  test(`${name}: only the transport changes`, () => {
    const out = SDP.rewrite(sdp, T);
    assert.deepEqual(rest(out), rest(sdp), "codecs, extensions, msid, ssrc, BUNDLE lines unchanged");
    assert.deepEqual(mlines(out), mlines(sdp), "the same m-lines in the same order");
    assert.ok(out.endsWith("\r\n") && !/[^\r]\n/.test(out), "CRLF");
    const t = SDP.transportOf(out);
    for (const k of ["ufrag", "pwd", "fingerprint", "setup", "port", "addr"]) assert.equal(t[k], T[k], k);
    assert.deepEqual(t.candidates, T.candidates);
    const orig = SDP.transportOf(sdp);
    assert.ok(!out.includes(orig.ufrag + "\r\n") && !out.includes(orig.pwd), "no trace of the party's ICE credentials");
    assert.ok(!out.includes(orig.fingerprint.split(" ")[1]), "no trace of the party's fingerprint");
    for (const c of orig.candidates) assert.ok(!out.includes(c), "no candidate of the party");
    // Each m-section in use: one of each transport line, then end-of-candidates.
    for (const m of out.split("\r\nm=").slice(1)) {
      const lines = m.split("\r\n");
      assert.equal(lines.filter((l) => l.startsWith("a=ice-ufrag:")).length, 1);
      assert.equal(lines.filter((l) => l.startsWith("a=fingerprint:")).length, 1);
      assert.equal(lines.filter((l) => l === "a=end-of-candidates").length, 1);
      assert.equal(lines.filter((l) => l.startsWith("c=")).length, 1);
      assert.equal(lines.filter((l) => l.startsWith("c=IN IP4 198.51.100.7")).length, 1);
    }
    assert.equal(SDP.rewrite(out, T), out, "idempotent");
  });
}

test("bundle-only and rejected m-sections", () => {
  const sdp = ["v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0 1",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 0.0.0.0", "a=mid:0", "a=ice-ufrag:abcd", "a=ice-pwd:abcdabcdabcdabcdabcdabcd",
    "a=fingerprint:sha-256 00:11", "a=setup:actpass", "a=rtpmap:111 opus/48000/2",
    "m=video 0 UDP/TLS/RTP/SAVPF 96", "c=IN IP4 0.0.0.0", "a=bundle-only", "a=mid:1", "a=rtpmap:96 VP8/90000",
    "m=application 0 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0", "a=mid:2", ""].join("\r\n");
  const out = SDP.rewrite(sdp, T).split("\r\nm=");
  assert.match(out[1], /^audio 40001 /);
  assert.match(out[1], /a=candidate:1 1 udp/);
  assert.match(out[2], /^video 0 /, "bundle-only keeps port 0");
  assert.match(out[2], /a=ice-ufrag:sedg/);
  assert.doesNotMatch(out[2], /a=candidate/, "the BUNDLE tag carries the candidates");
  assert.match(out[3], /^application 0 /);
  assert.doesNotMatch(out[3], /a=ice-ufrag|a=candidate/, "a rejected m-section gets no transport");
  assert.match(out[3], /c=IN IP4 198\.51\.100\.7/);
});

test("a munged description goes back with the browser's transport", () => {
  const page = SDP.rewrite(chrome, T).replace("a=fmtp:111 minptime=10;useinbandfec=1", "a=fmtp:111 minptime=10;useinbandfec=1;stereo=1");
  const back = SDP.transplant(page, chrome);
  assert.ok(back.includes("stereo=1"), "the page's change stays");
  const t = SDP.transportOf(back), n = SDP.transportOf(chrome);
  for (const k of ["ufrag", "pwd", "fingerprint", "setup", "port"]) assert.equal(t[k], n[k], k);
  assert.ok(!back.includes("sedg"), "sedge's transport is gone");
  assert.deepEqual(rest(back), rest(page));
});

test("DTLS roles after an answer (RFC 8842)", () => {
  assert.equal(SDP.roleAfterAnswer("actpass", "active"), "passive");
  assert.equal(SDP.roleAfterAnswer("actpass", "passive"), "active");
  assert.equal(SDP.roleAfterAnswer("active", "active"), "active", "a role taken stays");
  assert.ok(SDP.sameTransport(SDP.rewrite(chrome, T), SDP.rewrite(aiortc, T)));
  assert.ok(!SDP.sameTransport(chrome, SDP.rewrite(chrome, T)));
});
