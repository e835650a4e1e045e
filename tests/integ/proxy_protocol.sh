#!/bin/bash
# sedge behind a real HAProxy (PROXY protocol v1 on TCP, v2 on TLS):
#
#   client 127.0.0.7 --TCP--> haproxy :P7 --PROXY v1 + TCP--> sedge :P5 (proxy_protocol)
#   client 127.0.0.8 --TLS--> haproxy :P8 --PROXY v2 + TLS--> sedge :P6 (proxy_protocol)
#                             (haproxy connects from 127.0.0.1, the only proxy_from)
#
# The client address sedge uses for everything - XOR-MAPPED-ADDRESS,
# session rows, the log, password-guess throttling - is the real client's,
# not the balancer's; relaying works through the balancer; a PROXY
# listener refuses anyone not in proxy_from (a forged header from
# 127.0.0.9 never names a client) and closes a trusted connection whose
# header is garbage.
. "$(dirname "$0")/../lib/sedge.sh"
command -v haproxy >/dev/null || skip "haproxy not installed"
command -v turnutils_peer >/dev/null || skip "coturn client tools not installed"

P5=$((BASE + 5)) P6=$((BASE + 6)) P7=$((BASE + 7)) P8=$((BASE + 8))
NO_INIT=1 write_config \
    "listen = (
  { transport = \"udp\"; address = \"127.0.0.1\"; port = $PORT; },
  { transport = \"tcp\"; address = \"127.0.0.1\"; port = $P5; proxy_protocol = true; proxy_from = [ \"127.0.0.1/32\" ]; },
  { transport = \"tls\"; address = \"127.0.0.1\"; port = $P6; proxy_protocol = true; proxy_from = [ \"127.0.0.1/32\" ]; }
);" \
    'auth = { fail_limit = 3; fail_window = 60; block_time = 60; };' \
    'limits = { drain_timeout = 1; tls_handshake_timeout = 2; };'
# write_config writes its standard listen block first and libconfig
# refuses a setting given twice: keep only ours.
$PY - "$T/sedge.conf" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
first = s.index("listen = (")
end = s.index(");", first) + 2
second = s.index("listen = (", end)
s = s[:first] + s[end:]
open(p, "w").write(s)
PY
"$SEDGE_BIN" check-config --config "$T/sedge.conf" >/dev/null || fail "config refused: $("$SEDGE_BIN" check-config --config "$T/sedge.conf" 2>&1)"
sedge_cli init >/dev/null || fail "sedge init"
sedge_cli user add alice --password pw-alice >/dev/null || fail "user add"
sedge_cli user add bob --password pw-bob >/dev/null || fail "user add"
sedge_start
peer_start

cat >"$T/haproxy.cfg" <<CFG
global
    maxconn 200
defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend turn_tcp
    bind 127.0.0.1:$P7
    default_backend sedge_tcp
backend sedge_tcp
    server s1 127.0.0.1:$P5 send-proxy
frontend turn_tls
    bind 127.0.0.1:$P8
    default_backend sedge_tls
backend sedge_tls
    server s1 127.0.0.1:$P6 send-proxy-v2
CFG
haproxy -f "$T/haproxy.cfg" -db >"$T/haproxy.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$P8) 2>/dev/null && break; sleep 0.1; done

cat >"$T/client.py" <<'PY'
import socket, struct, sys, time
sys.path.insert(0, sys.argv[1])
import turnc
transport, port, bind, peer_port = sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
c = turnc.Client(transport, ("127.0.0.1", port), bind=bind, timeout=3)
r = c.allocate(sys.argv[6], sys.argv[7])
if r is None or r.cls != turnc.SUCCESS:
    print("allocate failed:", r and r.code)
    sys.exit(1)
mapped = r.addr(turnc.XOR_MAPPED_ADDRESS)
print("mapped", mapped[0])
assert c.create_permission(["127.0.0.1"]).cls == turnc.SUCCESS
assert c.channel_bind(0x4001, "127.0.0.1", peer_port).cls == turnc.SUCCESS
got = 0
for i in range(20):
    c.channel_data(0x4001, b"ping-%02d" % i + b"x" * 100)
    raw = c.recv_raw(3)
    if raw and raw[:2] == b"\x40\x01" and raw[4:11] == b"ping-%02d" % i:
        got += 1
print("echoed", got)
time.sleep(0.3)
PY

out=$($PY "$T/client.py" "$SEDGE_ROOT/tests/lib" tcp "$P7" 127.0.0.7 "$PEER_PORT" alice pw-alice) ||
    fail "TCP through haproxy: $out"
echo "$out" | grep -q "mapped 127.0.0.7" || fail "XOR-MAPPED-ADDRESS is not the real client: $out"
echo "$out" | grep -q "echoed 20" || fail "relaying through haproxy lost data: $out"
ok "TCP via HAProxy (PROXY v1): sedge sees 127.0.0.7, 20/20 relayed"

out=$($PY "$T/client.py" "$SEDGE_ROOT/tests/lib" tls "$P8" 127.0.0.8 "$PEER_PORT" bob pw-bob) ||
    fail "TLS through haproxy: $out"
echo "$out" | grep -q "mapped 127.0.0.8" || fail "XOR-MAPPED-ADDRESS is not the real client: $out"
echo "$out" | grep -q "echoed 20" || fail "relaying through haproxy lost data: $out"
ok "TLS via HAProxy (PROXY v2): sedge sees 127.0.0.8, 20/20 relayed"

wait_log "allocation end user=bob client=tls:127.0.0.8:" 10 || fail "log does not name the real TLS client"
grep -q "client=tcp:127.0.0.7:" "$T/sedge.log" || fail "log does not name the real TCP client"
grep -Eq "client=tc?p?l?s?:127\.0\.0\.1:" "$T/sedge.log" && fail "the balancer's address reached an allocation"
sleep 1.5 # the session rows are written by the control thread
sedge_cli sessions --json >"$T/sessions.json" || fail "sessions"
$PY - "$T/sessions.json" <<'PY' || fail "session rows do not carry the real clients"
import json, sys
rows = json.load(open(sys.argv[1]))
rows = rows.get("sessions", rows) if isinstance(rows, dict) else rows
clients = sorted(r["client"].rsplit(":", 1)[0] for r in rows)
assert clients == ["tcp:127.0.0.7", "tls:127.0.0.8"], clients
PY
ok "log lines and session rows name the real clients"

# Password guessing from 127.0.0.7 through the balancer blocks 127.0.0.7,
# not the balancer: bob from 127.0.0.8 through the same balancer is fine.
$PY - "$SEDGE_ROOT/tests/lib" "$P7" <<'PY' || fail "guessing through haproxy"
import sys
sys.path.insert(0, sys.argv[1])
import turnc
port = int(sys.argv[2])
codes = []
for i in range(6):
    c = turnc.Client("tcp", ("127.0.0.1", port), bind="127.0.0.7", timeout=3)
    r = c.allocate("alice", "wrong-%d" % i)
    codes.append(r.code if r else None)
    c.close()
print("guesses:", codes)
assert codes[-1] == 403, codes     # throttled
c = turnc.Client("tcp", ("127.0.0.1", port), bind="127.0.0.8", timeout=3)
r = c.allocate("bob", "pw-bob")
assert r is not None and r.cls == turnc.SUCCESS, r and r.code
print("bob from 127.0.0.8 through the same balancer: allocated")
PY
grep -Eq "throttl.*127\.0\.0\.7" "$T/sedge.log" || fail "the throttle did not name the real client"
ok "password-guess throttle applies to the real client, not to the balancer"

# Not a load balancer: a forged header from 127.0.0.9 straight at the
# PROXY listener is refused before a byte is read.
$PY - "$P5" <<'PY' || fail "forged header"
import socket, sys
s = socket.socket()
s.bind(("127.0.0.9", 0))
s.settimeout(3)
s.connect(("127.0.0.1", int(sys.argv[1])))
try:
    s.sendall(b"PROXY TCP4 10.1.2.3 127.0.0.1 5555 3478\r\n")
    data = s.recv(100)
except (ConnectionError, OSError):
    data = b""
assert data == b"", data
PY
wait_log "connection from 127.0.0.9:[0-9]+ refused: not a load balancer in listen\[1\].proxy_from" 5 ||
    fail "refusal not logged"
grep -q "10.1.2.3" "$T/sedge.log" && fail "a forged client address reached the log"
ok "PROXY listener refuses a non-balancer (forged header ignored)"

# A trusted balancer that sends garbage, or nothing, is closed.
$PY - "$P5" <<'PY' || fail "garbage header"
import socket, sys, time
s = socket.socket()
s.settimeout(5)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET / HTTP/1.0\r\n\r\n")
def closed(sock):
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True  # closed with our bytes unread: a reset
assert closed(s)
t = socket.socket()
t.settimeout(5)
t.connect(("127.0.0.1", int(sys.argv[1])))
t.sendall(b"PROXY TCP4 192.0.2.1")  # and then silence
t0 = time.monotonic()
assert closed(t)
assert time.monotonic() - t0 < 4.5, "not closed by the handshake timeout"
PY
wait_log "closed: not a valid PROXY protocol header" 5 || fail "garbage not logged"
wait_log "closed: no complete PROXY header within limits.tls_handshake_timeout" 5 || fail "timeout not logged"
ok "trusted source with a bad or unfinished header: closed"
