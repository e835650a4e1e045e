// ext_ui_e2e.mjs - what the employee and the administrator see, in real
// headless Chromium with the extension, against a running sedge and the
// test identity provider (started by tests/integ/browser_ext_ui.sh).
//
// Part 1, an employee setting the extension up alone (no policy): the
// settings page opens on install; the popup says "not set up"; a wrong
// password and an unreachable API are refused with words and nothing is
// saved; right settings are saved with who the relay accepted; an
// exemption the employee slips into storage is ignored; the popup shows
// relayed, refused (with the rule's name), recording required (blocked,
// REC!) and an unreachable API with the last error.
//
// Part 2, a fleet deployment (managed storage written as Chromium policy;
// the test runs in a mount namespace where /etc/chromium is its own):
// the popup asks to sign in; the settings page shows the administrator's
// values read-only; signing in goes through the IdP's login page
// (chrome.identity.launchWebAuthFlow, code flow + PKCE) and a page loaded
// before the sign-in starts working without a reload; the ID token is
// renewed before it expires (silent prompt=none, the IdP gives no refresh
// tokens); the administrator's exemption leaves a site alone, but not a
// site whose policy records.
//
// Screenshots of the popup (and settings page) in each state go to --shots.
// Each case prints "CASE name ok|FAIL {...}"; exit 1 on a failed case.
//
//   node ext_ui_e2e.mjs --ext DIR --api URL --spki HASH --web PORT --idp URL
//        --policy-file PATH --shots DIR --user bob --password PW --id-ttl S
import { mkdirSync, writeFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { killAll, launch, parseArgs, sleep, tabIdOf } from "./lib/browser.mjs";

const args = parseArgs(process.argv.slice(2));
for (const k of ["ext", "api", "spki", "web", "idp", "policy-file", "shots", "user", "password", "id-ttl"])
  if (!args[k]) throw new Error(`missing --${k}`);
const site = (host) => `http://${host}:${args.web}`;
const ALLOWED = site("127.0.0.1"), DENIED = site("127.0.0.3"), RECORDED = site("127.0.0.4");
const EXEMPT = site("127.0.0.5"), DOWN = site("127.0.0.6"), LATER = site("127.0.0.7");
const apiHost = new URL(args.api).host;
mkdirSync(args.shots, { recursive: true });

let failures = 0;
function report(name, problems, details = {}) {
  const ok = problems.length === 0;
  console.log(`CASE ${name} ${ok ? "ok" : "FAIL"} ${JSON.stringify({ problems, ...details })}`);
  if (!ok) failures++;
}
const hardStop = setTimeout(() => { console.log("ext_ui_e2e: hard time limit"); killAll(); process.exit(3); }, 200000);

// ---- helpers over one browser ----
function helpers(h) {
  const { context, sw, extId } = h;
  const ext = (p) => `chrome-extension://${extId}/${p}`;

  async function openSite(origin) {
    const page = await context.newPage();
    page.on("console", (m) => { if (m.type() === "error") console.log("page:", m.text()); });
    await page.goto(origin + "/call.html");
    await sleep(300); // the document_start request reaches the worker
    return { page, tabId: await tabIdOf(sw, page) };
  }

  // Open the popup (as a page, for tab tabId), screenshot it, return what it says.
  async function popup(name, tabId, before) {
    const p = await context.newPage();
    await p.setViewportSize({ width: 360, height: 420 });
    await p.goto(ext(`popup.html?tab=${tabId}`));
    try {
      await p.waitForFunction(() => document.body.dataset.state, null, { timeout: 15000 });
    } catch (e) {
      // A broken popup fails its case, not the whole run.
      return { page: p, state: "no answer: " + String(e).slice(0, 200), site: "", who: "", relay: "", error: "", signIn: false };
    }
    if (before) await before(p);
    const out = await p.evaluate(() => ({
      state: document.body.dataset.state,
      site: document.getElementById("site").innerText,
      who: document.getElementById("who").innerText,
      relay: document.getElementById("relay").innerText,
      error: document.getElementById("error").hidden ? "" : document.getElementById("error").innerText,
      signIn: !document.getElementById("signin").hidden,
    }));
    await p.locator("body").screenshot({ path: join(args.shots, `popup-${name}.png`) });
    return { page: p, ...out };
  }

  async function badge(tabId) {
    return sw.evaluate(async (id) => ({
      text: await chrome.action.getBadgeText({ tabId: id }), title: await chrome.action.getTitle({ tabId: id }),
    }), tabId);
  }

  async function optionsSave(name, fill) {
    const p = await context.newPage();
    await p.setViewportSize({ width: 760, height: 900 });
    await p.goto(ext("options.html"));
    await p.waitForFunction(() => document.getElementById("redirectUri").textContent !== "", null, { timeout: 10000 });
    if (fill) await fill(p);
    await p.click("#save");
    await p.waitForFunction(() => ["ok", "bad"].includes(document.getElementById("status").className), null, { timeout: 20000 });
    const out = await p.evaluate(() => ({
      cls: document.getElementById("status").className, text: document.getElementById("status").innerText,
      saveAnyway: !document.getElementById("saveAnyway").hidden,
    }));
    await p.screenshot({ path: join(args.shots, `options-${name}.png`), fullPage: true });
    await p.close();
    return out;
  }

  const local = () => sw.evaluate(() => chrome.storage.local.get(null));
  const probe = (page) => page.evaluate(() => configAfterOffer(1500));
  return { ext, openSite, popup, badge, optionsSave, local, probe };
}

const sedgeTurn = (urls) => urls.length > 0 && urls.every((u) => /^turns?:127\.0\.0\.1:/.test(u));

// ---- part 1: an employee on their own ----
async function part1() {
  const h = await launch({ ext: args.ext, spki: args.spki });
  try {
    const H = helpers(h);
    // Installed, nobody configured it: the settings open by themselves.
    let opened = false;
    for (let i = 0; i < 50 && !opened; i++) {
      opened = h.context.pages().some((p) => p.url() === H.ext("options.html"));
      if (!opened) await sleep(100);
    }
    const a = await H.openSite(ALLOWED);
    const pop = await H.popup("not-set-up", a.tabId);
    await pop.page.close();
    const p1 = [];
    if (!opened) p1.push("the settings page did not open on install");
    if (pop.state !== "error-setup") p1.push(`popup state ${pop.state}`);
    if (!/not set up/i.test(pop.who + pop.site)) p1.push(`popup says ${pop.site} / ${pop.who}`);
    if ((await H.badge(a.tabId)).text !== "ERR") p1.push("badge not ERR");
    report("fresh-install", p1, { popup: pop.site });

    const fill = (apiUrl, password) => async (p) => {
      await p.fill("#apiUrl", apiUrl);
      await p.selectOption("#tokenSource", "basic");
      await p.fill("#basicUser", args.user);
      await p.fill("#basicPassword", password);
    };
    const wrong = await H.optionsSave("wrong-password", fill(args.api, "not-" + args.password));
    const afterWrong = await H.local();
    const p2 = [];
    if (wrong.cls !== "bad" || !/^Not saved/.test(wrong.text) || !/wrong password/.test(wrong.text)) p2.push(`said: ${wrong.text}`);
    if (/Saved\./.test(wrong.text)) p2.push("said Saved.");
    if (afterWrong.basicPassword !== undefined || afterWrong.apiUrl !== undefined) p2.push("stored the wrong settings");
    report("options-wrong-password", p2, { said: wrong.text });

    const down = await H.optionsSave("unreachable", fill("https://127.0.0.1:9", args.password));
    const p3 = [];
    if (down.cls !== "bad" || !/cannot reach the relay API/.test(down.text) || !down.saveAnyway) p3.push(`said: ${down.text}, save anyway ${down.saveAnyway}`);
    if ((await H.local()).apiUrl !== undefined) p3.push("stored an unreachable API");
    report("options-unreachable", p3, { said: down.text });

    const good = await H.optionsSave("saved", fill(args.api, args.password));
    const stored = await H.local();
    const p4 = [];
    if (good.cls !== "ok" || !good.text.startsWith("Saved.") || !good.text.includes(`as ${args.user}`)) p4.push(`said: ${good.text}`);
    if (stored.basicUser !== args.user || stored.basicPassword !== args.password || stored.tokenSource !== "basic") p4.push("not stored");
    report("options-saved", p4, { said: good.text });

    // An exemption written into the employee's storage is not honoured.
    await h.sw.evaluate((o) => chrome.storage.local.set({ bypassOrigins: [o] }), ALLOWED);
    await a.page.reload();
    await sleep(300);
    const cfg = await H.probe(a.page);
    const p5 = [];
    if (cfg.policy !== "relay" || !sedgeTurn(cfg.urls)) p5.push(`the page kept its own ICE config: ${JSON.stringify(cfg)}`);
    if (cfg.candidates.some((t) => t !== "relay")) p5.push(`gathered ${cfg.candidates}`);
    report("employee-cannot-exempt", p5, { config: cfg });

    const rel = await H.popup("relayed", a.tabId);
    await rel.page.close();
    const p6 = [];
    if (rel.state !== "relayed") p6.push(`state ${rel.state}`);
    if (!rel.who.includes(args.user)) p6.push(`who: ${rel.who}`);
    if (!rel.relay.includes(apiHost)) p6.push(`relay: ${rel.relay}`);
    if ((await H.badge(a.tabId)).text !== "") p6.push("a badge on a relayed site");
    report("popup-relayed", p6, { popup: { state: rel.state, site: rel.site, who: rel.who, relay: rel.relay } });

    const d = await H.openSite(DENIED);
    const den = await H.popup("refused", d.tabId);
    await den.page.close();
    const db = await H.badge(d.tabId);
    const p7 = [];
    if (den.state !== "refused" || !/blocked-site/.test(den.site)) p7.push(`popup: ${den.state} ${den.site}`);
    if (db.text !== "OFF" || !/blocked-site/.test(db.title)) p7.push(`badge ${JSON.stringify(db)}`);
    report("popup-refused", p7, { popup: den.site, badge: db });

    const r = await H.openSite(RECORDED);
    const rec = await H.popup("recording-required", r.tabId);
    await rec.page.close();
    const rb = await H.badge(r.tabId);
    const rcfg = await H.probe(r.page);
    const p8 = [];
    if (rec.state !== "needs-rec" || !/record/i.test(rec.site)) p8.push(`popup: ${rec.state} ${rec.site}`);
    if (rb.text !== "REC!") p8.push(`badge ${JSON.stringify(rb)}`);
    if (rcfg.urls.length || rcfg.candidates.length || rcfg.policy !== "relay") p8.push(`the recorded site got servers: ${JSON.stringify(rcfg)}`);
    report("popup-recording-required", p8, { popup: rec.site, badge: rb, config: rcfg });

    // The API goes away (here: its address changes to a closed port).
    await h.sw.evaluate(() => chrome.storage.local.set({ apiUrl: "https://127.0.0.1:9" }));
    const e = await H.openSite(DOWN);
    const err = await H.popup("error", e.tabId);
    await err.page.close();
    const ecfg = await H.probe(e.page);
    const p9 = [];
    if (err.state !== "error" || !/cannot reach/.test(err.site)) p9.push(`popup: ${err.state} ${err.site}`);
    if (!/Last error/.test(err.error) || !/cannot reach/.test(err.error)) p9.push(`last error: ${err.error}`);
    if ((await H.badge(e.tabId)).text !== "ERR") p9.push("badge");
    if (ecfg.urls.length || ecfg.candidates.length) p9.push(`servers while the API is down: ${JSON.stringify(ecfg)}`);
    report("popup-api-down", p9, { popup: err.site, error: err.error });
    return h.extId;
  } finally {
    await h.close();
  }
}

// ---- part 2: a fleet: managed storage, OIDC sign-in ----
async function idpStats() {
  return (await fetch(args.idp + "/stats")).json();
}

async function part2(extId) {
  mkdirSync(dirname(args["policy-file"]), { recursive: true });
  writeFileSync(args["policy-file"], JSON.stringify({
    "3rdparty": { extensions: { [extId]: {
      apiUrl: args.api, tokenSource: "oidc", oidcIssuer: args.idp, oidcClientId: "sedge-extension",
      bypassOrigins: [EXEMPT, RECORDED],
    } } },
  }));
  const h = await launch({ ext: args.ext, spki: args.spki });
  try {
    const H = helpers(h);
    if (h.extId !== extId) throw new Error(`extension id changed: ${extId} -> ${h.extId}`);
    const a = await H.openSite(ALLOWED);
    const out = await H.popup("signed-out", a.tabId);
    const before = await H.probe(a.page);
    const p1 = [];
    if (out.state !== "error-signin" || !out.signIn) p1.push(`popup ${out.state}, sign-in button ${out.signIn}`);
    if (before.urls.length || before.candidates.length) p1.push(`servers before sign-in: ${JSON.stringify(before)}`);
    if (h.context.pages().some((p) => p.url() === H.ext("options.html"))) p1.push("settings opened although the administrator configured the extension");
    report("managed-signed-out", p1, { popup: out.site });

    // The settings page: the administrator's values, read-only.
    const o = await h.context.newPage();
    await o.setViewportSize({ width: 760, height: 900 });
    await o.goto(H.ext("options.html"));
    // The redirect URI is filled at once, the account after a round trip to the service worker.
    await o.waitForFunction(() => document.getElementById("redirectUri").textContent !== ""
      && document.getElementById("accountText").textContent !== "…", null, { timeout: 10000 });
    const opt = await o.evaluate(() => ({
      disabled: ["apiUrl", "tokenSource", "oidcIssuer", "oidcClientId"].filter((k) => document.getElementById(k).disabled),
      bypass: [...document.querySelectorAll("#bypass li")].map((li) => li.textContent),
      redirect: document.getElementById("redirectUri").textContent,
      account: document.getElementById("accountText").textContent,
      signIn: !document.getElementById("signin").hidden,
    }));
    await o.screenshot({ path: join(args.shots, "options-managed.png"), fullPage: true });
    await o.close();
    const p2 = [];
    if (opt.disabled.length !== 4) p2.push(`editable admin settings: ${opt.disabled}`);
    if (opt.bypass.join() !== [EXEMPT, RECORDED].join()) p2.push(`exemptions shown: ${opt.bypass}`);
    if (opt.redirect !== `https://${extId}.chromiumapp.org/`) p2.push(`redirect ${opt.redirect}`);
    if (opt.account !== "Not signed in." || !opt.signIn) p2.push(`account: ${opt.account}, sign-in button ${opt.signIn}`);
    report("options-managed", p2, opt);

    // Sign in from the popup: the IdP's page opens, the employee logs in.
    const loginPage = h.context.waitForEvent("page", { timeout: 15000 });
    await out.page.click("#signin");
    const login = await loginPage;
    await login.waitForSelector("#user", { timeout: 10000 });
    await login.fill("#user", "alice@corp.example");
    await login.fill("#password", "correct horse");
    await login.click("#signin");
    await out.page.waitForFunction(() => document.body.dataset.state === "relayed", null, { timeout: 20000 }).catch(() => {});
    await out.page.close();
    const o2 = await h.context.newPage();
    await o2.goto(H.ext("options.html"));
    await o2.waitForFunction(() => /^Signed in as /.test(document.getElementById("accountText").textContent), null, { timeout: 10000 }).catch(() => {});
    const account = await o2.evaluate(() => document.getElementById("accountText").textContent);
    await o2.close();
    const inn = await H.popup("signed-in", a.tabId);
    await inn.page.close();
    await sleep(5500); // the page asks again after a refusal's retry time, without a reload
    const after = await H.probe(a.page);
    const st = await idpStats();
    const p3 = [];
    if (inn.state !== "relayed") p3.push(`popup ${inn.state}: ${inn.site}`);
    if (!inn.who.includes("alice@corp.example") || !inn.who.includes("Alice Example")) p3.push(`who: ${inn.who}`);
    if (after.policy !== "relay" || !sedgeTurn(after.urls)) p3.push(`page not relayed after sign-in: ${JSON.stringify(after)}`);
    if (st.login_ok !== 1 || st.token_code < 1 || st.errors.length) p3.push(`idp ${JSON.stringify(st)}`);
    if (account !== "Signed in as alice@corp.example (Alice Example).") p3.push(`settings page: ${account}`);
    report("oidc-sign-in", p3, { who: inn.who, idp: st });

    // Exemptions from the administrator: honoured, except for recording.
    const x = await H.openSite(EXEMPT);
    const ex = await H.popup("exempt", x.tabId);
    await ex.page.close();
    const xcfg = await H.probe(x.page);
    const r = await H.openSite(RECORDED);
    const rp = await H.popup("exempt-but-recorded", r.tabId);
    await rp.page.close();
    const rcfg = await H.probe(r.page);
    const p4 = [];
    if (ex.state !== "bypass") p4.push(`exempt popup ${ex.state}`);
    if (xcfg.policy !== "all" || xcfg.urls.join() !== "stun:127.0.0.9:3478") p4.push(`exempt site not left alone: ${JSON.stringify(xcfg)}`);
    if (rp.state !== "needs-rec" || !/not from recording/.test(rp.site)) p4.push(`recorded+exempt popup ${rp.state}: ${rp.site}`);
    if (rcfg.urls.length || rcfg.candidates.length) p4.push(`recorded+exempt site got servers: ${JSON.stringify(rcfg)}`);
    if ((await H.badge(r.tabId)).text !== "REC!") p4.push("recorded+exempt badge");
    report("admin-exemptions", p4, { exempt: xcfg, recorded: rcfg });

    // Renewal before expiry: this IdP gives no refresh token, so the
    // worker signs in again silently (prompt=none) on its alarm.
    const first = await h.sw.evaluate(() => chrome.storage.session.get("oidc").then((s) => s.oidc));
    const deadline = first.expiresAt;
    let renewed = null;
    while (Date.now() < deadline + 5000) {
      const cur = await h.sw.evaluate(() => chrome.storage.session.get("oidc").then((s) => s.oidc));
      if (cur && cur.idToken !== first.idToken) { renewed = cur; break; }
      await sleep(500);
    }
    const renewedAt = Date.now();
    const st2 = await idpStats();
    const l = await H.openSite(LATER);
    const lp = await H.popup("after-renewal", l.tabId);
    await lp.page.close();
    const p5 = [];
    if (!renewed) p5.push("the ID token was not renewed before it expired");
    else if (renewedAt > first.expiresAt) p5.push(`renewed ${renewedAt - first.expiresAt} ms after expiry`);
    if (renewed && !(renewed.expiresAt > first.expiresAt)) p5.push("the renewed token does not last longer");
    if (st2.authorize_silent < 1 || st2.login_ok !== 1) p5.push(`idp ${JSON.stringify(st2)}`);
    if (lp.state !== "relayed") p5.push(`after renewal: ${lp.state} ${lp.site}`);
    report("oidc-renewed", p5, { msBeforeExpiry: first.expiresAt - renewedAt, idp: st2 });
  } finally {
    await h.close();
    rmSync(args["policy-file"], { force: true });
  }
}

try {
  const extId = await part1();
  await part2(extId);
} catch (e) {
  report("harness", [String(e && e.stack || e)]);
} finally {
  clearTimeout(hardStop);
}
process.exit(failures ? 1 : 0);
