// oidc_idp.test.mjs - the extension's OIDC client (extension/lib/oidc.js)
// against the test identity provider (tests/lib/oidc_idp.py) over real
// HTTP on loopback. The browser's part (chrome.identity's window) is
// played by `launch` below: it follows the IdP's redirects with a cookie
// jar and fills in the login form when asked to be interactive. The IdP
// is strict (PKCE S256, single-use codes, exact redirect_uri, rotated
// refresh tokens), so a client that gets the protocol wrong fails here.
//
// Needs IDP_PORT (a free loopback port); tests/integ/extension_js.sh
// sets it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createPublicKey, createVerify } from "node:crypto";
import * as oidc from "../../extension/lib/oidc.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const port = Number(process.env.IDP_PORT || 0);
const issuer = `http://127.0.0.1:${port}`;
const redirectUri = "https://abcdefghijklmnopabcdefghijklmnop.chromiumapp.org/";
const cfg = { oidcIssuer: issuer, oidcClientId: "sedge-ext", oidcScopes: "openid email profile", refreshMargin: 0.2 };
const dir = mkdtempSync(join(tmpdir(), "sedge-oidc-"));
let idp, idpLog = "";
let cookie = "";

async function stats() {
  return (await fetch(issuer + "/stats")).json();
}

// The browser window chrome.identity.launchWebAuthFlow would open.
async function launch(url, interactive) {
  let res = await fetch(url, { redirect: "manual", headers: cookie ? { cookie } : {} });
  if (res.status === 200) {
    if (!interactive) throw new Error("User interaction required.");
    const page = await res.text();
    const form = new URLSearchParams();
    for (const m of page.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g))
      form.set(m[1], m[2].replace(/&amp;/g, "&").replace(/&quot;/g, '"').replace(/&#x27;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">"));
    form.set("user", "alice@corp.example");
    form.set("password", "correct horse");
    res = await fetch(new URL("/login", url), { method: "POST", body: form, redirect: "manual" });
    const set = res.headers.get("set-cookie");
    if (set) cookie = set.split(";")[0];
  }
  assert.equal(res.status, 302, "the IdP should redirect back");
  return res.headers.get("location");
}

before(async () => {
  assert.ok(port > 0, "IDP_PORT not set");
  execFileSync("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", join(dir, "idp.pem")]);
  idp = spawn("/usr/bin/python3", [join(root, "tests/lib/oidc_idp.py"), "--port", String(port), "--key", join(dir, "idp.pem"),
    "--alg", "ES256", "--client-id", "sedge-ext", "--id-ttl", "120"], { stdio: ["ignore", "ignore", "pipe"] });
  idp.stderr.on("data", (d) => { idpLog += d; });
  for (let i = 0; i < 100 && !idpLog.includes("listening"); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(idpLog.includes("listening"), "the test IdP did not start: " + idpLog);
});

after(() => {
  if (idp) idp.kill();
  rmSync(dir, { recursive: true, force: true });
});

let first;

test("interactive sign-in: code flow with PKCE gives a checked ID token", async () => {
  first = await oidc.signIn(cfg, { launch, redirectUri, interactive: true });
  assert.equal(first.claims.email, "alice@corp.example");
  assert.equal(first.claims.name, "Alice Example");
  assert.ok(first.refreshToken, "a refresh token");
  assert.ok(first.renewAt < first.expiresAt && first.renewAt > Date.now());
  const s = await stats();
  assert.equal(s.login_ok, 1);
  assert.equal(s.token_code, 1);
  assert.deepEqual(s.errors, []);
  // The token verifies with the IdP's published key (what sedge checks).
  const jwks = await (await fetch(issuer + "/jwks")).json();
  const [h, p, sig] = first.idToken.split(".");
  assert.equal(JSON.parse(Buffer.from(h, "base64url")).alg, "ES256");
  const v = createVerify("SHA256");
  v.update(h + "." + p);
  assert.ok(v.verify({ key: createPublicKey({ key: jwks.keys[0], format: "jwk" }), dsaEncoding: "ieee-p1363" }, Buffer.from(sig, "base64url")));
});

test("silent sign-in (prompt=none) works while the IdP has a session", async () => {
  const ts = await oidc.signIn(cfg, { launch, redirectUri, interactive: false });
  assert.equal(ts.claims.sub, first.claims.sub);
  const s = await stats();
  assert.equal(s.authorize_silent, 1);
  assert.equal(s.login_ok, 1, "no second password");
});

test("silent sign-in without a session says login_required", async () => {
  const saved = cookie;
  cookie = "";
  await assert.rejects(oidc.signIn(cfg, { launch, redirectUri, interactive: false }), /login_required/);
  cookie = saved;
});

test("refresh gives a new token for the same user; the old refresh token is spent", async () => {
  const n = await oidc.refresh(cfg, first);
  assert.equal(n.claims.sub, first.claims.sub);
  assert.notEqual(n.idToken, first.idToken);
  assert.notEqual(n.refreshToken, first.refreshToken);
  await assert.rejects(oidc.refresh(cfg, first), /invalid_grant/);
  const s = await stats();
  assert.equal(s.token_refresh, 1);
});

test("a client id the IdP does not know is refused", async () => {
  await assert.rejects(oidc.signIn({ ...cfg, oidcClientId: "other" }, { launch, redirectUri, interactive: false }),
    /302|redirect/);
  const s = await stats();
  assert.ok(s.errors.some((e) => /unknown client_id/.test(e)), JSON.stringify(s.errors));
});

test("discovery must name the configured issuer", async () => {
  await assert.rejects(oidc.discover(issuer + "/x"), /HTTP 404|calls itself/);
});
