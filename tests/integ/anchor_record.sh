#!/bin/bash
# Recording anchored calls (aiortc on both sides, H.264 + Opus):
#   - with a `record always` rule, POST /v1/credentials answers mode
#     "anchor"; the call is recorded into one recording (a directory per
#     direction, one stem); ffprobe decodes at least 90 % of the video
#     frames and audio packets each side sent, `sedge record verify`
#     passes with the signing key; metadata names user, origin, both
#     parties' addresses, the rule, each stream's codec and direction;
#     the session row names the recording;
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
        --cafile "$T/cert.pem" --user "$u" --password pw --h264 "$@" >"$out" 2>"$out.err" ||
        { cat "$out"; tail -5 "$out.err"; fail "anchored call of $u"; }
}

# ---- a recorded call ----
anchor_call alice "$T/alice.json" --seconds 10
ID=$($PY -c "import json; print(json.load(open('$T/alice.json'))['id'])")
[ "$($PY -c "import json; print(json.load(open('$T/alice.json'))['record'])")" = True ] || fail "record flag"
wait_log "anchor: recording .*$ID-from-outside sealed" 15 || fail "the recording was not sealed"
sleep 1
ls "$T/rec"
[ "$(ls "$T/rec" | grep -c "$ID")" = 2 ] || fail "expected one recording (two directions) for $ID: $(ls "$T/rec")"
for side in inside outside; do
    d=$(ls -d "$T/rec/"*"$ID-from-$side")
    "$SEDGE_BIN" record verify "$d" --key-file "$T/rec.key" >"$T/verify-$side.log" 2>&1 ||
        { cat "$T/verify-$side.log"; fail "sedge record verify $d"; }
    mp4=$(ls "$d"/*.mp4 | head -1)
    [ -n "$mp4" ] || fail "no MP4 in $d"
    vf=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$mp4")
    ap=$(ffprobe -v error -count_packets -select_streams a:0 -show_entries stream=nb_read_packets -of csv=p=0 "$mp4")
    key=$([ $side = inside ] && echo a || echo b)
    $PY - "$T/alice.json" "$key" "$vf" "$ap" "$side" "$d/metadata.json" "$RULE" <<'PY' || fail "recording of the $side party"
import json, sys
r = json.load(open(sys.argv[1])); k = sys.argv[2]
vf, ap, side, rule = int(sys.argv[3] or 0), int(sys.argv[4] or 0), sys.argv[5], sys.argv[7]
sent_v, sent_a = r["frames"][k + "_sent_video"], r["frames"][k + "_sent_audio"]
print(f"{side}: {vf}/{sent_v} video frames, {ap}/{sent_a} audio packets recorded")
assert vf >= 0.9 * sent_v, ("video", vf, sent_v)
assert ap >= 0.9 * sent_a, ("audio", ap, sent_a)
m = json.load(open(sys.argv[6]))
assert m["state"] == "complete" and m["source"] == "anchor" and m["session_id"] == r["id"], m
assert m["policy_rule"] == f"#{rule} record-alice", m["policy_rule"]
names = " | ".join(p["name"] for p in m["participants"])
assert "user alice" in names and "origin https://meet.example.com" in names, names
assert names.count("127.0.0.1:") == 2, names
assert names.startswith(f"sender: {side} party"), names
codecs = {(s["codec"], s["label"].split(":")[1]) for s in m["streams"]}
assert codecs == {("H264", "from-" + side), ("opus", "from-" + side)}, codecs
PY
done
ok "one recording per call, both directions decodable (>= 90 % of what was sent), verified, metadata complete"
sleep 1
sedge_cli sessions --json >"$T/sessions.json"
$PY - "$T/sessions.json" "$ID" <<'PY' || fail "session row: $(cat "$T/sessions.json")"
import json, sys
r = {x["id"]: x for x in json.load(open(sys.argv[1]))}[sys.argv[2]]
assert r["record"] == "always" and r["recording"] and r["recording"].endswith(sys.argv[2]), r
PY
ok "the session row names the recording"

# ---- the deployed path: the inside party relay-only through sedge's TURN ----
# alice's record-always credential (mode anchor) may relay only to the
# anchor, which is all an anchored call needs.
U=$($PY -c "import json; print(json.load(open('$T/body'))['username'])")
P=$($PY -c "import json; print(json.load(open('$T/body'))['credential'])")
anchor_call alice "$T/relay.json" --seconds 6 --turn "turn:127.0.0.1:$PORT?transport=udp" --turn-user "$U" --turn-password "$P"
RID=$($PY -c "import json; print(json.load(open('$T/relay.json'))['id'])")
$PY - "$T/relay.json" <<'PY' || fail "relay-only call: $(cat "$T/relay.json")"
import json, sys
r = json.load(open(sys.argv[1]))
inside = r["get"]["legs"]["inside"]
assert inside["remote"].startswith("127.0.0.2:"), inside  # A's relayed address
print("inside party reached the anchor from its relayed address", inside["remote"])
PY
wait_log "anchor: recording .*$RID-from-outside sealed" 15 || fail "the relay-only call was not recorded"
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
anchor_call bob "$T/bob.json" --seconds 3
[ "$($PY -c "import json; print(json.load(open('$T/bob.json'))['record'])")" = False ] || fail "bob's record flag"
sleep 1
[ "$(ls "$T/rec" | wc -l)" = "$before" ] || fail "bob's call was recorded: $(ls "$T/rec")"
ok "without a recording rule nothing is recorded"

# ---- a rule that starts to require recording mid-call ----
anchor_call carol "$T/carol.json" --seconds 12 --keep --then-rule "$SEDGE_BIN rule add allow --user carol --record always --name record-carol --config $T/sedge.conf" &
CALL=$!
wait "$CALL" || fail "carol's call"
CID=$($PY -c "import json; print(json.load(open('$T/carol.json'))['id'])")
wait_log "anchor: $CID: policy now requires recording" 5 || fail "the new rule did not reach the live call"
wait_log "anchor: $CID: recording " 5 || fail "the live call was not recorded after the rule"
$PY -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d['get']['recording'] else 1)" "$T/carol.json" ||
    fail "GET does not show the recording of carol's call"
ok "a rule added during a call starts its recording"
