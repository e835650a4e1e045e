#!/bin/bash
# Privilege drop (issue 14): `user`/`group` in the configuration.
#   - started as root with user = "nobody", group = "nogroup": every uid
#     and gid of the process is nobody's, no capability is left once it
#     serves (the TLS listener on a port below 1024 was bound with the one
#     it kept), the database and its WAL are the service user's, and TURN
#     works over UDP and over TLS on the privileged port;
#   - a user that does not exist, and root itself, are refused with a
#     clear error (exit 1); started unprivileged as another user, it
#     refuses instead of running as the wrong one;
#   - the fd limit is raised to what the limits need, or a warning gives
#     the figures.
. "$(dirname "$0")/../lib/sedge.sh"

[ "$(id -u)" = 0 ] || skip "needs root to start as root"
getent passwd nobody >/dev/null && getent group nogroup >/dev/null || skip "no nobody/nogroup"

# A privileged port for the TLS listener, free on 127.0.0.1.
LOW=$((600 + $$ % 300))
for _ in $(seq 20); do
    ss -Htln "sport = :$LOW" | grep -q . || break
    LOW=$((LOW + 1))
done
TLS_PORT=$LOW
write_config 'user = "nobody";' 'group = "nogroup";' \
    'limits = { max_allocations = 2000; max_connections = 500; };' 'drain = { timeout = 2; };'
# The service user owns its state (as StateDirectory= would arrange).
chown -R nobody:nogroup "$T"
sedge_cli user add alice --password pw >/dev/null || fail "user add"
chown -R nobody:nogroup "$T"
sedge_start
ok "started: $(grep -o 'running as user [^;]*' "$T/sedge.log")"
st=/proc/$SEDGE_PID/status
uids=$(awk '/^Uid:/ {print $2,$3,$4,$5}' "$st"); gids=$(awk '/^Gid:/ {print $2,$3,$4,$5}' "$st")
[ "$uids" = "65534 65534 65534 65534" ] || fail "Uid: $uids"
[ "$gids" = "65534 65534 65534 65534" ] || fail "Gid: $gids"
groups=$(awk '/^Groups:/ {$1=""; print $0}' "$st" | xargs)
[ -z "$groups" ] || [ "$groups" = 65534 ] || fail "supplementary groups left: $groups"
capeff=$(awk '/^CapEff:/ {print $2}' "$st"); capprm=$(awk '/^CapPrm:/ {print $2}' "$st")
[ "$capeff" = 0000000000000000 ] && [ "$capprm" = 0000000000000000 ] ||
    fail "capabilities left while serving: CapEff=$capeff CapPrm=$capprm"
ok "running as nobody:nogroup, no capabilities (CapEff=$capeff CapPrm=$capprm)"
ss -Htlnp "sport = :$TLS_PORT" | grep -q "pid=$SEDGE_PID" || fail "TLS listener on :$TLS_PORT not bound"
out=$($PY - "$SEDGE_ROOT/tests/lib" "$PORT" "$TLS_PORT" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import turnc
res = []
for tp, port in (("udp", int(sys.argv[2])), ("tls", int(sys.argv[3]))):
    c = turnc.Client(tp, ("127.0.0.1", port), bind="127.0.0.1")
    r = c.allocate("alice", "pw")
    res.append("%s=%s" % (tp, "ok" if r is not None and r.cls == turnc.SUCCESS else r))
    c.close()
print(" ".join(res))
PY
)
[ "$out" = "udp=ok tls=ok" ] || fail "allocations as nobody: $out"
ok "TURN over UDP and over TLS on privileged port $TLS_PORT: $out"
sleep 1.5 # the session rows get written
own=$(stat -c '%U' "$T/sedge.db" "$T/sedge.db-wal" 2>/dev/null | sort -u | xargs)
[ "$own" = nobody ] || fail "database files owned by: $own"
ok "database and WAL owned by nobody"
kill -TERM "$SEDGE_PID"
for _ in $(seq 40); do kill -0 "$SEDGE_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SEDGE_PID" 2>/dev/null && fail "did not stop"

refused() { # label, expected message, config lines...
    local label=$1 want=$2; shift 2
    write_config "$@"
    chown -R nobody:nogroup "$T"
    local out rc
    out=$(timeout 10 "$SEDGE_BIN" serve --config "$T/sedge.conf" 2>&1); rc=$?
    [ "$rc" = 1 ] || fail "$label: exit $rc (expected 1): $out"
    echo "$out" | grep -q -- "$want" || fail "$label: no \"$want\" in: $out"
    ok "$label refused: $(echo "$out" | grep -o -- "$want.*" | head -1)"
}
refused "an unknown user" 'no such user' 'user = "sedge-no-such-user";'
refused "root" 'is root' 'user = "root";'
# Unprivileged already, as someone else than the configured user.
write_config 'user = "daemon";'
chown -R nobody:nogroup "$T"
out=$(timeout 10 setpriv --reuid=nobody --regid=nogroup --clear-groups \
    "$SEDGE_BIN" serve --config "$T/sedge.conf" 2>&1); rc=$?
[ "$rc" = 1 ] && echo "$out" | grep -q 'needs sedge started as root' ||
    fail "started as nobody with user = daemon: exit $rc: $out"
ok "started as nobody with user = daemon: refused"

# ---- the fd limit follows the limits ----
# need = 256 slack + 3000 allocations (x2: dual-stack relay) + 500
# connections = 6756 descriptors.
TLS_PORT=$((BASE + 1))
write_config 'limits = { max_allocations = 3000; max_connections = 500; };'
: >"$T/sedge.log"
prlimit --nofile=1024:$(ulimit -Hn) "$SEDGE_BIN" serve --config "$T/sedge.conf" >>"$T/sedge.log" 2>&1 &
SEDGE_PID=$!; PIDS+=("$SEDGE_PID")
wait_log "sedge serving" 10 || fail "fd: did not start"
soft=$(awk '/^Max open files/ {print $4}' "/proc/$SEDGE_PID/limits")
[ "$soft" -ge 6756 ] || fail "fd: soft limit $soft below the 6756 the limits need"
grep -q 'fd limit raised from 1024' "$T/sedge.log" || fail "fd: no log line for the raise"
ok "fd: soft limit raised from 1024 to $soft ($(grep -o 'fd limit raised from 1024[^)]*)' "$T/sedge.log" | tail -1))"
kill -TERM "$SEDGE_PID"; sleep 0.5
: >"$T/sedge.log"
prlimit --nofile=1024:2048 setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
    "$SEDGE_BIN" serve --config "$T/sedge.conf" >>"$T/sedge.log" 2>&1 &
SEDGE_PID=$!; PIDS+=("$SEDGE_PID")
wait_log "sedge serving" 10 || fail "fd: did not start with a low hard limit"
grep -q 'fd limit 2048 (hard 2048) is below the 6756' "$T/sedge.log" ||
    fail "fd: no warning with the figures: $(grep 'fd limit' "$T/sedge.log")"
ok "fd: hard limit 2048 < 6756: warned with the figures"
kill -TERM "$SEDGE_PID"
