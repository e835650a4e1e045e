#!/bin/bash
# The daemon as an operator meets it: check-config names bad settings
# with their line, serve refuses bad configs and busy ports, a broken
# reload keeps the old configuration, SIGTERM drains live allocations
# within limits.drain_timeout and exits.
. "$(dirname "$0")/../lib/sedge.sh"
command -v turnutils_uclient >/dev/null || skip "coturn client tools not installed"

write_config 'limits = { drain_timeout = 3; };'
out=$("$SEDGE_BIN" check-config --config "$T/sedge.conf") || fail "good config refused: $out"
echo "$out" | grep -q ': OK' || fail "check-config said: $out"
ok "check-config accepts the test config"

cat >"$T/bad.conf" <<CONF
listen = ( { transport = "udp"; address = "127.0.0.1"; port = $PORT; } );
relay = { address = "127.0.0.2";
  min_port = 0; };
CONF
out=$("$SEDGE_BIN" check-config --config "$T/bad.conf" 2>&1) && fail "bad config accepted"
echo "$out" | grep -qE "bad.conf:3: relay.min_port: must be between 1024 and 65535" ||
    fail "unclear message: $out"
ok "check-config: $out"
out=$("$SEDGE_BIN" serve --config "$T/bad.conf" 2>&1) && fail "serve started with a bad config"
echo "$out" | grep -q "relay.min_port" || fail "serve message: $out"
ok "serve refuses the bad config"
out=$("$SEDGE_BIN" serve --config /nonexistent.conf 2>&1) && fail "serve without config"
echo "$out" | grep -q "cannot read file" || fail "missing config message: $out"
ok "missing config file named"

sedge_cli user add alice --password pw-alice >/dev/null || fail "user add"
sedge_start
out=$(timeout 5 "$SEDGE_BIN" serve --config "$T/sedge.conf" 2>&1) && fail "second instance started"
echo "$out" | grep -q "Address already in use" || fail "second instance message: $out"
ok "a second instance on the same ports is refused"

# A broken reload is refused and the old configuration keeps serving.
cp "$T/sedge.conf" "$T/good.conf"
echo 'realm = ;' >>"$T/sedge.conf"
kill -HUP "$SEDGE_PID"
wait_log 'reload refused, configuration unchanged: .*syntax error' 3 || fail "broken reload not refused"
cp "$T/good.conf" "$T/sedge.conf"
peer_start
uclient -n 10 -l 160 -z 5 -m 1 -u alice -w pw-alice -c; uclient_lossless "still serving after a refused reload"

# SIGTERM with a call in progress: drain up to 3 s, then exit.
timeout 60 turnutils_uclient -p "$PORT" -e 127.0.0.1 -r "$PEER_PORT" -n 1000 -l 160 -z 20 -m 1 \
    -u alice -w pw-alice -c 127.0.0.1 >"$T/uclient.log" 2>&1 &
PIDS+=("$!")
wait_log 'allocation start user=alice' 5 || fail "no allocation"
sleep 1
t0=$(date +%s.%N)
kill -TERM "$SEDGE_PID"
for _ in $(seq 1 100); do kill -0 "$SEDGE_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SEDGE_PID" 2>/dev/null && fail "sedge still running 10 s after SIGTERM"
dt=$(echo "$(date +%s.%N) - $t0" | bc)
grep -q 'draining (up to 3s' "$T/sedge.log" || fail "no drain message"
grep -q 'reason=shutdown' "$T/sedge.log" || fail "live allocation not ended by the drain"
grep -q 'sedge stopped' "$T/sedge.log" || fail "no stop message"
awk -v d="$dt" 'BEGIN { exit !(d >= 2.0 && d < 6.0) }' || fail "drain took ${dt}s, expected ~3s"
ok "SIGTERM drained the live allocation for ${dt}s and exited"
