#!/bin/bash
# What one account or one address may churn, not just hold:
#   - limits.allocate_rate_per_user: a user who allocates and deletes in a
#     tight loop (each allocation a port search, two log lines and a
#     session row) gets 486 beyond the rate; another user at the same time
#     is not affected; the log says so a bounded number of times; the
#     user may allocate again once the bucket refills.
#   - limits.tls_handshake_rate_per_ip: one address asking for TLS
#     handshakes as fast as it can gets its connections closed before any
#     TLS is read beyond the rate; another address still completes its
#     handshake and allocates.
# Both are counted in /metrics.
. "$(dirname "$0")/../lib/sedge.sh"

API_PORT=$((BASE + 3))
write_config \
    "api = { address = \"127.0.0.1\"; port = $API_PORT; turn_host = \"127.0.0.1\"; };" \
    'limits = { allocate_rate_per_user = 5; allocate_burst_per_user = 10;
                tls_handshake_rate_per_ip = 4; tls_handshake_burst_per_ip = 6; drain_timeout = 1; };'
sedge_cli user add churner --password pw-churn >/dev/null || fail "user add"
sedge_cli user add bystander --password pw-by >/dev/null || fail "user add"
METRICS=$(sedge_cli token add --role metrics --name t 2>/dev/null | awk '{print $NF}' | tail -1)
sedge_start

cat >"$T/churn.py" <<'PY'
import sys, time
sys.path.insert(0, sys.argv[1])
import turnc
port = int(sys.argv[2])
srv = ("127.0.0.1", port)
# 3 s of Allocate + Refresh(0) by one user: bucket of 10, 5 more per second.
ok = refused = other = 0
end = time.monotonic() + 3.0
n = 0
while time.monotonic() < end and n < 2000:
    n += 1
    c = turnc.Client("udp", srv, bind="127.0.0.1")
    r = c.allocate("churner", "pw-churn")
    if r is not None and r.cls == turnc.SUCCESS:
        ok += 1
        c.refresh(0)
    elif r is not None and r.code == 486:
        refused += 1
    else:
        other += 1
    c.close()
# Meanwhile and right after: another user is not held back.
b = turnc.Client("udp", srv, bind="127.0.0.3")
rb = b.allocate("bystander", "pw-by")
by_ok = rb is not None and rb.cls == turnc.SUCCESS
print(f"attempts={n} ok={ok} refused={refused} other={other} bystander={'ok' if by_ok else rb}")
# After 1 s the churner has ~5 tokens again.
time.sleep(1.2)
c = turnc.Client("udp", srv, bind="127.0.0.1")
r = c.allocate("churner", "pw-churn")
print("after_pause=" + ("ok" if r is not None and r.cls == turnc.SUCCESS else str(r)))
PY
out=$($PY "$T/churn.py" "$SEDGE_ROOT/tests/lib" "$PORT") || fail "churn client: $out"
echo "$out"
ok=$(echo "$out" | sed -nE 's/.* ok=([0-9]+).*/\1/p')
refused=$(echo "$out" | sed -nE 's/.* refused=([0-9]+).*/\1/p')
other=$(echo "$out" | sed -nE 's/.* other=([0-9]+).*/\1/p')
# 10 (burst) + 5/s x 3 s = 25; allow for the timing of a loaded machine.
[ "$ok" -ge 10 ] && [ "$ok" -le 32 ] || fail "churning user got $ok allocations in 3 s (expected about 25)"
[ "$refused" -ge 10 ] || fail "only $refused refusals with 486"
[ "$other" -eq 0 ] || fail "$other answers neither success nor 486"
echo "$out" | grep -q "bystander=ok" || fail "another user was held back: $out"
echo "$out" | grep -q "after_pause=ok" || fail "the churner stayed refused after its bucket refilled"
n_log=$(count_log 'refused \(486\): limits.allocate_rate_per_user')
[ "$n_log" -ge 1 ] && [ "$n_log" -le 25 ] || fail "$n_log log lines for $refused refusals (want 1..25: rate-limited)"
ok "Allocate churn: $ok allocated, $refused refused with 486 in 3 s; bystander unaffected; $n_log log lines"

cat >"$T/tls.py" <<'PY'
import socket, ssl, sys, time
port, bind, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
done = closed = 0
t0 = time.monotonic()
for _ in range(count):
    s = socket.socket()
    s.settimeout(3)
    s.bind((bind, 0))
    try:
        s.connect(("127.0.0.1", port))
        t = ctx.wrap_socket(s)
        done += 1
        t.close()
    except (ssl.SSLError, ConnectionError, OSError):
        closed += 1
        s.close()
print(f"handshakes={done} closed={closed} secs={time.monotonic() - t0:.2f}")
PY
out=$($PY "$T/tls.py" "$TLS_PORT" 127.0.0.1 40) || fail "tls client"
echo "flood from 127.0.0.1: $out"
done_n=$(echo "$out" | sed -nE 's/handshakes=([0-9]+).*/\1/p')
secs=$(echo "$out" | sed -nE 's/.*secs=([0-9.]+).*/\1/p')
# burst 6 + 4/s over the flood's own duration
max=$(awk -v s="$secs" 'BEGIN { printf "%d", 6 + 4 * s + 3 }')
[ "$done_n" -ge 6 ] && [ "$done_n" -le "$max" ] || fail "$done_n handshakes completed (want 6..$max)"
out2=$($PY "$T/tls.py" "$TLS_PORT" 127.0.0.4 3) || fail "tls client 2"
echo "from 127.0.0.4 meanwhile: $out2"
echo "$out2" | grep -q "handshakes=3 " || fail "another address was refused TLS: $out2"
ok "TLS handshake flood: $done_n of 40 completed from one address; another address unaffected"

# A legitimate TLS client from a fresh address still allocates.
$PY - "$SEDGE_ROOT/tests/lib" "$TLS_PORT" <<'PY' || fail "TLS allocate after the flood"
import sys
sys.path.insert(0, sys.argv[1])
import turnc
c = turnc.Client("tls", ("127.0.0.1", int(sys.argv[2])), bind="127.0.0.6")
r = c.allocate("bystander", "pw-by")
assert r is not None and r.cls == turnc.SUCCESS, r
PY
ok "TLS allocate from another address after the flood"

m=$(curl -sk -H "Authorization: Bearer $METRICS" "https://127.0.0.1:$API_PORT/metrics") || fail "metrics"
r=$(echo "$m" | sed -nE 's/^sedge_allocations_rate_limited_total ([0-9]+)$/\1/p')
t=$(echo "$m" | sed -nE 's/^sedge_stream_refused_total\{limit="tls_handshake_rate_per_ip"\} ([0-9]+)$/\1/p')
[ "${r:-0}" -ge "$refused" ] || fail "sedge_allocations_rate_limited_total=$r, $refused refusals seen"
[ "${t:-0}" -ge $((40 - done_n)) ] || fail "tls refusals metric $t, expected >= $((40 - done_n))"
ok "metrics: allocations_rate_limited_total=$r, stream_refused_total{tls_handshake_rate_per_ip}=$t"
