// api.js - talking to sedge's control API: POST /v1/credentials for a web
// origin, and what its answer means for the employee.
//
// Every answer becomes one verdict object, the single vocabulary shared by
// the service worker (cache, badge), the popup and the options page:
//
//   kind        meaning                                       badge
//   relayed     TURN credentials; media through the relay     (none)
//   recorded    policy records this site (anchor mode)        REC
//   needs-rec   policy requires recording, none possible:     REC!
//               calls are blocked (fail closed)
//   refused     policy refuses the site                       OFF
//   error       API unreachable, sign-in refused, malformed   ERR
//
// plus `reason` (words for a person), `user` (the user sedge saw, when
// the answer says so) and, for relayed/recorded, the TURN credentials.
// Pure apart from the injected fetch: Node tests use it directly.

import { fetchJson } from "./http.js";

export const NEGATIVE_TTL_MS = 30000; // a refusal is asked again after this
export const ERROR_TTL_MS = 5000; // an unreachable API is asked again after this

// The user part of a TURN REST username "<expiry>:<user>:<origin-id>"
// (the user cannot contain ':', docs/api.md).
export function userOfUsername(username) {
  const s = String(username || "");
  const a = s.indexOf(":"), b = s.lastIndexOf(":");
  return a >= 0 && b > a ? s.slice(a + 1, b) : "";
}

export function basicHeader(user, password) {
  const bytes = new TextEncoder().encode(user + ":" + password);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return "Basic " + btoa(bin);
}

// POST /v1/credentials. `auth` is the Authorization header value.
// Returns { status, body } or throws an Error with words in it.
export async function postCredentials(base, auth, origin, fetchFn = fetch) {
  try {
    return await fetchJson(base + "/v1/credentials", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: auth },
      body: JSON.stringify({ origin }),
    }, fetchFn);
  } catch (e) {
    throw new Error(`cannot reach the relay API at ${base}: ${e.message} (is the address right and its certificate trusted?)`);
  }
}

function words(body, fallback) {
  return (body && (body.reason || body.error)) || fallback;
}

// The verdict for one answer of POST /v1/credentials.
export function verdictOf(status, body, nowMs = Date.now(), refreshMargin = 0.2) {
  const b = body && typeof body === "object" ? body : null;
  if (status === 200) {
    if (!b || !Array.isArray(b.uris) || !b.uris.length || !b.username || !b.credential || !(b.ttl > 0))
      return { kind: "error", reason: "the relay API's answer is not a credential (is the URL sedge's API?)", retryMs: ERROR_TTL_MS };
    const margin = Math.min(Math.max(Number(refreshMargin) || 0.2, 0.05), 0.9);
    const lifeMs = b.ttl * 1000;
    return {
      kind: b.mode === "anchor" ? "recorded" : "relayed",
      mode: b.mode === "anchor" ? "anchor" : "turn",
      reason: b.mode === "anchor" ? "required by policy" : "",
      user: userOfUsername(b.username),
      uris: b.uris,
      iceServers: [{ urls: b.uris, username: b.username, credential: b.credential }],
      expiresAt: nowMs + lifeMs,
      refreshAt: nowMs + Math.max(lifeMs * (1 - margin), Math.min(lifeMs - 5000, lifeMs / 2)),
    };
  }
  const code = b && b.error;
  if (status === 403 && code === "recording_required")
    return { kind: "needs-rec", reason: words(b, "policy requires recording"), rule: b.rule ?? null,
      ruleName: b.rule_name || "", authOk: true, retryMs: NEGATIVE_TTL_MS };
  if (status === 403 && code === "denied_by_policy")
    return { kind: "refused", reason: words(b, "refused by policy"), authOk: true, retryMs: NEGATIVE_TTL_MS };
  if (status === 403 && code === "user_disabled")
    return { kind: "error", auth: true, reason: `your account is disabled on the relay (${words(b, "user disabled")})`, retryMs: NEGATIVE_TTL_MS };
  if (status === 403 && code === "bad_user")
    return { kind: "error", auth: true, reason: `the relay cannot use your user name: ${words(b, "bad user")}`, retryMs: NEGATIVE_TTL_MS };
  if (status === 403 && code === "origin_not_allowed")
    return { kind: "error", reason: "the relay API does not accept requests from this extension (its api.cors_origins must list chrome-extension://*)", retryMs: NEGATIVE_TTL_MS };
  if (status === 401)
    return { kind: "error", auth: true, reason: `the relay refused the sign-in: ${words(b, "unauthorized")}`, retryMs: ERROR_TTL_MS };
  if (status === 429)
    return { kind: "error", reason: `the relay asks to slow down: ${words(b, "too many requests")}`, retryMs: NEGATIVE_TTL_MS };
  if (status === 503 && code === "no_secret")
    return { kind: "error", authOk: true, reason: "the relay has no TURN secret configured yet (administrator: sedge secret add)", retryMs: ERROR_TTL_MS };
  if (!b || !code)
    return { kind: "error", reason: `the relay API answered HTTP ${status} without a sedge error (is the URL sedge's API?)`, retryMs: ERROR_TTL_MS };
  return { kind: "error", reason: `the relay API answered ${status} ${code}: ${words(b, "")}`, retryMs: ERROR_TTL_MS };
}

// Badge text and tab title for a verdict on an origin.
export function badgeOf(v, origin) {
  switch (v.kind) {
    case "relayed":
      return { text: "", title: `SecureEdge: WebRTC on ${origin} goes through the enterprise relay` };
    case "bypass":
      return { text: "", title: `SecureEdge: ${origin} is left alone by your administrator` };
    case "recorded":
      return { text: "REC", title: `SecureEdge: calls on ${origin} are recorded (${v.reason})` };
    case "needs-rec":
      return { text: "REC!", title: `SecureEdge: WebRTC blocked on ${origin}: ${v.reason}` };
    case "refused":
      return { text: "OFF", title: `SecureEdge: WebRTC blocked on ${origin}: ${v.reason}` };
    default:
      return { text: "ERR", title: `SecureEdge: WebRTC blocked on ${origin}: ${v.reason}` };
  }
}

// Which verdict a tab's badge shows when its frames got several: the one
// the employee most needs to know about.
const SEVERITY = { bypass: 0, relayed: 1, recorded: 2, refused: 3, error: 4, "needs-rec": 5 };
export function worst(verdicts) {
  let w = null;
  for (const v of verdicts) if (!w || (SEVERITY[v.kind] ?? 4) > (SEVERITY[w.kind] ?? 4)) w = v;
  return w;
}
