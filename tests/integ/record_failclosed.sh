#!/bin/bash
# Fail closed for recording: a user and origin whose deciding rule says
# `record always` must never get media relayed anywhere but to sedge's
# own anchor, whatever the client does.
#   1. Without an anchor block: POST /v1/credentials answers 403
#      recording_required naming the rule; the relay refuses the
#      Allocate of such a credential (REST, hand-made) and of a long-term
#      user (turnutils_uclient), while other users relay as before.
#   2. With an anchor block (a UDP echo stands in for the anchor on
#      127.0.0.3): the hand-made client's Allocate succeeds, but
#      CreatePermission and ChannelBind toward the peer are 403, and so
#      is a ChannelBind to the anchor's address outside its port range;
#      toward the anchor's range, a ChannelBind and a Send indication are
#      relayed and the anchor's echo comes back. turnutils_uclient gets
#      403 for its peer.
#   3. A live allocation whose rule starts to require recording loses its
#      permission toward the peer within 2 s: its Send indications and
#      ChannelData stop arriving; toward the anchor they still do.
. "$(dirname "$0")/../lib/sedge.sh"
command -v turnutils_uclient >/dev/null || skip "coturn client tools not installed"
command -v curl >/dev/null || skip "curl not installed"

API_PORT=$((BASE + 3))
API=https://127.0.0.1:$API_PORT
ECHO_PORT=$((BASE + 4))
API_LINE="api = { address = \"127.0.0.1\"; port = $API_PORT; turn_host = \"127.0.0.1\"; };"
POLICY_LINE='policy = { default = "allow"; session_update = 1; recheck_interval = 1; }; limits = { drain_timeout = 0; };'
ANCHOR_LINE="anchor = { inside_address = \"127.0.0.3\"; outside_address = \"127.0.0.3\"; min_port = $ANCHOR_MIN; max_port = $ANCHOR_MAX; };"
write_config "$API_LINE" "$POLICY_LINE"
for u in alice carol; do sedge_cli user add "$u" --password pw >/dev/null || fail "user add"; done
sedge_cli secret add 'failclosed-secret' >/dev/null || fail "secret add"
sedge_cli rule add allow --user carol --record always --name record-carol >/dev/null || fail "rule add"
RULE=$(sedge_cli rule list --json | $PY -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')

origin_id() { printf '%s' "$1" | base64 -w0 | tr '+/' '-_' | tr -d '='; }
rest_user() { echo "$(($(date +%s) + 600)):$1:$(origin_id "$2")"; }
rest_pass() { printf '%s' "$1" | openssl dgst -sha1 -hmac 'failclosed-secret' -binary | base64; }
cred() { CODE=$(curl -sk --max-time 10 -o "$T/body" -w '%{http_code}' -u "$1:pw" \
    -H 'Content-Type: application/json' -d "{\"origin\": \"$2\"}" "$API/v1/credentials") || fail "curl"; }
json() { $PY -c "import json,sys; d=json.load(open('$T/body')); print($1)"; }
turnclient() { timeout 30 $PY "$SEDGE_ROOT/tests/lib/turnclient.py" --server "127.0.0.1:$PORT" "$@" >"$T/tc.log" 2>&1; }
tc_code() { $PY - "$T/tc.log" "$1" "${2:-}" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d["step"] == sys.argv[2] and (not sys.argv[3] or d.get("peer") == sys.argv[3]):
        print(d["code"])
        break
PY
}

# ---- 1. no anchor configured ----
sedge_start
wait_log "api: listening" 5 || fail "api not listening"
peer_start
cred carol https://meet.example.com
[ "$CODE" = 403 ] || fail "carol's credential: status $CODE, expected 403: $(cat "$T/body")"
[ "$(json 'd["error"], d["rule"], d["rule_name"]')" = "recording_required $RULE record-carol" ] ||
    fail "the 403 does not name the rule: $(cat "$T/body")"
grep -q "rule #$RULE record-carol" "$T/body" || fail "reason: $(cat "$T/body")"
ok "POST /v1/credentials: 403 recording_required naming rule #$RULE"
cred alice https://meet.example.com
[ "$CODE" = 200 ] && [ "$(json 'd["mode"]')" = turn ] || fail "alice's credential: $CODE $(cat "$T/body")"

U=$(rest_user carol https://meet.example.com)
turnclient --user "$U" --password "$(rest_pass "$U")" --permission 127.0.0.1
[ "$(tc_code allocate)" = 403 ] || { cat "$T/tc.log"; fail "hand-made REST credential allocated"; }
wait_log "allocate refused: recording required \(rule #$RULE\) and no anchor is configured user=carol origin=https://meet.example.com" 3 ||
    fail "the refusal is not logged"
uclient -n 5 -l 160 -z 10 -m 1 -c -u carol -w pw
grep -q "error 403" "$T/uclient.log" || { tail -5 "$T/uclient.log"; fail "carol's long-term Allocate was not refused"; }
ok "no anchor: the relay refuses Allocate for carol (hand-made REST client and turnutils_uclient)"
uclient -n 20 -l 160 -z 5 -m 1 -c -u alice -w pw
uclient_lossless "alice (no recording rule) relays as before"

# ---- 2. anchor configured: only the anchor is reachable ----
kill "$SEDGE_PID"; for _ in $(seq 50); do kill -0 "$SEDGE_PID" 2>/dev/null || break; sleep 0.1; done
write_config "$API_LINE" "$POLICY_LINE" "$ANCHOR_LINE"
: >"$T/sedge.log"
sedge_start
wait_log "api: listening" 5 || fail "api not listening"
$PY "$SEDGE_ROOT/tests/lib/udp_echo.py" --addr 127.0.0.3 --port "$ANCHOR_MIN" --idle 30 --max 60 >"$T/anchor.json" &
PIDS+=("$!")
sleep 0.3
cred carol https://meet.example.com
[ "$CODE" = 403 ] && [ "$(json 'd["error"]')" = recording_required ] ||
    fail "with an anchor block but no anchor running, carol's credential must still be refused: $CODE $(cat "$T/body")"

U=$(rest_user carol https://meet.example.com)
turnclient --user "$U" --password "$(rest_pass "$U")" --permission 127.0.0.1 --permission 127.0.0.3 \
    --bind "4000:127.0.0.1:$PEER_PORT" --bind "4001:127.0.0.3:$((PORT + 5))" \
    --bind "4002:127.0.0.3:$ANCHOR_MIN" --send "127.0.0.1:$PEER_PORT:to-peer" \
    --send "127.0.0.3:$ANCHOR_MIN:via-send" --chandata "4002:via-channel" --chandata "4000:via-peer-channel"
cat "$T/tc.log"
[ "$(tc_code allocate)" = 0 ] || fail "carol's Allocate with an anchor configured"
[ "$(tc_code permission 127.0.0.1)" = 403 ] || fail "CreatePermission toward the peer was not refused"
[ "$(tc_code permission 127.0.0.3)" = 0 ] || fail "CreatePermission toward the anchor was refused"
[ "$(tc_code bind "127.0.0.1:$PEER_PORT")" = 403 ] || fail "ChannelBind toward the peer was not refused"
[ "$(tc_code bind "127.0.0.3:$((PORT + 5))")" = 403 ] || fail "ChannelBind to the anchor address outside its range"
[ "$(tc_code bind "127.0.0.3:$ANCHOR_MIN")" = 0 ] || fail "ChannelBind toward the anchor was refused"
grep -q '"via-send"' "$T/tc.log" || fail "a Send indication toward the anchor was not relayed (no echo)"
grep -q '"via-channel"' "$T/tc.log" || fail "ChannelData toward the anchor was not relayed (no echo)"
grep -qE '"(to-peer|via-peer-channel)"' "$T/tc.log" && fail "something reached the peer"
wait_log "peer refused: recording required \(rule #$RULE\), only the anchor may be reached user=carol peer=127.0.0.1" 3 ||
    fail "the refusal is not logged"
ok "anchor configured: carol reaches the anchor (Send, ChannelData echoed) and nothing else (403)"
uclient -n 5 -l 160 -z 10 -m 1 -c -u carol -w pw
grep -q "403" "$T/uclient.log" || { tail -5 "$T/uclient.log"; fail "turnutils_uclient relayed carol to the peer"; }
ok "turnutils_uclient: carol's permission toward the peer refused (403)"

# ---- 3. a live allocation starts to require recording ----
$PY - "$PORT" "$PEER_PORT" "$ANCHOR_MIN" "$SEDGE_BIN" "$T/sedge.conf" <<'PY' || fail "live re-check"
import subprocess, sys, time
sys.path.insert(0, __import__("os").environ["SEDGE_ROOT"] + "/tests/lib")
from turnclient import TurnClient
port, peer, anchor, sedge, conf = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
c = TurnClient("127.0.0.1:" + port, "alice", "pw")
assert c.allocate() == 0
assert c.permission("127.0.0.1") == 0 and c.permission("127.0.0.3") == 0
assert c.channel_bind(0x4000, "127.0.0.1", peer) == 0

def echoes(tag):
    c.received.clear()
    c.send("127.0.0.1", peer, (tag + "-send").encode())
    c.chandata(0x4000, (tag + "-chan").encode())
    c.send("127.0.0.3", anchor, (tag + "-anchor").encode())
    return {d.decode() for _, d in c.drain(0.5)}

got = echoes("before")
assert {"before-send", "before-chan", "before-anchor"} <= got, got
subprocess.run([sedge, "rule", "add", "allow", "--user", "alice", "--record", "always",
                "--name", "record-alice", "--config", conf], check=True, stdout=subprocess.DEVNULL)
t0 = time.monotonic()
while time.monotonic() - t0 < 5:
    got = echoes("after")
    if "after-send" not in got and "after-chan" not in got:
        break
took = time.monotonic() - t0
assert "after-send" not in got and "after-chan" not in got, got
assert took < 2.5, took
got = echoes("later")
assert got == {"later-anchor"}, got
print(f"ok: alice's permission toward the peer ended {took:.1f} s after the rule; the anchor still echoes")
PY
wait_log "permission revoked user=alice peer=127.0.0.1" 3 || fail "the revocation is not logged"
ok "a live allocation that starts to require recording keeps only the anchor"
