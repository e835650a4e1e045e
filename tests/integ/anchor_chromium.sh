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

# The recording of the H.264 call: each direction decodes what was sent.
line=$(grep '^CASE h264-recorded ok' "$T/e2e.log" | cut -d' ' -f4-)
ID=$(echo "$line" | $PY -c 'import json,sys; print(json.load(sys.stdin)["id"])')
wait_log "anchor: recording .*$ID-from-outside sealed" 15 || fail "the recording was not sealed"
for side in inside outside; do
    d=$(ls -d "$T/rec/"*"$ID-from-$side")
    "$SEDGE_BIN" record verify "$d" --key-file "$T/rec.key" >"$T/verify.log" 2>&1 ||
        { cat "$T/verify.log"; fail "record verify $d"; }
    mp4=$(ls "$d"/*.mp4 | head -1)
    vf=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$mp4")
    ap=$(ffprobe -v error -count_packets -select_streams a:0 -show_entries stream=nb_read_packets -of csv=p=0 "$mp4")
    k=$([ $side = inside ] && echo a || echo b)
    echo "$line" | $PY -c "
import json, sys
d = json.load(sys.stdin); k = '$k'; vf, ap = int('${vf:-0}' or 0), int('${ap:-0}' or 0)
sv, sa = d['sent'][k + '_video'], d['sent'][k + '_audio']
print(f'$side: {vf}/{sv} video frames, {ap}/{sa} audio packets recorded')
sys.exit(0 if vf >= 0.9 * sv and ap >= 0.9 * sa else 1)" || fail "the $side party's recording lacks frames"
done
ok "the recorded Chromium call decodes from the recording in both directions and verifies"

# A recorded call whose streams changed mid-call: two recordings, both sealed and verified.
line=$(grep '^CASE recorded-renegotiation ok' "$T/e2e.log" | cut -d' ' -f4-)
second=$(echo "$line" | $PY -c 'import json,sys; print(json.load(sys.stdin)["second"])')
wait_log "anchor: recording $second-from-outside sealed" 15 || fail "the second recording was not sealed"
n=0
for d in "$T/rec/"*"$(echo "$line" | $PY -c 'import json,sys; print(json.load(sys.stdin)["id"])')"*; do
    "$SEDGE_BIN" record verify "$d" --key-file "$T/rec.key" >"$T/verify.log" 2>&1 ||
        { cat "$T/verify.log"; fail "record verify $d"; }
    n=$((n + 1))
done
[ "$n" = 4 ] || { ls "$T/rec"; fail "expected two recordings (4 directories) of the renegotiated call, found $n"; }
ok "a track added to a recorded call starts its next recording; both verify"
