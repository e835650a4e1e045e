#!/bin/bash
# bench/bench_turn.sh - sedge against Debian's coturn and a plain forwarder.
#
#   +------------------------------ loopback only ------------------------------+
#   | loadgen clients        server under test              loadgen echo peer   |
#   | 127.0.0.5:*   ---->    127.0.0.1:17478 (sedge)   ----> 127.0.0.4:17400     |
#   |               <----    127.0.0.1:17480 (coturn)  <----  (sends every        |
#   |                        127.0.0.1:17482 (plainfwd)        datagram back)     |
#   |                        relays on 127.0.0.3:40000-59999                     |
#   +---------------------------------------------------------------------------+
#
# For each configuration (transport, clients, payload) and each server,
# RUNS times: start the server fresh, run bench/loadgen (setup phase, a
# paced phase, a saturating phase), stop the server. Server CPU comes from
# /proc/PID/stat, so "relayed packets per server CPU-second" does not
# depend on what else the machine is doing. The table shows medians.
# Then: turnutils_uclient against both servers, and 10 000 idle
# allocations on each (RSS per allocation, allocations per second).
#
# Environment: BENCH_QUICK=1 (one run, fewer configurations, ~2 min),
# BENCH_RUNS (default 3), BENCH_SECONDS (per load phase, default 3),
# SEDGE_WORKERS (default 1), SEDGE_IO (relay.io, default auto),
# COTURN_THREADS (default 1: its best here), BENCH_CONFIGS (e.g.
# "udp:1000:160 udp:100:1200"), BENCH_SERVERS (e.g. "sedge plain"),
# BENCH_LOAD_ONLY=1 (skip turnutils_uclient and the 10 000 allocations),
# BENCH_KEEP=1 keeps the work directory, BENCH_MACHINE_IDLE (seconds of
# machine background sampled before each load, default 0),
# BENCH_REPORT (default bench/report.py).
# Servers: sedge (user-space path, relay.offload = "off"), sedge-bpf (the
# kernel fast path, relay.offload = "bpf"; bench/bench_offload.sh), coturn,
# plain, direct (no relay: clients to the echo peer, the generator alone).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SEDGE_BUILD:-build}
SEDGE=$ROOT/$BUILD/sedge
LOADGEN=$ROOT/$BUILD/tools/loadgen
PLAINFWD=$ROOT/$BUILD/tools/plainfwd
QUICK=${BENCH_QUICK:-0}
RUNS=${BENCH_RUNS:-$([ "$QUICK" = 1 ] && echo 1 || echo 3)}
SECS=${BENCH_SECONDS:-$([ "$QUICK" = 1 ] && echo 2 || echo 3)}
SEDGE_WORKERS=${SEDGE_WORKERS:-1}
SEDGE_IO=${SEDGE_IO:-auto}
COTURN_THREADS=${COTURN_THREADS:-1}
WINDOW=${BENCH_WINDOW:-256}
BIG=${BENCH_BIG:-10000}

SRV_IP=127.0.0.1 RELAY_IP=127.0.0.3 PEER_IP=127.0.0.4 CLIENT_IP=127.0.0.5
SEDGE_PORT=17478 SEDGE_TLS=17479 COTURN_PORT=17480 COTURN_TLS=17481 PLAIN_PORT=17482
PEER_PORT=17400 UPEER_PORT=17401
W=$(mktemp -d /tmp/sedge-bench.XXXXXX)
RES=$W/results
PIDS=()
: >"$RES"

cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null
    done
    [ -n "${BENCH_KEEP:-}" ] && echo "work dir: $W" || rm -rf "$W"
}
trap cleanup EXIT

for t in "$SEDGE" "$LOADGEN" "$PLAINFWD"; do
    [ -x "$t" ] || { echo "missing $t (run make all)"; exit 1; }
done
HAVE_COTURN=1
command -v turnserver >/dev/null || { echo "coturn (turnserver) not installed: sedge only"; HAVE_COTURN=0; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/key.pem" \
    -out "$W/cert.pem" -days 2 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
    >/dev/null 2>&1 || { echo "openssl req failed"; exit 1; }

# sedge with coturn-equivalent settings: long-term credentials (MD5 key),
# no RFC 8489 nonce cookie, no 401 reflection limit (coturn has none), the
# same relay address and port range, limits raised for 10 000 allocations,
# logging at warn (coturn logs to a file).
cat >"$W/sedge.conf" <<CONF
realm = "bench";
database = "$W/sedge.db";
log_level = "warn";
listen = (
  { transport = "udp"; address = "$SRV_IP"; port = $SEDGE_PORT; },
  { transport = "tcp"; address = "$SRV_IP"; port = $SEDGE_PORT; },
  { transport = "tls"; address = "$SRV_IP"; port = $SEDGE_TLS; }
);
relay = { address = "$RELAY_IP"; min_port = 40000; max_port = 59999; io = "$SEDGE_IO"; };
tls = { cert = "$W/cert.pem"; key = "$W/key.pem"; };
peers = { allow = [ "127.0.0.0/8" ]; };
workers = $SEDGE_WORKERS;
limits = { drain_timeout = 1; max_allocations = 30000; max_allocations_per_user = 30000; allocate_rate_per_user = 0;
           max_allocations_per_ip = 0; };
auth = { challenge_rate = 0; security_features = false; fail_limit = 1000; };
CONF
# The same server with the kernel fast path (relay.offload, issue 15);
# "sedge" itself measures the user-space path.
sed 's/io = "\([a-z_]*\)"; };$/io = "\1"; offload = "bpf"; };/' "$W/sedge.conf" >"$W/sedge-bpf.conf"
sed -i 's/io = "\([a-z_]*\)"; };$/io = "\1"; offload = "off"; };/' "$W/sedge.conf"
grep -q 'offload = "off"' "$W/sedge.conf" && grep -q 'offload = "bpf"' "$W/sedge-bpf.conf" ||
    { echo "bench: could not write the offload settings"; exit 1; }
"$SEDGE" init --config "$W/sedge.conf" >/dev/null || exit 1 # nothing creates it implicitly
"$SEDGE" user add bench --password bench --config "$W/sedge.conf" >/dev/null || exit 1

# coturn's best configuration here (docs/benchmark.md): one relay thread,
# long-term credentials, loopback peers allowed, no CLI, no DTLS.
coturn_args() {
    echo -n --no-stdout-log --log-file "$W/coturn.log" --simple-log \
        -n --listening-ip $SRV_IP --listening-port $COTURN_PORT --tls-listening-port $COTURN_TLS \
        --relay-ip $RELAY_IP --min-port 40000 --max-port 59999 \
        -a -u bench:bench -r bench --userdb "$W/turndb" --allow-loopback-peers --no-cli \
        --no-dtls --cert "$W/cert.pem" --pkey "$W/key.pem" -m "$COTURN_THREADS" \
        --pidfile "$W/turnserver.pid"
}

wait_port() { # proto port: wait (bounded) until something listens
    local i
    for i in $(seq 50); do
        if [ "$1" = udp ]; then ss -Hlun "sport = :$2" | grep -q . && return 0
        else ss -Hltn "sport = :$2" | grep -q . && return 0; fi
        sleep 0.1
    done
    return 1
}

SPID=""
start_server() { # name
    case $1 in
    sedge|sedge-bpf)
        "$SEDGE" serve --config "$W/$1.conf" >>"$W/$1.log" 2>&1 &
        SPID=$!; PORT=$SEDGE_PORT; TLSPORT=$SEDGE_TLS ;;
    coturn)
        # shellcheck disable=SC2046
        turnserver $(coturn_args) >>"$W/coturn.out" 2>&1 &
        SPID=$!; PORT=$COTURN_PORT; TLSPORT=$COTURN_TLS ;;
    plain)
        "$PLAINFWD" -l $SRV_IP:$PLAIN_PORT -e $PEER_IP:$PEER_PORT -o $RELAY_IP:0 -t 120 \
            >>"$W/plain.log" 2>&1 &
        SPID=$!; PORT=$PLAIN_PORT; TLSPORT=0 ;;
    direct)
        # No relay: the clients send straight to the echo peer (loadgen
        # --plain), the generator's own work alone - the floor of any
        # machine-wide figure.
        SPID=""; PORT=$PEER_PORT; return 0 ;;
    esac
    PIDS+=("$SPID")
    wait_port udp "$PORT" || { echo "$1 did not start"; return 1; }
    [ "$1" = plain ] || wait_port tcp "$TLSPORT" || { echo "$1 did not start (tls)"; return 1; }
    sleep 0.3
}

stop_server() {
    [ -n "$SPID" ] || return 0
    kill "$SPID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SPID" 2>/dev/null
    wait "$SPID" 2>/dev/null
    SPID=""
}

# run_load server transport clients payload run
run_load() {
    local srv=$1 tp=$2 n=$3 len=$4 run=$5 port rate extra=()
    start_server "$srv" || return 1
    port=$PORT; [ "$tp" = tls ] && port=$TLSPORT
    [ "$srv" = plain ] || [ "$srv" = direct ] && extra=(--plain)
    local to=$SRV_IP:$port
    [ "$srv" = direct ] && to=$PEER_IP:$PEER_PORT
    # Paced load: 50 packets/s per client (20 ms audio frames), at least
    # 5 000/s in total so the one-client case carries some load.
    rate=$((n * 50)); [ "$rate" -lt 5000 ] && rate=5000
    [ "${BENCH_MACHINE_IDLE:-0}" != 0 ] && extra+=(--machine-idle "$BENCH_MACHINE_IDLE")
    timeout 120 "$LOADGEN" -s "$to" -e $PEER_IP:$PEER_PORT -b $CLIENT_IP -t "$tp" \
        -n "$n" -l "$len" --rate "$rate" --window "$WINDOW" -d "$SECS" --server-pid "${SPID:-0}" \
        "${extra[@]}" 2>>"$W/loadgen.err" |
        sed "s/^/server=$srv cfg=$tp-$n-$len run=$run /" >>"$RES"
    stop_server
}

CONFIGS="udp:1:160 udp:1:1200 udp:100:160 udp:100:1200 udp:1000:160 udp:1000:1200 tcp:100:160 tcp:100:1200 tls:100:160 tls:100:1200"
[ "$QUICK" = 1 ] && CONFIGS="udp:100:160 udp:100:1200 udp:1000:160 udp:1000:1200 tcp:100:160 tls:100:160"
CONFIGS=${BENCH_CONFIGS:-$CONFIGS}
SERVERS="sedge plain"
[ "$HAVE_COTURN" = 1 ] && SERVERS="sedge coturn plain"
SERVERS=${BENCH_SERVERS:-$SERVERS}

echo "bench: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), runs=$RUNS, ${SECS}s per phase, window=$WINDOW"
echo "bench: sedge workers=$SEDGE_WORKERS, coturn -m $COTURN_THREADS ($(turnserver --version 2>/dev/null | head -1))"
t_start=$SECONDS
for run in $(seq "$RUNS"); do
    for c in $CONFIGS; do
        IFS=: read -r tp n len <<<"$c"
        for srv in $SERVERS; do
            [ "$srv" = plain ] || [ "$srv" = sedge-bpf ] || [ "$srv" = direct ] && [ "$tp" != udp ] &&
                continue
            run_load "$srv" "$tp" "$n" "$len" "$run"
        done
    done
    echo "bench: run $run done ($((SECONDS - t_start)) s)"
done

if [ "${BENCH_LOAD_ONLY:-0}" = 1 ]; then RUNS_EXTRA=0; else RUNS_EXTRA=$RUNS; fi
# turnutils_uclient (coturn's own client) against both: 100 clients,
# 160 B, 20 ms apart, channels (-c: no RTCP pair), through its echo peer.
turnutils_peer -L $PEER_IP -p $UPEER_PORT >"$W/upeer.log" 2>&1 &
UPEER=$!; PIDS+=("$UPEER")
sleep 0.3
UMSGS=$([ "$QUICK" = 1 ] && echo 100 || echo 250)
for run in $(seq "$RUNS_EXTRA"); do
    for srv in sedge coturn; do
        [ "$srv" = coturn ] && [ "$HAVE_COTURN" = 0 ] && continue
        start_server "$srv" || continue
        cpu0=$(awk '{sub(/.*\) /,""); print $12+$13}' "/proc/$SPID/stat")
        t0=$(date +%s.%N)
        timeout 120 turnutils_uclient -u bench -w bench -e $PEER_IP -r $UPEER_PORT -m 100 \
            -n "$UMSGS" -l 160 -z 20 -c -p "$PORT" $SRV_IP >"$W/uclient-$srv.log" 2>&1
        t1=$(date +%s.%N)
        cpu1=$(awk '{sub(/.*\) /,""); print $12+$13}' "/proc/$SPID/stat")
        tck=$(getconf CLK_TCK)
        awk -v srv="$srv" -v run="$run" -v c0="$cpu0" -v c1="$cpu1" -v tck="$tck" \
            -v t0="$t0" -v t1="$t1" '
            /tot_send_msgs=/ { s=$0; sub(/.*tot_send_msgs=/,"",s); sub(/,.*/,"",s); sent=s
                               r=$0; sub(/.*tot_recv_msgs=/,"",r); sub(/,.*/,"",r); recv=r }
            /Total lost packets/ { l=$0; sub(/.*\(/,"",l); sub(/%.*/,"",l); loss=l }
            /Average round trip delay/ { d=$0; sub(/.*delay /,"",d); sub(/ ms.*/,"",d); rtt=d }
            END { cpu=(c1-c0)/tck
                  printf "server=%s cfg=uclient-100-160 run=%s phase=uclient sent=%s recv=%s loss_pct=%s rtt_avg_ms=%s server_cpu=%.3f pkts_per_cpu_s=%.0f secs=%.2f\n",
                         srv, run, sent, recv, loss, rtt, cpu, (cpu > 0 ? (sent+recv)/cpu : 0), t1-t0 }' \
            "$W/uclient-$srv.log" >>"$RES"
        stop_server
    done
done
kill "$UPEER" 2>/dev/null

# 10 000 concurrent allocations: setup rate and RSS per idle allocation.
for run in $(seq "$RUNS_EXTRA"); do
    for srv in sedge coturn; do
        [ "$srv" = coturn ] && [ "$HAVE_COTURN" = 0 ] && continue
        start_server "$srv" || continue
        timeout 180 "$LOADGEN" -s $SRV_IP:"$PORT" -e $PEER_IP:$PEER_PORT -b $CLIENT_IP -n "$BIG" \
            -l 160 --rate "$BIG" -d 1 --server-pid "$SPID" 2>>"$W/loadgen.err" |
            sed "s/^/server=$srv cfg=udp-$BIG-160 run=$run /" >>"$RES"
        stop_server
    done
done
echo "bench: finished in $((SECONDS - t_start)) s, load average now $(cut -d' ' -f1-3 /proc/loadavg)"
[ -s "$W/loadgen.err" ] && { echo "loadgen messages (first 5):"; sort "$W/loadgen.err" | uniq -c | sort -rn | head -5; }
python3 "$ROOT/${BENCH_REPORT:-bench/report.py}" "$RES"
