// anchor_ext_e2e.mjs - the extension's anchor mode in real Chromium: an
// ordinary WebRTC site (tests/e2e/anchor_call.html, its own HTTP
// signalling) on an origin whose policy records calls, used by an
// employee whose Chromium has the extension, calling a remote party that
// has none (a second Chromium, or aiortc: tests/lib/anchor_peer.py).
// Started by tests/integ/browser_anchor.sh, which checks the recordings.
//
// Each call case prints "CASE name ok|FAIL {...}" with what it measured;
// recorded calls also print "CALL name {id, sent}" for the shell's
// recording checks. Cases (--cases picks some, comma-separated):
//   offer-trickle      the employee calls (trickle): media and a data
//                      channel both ways, the popup and badge say the
//                      call is recorded; hang-up by the employee
//   renegotiate        a video track added mid-call by each side;
//                      restartIce; both sides renegotiating at once
//                      (perfect negotiation, the employee's side polite:
//                      rollback); hang-up by the remote party
//   answer-nontrickle  the remote party calls (no trickle, candidates in
//                      the descriptions); hang-up by the remote party
//   aiortc             the employee calls aiortc; hang-up by aiortc
//   deny-mid-call      a rule denying the site is added during a call:
//                      media stops and the page sees the call fail
//   page-gone          the employee's page navigates away, or its tab is
//                      closed, mid-call: the session ends within 2 s
//   frames             no frame escapes the wrapper: same- and cross-origin
//                      iframes, about:blank used at once, srcdoc, blob:,
//                      data:, a late iframe, a popup, a worker
//   anchor-refused     sedge refuses the anchor (the user's limit is
//                      reached): the call never connects
//   api-down           the API is unreachable: the call never connects
// For each connected call: both parties decode video and receive audio,
// the employee's page sees a connected candidate pair, both parties' DTLS
// peer is sedge's certificate (never the other party's), the page saw
// only sedge's outside candidates, and after the hang-up sedge's session
// is gone within 2 s.
//
//   node anchor_ext_e2e.mjs --ext DIR --api URL --ca CERT --spki HASH --site URL --remote-site URL
//        --user U --password P --outside IP --inside IP --relay-ip IP --sedge "CMD" --aiortc "CMD"
//        --block-api "CMD" --unblock-api "CMD" [--cases a,b]
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { killAll, launch, parseArgs, sleep, tabIdOf } from "./lib/browser.mjs";

const args = parseArgs(process.argv.slice(2));
for (const k of ["ext", "api", "ca", "spki", "site", "remote-site", "user", "password", "outside", "inside", "relay-ip", "sedge"])
  if (!args[k]) throw new Error(`missing --${k}`);
const ALL = ["offer-trickle", "renegotiate", "answer-nontrickle", "aiortc", "page-gone", "frames", "anchor-refused", "api-down", "deny-mid-call"];
const cases = args.cases ? args.cases.split(",") : ALL;
const ca = readFileSync(args.ca);
const sh = (cmd) => execFileSync("/bin/sh", ["-c", cmd], { stdio: ["ignore", "pipe", "pipe"], timeout: 20000 }).toString();
// `sedge SUBCOMMAND ... --config FILE` (--sedge is "BINARY --config FILE").
const sedge = (sub) => {
  const [bin, ...conf] = args.sedge.split(" ");
  return sh(`${bin} ${sub} ${conf.join(" ")}`);
};

let failures = 0;
function report(name, problems, details = {}) {
  if (typeof warnings !== "undefined" && warnings.length) problems = problems.concat(warnings.splice(0));
  const ok = problems.length === 0;
  console.log(`CASE ${name} ${ok ? "ok" : "FAIL"} ${JSON.stringify({ problems, ...details })}`);
  if (!ok) failures++;
}
const hardStop = setTimeout(() => { console.log("anchor_ext_e2e: hard time limit"); killAll(); process.exit(3); }, 420000);

// sedge's API as the employee (Basic), for checks only.
function api(method, path, body) {
  const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
  const u = new URL(args.api + path);
  const cred = Buffer.from(`${args.user}:${args.password}`).toString("base64");
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method, ca, timeout: 10000,
      headers: { Authorization: "Basic " + cred, "Content-Type": "application/json", ...(data ? { "Content-Length": data.length } : {}) } },
    (res) => {
      let raw = "";
      res.on("data", (d) => (raw += d));
      res.on("end", () => { let b = null; try { b = raw ? JSON.parse(raw) : null; } catch { b = raw; } resolve({ status: res.statusCode, body: b }); });
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("API timeout")));
    if (data) req.write(data);
    req.end();
  });
}

async function sedgeFingerprint(id) {
  const r = await api("GET", `/v1/anchor/${id}`);
  return r.status === 200 ? r.body.fingerprint.split(" ")[1].toUpperCase() : "";
}

let A, B, fp = "";
const warnings = [];

async function sessionIds() {
  return A.sw.evaluate(() => chrome.storage.session.get("anchors").then((s) => Object.keys(s.anchors || {})));
}

async function openParty(browser, site, room, me, polite, trickle, h264 = true) {
  const page = await browser.context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error" || /SecureEdge/.test(m.text())) console.log(`page(${me}):`, m.text().slice(0, 2000));
    // The wrapper writes renegotiations like sedge; a difference is a bug.
    if (/transport changed during renegotiation/.test(m.text())) warnings.push(m.text());
  });
  // The remote party (no extension) uses the site's STUN server at .10,
  // the employee's page names .9, which must never see a packet.
  const stun = browser === B ? "127.0.0.10" : "127.0.0.9";
  await page.goto(`${site}/anchor_call.html?room=${room}&me=${me}&polite=${polite ? 1 : 0}&trickle=${trickle ? 1 : 0}&h264=${h264 ? 1 : 0}&stun=${stun}`);
  return page;
}

const st = (p) => p.evaluate(() => stats());
const framesOf = (s) => Object.values(s.video).reduce((a, b) => a + b, 0);
const sentFrames = (s) => Object.values(s.sentVideo).reduce((a, b) => a + b, 0);

async function waitConnected(pages, ms) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const s = await Promise.all(pages.map(st));
    if (s.every((x) => x.connectionState === "connected")) return true;
    if (s.some((x) => x.connectionState === "failed" || x.connectionState === "closed")) return false;
    await sleep(200);
  }
  return false;
}

// Run data both ways for ms.
async function exchange(a, b, ms) {
  const until = Date.now() + ms;
  let n = 0;
  while (Date.now() < until) {
    await a.evaluate((k) => sendData("from-employee-" + k), n);
    if (b) await b.evaluate((k) => sendData("from-remote-" + k), n);
    n++;
    await sleep(250);
  }
}

// What every connected anchored call must show.
function judge(sa, sb, { id }) {
  const p = [];
  if (framesOf(sa) < 20) p.push(`employee decoded ${framesOf(sa)} video frames`);
  if (sa.audioPackets < 40) p.push(`employee received ${sa.audioPackets} audio packets`);
  if (!sa.pair || sa.pair.state !== "succeeded") p.push(`employee's page: no connected pair ${JSON.stringify(sa.pair)}`);
  if (sa.pair && !sa.pair.remote.startsWith(args.inside + ":")) p.push(`employee's media goes to ${sa.pair.remote}, not sedge's inside ${args.inside}`);
  if (sa.pair && (sa.pair.localType !== "relay" || !sa.pair.local.startsWith(args["relay-ip"] + ":"))) p.push(`employee's local candidate ${sa.pair.local} ${sa.pair.localType}`);
  // Chromium checks the DTLS peer's certificate against the remote
  // description's fingerprint (DTLS "connected" means it matched); the
  // stats' remote certificate, where Chromium fills it in, must agree.
  if (sa.dtls !== "connected") p.push(`employee's DTLS ${sa.dtls}`);
  if (sa.remoteCertFp && sa.remoteCertFp.toUpperCase() !== fp) p.push(`employee's DTLS peer ${sa.remoteCertFp}, sedge's ${fp}`);
  const pageCands = sa.log.candidatesSent.filter((c) => c !== null);
  if (sa.log.candidatesSent.length && sa.log.candidatesSent.some((c) => c !== null && !c.includes(` ${args.outside} `)))
    p.push(`the page saw the browser's own candidates: ${sa.log.candidatesSent}`);
  if (sa.localDescCandidates.some((c) => !c.startsWith(args.outside + ":"))) p.push(`page's localDescription carries ${sa.localDescCandidates}`);
  if (sb) {
    if (framesOf(sb) < 20) p.push(`remote decoded ${framesOf(sb)} video frames`);
    if (sb.audioPackets < 40) p.push(`remote received ${sb.audioPackets} audio packets`);
    if (!sb.pair || !sb.pair.remote.startsWith(args.outside + ":")) p.push(`remote's pair ${JSON.stringify(sb.pair)}, not sedge's outside ${args.outside}`);
    if (sb.dtls !== "connected" || (sb.remoteDescFp || "").toUpperCase() !== fp || (sb.remoteCertFp && sb.remoteCertFp.toUpperCase() !== fp))
      p.push(`remote party's DTLS ${sb.dtls} with ${sb.remoteCertFp} (description ${sb.remoteDescFp}), sedge's ${fp}`);
    if (sa.localCertFp && [sb.remoteCertFp, sb.remoteDescFp].some((f) => f && f.toUpperCase() === sa.localCertFp.toUpperCase()))
      p.push(`the remote party saw the employee's certificate ${sa.localCertFp}`);
    if (sa.log.dcGot.length < 2 || sb.log.dcGot.length < 2) p.push(`data channel: employee got ${sa.log.dcGot.length}, remote ${sb.log.dcGot.length}`);
  }
  if (!id) p.push("no anchor session");
  if (sa.log.errors.length) p.push(`employee's page errors: ${sa.log.errors}`);
  if (sb && sb.log.errors.length) p.push(`remote page errors: ${sb.log.errors}`);
  return p;
}

// After a hang-up: how long until sedge's session is gone (ms), or -1.
async function goneWithin(id, ms) {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    const r = await api("GET", `/v1/anchor/${id}`);
    if (r.status === 404) return Date.now() - t0;
    await sleep(100);
  }
  return -1;
}

async function newSession(before, ms = 10000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const now = await sessionIds();
    const id = now.find((x) => !before.includes(x));
    if (id) return id;
    await sleep(100);
  }
  return "";
}

// ---- cases ----
async function offerTrickle() {
  const before = await sessionIds();
  const b = await openParty(B, args["remote-site"], "r1", "remote", false, true);
  const a = await openParty(A, args.site, "r1", "employee", true, true);
  await b.evaluate(() => start({ caller: false }));
  await a.evaluate(() => start({ caller: true }));
  const up = await waitConnected([a, b], 25000);
  const id = await newSession(before);
  fp = fp || (id ? await sedgeFingerprint(id) : "");
  await exchange(a, b, 4000);
  let sa = await st(a), sb = await st(b);
  const p = judge(sa, sb, { id });
  if (!up) p.push(`not connected: ${sa.connectionState}/${sb.connectionState}`);
  const steps = {};

  // The employee sees that the call is recorded: badge and popup.
  const tabId = await tabIdOf(A.sw, a);
  const pp = await A.context.newPage();
  await pp.setViewportSize({ width: 360, height: 420 });
  await pp.goto(`chrome-extension://${A.extId}/popup.html?tab=${tabId}`);
  await pp.waitForFunction(() => document.body.dataset.state && !document.getElementById("calls").hidden, null, { timeout: 10000 }).catch(() => {});
  steps.popup = await pp.evaluate(() => ({ state: document.body.dataset.state, calls: document.getElementById("calls").innerText }));
  steps.badge = await A.sw.evaluate(async (t) => ({ text: await chrome.action.getBadgeText({ tabId: t }), title: await chrome.action.getTitle({ tabId: t }) }), tabId);
  if (args.shots) await pp.locator("body").screenshot({ path: join(args.shots, "popup-recording.png") });
  await pp.close();
  if (steps.popup.state !== "recorded" || !/being recorded/.test(steps.popup.calls)) p.push(`popup during the call: ${JSON.stringify(steps.popup)}`);
  if (steps.badge.text !== "REC" || !/recorded/.test(steps.badge.title)) p.push(`badge during the call: ${JSON.stringify(steps.badge)}`);

  await exchange(a, b, 2000);
  sa = await st(a);
  sb = await st(b);
  const sent = { a_video: sentFrames(sa), a_audio: sa.sentAudio, b_video: sentFrames(sb), b_audio: sb.sentAudio };
  await a.evaluate(() => hangup());
  const gone = await goneWithin(id, 5000);
  await sleep(1500);
  const after = await st(b);
  if (gone < 0 || gone > 2000) p.push(`sedge's session ${id} still there ${gone < 0 ? "5 s" : gone + " ms"} after the hang-up`);
  if (after.signalingState !== "closed") p.push(`the remote party did not see the hang-up: ${after.signalingState}`);
  report("offer-trickle", p, { id, up, goneMs: gone, steps, employee: brief(sa), remote: brief(sb) });
  console.log(`CALL offer-trickle ${JSON.stringify({ id, sent })}`);
  await a.close();
  await b.close();
}

// Renegotiation in every direction, on a call of its own. Its recording
// is not checked: sedge's recorder keeps the streams of the first answer
// and takes same-codec tracks added later for the recorded one (reported
// to the anchor; relay/anchor/rec.c), which the media checks here do not
// depend on.
async function renegotiate() {
  const before = await sessionIds();
  const b = await openParty(B, args["remote-site"], "r9", "remote", false, true);
  const a = await openParty(A, args.site, "r9", "employee", true, true);
  await b.evaluate(() => start({ caller: false }));
  await a.evaluate(() => start({ caller: true }));
  const up = await waitConnected([a, b], 25000);
  const id = await newSession(before);
  await exchange(a, b, 2000);
  let sa, sb;
  const p = [];
  if (!up) p.push("not connected");
  const steps = {};

  // Renegotiation from the employee's side: a second video track.
  await a.evaluate(() => addCanvasVideo());
  await exchange(a, b, 5000);
  sb = await st(b);
  steps.employeeAdded = sb.video;
  if (Object.keys(sb.video).length < 2 || Math.min(...Object.values(sb.video)) < 20) p.push(`remote decoded the added track: ${JSON.stringify(sb.video)}`);

  // Renegotiation from the remote side (an offer coming in).
  await b.evaluate(() => addCanvasVideo());
  await exchange(a, b, 5000);
  sa = await st(a);
  steps.remoteAdded = sa.video;
  if (Object.keys(sa.video).length < 2 || Math.min(...Object.values(sa.video)) < 20) p.push(`employee decoded the remote's added track: ${JSON.stringify(sa.video)}`);

  // restartIce on the employee's side: the call goes on.
  const f0 = framesOf(await st(b));
  await a.evaluate(() => restart());
  await exchange(a, b, 4000);
  sb = await st(b);
  steps.restart = { before: f0, after: framesOf(sb), state: sb.connectionState };
  if (framesOf(sb) < f0 + 40 || (await st(a)).connectionState !== "connected") p.push(`after restartIce: ${JSON.stringify(steps.restart)}`);

  // Both sides add a track at once: glare; the employee's side is polite.
  await Promise.all([a.evaluate(() => addCanvasVideo()), b.evaluate(() => addCanvasVideo())]);
  await exchange(a, b, 6000);
  sa = await st(a);
  sb = await st(b);
  steps.glare = { rollbacks: sa.log.rollbacks, ignored: sb.log.ignored, employee: sa.video, remote: sb.video };
  if (Object.keys(sa.video).length < 3 || Object.keys(sb.video).length < 3) p.push(`after both added a track: ${JSON.stringify(steps.glare)}`);
  if (sa.connectionState !== "connected" || sb.connectionState !== "connected") p.push(`after glare: ${sa.connectionState}/${sb.connectionState}`);
  p.push(...judge(sa, sb, { id }).filter((x) => !/data channel/.test(x)));

  await b.evaluate(() => hangup());
  const gone = await goneWithin(id, 5000);
  if (gone < 0 || gone > 2000) p.push(`sedge's session ${id} still there ${gone < 0 ? "5 s" : gone + " ms"} after the remote party hung up`);
  report("renegotiate", p, { id, goneMs: gone, steps, employee: brief(sa), remote: brief(sb) });
  await a.close();
  await b.close();
}

function brief(s) {
  return { state: s.connectionState, video: s.video, videoIn: s.videoIn, audio: s.audioPackets, sentVideo: s.sentVideo, pair: s.pair, dtls: s.dtls,
    fp: s.remoteCertFp, cands: s.log.candidatesSent.length, dc: s.log.dcGot.length, rollbacks: s.log.rollbacks, errors: s.log.errors,
    trace: s.log.trace.slice(-12), transports: s.transports };
}

async function answerNontrickle() {
  const before = await sessionIds();
  // Chromium's default codecs (VP8 video).
  const b = await openParty(B, args["remote-site"], "r2", "remote", false, false, false);
  const a = await openParty(A, args.site, "r2", "employee", true, false, false);
  await a.evaluate(() => start({ caller: false }));
  await b.evaluate(() => start({ caller: true }));
  const up = await waitConnected([a, b], 25000);
  const id = await newSession(before);
  fp = fp || (id ? await sedgeFingerprint(id) : "");
  await exchange(a, b, 5000);
  const sa = await st(a), sb = await st(b);
  const p = judge(sa, sb, { id });
  if (!up) p.push(`not connected: ${sa.connectionState}/${sb.connectionState}`);
  if (sa.log.candidatesSent.filter((c) => c).length < 1) p.push("the page got no candidate event (sedge's outside candidates)");
  const sent = { a_video: sentFrames(sa), a_audio: sa.sentAudio, b_video: sentFrames(sb), b_audio: sb.sentAudio };
  await b.evaluate(() => hangup());
  const gone = await goneWithin(id, 5000);
  if (gone < 0 || gone > 2000) p.push(`sedge's session ${id} still there ${gone < 0 ? "5 s" : gone + " ms"} after the remote party hung up`);
  report("answer-nontrickle", p, { id, up, goneMs: gone, employee: brief(sa), remote: brief(sb) });
  console.log(`CALL answer-nontrickle ${JSON.stringify({ id, sent, video: "vp8" })}`);
  await a.close();
  await b.close();
}

async function aiortcCall() {
  const before = await sessionIds();
  const peer = spawn("/bin/sh", ["-c", args.aiortc + " --room r3 --seconds 14"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  peer.stdout.on("data", (d) => (out += d));
  peer.stderr.on("data", (d) => (err = (err + d).slice(-4000)));
  const done = new Promise((r) => peer.on("exit", r));
  await sleep(1000);
  const a = await openParty(A, args.site, "r3", "employee", true, true);
  await a.evaluate(() => start({ caller: true }));
  const up = await waitConnected([a], 25000);
  const id = await newSession(before);
  fp = fp || (id ? await sedgeFingerprint(id) : "");
  await exchange(a, null, 5000);
  // aiortc's H.264 encoder is slow on a loaded machine: give the first
  // decodable frames a while before judging.
  let sa = await st(a);
  for (let i = 0; i < 20 && framesOf(sa) < 20; i++) {
    await exchange(a, null, 500);
    sa = await st(a);
  }
  const p = judge(sa, null, { id });
  if (!up) p.push(`not connected: ${sa.connectionState}`);
  // aiortc hangs up (bye) after its --seconds; what the employee sent
  // until then is what the recording must hold.
  let last = sa;
  const until = Date.now() + 30000;
  while (Date.now() < until) {
    const s = await st(a);
    if (s.signalingState === "closed") break;
    last = s;
    await sleep(300);
  }
  await Promise.race([done, sleep(5000)]);
  const gone = await goneWithin(id, 5000);
  let r = {};
  try { r = JSON.parse(out.trim().split("\n").pop()); } catch { p.push(`aiortc said: ${out.slice(-500)} ${err.slice(-800)}`); }
  if (r.frames && (r.frames.video < 20 || r.frames.audio < 40)) p.push(`aiortc decoded ${JSON.stringify(r.frames)}`);
  if ((r.seen || "").toUpperCase() !== fp) p.push(`aiortc's DTLS peer ${r.seen}, sedge's ${fp}`);
  if (!r.dc_got) p.push("aiortc got no data channel message");
  const end = await st(a);
  if (end.signalingState !== "closed") p.push(`the employee's page did not see the hang-up: ${end.signalingState}`);
  if (gone < 0 || gone > 2000) p.push(`sedge's session still there ${gone < 0 ? "5 s" : gone + " ms"} after aiortc hung up`);
  report("aiortc", p, { id, up, goneMs: gone, employee: brief(sa), aiortc: r });
  console.log(`CALL aiortc ${JSON.stringify({ id, sent: { a_video: sentFrames(last), a_audio: last.sentAudio, b_video: r.sent ? r.sent.video : 0, b_audio: r.sent ? r.sent.audio : 0 } })}`);
  await a.close();
}

async function denyMidCall() {
  const before = await sessionIds();
  const b = await openParty(B, args["remote-site"], "r4", "remote", false, true);
  const a = await openParty(A, args.site, "r4", "employee", true, true);
  await b.evaluate(() => start({ caller: false }));
  await a.evaluate(() => start({ caller: true }));
  const up = await waitConnected([a, b], 25000);
  const id = await newSession(before);
  await exchange(a, b, 3000);
  const p = [];
  if (!up) p.push("not connected before the policy change");
  const t0 = Date.now();
  sedge(`rule add deny --origin ${new URL(args.site).origin} --priority 1 --name stop-calls`);
  // Media stops: the remote party's decoded frames stop growing.
  let last = framesOf(await st(b)), stoppedAt = -1, failedAt = -1;
  while (Date.now() - t0 < 8000) {
    await sleep(250);
    const [sa, sb] = [await st(a), await st(b)];
    const f = framesOf(sb);
    if (f === last && stoppedAt < 0) stoppedAt = Date.now() - t0;
    else if (f !== last) stoppedAt = -1;
    last = f;
    if (failedAt < 0 && (sa.connectionState === "failed" || sa.connectionState === "closed")) failedAt = Date.now() - t0;
    if (stoppedAt >= 0 && failedAt >= 0 && Date.now() - t0 > stoppedAt + 1500) break;
  }
  const gone = (await api("GET", `/v1/anchor/${id}`)).status === 404;
  const badge = await A.sw.evaluate(async () => {
    const tabs = await chrome.tabs.query({});
    const t = tabs.find((x) => /room=r4/.test(x.url || ""));
    return t ? { text: await chrome.action.getBadgeText({ tabId: t.id }), title: await chrome.action.getTitle({ tabId: t.id }) } : null;
  });
  if (stoppedAt < 0 || stoppedAt > 2500) p.push(`media still flowing ${stoppedAt < 0 ? "8 s" : stoppedAt + " ms"} after the rule changed`);
  if (failedAt < 0 || failedAt > 4000) p.push(`the employee's page saw no failure (${failedAt} ms)`);
  if (!gone) p.push("sedge's session is still there");
  if (!badge || badge.text !== "OFF" || !/stop-calls/.test(badge.title)) p.push(`badge ${JSON.stringify(badge)}`);
  const rule = JSON.parse(sedge("rule list --json")).find((r) => r.name === "stop-calls");
  if (rule) sedge(`rule del ${rule.id}`);
  report("deny-mid-call", p, { id, mediaStoppedMs: stoppedAt, pageFailedMs: failedAt, badge });
  await a.evaluate(() => hangupLocal("test over"));
  await a.close();
  await b.close();
}

// The page goes away without hanging up: navigation, then a closed tab.
async function pageGone() {
  const p = [], gone = {};
  for (const [room, how] of [["r7", "navigation"], ["r8", "tab closed"]]) {
    const before = await sessionIds();
    const b = await openParty(B, args["remote-site"], room, "remote", false, true);
    const a = await openParty(A, args.site, room, "employee", true, true);
    await b.evaluate(() => start({ caller: false }));
    await a.evaluate(() => start({ caller: true }));
    const up = await waitConnected([a, b], 25000);
    const id = await newSession(before);
    if (!up || !id) p.push(`${how}: the call did not start (${up}, ${id})`);
    if (how === "navigation") await a.goto("about:blank");
    else await a.close();
    gone[how] = await goneWithin(id, 5000);
    if (gone[how] < 0 || gone[how] > 2000) p.push(`${how}: sedge's session still there ${gone[how] < 0 ? "5 s" : gone[how] + " ms"} later`);
    if (how === "navigation") await a.close();
    await b.close();
  }
  report("page-gone", p, { goneMs: gone });
}

async function frames() {
  const page = await A.context.newPage();
  page.on("console", (m) => { if (m.type() === "error") console.log("page(frames):", m.text().slice(0, 500)); });
  await page.goto(`${args.site}/frames.html`);
  await sleep(500);
  const cross = args["plain-site"];
  const r = await page.evaluate((c) => probeAll(c), cross);
  await page.click("#pop");
  r.popup = await page.evaluate(() => popupResult);
  const p = [];
  const sedgeTurn = (urls) => urls && urls.length > 0 && urls.every((u) => /^turns?:127\.0\.0\.1:/.test(u));
  for (const k of ["top", "aboutBlankSync", "srcdoc", "blob", "sameOrigin", "late", "popup"]) {
    const x = r[k];
    if (!x) { p.push(`${k}: not tried`); continue; }
    if (!x.wrapped || x.error || x.offerAddr !== args.outside || x.policy !== "relay" || !sedgeTurn(x.urls))
      p.push(`${k} not anchored through sedge: ${JSON.stringify(x)}`);
  }
  // An opaque origin (data:) gets nothing: no servers, nothing gathered.
  const d = r.data || {};
  if (!(d.policy === "relay" && (d.urls || []).length === 0) && d.offerAddr !== args.outside) p.push(`data: frame ${JSON.stringify(d)}`);
  // A cross-origin frame of a site that is not recorded: TURN mode.
  const c = r.crossOrigin || {};
  if (!c.wrapped || c.policy !== "relay" || !sedgeTurn(c.urls) || c.offerAddr === args.outside) p.push(`cross-origin frame ${JSON.stringify(c)}`);
  if (!r.worker || r.worker.typeofRTCPeerConnection !== "undefined") p.push(`a worker has RTCPeerConnection: ${JSON.stringify(r.worker)}`);
  report("frames", p, r);
  await page.close();
}

// A call that must not connect; the page's offer fails and says why.
// prepare() runs once the pages loaded (their credentials say "anchor").
async function neverConnects(name, room, prepare, undo, why) {
  const b = await openParty(B, args["remote-site"], room, "remote", false, true);
  const a = await openParty(A, args.site, room, "employee", true, true);
  await sleep(500);
  await prepare();
  await b.evaluate(() => start({ caller: false }));
  await a.evaluate(() => start({ caller: true }));
  await sleep(8000);
  const [sa, sb] = [await st(a), await st(b)];
  const tabBadge = await A.sw.evaluate(async (r) => {
    const tabs = await chrome.tabs.query({});
    const t = tabs.find((x) => (x.url || "").includes("room=" + r));
    return t ? { text: await chrome.action.getBadgeText({ tabId: t.id }), title: await chrome.action.getTitle({ tabId: t.id }) } : null;
  }, room);
  await undo();
  const p = [];
  if (sa.connectionState === "connected" || sb.connectionState === "connected") p.push(`connected: ${sa.connectionState}/${sb.connectionState}`);
  if (framesOf(sa) || framesOf(sb) || sa.audioPackets || sb.audioPackets) p.push("media flowed");
  if (!sa.log.errors.some((e) => /SecureEdge/.test(e))) p.push(`the page was not told: ${sa.log.errors}`);
  if (!tabBadge || tabBadge.text !== "REC!" || !why.test(tabBadge.title)) p.push(`badge ${JSON.stringify(tabBadge)}`);
  report(name, p, { employee: brief(sa), remote: brief(sb), badge: tabBadge });
  await a.evaluate(() => hangupLocal("test over"));
  await a.close();
  await b.close();
}

async function anchorRefused() {
  // Fill the user's anchor.max_sessions_per_user with sessions of its own.
  const offer = readFileSync(new URL("../fuzz/corpus/anchor_sdp/chrome-offer", import.meta.url), "utf8");
  const held = [];
  await neverConnects("anchor-refused", "r5", async () => {
    for (let i = 0; i < 20; i++) {
      const r = await api("POST", "/v1/anchor", { origin: "https://elsewhere.example", side: "inside", offer });
      if (r.status !== 201) break;
      held.push(r.body.id);
    }
  }, async () => {
    for (const id of held) await api("DELETE", `/v1/anchor/${id}`);
  }, /refused the call: .*max_sessions_per_user/);
}

async function apiDown() {
  await neverConnects("api-down", "r6", async () => sh(args["block-api"]), async () => sh(args["unblock-api"]), /cannot reach the relay API/);
}

try {
  A = await launch({ ext: args.ext, spki: args.spki });
  B = await launch({ withExtension: false });
  await A.sw.evaluate((c) => chrome.storage.local.set(c), {
    apiUrl: args.api, tokenSource: "basic", basicUser: args.user, basicPassword: args.password,
  });
  const run = { "offer-trickle": offerTrickle, "answer-nontrickle": answerNontrickle, aiortc: aiortcCall,
    "deny-mid-call": denyMidCall, "anchor-refused": anchorRefused, "api-down": apiDown, frames, "page-gone": pageGone,
    renegotiate };
  for (const c of cases) {
    try {
      await run[c]();
    } catch (e) {
      report(c, [String(e && e.stack || e)]);
    }
  }
} catch (e) {
  report("harness", [String(e && e.stack || e)]);
} finally {
  clearTimeout(hardStop);
  if (A) await A.close();
  if (B) await B.close();
}
process.exit(failures ? 1 : 0);
