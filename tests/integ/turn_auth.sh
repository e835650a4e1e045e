#!/bin/bash
# Credentials as an admin manages them while sedge runs: users and REST
# secrets added or removed with the CLI take effect within 2 seconds;
# wrong passwords get 401 and then the source is throttled; the block
# ends by itself.
. "$(dirname "$0")/../lib/sedge.sh"
command -v turnutils_uclient >/dev/null || skip "coturn client tools not installed"

write_config 'auth = { fail_limit = 5; fail_window = 60; block_time = 3; };'
sedge_cli user add alice --password pw-alice >/dev/null || fail "user add"
sedge_cli secret add 'old-secret-0001' >/dev/null || fail "secret add"
sedge_start
peer_start
C="-n 10 -l 160 -z 5 -m 1"

# A user created by another process is honoured without a restart.
sedge_cli user add carol --password pw-carol >/dev/null || fail "user add carol"
wait_log 'database changed' 3 || fail "database change not noticed"
uclient $C -u carol -w pw-carol -c; uclient_lossless "user added while running"

# Secret rotation: both valid during the overlap, then only the new one.
sedge_cli secret add 'new-secret-0002' >/dev/null || fail "secret add new"
sleep 1.5
uclient $C -u dave -W 'new-secret-0002' -c; uclient_lossless "new REST secret"
uclient $C -u dave -W 'old-secret-0001' -c; uclient_lossless "old REST secret during overlap"
sedge_cli secret del 'old-secret-0001' >/dev/null || fail "secret del"
sleep 1.5
timeout 3 turnutils_uclient -p "$PORT" -e 127.0.0.1 -r "$PEER_PORT" $C -u dave \
    -W 'old-secret-0001' -c 127.0.0.1 >"$T/uclient.log" 2>&1
grep -q "Total lost packets 0" "$T/uclient.log" && fail "retired secret still accepted"
wait_log 'auth failed: user=[0-9]+:dave .*bad REST signature' 2 || fail "retired secret not logged"
ok "retired REST secret refused"
sleep 3.5 # let any block from those failures end

# A deleted user is refused.
sedge_cli user del carol >/dev/null || fail "user del"
sleep 1.5
timeout 3 turnutils_uclient -p "$PORT" -e 127.0.0.1 -r "$PEER_PORT" $C -u carol -w pw-carol \
    -c 127.0.0.1 >"$T/uclient.log" 2>&1
grep -q "Total lost packets 0" "$T/uclient.log" && fail "deleted user still accepted"
wait_log 'auth failed: user=carol .*unknown user' 2 || fail "deleted user not logged"
ok "deleted user refused"
sleep 3.5

# Wrong password: 401s, then alice is throttled at this address and her
# requests get 403; after block_time the right password works again.
timeout 4 turnutils_uclient -p "$PORT" -e 127.0.0.1 -r "$PEER_PORT" $C -u alice -w wrong \
    -c 127.0.0.1 >"$T/uclient.log" 2>&1
wait_log 'auth failed: user=alice from 127.0.0.1:[0-9]+: wrong password' 1 || fail "no 401 log"
wait_log 'auth: throttling user=alice from 127.0.0.1 after repeated failures' 1 || fail "no throttling"
wait_log 'auth: request from user=alice at 127.0.0.1 refused: user at this source throttled' 1 ||
    fail "throttled requests not refused"
ok "wrong password: 401, then throttled (403)"
sleep 3.5
uclient $C -u alice -w pw-alice -c; uclient_lossless "block lifted after auth.block_time"
