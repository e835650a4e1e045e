#!/bin/bash
# The batched UDP data path under load, on both relay socket back-ends
# (relay.io = "io_uring" and "epoll"): bench/loadgen drives many clients
# (send queues on both sides) and one fast client (runs of datagrams to
# one destination: UDP GSO) through sedge. Every echo must come back
# intact (ChannelData length checked), nothing may be lost at this modest
# load, and the per-allocation counters logged at the end must add up to
# what the clients sent. With io_uring, a second pass starves the receive
# ring (relay.io_buffers = 8, 64 datagrams in flight): sockets whose
# receive ran out of buffers must be re-armed without losing a datagram.
. "$(dirname "$0")/../lib/sedge.sh"
LOADGEN=${SEDGE_TOOLS:-$SEDGE_ROOT/build/tools}/loadgen
[ -x "$LOADGEN" ] || skip "loadgen not built"

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

stop_sedge() {
    kill -TERM "$SEDGE_PID"
    for _ in $(seq 1 50); do kill -0 "$SEDGE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$SEDGE_PID" 2>/dev/null && fail "sedge did not stop"
    mv "$T/sedge.log" "$T/sedge-$1.log"
}

# loadgen speaks plain long-term auth (no RFC 8489 nonce cookie), and all
# its clients share one source IP, so no 401 reflection limit.
for io in io_uring epoll; do
    SEDGE_RELAY_IO=$io write_config 'auth = { security_features = false; challenge_rate = 0; };
limits = { drain_timeout = 1; };'
    sedge_cli user list | grep -q '^bench ' ||
        { sedge_cli user add bench --password bench >/dev/null || fail "user add"; }
    "$SEDGE_BIN" serve --config "$T/sedge.conf" >>"$T/sedge.log" 2>&1 &
    SEDGE_PID=$!
    PIDS+=("$SEDGE_PID")
    if ! wait_log "sedge serving" 10; then
        # relay.io = "io_uring" refuses to start where the kernel cannot.
        if [ "$io" = io_uring ] && grep -q "this kernel cannot" "$T/sedge.log"; then
            echo "note: $(grep -o 'relay.io.*' "$T/sedge.log" | head -1); io_uring not tested here"
            mv "$T/sedge.log" "$T/sedge-$io.log"
            continue
        fi
        fail "sedge did not start"
    fi
    wait_log "relay sockets: $io" 1 || fail "relay.io = $io not in effect"
    run "$io: 50 clients, 1200 B" -n 50 -l 1200 --window 64 -d 1
    run "$io: one client, 160 B, saturating (GSO runs)" -n 1 -l 160 --window 128 -d 1
    # loadgen released its allocations (Refresh 0): the logged counters of
    # the last run's allocation must match what it sent (queued sends are
    # counted).
    wait_log "allocation end .*reason=.*from_client=[0-9]+/$LAST_SENT to_client=[0-9]+/$LAST_SENT " 5 ||
        { grep "allocation end" "$T/sedge.log" | tail -3; fail "$io: allocation counters do not match $LAST_SENT"; }
    ok "$io: allocation counters match ($LAST_SENT packets each way)"
    stop_sedge "$io"
done

if grep -q "relay sockets: io_uring" "$T/sedge-io_uring.log" 2>/dev/null; then
    SEDGE_RELAY_IO=io_uring SEDGE_RELAY_IO_BUFFERS=8 write_config \
        'auth = { security_features = false; challenge_rate = 0; };
limits = { drain_timeout = 1; };'
    sedge_start
    run "io_uring, 8 receive buffers: 40 clients, 160 B" -n 40 -l 160 --window 64 -d 1
    grep -q "receive buffers exhausted" "$T/sedge.log" ||
        fail "the receive ring never ran out of buffers: the re-arm path was not exercised"
    ok "receive ring starved and re-armed, nothing lost"
fi
