#!/bin/bash
# The database holds TURN REST secrets in clear and every user's keys:
#
#   sedge init   creates it owner-only (file 0600, missing dirs 0700) under
#                the usual umask 022, and SQLite's -wal/-shm follow;
#   serve, CLI   refuse a database (or its -wal/-shm/-journal) that group
#                or others may read or write, naming the file, its mode and
#                the chmod that fixes it (as sshd does with host keys).
. "$(dirname "$0")/../lib/sedge.sh"
umask 022

mode() { stat -c %a "$1"; }
NO_INIT=1 write_config
sed -i "s|^database = .*|database = \"$T/data/sub/sedge.db\";|" "$T/sedge.conf"
sedge_cli init >/dev/null || fail "sedge init"
[ "$(mode "$T/data/sub/sedge.db")" = 600 ] || fail "database created $(mode "$T/data/sub/sedge.db")"
[ "$(mode "$T/data/sub")" = 700 ] && [ "$(mode "$T/data")" = 700 ] ||
    fail "directories created $(mode "$T/data") $(mode "$T/data/sub")"
ok "sedge init under umask 022: database 0600, new directories 0700"

sedge_cli user add alice --password pw >/dev/null || fail "user add"
sedge_start
for f in "$T/data/sub/sedge.db" "$T/data/sub/sedge.db-wal" "$T/data/sub/sedge.db-shm"; do
    [ -e "$f" ] || fail "$f missing while serving"
    [ "$(mode "$f")" = 600 ] || fail "$f is $(mode "$f")"
done
ok "while serving, the database and its -wal/-shm are 0600"
kill -TERM "$SEDGE_PID"
for _ in $(seq 1 100); do kill -0 "$SEDGE_PID" 2>/dev/null || break; sleep 0.1; done

for m in 644 640 604 660; do
    chmod "$m" "$T/data/sub/sedge.db"
    out=$(timeout 10 "$SEDGE_BIN" serve --config "$T/sedge.conf" 2>&1) && fail "serve started on a $m database"
    echo "$out" | grep -q "sedge.db is readable or writable by group or others (mode 0$m)" &&
        echo "$out" | grep -q "chmod 600" || fail "unclear refusal for mode $m: $out"
    out=$(sedge_cli user list 2>&1) && fail "the CLI used a $m database"
    echo "$out" | grep -q "mode 0$m" || fail "unclear CLI refusal for mode $m: $out"
done
ok "serve and the CLI refuse a database with mode 644, 640, 604 or 660"
chmod 600 "$T/data/sub/sedge.db"
for ext in wal shm journal; do
    touch "$T/data/sub/sedge.db-$ext"
    chmod 644 "$T/data/sub/sedge.db-$ext"
    out=$(sedge_cli user list 2>&1) && fail "the CLI used a database with a 644 -$ext"
    echo "$out" | grep -q "sedge.db-$ext is readable" || fail "unclear refusal for -$ext: $out"
    rm -f "$T/data/sub/sedge.db-$ext"
done
ok "a group/world-readable -wal, -shm or -journal is refused too"
sedge_cli user list | grep -q '^alice ' || fail "the 0600 database is not usable again"
ok "back at 0600 the database is used as before"
