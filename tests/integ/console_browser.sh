#!/bin/bash
# The compliance console in real headless Chromium against the real sedge:
#
#   sedge record import --config  ->  a recording of alice (H.264 + Opus fMP4)
#   Chromium (playwright-core over CDP) --HTTPS--> sedge api.management listener
#                                                  /console/, /v1/recordings
#     sign in, search, open, play 2 s (<video> through Range requests on a
#     grant URL), verify, legal hold, audit trail; screenshot kept in
#     build/test-logs/console_browser.png
. "$(dirname "$0")/../lib/sedge.sh"
. "$(dirname "$0")/../lib/record.sh"
[ -x /usr/bin/chromium ] || skip "chromium not installed"
[ -d "$SEDGE_ROOT/node_modules/playwright-core" ] || skip "playwright-core not installed (npm install)"

gen_media 6
$PY "$INJECT" make --video "$T/v1.rtp" --audio "$T/a.rtp" --pcap "$T/x.pcap" --sdp "$T/x.sdp" \
    --report "$T/x.json" >/dev/null || fail "injector"
API_PORT=$((BASE + 3))
MGMT_PORT=$((BASE + 4)) # the console and the recordings API live on the management listener
write_config "api = { address = \"127.0.0.1\"; port = $API_PORT; rate = 100; burst = 200; management = { address = \"127.0.0.1\"; port = $MGMT_PORT; }; };" \
    "recording = { dir = \"$T/rec\"; };"
for who in alice bob; do
    "$SEDGE_BIN" record import --pcap "$T/x.pcap" --sdp "$T/x.sdp" --config "$T/sedge.conf" \
        --user "$who@example.com" --origin https://meet.example.com --remote "carol@partner.example" \
        >/dev/null 2>&1 || fail "import $who"
done
TOKEN=$(sedge_cli token add --role compliance --name officer 2>/dev/null) || fail "token add"
SPKI=$(openssl x509 -in "$T/cert.pem" -pubkey -noout | openssl pkey -pubin -outform der |
    openssl dgst -sha256 -binary | base64)
sedge_start
wait_log "api: listening https://127.0.0.1:$MGMT_PORT \\(management" 5 || fail "no management listener"

SHOT="$(dirname "$SEDGE_BIN")/test-logs/console_browser.png"
mkdir -p "$(dirname "$SHOT")"
rm -f "$SHOT"
timeout 150 node "$SEDGE_ROOT/tests/e2e/console_e2e.mjs" --url "https://127.0.0.1:$MGMT_PORT/console/" \
    --token "$TOKEN" --spki "$SPKI" --user alice@example.com --shot "$SHOT" >"$T/e2e.log" 2>&1
rc=$?
grep -E '^CASE' "$T/e2e.log" | cut -c1-700
[ $rc -eq 0 ] || { tail -n 20 "$T/e2e.log" | cut -c1-2000; fail "console cases failed (exit $rc)"; }
for c in accessible-markup sign-in search open play-2s verify hold audit-trail no-page-errors; do
    grep -q "^CASE $c ok" "$T/e2e.log" || fail "case $c did not pass"
done
[ -s "$SHOT" ] || fail "no screenshot"
ok "console: signed in, searched, played 2 s ($(grep -o '"decoded":[0-9]*' "$T/e2e.log")), verified, held, audit trail shown; screenshot $SHOT"

# sedge's side: the playback went through Range requests on a grant, under the token
kill -TERM "$SEDGE_PID"; wait "$SEDGE_PID"
ID=$(sqlite3 "$T/sedge.db" "select id from recordings where user = 'alice@example.com'")
[ "$(sqlite3 "$T/sedge.db" "select hold_reason from recordings where id = '$ID'")" = "Matter 2026-042" ] ||
    fail "the hold is not in the catalog"
n=$(sqlite3 "$T/sedge.db" "select count(*) from audit where object = '$ID' and action = 'recording.download' and actor like 'api:token-%/officer' and detail like '%status=206%'")
[ "$n" -ge 1 ] || fail "no 206 download rows for the playback: $(sqlite3 "$T/sedge.db" "select detail from audit where object = '$ID' and action = 'recording.download'")"
ok "sedge audited $n ranged downloads of the playback under the officer's token"
