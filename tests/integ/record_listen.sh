#!/bin/bash
# sedge record listen: live RTP over loopback UDP into a recording.
#
#   rtpinject.py send (real time, seeded loss/reorder/dup/RTX)
#        | UDP 127.0.0.1:$PORT (H.264), :$((PORT+2)) (Opus)
#        v
#   sedge record listen --sdp --out $T/rec   (receive loop -> queues -> recorder thread)
#
# SIGTERM and SIGINT finish the recording cleanly (files, metadata,
# manifest; frame count as computed; A/V agree); SIGKILL mid-recording
# leaves an MP4 that decodes without error up to its last fragment.
. "$(dirname "$0")/../lib/sedge.sh"
. "$(dirname "$0")/../lib/record.sh"

gen_media 6
VPORT=$PORT APORT=$((PORT + 2))

listen_start() { # OUTDIR LOG
    "$SEDGE_BIN" record listen --sdp "$T/live.sdp" --out "$1" --fragment 500 >"$2" 2>&1 &
    LPID=$!
    PIDS+=("$LPID")
    for _ in $(seq 1 50); do grep -q '^listening audio' "$2" && return 0; sleep 0.1; done
    cat "$2"; fail "listen did not start"
}

send() { # SECONDS INJECT-ARGS...
    local s=$1; shift
    timeout 30 $PY "$INJECT" send --video "$T/v1.rtp" --audio "$T/a.rtp" --vport "$VPORT" \
        --aport "$APORT" --seconds "$s" --report "$T/live.json" "$@" >/dev/null || fail "sender"
}

wait_exit() { # PID SECONDS
    for _ in $(seq 1 $(($2 * 10))); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    return 1
}

$PY "$INJECT" make --video "$T/v1.rtp" --audio "$T/a.rtp" --pcap "$T/x.pcap" --sdp "$T/live.sdp" \
    --report "$T/x.json" --vport "$VPORT" --aport "$APORT" --rtx 0.3 >/dev/null

for sig in TERM INT; do
    listen_start "$T/rec-$sig" "$T/listen-$sig.log"
    send 5 --seed 5 --loss 0.02 --reorder 0.05 --dup 0.03 --rtx 0.3
    sleep 0.3
    kill -"$sig" "$LPID"
    wait_exit "$LPID" 10 || fail "listen still running 10 s after SIG$sig"
    wait "$LPID" || fail "listen exited $? after SIG$sig: $(tail -3 "$T/listen-$sig.log")"
    d=$(ls -d "$T/rec-$sig"/rec-*/ | head -1)
    [ -n "$d" ] && [ -f "$d/segment-000.mp4" ] || fail "SIG$sig: no recording: $(ls -R "$T/rec-$sig")"
    media_clean "$d/segment-000.mp4"
    exp=$(json "$T/live.json" "d['frames_expected']")
    got=$(frames "$d/segment-000.mp4")
    [ "$got" = "$exp" ] || fail "SIG$sig: $got frames decoded, $exp expected"
    ends=$(av_agree "$d/segment-000.mp4") || fail "$ends"
    [ "$(json "$d/metadata.json" "d['state']")" = complete ] || fail "SIG$sig: metadata state"
    "$SEDGE_BIN" record verify "$T/rec-$sig" --allow-unsigned >/dev/null || fail "SIG$sig: verify"
    ok "SIG$sig: clean finish, $got frames (expected $exp), ends v/a $ends, verified"
done

# SIGKILL in the middle: the MP4 decodes cleanly up to its last fragment.
listen_start "$T/rec-KILL" "$T/listen-KILL.log"
send 6 &
SPID=$!
PIDS+=("$SPID")
sleep 4
kill -KILL "$LPID"
wait "$SPID" 2>/dev/null
d=$(ls -d "$T/rec-KILL"/rec-*/ | head -1)
f="$d/segment-000.mp4"
[ -f "$f" ] || fail "SIGKILL: no MP4"
media_clean "$f"
got=$(frames "$f")
[ "$got" -ge 60 ] && [ "$got" -le 125 ] || fail "SIGKILL after ~4 s: $got frames in the MP4"
[ ! -f "$d/manifest.sha256" ] || fail "SIGKILL: a manifest cannot exist"
"$SEDGE_BIN" record verify "$d" >/dev/null 2>&1 && fail "verify passed a recording without manifest"
[ "$(json "$d/metadata.json" "d['state']")" = recording ] || fail "SIGKILL: metadata should say recording"
ok "SIGKILL after ~4 s: $got frames decode cleanly, metadata says 'recording', verify refuses"

# A second, independent sender: FFmpeg's RTP muxer (libx264 FU-A without
# STAP-A, libopus), with the SDP FFmpeg itself writes (no sprop: the
# parameter sets come in-band).
if ffmpeg -hide_banner -encoders 2>/dev/null | grep -q libx264 &&
    ffmpeg -hide_banner -encoders 2>/dev/null | grep -q libopus; then
    timeout 10 ffmpeg -hide_banner -v error -nostdin -f lavfi -i testsrc=size=640x360:rate=30 \
        -f lavfi -i sine -map 0:v -t 0.1 -c:v libx264 -f rtp "rtp://127.0.0.1:$VPORT" \
        -map 1:a -t 0.1 -c:a libopus -ac 2 -f rtp "rtp://127.0.0.1:$APORT" \
        -sdp_file "$T/ff.sdp" >/dev/null 2>&1 || fail "ffmpeg -sdp_file"
    cp "$T/ff.sdp" "$T/live.sdp"
    listen_start "$T/rec-ff" "$T/listen-ff.log"
    timeout 20 ffmpeg -hide_banner -v error -nostdin -re -f lavfi -i testsrc=size=640x360:rate=30 \
        -re -f lavfi -i sine=frequency=440:sample_rate=48000 \
        -map 0:v -t 4 -c:v libx264 -preset ultrafast -tune zerolatency -g 30 \
        -f rtp "rtp://127.0.0.1:$VPORT" -map 1:a -t 4 -c:a libopus -ac 2 \
        -f rtp "rtp://127.0.0.1:$APORT" >/dev/null 2>&1 || fail "ffmpeg sender"
    sleep 0.3
    kill -TERM "$LPID"
    wait_exit "$LPID" 10 || fail "listen (ffmpeg) still running"
    d=$(ls -d "$T/rec-ff"/rec-*/ | head -1)
    media_clean "$d/segment-000.mp4"
    got=$(frames "$d/segment-000.mp4")
    [ "$got" = 120 ] || fail "ffmpeg sender: $got frames, 120 sent"
    ends=$(av_agree "$d/segment-000.mp4") || fail "$ends"
    "$SEDGE_BIN" record verify "$d" --allow-unsigned >/dev/null || fail "ffmpeg sender: verify"
    ok "FFmpeg RTP sender with its own SDP: 120/120 frames, ends v/a $ends, verified"
else
    echo "note: ffmpeg without libx264/libopus, second sender skipped"
fi
