#!/bin/bash
# bench/soak.sh - `make soak`: the release sedge binary under hours of
# paced media with allocation churn and policy changes; fails on loss,
# fd growth or memory growth. A benchmark-like target: not in `make test`.
#
#   +----------------------------------- loopback only -----------------------------------+
#   | soakgen clients          sedge serve (build/sedge)           soakgen echo peer        |
#   | 127.0.0.9:*   ------>    127.0.0.1:17578 (UDP)      ------>  127.0.0.8:17500           |
#   |               <------    relays 127.0.0.7:40000-59999 <----   (each datagram back)    |
#   |                          API https://127.0.0.1:17579 <--- soak_ctl.sh (policy edits) |
#   +--------------------------------------------------------------------------------------+
#
# bench/soakgen holds SOAK_ALLOCS allocations of SOAK_PPS packets/s of
# SOAK_PAYLOAD bytes each way, ends and re-creates them (mean life
# SOAK_CHURN s, fresh REST or long-term credentials each time), makes a
# policy change every SOAK_POLICY_EVERY s (bench/soak_ctl.sh), and samples
# sedge's VmRSS, fds and CPU every SOAK_SAMPLE s. bench/report_soak.py
# prints the figures and decides. See "Soak" in docs/benchmark.md.
#
# Environment: SOAK_SECONDS (3600), SOAK_ALLOCS (1000), SOAK_PPS (20; 50 needs
# more CPU than a shared 2-core machine gives, see docs/benchmark.md),
# SOAK_PAYLOAD (200), SOAK_CHURN (120), SOAK_POLICY_EVERY (20),
# SOAK_SAMPLE (5), SOAK_WORKERS (2), SOAK_OFFLOAD (relay.offload, default
# "auto" as in production: "off" keeps every allocation in user space),
# SOAK_WARMUP (s excluded from the RSS
# slope; default a quarter of the run, at most 600), SOAK_RSS_SLOPE_MAX
# (KiB/min, default 32), SOAK_FD_MARGIN (default 4), SOAK_KEEP=1 keeps the
# work directory (sedge log, samples, ctl log, sessions).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SEDGE_BUILD:-build}
SEDGE=$ROOT/$BUILD/sedge
SOAKGEN=$ROOT/$BUILD/tools/soakgen
SECS=${SOAK_SECONDS:-3600}
ALLOCS=${SOAK_ALLOCS:-1000}
PPS=${SOAK_PPS:-20}
PAYLOAD=${SOAK_PAYLOAD:-200}
CHURN=${SOAK_CHURN:-120}
EVERY=${SOAK_POLICY_EVERY:-20}
SAMPLE=${SOAK_SAMPLE:-5}
WORKERS=${SOAK_WORKERS:-2}
OFFLOAD=${SOAK_OFFLOAD:-auto}
SRV_IP=127.0.0.1 RELAY_IP=127.0.0.7 PEER_IP=127.0.0.8 CLIENT_IP=127.0.0.9
PORT=17578 API_PORT=17579 PEER_PORT=17500
LT_USERS=16 SECRETS=4
W=$(mktemp -d /tmp/sedge-soak.XXXXXX)
SPID=""

cleanup() {
    if [ -n "$SPID" ] && kill -0 "$SPID" 2>/dev/null; then
        kill "$SPID"
        for _ in $(seq 100); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$SPID" 2>/dev/null
    fi
    [ -n "${SOAK_KEEP:-}" ] && echo "soak: work dir $W" || rm -rf "$W"
}
trap cleanup EXIT
die() { echo "soak: $*"; [ -f "$W/sedge.log" ] && tail -20 "$W/sedge.log"; exit 1; }

for t in "$SEDGE" "$SOAKGEN"; do [ -x "$t" ] || die "missing $t (run make all)"; done
command -v curl >/dev/null || die "curl is needed for the API policy edits"
for v in "$SECS" "$ALLOCS" "$PPS" "$PAYLOAD" "$CHURN" "$EVERY" "$SAMPLE" "$WORKERS"; do
    [[ $v =~ ^[0-9]+$ ]] || die "SOAK_* settings are whole numbers (got '$v')"
done
# Bound the run: a soak is long, not endless.
[ "$SECS" -ge 60 ] && [ "$SECS" -le 86400 ] || die "SOAK_SECONDS must be 60..86400"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/key.pem" \
    -out "$W/cert.pem" -days 2 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
    >/dev/null 2>&1 || die "openssl req failed"

# Production defaults except where one loopback source must stand for
# 1 000 clients (max_allocations_per_ip) and where the generator speaks
# the classic long-term mechanism (security_features, as bench/ does).
cat >"$W/sedge.conf" <<CONF
realm = "soak";
database = "$W/sedge.db";
log_level = "info";
listen = ( { transport = "udp"; address = "$SRV_IP"; port = $PORT; } );
relay = { address = "$RELAY_IP"; min_port = 40000; max_port = 59999; offload = "$OFFLOAD"; };
tls = { cert = "$W/cert.pem"; key = "$W/key.pem"; };
peers = { allow = [ "127.0.0.0/8" ]; };
workers = $WORKERS;
api = { address = "$SRV_IP"; port = $API_PORT; turn_host = "$SRV_IP"; rate = 0; };
policy = { default = "allow"; };
limits = { max_allocations_per_ip = 0; drain_timeout = 2; };
auth = { security_features = false; };
CONF
cli() { "$SEDGE" "$@" --config "$W/sedge.conf"; }
cli init >/dev/null || die "sedge init"
for u in $(seq 0 $((LT_USERS - 1))); do
    printf 'soak-pw-%d-0\n' "$u" | cli user add "soak-lt-$u" --password-file - >/dev/null ||
        die "user add"
done
for s in $(seq 0 $((SECRETS - 1))); do cli secret add "soak-secret-$s-0" >/dev/null || die "secret add"; done
TOKEN=$(cli token add --role admin --name soak 2>/dev/null) || die "token add"
# The long-term users' allocations are capped by a rule (the bandwidth
# changes edit it) and stay in user space; the REST users' are uncapped
# and take the kernel fast path where relay.offload allows it.
cli group add soak-capped >/dev/null &&
    cli group adduser soak-capped $(for u in $(seq 0 $((LT_USERS - 1))); do echo "soak-lt-$u"; done) \
        >/dev/null || die "group setup"
cli rule add allow --priority 10 --name soak-bw-start --group soak-capped --max-kbps 2000 |
    sed -n 's/^rule #\([0-9]*\).*/\1/p' >"$W/bw_id"

"$SEDGE" serve --config "$W/sedge.conf" >>"$W/sedge.log" 2>&1 &
SPID=$!
for _ in $(seq 100); do grep -q "sedge serving" "$W/sedge.log" 2>/dev/null && break; sleep 0.1; done
grep -q "sedge serving" "$W/sedge.log" || die "sedge did not start"
sleep 1

echo "soak: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); sedge $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) pid $SPID, workers=$WORKERS"
echo "soak: ${SECS}s, $ALLOCS allocations x $PPS pkt/s x $PAYLOAD B each way, churn mean ${CHURN}s, a policy change every ${EVERY}s"
export SOAK_SEDGE=$SEDGE SOAK_CONF=$W/sedge.conf SOAK_API=https://$SRV_IP:$API_PORT SOAK_TOKEN=$TOKEN SOAK_W=$W
# Machine-wide UDP receive-buffer drops (/proc/net/snmp): the report
# subtracts the generator's own and shows what is left.
udp_drops() { awk '/^Udp:/ { if (!h) { for (i = 2; i <= NF; i++) c[$i] = i; h = 1 } else print $c["RcvbufErrors"] }' /proc/net/snmp; }
udp0=$(udp_drops)
# Loopback datagrams dropped before any socket: the per-CPU backlog
# (net.core.netdev_max_backlog) was full (/proc/net/softnet_stat, column 2).
backlog_drops() { local t=0 v; while read -r _ v _; do t=$((t + 16#$v)); done </proc/net/softnet_stat; echo $t; }
bl0=$(backlog_drops)
fds0=$(ls "/proc/$SPID/fd" | wc -l)
rss0=$(awk '/^VmRSS:/ {print $2}' "/proc/$SPID/status")
la0=$(cut -d' ' -f1-3 /proc/loadavg)
# How long a runnable process waited for a CPU during the run: the
# context for any loss on a shared machine (bench/stallmon.py).
python3 "$ROOT/bench/stallmon.py" $((SECS + 240)) >"$W/stalls" &
STALLMON=$!
# soakgen stops by itself after SECS (+ at most 60 s of wind-down);
# timeout is the backstop.
timeout $((SECS + 180)) "$SOAKGEN" -s $SRV_IP:$PORT -e $PEER_IP:$PEER_PORT -b $CLIENT_IP \
    --server-pid "$SPID" --ctl "$ROOT/bench/soak_ctl.sh" -n "$ALLOCS" --pps "$PPS" -l "$PAYLOAD" \
    -d "$SECS" --churn "$CHURN" --policy-every "$EVERY" --sample "$SAMPLE" \
    --lt-users $LT_USERS --secrets $SECRETS >"$W/samples" 2>"$W/soakgen.err"
rc=$?
kill "$STALLMON" 2>/dev/null
wait "$STALLMON"
[ $rc = 0 ] || { cat "$W/soakgen.err"; die "soakgen exited $rc"; }
# Everything was released: the server must be back to its idle fds.
sleep 3
fds1=$(ls "/proc/$SPID/fd" | wc -l)
rss1=$(awk '/^VmRSS:/ {print $2}' "/proc/$SPID/status")
curl -sk --max-time 10 -H "Authorization: Bearer $TOKEN" "https://$SRV_IP:$API_PORT/metrics" \
    >"$W/metrics" || echo "soak: could not read /metrics"
kill "$SPID"
for _ in $(seq 100); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SPID" 2>/dev/null && die "sedge did not stop within 10 s of SIGTERM"
wait "$SPID"
src=$?
SPID=""
cli sessions --json --since 2d --limit 1000000 >"$W/sessions.json" 2>/dev/null ||
    echo "soak: could not list sessions"
{
    echo "pre fds=$fds0 rss_kib=$rss0 load=\"$la0\""
    echo "post udp_rcvbuf_errors=$(( $(udp_drops) - udp0 )) backlog_drops=$(( $(backlog_drops) - bl0 )) fds=$fds1 rss_kib=$rss1 load=\"$(cut -d' ' -f1-3 /proc/loadavg)\" exit=$src"
    echo "log bytes=$(stat -c %s "$W/sedge.log") $(awk '$2 == "error" {e++} $2 == "warn" {w++} END {printf "errors=%d warnings=%d", e, w}' "$W/sedge.log")"
    cat "$W/stalls"
} >>"$W/samples"
[ -s "$W/soakgen.err" ] && { echo "soakgen messages (first 5):"; sort "$W/soakgen.err" | uniq -c | sort -rn | head -5; }
python3 "$ROOT/bench/report_soak.py" "$W/samples" "$W/metrics" "$W/sessions.json" \
    --warmup "${SOAK_WARMUP:-$(( SECS / 4 < 600 ? SECS / 4 : 600 ))}" \
    --rss-slope-max "${SOAK_RSS_SLOPE_MAX:-32}" --fd-margin "${SOAK_FD_MARGIN:-4}" \
    --ctl-log "$W/ctl.log"
