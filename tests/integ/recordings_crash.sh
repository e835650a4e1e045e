#!/bin/bash
# Crash safety of recordings:
#
#   rtpinject.py send (real time) --UDP--> sedge record listen --config --fsync-interval 1000
#                                             |  kill -9 at T seconds
#   sedge serve (the next start) -----------> seals it from its journal: "incomplete",
#                                             signed manifest, verify passes
#
# Measured: the frames that decode after the kill against the bound
# T - (fragment duration + fsync interval), for H.264 (fragmented MP4)
# and for VP8 (WebM: the same journal, clusters instead of fragments).
# Then a real full disk: a small
# tmpfs as recording.dir; the recording is sealed at its last good fragment
# as "failed" with the reason, with an audit row and the failure counted,
# while a second recorder on another disk and the relay carry on.
. "$(dirname "$0")/../lib/sedge.sh"
. "$(dirname "$0")/../lib/record.sh"

gen_media 8
VPORT=$((BASE + 4)) APORT=$((BASE + 6)) # PORT..BASE+3 are sedge serve's
$PY "$INJECT" make --video "$T/v1.rtp" --audio "$T/a.rtp" --pcap "$T/x.pcap" --sdp "$T/x.sdp" \
    --report "$T/x.json" --vport "$VPORT" --aport "$APORT" >/dev/null || fail "injector"
FRAG_MS=1000 FSYNC_MS=1000
write_config "recording = { dir = \"$T/rec\"; fsync_interval = $FSYNC_MS; };"
R() { "$SEDGE_BIN" recordings "$@" --config "$T/sedge.conf"; }
field() { R show "$1" --json | $PY -c "import json,sys; d=json.load(sys.stdin); print($2)"; }

listen() { # LOG CONFIG [extra args]: start record listen --config, wait until it listens
    local log=$1 conf=$2; shift 2
    "$SEDGE_BIN" record listen --sdp "${SDP:-$T/x.sdp}" --config "$conf" --fragment "$FRAG_MS" \
        "$@" >"$log" 2>&1 &
    LPID=$!
    PIDS+=("$LPID")
    for _ in $(seq 1 50); do grep -q '^listening audio' "$log" && break; sleep 0.1; done
    grep -q '^listening audio' "$log" || { cat "$log"; fail "listen did not start"; }
    LID=$(awk '/^recording rec-/ {print $2}' "$log")
}

# crash_case NAME SDP VCODEC VIDEO.rtp EXT FORMAT CODEC: record listen
# --config killed with SIGKILL at T = 5.5 s into the call, then the next
# sedge serve seals it; the checks, and the frames measured against the
# bound T - (fragment + fsync).
crash_case() {
    local name=$1 sdp=$2 vcodec=$3 video=$4 ext=$5 format=$6 codec=$7 d f got need t0 t1
    SDP=$sdp listen "$T/kill-$name.log" "$T/sedge.conf" --user alice@example.com
    t0=$(date +%s.%N)
    timeout 30 $PY "$INJECT" send --vcodec "$vcodec" --video "$video" --audio "$T/a.rtp" \
        --vport "$VPORT" --aport "$APORT" --seconds 8 --report "$T/live-$name.json" >/dev/null &
    SPID=$!
    PIDS+=("$SPID")
    sleep 5.5
    kill -KILL "$LPID"
    t1=$(date +%s.%N)
    wait "$SPID" 2>/dev/null
    T_KILL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    d="$T/rec/$LID"
    [ ! -f "$d/manifest.sha256" ] || fail "$name: a manifest exists right after SIGKILL"
    [ -f "$d/journal.log" ] || fail "$name: no journal in the killed recording"
    [ "$(field "$LID" 'd["status"]')" = recording ] || fail "$name: row not 'recording' before the restart"

    sedge_start
    wait_log "catalog ready .* 1 earlier recording" 10 || fail "$name: serve did not seal the recording"
    kill -TERM "$SEDGE_PID"
    wait "$SEDGE_PID"
    grep -q "sealed as incomplete after a crash" "$T/sedge.log" || fail "$name: no seal line in the log"
    mv "$T/sedge.log" "$T/sedge-$name.log" # the next start's log starts empty
    [ "$(field "$LID" 'd["status"]')" = incomplete ] ||
        fail "$name: status after restart: $(field "$LID" 'd["status"]')"
    field "$LID" 'd["reason"]' | grep -q "sealed at the next start" || fail "$name: no reason on the row"
    [ "$(field "$LID" 'd["manifest"]["signature"]')" = ed25519 ] || fail "$name: sealed manifest not signed"
    R verify "$LID" >"$T/verify-$name.out" ||
        fail "$name: verify of the sealed recording: $(cat "$T/verify-$name.out")"
    "$SEDGE_BIN" record verify "$d" --config "$T/sedge.conf" --require-signature >/dev/null ||
        fail "$name: record verify --config of the sealed recording"
    [ "$(json "$d/metadata.json" "d['state']")" = incomplete ] || fail "$name: metadata state"
    [ "$(json "$d/metadata.json" "d['segments'][0]['format'] + ' ' + d['segments'][0]['video']['codec']")" = "$format $codec" ] ||
        fail "$name: sealed segment: $(json "$d/metadata.json" "d['segments']")"
    f="$d/segment-000.$ext"
    media_clean "$f"
    got=$(frames "$f")
    need=$(awk -v t="$T_KILL" -v b=$(( (FRAG_MS + FSYNC_MS) )) 'BEGIN { n = int((t - b / 1000) * 30); print n < 0 ? 0 : n }')
    [ "$got" -ge "$need" ] || fail "$name: killed at T=${T_KILL}s: $got frames decode, the bound T-(frag+fsync) needs $need"
    echo "measured: $name killed at T=${T_KILL}s; $got frames decode (30 fps); bound T-(${FRAG_MS}+${FSYNC_MS}) ms = $need frames; margin $(( got - need )) frames"
    ok "$name ($format) kill -9 at ${T_KILL}s: next start sealed it 'incomplete', signed, verify passes, $got frames decode cleanly (>= $need)"
}

crash_case H.264 "$T/x.sdp" h264 "$T/v1.rtp" mp4 fragmented-mp4 H264

# a VP8 call is written as WebM: the same journal, clusters for fragments
if gst-inspect-1.0 vp8enc >/dev/null 2>&1 && gst-inspect-1.0 rtpvp8pay >/dev/null 2>&1; then
    gen vp8 videotestsrc num-buffers=240 pattern=ball \
        ! video/x-raw,width=320,height=240,framerate=30/1,format=I420 \
        ! vp8enc deadline=1 keyframe-max-dist=30 target-bitrate=600000 lag-in-frames=0 \
        ! rtpvp8pay mtu=600 pt=96 picture-id-mode=15-bit
    $PY "$INJECT" make --vcodec vp8 --video "$T/vp8.rtp" --audio "$T/a.rtp" --pcap "$T/v8.pcap" \
        --sdp "$T/v8.sdp" --report "$T/v8.json" --vport "$VPORT" --aport "$APORT" >/dev/null ||
        fail "VP8 injector"
    crash_case VP8 "$T/v8.sdp" vp8 "$T/vp8.rtp" webm webm VP8
else
    echo "note: GStreamer vp8enc/rtpvp8pay not installed, the VP8 crash case skipped"
fi

# --- disk full: a small tmpfs as recording.dir
# 256 KiB of it is the reserve a recording takes when it starts: what is
# left (about 150 KiB) fills in about 5 s of this stream (about 28 KiB/s).
small_tmpfs "$T/small" 420k
API_PORT=$((BASE + 3))
cp "$T/sedge.conf" "$T/full.conf"
sed -i "s|recording = .*|recording = { dir = \"$T/small/rec\"; fsync_interval = 500; on_failure = \"terminate\"; };|" \
    "$T/full.conf"
echo "api = { address = \"127.0.0.1\"; port = $API_PORT; };" >>"$T/sedge.conf"
sed "s/ $VPORT / $((VPORT + 1)) /; s/ $APORT / $((APORT + 1)) /" "$T/x.sdp" >"$T/y.sdp"
grep -q "m=video $((VPORT + 1)) " "$T/y.sdp" || fail "second SDP: $(cat "$T/y.sdp")"
sedge_cli user add relayer --password pw-relayer >/dev/null || fail "user add"
METRICS=$(sedge_cli token add --role metrics --name scrape 2>/dev/null) || fail "token add"
sedge_start
peer_start
metric() { curl -sk -H "Authorization: Bearer $METRICS" "https://127.0.0.1:$API_PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
fails0=$(metric sedge_recording_failures_total)
[ -n "$fails0" ] || fail "no sedge_recording_failures_total in /metrics"

# the recorder on the big disk (same catalog), and the one on the tmpfs
"$SEDGE_BIN" record listen --sdp "$T/y.sdp" --config "$T/sedge.conf" --user bob@example.com \
    >"$T/other.log" 2>&1 &
OPID=$!
PIDS+=("$OPID")
listen "$T/full.log" "$T/full.conf" --user carol@example.com
FID=$LID FPID=$LPID
for _ in $(seq 1 50); do grep -q '^listening audio' "$T/other.log" && break; sleep 0.1; done
OTHER=$(awk '/^recording rec-/ {print $2}' "$T/other.log")
[ -n "$OTHER" ] && grep -q '^listening audio' "$T/other.log" || { cat "$T/other.log"; fail "second listener"; }
timeout 30 $PY "$INJECT" send --video "$T/v1.rtp" --audio "$T/a.rtp" --vport "$((VPORT + 1))" \
    --aport "$((APORT + 1))" --seconds 8 --report "$T/o.json" >/dev/null &
PIDS+=("$!")
timeout 30 $PY "$INJECT" send --video "$T/v1.rtp" --audio "$T/a.rtp" --vport "$VPORT" \
    --aport "$APORT" --seconds 8 --report "$T/f.json" >/dev/null &
PIDS+=("$!")
# relaying goes on meanwhile: a TURN client through sedge, no loss
uclient -u relayer -w pw-relayer -n 40 -l 120 -z 50 -m 1 -c
uclient_lossless "TURN relaying while a recording fills its disk"
for _ in $(seq 1 100); do kill -0 "$FPID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$FPID" 2>/dev/null && fail "the recorder on the full disk did not end the call (on_failure = terminate)"
wait "$FPID" && fail "listen exited 0 although its recording failed"
grep -q "ending the call (recording.on_failure)" "$T/full.log" || fail "no terminate message: $(tail -5 "$T/full.log")"
fd="$T/small/rec/$FID"
[ "$(field "$FID" 'd["status"]')" = failed ] || fail "status on a full disk: $(field "$FID" 'd["status"]')"
field "$FID" 'd["reason"]' | grep -q "No space left on device" || fail "reason: $(field "$FID" 'd["reason"]')"
[ "$(json "$fd/metadata.json" "d['state']")" = failed ] || fail "metadata state on the full disk"
R verify "$FID" >"$T/fverify.out" || fail "verify of the failed recording: $(cat "$T/fverify.out")"
media_clean "$fd/segment-000.mp4"
ffull=$(frames "$fd/segment-000.mp4")
[ "$ffull" -ge 30 ] || fail "only $ffull frames kept before the disk filled"
R show "$FID" --json | $PY -c '
import json, sys
a = [x["action"] for x in json.load(sys.stdin)["audit"]]
assert "recording.failed" in a, a' || fail "no recording.failed audit row"
for _ in $(seq 1 30); do
    [ "$(metric sedge_recording_failures_total)" -gt "$fails0" ] 2>/dev/null && break; sleep 0.2
done
[ "$(metric sedge_recording_failures_total)" -gt "$fails0" ] || fail "failure not counted in /metrics"
[ "$(metric 'sedge_recordings{status="failed"}')" -ge 1 ] || fail "no failed recording in /metrics"
ok "disk full: sealed at the last good fragment as 'failed' (No space left on device), $ffull frames kept, verify passes, audit row, metric, call ended"
# the other recorder carried on
sleep 1
kill -TERM "$OPID"
wait "$OPID" || fail "the recorder on the big disk failed"
[ "$(field "$OTHER" 'd["status"]')" = complete ] || fail "the other recording: $(field "$OTHER" 'd["status"]')"
R verify "$OTHER" >/dev/null || fail "verify of the other recording"
ok "the recording on another disk completed and verifies; relaying was not disturbed"
