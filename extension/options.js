// options.js - the settings page. Settings the administrator set through
// managed storage win and are shown read-only; the employee's own go to
// chrome.storage.local, but only after the service worker checked them
// against the relay's API ("check"): a wrong password or an unreachable
// API says so and saves nothing (unless the employee insists, for an API
// that is down right now). "Origins left alone" can only be set by the
// administrator and are only listed here.
import { LOCAL_KEYS } from "./lib/settings.js";

const $ = (id) => document.getElementById(id);
const FIELDS = LOCAL_KEYS; // apiUrl, tokenSource, token, basicUser, basicPassword, oidc*
let managed = {};

function say(cls, text) {
  $("status").className = cls;
  $("status").textContent = text;
}

function showFieldsFor() {
  const src = $("tokenSource").value;
  $("oidc-fields").hidden = src !== "oidc";
  $("bearer-fields").hidden = src !== "bearer";
  $("basic-fields").hidden = src !== "basic";
}

async function load() {
  try {
    managed = await chrome.storage.managed.get(null);
  } catch {
    managed = {};
  }
  const local = await chrome.storage.local.get(FIELDS);
  for (const k of FIELDS) {
    const el = $(k);
    const v = managed[k] !== undefined ? managed[k] : local[k];
    if (v !== undefined) el.value = v;
    if (managed[k] !== undefined) {
      el.disabled = true;
      const label = document.querySelector(`label[for="${k}"]`);
      if (label) label.insertAdjacentHTML("beforeend", ' <span class="managed">(set by your administrator)</span>');
    }
  }
  if (!$("tokenSource").value) $("tokenSource").value = "bearer";
  const bypass = Array.isArray(managed.bypassOrigins) ? managed.bypassOrigins : [];
  $("bypass").hidden = bypass.length === 0;
  $("bypassHint").hidden = bypass.length === 0;
  $("bypassNone").hidden = bypass.length > 0;
  for (const o of bypass) {
    const li = document.createElement("li");
    li.textContent = o;
    $("bypass").append(li);
  }
  const r = await chrome.runtime.sendMessage({ type: "redirectUri" });
  $("redirectUri").textContent = r && r.uri ? r.uri : "";
  showFieldsFor();
  await showAccount();
}

// The OIDC account: who is signed in, with a button to sign in or out.
async function showAccount() {
  const st = await chrome.runtime.sendMessage({ type: "status", tabId: -1 });
  const id = st && st.identity;
  const inOk = !!(id && id.method === "oidc" && id.signedIn);
  $("accountText").textContent = inOk ? `Signed in as ${id.display}${id.name && id.name !== id.display ? " (" + id.name + ")" : ""}.`
    : id && id.method === "oidc" ? "Not signed in." : "Save the settings, then sign in.";
  $("signin").hidden = inOk || !(id && id.method === "oidc" && st.configured);
  $("signout").hidden = !inOk;
}

function values() {
  const out = {};
  for (const k of FIELDS) {
    const el = $(k);
    if (!el.disabled) out[k] = el.value.trim();
  }
  return out;
}

async function save(force) {
  const v = values();
  $("saveAnyway").hidden = true;
  say("busy", "Checking with the relay…");
  const r = await chrome.runtime.sendMessage({ type: "check", values: v });
  if (!r || (!r.ok && !force)) {
    say("bad", (r && r.message) || "Not saved: the extension did not answer.");
    if (r && r.unreachable) $("saveAnyway").hidden = false;
    return;
  }
  await chrome.storage.local.set(v);
  if (!r.ok) say("bad", r.message.replace(/^Not saved: /, "Saved anyway, but ") + " Calls stay blocked until the relay answers.");
  else say("ok", r.message);
  await showAccount();
}

$("tokenSource").addEventListener("change", showFieldsFor);
$("form").addEventListener("submit", (e) => {
  e.preventDefault();
  save(false);
});
$("saveAnyway").addEventListener("click", () => save(true));
$("signin").addEventListener("click", async () => {
  say("busy", "Signing in…");
  const r = await chrome.runtime.sendMessage({ type: "signIn", interactive: true });
  await showAccount();
  if (!r.ok) return say("bad", "Sign-in failed: " + r.error);
  say("ok", `Signed in as ${r.who}.`);
});
$("signout").addEventListener("click", async () => {
  await chrome.runtime.sendMessage({ type: "signOut" });
  await showAccount();
  say("ok", "Signed out. Calls are blocked until you sign in again.");
});

load();
