#!/bin/bash
# Recording anchored calls (aiortc on both sides):
#   - with a `record always` rule, POST /v1/credentials answers mode
#     "anchor"; an H.264 + Opus call is recorded into ONE recording of the
#     catalog holding both parties (tests/lib/anchor_rec_check.py: per
#     party, ffprobe decodes at least 90 % of the video frames and audio
#     packets that party sent, with no decode error; metadata names
#     session, user, origin, rule, remote party and both parties'
#     addresses, each stream's codec, party and direction, and RTCP
#     sender-report sync); `sedge record verify` and `sedge recordings
#     verify` pass, the catalog row is complete; the session row's
#     recording is the catalog id;
#   - a VP8 call (aiortc's default) is recorded the same way, into WebM;
#   - without the rule, no recording exists;
#   - a rule that starts to require recording during a live call starts
#     the recording (fail closed: media waits for the recorder).
. "$(dirname "$0")/../lib/sedge.sh"
/usr/bin/python3 -c 'import aiortc' 2>/dev/null || skip "aiortc not installed"
for t in ffprobe ffmpeg; do command -v $t >/dev/null || skip "$t not installed"; done

API_PORT=$((BASE + 3))
head -c 32 /dev/urandom | base64 >"$T/rec.key"
write_config "api = { address = \"127.0.0.1\"; port = $API_PORT; turn_host = \"127.0.0.1\"; };" \
    'policy = { default = "allow"; session_update = 1; recheck_interval = 1; };' \
    "anchor = { inside_address = \"127.0.0.3\"; outside_address = \"127.0.0.3\"; min_port = $ANCHOR_MIN; max_port = $ANCHOR_MAX; };" \
    "recording = { dir = \"$T/rec\"; sign_key_file = \"$T/rec.key\"; fsync_interval = 500; };"
for u in alice bob carol; do sedge_cli user add "$u" --password pw >/dev/null || fail "user add"; done
sedge_cli secret add 'anchor-record-secret' >/dev/null || fail "secret add"
sedge_cli rule add allow --user alice --record always --name record-alice >/dev/null || fail "rule add"
RULE=$(sedge_cli rule list --json | $PY -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
sedge_start
wait_log "api: listening" 5 || fail "api not listening"

CODE=$(curl -sk --max-time 10 -o "$T/body" -w '%{http_code}' -u alice:pw -H 'Content-Type: application/json' \
    -d '{"origin": "https://meet.example.com"}' "https://127.0.0.1:$API_PORT/v1/credentials")
[ "$CODE" = 200 ] && grep -q '"mode":"anchor"' "$T/body" || fail "alice's credential: $CODE $(cat "$T/body")"
ok "with a recording anchor, a record-always credential answers mode anchor"

anchor_call() { # USER OUT [args]
    local u=$1 out=$2; shift 2
    timeout 90 $PY "$SEDGE_ROOT/tests/lib/anchor_call.py" --api "https://127.0.0.1:$API_PORT" \
        --cafile "$T/cert.pem" --user "$u" --password pw "$@" >"$out" 2>"$out.err" ||
        { cat "$out"; tail -5 "$out.err"; fail "anchored call of $u"; }
}

# ---- a recorded call (H.264) ----
anchor_call alice "$T/alice.json" --seconds 10 --h264
ID=$($PY -c "import json; print(json.load(open('$T/alice.json'))['id'])")
[ "$($PY -c "import json; print(json.load(open('$T/alice.json'))['record'])")" = True ] || fail "record flag"
wait_log "anchor: recording rec-[^ ]* of $ID sealed" 15 || fail "the recording was not sealed"
REC=$(grep -oE "anchor: recording rec-[^ ]* of $ID sealed" "$T/sedge.log" | awk '{print $3}')
[ "$(ls "$T/rec" | grep -c .)" = 1 ] || fail "expected one recording for the call: $(ls "$T/rec")"
[ -d "$T/rec/$REC" ] || fail "no directory $REC: $(ls "$T/rec")"
check_rec() { # DIR CALL.json VCODEC
    $PY - "$2" >"$T/sent.args" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))["frames"]
print(f"inside:{f['a_sent_video']}:{f['a_sent_audio']} outside:{f['b_sent_video']}:{f['b_sent_audio']}")
PY
    read -r si so <"$T/sent.args"
    $PY "$SEDGE_ROOT/tests/lib/anchor_rec_check.py" --dir "$1" --vcodec "$3" --sent "$si" --sent "$so" \
        --session "$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['id'])" "$2")" \
        --user alice --origin https://meet.example.com --rule record-alice
}
check_rec "$T/rec/$REC" "$T/alice.json" H264 || fail "the recording of the H.264 call"
"$SEDGE_BIN" record verify "$T/rec/$REC" --key-file "$T/rec.key" >"$T/verify.log" 2>&1 ||
    { cat "$T/verify.log"; fail "sedge record verify $REC"; }
R() { "$SEDGE_BIN" recordings "$@" --config "$T/sedge.conf"; }
for _ in $(seq 1 30); do
    [ "$(R show "$REC" --json 2>/dev/null | $PY -c 'import json,sys; print(json.load(sys.stdin)["status"])')" = complete ] && break
    sleep 0.2
done
R show "$REC" --json >"$T/row.json" || fail "no catalog row for $REC"
$PY - "$T/row.json" "$ID" "$RULE" <<'PY' || fail "catalog row: $(cat "$T/row.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["status"] == "complete", d["status"]
assert d["session_id"] == sys.argv[2] and d["user"] == "alice" and d["source"] == "anchor", d
assert d["origin"] == "https://meet.example.com" and d["remote"].startswith("127.0.0.1:"), d
assert d["rule_id"] == int(sys.argv[3]) and d["rule"] == "record-alice", d
PY
R verify "$REC" >"$T/rverify.log" 2>&1 || { cat "$T/rverify.log"; fail "sedge recordings verify $REC"; }
ok "one recording per call holding both parties (H.264 + Opus each, >= 90 % of what was sent), sender-report sync, verified, catalog row complete"
sleep 1
sedge_cli sessions --json >"$T/sessions.json"
$PY - "$T/sessions.json" "$ID" "$REC" <<'PY' || fail "session row: $(cat "$T/sessions.json")"
import json, sys
r = {x["id"]: x for x in json.load(open(sys.argv[1]))}[sys.argv[2]]
assert r["record"] == "always" and r["recording"] == sys.argv[3], r
PY
ok "the session row names the catalog recording"

# ---- a recorded call in aiortc's default codec, VP8 (WebM) ----
anchor_call alice "$T/vp8.json" --seconds 8
VID=$($PY -c "import json; print(json.load(open('$T/vp8.json'))['id'])")
wait_log "anchor: recording rec-[^ ]* of $VID sealed" 15 || fail "the VP8 recording was not sealed"
VREC=$(grep -oE "anchor: recording rec-[^ ]* of $VID sealed" "$T/sedge.log" | awk '{print $3}')
ls "$T/rec/$VREC"/*.webm >/dev/null 2>&1 || fail "no WebM in the VP8 recording: $(ls "$T/rec/$VREC")"
check_rec "$T/rec/$VREC" "$T/vp8.json" VP8 || fail "the recording of the VP8 call"
for _ in $(seq 1 30); do
    [ "$(R show "$VREC" --json 2>/dev/null | $PY -c 'import json,sys; print(json.load(sys.stdin)["status"])')" = complete ] && break
    sleep 0.2
done
R verify "$VREC" >"$T/rverify.log" 2>&1 || { cat "$T/rverify.log"; fail "sedge recordings verify $VREC"; }
ok "a VP8 call is recorded (WebM, both parties decodable, >= 90 %) and verifies"

# ---- the deployed path: the inside party relay-only through sedge's TURN ----
# alice's record-always credential (mode anchor) may relay only to the
# anchor, which is all an anchored call needs.
U=$($PY -c "import json; print(json.load(open('$T/body'))['username'])")
P=$($PY -c "import json; print(json.load(open('$T/body'))['credential'])")
anchor_call alice "$T/relay.json" --seconds 6 --h264 --turn "turn:127.0.0.1:$PORT?transport=udp" --turn-user "$U" --turn-password "$P"
RID=$($PY -c "import json; print(json.load(open('$T/relay.json'))['id'])")
$PY - "$T/relay.json" <<'PY' || fail "relay-only call: $(cat "$T/relay.json")"
import json, sys
r = json.load(open(sys.argv[1]))
inside = r["get"]["legs"]["inside"]
assert inside["remote"].startswith("127.0.0.2:"), inside  # A's relayed address
print("inside party reached the anchor from its relayed address", inside["remote"])
PY
wait_log "anchor: recording rec-[^ ]* of $RID sealed" 15 || fail "the relay-only call was not recorded"
sleep 1
sedge_cli sessions --json >"$T/sessions2.json"
$PY - "$T/sessions2.json" "$U" <<'PY' || fail "alice's TURN session: $(cat "$T/sessions2.json")"
import json, sys
rows = [r for r in json.load(open(sys.argv[1])) if r["username"] == sys.argv[2] and r["mode"] == "turn"]
assert rows, "no TURN session for the credential"
for r in rows:  # aiortc allocates per m-line and deletes what BUNDLE does not use
    assert r["record"] == "always" and set(r["peers"]) <= {"127.0.0.3"}, r
assert max(r["bytes_from_client"] for r in rows) > 10000, rows
print("TURN sessions of the credential reached only", {p for r in rows for p in r["peers"]})
PY
ok "relay-only through sedge's TURN with the record-always credential: anchored, recorded, only the anchor reached"

# ---- no rule, no recording ----
before=$(ls "$T/rec" | wc -l)
anchor_call bob "$T/bob.json" --seconds 3 --h264
[ "$($PY -c "import json; print(json.load(open('$T/bob.json'))['record'])")" = False ] || fail "bob's record flag"
sleep 1
[ "$(ls "$T/rec" | wc -l)" = "$before" ] || fail "bob's call was recorded: $(ls "$T/rec")"
ok "without a recording rule nothing is recorded"

# ---- a rule that starts to require recording mid-call ----
anchor_call carol "$T/carol.json" --seconds 12 --h264 --keep --then-rule "$SEDGE_BIN rule add allow --user carol --record always --name record-carol --config $T/sedge.conf" &
CALL=$!
wait "$CALL" || fail "carol's call"
CID=$($PY -c "import json; print(json.load(open('$T/carol.json'))['id'])")
wait_log "anchor: $CID: policy now requires recording" 5 || fail "the new rule did not reach the live call"
wait_log "anchor: $CID: recording " 5 || fail "the live call was not recorded after the rule"
$PY -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d['get']['recording'] else 1)" "$T/carol.json" ||
    fail "GET does not show the recording of carol's call"
ok "a rule added during a call starts its recording"
