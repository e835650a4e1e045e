// sw.js - SecureEdge's service worker: fetches TURN credentials from
// sedge's control API for the origin of the page that asks, caches them
// per origin until shortly before they expire, signs the employee in with
// the enterprise identity provider, and tells the employee what happens
// on each site (badge, icon, title, popup).
//
// Trust: the origin is taken from the message's sender (the frame the
// content script runs in), never from the message, so a page can obtain
// credentials only for itself. Tokens and passwords stay here; pages
// never see them. Content scripts may ask for credentials and nothing
// else; the popup and the options page (the extension's own origin) may
// also ask for status, sign in and out, and check settings.
//
// State that must outlive the worker (Chrome stops it when idle) lives in
// chrome.storage.session: the OIDC tokens, each tab's verdicts, the last
// error and the user sedge last confirmed. The credential cache is only
// in memory; losing it costs one API request.
//
// Fail closed: anything but a clear "relay this" or an exemption by the
// administrator (never for a site whose policy records) leaves the page
// with no ICE servers and a relay-only policy, so nothing is gathered.
import { merge, isBypassed, apiBase, missing, LOCAL_KEYS } from "./lib/settings.js";
import { postCredentials, verdictOf, basicHeader, badgeOf, worst, ERROR_TTL_MS } from "./lib/api.js";
import * as oidc from "./lib/oidc.js";
import { makeAnchorService } from "./sw-anchor.js";

// Anchor mode (recording): the page wrapper sends each call's SDP through
// sedge's anchor (sw-anchor.js). Without it a site whose policy records
// would be blocked (REC!).
const ANCHOR_SUPPORTED = true;
const RENEW_ALARM = "sedge-oidc-renew";
const SILENT_TIMEOUT_MS = 15000;
const BADGE_COLORS = { REC: "#c5221f", "REC!": "#c5221f", OFF: "#5f6368", ERR: "#b06000" };

const cache = new Map(); // origin -> { value, until }
const inflight = new Map(); // origin -> Promise
const extOrigin = new URL(chrome.runtime.getURL("")).origin;

// ---- settings ----
async function readManaged() {
  try {
    return await chrome.storage.managed.get(null);
  } catch {
    return {}; // no enterprise policy on this machine
  }
}

async function settings(localOverride) {
  const managed = await readManaged();
  const local = localOverride || (await chrome.storage.local.get(LOCAL_KEYS));
  return merge(managed, local);
}

// ---- session state (survives the worker) ----
let sessionChain = Promise.resolve();
function updateSession(key, fn) {
  sessionChain = sessionChain.then(async () => {
    const cur = (await chrome.storage.session.get(key))[key];
    const next = fn(cur);
    if (next === undefined) await chrome.storage.session.remove(key);
    else await chrome.storage.session.set({ [key]: next });
  }).catch((e) => console.warn("SecureEdge: session state:", e));
  return sessionChain;
}

async function getSession(key) {
  await sessionChain;
  return (await chrome.storage.session.get(key))[key];
}

function noteError(text, origin) {
  return updateSession("lastError", () => ({ text, origin: origin || "", at: Date.now() }));
}

// ---- signing in (OIDC) ----
let renewing = null;

function redirectUri() {
  return chrome.identity.getRedirectURL();
}

function launch(url, interactive) {
  const opts = { url, interactive };
  if (!interactive) {
    opts.abortOnLoadForNonInteractive = true;
    opts.timeoutMsForNonInteractive = SILENT_TIMEOUT_MS;
  }
  return chrome.identity.launchWebAuthFlow(opts);
}

function sameIdp(ts, cfg) {
  return ts && ts.issuer === cfg.oidcIssuer && ts.clientId === cfg.oidcClientId;
}

async function storeTokens(ts) {
  await updateSession("oidc", () => ts);
  cache.clear();
  if (ts) await chrome.alarms.create(RENEW_ALARM, { when: Math.max(Date.now() + 1000, ts.renewAt) });
  else await chrome.alarms.clear(RENEW_ALARM);
}

async function signIn(cfg, interactive) {
  const ts = await oidc.signIn(cfg, { launch, redirectUri: redirectUri(), interactive });
  await storeTokens(ts);
  return ts;
}

// Renew: the refresh token if the IdP gave one, else a silent sign-in
// (prompt=none). A token still valid is kept when renewal fails.
function renew(cfg, ts) {
  if (renewing) return renewing;
  renewing = (async () => {
    let err = null;
    if (ts && ts.refreshToken) {
      try {
        const n = await oidc.refresh(cfg, ts);
        await storeTokens(n);
        return n;
      } catch (e) {
        err = e;
      }
    }
    try {
      return await signIn(cfg, false);
    } catch (e) {
      err = err || e;
      const still = ts && Date.now() < ts.expiresAt - 5000;
      await noteError(`renewing the sign-in failed: ${e.message || e}` + (still ? "" : "; sign in again"));
      if (still) {
        await chrome.alarms.create(RENEW_ALARM, { when: Date.now() + Math.min(60000, Math.max(5000, (ts.expiresAt - Date.now()) / 4)) });
        return ts;
      }
      await storeTokens(null);
      throw new Error("your sign-in expired and could not be renewed: " + (e.message || e));
    }
  })().finally(() => {
    renewing = null;
  });
  return renewing;
}

// The current ID token for cfg's IdP, renewed first when due; null when
// the employee is not signed in.
async function idToken(cfg) {
  let ts = await getSession("oidc");
  if (!ts || !sameIdp(ts, cfg)) return null; // signed in elsewhere: not for this IdP
  if (Date.now() >= ts.renewAt) {
    try {
      ts = await renew(cfg, ts);
    } catch {
      return null;
    }
  }
  return ts.idToken;
}

// The Authorization header for the API, or { error } in words.
async function authorization(cfg) {
  if (cfg.tokenSource === "basic") return { header: basicHeader(cfg.basicUser, cfg.basicPassword) };
  if (cfg.tokenSource === "oidc") {
    const t = await idToken(cfg);
    return t ? { header: "Bearer " + t }
      : { error: "you are not signed in: click the SecureEdge icon and sign in", signedOut: true };
  }
  return { header: "Bearer " + cfg.token };
}

// ---- credentials and verdicts ----
async function askApi(cfg, origin) {
  const miss = missing(cfg);
  if (miss) return { kind: "error", unconfigured: true, reason: "SecureEdge is not set up: " + miss, retryMs: ERROR_TTL_MS };
  let auth = await authorization(cfg);
  if (auth.error) return { kind: "error", signedOut: auth.signedOut, reason: auth.error, retryMs: ERROR_TTL_MS };
  let v;
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await postCredentials(apiBase(cfg), auth.header, origin);
      v = verdictOf(r.status, r.body, Date.now(), cfg.refreshMargin);
      // An IdP token refused once (a key rotated, a clock off): renew and retry.
      if (r.status === 401 && cfg.tokenSource === "oidc" && attempt === 0) {
        const ts = await getSession("oidc");
        if (ts) {
          try {
            await renew(cfg, { ...ts, renewAt: 0 });
            auth = await authorization(cfg);
            if (!auth.error) continue;
          } catch {
            // fall through with the 401's verdict
          }
        }
      }
    } catch (e) {
      v = { kind: "error", reason: e.message || String(e), retryMs: ERROR_TTL_MS };
    }
    return v;
  }
}

// Policy's verdict turned into what this extension does with it.
function decide(cfg, origin, v) {
  if (v.kind === "recorded" && !ANCHOR_SUPPORTED)
    v = { ...v, kind: "needs-rec", reason: `${v.reason}, and this version of SecureEdge cannot record calls yet`, retryMs: 30000 };
  // The administrator's exemption, never for a site whose policy records;
  // an unanswered question (error) stays closed.
  if (isBypassed(cfg, origin) && (v.kind === "relayed" || v.kind === "refused"))
    return { kind: "bypass", reason: "left alone by your administrator", user: v.user, expiresAt: v.expiresAt, retryMs: v.retryMs };
  if (isBypassed(cfg, origin) && (v.kind === "recorded" || v.kind === "needs-rec"))
    return { ...v, reason: v.reason + " (your administrator exempts this site, but not from recording)" };
  return v;
}

async function verdictFor(origin, refresh) {
  const { settings: cfg } = await settings();
  const hit = cache.get(origin);
  const nowMs = Date.now();
  if (hit && nowMs < hit.until && !(refresh && hit.value.refreshAt && nowMs >= hit.value.refreshAt)) return hit.value;
  if (!inflight.has(origin)) {
    inflight.set(origin, askApi(cfg, origin).then((raw) => {
      const v = decide(cfg, origin, raw);
      const until = v.expiresAt ? v.expiresAt - 2000 : Date.now() + (v.retryMs || ERROR_TTL_MS);
      cache.set(origin, { value: v, until });
      if (v.kind === "error") {
        console.warn(`SecureEdge: no relay for ${origin}: ${v.reason}`);
        noteError(v.reason, origin);
      }
      if (v.user) updateSession("who", () => ({ user: v.user, at: Date.now() }));
      return v;
    }).finally(() => inflight.delete(origin)));
  }
  return inflight.get(origin);
}

// ---- what the employee sees: badge, icon, title per tab ----
function iconSet(kind) {
  const variant = kind === "recorded" ? "rec" : kind === "relayed" || kind === "bypass" ? "" : "off";
  const name = variant ? `sedge-${variant}` : "sedge";
  return { 16: `icons/${name}-16.png`, 32: `icons/${name}-32.png` };
}

async function showTab(tabId) {
  if (tabId === undefined || tabId < 0) return;
  const st = await getSession("tab:" + tabId);
  if (!st) return;
  const entries = Object.entries(st.origins || {});
  const w = worst(entries.map(([, v]) => v));
  if (!w) return;
  const origin = entries.find(([, v]) => v === w)[0];
  const b = badgeOf(w, origin);
  try {
    await chrome.action.setBadgeText({ tabId, text: b.text });
    if (b.text) await chrome.action.setBadgeBackgroundColor({ tabId, color: BADGE_COLORS[b.text] || "#b06000" });
    await chrome.action.setTitle({ tabId, title: entries.length > 1 ? b.title + ` (+${entries.length - 1} more on this page)` : b.title });
    await chrome.action.setIcon({ tabId, path: iconSet(w.kind) });
  } catch {
    // the tab is gone
  }
}

function summary(v) {
  const s = { kind: v.kind, reason: v.reason || "", at: Date.now() };
  if (v.user) s.user = v.user;
  if (v.unconfigured) s.unconfigured = true;
  if (v.live) s.live = true;
  if (v.signedOut) s.signedOut = true;
  return s;
}

async function noteTab(tabId, origin, top, v) {
  if (tabId === undefined || tabId < 0) return;
  await updateSession("tab:" + tabId, (cur) => {
    const st = cur || { origins: {} };
    st.origins[origin] = { ...summary(v), top: top || (st.origins[origin] && st.origins[origin].top) || false };
    return st;
  });
  await showTab(tabId);
}

function forPage(v) {
  if (v.kind === "bypass") return { ok: true, bypass: true };
  if (v.kind === "relayed") return { ok: true, mode: "turn", iceServers: v.iceServers, refreshAt: v.refreshAt };
  if (v.kind === "recorded" && ANCHOR_SUPPORTED)
    return { ok: true, mode: "anchor", iceServers: v.iceServers, refreshAt: v.refreshAt };
  // The page asks again after this (a sign-in or a policy change later).
  return { ok: false, error: v.reason, retryAt: Date.now() + (v.retryMs || ERROR_TTL_MS) };
}

function senderOrigin(sender) {
  let o = sender.origin;
  if (!o && sender.url) {
    try {
      o = new URL(sender.url).origin;
    } catch {
      o = "";
    }
  }
  return o && o !== "null" ? o : "";
}

// ---- the popup's and the options page's questions ----
async function identity(cfg) {
  const who = await getSession("who");
  const out = { method: cfg.tokenSource, confirmed: who ? who.user : "", display: "", name: "", signedIn: false };
  if (cfg.tokenSource === "basic") {
    out.display = cfg.basicUser;
    out.signedIn = !!cfg.basicUser;
  } else if (cfg.tokenSource === "oidc") {
    const ts = await getSession("oidc");
    if (ts && sameIdp(ts, cfg) && Date.now() < ts.expiresAt) {
      out.display = oidc.displayName(ts.claims);
      out.name = ts.claims.name || "";
      out.signedIn = true;
      out.expiresAt = ts.expiresAt;
    }
  } else if (cfg.token) {
    try {
      const c = oidc.decodeJwtPayload(cfg.token);
      out.display = oidc.displayName(c);
      out.name = c.name || "";
      out.expiresAt = typeof c.exp === "number" ? c.exp * 1000 : undefined;
      out.signedIn = !out.expiresAt || Date.now() < out.expiresAt;
    } catch {
      out.signedIn = true; // an opaque token: the API decides
    }
  }
  return out;
}

async function status(tabId) {
  const { settings: cfg, managedKeys } = await settings();
  let tab = null;
  try {
    tab = await chrome.tabs.get(tabId);
  } catch {
    tab = null;
  }
  let top = "";
  try {
    const u = new URL(tab && tab.url ? tab.url : "");
    if (u.protocol === "https:" || u.protocol === "http:") top = u.origin;
  } catch {
    top = "";
  }
  // The top origin's verdict as of now (usually from the cache; asked
  // when the page was opened before the extension ran, or after a sign-in).
  if (top) await noteTab(tabId, top, true, await verdictFor(top, false));
  const st = (await getSession("tab:" + tabId)) || { origins: {} };
  const frames = Object.entries(st.origins).filter(([o]) => o !== top).map(([o, v]) => ({ origin: o, ...v }));
  const base = apiBase(cfg);
  const turn = [...cache.values()].map((c) => c.value.uris).find((u) => Array.isArray(u));
  return {
    configured: !missing(cfg),
    missing: missing(cfg),
    managed: managedKeys.length > 0,
    api: base,
    turn: turn ? turn.map((u) => u.replace(/\?.*$/, "")) : [],
    identity: await identity(cfg),
    site: top ? { origin: top, ...st.origins[top] } : null,
    frames,
    calls: tabId >= 0 ? await anchors.callsOf(tabId) : [],
    lastError: (await getSession("lastError")) || null,
  };
}

// Check settings the options page is about to save: are they complete,
// does the API answer, does it accept the sign-in?
async function check(values) {
  const { settings: cfg } = await settings(values);
  const miss = missing(cfg);
  if (miss) return { ok: false, message: "Not saved: " + miss + "." };
  const auth = await authorization(cfg);
  if (auth.error) return { ok: true, needsSignIn: true, message: "Saved. Now sign in with your identity provider." };
  const origin = new URL(apiBase(cfg)).origin;
  let r;
  try {
    r = await postCredentials(apiBase(cfg), auth.header, origin);
  } catch (e) {
    return { ok: false, unreachable: true, message: "Not saved: " + e.message + "." };
  }
  const v = verdictOf(r.status, r.body, Date.now(), cfg.refreshMargin);
  if (v.kind === "relayed" || v.kind === "recorded")
    return { ok: true, user: v.user, message: `Saved. The relay at ${apiBase(cfg)} accepts you as ${v.user}.` };
  if (v.authOk)
    return { ok: true, message: `Saved. The relay at ${apiBase(cfg)} accepted the sign-in (${v.reason}).` };
  return { ok: false, message: "Not saved: " + v.reason + "." };
}

async function handlePrivileged(msg) {
  switch (msg.type) {
    case "status":
      return status(msg.tabId);
    case "check":
      return check(msg.values || {});
    case "signIn": {
      const { settings: cfg } = await settings();
      if (cfg.tokenSource !== "oidc") return { ok: false, error: "sign-in with an identity provider is not configured" };
      const miss = missing(cfg);
      if (miss) return { ok: false, error: "SecureEdge is not set up: " + miss };
      try {
        const ts = await signIn(cfg, msg.interactive !== false);
        await updateSession("lastError", () => undefined);
        return { ok: true, who: oidc.displayName(ts.claims), expiresAt: ts.expiresAt };
      } catch (e) {
        await noteError("sign-in failed: " + (e.message || e));
        return { ok: false, error: e.message || String(e) };
      }
    }
    case "signOut":
      await storeTokens(null);
      await updateSession("who", () => undefined);
      return { ok: true };
    case "redirectUri":
      return { uri: redirectUri() };
    default:
      return { ok: false, error: "unknown request" };
  }
}

const anchors = makeAnchorService({
  settings, authorization, verdictFor, noteTab, noteError, updateSession, getSession, senderOrigin,
  forget: (origin) => cache.delete(origin),
});

chrome.runtime.onMessage.addListener((msg, sender, sendResponse) => {
  if (sender.id !== chrome.runtime.id || !msg || typeof msg.type !== "string") return false;
  if (msg.type === "anchor") {
    const origin = senderOrigin(sender);
    if (!origin || origin === extOrigin || !sender.tab) {
      sendResponse({ ok: false, error: "this frame has no web origin" });
      return false;
    }
    anchors.handle(msg, sender)
      .then(sendResponse)
      .catch((e) => sendResponse({ ok: false, error: String(e && e.message || e) }));
    return true;
  }
  if (msg.type === "credentials") {
    const origin = senderOrigin(sender);
    if (!origin || origin === extOrigin) {
      sendResponse({ ok: false, error: "this frame has no web origin" });
      return false;
    }
    const tabId = sender.tab ? sender.tab.id : undefined;
    verdictFor(origin, msg.refresh === true)
      .then(async (v) => {
        await noteTab(tabId, origin, sender.frameId === 0, v);
        sendResponse(forPage(v));
      })
      .catch((e) => sendResponse({ ok: false, error: String(e) }));
    return true; // answered asynchronously
  }
  // Everything else only from the extension's own pages.
  if (senderOrigin(sender) !== extOrigin) return false;
  handlePrivileged(msg)
    .then(sendResponse)
    .catch((e) => sendResponse({ ok: false, error: String(e && e.message || e) }));
  return true;
});

// Settings changed: drop cached credentials (a new API, token or IdP).
// An error from the old settings is no longer the last word.
chrome.storage.onChanged.addListener((changes, area) => {
  if (area !== "local" && area !== "managed") return;
  cache.clear();
  updateSession("lastError", () => undefined);
});

chrome.alarms.onAlarm.addListener(async (a) => {
  if (a.name !== RENEW_ALARM) return;
  const { settings: cfg } = await settings();
  const ts = await getSession("oidc");
  if (cfg.tokenSource === "oidc" && ts && sameIdp(ts, cfg)) renew(cfg, ts).catch(() => {});
});

// A tab's verdicts belong to the page it shows.
chrome.tabs.onUpdated.addListener((tabId, info) => {
  if (info.status === "loading" && info.url) updateSession("tab:" + tabId, () => undefined);
});
chrome.tabs.onRemoved.addListener((tabId) => {
  updateSession("tab:" + tabId, () => undefined);
});

// A new browser session: sign in silently when the IdP still knows the
// employee. A fresh install nobody configured: show the settings.
async function onStart(reason) {
  const { settings: cfg, managedKeys } = await settings();
  if (cfg.tokenSource === "oidc" && !missing(cfg) && !(await getSession("oidc")))
    signIn(cfg, false).catch(() => {});
  if (reason === "install" && missing(cfg) && managedKeys.length === 0) chrome.runtime.openOptionsPage();
}
chrome.runtime.onStartup.addListener(() => onStart("startup"));
chrome.runtime.onInstalled.addListener((d) => onStart(d.reason));
