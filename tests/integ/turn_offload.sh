#!/bin/bash
# The kernel fast path (relay.offload = "bpf"/"auto", relay/offload/) against
# the real daemon, on loopback:
#
#   offload_probe.py client ---> sedge 127.0.0.1:$PORT (TC program on lo) ---> probe peers
#     (127.0.0.5)          <---  relayed 127.0.0.2:$RELAY_MIN-$RELAY_MAX  <---  (127.0.0.1)
#
#   - the verifier accepts the program on this kernel ("bpf" starts);
#   - what the peer and the client receive is byte for byte what they
#     receive through the user-space path (offload off), for sizes 0..4000,
#     padded ChannelData, Send and Data indications, an unbound channel;
#   - the allocation's counters and its session row equal what was sent;
#   - coturn's turnutils_uclient relays losslessly through the fast path;
#     TCP clients keep the user-space path;
#   - a revoked user's, a newly denied peer's and an admin-killed
#     session's offloaded flow stops within 2 s; a bandwidth cap holds within 20 % (capped allocations
#     stay in user space, also when the cap arrives mid-call);
#   - an expired channel's flow is removed: the peer's datagrams come back
#     as Data indications (libfaketime moves the daemon's clock);
#   - without CAP_BPF/CAP_NET_ADMIN "auto" falls back with a warning and
#     relays in user space, "bpf" refuses to start;
#   - the program goes away with the process (tcx link), and a clsact
#     filter left by a killed daemon stops forwarding within 10 s and is
#     removed by the next sedge that attaches there.
# Skipped, with the reason, where BPF cannot be loaded at all.
. "$(dirname "$0")/../lib/sedge.sh"
PROBE=("$PY" "$SEDGE_ROOT/tests/tools/offload_probe.py")
[ "$(id -u)" = 0 ] || skip "relay.offload needs root here (CAP_BPF, CAP_NET_ADMIN)"
FAKETIME_LIB=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 2>/dev/null | head -1)

config() { # offload mode, extra lines...
    local mode=$1; shift
    SEDGE_RELAY_OFFLOAD=$mode write_config 'policy = { default = "allow"; session_update = 1; };' \
        'limits = { drain_timeout = 1; };' "$@"
}
start() { # [env...] -- start sedge with the current config; wait until it serves
    env "$@" "$SEDGE_BIN" serve --config "$T/sedge.conf" >>"$T/sedge.log" 2>&1 &
    SEDGE_PID=$!
    PIDS+=("$SEDGE_PID")
    wait_log "sedge serving" 10
}
stop() { # name: stop sedge (SIGTERM), keep its log as sedge-NAME.log
    kill -TERM "$SEDGE_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$SEDGE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$SEDGE_PID" 2>/dev/null && fail "sedge did not stop"
    mv "$T/sedge.log" "$T/sedge-$1.log"
}
probe() { timeout 60 "${PROBE[@]}" "$1" --server "127.0.0.1:$PORT" --user "$2" --password pw "${@:3}"; }
json() { $PY -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
prog_id() { grep -oE 'relay offload: bpf .*program id [0-9]+' "$T/sedge.log" | tail -1 | grep -oE '[0-9]+$'; }

API_PORT=$((BASE + 3))
config bpf "api = { address = \"127.0.0.1\"; port = $API_PORT; turn_host = \"127.0.0.1\"; };"
for u in alice bob carol dave frank bw bw2 erin; do sedge_cli user add "$u" --password pw >/dev/null || fail "user add $u"; done
METRICS_TOKEN=$(sedge_cli token add --role admin --name metrics 2>/dev/null) || fail "token add"

# 1. The verifier accepts the program on this kernel.
if ! start; then
    grep -q "not permitted" "$T/sedge.log" && skip "BPF is not permitted here: $(grep -o 'relay.offload.*' "$T/sedge.log" | head -1)"
    fail "relay.offload = \"bpf\" did not start: $(grep -o 'relay.offload.*' "$T/sedge.log" | head -1)"
fi
wait_log 'relay offload: bpf \((tcx|clsact), [0-9]+ flows, program id [1-9]' 1 || fail "offload not reported in force"
PROG=$(prog_id)
[ -n "$(bpftool prog show id "$PROG" 2>/dev/null | grep sedge_tc)" ] || fail "program $PROG is not loaded"
ok "the verifier accepts the program on $(uname -r) (program id $PROG, $(grep -oE '\((tcx|clsact)' "$T/sedge.log" | head -1 | tr -d '('))"

# 2-3. Byte-for-byte against the user-space path; counters.
probe transcript alice >"$T/t-bpf.json" || fail "transcript (bpf): $(cat "$T/t-bpf.json")"
wait_log 'allocation end user=alice ' 3 || fail "alice's allocation did not end"
fwd=$(grep -oE 'user=alice back in user space .*forwarded [0-9]+/[0-9]+' "$T/sedge.log" | grep -oE '[0-9]+/[0-9]+$')
[ -n "$fwd" ] && [ "${fwd%/*}" -gt 20 ] && [ "${fwd#*/}" -gt 20 ] ||
    fail "the kernel did not forward alice's channel (forwarded ${fwd:-nothing})"
ok "the kernel forwarded $fwd packets of alice's channel (from/to client)"
end=$(grep 'allocation end user=alice ' "$T/sedge.log")
sent=$(json "$T/t-bpf.json" '"%d/%d" % (d["sent"]["bytes"], d["sent"]["pkts"])')
back=$(json "$T/t-bpf.json" '"%d/%d" % (d["back"]["bytes"], d["back"]["pkts"])')
echo "$end" | grep -q "from_client=$sent to_client=$back " ||
    fail "allocation counters differ from what crossed: sent $sent, back $back; $end"
ok "allocation counters equal what crossed (from_client $sent, to_client $back bytes/packets)"
sleep 1.5 # session rows are written four times a second
sedge_cli sessions --json --user alice >"$T/alice.json"
$PY - "$T/alice.json" "$T/t-bpf.json" <<'PY' || fail "alice's session row: $(cat "$T/alice.json")"
import json, sys
rows, t = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
r = [r for r in rows if r["client"].endswith(t["client_addr"])]
assert len(r) == 1, rows
r = r[0]
assert (r["bytes_from_client"], r["packets_from_client"]) == (t["sent"]["bytes"], t["sent"]["pkts"]), r
assert (r["bytes_to_client"], r["packets_to_client"]) == (t["back"]["bytes"], t["back"]["pkts"]), r
PY
ok "session row counts equal what crossed"
curl -sfk --max-time 5 -H "Authorization: Bearer $METRICS_TOKEN" "https://127.0.0.1:$API_PORT/metrics" \
    >"$T/metrics" || fail "GET /metrics"
$PY "$SEDGE_ROOT/tests/lib/promparse.py" "$T/metrics" >"$T/m" || fail "/metrics does not parse"
mval() { awk -v k="$1" '$1 == k { print $2 }' "$T/m"; }
[ "$(mval sedge_relay_offload_enabled)" = 1.0 ] || fail "sedge_relay_offload_enabled $(mval sedge_relay_offload_enabled)"
[ "$(mval 'sedge_relay_offload_packets_total{direction="from_client"}')" = "${fwd%/*}.0" ] &&
    [ "$(mval 'sedge_relay_offload_packets_total{direction="to_client"}')" = "${fwd#*/}.0" ] ||
    fail "offload packet counters $(grep offload_packets "$T/m" | tr '\n' ' ') (kernel forwarded $fwd)"
[ "$(mval 'sedge_relayed_packets_total{direction="from_client"}')" = "${sent#*/}.0" ] &&
    [ "$(mval 'sedge_relayed_bytes_total{direction="to_client"}')" = "${back%/*}.0" ] ||
    fail "relayed totals $(grep relayed_ "$T/m" | tr '\n' ' ') (sent $sent, back $back)"
[ "$(mval sedge_relay_offload_flows)" = 0.0 ] || fail "flows left after the allocation ended"
ok "/metrics: offloaded packets $fwd, relayed totals include them, no flow left"

# turnutils_uclient (coturn's client) through the fast path; TCP stays in user space.
if command -v turnutils_uclient >/dev/null; then
    peer_start
    uclient -n 100 -l 400 -z 5 -m 4 -c -u bob -w pw
    uclient_lossless "turnutils_uclient, 4 UDP clients through the fast path"
    wait_log 'user=bob back in user space .*forwarded [1-9]' 3 || fail "bob's channels were not offloaded"
    uclient -n 50 -l 200 -z 5 -m 1 -c -t -u erin -w pw
    uclient_lossless "turnutils_uclient over TCP"
    grep -q "user=erin offloaded" "$T/sedge.log" && fail "a TCP client's channel was offloaded"
    ok "TCP client's channel stays in user space"
fi
stop bpf

config off
start || fail "sedge (offload off) did not start"
wait_log 'relay offload: off' 1 || fail "offload off not reported"
probe transcript alice >"$T/t-off.json" || fail "transcript (off): $(cat "$T/t-off.json")"
stop off
$PY - "$T/t-bpf.json" "$T/t-off.json" <<'PY' || fail "offloaded and user-space paths differ"
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert a["relayed_src_ok"] and b["relayed_src_ok"], "peer saw a source other than the relayed address"
for k in ("peer", "client", "sent", "back"):
    if a[k] != b[k]:
        for x, y in zip(a[k], b[k]) if isinstance(a[k], list) else [(a[k], b[k])]:
            if x != y:
                print("first difference in", k, ":", x, "vs", y)
                break
        sys.exit(1)
PY
ok "peer and client received the same bytes through both paths ($(json "$T/t-bpf.json" 'len(d["peer"]) + len(d["client"])') datagrams)"

# 4. Revocation and peer denial while traffic flows, through the fast path.
config bpf
start || fail "sedge did not restart"
PROG=$(prog_id)
cut() { # name user action...
    local name=$1 user=$2; shift 2
    probe stream "$user" --pps 200 --seconds 5 --ready-file "$T/ready-$user" >"$T/s-$user.json" &
    local spid=$!
    for _ in $(seq 50); do [ -s "$T/ready-$user" ] && break; sleep 0.1; done
    wait_log "user=$user offloaded" 3 || fail "$name: the channel was not offloaded"
    sleep 1
    local t0
    t0=$(date +%s%N)
    "$@" >/dev/null || fail "$name: change failed"
    wait "$spid" || fail "$name: probe failed: $(cat "$T/s-$user.json")"
    $PY - "$T/s-$user.json" "$t0" <<'PY' || fail "$name: traffic went on"
import json, sys
d, t0 = json.load(open(sys.argv[1])), int(sys.argv[2])
before = [t for t, _ in d["peer"] if t < t0]
after = [t for t, _ in d["peer"] if t >= t0]
late = (max(after) - t0) / 1e6 if after else 0
print("  %d datagrams before the change, last one %.0f ms after it" % (len(before), late))
assert len(before) > 100, "too little traffic before the change"
assert late <= 2000, "still forwarded %.0f ms after the change" % late
assert d["client"] and max(d["client"]) - t0 <= 2000e6, "echoes still came back"
PY
    grep -qE "user=$user back in user space .*forwarded [1-9][0-9]+/" "$T/sedge.log" ||
        fail "$name: the kernel did not carry the traffic before the change"
    ok "$name: the offloaded flow stopped within 2 s"
}
cut "user disabled while offloaded" carol sedge_cli user disable carol
grep -q "allocation end user=carol .*reason=revoked" "$T/sedge.log" || fail "carol not revoked"
cut "peer denied while offloaded" dave sedge_cli rule add deny --user dave --peer 127.0.0.1/32 --priority 1
grep -q "permission revoked user=dave peer=127.0.0.1" "$T/sedge.log" || fail "dave's permission not revoked"
kill_session() { # user: end the user's live session as an admin does (sessions kill)
    local sid=""
    for _ in $(seq 30); do
        sid=$(sedge_cli sessions --live --user "$1" --json |
              $PY -c 'import json, sys; s = json.load(sys.stdin); print(s[0]["id"] if s else "")')
        [ -n "$sid" ] && break
        sleep 0.2
    done
    [ -n "$sid" ] && sedge_cli sessions kill "$sid"
}
cut "admin kill while offloaded" frank kill_session frank
grep -q "allocation end user=frank .*reason=killed by admin" "$T/sedge.log" || fail "frank not killed"

# 5. Bandwidth caps: held within 20 %, in user space.
rate() { # json: kbit/s at the peer over the arrivals after the first
    $PY - "$1" "${2:-0}" <<'PY'
import json, sys
d, after = json.load(open(sys.argv[1])), int(sys.argv[2])
a = [(t, n) for t, n in d["peer"] if t >= after]
span = (a[-1][0] - a[0][0]) / 1e9
print("%.0f" % (sum(n for _, n in a[1:]) * 8 / span / 1000))
PY
}
sedge_cli rule add allow --user bw --max-kbps 400 --name cap400 >/dev/null || fail "cap rule"
sleep 2
probe stream bw --pps 200 --size 1000 --seconds 3 >"$T/s-bw.json" || fail "bw stream"
kbps=$(rate "$T/s-bw.json")
[ "$kbps" -ge 320 ] && [ "$kbps" -le 480 ] || fail "cap 400 kbit/s, $kbps kbit/s reached the peer"
grep -q "user=bw offloaded" "$T/sedge.log" && fail "a capped allocation was offloaded"
ok "cap 400 kbit/s from the start: $kbps kbit/s at the peer, not offloaded"
probe stream bw2 --pps 200 --size 1000 --seconds 6 --ready-file "$T/ready-bw2" >"$T/s-bw2.json" &
spid=$!
for _ in $(seq 50); do [ -s "$T/ready-bw2" ] && break; sleep 0.1; done
wait_log "user=bw2 offloaded" 3 || fail "bw2 not offloaded"
sleep 1
sedge_cli rule add allow --user bw2 --max-kbps 400 --name cap-live >/dev/null || fail "live cap rule"
t1=$(($(date +%s%N) + 2000000000))
wait "$spid" || fail "bw2 stream"
wait_log "user=bw2 back in user space" 1 || fail "the new cap did not take the flow back"
kbps=$(rate "$T/s-bw2.json" "$t1")
[ "$kbps" -ge 320 ] && [ "$kbps" -le 480 ] || fail "cap added mid-call: $kbps kbit/s at the peer"
ok "cap added mid-call: flow back in user space, $kbps kbit/s at the peer 2 s later"
stop caps
[ -z "$(bpftool prog show id "$PROG" 2>/dev/null)" ] || fail "program $PROG still loaded after sedge stopped"
ok "the program is gone with the process"

# 6. Channel expiry (600 s) with the daemon's clock moved by libfaketime.
if [ -n "$FAKETIME_LIB" ]; then
    config bpf
    echo "+0" >"$T/faketime"
    preload=$FAKETIME_LIB
    # An ASan build (make asan) wants its runtime first in the list.
    asan=$(ldd "$SEDGE_BIN" | grep -oE '/[^ ]*libasan[^ ]*' | head -1)
    [ -n "$asan" ] && preload="$asan:$preload"
    start LD_PRELOAD="$preload" FAKETIME_TIMESTAMP_FILE="$T/faketime" FAKETIME_CACHE_DURATION=1 ||
        fail "sedge under libfaketime did not start"
    probe expiry alice --faketime-file "$T/faketime" >"$T/expiry.json" || fail "expiry: $(cat "$T/expiry.json")"
    $PY - "$T/expiry.json" <<'PY' || fail "channel expiry: $(cat "$T/expiry.json")"
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("fresh", "t290", "t580"):
    assert d[k] == {"peer_got": True, "back": "cd", "back_ok": True}, (k, d[k])
assert d["t620"] == {"peer_got": False, "back": "data", "back_ok": True}, d["t620"]
PY
    grep -qE 'user=alice back in user space .*forwarded 3/3' "$T/sedge.log" ||
        fail "the expired channel's flow was not removed after 3 offloaded round trips"
    ok "channel expiry (600 s, permission refreshed): flow removed, peer data arrives as Data indications"
    stop expiry
else
    echo "note: libfaketime not installed (Debian faketime): channel expiry not tested"
fi

# 7. Without the capabilities: auto falls back, bpf refuses.
NOCAP=(setpriv --bounding-set -bpf,-sys_admin,-net_admin,-perfmon --inh-caps=-all --)
config auto
"${NOCAP[@]}" "$SEDGE_BIN" serve --config "$T/sedge.conf" >>"$T/sedge.log" 2>&1 &
SEDGE_PID=$!
PIDS+=("$SEDGE_PID")
wait_log "sedge serving" 10 || fail "auto without CAP_BPF did not start"
wait_log 'relay.offload: the kernel fast path is unavailable \(.+\); channel data is relayed in user space' 1 ||
    fail "no fallback warning"
probe transcript alice >"$T/t-nocap.json" || fail "transcript (no caps): $(cat "$T/t-nocap.json")"
$PY -c 'import json, sys; a, b = (json.load(open(f)) for f in sys.argv[1:]); sys.exit(a["peer"] != b["peer"] or a["client"] != b["client"])' \
    "$T/t-nocap.json" "$T/t-off.json" || fail "the fallback path relays differently"
ok "auto without CAP_BPF: $(grep -o 'unavailable ([^)]*)' "$T/sedge.log" | head -1), user-space path relays"
stop nocap
config bpf
"${NOCAP[@]}" "$SEDGE_BIN" serve --config "$T/sedge.conf" >"$T/nocap-bpf.log" 2>&1
rc=$?
[ "$rc" -ne 0 ] || fail "relay.offload = \"bpf\" started without CAP_BPF"
grep -q 'relay.offload = "bpf": ' "$T/nocap-bpf.log" || fail "no clear message: $(cat "$T/nocap-bpf.log")"
ok "bpf without CAP_BPF refuses to start: $(grep -o 'relay.offload = "bpf": .*' "$T/nocap-bpf.log" | head -1)"

# 8. clsact filters (kernels before tcx): a daemon killed without detaching
# leaves its filter, which must stop forwarding once the heartbeat is old.
config bpf
start SEDGE_OFFLOAD_ATTACH=clsact || fail "sedge (clsact) did not start"
wait_log 'relay offload: bpf \(clsact' 1 || fail "clsact not in force"
PROG=$(prog_id)
probe stream alice --pps 100 --seconds 16 --ready-file "$T/ready-k" >"$T/s-kill.json" &
spid=$!
for _ in $(seq 50); do [ -s "$T/ready-k" ] && break; sleep 0.1; done
wait_log "user=alice offloaded" 3 || fail "clsact: not offloaded"
sleep 1
t0=$(date +%s%N)
kill -KILL "$SEDGE_PID"
wait "$spid"
tc filter show dev lo ingress 2>/dev/null | grep -qE " id $PROG( |$)" ||
    fail "the killed daemon's clsact filter (program $PROG) was not found"
# The next sedge attaching with clsact removes the stale filter.
mv "$T/sedge.log" "$T/sedge-killed.log"
start SEDGE_OFFLOAD_ATTACH=clsact || fail "sedge (clsact, after the kill) did not start"
swept=$(grep -o "removed a stale sedge filter from lo (program id $PROG," "$T/sedge.log")
if tc filter show dev lo ingress 2>/dev/null | grep -qE " id $PROG( |$)"; then
    pref=$(tc filter show dev lo ingress | grep -E " id $PROG( |$)" | grep -oE 'pref [0-9]+' | head -1)
    tc filter del dev lo ingress $pref 2>/dev/null # leave nothing behind
    fail "the stale filter of program $PROG is still attached"
fi
[ -n "$swept" ] || fail "no log of the stale filter's removal"
stop clsact2
$PY - "$T/s-kill.json" "$t0" <<'PY' || fail "clsact leftover kept forwarding"
import json, sys
d, t0 = json.load(open(sys.argv[1])), int(sys.argv[2])
after = [t for t, _ in d["peer"] if t >= t0]
late = (max(after) - t0) / 1e9 if after else 0
print("  last datagram forwarded %.1f s after the kill" % late)
assert len(d["peer"]) - len(after) > 50, "no traffic before the kill"
assert late <= 11.5, "forwarded %.1f s after the kill" % late
PY
ok "a killed daemon's clsact filter went inert (heartbeat) and the next sedge removed it"
