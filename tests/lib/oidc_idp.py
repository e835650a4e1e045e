#!/usr/bin/python3
"""A tiny OpenID Connect provider for tests, on loopback.

    oidc_idp.py --port N --key KEY.pem --alg RS256|ES256 --client-id ID
                [--addr 127.0.0.1] [--user alice@corp.example] [--password pw]
                [--name "Alice Example"] [--id-ttl 3600] [--no-refresh]

It implements just what a public client with PKCE needs (OpenID Connect
Core 1.0 section 3.1, RFC 7636), strictly enough that a client that gets
the protocol wrong fails:

  GET  /.well-known/openid-configuration   discovery
  GET  /jwks                               the signing key as a JWK set
  GET  /authorize                          code flow only; S256 PKCE required;
                                           redirect_uri must be an extension's
                                           https://<32 a-p>.chromiumapp.org/;
                                           a login form, or an immediate code
                                           when the browser has a session
                                           cookie; prompt=none without one
                                           answers error=login_required
  POST /login                              the form; wrong password: form again
  POST /token                              authorization_code (code used once,
                                           within 60 s, same redirect_uri and
                                           client_id, verifier matches) and
                                           refresh_token grants
  GET  /stats                              what happened, for the test

ID tokens are JWS compact tokens signed with the given key (RSA PKCS#1
v1.5 SHA-256, or ECDSA P-256 with a raw r||s signature, RFC 7518 3.3/3.4)
carrying iss, aud (the client id), sub, email, name, iat, exp, auth_time
and the nonce of the authorization request. Every request is logged on
stderr. Only the Python standard library and `cryptography`.
"""
import argparse
import base64
import hashlib
import html
import json
import re
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

CODE_TTL = 60
REDIRECT_RE = re.compile(r"^https://[a-p]{32}\.chromiumapp\.org/[^?#]*$")


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def uint_b64u(n):
    return b64u(n.to_bytes((n.bit_length() + 7) // 8, "big"))


class Provider:
    def __init__(self, a):
        self.a = a
        self.issuer = a.issuer or f"http://{a.addr}:{a.port}"
        with open(a.key, "rb") as f:
            self.key = serialization.load_pem_private_key(f.read(), password=None)
        pub = self.key.public_key().public_numbers()
        if a.alg == "RS256":
            assert isinstance(self.key, rsa.RSAPrivateKey), "RS256 needs an RSA key"
            jwk = {"kty": "RSA", "n": uint_b64u(pub.n), "e": uint_b64u(pub.e)}
        else:
            assert isinstance(self.key, ec.EllipticCurvePrivateKey), "ES256 needs a P-256 key"
            jwk = {"kty": "EC", "crv": "P-256", "x": b64u(pub.x.to_bytes(32, "big")),
                   "y": b64u(pub.y.to_bytes(32, "big"))}
        self.kid = b64u(hashlib.sha256(json.dumps(jwk, sort_keys=True).encode()).digest()[:9])
        self.jwk = dict(jwk, kid=self.kid, alg=a.alg, use="sig")
        self.lock = threading.Lock()
        self.codes = {}  # code -> request params + issued time
        self.sessions = set()  # session cookie values
        self.refresh = {}  # refresh token -> {nonce-less claims basis}
        self.stats = {"authorize": 0, "authorize_silent": 0, "login_ok": 0, "login_failed": 0,
                      "token_code": 0, "token_refresh": 0, "id_tokens": 0, "errors": []}

    def error(self, what):
        with self.lock:
            self.stats["errors"].append(what)
        print(f"idp: refused: {what}", file=sys.stderr, flush=True)

    def sign(self, claims):
        header = {"alg": self.a.alg, "typ": "JWT", "kid": self.kid}
        signing = (b64u(json.dumps(header).encode()) + "." + b64u(json.dumps(claims).encode())).encode()
        if self.a.alg == "RS256":
            sig = self.key.sign(signing, padding.PKCS1v15(), hashes.SHA256())
        else:
            r, s = decode_dss_signature(self.key.sign(signing, ec.ECDSA(hashes.SHA256())))
            sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return signing.decode() + "." + b64u(sig)

    def id_token(self, nonce, auth_time):
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.a.client_id, "sub": "u-" + b64u(self.a.user.encode()),
                  "email": self.a.user, "name": self.a.name, "iat": now, "exp": now + self.a.id_ttl,
                  "auth_time": auth_time}
        if nonce:
            claims["nonce"] = nonce
        with self.lock:
            self.stats["id_tokens"] += 1
        return self.sign(claims)

    def token_answer(self, nonce, auth_time):
        out = {"access_token": secrets.token_urlsafe(24), "token_type": "Bearer",
               "expires_in": self.a.id_ttl, "id_token": self.id_token(nonce, auth_time)}
        if not self.a.no_refresh:
            rt = secrets.token_urlsafe(32)
            with self.lock:
                self.refresh[rt] = {"auth_time": auth_time}
            out["refresh_token"] = rt
        return out


class Handler(BaseHTTPRequestHandler):
    server_version = "test-idp/1"
    P = None  # the Provider

    def log_message(self, fmt, *args):
        print("idp: " + (fmt % args), file=sys.stderr, flush=True)

    def send(self, code, body, ctype="application/json", headers=()):
        data = body if isinstance(body, bytes) else (json.dumps(body) if ctype == "application/json" else body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def redirect(self, uri, params, headers=()):
        self.send_response(302)
        self.send_header("Location", uri + ("&" if "?" in uri else "?") + urlencode(params))
        self.send_header("Content-Length", "0")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()

    def form(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > 65536:
            return None
        return {k: v[0] for k, v in parse_qs(self.rfile.read(n).decode(), keep_blank_values=True).items()}

    def cookie_session(self):
        for part in (self.headers.get("Cookie") or "").split(";"):
            k, _, v = part.strip().partition("=")
            if k == "idp_session" and v in self.P.sessions:
                return v
        return None

    def do_GET(self):
        P = self.P
        u = urlsplit(self.path)
        if u.path == "/.well-known/openid-configuration":
            return self.send(200, {
                "issuer": P.issuer, "authorization_endpoint": P.issuer + "/authorize",
                "token_endpoint": P.issuer + "/token", "jwks_uri": P.issuer + "/jwks",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": [P.a.alg],
                "code_challenge_methods_supported": ["S256"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "scopes_supported": ["openid", "email", "profile", "offline_access"]})
        if u.path == "/jwks":
            return self.send(200, {"keys": [P.jwk]})
        if u.path == "/stats":
            with P.lock:
                return self.send(200, P.stats)
        if u.path == "/authorize":
            return self.authorize({k: v[0] for k, v in parse_qs(u.query).items()})
        return self.send(404, {"error": "not_found"})

    def check_authz(self, q):
        """None when the authorization request is acceptable, else why not."""
        P = self.P
        if q.get("client_id") != P.a.client_id:
            return "unknown client_id"
        if not REDIRECT_RE.match(q.get("redirect_uri", "")):
            return "redirect_uri is not an extension's chromiumapp.org address"
        if q.get("response_type") != "code":
            return "response_type must be code"
        if "openid" not in q.get("scope", "").split():
            return "scope lacks openid"
        if q.get("code_challenge_method") != "S256" or not re.fullmatch(r"[A-Za-z0-9_-]{43}", q.get("code_challenge", "")):
            return "PKCE S256 code_challenge required"
        if not q.get("state") or not q.get("nonce"):
            return "state and nonce required"
        return None

    def authorize(self, q):
        P = self.P
        with P.lock:
            P.stats["authorize"] += 1
            if q.get("prompt") == "none":
                P.stats["authorize_silent"] += 1
        why = self.check_authz(q)
        if why:
            P.error("authorize: " + why)
            return self.send(400, f"<p>bad authorization request: {html.escape(why)}</p>", "text/html")
        if self.cookie_session() and q.get("prompt") != "login":
            return self.issue_code(q)
        if q.get("prompt") == "none":
            return self.redirect(q["redirect_uri"], {"error": "login_required", "state": q["state"]})
        return self.login_page(q, "")

    def login_page(self, q, msg):
        hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in q.items())
        page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Test IdP sign-in</title></head>
<body><h1>Test IdP</h1><p id="msg">{html.escape(msg)}</p>
<form method="post" action="/login">{hidden}
<label>User <input id="user" name="user"></label>
<label>Password <input id="password" name="password" type="password"></label>
<button id="signin" type="submit">Sign in</button></form></body></html>"""
        self.send(200, page, "text/html; charset=utf-8")

    def issue_code(self, q, headers=()):
        P = self.P
        code = secrets.token_urlsafe(24)
        with P.lock:
            P.codes[code] = dict(q, issued=time.time(), auth_time=int(time.time()))
        self.redirect(q["redirect_uri"], {"code": code, "state": q["state"]}, headers)

    def do_POST(self):
        P = self.P
        u = urlsplit(self.path)
        f = self.form()
        if f is None:
            return self.send(413, {"error": "invalid_request"})
        if u.path == "/login":
            q = {k: v for k, v in f.items() if k not in ("user", "password")}
            why = self.check_authz(q)
            if why:
                P.error("login: " + why)
                return self.send(400, f"<p>bad authorization request: {html.escape(why)}</p>", "text/html")
            if f.get("user") != P.a.user or f.get("password") != P.a.password:
                with P.lock:
                    P.stats["login_failed"] += 1
                return self.login_page(q, "Wrong user or password.")
            sid = secrets.token_urlsafe(24)
            with P.lock:
                P.stats["login_ok"] += 1
                P.sessions.add(sid)
            return self.issue_code(q, [("Set-Cookie", f"idp_session={sid}; Path=/; HttpOnly; SameSite=Lax")])
        if u.path == "/token":
            return self.token(f)
        return self.send(404, {"error": "not_found"})

    def token(self, f):
        P = self.P
        grant = f.get("grant_type")
        if f.get("client_id") != P.a.client_id:
            P.error("token: unknown client_id")
            return self.send(401, {"error": "invalid_client"})
        if grant == "authorization_code":
            with P.lock:
                c = P.codes.pop(f.get("code", ""), None)  # single use
            if not c or time.time() - c["issued"] > CODE_TTL:
                P.error("token: unknown, used or expired code")
                return self.send(400, {"error": "invalid_grant"})
            if f.get("redirect_uri") != c["redirect_uri"]:
                P.error("token: redirect_uri differs from the authorization request")
                return self.send(400, {"error": "invalid_grant"})
            verifier = f.get("code_verifier", "")
            if not re.fullmatch(r"[A-Za-z0-9._~-]{43,128}", verifier) or \
                    b64u(hashlib.sha256(verifier.encode()).digest()) != c["code_challenge"]:
                P.error("token: PKCE verifier does not match the challenge")
                return self.send(400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})
            with P.lock:
                P.stats["token_code"] += 1
            return self.send(200, P.token_answer(c["nonce"], c["auth_time"]))
        if grant == "refresh_token":
            with P.lock:
                r = P.refresh.pop(f.get("refresh_token", ""), None)  # rotated on use
            if not r:
                P.error("token: unknown refresh token")
                return self.send(400, {"error": "invalid_grant"})
            with P.lock:
                P.stats["token_refresh"] += 1
            return self.send(200, P.token_answer(None, r["auth_time"]))
        P.error(f"token: unsupported grant_type {grant}")
        return self.send(400, {"error": "unsupported_grant_type"})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--issuer", default="")
    ap.add_argument("--key", required=True)
    ap.add_argument("--alg", choices=["RS256", "ES256"], default="RS256")
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--user", default="alice@corp.example")
    ap.add_argument("--name", default="Alice Example")
    ap.add_argument("--password", default="correct horse")
    ap.add_argument("--id-ttl", type=int, default=3600)
    ap.add_argument("--no-refresh", action="store_true", help="issue no refresh tokens")
    a = ap.parse_args()
    Handler.P = Provider(a)
    srv = ThreadingHTTPServer((a.addr, a.port), Handler)
    srv.daemon_threads = True
    print(f"idp: listening on {a.addr}:{a.port} issuer {Handler.P.issuer}", file=sys.stderr, flush=True)
    srv.serve_forever()


main()
