#!/bin/bash
# recording.on_failure for anchored calls (aiortc on both sides, H.264):
# recording.dir is a small tmpfs that a recorded call fills within a few
# seconds (a real ENOSPC, as in recordings_crash.sh).
#   - on_failure = "terminate": the call ends with "recording failed: ..."
#     long before its parties hang up; the session row says so; the
#     recording is sealed "failed" (catalog row, reason No space left on
#     device, audit row recording.failed) and still verifies;
#   - on_failure = "continue": the call goes on unrecorded to its end
#     (media both ways until the parties hang up), the failure is logged,
#     the catalog row is "failed" and verifies, the session ends normally.
. "$(dirname "$0")/../lib/sedge.sh"
/usr/bin/python3 -c 'import aiortc' 2>/dev/null || skip "aiortc not installed"

API_PORT=$((BASE + 3))
# 256 KiB of it is the reserve a recording takes when it starts; the rest
# (about 160 KiB) fills within 2 s of an aiortc call sending noise (--noise).
small_tmpfs "$T/small" 420k

conf() { # ON_FAILURE
    write_config "api = { address = \"127.0.0.1\"; port = $API_PORT; turn_host = \"127.0.0.1\"; };" \
        'policy = { default = "allow"; session_update = 1; };' \
        "anchor = { inside_address = \"127.0.0.3\"; outside_address = \"127.0.0.3\"; min_port = $ANCHOR_MIN; max_port = $ANCHOR_MAX; };" \
        "recording = { dir = \"$T/small/rec\"; fsync_interval = 500; on_failure = \"$1\"; };"
}
conf terminate
sedge_cli user add alice --password pw >/dev/null || fail "user add"
sedge_cli rule add allow --user alice --record always --name record-alice >/dev/null || fail "rule add"
R() { "$SEDGE_BIN" recordings "$@" --config "$T/sedge.conf"; }
call() { # OUT SECONDS: an anchored call of alice; its exit status is the caller's to judge
    timeout 90 $PY "$SEDGE_ROOT/tests/lib/anchor_call.py" --api "https://127.0.0.1:$API_PORT" \
        --cafile "$T/cert.pem" --user alice --password pw --h264 --noise --seconds "$2" >"$1" 2>"$1.err"
}
field() { $PY -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
# the failed recording: sealed "failed" for a full disk, audited, verifies
check_failed() { # ID
    local id=$1
    for _ in $(seq 1 50); do
        R show "$id" --json >"$T/row.json" 2>/dev/null && [ "$(field "$T/row.json" 'd["status"]')" = failed ] && break
        sleep 0.2
    done
    [ "$(field "$T/row.json" 'd["status"]')" = failed ] || fail "catalog row of $id: $(cat "$T/row.json")"
    field "$T/row.json" 'd["reason"]' | grep -q "No space left on device" || fail "reason: $(field "$T/row.json" 'd["reason"]')"
    $PY -c 'import json,sys; a=[x["action"] for x in json.load(open(sys.argv[1]))["audit"]]; sys.exit(0 if "recording.failed" in a else 1)' \
        "$T/row.json" || fail "no recording.failed audit row for $id"
    [ "$(field "$T/small/rec/$id/metadata.json" 'd["state"]')" = failed ] || fail "metadata state of $id"
    R verify "$id" >"$T/verify.log" 2>&1 || { cat "$T/verify.log"; fail "recordings verify $id (failed recordings verify)"; }
}
# the session row names the recording, ended with a reason starting with
# PREFIX (and containing WORDS), within MAX seconds
session_row() { # ID RECORDING PREFIX WORDS MAX
    sleep 1.5
    sedge_cli sessions --json >"$T/sessions.json"
    $PY - "$T/sessions.json" "$@" <<'PY' || fail "session row of $1: $(cat "$T/sessions.json")"
import json, sys
rows, sid, rec, prefix, words, most = sys.argv[1:7]
r = {x["id"]: x for x in json.load(open(rows))}[sid]
assert r["recording"] == rec, r
reason = r.get("end_reason") or r.get("reason") or ""
assert reason.startswith(prefix) and words in reason, r
took = r["ended_unix"] - r["started_unix"]
assert took <= int(most), f"the call lasted {took} s"
print(f"session ended after {took} s: {reason}")
PY
}

# ---- terminate ----
sedge_start
wait_log "api: listening" 5 || fail "api not listening"
call "$T/term.json" 14
ID=$(field "$T/term.json" 'd["id"]') || fail "the call did not start: $(cat "$T/term.json") $(tail -3 "$T/term.json.err")"
wait_log "anchor: $ID: recording rec-[^ ]* failed: .*; ending the call \(recording.on_failure\)" 5 ||
    { df -k "$T/small"; ls -la "$T/small/rec" "$T/small/rec"/*; fail "the full disk did not end the call"; }
wait_log "anchor: $ID ended user=alice: recording failed: .*No space left on device" 5 || fail "no end reason"
REC=$(grep -oE "anchor: $ID: recording rec-[^ ]* failed" "$T/sedge.log" | awk '{print $4}')
check_failed "$REC"
session_row "$ID" "$REC" "recording failed: " "No space left on device" 9
sedge_cli audit --json 2>/dev/null | grep -q "recording failed" || sedge_cli audit 2>/dev/null | grep -q "recording failed" ||
    fail "no audit row naming the failure"
ok "on_failure = terminate: a full recording.dir ends the call (recording failed: No space left on device), recording sealed failed, audited, verifies"

# ---- continue ----
kill "$SEDGE_PID"; for _ in $(seq 50); do kill -0 "$SEDGE_PID" 2>/dev/null || break; sleep 0.1; done
R purge "$REC" --force --reason "room on the small disk for the next case" >/dev/null || fail "purge $REC"
conf continue
: >"$T/sedge.log"
sedge_start
wait_log "api: listening" 5 || fail "api not listening"
call "$T/cont.json" 10 || fail "the call did not go on: $(cat "$T/cont.json")"
CID=$(field "$T/cont.json" 'd["id"]')
grep -qE "anchor: $CID: recording rec-[^ ]* failed: .*; the call goes on unrecorded \(recording.on_failure = continue\)" "$T/sedge.log" ||
    fail "the recording did not fail, or not with continue: $(grep "$CID" "$T/sedge.log" | tail -5)"
CREC=$(grep -oE "anchor: $CID: recording rec-[^ ]* failed" "$T/sedge.log" | awk '{print $4}')
$PY - "$T/cont.json" <<'PY' || fail "media did not go on after the failure: $(cat "$T/cont.json")"
import json, sys
f = json.load(open(sys.argv[1]))["frames"]
print(f)
for k in ("a", "b"):  # 10 s of media decoded, though the disk filled after 2-3 s
    assert f[k + "_video"] >= 0.8 * f[("b" if k == "a" else "a") + "_sent_video"] > 150, (k, f)
PY
check_failed "$CREC"
session_row "$CID" "$CREC" "ended through the API" "" 30
ok "on_failure = continue: the call goes on unrecorded to its end, the failure logged, the recording sealed failed and verifies"
