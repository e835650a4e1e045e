#!/bin/bash
# bench/bench_record.sh - recorder CPU per stream-second for a 1080p30
# stream at 2.5 Mbit/s, H.264 and VP8, against janus-pp-rec
# post-processing the same packets, measured in one run.
#
#   GStreamer x264enc / vp8enc 1080p 2.5 Mbit/s -> rtph264pay / rtpvp8pay
#   (MTU 1200) -> pcap
#     sedge record import   (offline: pcap -> fMP4 / WebM + manifest)
#     sedge record listen   (live: UDP loopback -> queue -> recorder thread)
#     pcap2mjr (untimed) -> janus-pp-rec -> MP4 / WebM (Janus's post-processing)
#
# CPU is user+system time of the measured process (GNU time). Not a test:
# prints a table, exits 0 unless something broke. SECONDS_MEDIA (default
# 20) sets the stream length; BENCH_LIVE=0 skips the real-time live run;
# BENCH_CODECS (default "h264 vp8") picks the codecs.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SEDGE=${SEDGE_BIN:-$ROOT/build/sedge}
S=${SECONDS_MEDIA:-20}
T=$(mktemp -d /tmp/sedge-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT
for t in gst-launch-1.0 janus-pp-rec pcap2mjr /usr/bin/time ffprobe; do
    command -v "$t" >/dev/null || { echo "bench_record: $t missing (make deps)"; exit 1; }
done
[ -x "$SEDGE" ] || { echo "bench_record: build sedge first (make)"; exit 1; }

cpu() { # OUTFILE CMD... : run 3 times ({i} in CMD is the run number); the
         # smallest user+system CPU of the process and its children, in s
    local out=$1; shift
    python3 - "$out" "$@" <<'PY'
import resource, subprocess, sys
out, cmd, best = sys.argv[1], sys.argv[2:], None
for i in range(3):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out + ".log", "w") as log:
        rc = subprocess.call([a.replace("{i}", str(i)) for a in cmd], stdout=log, stderr=log)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if rc != 0:
        sys.exit(open(out + ".log").read()[-500:])
    t = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    best = t if best is None else min(best, t)
open(out, "w").write("%.4f\n" % best)
PY
}

measure() { # CODEC: encode, then measure import, listen and janus-pp-rec
local c=$1 enc ext=mp4 name pat=snow
case $c in
h264) name=H.264
    enc="x264enc tune=zerolatency key-int-max=60 bitrate=2500 speed-preset=ultrafast \
        ! rtph264pay mtu=1200 config-interval=-1 aggregate-mode=zero-latency pt=96" ;;
vp8) name=VP8 ext=webm
    # libvpx cannot squeeze snow into 2.5 Mbit/s at 1080p (it makes 55);
    # a moving zone plate holds the rate
    pat="zone-plate kx2=20 ky2=20 kt=1"
    enc="vp8enc deadline=1 cpu-used=16 keyframe-max-dist=60 target-bitrate=2500000 \
        end-usage=cbr lag-in-frames=0 threads=2 \
        ! rtpvp8pay mtu=1200 pt=96 picture-id-mode=15-bit" ;;
*) echo "bench_record: unknown codec $c"; return 1 ;;
esac
echo "encoding ${S}s of 1080p30 $name at 2.5 Mbit/s (not measured)..."
# shellcheck disable=SC2086
gst-launch-1.0 -q videotestsrc num-buffers=$((S * 30)) pattern=$pat \
    ! video/x-raw,width=1920,height=1080,framerate=30/1,format=I420 ! $enc \
    ! rtpstreampay ! fdsink fd=1 >"$T/hd.rtp" || return 1
python3 "$ROOT/tests/tools/rtpinject.py" make --vcodec "$c" --video "$T/hd.rtp" \
    --pcap "$T/hd.pcap" --sdp "$T/hd.sdp" --report "$T/hd.json" --vport 5004 >/dev/null || return 1
mbit=$(awk -v b="$(stat -c %s "$T/hd.rtp")" -v s="$S" 'BEGIN { printf "%.2f", b * 8 / s / 1e6 }')

rm -rf "$T"/rec? "$T"/live "$T"/janus?.*
cpu "$T/sedge" "$SEDGE" record import --pcap "$T/hd.pcap" --sdp "$T/hd.sdp" --out "$T/rec{i}" || return 1
frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
    -of csv=p=0 "$T/rec0/segment-000.$ext")
pcap2mjr -c "$c" "$T/hd.pcap" "$T/hd.mjr" >/dev/null 2>&1 || { echo "pcap2mjr failed"; return 1; }
cpu "$T/janus" janus-pp-rec "$T/hd.mjr" "$T/janus{i}.$ext" || return 1
jframes=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
    -of csv=p=0 "$T/janus0.$ext")

live="-" thread="-"
if [ "${BENCH_LIVE:-1}" = 1 ]; then
    port=$((40000 + $$ % 1000 * 4))
    sed "s/^m=video 5004 /m=video $port /" "$T/hd.sdp" >"$T/live.sdp"
    /usr/bin/time -f '%U %S' -o "$T/live.t" "$SEDGE" record listen --sdp "$T/live.sdp" \
        --out "$T/live" --duration $((S + 3)) >"$T/live.log" 2>&1 &
    lp=$!
    sleep 1
    python3 "$ROOT/tests/tools/rtpinject.py" send --vcodec "$c" --video "$T/hd.rtp" \
        --vport "$port" >/dev/null
    wait "$lp"
    lf=$(ls "$T"/live/rec-*/segment-000.* 2>/dev/null | head -1)
    lframes=$([ -n "$lf" ] && ffprobe -v error -count_frames -select_streams v:0 \
        -show_entries stream=nb_read_frames -of csv=p=0 "$lf")
    lover=$(python3 -c "import json,glob; print(json.load(open(glob.glob('$T/live/rec-*/metadata.json')[0]))['queue_overflow'])")
    live=$(awk '{ printf "%.3f", $1 + $2 }' "$T/live.t")
    thread=$(awk '/^recorder thread CPU/ { print $4 }' "$T/live.log")
fi

s=$(cat "$T/sedge") j=$(cat "$T/janus")
echo
printf "%-44s %10s %14s\n" "$name recorder (${S}s of 1080p30, ${mbit} Mbit/s)" "CPU s" \
    "ms CPU/stream-s"
printf "%-44s %10s %14s\n" "sedge record import (pcap -> $ext, hashed)" "$s" \
    "$(awk -v c="$s" -v s="$S" 'BEGIN { printf "%.2f", c * 1000 / s }')"
[ "$live" != - ] && printf "%-44s %10s %14s\n" "sedge record listen: recorder thread" \
    "$thread" "$(awk -v c="$thread" -v s="$S" 'BEGIN { printf "%.2f", c * 1000 / s }')"
[ "$live" != - ] && printf "%-44s %10s %14s\n" "sedge record listen: whole process (+UDP rx)" \
    "$live" "$(awk -v c="$live" -v s="$S" 'BEGIN { printf "%.2f", c * 1000 / s }')"
printf "%-44s %10s %14s\n" "janus-pp-rec (mjr -> $ext, post-processing)" "$j" \
    "$(awk -v c="$j" -v s="$S" 'BEGIN { printf "%.2f", c * 1000 / s }')"
echo
echo "frames written: sedge $frames, janus $jframes (of $((S * 30)))"
[ "$live" != - ] && echo "live: $lframes frames written, $lover packets dropped by a full recorder queue"
awk -v a="$s" -v b="$j" 'BEGIN { if (b > 0) printf "ratio sedge import / janus-pp-rec: %.2f\n", a / b }'
[ "$live" != - ] && awk -v a="$thread" -v b="$j" \
    'BEGIN { if (b > 0) printf "ratio sedge live recorder thread / janus-pp-rec: %.2f\n", a / b }'
echo
}

for c in ${BENCH_CODECS:-h264 vp8}; do
    measure "$c" || exit 1
done
exit 0
