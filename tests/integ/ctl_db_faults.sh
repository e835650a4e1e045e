#!/bin/bash
# Database faults while `sedge serve` runs, each of which must be visible
# (log line, /metrics, /readyz) and lose nothing silently:
#
#   curl --HTTPS--> sedge api 127.0.0.1:$API_PORT      $T/sedge.db
#                      |  control thread  ------------>   (deleted, locked
#   stunraw/uclient -> sedge TURN 127.0.0.1:$PORT          by sqlite3, full)
#
#   deleted  the file is removed under the running daemon: logged within
#            seconds, /readyz 503, admin writes 503, and a restart refuses
#            to create a fresh empty database (only `sedge init` does).
. "$(dirname "$0")/../lib/sedge.sh"
command -v curl >/dev/null || skip "curl not installed"

API_PORT=$((BASE + 3))
API=https://127.0.0.1:$API_PORT
PROM="$PY $SEDGE_ROOT/tests/lib/promparse.py"
write_config "api = { address = \"127.0.0.1\"; port = $API_PORT; turn_host = \"127.0.0.1\"; };"
sedge_cli user add alice --password pw >/dev/null || fail "user add"
ADMIN=$(sedge_cli token add --role admin 2>/dev/null) || fail "token add"

req() { # METHOD PATH [curl args...]: body in $T/body, status in $CODE
    local m=$1 p=$2; shift 2
    CODE=$(curl -sk --max-time 10 -o "$T/body" -w '%{http_code}' -X "$m" "$@" "$API$p") ||
        fail "curl $m $p failed"
}
AUTH=(-H "Authorization: Bearer $ADMIN")
CT=(-H 'Content-Type: application/json')
metric() { # NAME: its value from /metrics
    req GET /metrics "${AUTH[@]}"
    [ "$CODE" = 200 ] || fail "/metrics: $CODE"
    $PROM "$T/body" | awk -v n="$1" '$1 == n { printf "%d\n", $2 }'
}

sedge_start
req GET /readyz; [ "$CODE" = 200 ] || fail "not ready at start"
[ "$(metric sedge_database_ok)" = 1 ] || fail "sedge_database_ok is not 1 at start"

# --- deleted while running
rm -f "$T/sedge.db" "$T/sedge.db-wal" "$T/sedge.db-shm"
wait_log "database $T/sedge.db was deleted or replaced" 5 || fail "deletion not logged"
req GET /readyz
[ "$CODE" = 503 ] && grep -q 'deleted or replaced' "$T/body" || fail "/readyz after deletion: $CODE $(cat "$T/body")"
req GET /healthz; [ "$CODE" = 200 ] || fail "/healthz after deletion: $CODE"
req POST /v1/admin/users "${AUTH[@]}" "${CT[@]}" -d '{"name": "bob", "password": "pw-bob"}'
[ "$CODE" = 503 ] && grep -q '"database_unavailable"' "$T/body" ||
    fail "admin write after deletion: $CODE $(cat "$T/body")"
[ "$(metric sedge_database_ok)" = 0 ] || fail "sedge_database_ok is not 0 after deletion"
ok "deleted database: logged, /readyz 503, admin write 503 database_unavailable, sedge_database_ok 0"

# --- a restart never creates a fresh, empty database on its own
kill -TERM "$SEDGE_PID"
for _ in $(seq 1 100); do kill -0 "$SEDGE_PID" 2>/dev/null || break; sleep 0.1; done
out=$(timeout 10 "$SEDGE_BIN" serve --config "$T/sedge.conf" 2>&1) && fail "serve started without its database"
{ echo "$out" | grep -q "does not exist" && echo "$out" | grep -q "sedge init"; } || fail "unclear message: $out"
[ -e "$T/sedge.db" ] && fail "serve created a database"
ok "serve refuses a missing database: $(echo "$out" | tail -1)"
out=$(sedge_cli user list 2>&1) && fail "user list ran without a database"
{ echo "$out" | grep -q "does not exist" && echo "$out" | grep -q "sedge init"; } || fail "unclear CLI message: $out"
[ -e "$T/sedge.db" ] && fail "the CLI created a database"
ok "the CLI refuses a missing database too"
sedge_cli init >"$T/init.out" 2>&1 || fail "sedge init: $(cat "$T/init.out")"
[ "$(sedge_cli user list | wc -l)" = 1 ] || fail "a fresh database is not empty"
sedge_cli init >"$T/init.out" 2>&1 || fail "sedge init on an existing database: $(cat "$T/init.out")"
grep -q "already exists" "$T/init.out" || fail "second init: $(cat "$T/init.out")"
ok "sedge init creates the database once; a second init leaves it as it is"
