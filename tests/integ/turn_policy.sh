#!/bin/bash
# Policy rules against the real daemon with coturn's turnutils_uclient:
#   - a denied group is refused at Allocate (403), logged with its rule;
#   - a peer-range deny refuses CreatePermission/ChannelBind (403);
#   - a REST credential's origin is matched by rules and recorded;
#   - a bandwidth cap limits the relayed throughput (measured at the peer,
#     within 20 %);
#   - a rule added, or a user disabled, while traffic flows cuts the live
#     allocation within 2 s and its session row ends with reason "revoked";
#   - a session-duration limit ends the allocation on time;
#   - session rows carry user, origin and byte counts matching what the
#     client sent (within 1 %).
. "$(dirname "$0")/../lib/sedge.sh"
command -v turnutils_uclient >/dev/null || skip "coturn client tools not installed"

write_config 'policy = { default = "allow"; timezone = "UTC"; session_update = 1; };'
for u in alice mallory carol dave erin bw tim; do
    sedge_cli user add "$u" --password pw >/dev/null || fail "user add $u"
done
sedge_cli secret add 'policy-secret' >/dev/null || fail "secret add"
sedge_cli group add blocked >/dev/null && sedge_cli group adduser blocked mallory >/dev/null ||
    fail "group setup"
sedge_cli rule add deny --group blocked --name block-contractors >/dev/null || fail "rule add"
# Malformed rules are refused and nothing is written.
sedge_cli rule add allow --peer 10.0.0.0/33 >/dev/null 2>"$T/err" && fail "bad CIDR accepted"
grep -q 'peers: "10.0.0.0/33"' "$T/err" || fail "bad CIDR message: $(cat "$T/err")"
sedge_cli rule add allow --group nosuch >/dev/null 2>"$T/err" && fail "unknown group accepted"
sedge_cli rule add allow --hours 18:00-18:00 >/dev/null 2>"$T/err" && fail "empty window accepted"
[ "$(sedge_cli rule list --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1 ] ||
    fail "a refused rule was written"
ok "malformed rules refused with the field named, nothing written"
sedge_start
peer_start

# 1. A denied group is refused at Allocate.
uclient -n 5 -l 160 -z 10 -m 1 -c -u mallory -w pw
grep -q "error 403" "$T/uclient.log" || { tail -5 "$T/uclient.log"; fail "mallory was not refused with 403"; }
wait_log 'allocate denied by policy user=mallory .* rule=#1' 2 || fail "denial not logged with its rule"
ok "denied group refused at Allocate (403), logged with rule #1"

# 2. A peer-range deny refuses the permission.
sedge_cli rule add deny --user alice --peer 127.0.0.0/24 --priority 5 >/dev/null || fail "rule add"
sleep 2 # the daemon polls the database every second
uclient -n 5 -l 160 -z 10 -m 1 -c -u alice -w pw
grep -q "403" "$T/uclient.log" || { tail -5 "$T/uclient.log"; fail "alice's peer was not refused"; }
wait_log 'peer denied by policy user=alice peer=127.0.0.1' 2 || fail "peer denial not logged"
uclient -n 20 -l 160 -z 5 -m 1 -c -u carol -w pw
uclient_lossless "carol is not affected by alice's peer rule"
ok "peer range deny refuses CreatePermission/ChannelBind (403)"

# 3. Origins of REST credentials.
origin_id() { printf '%s' "$1" | base64 -w0 | tr '+/' '-_' | tr -d '='; }
rest_user() { echo "$(($(date +%s) + 600)):$1:$(origin_id "$2")"; }
rest_pass() { printf '%s' "$1" | openssl dgst -sha1 -hmac 'policy-secret' -binary | base64; }
sedge_cli rule add allow --user dave --origin 'https://*.example.com' --name dave-sites >/dev/null &&
    sedge_cli rule add deny --user dave --name dave-elsewhere >/dev/null || fail "origin rules"
sleep 2
good=$(rest_user dave https://meet.example.com)
uclient -n 20 -l 160 -z 5 -m 1 -c -u "$good" -w "$(rest_pass "$good")"
uclient_lossless "REST credential for an allowed origin"
bad=$(rest_user dave https://evil.example.org)
uclient -n 5 -l 160 -z 5 -m 1 -c -u "$bad" -w "$(rest_pass "$bad")"
grep -q "error 403" "$T/uclient.log" || fail "REST credential for a denied origin was not refused"
ok "origin rules: *.example.com allowed, evil.example.org refused"

# 4. Bandwidth cap, measured where the traffic lands.
sedge_cli rule add allow --user bw --max-kbps 400 --name cap400 >/dev/null || fail "cap rule"
sleep 2
ECHO_PORT=$((PEER_PORT + 3))
$PY "$SEDGE_ROOT/tests/lib/udp_echo.py" --port "$ECHO_PORT" --idle 2 --max 40 >"$T/echo.json" &
PIDS+=("$!")
sleep 0.3
# 1000-byte datagrams every 5 ms: 1.6 Mbit/s offered for 2 s, four times the cap.
timeout 60 turnutils_uclient -p "$PORT" -e 127.0.0.1 -r "$ECHO_PORT" -n 400 -l 1000 -z 5 -m 1 -c \
    -u bw -w pw 127.0.0.1 >"$T/uclient.log" 2>&1
for _ in $(seq 50); do [ -s "$T/echo.json" ] && break; sleep 0.2; done
kbps=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["kbps"])' "$T/echo.json") ||
    fail "no throughput figure: $(cat "$T/echo.json")"
$PY -c "import sys; k=float(sys.argv[1]); sys.exit(0 if 320 <= k <= 480 else 1)" "$kbps" ||
    fail "cap 400 kbit/s, measured $kbps kbit/s at the peer ($(cat "$T/echo.json"))"
ok "bandwidth cap 400 kbit/s: $kbps kbit/s reached the peer ($(cat "$T/echo.json"))"

# 5. Live cut-off: a rule added while traffic flows.
live_cut() { # name user action...
    local name=$1 user=$2; shift 2
    timeout 60 turnutils_uclient -p "$PORT" -e 127.0.0.1 -r "$PEER_PORT" -n 1500 -l 160 -z 5 -m 1 -c \
        -u "$user" -w pw 127.0.0.1 >"$T/uclient-$user.log" 2>&1 &
    local upid=$!
    PIDS+=("$upid")
    wait_log "allocation start user=$user " 5 || fail "$name: no allocation"
    # uclient sends only after its set-up phase: cut while media flows.
    for _ in $(seq 100); do
        grep -qE 'tot_send_msgs=[1-9]' "$T/uclient-$user.log" && break
        sleep 0.1
    done
    grep -qE 'tot_send_msgs=[1-9]' "$T/uclient-$user.log" || fail "$name: client sent nothing"
    sleep 0.5
    local t0 t1 ms
    t0=$(date +%s%N)
    "$@" >/dev/null || fail "$name: change failed"
    for _ in $(seq 60); do
        grep -q "allocation revoked user=$user " "$T/sedge.log" && break
        sleep 0.05
    done
    t1=$(date +%s%N)
    grep -q "allocation end user=$user .*reason=revoked" "$T/sedge.log" || fail "$name: not revoked"
    ms=$(((t1 - t0) / 1000000))
    [ "$ms" -le 2000 ] || fail "$name: revoked after $ms ms (limit 2000)"
    kill "$upid" 2>/dev/null
    ok "$name: live allocation revoked $ms ms after the change"
}
live_cut "rule added while traffic flows" erin sedge_cli rule add deny --user erin --priority 1
live_cut "user disabled while traffic flows" carol sedge_cli user disable carol
sleep 1.5 # session rows are written four times a second
sedge_cli sessions --json --user erin >"$T/erin.json"
$PY - "$T/erin.json" <<'PY' || fail "erin's session row: $(cat "$T/erin.json")"
import json, sys
rows = json.load(open(sys.argv[1]))
assert rows and all(r["end_reason"] == "revoked" and r["ended"] for r in rows), rows
assert any(r["bytes_from_client"] > 0 for r in rows), rows
PY
ok "revoked session rows end with reason revoked"

# 6. Session-duration limit.
sedge_cli rule add allow --user tim --max-duration 2 >/dev/null || fail "duration rule"
sleep 2
timeout 60 turnutils_uclient -p "$PORT" -e 127.0.0.1 -r "$PEER_PORT" -n 1000 -l 160 -z 5 -m 1 -c \
    -u tim -w pw 127.0.0.1 >"$T/uclient-tim.log" 2>&1 &
PIDS+=("$!")
wait_log "allocation start user=tim " 5 || fail "tim: no allocation"
wait_log "allocation end user=tim .*reason=duration limit duration=[234]s" 5 ||
    fail "max-duration 2 s did not end the allocation on time"
ok "a 2 s duration limit ended the allocation after 2-4 s"

# 7. Session rows: user, origin, counts within 1 % of what the client sent.
uclient -n 50 -l 200 -z 5 -m 1 -c -u "$good" -w "$(rest_pass "$good")"
uclient_lossless "REST client for the session check"
sent=$(grep -oE 'tot_send_bytes ~ [0-9]+' "$T/uclient.log" | tail -1 | grep -oE '[0-9]+$')
sleep 1.5
sedge_cli sessions --json --user dave --since 10m >"$T/dave.json"
$PY - "$T/dave.json" "$sent" <<'PY' || fail "dave's session rows: $(cat "$T/dave.json")"
import json, sys
rows = json.load(open(sys.argv[1]))
sent = int(sys.argv[2])
need = {"user", "origin", "client", "relay", "peers", "started", "ended", "bytes_from_client",
        "bytes_to_client", "packets_from_client", "packets_to_client", "end_reason", "rule"}
for r in rows:
    assert need <= set(r), set(need) - set(r)
    assert r["user"] == "dave" and r["origin"] == "https://meet.example.com", r
match = [r for r in rows if r["packets_from_client"] == 50]
assert match, [(r["packets_from_client"], r["bytes_from_client"]) for r in rows]
r = match[-1]
assert abs(r["bytes_from_client"] - sent) <= sent / 100, (r["bytes_from_client"], sent)
assert abs(r["bytes_to_client"] - sent) <= sent / 100, (r["bytes_to_client"], sent)
assert r["peers"] == ["127.0.0.1"] and r["rule_name"] == "dave-sites", r
PY
ok "session rows: user, origin, rule and byte counts match what the client sent"

# The audit log saw every change, with the CLI as actor.
n=$(sedge_cli audit --json | $PY -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if r["action"].startswith("rule.")))')
[ "$n" -ge 6 ] || fail "audit log has $n rule changes, expected >= 6"
ok "audit log records the rule changes ($n)"

# A rule row broken behind sedge's back: the relay keeps the last good
# policy (a deny rule must never silently disappear) and says so.
command -v sqlite3 >/dev/null || skip "sqlite3 CLI not installed"
sqlite3 "$T/sedge.db" "UPDATE rules SET peers = 'not-a-cidr' WHERE name = 'block-contractors'" ||
    fail "sqlite3 update"
wait_log 'rule #1 does not compile .*refusing the new rule set' 5 || fail "broken deny rule not reported"
wait_log 'keeping the previous snapshot in force' 2 || fail "previous snapshot not kept"
uclient -n 5 -l 160 -z 10 -m 1 -c -u mallory -w pw
grep -q "error 403" "$T/uclient.log" || fail "the last good policy was not kept in force"
kill -0 "$SEDGE_PID" || fail "sedge died on a bad row"
ok "a corrupt deny rule row keeps the last good policy in force, loudly"
