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
