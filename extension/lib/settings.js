// settings.js - SecureEdge's settings: names, defaults, and how the
// administrator's managed storage and the employee's options combine.
//
// The keys are an admin contract (schema.json, docs/extension.md): their
// names and meanings never change; new ones are added. For every key the
// administrator set in managed storage, that value wins; for the others,
// the employee's options page (chrome.storage.local) applies. Exception:
// `bypassOrigins` ("origins left alone") is read from managed storage
// only, because an exemption takes a site out of the relay and possibly
// out of recording, which is the administrator's decision alone.
//
// Pure functions: nothing here touches chrome.*, so Node tests import it.

export const DEFAULTS = Object.freeze({
  apiUrl: "",
  tokenSource: "bearer", // "bearer" | "basic" | "oidc"
  token: "",
  basicUser: "",
  basicPassword: "",
  bypassOrigins: [],
  refreshMargin: 0.2,
  oidcIssuer: "",
  oidcClientId: "",
  oidcScopes: "openid email profile",
});

export const TOKEN_SOURCES = ["bearer", "basic", "oidc"];

// Keys only the administrator may set: local values are ignored.
export const MANAGED_ONLY = ["bypassOrigins", "refreshMargin"];

// The keys the options page may store.
export const LOCAL_KEYS = Object.keys(DEFAULTS).filter((k) => !MANAGED_ONLY.includes(k));

function usable(v) {
  return v !== undefined && v !== null && v !== "";
}

// merge(managed, local) -> { settings, managedKeys }. Unknown keys and
// values of the wrong type are ignored (the defaults stay).
export function merge(managed, local) {
  const out = { ...DEFAULTS, bypassOrigins: [] };
  const managedKeys = [];
  const take = (src, k) => {
    const v = src[k];
    if (!usable(v)) return false;
    if (Array.isArray(DEFAULTS[k])) {
      if (!Array.isArray(v)) return false;
      out[k] = v.filter((s) => typeof s === "string" && s.trim() !== "").map((s) => s.trim());
    } else if (typeof DEFAULTS[k] === "number") {
      if (typeof v !== "number" || !Number.isFinite(v)) return false;
      out[k] = v;
    } else {
      if (typeof v !== "string") return false;
      if (k === "tokenSource" && !TOKEN_SOURCES.includes(v)) return false;
      out[k] = v.trim();
    }
    return true;
  };
  for (const k of Object.keys(DEFAULTS)) {
    if (!MANAGED_ONLY.includes(k) && local) take(local, k);
    if (managed && take(managed, k)) managedKeys.push(k);
  }
  return { settings: out, managedKeys };
}

// Does an origin match an exemption pattern: an exact origin, or
// "scheme://*.domain" for any subdomain (not the domain itself).
export function originMatches(pattern, origin) {
  pattern = String(pattern).toLowerCase().replace(/\/+$/, "");
  origin = String(origin).toLowerCase();
  const star = pattern.indexOf("://*.");
  if (star < 0) return pattern === origin;
  const scheme = pattern.slice(0, star + 3);
  const suffix = pattern.slice(star + 4); // ".example.com"
  return origin.startsWith(scheme) && origin.length > scheme.length + suffix.length &&
    origin.endsWith(suffix) && origin[scheme.length] !== ".";
}

export function isBypassed(settings, origin) {
  return (settings.bypassOrigins || []).some((p) => originMatches(p, origin));
}

// The API base URL without trailing slashes, or "" when unusable.
export function apiBase(settings) {
  let u;
  try {
    u = new URL(settings.apiUrl);
  } catch {
    return "";
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") return "";
  return (u.origin + u.pathname).replace(/\/+$/, "");
}

// What is missing before the extension can ask the API anything; "" when
// nothing is. (OIDC's sign-in state is checked elsewhere.)
export function missing(settings) {
  if (!settings.apiUrl) return "the relay API URL is not set";
  if (!apiBase(settings)) return `the relay API URL "${settings.apiUrl}" is not an http(s) URL`;
  switch (settings.tokenSource) {
    case "basic":
      return settings.basicUser ? "" : "no local sedge user is set";
    case "oidc":
      if (!settings.oidcIssuer) return "the identity provider (OIDC issuer) is not set";
      return settings.oidcClientId ? "" : "the identity provider's client id is not set";
    default:
      return settings.token ? "" : "no bearer token is set";
  }
}
