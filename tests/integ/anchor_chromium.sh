#!/bin/bash
# Chromium <-> sedge anchor <-> Chromium (tests/e2e/anchor_e2e.mjs):
#
#   +------------- a network namespace of its own: only lo --------------+
#   |  Chromium page A (inside)              Chromium page B (outside)    |
#   |    ICE/DTLS-SRTP --> anchor 127.0.0.3 <-- ICE/DTLS-SRTP             |
#   |  driver: SDP and trickled candidates --> https://127.0.0.1:$API    |
#   +---------------------------------------------------------------------+
#
# Cases: VP8 (the browser's default) with trickle ICE: video and audio
# decoded both ways, a data channel both ways, each page's remote DTLS
# certificate is sedge's; a track added mid-call (renegotiation through
# /offer and /answer) is decoded on the other side; an ICE restart
# offered by the outside party gets new credentials from sedge on that
# leg while media keeps flowing; H.264 preferred for a
# user whose calls are recorded: the same, and the recording decodes
# (>= 90 % of the frames and audio packets each side sent) and verifies.
set -u
if [ -z "${SEDGE_IN_NETNS:-}" ]; then
    command -v unshare >/dev/null && [ "$(id -u)" = 0 ] || { echo "skip: needs root and unshare"; exit 77; }
    SEDGE_IN_NETNS=1 exec unshare --net -- bash -c 'ip link set lo up && exec bash "$0"' "$0"
fi
. "$(dirname "$0")/../lib/sedge.sh"
[ -x /usr/bin/chromium ] || skip "chromium not installed"
[ -d "$SEDGE_ROOT/node_modules/playwright-core" ] || skip "playwright-core not installed (npm install)"
for t in ffprobe node; do command -v $t >/dev/null || skip "$t not installed"; done

API_PORT=$((BASE + 3))
WEB=$((BASE + 4))
head -c 32 /dev/urandom | base64 >"$T/rec.key"
write_config "api = { address = \"127.0.0.1\"; port = $API_PORT; turn_host = \"127.0.0.1\"; rate = 0; };" \
    'policy = { default = "allow"; session_update = 1; };' \
    "anchor = { inside_address = \"127.0.0.3\"; outside_address = \"127.0.0.3\"; min_port = $ANCHOR_MIN; max_port = $ANCHOR_MAX; };" \
    "recording = { dir = \"$T/rec\"; sign_key_file = \"$T/rec.key\"; };"
for u in alice bob; do sedge_cli user add "$u" --password pw >/dev/null || fail "user add"; done
sedge_cli rule add allow --user alice --record always --name record-alice >/dev/null || fail "rule add"
sedge_start
wait_log "api: listening" 5 || fail "api not listening"
$PY -m http.server "$WEB" --bind 127.0.0.1 --directory "$SEDGE_ROOT/tests/e2e" >"$T/web.log" 2>&1 &
PIDS+=("$!")
sleep 0.5

timeout 220 node "$SEDGE_ROOT/tests/e2e/anchor_e2e.mjs" --api "https://127.0.0.1:$API_PORT" \
    --ca "$T/cert.pem" --page "http://127.0.0.1:$WEB/anchor.html" --plain bob:pw --rec alice:pw \
    >"$T/e2e.log" 2>&1
rc=$?
grep -E '^(CASE|page:)' "$T/e2e.log" | cut -c1-1500
[ $rc -eq 0 ] || { tail -n 30 "$T/e2e.log" | cut -c1-3000; fail "browser cases failed (exit $rc)"; }
ok "VP8 with trickle, a track added mid-call, H.264 recorded: media and data both ways, sedge's certificate on both legs"

# The recording of the H.264 call: one recording, both parties decode what they sent.
R() { "$SEDGE_BIN" recordings "$@" --config "$T/sedge.conf"; }
sealed() { # RECORDING: wait until its catalog row is complete
    for _ in $(seq 1 75); do
        [ "$(R show "$1" --json 2>/dev/null | $PY -c 'import json,sys; print(json.load(sys.stdin)["status"])')" = complete ] && return 0
        sleep 0.2
    done
    return 1
}
line=$(grep '^CASE h264-recorded ok' "$T/e2e.log" | cut -d' ' -f4-)
ID=$(echo "$line" | $PY -c 'import json,sys; print(json.load(sys.stdin)["id"])')
REC=$(echo "$line" | $PY -c 'import json,sys; print(json.load(sys.stdin)["recording"])')
sealed "$REC" || fail "the recording $REC of $ID was not sealed: $(R show "$REC" 2>&1 | head -5)"
read -r SI SO < <(echo "$line" | $PY -c 'import json,sys; s=json.load(sys.stdin)["sent"]; print("inside:%d:%d outside:%d:%d" % (s["a_video"], s["a_audio"], s["b_video"], s["b_audio"]))')
$PY "$SEDGE_ROOT/tests/lib/anchor_rec_check.py" --dir "$T/rec/$REC" --vcodec H264 --sent "$SI" --sent "$SO" \
    --session "$ID" --user alice --rule record-alice || fail "the recording of the H.264 call"
R verify "$REC" >"$T/verify.log" 2>&1 || { cat "$T/verify.log"; fail "recordings verify $REC"; }
[ "$(ls "$T/rec" | grep -c .)" -ge 1 ] || fail "no recording"
ok "the recorded Chromium call is one recording: both parties decode from it (>= 90 %), SR sync, verified"

# The VP8 call whose streams changed mid-call: two recordings, both sealed,
# verified and decodable; in the second the inside party's two video
# tracks (same payload type) are two streams.
line=$(grep '^CASE recorded-renegotiation ok' "$T/e2e.log" | cut -d' ' -f4-)
first=$(echo "$line" | $PY -c 'import json,sys; print(json.load(sys.stdin)["first"])')
second=$(echo "$line" | $PY -c 'import json,sys; print(json.load(sys.stdin)["second"])')
for r in "$first" "$second"; do
    sealed "$r" || fail "the recording $r was not sealed"
    R verify "$r" >"$T/verify.log" 2>&1 || { cat "$T/verify.log"; fail "recordings verify $r"; }
    for f in "$T/rec/$r"/segment-*; do
        out=$(ffmpeg -nostdin -v error -i "$f" -f framemd5 - 2>&1 >/dev/null)
        [ -z "$out" ] || fail "decode errors in $f: $(echo "$out" | head -3)"
    done
done
$PY - "$T/rec/$first/metadata.json" "$T/rec/$second/metadata.json" <<'PY' || fail "the renegotiated call's recordings"
import json, sys
one, two = (json.load(open(p)) for p in sys.argv[1:3])
assert one["session_id"] == two["session_id"], (one["session_id"], two["session_id"])
def video(m, party):
    return [s for s in m["streams"] if s["media"] == "video" and s.get("party") == party]
for m in (one, two):
    for s in video(m, "outside") + video(m, "inside"):
        assert s["codec"] == "VP8", s["codec"]
    assert all(f.endswith(".webm") for f in (g["file"] for g in m["segments"] if g.get("video"))), m["segments"]
assert len(video(one, "inside")) == 1 and len(video(two, "inside")) == 2, (video(one, "inside"), video(two, "inside"))
for s in video(two, "inside") + video(two, "outside")[:1]:  # B adds no track: its mid 3 stays empty
    w = s.get("frames", {}).get("written", 0)
    print(f"second recording: {s['party']} video {s['label']} ssrc {s.get('ssrc')}: {w} frames written")
    assert w >= 10, s
ssrcs = [s.get("ssrc") for s in video(two, "inside")]
assert len(set(ssrcs)) == 2, ssrcs
PY
ok "a track added to a recorded VP8 call starts its next recording; both verify and decode, the added track is its own stream"
