#!/bin/bash
# The HTTPS API's limits and lifecycle against the real `sedge serve`:
# bounded connections (accepting pauses, resumes when one closes), the
# body bound evhttp enforces itself, plaintext HTTP refused on the TLS
# port, SIGHUP applying new API settings, check-config refusing a bad
# JWT key, the API stopping with the relay on SIGTERM.
. "$(dirname "$0")/../lib/sedge.sh"
command -v curl >/dev/null || skip "curl not installed"

API_PORT=$((BASE + 3))
API=https://127.0.0.1:$API_PORT
api_block() { # CORS ORIGIN
    echo "api = { address = \"127.0.0.1\"; port = $API_PORT; max_connections = 3; timeout = 3;
  max_body = 1024; cors_origins = [ \"$1\" ]; };"
}
write_config "$(api_block https://one.example.com)"
sedge_cli check-config >/dev/null || fail "check-config"
sedge_cli user add alice --password pw >/dev/null || fail "user add"
sedge_cli secret add 'rest-secret-0123' >/dev/null || fail "secret add"
sedge_start
wait_log "api: listening" 2 || fail "api not listening"
code() { curl -sk --max-time "${2:-5}" -o "$T/body" -w '%{http_code}' "$@" 2>/dev/null; }

# Connections: three idle ones fill api.max_connections; past it a reserve
# of 8 more serves health checks only (anything else: 503 busy); with the
# reserve full too, accepting pauses (curl times out in the backlog) until
# the idle ones are closed.
exec 3<>/dev/tcp/127.0.0.1/$API_PORT 4<>/dev/tcp/127.0.0.1/$API_PORT 5<>/dev/tcp/127.0.0.1/$API_PORT ||
    fail "connect"
wait_log 'api: 3 connections open on the public listener \(its limit\)' 2 ||
    fail "the limit is not logged"
c=$(curl -sk --max-time 2 -o /dev/null -w '%{http_code}' "$API/healthz")
[ "$c" = 200 ] || fail "/healthz past max_connections: $c"
c=$(curl -sk --max-time 2 -o "$T/body" -w '%{http_code}' -u alice:pw -H 'Content-Type: application/json' \
    -d '{"origin": "https://a.example"}' "$API/v1/credentials")
[ "$c" = 503 ] && grep -q '"busy"' "$T/body" || fail "credentials past max_connections: $c"
ok "past api.max_connections: health checks served, other requests 503 busy"
held=()
for _ in 1 2 3 4 5 6 7 8; do exec {fd}<>/dev/tcp/127.0.0.1/$API_PORT || fail "connect"; held+=("$fd"); done
sleep 0.3
c=$(curl -sk --max-time 1 -o /dev/null -w '%{http_code}' "$API/healthz")
[ "$c" = 000 ] || fail "a connection was served ($c) with the probe reserve full"
ok "accepting pauses once the probe reserve is full too"
exec 3>&- 4>&- 5>&-
for fd in "${held[@]}"; do exec {fd}>&-; done
c=$(curl -sk --max-time 5 -o /dev/null -w '%{http_code}' "$API/healthz")
[ "$c" = 200 ] || fail "accepting did not resume ($c)"
ok "accepting resumes when connections close"

# A client dripping one header byte every 0.5 s defeats an idle timeout,
# not the per-request deadline (api.timeout = 3 s).
cat >"$T/drip.py" <<PYEOF
import socket, ssl, sys, time
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", $API_PORT)))
t0 = time.time()
try:
    for b in b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 100:
        s.send(bytes([b])); time.sleep(0.5)
        if time.time() - t0 > 15: print("still open after 15 s"); sys.exit(1)
except OSError:
    pass
print("closed after %.1f s" % (time.time() - t0))
PYEOF
res=$(timeout 30 $PY "$T/drip.py" 2>&1)
[[ "$res" =~ ^closed\ after\ ([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -le 6 ] || fail "drip client: $res"
wait_log 'api: closing a connection that sent no complete request' 1 || fail "slow close not logged"
ok "slow drip client closed ($res)"

# Bodies: past max_body -> JSON 413; past 4 x max_body evhttp refuses by size.
head -c 2000 /dev/zero | tr '\0' ' ' >"$T/b2k"
head -c 9000 /dev/zero | tr '\0' ' ' >"$T/b9k"
c=$(curl -sk -o "$T/body" -w '%{http_code}' -H 'Content-Type: application/json' -u alice:pw \
    --data-binary @"$T/b2k" "$API/v1/credentials")
[ "$c" = 413 ] && grep -q '"body_too_large"' "$T/body" || fail "2 kB body: $c $(cat "$T/body")"
c=$(curl -sk -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -u alice:pw \
    --data-binary @"$T/b9k" "$API/v1/credentials")
[ "$c" = 413 ] || fail "9 kB body: $c"
ok "oversized bodies refused (JSON 413 up to 4 x max_body, evhttp's 413 beyond)"

# The TLS port never serves plaintext HTTP.
out=$(printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' | timeout 5 bash -c \
    "exec 6<>/dev/tcp/127.0.0.1/$API_PORT; cat >&6; timeout 2 cat <&6" 2>/dev/null | head -c 200)
grep -q '"status"' <<<"$out" && fail "plaintext request answered: $out"
ok "plaintext HTTP is not served"

# Raw non-UTF-8 bytes quoted back in an error still give a JSON body.
cat >"$T/raw.py" <<PYEOF
import json, socket, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", $API_PORT)))
s.send(b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
while True:
    d = s.recv(4096)
    if not d: break
    data += d
head, body = data.split(b"\r\n\r\n", 1)
print(head.split(b"\r\n")[0].decode(), json.loads(body)["error"])
PYEOF
res=$(timeout 10 $PY "$T/raw.py" 2>&1)
[ "$res" = "HTTP/1.1 404 Not Found not_found" ] || fail "raw bytes in the path: $res"
ok "non-UTF-8 path bytes: 404 with a JSON body"

# SIGHUP applies new API settings (here the CORS list).
pre() { curl -sk -o /dev/null -w '%{http_code}' -X OPTIONS -H "Origin: $1" "$API/v1/credentials"; }
[ "$(pre https://one.example.com)" = 204 ] && [ "$(pre https://two.example.com)" = 403 ] ||
    fail "CORS before reload"
write_config "$(api_block https://two.example.com)"
kill -HUP "$SEDGE_PID"
wait_log 'snapshot: 1 users, 1 secrets' 2
sleep 0.5
[ "$(pre https://two.example.com)" = 204 ] && [ "$(pre https://one.example.com)" = 403 ] ||
    fail "CORS after reload"
ok "SIGHUP applies new api settings"

# A bad JWT key stops check-config, and a reload with it keeps the old settings.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/ec.pem" 2>/dev/null
openssl pkey -in "$T/ec.pem" -pubout -out "$T/ec.pub" 2>/dev/null
write_config "api = { address = \"127.0.0.1\"; port = $API_PORT; cors_origins = [ \"https://three.example.com\" ];
  jwt = ( { issuer = \"i\"; audience = \"a\"; key = \"$T/ec.pub\"; alg = \"RS256\"; } ); };"
sedge_cli check-config >"$T/cc" 2>&1 && fail "check-config accepted an EC key for RS256"
grep -q 'RS256 needs an RSA public key' "$T/cc" || fail "check-config message: $(cat "$T/cc")"
kill -HUP "$SEDGE_PID"
wait_log 'reload: api settings unchanged: api.jwt' 2 || fail "bad reload not refused"
[ "$(pre https://two.example.com)" = 204 ] || fail "old settings lost after a bad reload"
ok "a bad JWT key is refused by check-config and by reload"

# SIGTERM: the control loop (and with it the API) stops at once.
[ "$(code "$API/readyz")" = 200 ] || fail "readyz"
kill -TERM "$SEDGE_PID"
wait_log 'draining' 2 || fail "no drain"
for _ in $(seq 1 20); do kill -0 "$SEDGE_PID" 2>/dev/null || break; sleep 0.2; done
kill -0 "$SEDGE_PID" 2>/dev/null && fail "sedge did not stop"
ok "SIGTERM stops the API with the relay"
grep -Eq 'AddressSanitizer|runtime error' "$T/sedge.log" && fail "sanitizer report"
ok "clean log"
