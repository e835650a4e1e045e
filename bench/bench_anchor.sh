#!/bin/bash
# bench/bench_anchor.sh - anchor mode under load, against sedge's own TURN
# relaying of the same traffic.
#
#   +--------------------------------- loopback only ---------------------------------+
#   | anchorgen (parties A and B of N calls)      sedge                                |
#   |   127.0.0.5:*  ==ICE/DTLS-SRTP==>  anchor 127.0.0.3:40000-44999 (anchor.threads)|
#   |   HTTPS /v1/anchor -------------->  api 127.0.0.1:17643                          |
#   | loadgen (TURN, same packet rate and size)  relay 127.0.0.1:17678 -> 127.0.0.2:*   |
#   +----------------------------------------------------------------------------------+
#
# Each call: video (H.264 from GStreamer x264enc, CBR 2.5 Mbit/s of noise, 640x480,
# 30 fps) and Opus audio, both ways, at the pace of their RTP timestamps.
# For N in BENCH_CALLS (1 50 200), without and with recording: sedge is
# started fresh, anchorgen sets up N calls and measures sedge's CPU time
# (/proc/PID/stat) over BENCH_SECONDS, and the packets it forwarded. Then
# bench/loadgen relays the same number of packets per second of the same
# mean size through sedge's TURN (N*2 clients, each datagram relayed to an
# echo peer and back), and its server CPU is measured the same way.
# "pkts/CPU-s" is datagrams forwarded (anchor) or relayed (TURN) per
# second of sedge CPU time.
#
# Then, where Debian's rtpengine-daemon is installed, the same calls
# (one video m-line each: rtpengine 10.5 does not bundle) through sedge's
# anchor and through rtpengine side by side.
#
# Environment: BENCH_CALLS ("1 50 200"), BENCH_SECONDS (10), ANCHOR_THREADS
# (2), BENCH_RECORD ("0 1": without and with recording; "" skips the
# anchor/TURN runs), BENCH_RTPENGINE (1; 0 skips rtpengine), BENCH_KEEP=1
# keeps the work directory.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SEDGE_BUILD:-build}
SEDGE=$ROOT/$BUILD/sedge
GEN=$ROOT/$BUILD/tools/anchorgen
LOADGEN=$ROOT/$BUILD/tools/loadgen
CALLS=${BENCH_CALLS:-1 50 200}
SECS=${BENCH_SECONDS:-10}
THREADS=${ANCHOR_THREADS:-2}
API_PORT=17643 TURN_PORT=17678 PEER_PORT=17600
W=$(mktemp -d /tmp/sedge-bench-anchor.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null
    done
    [ -n "${BENCH_KEEP:-}" ] && echo "work dir: $W" || rm -rf "$W"
}
trap cleanup EXIT
for t in gst-launch-1.0 "$GEN" "$LOADGEN" "$SEDGE"; do
    command -v "$t" >/dev/null || { echo "bench_anchor: $t missing (make all)"; exit 1; }
done

# Media: 10 s of H.264 at 2.5 Mbit/s and Opus, as RFC 4571 RTP.
gst-launch-1.0 -q videotestsrc num-buffers=300 pattern=snow ! video/x-raw,width=640,height=480,framerate=30/1 \
    ! x264enc tune=zerolatency bitrate=2500 pass=cbr key-int-max=60 speed-preset=ultrafast \
    ! rtph264pay mtu=1200 config-interval=-1 pt=96 ! rtpstreampay ! fdsink fd=1 >"$W/video.rtp" 2>/dev/null &&
gst-launch-1.0 -q audiotestsrc num-buffers=500 samplesperbuffer=960 wave=sine ! audio/x-raw,rate=48000,channels=2 \
    ! opusenc frame-size=20 ! rtpopuspay pt=111 ! rtpstreampay ! fdsink fd=1 >"$W/audio.rtp" 2>/dev/null ||
    { echo "bench_anchor: cannot make the media with GStreamer"; exit 1; }
MEAN=$(python3 - "$W/video.rtp" "$W/audio.rtp" <<'PY'
import struct, sys
n = b = 0
for f in sys.argv[1:]:
    d = open(f, "rb").read(); o = 0
    while o + 2 <= len(d):
        l = struct.unpack("!H", d[o:o + 2])[0]; o += 2 + l; n += 1; b += l
print(b // n)
PY
)

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/key.pem" -out "$W/cert.pem" \
    -days 2 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1
head -c 32 /dev/urandom | base64 >"$W/rec.key"

start_sedge() { # RECORD(0|1)
    local rec=""
    [ "$1" = 1 ] && rec="recording = { dir = \"$W/rec\"; sign_key_file = \"$W/rec.key\"; fsync_interval = 2000; };"
    cat >"$W/sedge.conf" <<CONF
realm = "bench";
database = "$W/sedge.db";
log_level = "info";
listen = ( { transport = "udp"; address = "127.0.0.1"; port = $TURN_PORT; } );
relay = { address = "127.0.0.2"; min_port = 50000; max_port = 59999; };
tls = { cert = "$W/cert.pem"; key = "$W/key.pem"; };
peers = { allow = [ "127.0.0.0/8" ]; };
workers = 1;
limits = { drain_timeout = 0; max_allocations_per_user = 10000; };
api = { address = "127.0.0.1"; port = $API_PORT; turn_host = "127.0.0.1"; rate = 0; };
anchor = { inside_address = "127.0.0.3"; outside_address = "127.0.0.3"; min_port = 40000; max_port = 44999;
           max_sessions = 1000; max_sessions_per_user = 1000; threads = $THREADS; setup_timeout = 120; };
$rec
CONF
    rm -rf "$W/sedge.db" "$W/rec"
    "$SEDGE" init --config "$W/sedge.conf" >/dev/null
    "$SEDGE" user add bench --password pw --config "$W/sedge.conf" >/dev/null
    METRICS=$("$SEDGE" token add --role metrics --name bench --config "$W/sedge.conf" 2>/dev/null)
    [ "$1" = 1 ] && "$SEDGE" rule add allow --user bench --record always --config "$W/sedge.conf" >/dev/null
    "$SEDGE" serve --config "$W/sedge.conf" >"$W/sedge.log" 2>&1 &
    SPID=$!
    PIDS+=("$SPID")
    for _ in $(seq 50); do grep -q "sedge serving" "$W/sedge.log" 2>/dev/null && return 0; sleep 0.1; done
    echo "bench_anchor: sedge did not start"; tail -5 "$W/sedge.log"; exit 1
}
stop_sedge() {
    kill "$SPID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$SPID" 2>/dev/null || return 0; sleep 0.2; done
    kill -9 "$SPID" 2>/dev/null
}
kv() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {print $2}'; }

printf "%-28s %8s %10s %9s %12s %12s %8s\n" "run" "calls" "fwd pps" "sedge %" "ms/call-s" "pkts/CPU-s" "loss %"
echo "(sedge % is of one CPU; loss is sent by the parties and not received; results below also"
echo " give sedge_dropped, the datagrams sedge itself dropped)"
for rec in ${BENCH_RECORD-0 1}; do
    for n in $CALLS; do
        start_sedge $rec
        out=$(timeout $((SECS + 200)) "$GEN" --api "127.0.0.1:$API_PORT" --ca "$W/cert.pem" --user bench \
            --password pw -n "$n" -d "$SECS" --video "$W/video.rtp" --audio "$W/audio.rtp" \
            --server-pid "$SPID" 2>"$W/gen.err")
        # What sedge itself dropped (loss elsewhere is the load generator's
        # or the kernel's socket buffers).
        sdrop=$(curl -sk --max-time 5 -H "Authorization: Bearer $METRICS" "https://127.0.0.1:$API_PORT/metrics" |
            awk '$1 == "sedge_anchor_dropped_total" || $1 == "sedge_anchor_srtp_auth_failures_total" { s += $2 } END { print s + 0 }')
        stop_sedge
        [ -n "$out" ] || { echo "anchorgen failed: $(tail -3 "$W/gen.err")"; continue; }
        name=$([ $rec = 1 ] && echo "anchor+record" || echo "anchor")
        printf "%-28s %8s %10s %9s %12s %12s %8s\n" "$name" "$(kv "$out" up)/$n" "$(kv "$out" forwarded_pps)" \
            "$(kv "$out" server_cpu_pct)" "$(kv "$out" cpu_ms_per_call_s)" "$(kv "$out" pkts_per_cpu_s)" \
            "$(kv "$out" loss_pct)"
        echo "$name n=$n $out sedge_dropped=$sdrop" >>"$W/results"
        if [ $rec = 0 ]; then
            # The same packets per second and mean size through sedge's TURN:
            # loadgen's clients' datagrams are relayed twice (to the echo peer, back).
            fwd=$(kv "$out" forwarded_pps)
            start_sedge 0
            lout=$(timeout $((SECS + 120)) "$LOADGEN" -s "127.0.0.1:$TURN_PORT" -e "127.0.0.4:$PEER_PORT" \
                -n $((n * 2)) -l "$MEAN" -u bench -w pw --rate "$(awk -v f="$fwd" 'BEGIN{printf "%d", f/2}')" \
                -d "$SECS" --server-pid "$SPID" -b 127.0.0.5 2>"$W/loadgen.err" | grep '^phase=paced')
            stop_sedge
            printf "%-28s %8s %10s %9s %12s %12s %8s\n" "turn (same pps, ${MEAN} B)" "$((n * 2))cl" \
                "$(kv "$lout" relayed_per_s)" \
                "$(awk -v c="$(kv "$lout" server_cpu)" -v s="$(kv "$lout" secs)" 'BEGIN{ if (s > 0) printf "%.1f", 100*c/s }')" \
                "-" "$(kv "$lout" pkts_per_cpu_s)" "$(kv "$lout" loss_pct)"
            echo "turn n=$n $lout" >>"$W/results"
        fi
    done
done
# Side by side with rtpengine (Debian's rtpengine-daemon, user-space
# forwarding: --table=-1), the well-known peer that bridges DTLS-SRTP: it
# terminates DTLS on both legs with its own fingerprint and re-encrypts,
# as sedge's anchor does. rtpengine 10.5 does not bundle (one port per
# m-line), so both run the same one-m-line video call (--video-only).
RTPE_NG=17623
if [ "${BENCH_RTPENGINE:-1}" = 1 ] && command -v rtpengine >/dev/null; then
    for n in $CALLS; do
        for who in sedge rtpengine; do
            if [ $who = sedge ]; then
                start_sedge 0
                PID=$SPID GEN_ARGS=(--api "127.0.0.1:$API_PORT" --ca "$W/cert.pem" --user bench --password pw)
            else
                rtpengine --interface=127.0.0.3 --listen-ng=127.0.0.1:$RTPE_NG --foreground --log-stderr \
                    --table=-1 --port-min=45000 --port-max=49999 --num-threads="$THREADS" -L 4 \
                    >"$W/rtpengine.log" 2>&1 &
                PID=$!; PIDS+=("$PID"); SPID=$PID
                for _ in $(seq 50); do grep -q "Startup complete" "$W/rtpengine.log" && break; sleep 0.1; done
                GEN_ARGS=(--ng "127.0.0.1:$RTPE_NG")
            fi
            out=$(timeout $((SECS + 200)) "$GEN" "${GEN_ARGS[@]}" -n "$n" -d "$SECS" --video-only \
                --video "$W/video.rtp" --audio "$W/audio.rtp" --server-pid "$PID" 2>"$W/gen.err")
            stop_sedge
            [ -n "$out" ] || { echo "anchorgen ($who) failed: $(tail -3 "$W/gen.err")"; continue; }
            printf "%-28s %8s %10s %9s %12s %12s %8s\n" "$who (video only)" "$(kv "$out" up)/$n" \
                "$(kv "$out" forwarded_pps)" "$(kv "$out" server_cpu_pct)" "$(kv "$out" cpu_ms_per_call_s)" \
                "$(kv "$out" pkts_per_cpu_s)" "$(kv "$out" loss_pct)"
            echo "$who-video-only n=$n $out" >>"$W/results"
        done
    done
fi
echo
cat "$W/results"
