// lib.test.mjs - the extension's pure modules (extension/lib/*.js) under
// Node's test runner: how settings combine, what each API answer means,
// what the popup says, and the OIDC client's checks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { merge, originMatches, isBypassed, missing, apiBase, LOCAL_KEYS, DEFAULTS } from "../../extension/lib/settings.js";
import { verdictOf, userOfUsername, basicHeader, badgeOf, worst } from "../../extension/lib/api.js";
import { describe as words } from "../../extension/lib/words.js";
import * as oidc from "../../extension/lib/oidc.js";

test("existing settings keys keep their names and defaults", () => {
  for (const k of ["apiUrl", "tokenSource", "token", "basicUser", "basicPassword", "bypassOrigins", "refreshMargin"])
    assert.ok(k in DEFAULTS, k);
  assert.equal(DEFAULTS.tokenSource, "bearer");
  assert.equal(DEFAULTS.refreshMargin, 0.2);
});

test("managed storage wins key by key; local fills the rest", () => {
  const { settings, managedKeys } = merge({ apiUrl: "https://m.example:8443" }, { apiUrl: "https://l.example", tokenSource: "basic", basicUser: "bob" });
  assert.equal(settings.apiUrl, "https://m.example:8443");
  assert.equal(settings.tokenSource, "basic");
  assert.equal(settings.basicUser, "bob");
  assert.deepEqual(managedKeys, ["apiUrl"]);
});

test("only the administrator exempts origins", () => {
  const { settings } = merge({}, { bypassOrigins: ["https://evil.example"], refreshMargin: 0.9 });
  assert.deepEqual(settings.bypassOrigins, []);
  assert.equal(settings.refreshMargin, 0.2);
  assert.ok(!LOCAL_KEYS.includes("bypassOrigins"));
  const m = merge({ bypassOrigins: ["https://*.corp.example", 7, ""] }, {}).settings;
  assert.deepEqual(m.bypassOrigins, ["https://*.corp.example"]);
  assert.ok(isBypassed(m, "https://meet.corp.example"));
  assert.ok(!isBypassed(m, "https://corp.example"));
});

test("wrong types and unknown token sources are ignored", () => {
  const { settings } = merge({ tokenSource: "magic", apiUrl: 5 }, { tokenSource: "oidc" });
  assert.equal(settings.tokenSource, "oidc");
  assert.equal(settings.apiUrl, "");
});

test("origin patterns", () => {
  assert.ok(originMatches("https://a.example/", "https://a.example"));
  assert.ok(originMatches("https://*.example.com", "https://x.y.example.com"));
  assert.ok(!originMatches("https://*.example.com", "https://example.com"));
  assert.ok(!originMatches("https://*.example.com", "http://x.example.com"));
  assert.ok(!originMatches("https://*.example.com", "https://xexample.com"));
});

test("what is missing before the API can be asked", () => {
  assert.match(missing(merge({}, {}).settings), /API URL is not set/);
  assert.match(missing(merge({}, { apiUrl: "ftp://x" }).settings), /not an http/);
  assert.match(missing(merge({}, { apiUrl: "https://x" }).settings), /bearer token/);
  assert.match(missing(merge({}, { apiUrl: "https://x", tokenSource: "oidc" }).settings), /issuer/);
  assert.equal(missing(merge({}, { apiUrl: "https://x", tokenSource: "oidc", oidcIssuer: "https://i", oidcClientId: "c" }).settings), "");
  assert.equal(apiBase({ apiUrl: "https://x:8443/sedge/" }), "https://x:8443/sedge");
});

test("API answers become verdicts", () => {
  const ok = verdictOf(200, { username: "1767225600:alice@corp.example:aHR0", credential: "c", ttl: 100, uris: ["turn:h:3478?transport=udp"], mode: "turn" }, 1000);
  assert.equal(ok.kind, "relayed");
  assert.equal(ok.user, "alice@corp.example");
  assert.equal(ok.expiresAt, 101000);
  assert.ok(ok.refreshAt > 1000 && ok.refreshAt < ok.expiresAt);
  assert.equal(verdictOf(200, { username: "1:a:b", credential: "c", ttl: 9, uris: ["x"], mode: "anchor" }).kind, "recorded");
  assert.equal(verdictOf(200, { hello: 1 }).kind, "error");
  const refused = verdictOf(403, { error: "denied_by_policy", reason: "refused by policy rule #7 contractors" });
  assert.equal(refused.kind, "refused");
  assert.equal(refused.reason, "refused by policy rule #7 contractors");
  assert.equal(verdictOf(403, { error: "recording_required", reason: "policy rule #5 rec requires recording", rule: 5 }).kind, "needs-rec");
  const wrong = verdictOf(401, { error: "unauthorized", reason: "unknown user or wrong password" });
  assert.equal(wrong.kind, "error");
  assert.ok(wrong.auth);
  assert.match(wrong.reason, /wrong password/);
  assert.match(verdictOf(403, { error: "user_disabled", reason: "user bob is disabled" }).reason, /disabled/);
  assert.match(verdictOf(403, { error: "origin_not_allowed" }).reason, /cors_origins/);
  assert.match(verdictOf(404, null).reason, /sedge's API/);
  assert.equal(userOfUsername("17:bob:xyz"), "bob");
  assert.equal(userOfUsername("garbage"), "");
  assert.equal(basicHeader("zoë", "pw"), "Basic " + Buffer.from("zoë:pw").toString("base64"));
});

test("badges and the tab's most important verdict", () => {
  assert.equal(badgeOf({ kind: "relayed" }, "o").text, "");
  assert.equal(badgeOf({ kind: "recorded", reason: "r" }, "o").text, "REC");
  assert.equal(badgeOf({ kind: "needs-rec", reason: "r" }, "o").text, "REC!");
  assert.equal(badgeOf({ kind: "refused", reason: "rule #7" }, "o").text, "OFF");
  assert.match(badgeOf({ kind: "refused", reason: "rule #7" }, "https://o").title, /rule #7/);
  assert.equal(badgeOf({ kind: "error", reason: "x" }, "o").text, "ERR");
  assert.equal(worst([{ kind: "relayed" }, { kind: "refused" }, { kind: "bypass" }]).kind, "refused");
  assert.equal(worst([{ kind: "recorded" }, { kind: "relayed" }]).kind, "recorded");
  assert.equal(worst([]), null);
});

test("the popup's words", () => {
  assert.equal(words(null).head, "No web page");
  assert.equal(words({ kind: "refused", reason: "refused by policy rule #7 x" }).why, "Calls on this site are blocked: refused by policy rule #7 x.");
  assert.equal(words({ kind: "error", unconfigured: true, reason: "SecureEdge is not set up: no bearer token is set" }).head, "Not set up");
  assert.equal(words({ kind: "error", signedOut: true, reason: "" }).head, "Sign-in needed");
});

function jwt(claims) {
  const b = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return b({ alg: "RS256" }) + "." + b(claims) + ".c2ln";
}

test("OIDC: PKCE S256 pair (RFC 7636 appendix B vector and shape)", async () => {
  const { verifier, challenge } = await oidc.pkcePair();
  assert.match(verifier, /^[A-Za-z0-9_-]{43}$/);
  const { createHash } = await import("node:crypto");
  assert.equal(challenge, createHash("sha256").update(verifier).digest("base64url"));
  // RFC 7636 appendix B: this verifier has this challenge.
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
  assert.equal(Buffer.from(d).toString("base64url"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
});

test("OIDC: authorization URL and redirect parsing", () => {
  const u = new URL(oidc.authorizationUrl({ authorization_endpoint: "https://idp/authorize?x=1" },
    { clientId: "c", redirectUri: "https://abc.chromiumapp.org/", state: "s", nonce: "n", challenge: "ch", prompt: "none" }));
  assert.equal(u.searchParams.get("x"), "1");
  assert.equal(u.searchParams.get("response_type"), "code");
  assert.equal(u.searchParams.get("code_challenge_method"), "S256");
  assert.equal(u.searchParams.get("prompt"), "none");
  assert.equal(u.searchParams.get("scope"), "openid email profile");
  const r = "https://abc.chromiumapp.org/";
  assert.equal(oidc.codeFromRedirect(r + "?code=K&state=s", r, "s"), "K");
  assert.throws(() => oidc.codeFromRedirect(r + "?code=K&state=t", r, "s"), /state/);
  assert.throws(() => oidc.codeFromRedirect("https://evil.example/?code=K&state=s", r, "s"), /somewhere else/);
  assert.throws(() => oidc.codeFromRedirect(r + "?error=login_required&state=s", r, "s"), /login_required/);
});

test("OIDC: ID token checks", () => {
  const now = 1000;
  const good = { iss: "https://idp", aud: "c", sub: "u1", exp: 2000, iat: 900, nonce: "n", email: "a@x" };
  assert.equal(oidc.checkIdToken(jwt(good), { issuer: "https://idp", clientId: "c", nonce: "n", nowSec: now }).email, "a@x");
  const bad = (over, re, extra = {}) => assert.throws(() => oidc.checkIdToken(jwt({ ...good, ...over }),
    { issuer: "https://idp", clientId: "c", nonce: "n", nowSec: now, ...extra }), re);
  bad({ iss: "https://other" }, /issuer/);
  bad({ aud: "d" }, /aud/);
  bad({ exp: 999 }, /expired/);
  bad({ nonce: "m" }, /nonce/);
  bad({ sub: "u2" }, /another user/, { nonce: null, sub: "u1" });
  assert.throws(() => oidc.checkIdToken("a.b", { issuer: "i", clientId: "c", nowSec: 0 }), /not a JWT/);
});

test("OIDC: renewal time", () => {
  // one hour token, margin 0.2: 12 minutes before expiry
  assert.equal(oidc.renewAtMs({ iat: 0, exp: 3600 }, 0.2), (3600 - 720) * 1000);
  // a 30 s token: half its life
  assert.equal(oidc.renewAtMs({ iat: 0, exp: 30 }, 0.2), 15000);
  // a 10 minute token: at least a minute before expiry
  assert.equal(oidc.renewAtMs({ iat: 0, exp: 600 }, 0.05), 540000);
});
