// anchor_e2e.mjs - Chromium <-> sedge anchor <-> Chromium, driven through
// sedge's /v1/anchor API as a signalling application would (started by
// tests/integ/anchor_chromium.sh inside a network namespace with only lo).
//
// Two pages (tests/e2e/anchor.html) in one headless Chromium are the
// inside party A and the outside party B. This driver carries A's offer
// to POST /v1/anchor, sedge's offer to B, B's answer to /answer and
// sedge's answer to A, and pumps both pages' trickled candidates to
// /candidate. Each case prints one line "CASE name ok|FAIL {...}"; the
// shell side checks recordings and sedge's own records. Chromium is
// spawned here (own process group, fresh profile, HOME/XDG/TMPDIR in a
// temp dir), attached over CDP with playwright-core, and killed at the
// end; every wait has a deadline.
//
//   node anchor_e2e.mjs --api URL --ca CERT --page URL --plain USER:PW --rec USER:PW
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
for (const k of ["api", "ca", "page", "plain", "rec"]) if (!args[k]) throw new Error(`missing --${k}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ca = readFileSync(args.ca);
const origin = new URL(args.page).origin;

function api(cred, method, path, body) {
  const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
  const u = new URL(args.api + path);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method, ca, timeout: 10000,
      headers: { Authorization: "Basic " + Buffer.from(cred).toString("base64"),
        "Content-Type": "application/json", ...(data ? { "Content-Length": data.length } : {}) } },
    (res) => {
      let raw = "";
      res.on("data", (d) => (raw += d));
      res.on("end", () => resolve({ status: res.statusCode, body: raw ? JSON.parse(raw) : null }));
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("API timeout")));
    if (data) req.write(data);
    req.end();
  });
}

const home = mkdtempSync(join(tmpdir(), "sedge-chromium-"));
const profile = join(home, "profile");
const flags = [
  "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-default-apps", "--disable-features=WebRtcHideLocalIpsWithMdns,MediaRouter",
  "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
  "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required",
  `--user-data-dir=${profile}`, "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
  "about:blank",
];
const env = { ...process.env, HOME: home, TMPDIR: home, XDG_CONFIG_HOME: join(home, ".config"),
  XDG_CACHE_HOME: join(home, ".cache"), XDG_DATA_HOME: join(home, ".local/share") };
const browserProc = spawn("/usr/bin/chromium", flags, { env, detached: true, stdio: ["ignore", "ignore", "pipe"] });
let browserLog = "";
browserProc.stderr.on("data", (d) => { browserLog = (browserLog + d).slice(-20000); });
function shutdown() {
  try { process.kill(-browserProc.pid, "SIGKILL"); } catch { /* gone */ }
}
const hardStop = setTimeout(() => { console.log("anchor_e2e: hard time limit"); shutdown(); process.exit(3); }, 200000);

let failures = 0;
function report(name, ok, details) {
  console.log(`CASE ${name} ${ok ? "ok" : "FAIL"} ${JSON.stringify(details)}`);
  if (!ok) failures++;
}

async function devtoolsPort() {
  const f = join(profile, "DevToolsActivePort");
  for (let i = 0; i < 150; i++) {
    if (existsSync(f)) {
      const port = readFileSync(f, "utf8").split("\n")[0];
      if (port) return port;
    }
    await sleep(100);
  }
  throw new Error("Chromium did not open its DevTools port: " + browserLog.slice(-2000));
}

// One anchored call between two fresh pages.
class Call {
  constructor(context, cred, h264) {
    this.context = context;
    this.cred = cred;
    this.h264 = h264;
    this.posted = { inside: 0, outside: 0 };
  }

  async open() {
    this.a = await this.context.newPage();
    this.b = await this.context.newPage();
    for (const p of [this.a, this.b]) {
      p.on("console", (m) => { if (m.type() === "error") console.log("page:", m.text()); });
      await p.goto(args.page);
    }
    await this.a.evaluate((o) => start(o), { offerer: true, h264: this.h264 });
    await this.b.evaluate((o) => start(o), { offerer: false, h264: this.h264 });
  }

  // Offer from `from` (side of that page), answer from the other page.
  async negotiate(first) {
    const offerSdp = await this.a.evaluate(() => makeOffer());
    let r;
    if (first) {
      r = await api(this.cred, "POST", "/v1/anchor", { origin, side: "inside", offer: offerSdp });
      if (r.status !== 201) throw new Error(`POST /v1/anchor -> ${r.status} ${JSON.stringify(r.body)}`);
      this.id = r.body.id;
      this.record = r.body.record;
    } else {
      r = await api(this.cred, "POST", `/v1/anchor/${this.id}/offer`, { side: "inside", offer: offerSdp });
      if (r.status !== 200) throw new Error(`POST offer -> ${r.status} ${JSON.stringify(r.body)}`);
    }
    this.offerToB = r.body.offer;
    const answerSdp = await this.b.evaluate((s) => makeAnswer(s), this.offerToB);
    r = await api(this.cred, "POST", `/v1/anchor/${this.id}/answer`, { answer: answerSdp });
    if (r.status !== 200) throw new Error(`POST answer -> ${r.status} ${JSON.stringify(r.body)}`);
    this.answerToA = r.body.answer;
    await this.a.evaluate((s) => takeAnswer(s), this.answerToA);
  }

  // Carry trickled candidates of both pages to sedge.
  async pump() {
    for (const [page, side] of [[this.a, "inside"], [this.b, "outside"]]) {
      const t = await page.evaluate(() => takeCandidates());
      for (const c of t.cands) {
        const r = await api(this.cred, "POST", `/v1/anchor/${this.id}/candidate`, { side, ...c });
        if (r.status !== 204) throw new Error(`candidate -> ${r.status} ${JSON.stringify(r.body)}`);
        this.posted[side]++;
      }
      if (t.end) {
        const r = await api(this.cred, "POST", `/v1/anchor/${this.id}/candidate`, { side, end: true });
        if (r.status !== 204) throw new Error(`end-of-candidates -> ${r.status}`);
      }
    }
  }

  async run(ms) {
    const until = Date.now() + ms;
    let n = 0;
    while (Date.now() < until) {
      await this.pump();
      await this.a.evaluate((m) => send(m), `from-a-${n}`);
      await this.b.evaluate((m) => send(m), `from-b-${n}`);
      n++;
      await sleep(200);
    }
  }

  async waitConnected(ms) {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      await this.pump();
      const [sa, sb] = [await this.a.evaluate(() => stats()), await this.b.evaluate(() => stats())];
      if (sa.state === "connected" && sb.state === "connected") return true;
      if (sa.state === "failed" || sb.state === "failed") return false;
      await sleep(100);
    }
    return false;
  }

  async stats() {
    return { a: await this.a.evaluate(() => stats()), b: await this.b.evaluate(() => stats()) };
  }

  async close() {
    const r = await api(this.cred, "DELETE", `/v1/anchor/${this.id}`);
    await this.a.close();
    await this.b.close();
    return r.status;
  }
}

function judge(st, sedgeFp, wantCodec) {
  const problems = [];
  for (const [side, other] of [["a", "b"], ["b", "a"]]) {
    const s = st[side];
    const frames = Object.values(s.video).reduce((x, y) => Math.max(x, y), 0);
    if (frames < 30) problems.push(`${side}: ${frames} video frames decoded`);
    if (s.audio < 50) problems.push(`${side}: ${s.audio} audio packets`);
    if (s.dcGot < 1) problems.push(`${side}: no data channel message`);
    // Chromium checks the DTLS peer against its remote description's
    // fingerprint (a mismatch fails the transport): with DTLS connected,
    // that fingerprint is whose certificate it talked to. The stats'
    // remote certificate, where Chromium fills it in, must agree.
    if (s.dtls !== "connected") problems.push(`${side}: DTLS not connected`);
    if (!sedgeFp || (s.remoteDescFp || "").toUpperCase() !== sedgeFp)
      problems.push(`${side}: remote fingerprint ${s.remoteDescFp}, sedge's ${sedgeFp}`);
    if (s.remoteFp && s.remoteFp.toUpperCase() !== sedgeFp)
      problems.push(`${side}: DTLS peer certificate ${s.remoteFp}, sedge's ${sedgeFp}`);
    if ([s.remoteFp, s.remoteDescFp].some((f) => f && f.toUpperCase() === (st[other].localDescFp || "").toUpperCase()))
      problems.push(`${side} saw the other party's certificate`);
    if (wantCodec && !s.codecs.some((c) => c.toLowerCase() === wantCodec))
      problems.push(`${side}: codecs ${s.codecs}, expected ${wantCodec}`);
    if (!s.pair || !String(s.pair.remote).startsWith("127.0.0.3:")) problems.push(`${side}: pair ${JSON.stringify(s.pair)}`);
  }
  return problems;
}

try {
  const port = await devtoolsPort();
  const browser = await chromium.connectOverCDP(`http://127.0.0.1:${port}`);
  const context = browser.contexts()[0];

  // 1. VP8 (Chromium's default), trickle ICE, a track added mid-call.
  {
    const call = new Call(context, args.plain, false);
    await call.open();
    await call.negotiate(true);
    const up = await call.waitConnected(20000);
    await call.run(5000);
    const info = await api(args.plain, "GET", `/v1/anchor/${call.id}`);
    const sedgeFp = info.body && info.body.fingerprint.split(" ")[1].toUpperCase();
    const st = await call.stats();
    const problems = judge(st, sedgeFp, "video/vp8");
    if (!up) problems.push("not connected");
    if (call.posted.inside < 1 || call.posted.outside < 1) problems.push(`trickled ${JSON.stringify(call.posted)}`);
    if (/a=candidate:/.test(call.offerToB.split("m=")[0])) problems.push("session-level candidates");
    report("vp8-trickle", problems.length === 0, { id: call.id, problems, st, posted: call.posted, legs: info.body && info.body.legs });

    // Renegotiation from the inside party: one more video track.
    await call.a.evaluate(() => addCanvasTrack());
    let renegotiated = null;
    try {
      await call.negotiate(false);
      await call.run(5000);
      const st2 = await call.stats();
      const mids = Object.entries(st2.b.video);
      const extra = mids.length >= 2 ? Math.min(...mids.map(([, f]) => f)) : 0;
      const still = Math.max(...Object.values(st2.a.video));
      renegotiated = { mids: st2.b.video, extra, aFramesAfter: still };
      const p = [];
      if (mids.length < 2 || extra < 20) p.push(`B decoded ${extra} frames of the added track (${JSON.stringify(st2.b.video)})`);
      if (still <= Math.max(...Object.values(st.a.video))) p.push("A's video stopped after the renegotiation");
      report("track-added-mid-call", p.length === 0, { problems: p, ...renegotiated });
    } catch (e) {
      report("track-added-mid-call", false, { error: String(e) });
    }
    // ICE restart, offered by the outside party this time.
    try {
      const ufrag = (sdp) => (/a=ice-ufrag:(\S+)/.exec(sdp) || [])[1];
      const before = await call.stats();
      const oldUfrag = ufrag(call.offerToB);
      const offerSdp = await call.b.evaluate(() => makeOffer(true));
      let r = await api(args.plain, "POST", `/v1/anchor/${call.id}/offer`, { side: "outside", offer: offerSdp });
      if (r.status !== 200) throw new Error(`POST offer (outside) -> ${r.status} ${JSON.stringify(r.body)}`);
      const answerA = await call.a.evaluate((sdp) => makeAnswer(sdp), r.body.offer);
      r = await api(args.plain, "POST", `/v1/anchor/${call.id}/answer`, { answer: answerA });
      if (r.status !== 200) throw new Error(`POST answer (inside) -> ${r.status} ${JSON.stringify(r.body)}`);
      const newUfrag = ufrag(r.body.answer);
      await call.b.evaluate((sdp) => takeAnswer(sdp), r.body.answer);
      await call.run(4000);
      const after = await call.stats();
      const p = [];
      if (!newUfrag || newUfrag === oldUfrag) p.push(`sedge's outside ufrag did not change (${oldUfrag} -> ${newUfrag})`);
      for (const side of ["a", "b"]) {
        const f0 = Math.max(...Object.values(before[side].video)), f1 = Math.max(...Object.values(after[side].video));
        if (f1 < f0 + 30) p.push(`${side}: video ${f0} -> ${f1} across the restart`);
        if (after[side].state !== "connected") p.push(`${side}: ${after[side].state}`);
      }
      report("ice-restart-from-outside", p.length === 0, { problems: p, oldUfrag, newUfrag });
    } catch (e) {
      report("ice-restart-from-outside", false, { error: String(e) });
    }
    report("delete", (await call.close()) === 204, { id: call.id });
  }

  // 2. H.264 preferred, by a user whose calls are recorded.
  {
    const call = new Call(context, args.rec, true);
    await call.open();
    await call.negotiate(true);
    const up = await call.waitConnected(20000);
    await call.run(8000);
    const info = await api(args.rec, "GET", `/v1/anchor/${call.id}`);
    const sedgeFp = info.body && info.body.fingerprint.split(" ")[1].toUpperCase();
    const st = await call.stats();
    const problems = judge(st, sedgeFp, "video/h264");
    if (!up) problems.push("not connected");
    if (!call.record) problems.push("not recorded");
    if (!info.body || !info.body.recording) problems.push("GET shows no recording");
    const sent = { a_video: st.a.sentVideo, a_audio: st.a.sentAudio, b_video: st.b.sentVideo, b_audio: st.b.sentAudio };
    report("h264-recorded", problems.length === 0, { id: call.id, problems, sent, st, recording: info.body && info.body.recording });
    report("delete-recorded", (await call.close()) === 204, { id: call.id });
  }

  // 3. A recorded call in VP8 (the browser's default) whose streams
  //    change: a track added mid-call starts the call's next recording
  //    (the session row names the latest), in which the inside party
  //    sends two video streams of the same payload type.
  {
    const call = new Call(context, args.rec, false);
    await call.open();
    await call.negotiate(true);
    const up = await call.waitConnected(20000);
    await call.run(3000);
    const first = (await api(args.rec, "GET", `/v1/anchor/${call.id}`)).body;
    await call.a.evaluate(() => addCanvasTrack());
    const problems = [];
    try {
      await call.negotiate(false);
      await call.run(3000);
    } catch (e) {
      problems.push(String(e));
    }
    const second = (await api(args.rec, "GET", `/v1/anchor/${call.id}`)).body;
    if (!up) problems.push("not connected");
    if (!first || !first.recording) problems.push("no first recording");
    if (!second || !second.recording || second.recording === first.recording)
      problems.push(`the recording did not move on: ${first && first.recording} -> ${second && second.recording}`);
    const st = await call.stats();
    if (Object.keys(st.b.video).length < 2) problems.push(`B decodes ${JSON.stringify(st.b.video)}`);
    report("recorded-renegotiation", problems.length === 0, {
      id: call.id, problems, first: first && first.recording, second: second && second.recording });
    report("delete-renegotiated", (await call.close()) === 204, { id: call.id });
  }
  await browser.close().catch(() => {});
} catch (e) {
  report("driver", false, { error: String(e && e.stack || e), browser: browserLog.slice(-1500) });
} finally {
  clearTimeout(hardStop);
  shutdown();
  await sleep(500);
  rmSync(home, { recursive: true, force: true });
}
process.exit(failures ? 1 : 0);
