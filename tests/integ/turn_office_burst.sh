#!/bin/bash
# An office behind one NAT address starts 1 000 TURN clients at once
# (issue 11, item 13), with the default auth.challenge_rate (50 oversized
# 401s per unproven source and second). bench/loadgen sets them up the way
# browsers do (an unauthenticated Allocate, the 401, the authenticated
# one; 256 in flight, 500 ms retransmissions), all from one address. The
# address is proven by its first authenticated exchange and exempt from
# then on, so only the challenges of the first few milliseconds wait for a
# retransmission (before: 50 per second, about 20 s for 1 000 clients).
# Target 1 s (measured 0.52 s here); the test allows 2.5 s on a loaded
# machine. (turnutils_uclient -m 1000 measures its own artifacts: it
# closes a probe socket per client whose port the kernel hands to a later
# client, which then meets the old allocation, 437, and sleeps 1 s.)
. "$(dirname "$0")/../lib/sedge.sh"
LOADGEN=${SEDGE_TOOLS:-$SEDGE_ROOT/build/tools}/loadgen
[ -x "$LOADGEN" ] || skip "loadgen not built"
RELAY_MAX=$((RELAY_MIN + 2499)) # 1 000 allocations need 1 000 ports
# loadgen speaks plain long-term auth (no RFC 8489 nonce cookie).
SEDGE_LOG_LEVEL=info write_config 'limits = { max_allocations_per_user = 5000; max_allocations_per_ip = 5000; drain_timeout = 1; };' \
    'auth = { security_features = false; };'
grep -q challenge_rate "$T/sedge.conf" && fail "the test must run with the default auth.challenge_rate"
sedge_cli user add office --password pw-office >/dev/null || fail "user add"
sedge_start

timeout 60 "$LOADGEN" -s 127.0.0.1:"$PORT" -e 127.0.0.1:"$PEER_PORT" -b 127.0.0.1 -n 1000 \
    -u office -w pw-office --server-pid "$SEDGE_PID" --rate 1000 -d 0.5 >"$T/lg.out" 2>"$T/lg.err" ||
    { cat "$T/lg.err"; fail "loadgen failed"; }
line=$(grep phase=alloc "$T/lg.out")
echo "$line"
[[ "$line" =~ ready=1000\ failed=0\  ]] || fail "not all 1 000 clients allocated: $line"
secs=$(echo "$line" | grep -oE ' secs=[0-9.]+' | cut -d= -f2)
echo "challenge-limit log lines: $(count_log 'not sent: .* over auth.challenge_rate')"
$PY -c "import sys; sys.exit(0 if $secs < 2.5 else 1)" || fail "1 000 allocations took $secs s"
ok "1 000 clients behind one address allocated in $secs s"
