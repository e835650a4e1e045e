#!/bin/bash
# Anchor mode with aiortc on both sides, driven through the HTTPS API the
# way a signalling application would (tests/lib/anchor_call.py):
#   A (inside) --offer--> POST /v1/anchor --offer'--> B (outside)
#   B --answer--> POST /v1/anchor/{id}/answer --answer'--> A
#   A <==ICE/DTLS-SRTP==> sedge 127.0.0.3 <==ICE/DTLS-SRTP==> B
# Cases: audio and video decoded on both sides and a data channel message
# both ways, each side's DTLS peer is sedge's certificate (the fingerprint
# GET /v1/anchor/{id} shows), never the other party's; the session is a
# row (mode anchor, both legs' bytes) that ends when DELETEd.
. "$(dirname "$0")/../lib/sedge.sh"
/usr/bin/python3 -c 'import aiortc' 2>/dev/null || skip "aiortc not installed"

API_PORT=$((BASE + 3))
write_config "api = { address = \"127.0.0.1\"; port = $API_PORT; turn_host = \"127.0.0.1\"; };" \
    'policy = { default = "allow"; session_update = 1; };' \
    "anchor = { inside_address = \"127.0.0.3\"; outside_address = \"127.0.0.3\"; min_port = $ANCHOR_MIN; max_port = $ANCHOR_MAX; };"
sedge_cli user add alice --password pw >/dev/null || fail "user add"
sedge_start
wait_log "api: listening" 5 || fail "api not listening"
wait_log "anchor: inside 127.0.0.3" 5 || fail "anchor not started"

timeout 90 $PY "$SEDGE_ROOT/tests/lib/anchor_call.py" --api "https://127.0.0.1:$API_PORT" \
    --cafile "$T/cert.pem" --user alice --password pw --seconds 6 >"$T/call.json" 2>"$T/call.err"
rc=$?
cat "$T/call.json"
[ $rc -eq 0 ] || { tail -20 "$T/call.err"; fail "anchored call failed"; }
ok "audio, video and data both ways through the anchor; both parties saw sedge's fingerprint"

ID=$($PY -c "import json; print(json.load(open('$T/call.json'))['id'])")
wait_log "anchor: $ID ended user=alice: ended through the API" 5 || fail "the DELETE did not end the session"
sleep 1 # the END event reaches the sessions table within 250 ms
sedge_cli sessions --json >"$T/sessions.json" || fail "sedge sessions"
$PY - "$T/sessions.json" "$ID" <<'PY' || fail "session row: $(cat "$T/sessions.json")"
import json, sys
rows = {r["id"]: r for r in json.load(open(sys.argv[1]))}
r = rows[sys.argv[2]]
assert r["mode"] == "anchor" and r["user"] == "alice", r
assert r["origin"] == "https://meet.example.com", r
assert r["end_reason"] == "ended through the API" and r["ended"], r
assert r["client"].startswith("udp:127.0.0.1:") and r["peers"] == ["127.0.0.1"], r
assert r["relay"].startswith("127.0.0.3:"), r
for k in ("bytes_from_client", "bytes_to_client", "bytes_from_peer", "bytes_to_peer"):
    assert r[k] > 10000, (k, r)
assert r["recording"] is None and r["record"] == "never", r
PY
ok "the call is a session row: mode anchor, both legs' bytes, ended by the DELETE"
grep -q "anchor.create" <(sedge_cli audit --json) && grep -q "anchor.end" <(sedge_cli audit --json) ||
    fail "creating and ending the call are not audited"
ok "created and ended calls are audited"

# An admin ends a live anchored call through the admin API.
ADMIN=$(sedge_cli token add --role admin 2>/dev/null) || fail "token add"
live_call() { # USER LOG: start a long call in the background, wait until it is live
    $PY "$SEDGE_ROOT/tests/lib/anchor_call.py" --api "https://127.0.0.1:$API_PORT" --cafile "$T/cert.pem" \
        --user "$1" --password pw --seconds 30 --keep >"$2" 2>&1 &
    PIDS+=("$!")
    LIVE_PID=$!
    for _ in $(seq 200); do
        LIVE_ID=$(grep -oE "anchor: an-[0-9a-f]+ live: " "$T/sedge.log" | cut -d' ' -f2 | grep -vxF -f "$T/seen" | head -1)
        [ -n "$LIVE_ID" ] && { echo "$LIVE_ID" >>"$T/seen"; return 0; }
        sleep 0.1
    done
    fail "the call of $1 did not come up"
}
echo "$ID" >"$T/seen"
sedge_cli user add bob --password pw >/dev/null || fail "user add bob"
live_call bob "$T/bob.log"
CODE=$(curl -sk --max-time 10 -o "$T/body" -w '%{http_code}' -X DELETE -H "Authorization: Bearer $ADMIN" \
    "https://127.0.0.1:$API_PORT/v1/admin/sessions/$LIVE_ID")
[ "$CODE" = 202 ] || fail "admin kill: $CODE $(cat "$T/body")"
wait_log "anchor: $LIVE_ID ended user=bob: killed by admin" 3 || fail "the admin kill did not end the call"
kill "$LIVE_PID" 2>/dev/null
ok "DELETE /v1/admin/sessions/{id} ends an anchored call"

# A policy change that revokes the user ends the call within 2 s.
live_call alice "$T/alice2.log"
t0=$(date +%s.%N)
sedge_cli rule add deny --user alice --name no-alice >/dev/null || fail "rule add"
wait_log "anchor: $LIVE_ID ended user=alice: revoked: denied by rule #[0-9]+ no-alice" 3 ||
    fail "the deny rule did not end the live call"
t1=$(date +%s.%N)
kill "$LIVE_PID" 2>/dev/null
$PY -c "import sys; d=float(sys.argv[2])-float(sys.argv[1]); print(f'revoked after {d:.2f} s'); sys.exit(0 if d <= 2.0 else 1)" "$t0" "$t1" ||
    fail "revoking took longer than 2 s"
ok "a rule that denies the user ends the live anchored call within 2 s (reason revoked)"
