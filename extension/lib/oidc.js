// oidc.js - signing in with the enterprise identity provider: OpenID
// Connect authorization code flow with PKCE (OpenID Connect Core 1.0
// section 3.1, RFC 7636 S256) for a public client, plus refresh.
//
// The ID token is what sedge's POST /v1/credentials accepts as a bearer
// JWT (api.jwt: issuer = the IdP, audience = this client id). sedge
// verifies its signature; here the token comes straight from the IdP's
// token endpoint over TLS, so the client checks iss, aud, exp and the
// nonce of its own request (Core 3.1.3.7, TLS server validation instead
// of the signature) and never believes a token from anywhere else.
//
// Browser-specific steps (opening the IdP's page, fetch) are injected:
//   launch(url, interactive) -> Promise<redirect URL>  (chrome.identity)
//   fetchFn                                            (fetch)
// so Node tests drive the same code against the test IdP.

import { fetchJson } from "./http.js";

export const DEFAULT_SCOPES = "openid email profile";

function b64u(bytes) {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function randomToken(nBytes = 32) {
  const a = new Uint8Array(nBytes);
  crypto.getRandomValues(a);
  return b64u(a);
}

// RFC 7636 4.1/4.2: a 43-char verifier, challenge = BASE64URL(SHA256(verifier)).
export async function pkcePair() {
  const verifier = randomToken(32);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return { verifier, challenge: b64u(new Uint8Array(digest)) };
}

export function decodeJwtPayload(jwt) {
  const parts = String(jwt || "").split(".");
  if (parts.length !== 3) throw new Error("the ID token is not a JWT");
  const s = parts[1].replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(s + "===".slice((s.length + 3) % 4));
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  const claims = JSON.parse(new TextDecoder().decode(bytes));
  if (!claims || typeof claims !== "object" || Array.isArray(claims)) throw new Error("the ID token's payload is not an object");
  return claims;
}

async function getJson(url, fetchFn, init = {}) {
  try {
    return await fetchJson(url, init, fetchFn);
  } catch (e) {
    throw new Error(`cannot reach the identity provider at ${new URL(url).origin}: ${e.message}`);
  }
}

// OpenID Connect Discovery 1.0: the metadata, whose issuer must be the
// configured one exactly (section 4.3).
export async function discover(issuer, fetchFn = fetch) {
  const base = String(issuer).replace(/\/+$/, "");
  const { status, body } = await getJson(base + "/.well-known/openid-configuration", fetchFn);
  if (status !== 200 || !body) throw new Error(`the identity provider's discovery document answered HTTP ${status}`);
  if (body.issuer !== issuer && body.issuer !== base)
    throw new Error(`the identity provider calls itself ${body.issuer}, not ${issuer}`);
  for (const k of ["authorization_endpoint", "token_endpoint"])
    if (typeof body[k] !== "string" || !/^https?:\/\//.test(body[k])) throw new Error(`the identity provider has no ${k}`);
  const methods = body.code_challenge_methods_supported;
  if (Array.isArray(methods) && !methods.includes("S256"))
    throw new Error("the identity provider does not support PKCE S256");
  return body;
}

export function authorizationUrl(meta, p) {
  const u = new URL(meta.authorization_endpoint);
  const q = {
    response_type: "code", client_id: p.clientId, redirect_uri: p.redirectUri,
    scope: p.scope || DEFAULT_SCOPES, state: p.state, nonce: p.nonce,
    code_challenge: p.challenge, code_challenge_method: "S256",
  };
  if (p.prompt) q.prompt = p.prompt;
  if (p.loginHint) q.login_hint = p.loginHint;
  for (const [k, v] of Object.entries(q)) u.searchParams.set(k, v);
  return u.toString();
}

// The code from the redirect, after checking it answers our request.
export function codeFromRedirect(redirectUrl, redirectUri, state) {
  let u;
  try {
    u = new URL(redirectUrl);
  } catch {
    throw new Error("the identity provider redirected to an invalid address");
  }
  if (!redirectUrl.startsWith(redirectUri)) throw new Error("the identity provider redirected somewhere else");
  const q = u.searchParams;
  if (q.get("state") !== state) throw new Error("the identity provider's answer is not for this sign-in (state)");
  if (q.get("error")) {
    const e = new Error(`the identity provider refused: ${q.get("error")}${q.get("error_description") ? " (" + q.get("error_description") + ")" : ""}`);
    e.oauthError = q.get("error");
    throw e;
  }
  const code = q.get("code");
  if (!code) throw new Error("the identity provider's answer has no code");
  return code;
}

// Check an ID token from the token endpoint. `nonce` is null on refresh
// (Core 12.2: then sub must stay the same).
export function checkIdToken(idToken, { issuer, clientId, nonce, sub, nowSec }) {
  const c = decodeJwtPayload(idToken);
  const iss = String(issuer).replace(/\/+$/, "");
  if (c.iss !== issuer && c.iss !== iss) throw new Error(`the ID token's issuer is ${c.iss}, not ${issuer}`);
  const aud = Array.isArray(c.aud) ? c.aud : [c.aud];
  if (!aud.includes(clientId)) throw new Error("the ID token is not for this client (aud)");
  if (aud.length > 1 && c.azp !== undefined && c.azp !== clientId) throw new Error("the ID token's azp is another client");
  if (typeof c.exp !== "number" || c.exp <= nowSec) throw new Error("the ID token has expired");
  if (nonce !== null && nonce !== undefined && c.nonce !== nonce) throw new Error("the ID token's nonce is not this sign-in's");
  if (sub !== undefined && sub !== null && c.sub !== sub) throw new Error("the refreshed ID token is for another user");
  return c;
}

// When to renew a token issued at iat (s) and expiring at exp (s): when
// `margin` of its lifetime is left, but at least a minute (or half the
// lifetime, for short-lived tokens) before it expires.
export function renewAtMs(claims, margin = 0.2, receivedMs = Date.now()) {
  const expMs = claims.exp * 1000;
  const lifeMs = Math.max(0, expMs - (typeof claims.iat === "number" ? claims.iat * 1000 : receivedMs));
  const m = Math.min(Math.max(Number(margin) || 0.2, 0.05), 0.9);
  return expMs - Math.max(lifeMs * m, Math.min(60000, lifeMs / 2));
}

async function tokenRequest(meta, form, fetchFn) {
  const { status, body } = await getJson(meta.token_endpoint, fetchFn, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
    body: new URLSearchParams(form).toString(),
  });
  if (status !== 200 || !body || typeof body.id_token !== "string") {
    const e = new Error(`the identity provider's token endpoint refused: ${(body && (body.error_description || body.error)) || "HTTP " + status}`);
    e.oauthError = body && body.error;
    throw e;
  }
  return body;
}

function tokenSet(body, claims, cfg, previous) {
  return {
    issuer: cfg.oidcIssuer, clientId: cfg.oidcClientId,
    idToken: body.id_token,
    refreshToken: typeof body.refresh_token === "string" ? body.refresh_token : previous ? previous.refreshToken || "" : "",
    claims: { sub: claims.sub, email: claims.email, name: claims.name, preferred_username: claims.preferred_username, iat: claims.iat, exp: claims.exp },
    expiresAt: claims.exp * 1000,
    renewAt: renewAtMs(claims, cfg.refreshMargin),
  };
}

// The whole sign-in. interactive=false asks with prompt=none: it succeeds
// only when the IdP can answer without the employee (a session cookie).
export async function signIn(cfg, { launch, redirectUri, interactive, fetchFn = fetch, nowSec = () => Date.now() / 1000 }) {
  const meta = await discover(cfg.oidcIssuer, fetchFn);
  const { verifier, challenge } = await pkcePair();
  const state = randomToken(16), nonce = randomToken(16);
  const url = authorizationUrl(meta, {
    clientId: cfg.oidcClientId, redirectUri, scope: cfg.oidcScopes || DEFAULT_SCOPES, state, nonce, challenge,
    prompt: interactive ? "" : "none",
  });
  const back = await launch(url, interactive);
  if (!back) throw new Error("the sign-in window closed without an answer");
  const code = codeFromRedirect(back, redirectUri, state);
  const body = await tokenRequest(meta, {
    grant_type: "authorization_code", code, redirect_uri: redirectUri, client_id: cfg.oidcClientId, code_verifier: verifier,
  }, fetchFn);
  const claims = checkIdToken(body.id_token, { issuer: cfg.oidcIssuer, clientId: cfg.oidcClientId, nonce, nowSec: nowSec() });
  return tokenSet(body, claims, cfg, null);
}

// Renew with the refresh token (RFC 6749 section 6).
export async function refresh(cfg, ts, { fetchFn = fetch, nowSec = () => Date.now() / 1000 } = {}) {
  if (!ts.refreshToken) throw new Error("no refresh token");
  const meta = await discover(cfg.oidcIssuer, fetchFn);
  const body = await tokenRequest(meta, {
    grant_type: "refresh_token", refresh_token: ts.refreshToken, client_id: cfg.oidcClientId, scope: cfg.oidcScopes || DEFAULT_SCOPES,
  }, fetchFn);
  const claims = checkIdToken(body.id_token, { issuer: cfg.oidcIssuer, clientId: cfg.oidcClientId, nonce: null, sub: ts.claims.sub, nowSec: nowSec() });
  return tokenSet(body, claims, cfg, ts);
}

// Who a token names, for people: email, else preferred_username, else sub.
export function displayName(claims) {
  if (!claims) return "";
  return claims.email || claims.preferred_username || claims.sub || "";
}
