// extension_e2e.mjs - drive Debian's Chromium with the SecureEdge extension
// loaded against a running sedge (started by tests/integ/browser_extension.sh).
//
// Chromium is spawned by lib/browser.mjs (exact flags, its own process
// group, a fresh profile, HOME/XDG/TMPDIR in a temp dir) and attached
// over CDP with playwright-core; no browser is ever downloaded. Each case
// prints one JSON line "CASE name {...}"; the shell side asserts on them
// together with sedge's own records (sessions, logs). Exits non-zero on a
// failed case. Bounded: every wait has a deadline and the browser is
// killed on the way out.
//
//   node extension_e2e.mjs --ext DIR --api URL --token T --spki HASH
//        --page URL --denied-page URL --relay-ip 127.0.0.2 [--refresh-seconds N]
import { killAll, launch, parseArgs, sleep } from "./lib/browser.mjs";

const args = parseArgs(process.argv.slice(2));
const need = ["ext", "api", "token", "spki", "page", "denied-page", "relay-ip"];
for (const k of need) if (!args[k]) throw new Error(`missing --${k}`);
const refreshSeconds = Number(args["refresh-seconds"] || 0);

let failures = 0;
function report(name, ok, details) {
  console.log(`CASE ${name} ${ok ? "ok" : "FAIL"} ${JSON.stringify(details)}`);
  if (!ok) failures++;
}

let handle = null;
const hardStop = setTimeout(() => { console.log("extension_e2e: hard time limit"); killAll(); process.exit(3); }, 240000);

// A good call: connected over relay/relay pairs through sedge, media decoded.
function judgeCall(st, relayIp) {
  const problems = [];
  for (const side of ["a", "b"]) {
    const s = st[side];
    if (!s.pair) { problems.push(`${side}: no selected pair`); continue; }
    if (s.pair.local.type !== "relay" || s.pair.remote.type !== "relay")
      problems.push(`${side}: pair ${s.pair.local.type}/${s.pair.remote.type}`);
    if (s.pair.local.address !== relayIp) problems.push(`${side}: local relay address ${s.pair.local.address}`);
    if (s.localCandidates.some((t) => t !== "relay")) problems.push(`${side}: non-relay local candidates ${s.localCandidates}`);
    if (s.videoFramesDecoded < 10) problems.push(`${side}: ${s.videoFramesDecoded} video frames decoded`);
    if (s.audioPacketsReceived < 20) problems.push(`${side}: ${s.audioPacketsReceived} audio packets`);
  }
  if (st.policies.some((p) => p !== "relay")) problems.push(`policies ${st.policies}`);
  return problems;
}

try {
  handle = await launch({ ext: args.ext, spki: args.spki });
  const { browser, context, sw } = handle;
  await sw.evaluate(async (cfg) => { await chrome.storage.local.set(cfg); }, {
    apiUrl: args.api, tokenSource: "bearer", token: args.token,
  });

  // 1. A page that knows nothing about sedge connects through it.
  {
    const page = await context.newPage();
    page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") console.log("page:", m.text()); });
    await page.goto(args.page);
    const transparency = await page.evaluate(() => transparency());
    const badTransparency = Object.entries(transparency).filter(([k, v]) =>
      k === "name" ? v !== "RTCPeerConnection" : k === "callWithoutNew" ? v !== "TypeError" : v !== true);
    report("transparent-wrapper", badTransparency.length === 0, transparency);
    const i = await page.evaluate(() => startCall());
    const states = await page.evaluate(([i]) => waitState(i, "connected", 20000), [i]);
    await sleep(4000);
    const st = await page.evaluate(([i]) => callStats(i), [i]);
    const problems = judgeCall(st, args["relay-ip"]);
    if (states.some((s) => s !== "connected")) problems.push(`states ${states}`);
    report("call-through-relay", problems.length === 0, { problems, states, stats: st });

    // 3. Credentials renewed during a long call (short TTL on the API).
    if (refreshSeconds > 0) {
      const first = st.usernames;
      const framesBefore = st.a.videoFramesDecoded + st.b.videoFramesDecoded;
      await sleep(refreshSeconds * 1000);
      const later = await page.evaluate(([i]) => callStats(i), [i]);
      const framesAfter = later.a.videoFramesDecoded + later.b.videoFramesDecoded;
      const problems2 = judgeCall(later, args["relay-ip"]);
      if (later.usernames.some((u, k) => !u || u === first[k])) problems2.push(`usernames not renewed: ${first} -> ${later.usernames}`);
      if (framesAfter < framesBefore + 40) problems2.push(`media stalled: ${framesBefore} -> ${framesAfter} frames`);
      if (later.states.some((s) => s !== "connected")) problems2.push(`states ${later.states}`);
      report("credentials-renewed", problems2.length === 0, { problems: problems2, first, later: later.usernames, framesBefore, framesAfter });
    }
    await page.evaluate(() => closeAll());
    await page.close();
  }

  // 2. A page on an origin policy denies: fails cleanly, badge says why.
  {
    const page = await context.newPage();
    await page.goto(args["denied-page"]);
    const i = await page.evaluate(() => startCall());
    const states = await page.evaluate(([i]) => waitState(i, "connected", 8000), [i]);
    const st = await page.evaluate(([i]) => callStats(i), [i]);
    const tabTitle = await sw.evaluate(async () => {
      const [tab] = await chrome.tabs.query({ active: true, lastFocusedWindow: true }).catch(() => [null]);
      return tab ? { badge: await chrome.action.getBadgeText({ tabId: tab.id }), title: await chrome.action.getTitle({ tabId: tab.id }) } : null;
    }).catch((e) => ({ error: String(e) }));
    const problems = [];
    if (states.includes("connected")) problems.push(`connected: ${states}`);
    for (const side of ["a", "b"]) if (st[side].localCandidates.length) problems.push(`${side} gathered ${st[side].localCandidates}`);
    if (st.a.videoFramesDecoded || st.b.videoFramesDecoded) problems.push("media flowed");
    report("denied-origin", problems.length === 0, { problems, states, badge: tabTitle });
    await page.evaluate(() => closeAll());
    await page.close();
  }
  await browser.close().catch(() => {});
} catch (e) {
  report("harness", false, { error: String(e && e.stack || e), browser: handle ? handle.log().slice(-3000) : "" });
} finally {
  clearTimeout(hardStop);
  if (handle) await handle.close();
}
process.exit(failures ? 1 : 0);
