#!/bin/bash
# sedge record import / listen with VP8, VP9 and AV1 from real encoders:
#
#   GStreamer vp8enc ! rtpvp8pay (RFC 7741, 15-bit picture IDs)   \
#   GStreamer vp9enc ! rtpvp9pay (RFC 9628, non-flexible, SS)      > $T/*.rtp
#   GStreamer av1enc (libaom) | tests/tools/av1pay.py (AOM AV1 RTP)/   + opusenc
#        | tests/tools/rtpinject.py --vcodec (seeded loss/reorder/dup/RTX)
#        v
#   sedge record import (pcap) | sedge record listen (UDP, real time)
#        v
#   VP8 -> segment-NNN.webm, VP9 / AV1 -> segment-NNN.mp4 (+ Opus)
#
# Judged by ffprobe and a full ffmpeg decode: no error at all, the decoded
# frame count equals what the injector computed a correct recorder writes,
# A/V ends agree, metadata accounts for every lost packet, `record verify`
# passes with the signature. Also: a resolution change (new segment), the
# first key frame lost (keyframe requests), a codec sedge does not record
# (listed, never a crash), live recording with SIGTERM.
. "$(dirname "$0")/../lib/sedge.sh"
. "$(dirname "$0")/../lib/record.sh"
for e in vp8enc vp9enc rtpvp8pay rtpvp9pay av1enc av1parse; do
    gst-inspect-1.0 "$e" >/dev/null 2>&1 || skip "GStreamer $e not installed"
done

S=10
RAW="video/x-raw,width=320,height=240,framerate=30/1,format=I420"
SRC="videotestsrc num-buffers=$((S * 30)) pattern=ball"
# shellcheck disable=SC2086
gen vp8 $SRC ! $RAW ! vp8enc deadline=1 keyframe-max-dist=30 target-bitrate=600000 \
    lag-in-frames=0 ! rtpvp8pay mtu=600 pt=96 picture-id-mode=15-bit
# shellcheck disable=SC2086
gen vp9 $SRC ! $RAW ! vp9enc deadline=1 keyframe-max-dist=30 target-bitrate=600000 \
    lag-in-frames=0 ! rtpvp9pay mtu=600 pt=96 picture-id-mode=15-bit
# shellcheck disable=SC2086
gst-launch-1.0 -q $SRC ! $RAW ! av1enc cpu-used=8 usage-profile=realtime keyframe-max-dist=30 \
    target-bitrate=600 ! av1parse ! video/x-av1,stream-format=obu-stream,alignment=tu \
    ! fdsink fd=1 >"$T/av1.obu" 2>"$T/av1.gst.log" || fail "av1enc: $(tail -3 "$T/av1.gst.log")"
$PY "$SEDGE_ROOT/tests/tools/av1pay.py" "$T/av1.obu" "$T/av1.rtp" --mtu 600 --pt 96 2>/dev/null ||
    fail "av1pay"
gen a audiotestsrc num-buffers=$((S * 50)) samplesperbuffer=960 wave=sine \
    ! audio/x-raw,rate=48000,channels=2 ! opusenc frame-size=20 ! rtpopuspay pt=111
printf 'integration-test-signing-key\n' >"$T/key"

ext() { [ "$1" = vp8 ] && echo webm || echo mp4; }

# ends_agree FILE REPORT CODEC: video and audio end together, where the
# recorder can know: not if the last video frame never arrived (nothing
# says how long the video lasted), and in WebM not if the last frame was
# dropped as undecodable (MP4 stretches the last frame written to the
# stream's end; WebM's muxer has no block duration for video, so players
# hold that frame to the end of the audio instead).
ends_agree() {
    local key=last_frame_seen
    [ "$3" = vp8 ] && key=last_frame_written
    if [ "$(json "$2" "d['$key']")" = True ]; then
        av_agree "$1"
    else
        echo "(not compared: $key is false)"
    fi
}

run_case() { # CODEC NAME INJECT-ARGS...
    local c=$1 name=$2; shift 2
    local d="$T/$name" f exp got ends lost_meta lost_inj
    $PY "$INJECT" make --vcodec "$c" --video "$T/$c.rtp" --audio "$T/a.rtp" --pcap "$d.pcap" \
        --sdp "$d.sdp" --report "$d.json" "$@" >/dev/null || fail "$name: injector"
    "$SEDGE_BIN" record import --pcap "$d.pcap" --sdp "$d.sdp" --out "$d" --key-file "$T/key" \
        >"$d.log" 2>&1 || { cat "$d.log"; fail "$name: import"; }
    f="$d/segment-000.$(ext "$c")"
    [ -f "$f" ] || fail "$name: no $(ext "$c") file: $(ls "$d")"
    [ -z "$(ls "$d" | grep -v -e metadata.json -e journal.log -e manifest -e "segment-000.$(ext "$c")")" ] ||
        fail "$name: unexpected files: $(ls "$d")"
    media_clean "$f"
    exp=$(json "$d.json" "d['frames_expected']")
    got=$(frames "$f")
    [ "$got" = "$exp" ] || fail "$name: $got frames decoded, $exp expected"
    ends=$(ends_agree "$f" "$d.json" "$c") || fail "$name: $ends"
    lost_inj=$(json "$d.json" "d['lost_observable']")
    lost_meta=$(json "$d/metadata.json" "sum(s['rtp']['lost'] for s in d['streams'])")
    [ "$lost_meta" = "$lost_inj" ] || fail "$name: metadata says $lost_meta lost, injector dropped $lost_inj"
    [ "$(json "$d/metadata.json" "d['state']")" = complete ] || fail "$name: state"
    [ "$(json "$d/metadata.json" "d['segments'][0]['video']['codec']")" = "${c^^}" ] ||
        fail "$name: codec in metadata"
    "$SEDGE_BIN" record verify "$d" --key-file "$T/key" --require-signature >/dev/null ||
        fail "$name: verify"
    ok "$name: $got/$(json "$d.json" "d['frames_sent']") frames (expected $exp), ends v/a $ends, $lost_meta lost, verified"
}

for c in vp8 vp9 av1; do
    run_case $c "$c-clean"
    run_case $c "$c-lossy-s1" --seed 1 --loss 0.01 --reorder 0.05 --dup 0.03 --rtx 0.3
    run_case $c "$c-lossy-s7" --seed 7 --loss 0.02 --reorder 0.1 --dup 0.05
done
# the first key frame lost: nothing before the next one, keyframes requested
for c in vp8 vp9 av1; do
    run_case $c "$c-no-first-key" --seed 3 --loss 0.3 --loss-after 0 --reorder 0
    [ "$(json "$T/$c-no-first-key/metadata.json" \
        "d['streams'][0]['frames']['keyframe_requests'] > 0")" = True ] ||
        fail "$c: no keyframe request after heavy loss"
done
ok "heavy loss: keyframes requested for VP8, VP9 and AV1"

# VP9 in MP4 carries its vpcC: profile and pixel format survive
[ "$(ffprobe -v error -select_streams v -show_entries stream=profile,pix_fmt -of csv=p=0 \
    "$T/vp9-clean/segment-000.mp4")" = "Profile 0,yuv420p" ] || fail "VP9 vpcC"

# resolution change mid-stream (same SSRC, continuous numbering): a new segment
gen vp8b videotestsrc num-buffers=90 pattern=smpte \
    ! video/x-raw,width=640,height=480,framerate=30/1,format=I420 \
    ! vp8enc deadline=1 keyframe-max-dist=30 target-bitrate=800000 lag-in-frames=0 \
    ! rtpvp8pay mtu=1200 pt=96 picture-id-mode=15-bit
$PY "$INJECT" make --vcodec vp8 --video "$T/vp8.rtp,$T/vp8b.rtp" --audio "$T/a.rtp" \
    --pcap "$T/res.pcap" --sdp "$T/res.sdp" --report "$T/res.json" >/dev/null
"$SEDGE_BIN" record import --pcap "$T/res.pcap" --sdp "$T/res.sdp" --out "$T/res" >/dev/null 2>&1 ||
    fail "import with a resolution change"
for i in 0 1; do media_clean "$T/res/segment-00$i.webm"; done
s0=$(ffprobe -v error -select_streams v -show_entries stream=width,height -of csv=p=0 "$T/res/segment-000.webm")
s1=$(ffprobe -v error -select_streams v -show_entries stream=width,height -of csv=p=0 "$T/res/segment-001.webm")
[ "$s0" = 320,240 ] && [ "$s1" = 640,480 ] || fail "segment sizes $s0 / $s1"
[ "$(frames "$T/res/segment-000.webm")" = 300 ] && [ "$(frames "$T/res/segment-001.webm")" = 90 ] ||
    fail "segment frames $(frames "$T/res/segment-000.webm") / $(frames "$T/res/segment-001.webm")"
"$SEDGE_BIN" record verify "$T/res" --allow-unsigned >/dev/null || fail "verify after a resolution change"
ok "VP8 320x240 -> 640x480: two clean WebM segments of 300 and 90 frames, verified"

# a codec sedge does not record: listed, the rest recorded, nothing breaks
sed -e 's/VP8\/90000/H265\/90000/' "$T/vp8-clean.sdp" >"$T/h265.sdp"
"$SEDGE_BIN" record import --pcap "$T/vp8-clean.pcap" --sdp "$T/h265.sdp" --out "$T/h265" \
    >"$T/h265.log" 2>&1 || fail "import with an unknown codec: $(tail -3 "$T/h265.log")"
[ "$(json "$T/h265/metadata.json" "d['streams'][0]['not_recorded']")" = "codec H265" ] ||
    fail "unknown codec not listed"
[ "$(json "$T/h265/metadata.json" "d['streams'][0]['recorded']")" = False ] || fail "recorded?"
media_clean "$T/h265/segment-000.ogg"
"$SEDGE_BIN" record verify "$T/h265" --allow-unsigned >/dev/null || fail "verify with an unknown codec"
ok "H265 m-line: 'not recorded: codec H265' in metadata, the Opus recorded, verified"

# live: record listen, VP8 in real time with loss, SIGTERM
VPORT=$PORT APORT=$((PORT + 2))
$PY "$INJECT" make --vcodec vp8 --video "$T/vp8.rtp" --audio "$T/a.rtp" --pcap "$T/x.pcap" \
    --sdp "$T/live.sdp" --report "$T/x.json" --vport "$VPORT" --aport "$APORT" --rtx 0.3 >/dev/null
"$SEDGE_BIN" record listen --sdp "$T/live.sdp" --out "$T/live" --fragment 500 >"$T/listen.log" 2>&1 &
LPID=$!
PIDS+=("$LPID")
for _ in $(seq 1 50); do grep -q '^listening audio' "$T/listen.log" && break; sleep 0.1; done
grep -q '^listening audio' "$T/listen.log" || { cat "$T/listen.log"; fail "listen did not start"; }
timeout 30 $PY "$INJECT" send --vcodec vp8 --video "$T/vp8.rtp" --audio "$T/a.rtp" \
    --vport "$VPORT" --aport "$APORT" --seconds 5 --report "$T/live.json" --seed 5 --loss 0.02 \
    --reorder 0.05 --dup 0.03 --rtx 0.3 >/dev/null || fail "sender"
sleep 0.3
kill -TERM "$LPID"
for _ in $(seq 1 100); do kill -0 "$LPID" 2>/dev/null || break; sleep 0.1; done
wait "$LPID" || fail "listen exited $? after SIGTERM: $(tail -3 "$T/listen.log")"
d=$(ls -d "$T/live"/rec-*/ | head -1)
media_clean "$d/segment-000.webm"
exp=$(json "$T/live.json" "d['frames_expected']")
got=$(frames "$d/segment-000.webm")
[ "$got" = "$exp" ] || fail "live VP8: $got frames decoded, $exp expected"
ends=$(ends_agree "$d/segment-000.webm" "$T/live.json" vp8) || fail "live VP8: $ends"
"$SEDGE_BIN" record verify "$d" --allow-unsigned >/dev/null || fail "live VP8: verify"
ok "live VP8 (record listen, SIGTERM): $got frames (expected $exp), ends v/a $ends, verified"
