#!/bin/bash
# The batched UDP data path under load: bench/loadgen drives many clients
# (recvmmsg/sendmmsg queues on both sides) and one fast client (runs of
# datagrams to one destination: UDP GSO) through sedge. Every echo must
# come back intact (ChannelData length checked), nothing may be lost at
# this modest load, and the per-allocation counters logged at the end
# must add up to what the clients sent.
. "$(dirname "$0")/../lib/sedge.sh"
LOADGEN=${SEDGE_TOOLS:-$SEDGE_ROOT/build/tools}/loadgen
[ -x "$LOADGEN" ] || skip "loadgen not built"

# loadgen speaks plain long-term auth (no RFC 8489 nonce cookie), and all
# its clients share one source IP, so no 401 reflection limit.
write_config 'auth = { security_features = false; challenge_rate = 0; };'
sedge_cli user add bench --password bench >/dev/null || fail "user add"
sedge_start

# run NAME ARGS...: one loadgen run; checks setup, loss and integrity.
run() {
    local name=$1; shift
    timeout 60 "$LOADGEN" -s 127.0.0.1:"$PORT" -e 127.0.0.1:"$PEER_PORT" -b 127.0.0.1 \
        -u bench -w bench --server-pid "$SEDGE_PID" "$@" >"$T/lg.out" 2>"$T/lg.err" ||
        { cat "$T/lg.err"; fail "$name: loadgen failed"; }
    grep -q "phase=alloc.* failed=0 " "$T/lg.out" || { cat "$T/lg.out" "$T/lg.err"; fail "$name: setup"; }
    local line sent recv bad
    line=$(grep "phase=sat" "$T/lg.out")
    sent=$(echo "$line" | grep -oE ' sent=[0-9]+' | cut -d= -f2)
    recv=$(echo "$line" | grep -oE ' recv=[0-9]+' | cut -d= -f2)
    bad=$(echo "$line" | grep -oE ' bad=[0-9]+' | cut -d= -f2)
    [ "${sent:-0}" -gt 1000 ] || fail "$name: only ${sent:-0} sent"
    [ "$bad" = 0 ] || fail "$name: $bad garbled datagrams"
    [ "$sent" = "$recv" ] || fail "$name: sent $sent, received $recv"
    ok "$name: $sent relayed both ways, none lost or garbled"
    LAST_SENT=$sent
}

run "50 clients, 1200 B" -n 50 -l 1200 --window 64 -d 1
run "one client, 160 B, saturating (GSO runs)" -n 1 -l 160 --window 128 -d 1

# loadgen released its allocations (Refresh 0): the logged counters of the
# last run's allocation must match what it sent (queued sends are counted).
wait_log "allocation end .*reason=.*from_client=[0-9]+/$LAST_SENT to_client=[0-9]+/$LAST_SENT " 5 ||
    { grep "allocation end" "$T/sedge.log" | tail -3; fail "allocation counters do not match $LAST_SENT"; }
ok "allocation counters match ($LAST_SENT packets each way)"
