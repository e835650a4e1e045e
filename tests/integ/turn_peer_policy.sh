#!/bin/bash
# Peer safety: an admin-denied peer and a built-in special-purpose peer
# (loopback, once the test's allow list is removed by a live reload) are
# refused with 403 and logged; no datagram reaches them. A reload in the
# middle of a call keeps the live allocation relaying.
. "$(dirname "$0")/../lib/sedge.sh"
command -v turnutils_uclient >/dev/null || skip "coturn client tools not installed"

PEERS='peers = { allow = [ "127.0.0.0/8" ]; deny = [ "127.0.0.3/32" ]; };' write_config
sedge_cli user add alice --password pw-alice >/dev/null || fail "user add"
sedge_start

# A listener on the denied address that must never receive anything.
$PY - "$PEER_PORT" >"$T/trap.log" 2>&1 <<'PYEOF' &
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.3", int(sys.argv[1]))); s.settimeout(0.2)
end = time.time() + 20
while time.time() < end:
    try:
        d, a = s.recvfrom(2048); print("GOT", len(d), a, flush=True)
    except socket.timeout:
        pass
PYEOF
PIDS+=("$!")

timeout 8 turnutils_uclient -p "$PORT" -e 127.0.0.3 -r "$PEER_PORT" -n 5 -l 160 -z 5 -m 1 \
    -u alice -w pw-alice -c 127.0.0.1 >"$T/uclient.log" 2>&1
grep -q "error 403" "$T/uclient.log" || fail "denied peer not refused with 403"
wait_log 'peer denied user=alice peer=127.0.0.3:[0-9]+: denied by peers.deny' 3 || fail "no denial log"
ok "peers.deny: 403 Forbidden and logged"

# A call in progress while the configuration is reloaded keeps relaying.
# (-z 20 x 150 packets: the reload lands mid-call.)
peer_start
timeout 60 turnutils_uclient -p "$PORT" -e 127.0.0.1 -r "$PEER_PORT" -n 150 -l 160 -z 20 -m 2 \
    -u alice -w pw-alice -c 127.0.0.1 >"$T/uclient.log" 2>&1 &
UC=$!
sleep 1.5
kill -HUP "$SEDGE_PID"
wait_log 'SIGHUP: reloading' 3 || fail "no reload"
wait "$UC"
uclient_lossless "call across a SIGHUP reload"

# Remove the allow list (tests needed it for loopback peers): loopback is
# a special-purpose range and 127.0.0.1 is also sedge's own listener.
sed -i 's/^peers = .*$/peers = { deny = [ "127.0.0.3\/32" ]; };/' "$T/sedge.conf"
kill -HUP "$SEDGE_PID"
sleep 0.5
for case in "127.0.0.5:special-purpose address" "127.0.0.1:sedge's own address"; do
    ip=${case%%:*} why=${case#*:}
    timeout 8 turnutils_uclient -p "$PORT" -e "$ip" -r "$PEER_PORT" -n 5 -l 160 -z 5 -m 1 \
        -u alice -w pw-alice -c 127.0.0.1 >"$T/uclient.log" 2>&1
    grep -q "error 403" "$T/uclient.log" || fail "$ip not refused by default"
    wait_log "peer denied user=alice peer=$ip:[0-9]+: $why" 3 || fail "no '$why' denial for $ip"
    ok "default policy: $ip refused ($why)"
done

sleep 0.5
[ -s "$T/trap.log" ] && { cat "$T/trap.log"; fail "a datagram reached the denied peer"; }
ok "nothing reached 127.0.0.3"
