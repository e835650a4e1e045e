# tests/lib/record.sh - helpers for recorder integration tests (source it
# after tests/lib/sedge.sh).
#
#   GStreamer (x264enc, opusenc) --rtpstreampay--> $T/*.rtp (RFC 4571)
#        |
#   tests/tools/rtpinject.py (seeded loss/reorder/dup/RTX) --> pcap | UDP
#        |                                            \--> report.json
#   sedge record import|listen --> recording dir      (frames expected)
#        |
#   ffprobe / ffmpeg -v error, sedge record verify
INJECT="$SEDGE_ROOT/tests/tools/rtpinject.py"
for t in gst-launch-1.0 ffprobe ffmpeg; do command -v $t >/dev/null || skip "$t not installed"; done
gst-inspect-1.0 x264enc >/dev/null 2>&1 || skip "GStreamer x264enc not installed"
gst-inspect-1.0 opusenc >/dev/null 2>&1 || skip "GStreamer opusenc not installed"

# gen NAME GST-ELEMENTS...: encode with GStreamer into $T/NAME.rtp. filesink
# garbles buffer lists from rtph264pay here, fdsink does not.
gen() {
    local name=$1; shift
    gst-launch-1.0 -q "$@" ! rtpstreampay ! fdsink fd=1 >"$T/$name.rtp" 2>"$T/$name.gst.log" ||
        fail "gst-launch for $name: $(tail -n 3 "$T/$name.gst.log")"
}

# gen_media [SECONDS]: $T/v1.rtp (mode 1: STAP-A SPS/PPS, FU-A at MTU 600),
# $T/v0.rtp (mode 0: single NAL units, slices <= 1000 bytes, AUDs),
# $T/a.rtp (Opus 20 ms), all 320x240 at 30 fps, one IDR a second.
gen_media() {
    local s=${1:-10}
    local src="videotestsrc num-buffers=$((s * 30)) pattern=ball"
    local raw="video/x-raw,width=320,height=240,framerate=30/1"
    local enc="x264enc tune=zerolatency key-int-max=30 bitrate=600 speed-preset=ultrafast"
    # shellcheck disable=SC2086
    gen v1 $src ! $raw ! $enc ! rtph264pay mtu=600 config-interval=-1 aggregate-mode=zero-latency pt=96
    # shellcheck disable=SC2086
    gen v0 $src ! $raw ! $enc option-string=slice-max-size=1000 \
        ! rtph264pay mtu=1400 config-interval=-1 aggregate-mode=none pt=96
    gen a audiotestsrc num-buffers=$((s * 50)) samplesperbuffer=960 wave=sine \
        ! audio/x-raw,rate=48000,channels=2 ! opusenc frame-size=20 ! rtpopuspay pt=111
}

flip_byte() { # FILE OFFSET: invert one byte in place
    $PY -c "import sys; f=open(sys.argv[1],'r+b'); o=int(sys.argv[2]); f.seek(o); b=f.read(1); f.seek(o); f.write(bytes([b[0]^0xff]))" "$1" "$2"
}

json() { # json FILE PYTHON-EXPR-ON-d
    $PY -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"
}

# media_clean FILE: ffprobe and a full decode report no error at all.
media_clean() {
    local out
    out=$(ffprobe -v error -show_streams "$1" 2>&1 >/dev/null) || fail "ffprobe failed on $1: $out"
    [ -z "$out" ] || fail "ffprobe errors on $1: $out"
    out=$(ffmpeg -nostdin -v error -i "$1" -f null - 2>&1)
    [ -z "$out" ] || fail "decode errors in $1: $(echo "$out" | head -5)"
}

# frames FILE: decoded video frames.
frames() {
    ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
        -of csv=p=0 "$1"
}

# stream_end FILE v|a: start_time + duration of the first such stream; from
# its last packet where the container has no duration (live WebM).
stream_end() {
    local se
    se=$(ffprobe -v error -select_streams "$2:0" -show_entries stream=start_time,duration \
        -of csv=p=0 "$1")
    case "$se" in
    *N/A*) ffprobe -v error -select_streams "$2:0" -show_entries packet=pts_time,duration_time \
        -of csv=p=0 "$1" | awk -F, 'END { printf "%.3f\n", $1 + $2 }' ;;
    *) echo "$se" | awk -F, '{ printf "%.3f\n", $1 + $2 }' ;;
    esac
}

# av_agree FILE: video and audio end within 100 ms of each other. Prints
# both ends; returns 1 (printing why) if not: callers run it in $(...), so
# they must check: ends=$(av_agree F) || fail "$ends".
av_agree() {
    local v a
    v=$(stream_end "$1" v); a=$(stream_end "$1" a)
    awk -v v="$v" -v a="$a" 'BEGIN { d = v - a; if (d < 0) d = -d; exit !(d <= 0.1) }' || {
        echo "A/V ends differ by more than 100 ms in $1: video $v, audio $a"
        return 1
    }
    echo "$v $a"
}
