#!/bin/bash
# The CLI as an admin (or a slip of the fingers) meets it, against the real
# database and a running `sedge serve`:
#
#   sedge token add  prints the id that `token list` shows and `token del` takes
#   sedge rule add --user / group adduser   refuse names with no local account
#                    (unless --external: identity-provider users), like an
#                    unknown group is refused
#   --client/--peer  a CIDR with host bits set is refused, naming the network
#   missing config   says why it cannot be read
#   passwords        --password-file FILE and --password-file - (stdin)
#   sessions kill    ends a live session of the running daemon through the
#                    database it watches: the row ends "killed by admin"
#   log              "rule=default" / "rule=#N name", never "rule=0default"
. "$(dirname "$0")/../lib/sedge.sh"
command -v turnutils_uclient >/dev/null || skip "coturn client tools not installed"

write_config 'policy = { default = "allow"; session_update = 1; };' 'limits = { drain_timeout = 1; };'
sedge_cli user add alice --password pw >/dev/null || fail "user add"

# --- token ids
sedge_cli token add --role admin --name one >/dev/null 2>&1 || fail "token add"
sedge_cli token add --role auditor --name two >"$T/tok" 2>"$T/tok.err" || fail "token add"
id=$(sed -nE 's/^token ([0-9]+) .*/\1/p' "$T/tok.err")
[ -n "$id" ] || fail "token add said: $(cat "$T/tok.err")"
sedge_cli token list | grep -Eq "^$id +auditor +two " || { sedge_cli token list; fail "token $id not listed"; }
sedge_cli token del "$id" >/dev/null || fail "token del $id"
sedge_cli token list | grep -q ' two ' && fail "token two still listed"
ok "token add reports id $id, which token list shows and token del removes"

# --- unknown users
sedge_cli rule add deny --user nosuchuser >"$T/out" 2>&1 && fail "rule for an unknown user accepted"
grep -q 'nosuchuser' "$T/out" && grep -q -- '--external' "$T/out" || fail "unclear refusal: $(cat "$T/out")"
sedge_cli group add staff >/dev/null || fail "group add"
sedge_cli group adduser staff nosuch >"$T/out" 2>&1 && fail "unknown member accepted"
grep -q 'nosuch' "$T/out" && grep -q -- '--external' "$T/out" || fail "unclear refusal: $(cat "$T/out")"
[ "$(sedge_cli rule list --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 0 ] ||
    fail "a refused rule was written"
sedge_cli group list | grep -q nosuch && fail "a refused member was written"
sedge_cli rule add deny --user idp-user@example.com --external >/dev/null || fail "--external rule"
sedge_cli group adduser staff idp-user@example.com alice --external >/dev/null || fail "--external member"
ok "rule add --user and group adduser refuse unknown users unless --external"

# --- host bits
for opt in --client --peer; do
    sedge_cli rule add allow $opt 10.1.2.3/8 >"$T/out" 2>&1 && fail "$opt 10.1.2.3/8 accepted"
    grep -q '10.0.0.0/8' "$T/out" || fail "$opt: no hint: $(cat "$T/out")"
done
sedge_cli rule add allow --client 2001:db8::1/32 >"$T/out" 2>&1 && fail "v6 host bits accepted"
grep -q '2001:db8::/32' "$T/out" || fail "v6: no hint: $(cat "$T/out")"
sedge_cli rule add allow --client 10.0.0.0/8 --peer 192.0.2.7 >/dev/null || fail "exact CIDRs refused"
ok "CIDRs with host bits set are refused with the network they meant"

# --- a missing config names the reason
out=$("$SEDGE_BIN" user list --config "$T/nonexistent.conf" 2>&1) && fail "missing config accepted"
echo "$out" | grep -q "No such file or directory" || fail "no reason: $out"
chmod 000 "$T/sedge.conf"
out=$(su nobody -s /bin/sh -c "'$SEDGE_BIN' user list --config '$T/sedge.conf'" 2>&1) &&
    fail "unreadable config accepted"
chmod 600 "$T/sedge.conf"
echo "$out" | grep -q "Permission denied" || fail "no reason: $out"
ok "a missing or unreadable config says why"

# --- passwords without the command line
printf 'pw-from-file\n' >"$T/pwfile"
chmod 600 "$T/pwfile"
sedge_cli user add bob --password-file "$T/pwfile" >/dev/null || fail "--password-file"
printf 'pw-from-stdin\n' | sedge_cli user add carol --password-file - >/dev/null || fail "--password-file -"
: >"$T/empty"
sedge_cli user add dave --password-file "$T/empty" >"$T/out" 2>&1 && fail "empty password file accepted"
sedge_cli user add dave --password x --password-file "$T/pwfile" >/dev/null 2>&1 && fail "both accepted"
printf 's3cret-value-from-stdin\n' | sedge_cli secret add --value-file - >/dev/null || fail "secret --value-file -"
sedge_start
peer_start
uclient -n 5 -l 100 -z 10 -m 1 -u bob -w pw-from-file -c; uclient_lossless "bob's password came from a file"
uclient -n 5 -l 100 -z 10 -m 1 -u carol -w pw-from-stdin -c; uclient_lossless "carol's password came from stdin"
ok "passwords and secrets from a file or stdin"

# --- the log names the deciding rule readably
sedge_cli rule add deny --user alice --name no-alice --priority 1 >/dev/null || fail "rule add"
sedge_cli rule add allow --user bob --name bob-ok >/dev/null || fail "rule add"
sed -i 's/default = "allow"/default = "deny"/' "$T/sedge.conf"
kill -HUP "$SEDGE_PID"
wait_log "SIGHUP: reloading" 3 || fail "no reload"
sleep 1.2
uclient -n 1 -l 100 -m 1 -u alice -w pw -c
uclient -n 1 -l 100 -m 1 -u carol -w pw-from-stdin -c
wait_log 'allocate denied by policy user=alice .* rule=#[0-9]+ no-alice$' 3 ||
    fail "rule not logged readably: $(grep 'denied by policy user=alice' "$T/sedge.log" | tail -1)"
wait_log 'allocate denied by policy user=carol .* rule=default$' 3 ||
    fail "default not logged readably: $(grep 'denied by policy user=carol' "$T/sedge.log" | tail -1)"
ok "policy denials log rule=#N name and rule=default"

# --- sessions kill: a live session of the daemon, through the database
timeout 60 turnutils_uclient -p "$PORT" -e 127.0.0.1 -r "$PEER_PORT" -n 3000 -l 160 -z 10 -m 1 -c \
    -u bob -w pw-from-file 127.0.0.1 >"$T/long.log" 2>&1 &
PIDS+=("$!")
wait_log "allocation start user=bob " 5 || fail "bob's allocation"
sid=""
for _ in $(seq 1 30); do
    sid=$(sedge_cli sessions --live --user bob --json | $PY -c 'import json,sys
s = json.load(sys.stdin); print(s[0]["id"] if s else "")')
    [ -n "$sid" ] && break
    sleep 0.2
done
[ -n "$sid" ] || fail "no live session row for bob"
sedge_cli sessions kill "$sid" >"$T/out" 2>&1 || fail "sessions kill: $(cat "$T/out")"
grep -q "ended" "$T/out" || fail "sessions kill said: $(cat "$T/out")"
wait_log "allocation end user=bob .*reason=killed by admin" 3 || fail "the allocation did not end"
sedge_cli sessions --user bob --json | $PY -c 'import json,sys
r = [x for x in json.load(sys.stdin) if x["id"] == sys.argv[1]][0]
assert r["end_reason"] == "killed by admin" and not r["live"], r' "$sid" || fail "row not ended"
sedge_cli sessions kill "$sid" >"$T/out" 2>&1 && fail "killing an ended session succeeded"
grep -q "already ended" "$T/out" || fail "unclear: $(cat "$T/out")"
sedge_cli sessions kill nosuch-1 >"$T/out" 2>&1 && fail "killing an unknown session succeeded"
sedge_cli audit --json | grep -q '"session.kill"' || fail "kill not audited"
ok "sedge sessions kill ended bob's live session through the daemon (row: killed by admin, audited)"

# --- stored client bytes never reach the admin's terminal raw
# Rows as a hostile client (USERNAME, origin, an HTTP path in the audit
# log) or an older sedge may have left them, written here with sqlite3.
sqlite3 "$T/sedge.db" "INSERT INTO sessions (sid, user, username, origin, client, transport, relay,
    peers, started, ended, end_reason) VALUES ('evil-1', 'eve' || char(27) || '[2J',
    '1:eve' || char(13, 10) || 'FORGED', 'https://x' || char(27) || ']0;pwned' || char(7),
    'udp:1.2.3.4:5', 'udp', '5.6.7.8:9', '1.2.3.4' || char(27) || '[31m', 1, 2, CAST(x'78ff' AS TEXT));
  INSERT INTO audit (at, actor, action, object, detail) VALUES (3, 'api:token-9',
    'api.call', CAST(x'474554202f1b5b324aff' AS TEXT), 'status=' || char(13, 10) || '404');
  INSERT INTO users (name, realm, key_md5, key_sha256, created_at) VALUES
    ('mal' || char(8238) || 'gnp.exe', 'sedge.test', zeroblob(16), zeroblob(32), 4);" ||
    fail "cannot plant hostile rows"
for cmd in "sessions" "audit" "user list" "group list" "rule list" "token list" "secret list"; do
    sedge_cli $cmd >"$T/listing" 2>&1 || fail "sedge $cmd failed: $(cat "$T/listing")"
    LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$T/listing" &&
        { cat -v "$T/listing" | head; fail "sedge $cmd printed control bytes"; }
    iconv -f UTF-8 -t UTF-8 "$T/listing" >/dev/null 2>&1 || fail "sedge $cmd printed invalid UTF-8"
    LC_ALL=C grep -q $'\xe2\x80\xae' "$T/listing" && fail "sedge $cmd printed a bidi override"
done
grep -qF 'eve\x1b[2J' < <(sedge_cli sessions) || fail "escaped user not shown"
grep -qF 'GET /\x1b[2J\xff' < <(sedge_cli audit) || fail "escaped audit object not shown"
sedge_cli sessions --json | $PY -c 'import json, sys
rows = json.load(sys.stdin)
assert rows and all("user" in r and "origin" in r and "end_reason" in r for r in rows), rows' ||
    fail "sedge sessions --json: not JSON or fields lost"
sedge_cli audit --json | $PY -c 'import json, sys
rows = json.load(sys.stdin)
assert rows and all(r["object"] is not None for r in rows if r["action"] == "api.call"), rows' ||
    fail "sedge audit --json: not JSON or fields lost"
ok "listings escape control bytes, bidi overrides and invalid UTF-8; --json keeps every field"
sedge_cli token add --role auditor --name $'ops\e[2J' >/dev/null 2>&1 && fail "token name with ESC accepted"
sedge_cli rule add allow --user alice --name $'x\ry' >/dev/null 2>&1 && fail "rule name with CR accepted"
sedge_cli group add $'g\xe2\x80\xaeg' >/dev/null 2>&1 && fail "group name with a bidi override accepted"
ok "token, rule and group names refuse control characters"
