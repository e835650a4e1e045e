// popup.js - the toolbar popup: who the employee is signed in as, which
// relay is used, what happens to WebRTC on this tab's site (relayed,
// recorded, refused with the policy's reason, or why nothing works), and
// the last error in words. Everything comes from the service worker
// ("status"); the popup holds no secrets and decides nothing.
//
// `popup.html?tab=N` shows tab N instead of the active tab (the tests
// open the popup as a page to screenshot it).
import { describe, ago } from "./lib/words.js";

const $ = (id) => document.getElementById(id);

async function tabId() {
  const q = new URLSearchParams(location.search).get("tab");
  if (q && /^\d+$/.test(q)) return Number(q);
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  return tab ? tab.id : -1;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function render(st) {
  const site = $("site");
  site.replaceChildren();
  const d = describe(st.site, st);
  site.className = "verdict " + d.cls;
  site.append(el("div", "head", d.head));
  if (st.site) site.append(el("div", "origin", st.site.origin));
  site.append(el("div", "why", d.why));

  // Calls going through the recording anchor right now: the notice the
  // page cannot hide.
  const calls = $("calls");
  calls.replaceChildren();
  const rec = (st.calls || []).filter((c) => c.record);
  calls.hidden = rec.length === 0;
  if (rec.length) {
    calls.append(el("span", "", rec.length === 1 ? "● This call is being recorded" : `● ${rec.length} calls on this page are being recorded`));
    for (const c of rec)
      calls.append(el("div", "", `since ${new Date(c.since).toLocaleTimeString()}${c.rule ? ", policy " + c.rule : ""}${c.state === "live" ? "" : " (connecting)"}`));
  }

  const id = st.identity;
  const who = $("who");
  who.replaceChildren();
  if (!st.configured && !(id.method === "oidc" && st.missing === "")) {
    who.append(el("span", "muted", "not set up"));
  } else if (!id.signedIn) {
    who.append(el("span", "muted", id.method === "oidc" ? "not signed in" : "sign-in expired"));
  } else {
    const main = id.display || id.confirmed || "(token without a name)";
    who.append(el("span", "", main));
    if (id.name && id.name !== main) who.append(el("span", "muted", ` (${id.name})`));
    if (id.method === "basic") who.append(el("span", "muted", " · local sedge user"));
    if (id.confirmed && id.confirmed !== main) who.append(el("div", "muted", `sedge knows you as ${id.confirmed}`));
    if (id.method === "oidc" && id.expiresAt) who.append(el("div", "muted", `renewed automatically (token valid until ${new Date(id.expiresAt).toLocaleTimeString()})`));
  }

  const relay = $("relay");
  relay.replaceChildren();
  if (!st.api) relay.append(el("span", "muted", "not set"));
  else {
    relay.append(el("div", "", st.api));
    if (st.turn.length) relay.append(el("div", "muted", "media: " + [...new Set(st.turn.map((u) => u.replace(/^turns?:/, "")))].join(", ")));
  }

  const frames = $("frames");
  frames.replaceChildren();
  frames.hidden = st.frames.length === 0;
  if (st.frames.length) {
    frames.append(el("div", "", "Frames on this page:"));
    for (const f of st.frames) {
      const fd = describe(f, st);
      frames.append(el("div", "", `${f.origin}: ${fd.head.toLowerCase()}${f.reason ? " (" + f.reason + ")" : ""}`));
    }
  }

  const err = $("error");
  err.hidden = !st.lastError;
  if (st.lastError) err.textContent = `Last error, ${ago(st.lastError.at)}: ${st.lastError.text}`;

  $("signin").hidden = !(id.method === "oidc" && !id.signedIn && st.configured);
  $("signout").hidden = !(id.method === "oidc" && id.signedIn);
  $("main").setAttribute("aria-busy", "false");
  document.body.dataset.state = d.cls + (d.sub ? "-" + d.sub : "");
}

async function refresh() {
  const st = await chrome.runtime.sendMessage({ type: "status", tabId: await tabId() });
  if (!st || st.ok === false) {
    $("site").textContent = "SecureEdge's service worker did not answer: " + ((st && st.error) || "no answer");
    return;
  }
  render(st);
}

$("settings").addEventListener("click", () => chrome.runtime.openOptionsPage());
$("signin").addEventListener("click", async () => {
  $("signin").disabled = true;
  const r = await chrome.runtime.sendMessage({ type: "signIn", interactive: true });
  $("signin").disabled = false;
  await refresh();
  if (!r.ok) {
    $("error").hidden = false;
    $("error").textContent = "Sign-in failed: " + r.error;
  }
});
$("signout").addEventListener("click", async () => {
  await chrome.runtime.sendMessage({ type: "signOut" });
  await refresh();
});
refresh();
