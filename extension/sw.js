// sw.js - SecureEdge's service worker: fetches TURN credentials from
// sedge's control API for the origin of the page that asks, caches them
// per origin until shortly before they expire, and tells the user (badge)
// when policy refuses a site.
//
// Trust: the origin is taken from the message's sender (the frame the
// content script runs in), never from the message, so a page can obtain
// credentials only for itself. The API token stays here; pages never see
// it. Configuration comes from Chrome's enterprise managed storage
// (schema.json) and, for settings the enterprise did not set, from the
// options page (chrome.storage.local).
"use strict";

const DEFAULTS = {
  apiUrl: "",
  tokenSource: "bearer",
  token: "",
  basicUser: "",
  basicPassword: "",
  bypassOrigins: [],
  refreshMargin: 0.2,
};
const NEGATIVE_TTL_MS = 30000; // a refusal is asked again after this
const ERROR_TTL_MS = 5000; // an unreachable API is asked again after this
const FETCH_TIMEOUT_MS = 10000;

const cache = new Map(); // origin -> { value, until }
const inflight = new Map(); // origin -> Promise

async function config() {
  let managed = {};
  try {
    managed = await chrome.storage.managed.get(null);
  } catch {
    managed = {}; // no enterprise policy on this machine
  }
  const local = await chrome.storage.local.get(null);
  const out = { ...DEFAULTS };
  for (const src of [local, managed]) // managed wins
    for (const k of Object.keys(DEFAULTS)) if (src[k] !== undefined && src[k] !== "") out[k] = src[k];
  return out;
}

function originMatches(pattern, origin) {
  pattern = String(pattern).toLowerCase().replace(/\/+$/, "");
  origin = origin.toLowerCase();
  const star = pattern.indexOf("://*.");
  if (star < 0) return pattern === origin;
  const scheme = pattern.slice(0, star + 3);
  const suffix = pattern.slice(star + 4); // ".example.com"
  return origin.startsWith(scheme) && origin.length > scheme.length + suffix.length &&
    origin.endsWith(suffix) && origin[scheme.length] !== ".";
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

async function setBadge(tabId, text, title) {
  if (tabId === undefined || tabId < 0) return;
  try {
    await chrome.action.setBadgeText({ tabId, text });
    if (text) await chrome.action.setBadgeBackgroundColor({ tabId, color: "#b00020" });
    await chrome.action.setTitle({ tabId, title });
  } catch {
    // the tab is gone
  }
}

function authHeader(cfg) {
  if (cfg.tokenSource === "basic") {
    if (!cfg.basicUser) return null;
    return "Basic " + btoa(unescape(encodeURIComponent(cfg.basicUser + ":" + cfg.basicPassword)));
  }
  return cfg.token ? "Bearer " + cfg.token : null;
}

async function fetchCredentials(cfg, origin) {
  const auth = authHeader(cfg);
  if (!cfg.apiUrl || !auth)
    return { ok: false, error: "SecureEdge is not configured (API URL and credentials)", retryMs: ERROR_TTL_MS };
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
  let res, body;
  try {
    res = await fetch(cfg.apiUrl.replace(/\/+$/, "") + "/v1/credentials", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: auth },
      body: JSON.stringify({ origin }),
      signal: ctl.signal,
      cache: "no-store",
      credentials: "omit",
    });
    body = await res.json().catch(() => ({}));
  } catch (e) {
    return { ok: false, error: "cannot reach the SecureEdge relay API: " + e.message, retryMs: ERROR_TTL_MS };
  } finally {
    clearTimeout(timer);
  }
  if (res.status === 403)
    return { ok: false, denied: true, error: body.reason || body.error || "refused by policy", retryMs: NEGATIVE_TTL_MS };
  if (!res.ok || !Array.isArray(body.uris) || !body.username || !body.credential || !(body.ttl > 0))
    return { ok: false, error: `credential service answered ${res.status}: ${body.error || "malformed answer"}`, retryMs: ERROR_TTL_MS };
  const margin = Math.min(Math.max(Number(cfg.refreshMargin) || 0.2, 0.05), 0.9);
  const lifeMs = body.ttl * 1000;
  return {
    ok: true,
    mode: body.mode === "anchor" ? "anchor" : "turn",
    iceServers: [{ urls: body.uris, username: body.username, credential: body.credential }],
    expiresAt: Date.now() + lifeMs,
    refreshAt: Date.now() + Math.max(lifeMs * (1 - margin), Math.min(lifeMs - 5000, lifeMs / 2)),
  };
}

async function credentialsFor(origin, refresh, tabId) {
  const cfg = await config();
  if ((cfg.bypassOrigins || []).some((p) => originMatches(p, origin))) return { ok: true, bypass: true };
  const hit = cache.get(origin);
  const nowMs = Date.now();
  if (hit && nowMs < hit.until && !(refresh && hit.value.ok && nowMs >= hit.value.refreshAt)) return hit.value;
  if (!inflight.has(origin)) {
    inflight.set(origin, fetchCredentials(cfg, origin).then((v) => {
      inflight.delete(origin);
      const until = v.ok ? v.expiresAt - 2000 : Date.now() + v.retryMs;
      cache.set(origin, { value: v, until });
      if (!v.ok) console.warn(`SecureEdge: no relay for ${origin}: ${v.error}`);
      else if (v.mode === "anchor")
        console.info(`SecureEdge: policy requires recording for ${origin}; proceeding in TURN mode`);
      return v;
    }));
  }
  const v = await inflight.get(origin);
  if (v.ok) await setBadge(tabId, "", "SecureEdge: WebRTC goes through the enterprise relay");
  else await setBadge(tabId, v.denied ? "OFF" : "ERR", `SecureEdge: WebRTC blocked on ${origin}: ${v.error}`);
  return v;
}

chrome.runtime.onMessage.addListener((msg, sender, sendResponse) => {
  if (sender.id !== chrome.runtime.id || !msg || msg.type !== "credentials") return false;
  const origin = senderOrigin(sender);
  if (!origin) {
    sendResponse({ ok: false, error: "this frame has no origin" });
    return false;
  }
  credentialsFor(origin, msg.refresh === true, sender.tab ? sender.tab.id : undefined)
    .then((v) => {
      const { retryMs, denied, ...forPage } = v;
      sendResponse(forPage);
    })
    .catch((e) => sendResponse({ ok: false, error: String(e) }));
  return true; // answered asynchronously
});

// Settings changed: drop cached credentials (a new API or token).
chrome.storage.onChanged.addListener(() => {
  cache.clear();
});
