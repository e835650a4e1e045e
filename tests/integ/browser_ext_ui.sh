#!/bin/bash
# What the employee and the administrator see of the extension, in real
# headless Chromium against the real sedge and a test identity provider:
#
#   +---- a network namespace (only lo) and a mount namespace of its own ----+
#   |  Chromium + extension        pages http://127.0.0.{1,3,4,5,6,7}:$WEB    |
#   |    popup, settings page  --HTTPS--> sedge api 127.0.0.1:$API_PORT       |
#   |    chrome.identity  --HTTP-->  test IdP 127.0.0.1:$IDP_PORT (OIDC)      |
#   |  /etc/chromium: a temp dir (managed policy for the fleet cases)         |
#   +-------------------------------------------------------------------------+
#
# Cases (tests/e2e/ext_ui_e2e.mjs): settings page on install; wrong
# password, unreachable API, right settings; an exemption in the
# employee's storage ignored; popup relayed / refused (rule named) /
# recording required (REC!) / API down with the last error; fleet:
# managed settings read-only, sign-in through the IdP's login page, a page
# loaded before the sign-in works after it, ID token renewed before
# expiry, the administrator's exemption honoured except for a recorded
# site. Popup screenshots: build/test-artifacts/extension/.
set -u
NETNS_MOUNT=1 . "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/sedge.sh"
[ -x /usr/bin/chromium ] || skip "chromium not installed"
[ -d "$SEDGE_ROOT/node_modules/playwright-core" ] || skip "playwright-core not installed (npm install)"

API_PORT=$((BASE + 3))
WEB=$((BASE + 4))
IDP_PORT=$((BASE + 5))
ID_TTL=30
SHOTS=$(dirname "$SEDGE_BIN")/test-artifacts/extension
IDP="http://127.0.0.1:$IDP_PORT"

# Chromium reads managed policy from /etc/chromium/policies: give this
# mount namespace its own /etc/chromium (nothing outside sees it).
mkdir -p "$T/etc-chromium/policies/managed"
cp -a /etc/chromium/. "$T/etc-chromium/" 2>/dev/null
rm -f "$T/etc-chromium/policies/managed/"*
mount --bind "$T/etc-chromium" /etc/chromium || skip "cannot bind-mount /etc/chromium"

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/idp.pem" 2>/dev/null &&
    openssl pkey -in "$T/idp.pem" -pubout -out "$T/idp.pub" || fail "cannot make the IdP key"
write_config "api = {
  address = \"127.0.0.1\"; port = $API_PORT; turn_host = \"127.0.0.1\";
  user_claim = \"email\"; cors_origins = [ \"chrome-extension://*\" ];
  jwt = ( { issuer = \"$IDP\"; audience = \"sedge-extension\"; key = \"$T/idp.pub\"; alg = \"RS256\"; } );
};" 'policy = { default = "allow"; session_update = 2; };'
sedge_cli secret add 'browser-secret' >/dev/null || fail "secret add"
sedge_cli user add bob --password 'bobs password' >/dev/null || fail "user add"
sedge_cli rule add deny --origin "http://127.0.0.3:$WEB" --name blocked-site >/dev/null || fail "rule add"
sedge_cli rule add allow --origin "http://127.0.0.4:$WEB" --record always --name compliance-recording >/dev/null ||
    fail "rule add"
SPKI=$(spki_hash "$T/cert.pem")
sedge_start
wait_log "api: listening" 5 || fail "api not listening"

$PY -m http.server "$WEB" --bind 0.0.0.0 --directory "$SEDGE_ROOT/tests/e2e" >"$T/web.log" 2>&1 &
PIDS+=("$!")
$PY "$SEDGE_ROOT/tests/lib/oidc_idp.py" --port "$IDP_PORT" --key "$T/idp.pem" --alg RS256 \
    --client-id sedge-extension --id-ttl "$ID_TTL" --no-refresh 2>"$T/idp.log" &
PIDS+=("$!")
for _ in $(seq 50); do grep -q listening "$T/idp.log" && break; sleep 0.1; done
grep -q listening "$T/idp.log" || fail "the test IdP did not start"

touch "$T/start"
timeout 220 node "$SEDGE_ROOT/tests/e2e/ext_ui_e2e.mjs" --ext "$SEDGE_ROOT/extension" \
    --api "https://127.0.0.1:$API_PORT" --spki "$SPKI" --web "$WEB" --idp "$IDP" \
    --policy-file /etc/chromium/policies/managed/sedge.json --shots "$SHOTS" \
    --user bob --password 'bobs password' --id-ttl "$ID_TTL" >"$T/e2e.log" 2>&1
rc=$?
grep -E '^(CASE|page:)' "$T/e2e.log" | cut -c1-700
[ $rc -eq 0 ] || { tail -n 30 "$T/e2e.log" | cut -c1-2000; echo "--- idp"; tail -n 20 "$T/idp.log"; fail "browser cases failed (exit $rc)"; }
for c in fresh-install options-wrong-password options-unreachable options-saved employee-cannot-exempt \
    popup-relayed popup-refused popup-recording-required popup-api-down managed-signed-out \
    options-managed oidc-sign-in admin-exemptions oidc-renewed; do
    grep -q "^CASE $c ok" "$T/e2e.log" || fail "case $c did not pass"
done
ok "settings checked before saving; popup in every state; employee cannot exempt; fleet sign-in and renewal"

# sedge's view: the IdP's ID token authenticated alice, the local user bob.
grep -q "api: credential issued user=alice@corp.example origin=http://127.0.0.1:$WEB .* via jwt" "$T/sedge.log" ||
    fail "sedge never issued a credential on alice's ID token"
grep -q "api: credential issued user=bob origin=.* via basic" "$T/sedge.log" || fail "no credential for bob"
grep -q "unknown user or wrong password" "$T/sedge.log" || fail "the wrong password never reached sedge"
n=$(find "$SHOTS" -name 'popup-*.png' -newer "$T/start" | wc -l)
[ "$n" -ge 10 ] || fail "expected 10 new popup screenshots in $SHOTS, found $n"
ok "sedge authenticated alice by her ID token and bob by password; $n popup screenshots in $SHOTS"
