// console_e2e.mjs - the compliance console in Debian's Chromium against a
// running sedge (started by tests/integ/console_browser.sh).
//
// Chromium is spawned here (exact flags, its own process group, a fresh
// profile, HOME/XDG/TMPDIR in a temp dir) and attached over CDP with
// playwright-core; no browser is downloaded. The officer's path, by
// keyboard where a person would type: sign in with the token, search by
// user, open the recording, play it for two seconds (currentTime advances,
// frames decode), verify it, put it on hold, and read the audit trail.
// Each step prints "CASE name ok|FAIL {...}"; a screenshot goes to --shot.
//
//   node console_e2e.mjs --url https://127.0.0.1:PORT/console/ --token T
//        --spki HASH --user alice@example.com --shot FILE.png
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
for (const k of ["url", "token", "spki", "user", "shot"]) if (!args[k]) throw new Error(`missing --${k}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const home = mkdtempSync(join(tmpdir(), "sedge-chromium-"));
const profile = join(home, "profile");
const flags = [
  "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-default-apps", "--autoplay-policy=no-user-gesture-required", "--mute-audio",
  `--ignore-certificate-errors-spki-list=${args.spki}`, "--window-size=1366,900",
  `--user-data-dir=${profile}`, "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
  "about:blank",
];
const env = { ...process.env, HOME: home, TMPDIR: home, XDG_CONFIG_HOME: join(home, ".config"),
  XDG_CACHE_HOME: join(home, ".cache"), XDG_DATA_HOME: join(home, ".local/share") };
const browserProc = spawn("/usr/bin/chromium", flags, { env, detached: true, stdio: ["ignore", "ignore", "pipe"] });
let browserLog = "";
browserProc.stderr.on("data", (d) => { browserLog = (browserLog + d).slice(-20000); });

let failures = 0;
function report(name, ok, details) {
  console.log(`CASE ${name} ${ok ? "ok" : "FAIL"} ${JSON.stringify(details)}`);
  if (!ok) failures++;
}
function shutdown() {
  try { process.kill(-browserProc.pid, "SIGKILL"); } catch { /* gone */ }
}
const hardStop = setTimeout(() => { console.log("console_e2e: hard time limit"); shutdown(); process.exit(3); }, 120000);

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

try {
  const browser = await chromium.connectOverCDP(`http://127.0.0.1:${await devtoolsPort()}`);
  const context = browser.contexts()[0];
  const page = await context.newPage();
  const problems = [];
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  await page.setViewportSize({ width: 1366, height: 900 });
  await page.goto(args.url);

  // Accessibility basics: every form control has a label, every button a name.
  const a11y = await page.evaluate(() => {
    const bad = [];
    for (const c of document.querySelectorAll("input, select, textarea"))
      if (!(c.labels && c.labels.length) && !c.getAttribute("aria-label")) bad.push(`control #${c.id} has no label`);
    for (const b of document.querySelectorAll("button"))
      if (!(b.textContent.trim() || b.getAttribute("aria-label"))) bad.push(`button #${b.id} has no name`);
    if (document.documentElement.lang !== "en") bad.push("no lang");
    return bad;
  });
  report("accessible-markup", a11y.length === 0, { a11y });

  // Sign in with the keyboard: the token field, then Enter.
  await page.focus("#token");
  await page.keyboard.type(args.token);
  await page.keyboard.press("Enter");
  await page.waitForSelector("#search:not([hidden])", { timeout: 10000 });
  const signedIn = await page.evaluate(() => sessionStorage.getItem("sedge-token") !== null);
  report("sign-in", signedIn, {});

  // Search by user, with the keyboard: type, Enter.
  await page.focus("#q-user");
  await page.keyboard.type(args.user);
  await page.keyboard.press("Enter");
  await page.waitForFunction((u) => {
    const rows = [...document.querySelectorAll("#results tbody tr")];
    return rows.length > 0 && rows.every((r) => r.cells[1].textContent === u);
  }, args.user, { timeout: 10000 });
  const rows = await page.$$eval("#results tbody tr", (rs) => rs.map((r) => [...r.cells].map((c) => c.textContent)));
  report("search", rows.length === 1 && rows[0][5] === "complete" && rows[0][6] === "ed25519", { rows });

  // Open it by keyboard: Tab to the row's Open button, Enter.
  await page.focus("#results tbody tr button.open");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#detail:not([hidden]) #media", { timeout: 10000 });
  const focusOnHeading = await page.evaluate(() => document.activeElement && document.activeElement.id === "detail-h");
  report("open", focusOnHeading, { heading: await page.textContent("#detail-h") });

  // Play two seconds: currentTime advances and video frames decode.
  const play = await page.evaluate(async () => {
    const v = document.getElementById("media");
    let callbacks = 0;
    const count = () => { callbacks++; v.requestVideoFrameCallback(count); };
    v.requestVideoFrameCallback(count);
    await v.play();
    const t0 = v.currentTime;
    await new Promise((r) => setTimeout(r, 2000));
    const q = v.getVideoPlaybackQuality();
    const out = { t0, t1: v.currentTime, decoded: q.totalVideoFrames, dropped: q.droppedVideoFrames,
      callbacks, width: v.videoWidth, height: v.videoHeight, error: v.error && v.error.message };
    v.pause();
    return out;
  });
  report("play-2s", play.t1 - play.t0 >= 1.5 && play.decoded >= 30 && play.callbacks >= 20 && play.width === 320 && !play.error, play);

  // Verify: the verdict says verified, the badge too.
  await page.click("#verify");
  await page.waitForSelector("#verify-verdict", { timeout: 15000 });
  const verdict = await page.textContent("#verify-verdict");
  report("verify", /verified/.test(verdict) && /ed25519 ok/.test(verdict), { verdict });

  // Legal hold with a reason.
  await page.fill("#hold-reason", "Matter 2026-042");
  await page.click("#hold");
  await page.waitForFunction(() => document.getElementById("release").disabled === false, null, { timeout: 10000 });
  const facts = await page.textContent("#facts");
  report("hold", /Matter 2026-042/.test(facts), { facts: facts.slice(0, 400) });

  // The audit trail shows this session's accesses under the token.
  await page.waitForFunction(() => {
    const acts = [...document.querySelectorAll("#audit tbody tr")].map((r) => r.cells[2].textContent);
    return ["recording.download", "recording.verify", "recording.hold", "recording.show"].every((a) => acts.includes(a));
  }, null, { timeout: 10000 }).catch(() => {});
  const audit = await page.$$eval("#audit tbody tr", (rs) => rs.map((r) => [...r.cells].map((c) => c.textContent)));
  const acts = audit.map((r) => r[2]);
  const downloads = audit.filter((r) => r[2] === "recording.download");
  report("audit-trail",
    ["recording.download", "recording.verify", "recording.hold", "recording.show", "recording.start", "recording.complete"].every((a) => acts.includes(a)) &&
      downloads.every((r) => r[1].startsWith("api:token-")) && downloads.some((r) => /bytes=[1-9]/.test(r[3])),
    { actions: acts, downloads: downloads.slice(0, 3) });

  await page.screenshot({ path: args.shot, fullPage: true });
  report("no-page-errors", problems.length === 0, { problems });
  await browser.close().catch(() => {});
} catch (e) {
  report("run", false, { error: String(e && e.stack || e), browser: browserLog.slice(-1500) });
} finally {
  clearTimeout(hardStop);
  shutdown();
  await sleep(300);
  rmSync(home, { recursive: true, force: true });
}
process.exit(failures ? 1 : 0);
