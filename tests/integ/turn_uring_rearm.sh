#!/bin/bash
# io_uring relay sockets: every way a socket's multishot receive can end
# must lead to an immediate re-arm and lose nothing (issue 11, item 15).
#
#   empty datagram   recvmsg returns 0: the kernel ends the multishot with
#                    a positive result (the recvmsg header size) and no
#                    IORING_CQE_F_MORE. It used to be taken for an error
#                    ("Unknown error -44") and retried by the 1 s cron:
#                    one empty datagram every 0.3 s from anywhere (no
#                    permission needed) cost 84 % of a 1 000 packet/s
#                    stream.
#   no buffers       -ENOBUFS when every provided buffer is in use
#                    (relay.io_buffers = 8, bench/loadgen keeping 64
#                    datagrams in flight): re-armed when buffers return.
#   cancel           a relay socket closed while datagrams arrive (Refresh
#                    0 in a loop): late completions find a newer slot
#                    generation and only give their buffer back.
# The same empty-datagram run on epoll is the control.
. "$(dirname "$0")/../lib/sedge.sh"
command -v turnutils_uclient >/dev/null || skip "coturn client tools not installed"

# spray_empty SECONDS: an empty datagram to every relay port, every 0.3 s.
spray_empty() {
    $PY - "$1" "$RELAY_MIN" "$RELAY_MAX" <<'EOF' &
import socket, sys, time
end = time.monotonic() + float(sys.argv[1])
lo, hi = int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.9", 0))
n = 0
while time.monotonic() < end:
    for p in range(lo, hi + 1):
        s.sendto(b"", ("127.0.0.2", p))
        n += 1
    time.sleep(0.3)
print("empty datagrams sent:", n)
EOF
    SPRAY_PID=$!
    PIDS+=("$SPRAY_PID")
}

start_io() { # io buffers [config lines...]
    local io=$1 bufs=$2
    shift 2
    rm -f "$T/sedge.log"
    SEDGE_RELAY_IO=$io SEDGE_RELAY_IO_BUFFERS=$bufs write_config "limits = { drain_timeout = 1; };" "$@"
    [ -n "${USER_ADDED:-}" ] || { sedge_cli user add alice --password pw-alice >/dev/null || fail "user add"; USER_ADDED=1; }
    "$SEDGE_BIN" serve --config "$T/sedge.conf" >>"$T/sedge.log" 2>&1 &
    SEDGE_PID=$!
    PIDS+=("$SEDGE_PID")
    if ! wait_log "sedge serving" 10; then
        grep -q "this kernel cannot" "$T/sedge.log" && skip "io_uring not available: $(tail -1 "$T/sedge.log")"
        fail "sedge did not start"
    fi
    wait_log "relay sockets: $io" 1 || fail "relay.io = $io not in effect"
}

stop_sedge() {
    kill -TERM "$SEDGE_PID"
    for _ in $(seq 1 50); do kill -0 "$SEDGE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$SEDGE_PID" 2>/dev/null && fail "sedge did not stop"
    cp "$T/sedge.log" "$T/sedge-$1.log"
}

peer_start

# 1. Empty datagrams into a 1 000 packet/s stream (2 000 packets, 2 s).
for io in io_uring epoll; do
    start_io $io 512
    spray_empty 6
    uclient -n 2000 -l 160 -z 1 -m 1 -u alice -w pw-alice -c
    wait "$SPRAY_PID"
    uclient_lossless "$io: 1 000 packets/s with an empty datagram to every relay port every 0.3 s"
    grep -E "Unknown error|receive ended" "$T/sedge.log" && fail "$io: an empty datagram was taken for an error"
    kill -0 "$SEDGE_PID" || fail "sedge died"
    stop_sedge "$io-empty"
done

# 2. Out of buffers: 8 receive buffers, 64 datagrams in flight over 40
# clients (bench/loadgen; it speaks plain long-term auth, all from one
# address): every echo must come back.
LOADGEN=${SEDGE_TOOLS:-$SEDGE_ROOT/build/tools}/loadgen
[ -x "$LOADGEN" ] || fail "loadgen not built"
sedge_cli user add bench --password bench >/dev/null || fail "user add bench"
start_io io_uring 8 'auth = { security_features = false; challenge_rate = 0; };'
timeout 60 "$LOADGEN" -s 127.0.0.1:"$PORT" -e 127.0.0.1:$((BASE + 7)) -b 127.0.0.1 -u bench -w bench \
    --server-pid "$SEDGE_PID" -n 40 -l 160 --window 64 -d 1 >"$T/lg.out" 2>"$T/lg.err" ||
    { cat "$T/lg.err"; fail "loadgen failed"; }
line=$(grep "phase=sat" "$T/lg.out")
sent=$(echo "$line" | grep -oE ' sent=[0-9]+' | cut -d= -f2)
recv=$(echo "$line" | grep -oE ' recv=[0-9]+' | cut -d= -f2)
[ "${sent:-0}" -gt 1000 ] && [ "$sent" = "$recv" ] || fail "8 buffers: sent ${sent:-0}, received ${recv:-0}"
starved=$(count_log "io_uring receive buffers exhausted")
[ "$starved" -gt 0 ] || fail "the receive ring never ran out of buffers: ENOBUFS not provoked"
ok "ENOBUFS provoked ($starved log lines): $sent datagrams relayed both ways, none lost"
stop_sedge "io_uring-nobufs"

start_io io_uring 8
# 3. Sockets closed with datagrams in flight: allocate, let a peer flood the
# relayed address, delete; 40 times. Then a normal client still relays.
$PY - "$PORT" <<'EOF' || fail "allocate/flood/delete loop"
import os, socket, sys, threading, time
sys.path.insert(0, os.environ["SEDGE_ROOT"] + "/tests/lib")
import turnc
port = int(sys.argv[1])
peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
peer.bind(("127.0.0.1", 0))
for i in range(40):
    c = turnc.Client("udp", ("127.0.0.1", port), bind="127.0.0.8")
    r = c.allocate("alice", "pw-alice")
    assert r is not None and r.cls == turnc.SUCCESS, r
    relay = turnc.relay_of(r)
    assert c.create_permission(["127.0.0.1"]).cls == turnc.SUCCESS
    stop = time.monotonic() + 0.05
    while time.monotonic() < stop:
        peer.sendto(b"x" * 200, relay)
        peer.sendto(b"", relay)
    r = c.refresh(0)
    assert r is not None and r.cls == turnc.SUCCESS, r
    for _ in range(50):
        peer.sendto(b"y" * 100, relay)
    c.close()
print("40 allocations deleted under a flood")
EOF
kill -0 "$SEDGE_PID" || fail "sedge died"
uclient -n 200 -l 160 -z 2 -m 2 -u alice -w pw-alice -c
uclient_lossless "io_uring after 40 sockets closed under a flood"
stop_sedge "io_uring-cancel"
