#!/bin/bash
# Policy through the HTTPS API with role tokens, against the real daemon:
#   - an admin token adds a group, a member and a deny rule, and the rule
#     takes effect on the relay at once (turnutils_uclient gets 403);
#   - a malformed rule is a 400 naming the field, nothing written;
#   - compliance and auditor tokens cannot change policy (403); the
#     auditor can read rules, sessions and test decisions;
#   - POST /v1/credentials answers policy's verdict: 403 with the rule for
#     a refused origin, 403 recording_required where the rule requires
#     recording and no anchor runs (fail closed);
#   - live sessions are listed and one is ended by DELETE (reason
#     "killed by admin"); every call is in the audit log under its token.
. "$(dirname "$0")/../lib/sedge.sh"
command -v turnutils_uclient >/dev/null || skip "coturn client tools not installed"
command -v curl >/dev/null || skip "curl not installed"

API_PORT=$((BASE + 3))
API=https://127.0.0.1:$API_PORT
write_config "api = { address = \"127.0.0.1\"; port = $API_PORT; turn_host = \"127.0.0.1\"; };" \
    'policy = { default = "allow"; session_update = 1; };'
for u in alice bob carol; do sedge_cli user add "$u" --password pw >/dev/null || fail "user add"; done
sedge_cli secret add 'api-policy-secret' >/dev/null || fail "secret add"
ADMIN=$(sedge_cli token add --role admin --name ops 2>/dev/null) || fail "token add admin"
COMPLIANCE=$(sedge_cli token add --role compliance 2>/dev/null) || fail "token add compliance"
AUDITOR=$(sedge_cli token add --role auditor 2>/dev/null) || fail "token add auditor"
sedge_start
wait_log "api: listening" 5 || fail "api not listening"
peer_start

req() { # TOKEN METHOD PATH [curl args]: body in $T/body, status in $CODE
    local tok=$1 m=$2 p=$3; shift 3
    CODE=$(curl -sk --max-time 10 -o "$T/body" -w '%{http_code}' -X "$m" \
        -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' "$@" "$API$p") ||
        fail "curl $m $p"
}
expect() { [ "$CODE" = "$1" ] || { cat "$T/body"; fail "$2: status $CODE, expected $1"; }; ok "$2 -> $CODE"; }
json() { $PY -c "import json,sys; d=json.load(open('$T/body')); print($1)"; }

# Groups and rules by the admin token.
req "$ADMIN" POST /v1/admin/groups -d '{"name": "contractors"}'; expect 201 "admin adds a group"
req "$ADMIN" POST /v1/admin/groups/contractors/members -d '{"user": "bob"}'; expect 201 "admin adds a member"
req "$ADMIN" POST /v1/admin/rules -d '{"action": "deny", "groups": ["nosuch"]}'
expect 400 "a rule naming an unknown group"
grep -q 'unknown group' "$T/body" || fail "the 400 does not name the field: $(cat "$T/body")"
req "$ADMIN" POST /v1/admin/rules -d '{"action": "deny", "peers": "10.0.0.0/33"}'; expect 400 "a bad CIDR"
req "$ADMIN" POST /v1/admin/rules -d '{"action": "deny", "peers": "10.0.0.0/8", "colour": "red"}'
expect 400 "an unknown field"
req "$AUDITOR" GET /v1/admin/rules; expect 200 "auditor reads rules"
[ "$(json 'len(d["rules"])')" = 0 ] || fail "a refused rule was written"

# The relay follows the API at once.
uclient -n 10 -l 160 -z 5 -m 1 -c -u bob -w pw
uclient_lossless "bob relays before the rule"
req "$ADMIN" POST /v1/admin/rules -d '{"action": "deny", "groups": ["contractors"], "name": "no-contractors"}'
expect 201 "admin adds a deny rule"
RULE=$(json 'd["id"]')
uclient -n 5 -l 160 -z 5 -m 1 -c -u bob -w pw
grep -q "error 403" "$T/uclient.log" || { tail -5 "$T/uclient.log"; fail "bob was not refused after the API rule"; }
ok "a rule added through the API refuses bob's Allocate at once"

# Other roles cannot change policy.
req "$COMPLIANCE" POST /v1/admin/rules -d '{"action": "allow"}'; expect 403 "compliance token adds a rule"
req "$AUDITOR" POST /v1/admin/rules -d '{"action": "allow"}'; expect 403 "auditor token adds a rule"
req "$COMPLIANCE" GET /v1/admin/rules; expect 403 "compliance token reads rules"
req "$AUDITOR" DELETE "/v1/admin/rules/$RULE"; expect 403 "auditor deletes a rule"

# Decisions through the API.
req "$AUDITOR" POST /v1/admin/policy/test -d '{"user": "bob"}'; expect 200 "policy test"
[ "$(json 'd["decision"], d["rule"]')" = "deny $RULE" ] || fail "policy test: $(cat "$T/body")"
req "$ADMIN" POST /v1/admin/rules -d '{"action": "deny", "origins": ["https://*.blocked.example"], "priority": 1}'
expect 201 "a deny rule for an origin"
req "$ADMIN" POST /v1/admin/rules -d '{"action": "allow", "users": "carol", "record": "always", "name": "record-carol"}'
expect 201 "a recording rule"
req "$ADMIN" POST "/v1/admin/rules/$RULE/move" -d '{"priority": 2}'; expect 200 "move a rule"

# Credentials carry the verdict (HTTP Basic as a local user).
cred() { CODE=$(curl -sk --max-time 10 -o "$T/body" -w '%{http_code}' -u "$1:pw" \
    -H 'Content-Type: application/json' -d "{\"origin\": \"$2\"}" "$API/v1/credentials") || fail "curl"; }
# A rule that needs a transport: the credential is minted if any transport is allowed.
req "$ADMIN" POST /v1/admin/rules -d '{"action": "deny", "users": "alice", "transports": "udp", "origins": "https://tcp-only.example", "priority": 3}'
expect 201 "deny alice over UDP for one site"
cred alice https://tcp-only.example; expect 200 "credentials when only TCP/TLS are allowed"
cred alice https://www.blocked.example; expect 403 "credentials for a refused origin"
[ "$(json 'd["error"]')" = denied_by_policy ] && grep -q 'rule #' "$T/body" || fail "refusal body: $(cat "$T/body")"
cred carol https://meet.example.com; expect 403 "credentials for carol, whose calls must be recorded"
[ "$(json 'd["error"]')" = recording_required ] || fail "carol's refusal: $(cat "$T/body")"
cred alice https://meet.example.com; expect 200 "credentials for an allowed origin"
[ "$(json 'd["mode"]')" = turn ] || fail "alice's mode: $(cat "$T/body")"
U=$(json 'd["username"]'); P=$(json 'd["credential"]')

# A live session, listed and ended by the admin.
timeout 60 turnutils_uclient -p "$PORT" -e 127.0.0.1 -r "$PEER_PORT" -n 2000 -l 160 -z 5 -m 1 -c \
    -u "$U" -w "$P" 127.0.0.1 >"$T/long.log" 2>&1 &
PIDS+=("$!")
wait_log "allocation start user=$U " 5 || fail "alice's allocation"
for _ in $(seq 100); do grep -qE 'tot_send_msgs=[1-9]' "$T/long.log" && break; sleep 0.1; done
sleep 1.5 # media flows and the session row has been updated
req "$AUDITOR" GET "/v1/admin/sessions?live=1&user=alice"; expect 200 "auditor lists live sessions"
SID=$($PY -c "import json; s=[x for x in json.load(open('$T/body'))['sessions'] if x['peers']]; print(s[0]['id'] if s else '')")
[ -n "$SID" ] || fail "no live session with a peer: $(cat "$T/body")"
[ "$(json '[x["origin"] for x in d["sessions"]][0]')" = https://meet.example.com ] || fail "origin in session"
[ "$(json '[x["record"] for x in d["sessions"]][0]')" = never ] || fail "record flag in session"
req "$AUDITOR" DELETE "/v1/admin/sessions/$SID"; expect 403 "auditor ends a session"
req "$ADMIN" DELETE "/v1/admin/sessions/$SID"; expect 202 "admin ends a live session"
wait_log "allocation end user=$U .*reason=killed by admin" 3 || fail "the session was not ended"
req "$ADMIN" DELETE "/v1/admin/sessions/deadbeef-1"; expect 404 "ending a session of another process"
sleep 1.5
req "$ADMIN" GET "/v1/admin/sessions?user=alice"; expect 200 "session history"
$PY - "$T/body" "$SID" <<'PY' || fail "history: $(cat "$T/body")"
import json, sys
rows = {r["id"]: r for r in json.load(open(sys.argv[1]))["sessions"]}
r = rows[sys.argv[2]]
assert r["end_reason"] == "killed by admin" and r["ended"] and r["bytes_from_client"] > 0, r
PY
ok "the killed session's row ends with reason 'killed by admin'"

# Groups can't be deleted while a rule names them; the audit log has it all.
req "$ADMIN" DELETE /v1/admin/groups/contractors; expect 409 "deleting a group a rule uses"
req "$ADMIN" DELETE "/v1/admin/rules/$RULE"; expect 200 "delete the rule"
req "$ADMIN" DELETE /v1/admin/groups/contractors; expect 200 "then the group"
req "$AUDITOR" GET "/v1/admin/audit?limit=100"; expect 200 "audit log"
$PY - "$T/body" <<'PY' || fail "audit rows: $(head -c 2000 "$T/body")"
import json, sys
rows = json.load(open(sys.argv[1]))
rows = rows.get("audit", rows) if isinstance(rows, dict) else rows
acts = [(r["actor"], r["action"]) for r in rows]
for a in ("rule.add", "rule.move", "rule.del", "group.add", "group.member.add", "group.del"):
    assert any(x[1] == a and x[0].startswith("api:token-") for x in acts), (a, acts)
move = [r for r in rows if r["action"] == "rule.move"][0]
assert move["before"]["priority"] != move["after"]["priority"], move
PY
ok "audit log: every policy change under its API token, with before/after"
