#!/bin/bash
# The SecureEdge extension in real headless Chromium against the real sedge:
#
#   +---------------- a network namespace of its own: only lo ----------------+
#   |  Chromium (fake camera+mic, extension)   page http://127.0.0.1:$WEB      |
#   |    page.js wraps RTCPeerConnection  --->  site's own STUN 127.0.0.9:3478 |
#   |    sw.js  --HTTPS POST /v1/credentials-->  sedge api 127.0.0.1:$API_PORT |
#   |    ICE/DTLS/SRTP  --TURN-->  sedge 127.0.0.1:$PORT, relay 127.0.0.2      |
#   +--------------------------------------------------------------------------+
#
# Cases: a page that knows nothing about sedge connects relay/relay through
# sedge's port with media decoded, and sedge's session rows name the user
# and the page's origin; the same page on an origin policy denies fails
# and no allocation exists; credentials are renewed during a call longer
# than their TTL. The site's own STUN server must never see a packet.
set -u
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/sedge.sh"
[ -x /usr/bin/chromium ] || skip "chromium not installed"
[ -d "$SEDGE_ROOT/node_modules/playwright-core" ] || skip "playwright-core not installed (npm install)"

API_PORT=$((BASE + 3))
WEB=$((BASE + 4))
TTL=20
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/idp.pem" 2>/dev/null &&
    openssl pkey -in "$T/idp.pem" -pubout -out "$T/idp.pub" || fail "cannot make the IdP key"
write_config "api = {
  address = \"127.0.0.1\"; port = $API_PORT; turn_host = \"127.0.0.1\"; credential_ttl = $TTL;
  user_claim = \"email\"; cors_origins = [ \"chrome-extension://*\" ];
  jwt = ( { issuer = \"https://idp.example.com\"; audience = \"sedge\"; key = \"$T/idp.pub\"; alg = \"RS256\"; } );
};" 'policy = { default = "allow"; session_update = 2; };'
sedge_cli secret add 'browser-secret' >/dev/null || fail "secret add"
sedge_cli rule add deny --origin "http://127.0.0.3:$WEB" --name blocked-site >/dev/null || fail "rule add"
TOKEN=$($PY "$SEDGE_ROOT/tests/lib/jwt.py" "$T/idp.pem" RS256 \
    '{"iss": "https://idp.example.com", "aud": "sedge", "email": "alice@corp.example", "exp": "now+3600"}') ||
    fail "cannot sign the JWT"
SPKI=$(spki_hash "$T/cert.pem")
sedge_start
wait_log "api: listening" 5 || fail "api not listening"

# The page, on two origins (127.0.0.1 allowed, 127.0.0.3 denied).
$PY -m http.server "$WEB" --bind 0.0.0.0 --directory "$SEDGE_ROOT/tests/e2e" >"$T/web.log" 2>&1 &
PIDS+=("$!")
# The site's own STUN server: counts what reaches it (must stay 0).
$PY "$SEDGE_ROOT/tests/lib/udp_echo.py" --addr 127.0.0.9 --port 3478 --idle 1000 --max 200 >"$T/stun.json" &
STUN_PID=$!
PIDS+=("$STUN_PID")
sleep 0.5

timeout 260 node "$SEDGE_ROOT/tests/e2e/extension_e2e.mjs" --ext "$SEDGE_ROOT/extension" \
    --api "https://127.0.0.1:$API_PORT" --token "$TOKEN" --spki "$SPKI" \
    --page "http://127.0.0.1:$WEB/call.html" --denied-page "http://127.0.0.3:$WEB/call.html" \
    --relay-ip 127.0.0.2 --refresh-seconds $((TTL + 8)) >"$T/e2e.log" 2>&1
rc=$?
grep -E '^(CASE|page:)' "$T/e2e.log" | cut -c1-600
[ $rc -eq 0 ] || { tail -n 30 "$T/e2e.log" | cut -c1-2000; fail "browser cases failed (exit $rc)"; }
for c in transparent-wrapper call-through-relay credentials-renewed denied-origin; do
    grep -q "^CASE $c ok" "$T/e2e.log" || fail "case $c did not pass"
done
ok "page wrapper transparent; call relay/relay through sedge with media; denied origin failed; credentials renewed"

# sedge's own records: the allowed origin's sessions carry user and origin,
# the denied origin never got an allocation.
sleep 3
sedge_cli sessions --json >"$T/sessions.json"
$PY - "$T/sessions.json" "http://127.0.0.1:$WEB" "http://127.0.0.3:$WEB" <<'PY' || fail "session rows: $(head -c 3000 "$T/sessions.json")"
import json, sys
rows = json.load(open(sys.argv[1]))
good = [r for r in rows if r["origin"] == sys.argv[2]]
assert good, "no session for the allowed origin"
assert all(r["user"] == "alice@corp.example" for r in good), [r["user"] for r in good]
assert any(r["bytes_from_client"] > 10000 and r["bytes_to_client"] > 10000 for r in good), good
assert not [r for r in rows if r["origin"] == sys.argv[3]], "the denied origin has an allocation"
PY
grep -q "allocate denied by policy" "$T/sedge.log" && fail "the denied page reached the relay"
grep -Eq 'api: credential (refused|denied).*127.0.0.3' "$T/sedge.log" || fail "API did not log the refusal"
n=$(grep -c "api: credential issued user=alice@corp.example origin=http://127.0.0.1:$WEB" "$T/sedge.log")
[ "$n" -ge 2 ] || fail "expected a renewed credential, the API issued $n"
ok "sessions name alice@corp.example and the page's origin; the denied origin never allocated; $n credentials issued"

kill "$STUN_PID" 2>/dev/null
for _ in $(seq 20); do [ -s "$T/stun.json" ] && break; sleep 0.1; done
grep -q '"datagrams": 0' "$T/stun.json" || fail "the site's own STUN server was contacted: $(cat "$T/stun.json")"
ok "the page's own ICE server never received a packet"
