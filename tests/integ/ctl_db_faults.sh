#!/bin/bash
# Database faults while `sedge serve` runs, each of which must be visible
# (log line, /metrics, /readyz) and lose nothing silently:
#
#   curl --HTTPS--> sedge api 127.0.0.1:$API_PORT      $T/sedge.db
#                      |  control thread  ------------>   (deleted, locked
#   stunraw/uclient -> sedge TURN 127.0.0.1:$PORT          by sqlite3, full)
#
#   locked   an external sqlite3 holds the write lock for 10 s while 3
#            allocations start and end: /healthz stays fast, an admin write
#            gets 503 database_busy at once, the events wait (metric, log,
#            /readyz 503 after 5 s) and all 3 rows are written afterwards.
#   full     the database lives on a 4 MiB tmpfs that is then filled: the
#            same, with "database or disk is full"; all rows written once
#            space is freed.
#   deleted  the file is removed under the running daemon: logged within
#            seconds, /readyz 503, admin writes 503, events kept (pending)
#            and counted lost at exit, and a restart refuses to create a
#            fresh empty database (only `sedge init` does).
. "$(dirname "$0")/../lib/sedge.sh"
command -v curl >/dev/null || skip "curl not installed"
command -v sqlite3 >/dev/null || skip "sqlite3 not installed"
command -v turnutils_uclient >/dev/null || skip "coturn client tools not installed"

API_PORT=$((BASE + 3))
API=https://127.0.0.1:$API_PORT
PROM="$PY $SEDGE_ROOT/tests/lib/promparse.py"
write_config "api = { address = \"127.0.0.1\"; port = $API_PORT; turn_host = \"127.0.0.1\"; };" \
    'limits = { drain_timeout = 1; };'
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

DB=$T/sedge.db
stop_sedge() { # LOG-NAME: SIGTERM, wait for the exit, keep the log aside
    kill -TERM "$SEDGE_PID"
    for _ in $(seq 1 100); do kill -0 "$SEDGE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$SEDGE_PID" 2>/dev/null && fail "sedge did not stop"
    mv "$T/sedge.log" "$T/sedge-$1.log"
}
ended() { sqlite3 "$DB" "SELECT count(*) FROM sessions WHERE ended IS NOT NULL"; }
healthz_fast() { # every /healthz answers within 0.5 s
    local i t
    for i in 1 2 3 4 5; do
        t=$(curl -sk --max-time 5 -o /dev/null -w '%{time_total}' "$API/healthz") || fail "/healthz failed"
        awk -v t="$t" 'BEGIN { exit !(t < 0.5) }' || fail "/healthz took ${t}s while $1"
        sleep 0.1
    done
}
wait_readyz() { # CODE SECONDS
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        req GET /readyz
        [ "$CODE" = "$1" ] && return 0
        sleep 0.1
    done
    return 1
}
# A database fault while 3 allocations start and end: events wait, visible.
calls_during_fault() { # WHAT REASON-REGEX API-ERROR (N0: ended sessions before)
    local t0 dt
    uclient -n 5 -l 100 -z 20 -m 3 -u alice -w pw -c || fail "$1: uclient failed"
    healthz_fast "$1"
    t0=$(date +%s.%N)
    req POST /v1/admin/users "${AUTH[@]}" "${CT[@]}" -d '{"name": "bob", "password": "pw-bob"}'
    dt=$(echo "$(date +%s.%N) - $t0" | bc)
    [ "$CODE" = 503 ] && grep -q "\"$3\"" "$T/body" ||
        fail "$1: admin write answered $CODE: $(cat "$T/body")"
    awk -v d="$dt" 'BEGIN { exit !(d < 1.0) }' || fail "$1: the admin write took ${dt}s"
    [ "$(metric sedge_session_events_pending)" -ge 1 ] || fail "$1: no session events pending"
    wait_log "sessions: cannot write session events to the database: $2" 3 ||
        fail "$1: not logged"
    wait_readyz 503 8 || fail "$1: /readyz still $CODE"
    grep -q "refused writes for" "$T/body" || fail "$1: /readyz reason: $(cat "$T/body")"
    [ "$(metric sedge_database_ok)" = 0 ] || fail "$1: sedge_database_ok is not 0"
    ok "$1: /healthz < 0.5 s, admin write 503 $3 in ${dt}s, events pending, logged, /readyz 503"
}
after_fault() { # WHAT
    wait_log "sessions: the database takes writes again" 10 || fail "$1: no recovery logged"
    wait_readyz 200 5 || fail "$1: /readyz $CODE after recovery"
    local i
    for i in $(seq 1 30); do [ "$(ended)" = $((N0 + 3)) ] && break; sleep 0.1; done
    [ "$(ended)" = $((N0 + 3)) ] || fail "$1: $(ended) ended sessions, expected $((N0 + 3))"
    [ "$(metric sedge_session_events_pending)" = 0 ] || fail "$1: events still pending"
    [ "$(metric sedge_session_events_dropped_total)" = 0 ] || fail "$1: events dropped"
    ok "$1: afterwards all 3 session rows written, nothing pending, nothing dropped"
}

sedge_start
peer_start
req GET /readyz; [ "$CODE" = 200 ] || fail "not ready at start"
[ "$(metric sedge_database_ok)" = 1 ] || fail "sedge_database_ok is not 1 at start"

# --- locked by another process for 10 s
{ echo "BEGIN IMMEDIATE;"; echo "INSERT INTO audit(at, actor, action) VALUES (0, 'test', 'lock');";
  sleep 10; echo "COMMIT;"; } | sqlite3 "$DB" &
LOCK=$!
PIDS+=("$LOCK")
N0=$(ended)
sleep 0.5
calls_during_fault "database locked" "database is locked" database_busy
wait "$LOCK"
after_fault "database locked"

# --- full: the database on a small tmpfs, filled up
MNT=$(mktemp -d /tmp/sedge-full.XXXXXX)
if mount -t tmpfs -o size=4m,mode=0700 tmpfs "$MNT" 2>/dev/null; then
    trap 'cleanup; umount "$MNT" 2>/dev/null; rmdir "$MNT"' EXIT
    stop_sedge locked
    DB=$MNT/sedge.db
    sed -i "s|^database = .*|database = \"$DB\";|" "$T/sedge.conf"
    sedge_cli init >/dev/null || fail "init on tmpfs"
    sedge_cli user add alice --password pw >/dev/null || fail "user add on tmpfs"
    ADMIN=$(sedge_cli token add --role admin 2>/dev/null) || fail "token add on tmpfs"
    AUTH=(-H "Authorization: Bearer $ADMIN")
    sedge_start
    N0=$(ended)
    dd if=/dev/zero of="$MNT/filler" bs=64k 2>/dev/null
    calls_during_fault "disk full" "database or disk is full" database_unavailable
    rm -f "$MNT/filler"
    after_fault "disk full"
else
    rmdir "$MNT"
    echo "note: cannot mount a tmpfs here (not root?): the disk-full case is not tested"
fi

# --- deleted while running
rm -f "$DB" "$DB-wal" "$DB-shm"
wait_log "database $DB was deleted or replaced" 5 || fail "deletion not logged"
req GET /readyz
[ "$CODE" = 503 ] && grep -q 'deleted or replaced' "$T/body" || fail "/readyz after deletion: $CODE $(cat "$T/body")"
req GET /healthz; [ "$CODE" = 200 ] || fail "/healthz after deletion: $CODE"
req POST /v1/admin/users "${AUTH[@]}" "${CT[@]}" -d '{"name": "bob", "password": "pw-bob"}'
[ "$CODE" = 503 ] && grep -q '"database_unavailable"' "$T/body" ||
    fail "admin write after deletion: $CODE $(cat "$T/body")"
[ "$(metric sedge_database_ok)" = 0 ] || fail "sedge_database_ok is not 0 after deletion"
ok "deleted database: logged, /readyz 503, admin write 503 database_unavailable, sedge_database_ok 0"
uclient -n 5 -l 100 -z 20 -m 2 -u alice -w pw -c || fail "uclient after deletion"
[ "$(metric sedge_session_events_pending)" -ge 2 ] || fail "session events not kept after deletion"
stop_sedge deleted
grep -Eq "sessions: [0-9]+ session events could not be written \(database .* was deleted or replaced" \
    "$T/sedge-deleted.log" || fail "events left at exit not reported"
ok "after deletion, session events are kept (pending), then reported lost at exit"

# --- a restart never creates a fresh, empty database on its own
out=$(timeout 10 "$SEDGE_BIN" serve --config "$T/sedge.conf" 2>&1) && fail "serve started without its database"
{ echo "$out" | grep -q "does not exist" && echo "$out" | grep -q "sedge init"; } || fail "unclear message: $out"
[ -e "$DB" ] && fail "serve created a database"
ok "serve refuses a missing database: $(echo "$out" | tail -1)"
out=$(sedge_cli user list 2>&1) && fail "user list ran without a database"
{ echo "$out" | grep -q "does not exist" && echo "$out" | grep -q "sedge init"; } || fail "unclear CLI message: $out"
[ -e "$DB" ] && fail "the CLI created a database"
ok "the CLI refuses a missing database too"
sedge_cli init >"$T/init.out" 2>&1 || fail "sedge init: $(cat "$T/init.out")"
[ "$(sedge_cli user list | wc -l)" = 1 ] || fail "a fresh database is not empty"
sedge_cli init >"$T/init.out" 2>&1 || fail "sedge init on an existing database: $(cat "$T/init.out")"
grep -q "already exists" "$T/init.out" || fail "second init: $(cat "$T/init.out")"
ok "sedge init creates the database once; a second init leaves it as it is"
