#!/bin/bash
# The bad-traffic suite (issue 11): one sedge, at the common fd limit of
# 1 024, takes what the internet sends a border relay, while a legitimate
# client (turnutils_uclient, UDP and TCP) relays through it:
#
#   127.0.0.1        legitimate clients: before, during (40 s) and after
#   127.0.0.5/.6     4 000 idle TCP + 1 000 TLS (half-open handshakes)
#   127.0.0.11       65 540 / 65 552-byte messages over TCP and TLS
#   127.0.0.12       bad stream frames: oversized, truncated, unframed
#   127.0.0.13       garbage instead of a TLS handshake
#   127.0.0.14       200 000 mutated datagrams
#   127.0.0.9        empty datagrams to every relay port
#   127.0.0.15       EVEN-PORT reservation churn
#   127.0.0.16       NUL, CR and LF in USERNAME (UDP and TCP)
#   127.0.0.20       password guessing for the legitimate user and others
#
# Afterwards: sedge is up, the legitimate clients lost nothing during or
# after, fds and RSS are back (RSS within 10 % of before), and the log
# grew by a bounded amount. Under the ASan build (make asan) any memory
# error aborts sedge, which this suite then reports.
. "$(dirname "$0")/../lib/sedge.sh"
command -v turnutils_uclient >/dev/null || skip "coturn client tools not installed"
command -v prlimit >/dev/null || skip "prlimit not installed"
ASAN=0; case "$SEDGE_BIN" in */asan/*) ASAN=1 ;; esac
# ASan keeps freed memory in quarantine: keep it small, or RSS never comes back.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}quarantine_size_mb=8:allocator_release_to_os_interval_ms=500"
RELAY_MAX=$((RELAY_MIN + 999))
SEDGE_LOG_LEVEL=info write_config 'limits = { tls_handshake_timeout = 3; stream_idle_timeout = 5; stream_stall_timeout = 10;
                         drain_timeout = 1; };'
sedge_cli user add legit --password pw-legit >/dev/null || fail "user add"
sedge_cli user add churn --password pw-churn >/dev/null || fail "user add"
prlimit --nofile=1024:1024 "$SEDGE_BIN" serve --config "$T/sedge.conf" >>"$T/sedge.log" 2>&1 &
SEDGE_PID=$!
PIDS+=("$SEDGE_PID")
wait_log "sedge serving" 20 || fail "sedge did not start"
peer_start

fds() { ls /proc/"$SEDGE_PID"/fd | wc -l; }
rss() { awk '/^VmRSS/ {print $2}' /proc/"$SEDGE_PID"/status; }
logsize() { stat -c %s "$T/sedge.log"; }
alive() { kill -0 "$SEDGE_PID" 2>/dev/null || fail "sedge died: $1"; }
lib() { echo "import os, sys; sys.path.insert(0, os.environ['SEDGE_ROOT'] + '/tests/lib'); import turnc"; }

# Warm up, so that "before" is the working set rather than a cold start:
# cycle every receive buffer (they are used round-robin), and reach the
# connection limit once (an allocator keeps some of what it has mapped;
# ASan's keeps more). What must not happen is growth that stays.
uclient -n 700 -l 160 -z 1 -m 4 -u legit -w pw-legit -c;    uclient_lossless "warm-up udp"
uclient -n 700 -l 160 -z 1 -m 4 -u legit -w pw-legit -c -t; uclient_lossless "warm-up tcp"
$PY "$SEDGE_ROOT/tests/lib/streamflood.py" --tcp "$PORT" --tls "$TLS_PORT" --bind 127.0.0.5 \
    --tcp-count 300 --tls-count 0 --hold 1 >/dev/null
$PY "$SEDGE_ROOT/tests/lib/streamflood.py" --tcp "$PORT" --tls "$TLS_PORT" --bind 127.0.0.6 \
    --tcp-count 0 --tls-count 300 --hello 150 --hold 1 >/dev/null
sleep 12
fd0=$(fds); rss0=$(rss); log0=$(logsize)
echo "before: fds $fd0, RSS $rss0 KiB, log $log0 bytes"

# Legitimate clients for the whole attack: 100 packets/s each for 40 s.
timeout 120 turnutils_uclient -p "$PORT" -e 127.0.0.1 -r "$PEER_PORT" -n 4000 -l 160 -z 10 -m 2 \
    -u legit -w pw-legit -c 127.0.0.1 >"$T/during-udp.log" 2>&1 &
DUR_UDP=$!
timeout 120 turnutils_uclient -p "$PORT" -e 127.0.0.1 -r "$PEER_PORT" -n 4000 -l 160 -z 10 -m 1 \
    -u legit -w pw-legit -c -t 127.0.0.1 >"$T/during-tcp.log" 2>&1 &
DUR_TCP=$!
PIDS+=("$DUR_UDP" "$DUR_TCP")
sleep 2

# Messages at the size limit, bad frames, garbage TLS.
$PY - "$PORT" "$TLS_PORT" <<EOF || fail "stream attacks"
$(lib)
import random, socket, ssl, struct
port, tls_port = int(sys.argv[1]), int(sys.argv[2])
for tp, p in (("tcp", port), ("tls", tls_port)):
    c = turnc.Client(tp, ("127.0.0.1", p), bind="127.0.0.11", timeout=10)
    r = c.transact(turnc.Msg(turnc.BINDING).add(0x8030, b"x" * 65508))
    assert r is not None and r.cls == turnc.SUCCESS, (tp, r)
    c.close()
rnd = random.Random(5)
frames = [
    struct.pack("!HHI", 0x0001, 0xFFFC, 0x2112A442) + b"t" * 1000,    # promises 65 532, sends 1 000
    struct.pack("!HH", 0x4000, 0xFFFF) + b"c" * 65535 + b"\0",         # largest ChannelData
    struct.pack("!HHI", 0x0001, 0xFFFC, 0x2112A442) + bytes(65544),   # 65 552 bytes of zeros
    b"\x80" + bytes(rnd.getrandbits(8) for _ in range(200)),          # not STUN, not ChannelData
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
]
for i in range(40):
    s = socket.create_connection(("127.0.0.1", port), timeout=3, source_address=("127.0.0.12", 0))
    try:
        s.sendall(frames[i % len(frames)])
    except OSError:
        pass
    s.close()
for i in range(50):
    s = socket.create_connection(("127.0.0.1", tls_port), timeout=3, source_address=("127.0.0.13", 0))
    try:
        s.sendall(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 3000))))
        s.recv(100)
    except OSError:
        pass
    s.close()
print("stream attacks sent")
EOF
alive "large frames, bad frames, garbage TLS"

# Idle connections and half-open TLS handshakes (held 10 s), in the background.
$PY "$SEDGE_ROOT/tests/lib/streamflood.py" --tcp "$PORT" --tls "$TLS_PORT" --bind 127.0.0.5 \
    --tcp-count 4000 --tls-count 0 --hold 10 >"$T/flood-tcp.json" &
F1=$!
$PY "$SEDGE_ROOT/tests/lib/streamflood.py" --tcp "$PORT" --tls "$TLS_PORT" --bind 127.0.0.6 \
    --tcp-count 0 --tls-count 1000 --hello 500 --hold 10 >"$T/flood-tls.json" &
F2=$!
PIDS+=("$F1" "$F2")

# 200 000 mutated datagrams (paced, bounded), empty datagrams to every relay port.
rate=20000; [ $ASAN = 1 ] && rate=8000
$PY "$SEDGE_ROOT/tests/lib/mutate.py" --server 127.0.0.1:"$PORT" --bind 127.0.0.14 --count 200000 \
    --rate $rate --max-seconds 40 >"$T/mutate.json" &
MUT=$!
PIDS+=("$MUT")
$PY - "$RELAY_MIN" "$RELAY_MAX" <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.9", 0))
end = time.monotonic() + 15
while time.monotonic() < end:
    for p in range(int(sys.argv[1]), int(sys.argv[2]) + 1):
        s.sendto(b"", ("127.0.0.2", p))
    time.sleep(0.3)
EOF
EMPTY=$!
PIDS+=("$EMPTY")

# EVEN-PORT churn, hostile user names, password guessing.
$PY - "$PORT" <<EOF || fail "request attacks"
$(lib)
port = int(sys.argv[1])
ok = refused = 0
for i in range(200):
    c = turnc.Client("udp", ("127.0.0.1", port), bind="127.0.0.15", timeout=1)
    r = c.allocate("churn", "pw-churn", extra=[(turnc.EVEN_PORT, b"\x80")])
    if r is not None and r.cls == turnc.SUCCESS:
        ok += 1
        c.refresh(0)
    else:
        refused += 1
    c.close()
print("EVEN-PORT churn: %d reservations, then %d refused" % (ok, refused))
assert ok < 100 and refused > 100
for tp in ("udp", "tcp"):
    for name in (b"nul\x00legit", b"legit\r\n2099-01-01T00:00:00.000Z info allocation start user=forged",
                 b"\r\n", b"x" * 500, b"\xff\xfe\x00\x0a"):
        c = turnc.Client(tp, ("127.0.0.1", port), bind="127.0.0.16", timeout=1)
        r = c.allocate(name, "pw-legit")
        assert r is None or r.cls == turnc.ERROR, (name, r)
        c.close()
print("hostile user names refused")
for i in range(30):
    c = turnc.Client("udp", ("127.0.0.1", port), bind="127.0.0.20", timeout=0.5)
    c.allocate("legit" if i % 2 else "user%d" % i, "guess-%d" % i)
    c.close()
c = turnc.Client("udp", ("127.0.0.1", port), bind="127.0.0.20", timeout=1)
r = c.allocate("legit", "pw-legit")
assert r is not None and r.code == 403, "guesser not throttled: %r" % r
print("password guessing throttled: %d %s" % (r.code, r.reason))
EOF
alive "churn, user names, guessing"

wait "$MUT" "$EMPTY" "$F1" "$F2"
cat "$T/mutate.json" "$T/flood-tcp.json" "$T/flood-tls.json"
alive "mutated datagrams and floods"
wait "$DUR_UDP" "$DUR_TCP"
for f in during-udp during-tcp; do
    cp "$T/$f.log" "$T/uclient.log"
    uclient_lossless "legitimate $f client, 40 s through the attacks"
done

# After: clients still served; fds, RSS and log back to bounds.
uclient -n 300 -l 160 -z 5 -m 2 -u legit -w pw-legit -c;    uclient_lossless "udp client after"
uclient -n 300 -l 160 -z 5 -m 2 -u legit -w pw-legit -c -t; uclient_lossless "tcp client after"
sleep 12 # idle timeouts, memory given back
alive "the end"
fd1=$(fds); rss1=$(rss); log1=$(logsize)
echo "after: fds $fd1 (before $fd0), RSS $rss1 KiB (before $rss0), log +$((log1 - log0)) bytes"
[ "$fd1" -le $((fd0 + 8)) ] || fail "fds not released: $fd1 (before $fd0)"
[ "$rss1" -le $((rss0 * 110 / 100)) ] || fail "RSS $rss1 KiB is more than 110 % of $rss0 KiB"
[ $((log1 - log0)) -lt 1000000 ] || fail "the log grew by $((log1 - log0)) bytes"
grep -q "AddressSanitizer\|runtime error" "$T/sedge.log" && fail "sanitizer report in the log"
ok "bad traffic: sedge up, no loss, fds/RSS/log bounded"
