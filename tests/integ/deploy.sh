#!/bin/bash
# What deploy/ ships, checked the way an admin's tools would check it:
#   - the systemd unit parses cleanly and `systemd-analyze security
#     --offline=true` scores it 3.0 or better (lower is safer);
#   - sedge speaks the service manager's protocol (Type=notify): READY=1
#     only once it serves, WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1
#     when SIGTERM starts the drain; a $NOTIFY_SOCKET nobody reads does
#     not stop it;
#   - `make install DESTDIR=...` lays out the Debian paths with the right
#     modes and never replaces an admin's edited sedge.conf;
#   - the nftables recipe loads in nft's check mode and the Kubernetes
#     manifest parses.
# No systemd runs as PID 1 here, so the notify protocol is checked with a
# listener of our own on a unix datagram socket, as systemd provides it.
. "$(dirname "$0")/../lib/sedge.sh"

UNIT=$SEDGE_ROOT/deploy/systemd/sedge.service

# --- the unit -------------------------------------------------------------
if command -v systemd-analyze >/dev/null; then
    out=$(systemd-analyze security --offline=true "$UNIT" 2>&1) || true
    echo "$out" | grep -Ei "unknown (key|section)|ignoring|failed to parse" &&
        fail "systemd does not understand part of the unit"
    score=$(echo "$out" | sed -nE 's/.*Overall exposure level for [^:]*: ([0-9.]+).*/\1/p')
    [ -n "$score" ] || fail "no exposure score in: $(echo "$out" | tail -n 3)"
    awk -v s="$score" 'BEGIN { exit !(s <= 3.0) }' || fail "exposure $score > 3.0"
    ok "systemd-analyze security: exposure $score (limit 3.0)"
    grep -q '^Type=notify$' "$UNIT" || fail "unit is not Type=notify"
else
    echo "note: systemd-analyze not installed; unit score not checked"
fi

# --- sd_notify ------------------------------------------------------------
write_config 'limits = { drain_timeout = 2; };'
sedge_cli init >/dev/null 2>&1 || true # a database is created only on request
cat >"$T/notify.py" <<'PY'
import socket, sys, time
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(0.2)
end = time.time() + 30
with open(out, "a", buffering=1) as f:
    while time.time() < end:
        try:
            msg = s.recv(4096).decode()
        except socket.timeout:
            continue
        for line in msg.split("\n"):
            f.write("%.3f %s\n" % (time.time(), line))
PY
$PY "$T/notify.py" "$T/notify.sock" "$T/notify.log" &
PIDS+=("$!")
for _ in $(seq 50); do [ -S "$T/notify.sock" ] && break; sleep 0.1; done
[ -S "$T/notify.sock" ] || fail "notify listener did not start"

NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=1000000 "$SEDGE_BIN" serve --config "$T/sedge.conf" \
    >>"$T/sedge.log" 2>&1 &
SEDGE_PID=$!
PIDS+=("$SEDGE_PID")
wait_log "sedge serving" 10 || fail "sedge did not start"
for _ in $(seq 30); do grep -q 'READY=1' "$T/notify.log" 2>/dev/null && break; sleep 0.1; done
grep -q 'READY=1' "$T/notify.log" || fail "no READY=1"
grep -q 'STATUS=serving' "$T/notify.log" || fail "no STATUS line"
sleep 2.2
n=$(grep -c 'WATCHDOG=1' "$T/notify.log")
[ "$n" -ge 3 ] || fail "only $n watchdog pings in ~2.5 s at WATCHDOG_USEC=1 s"
ok "READY=1 after serving, $n watchdog pings in ~2.5 s"
grep -q STOPPING "$T/notify.log" && fail "STOPPING before any signal"
kill -TERM "$SEDGE_PID"
for _ in $(seq 50); do grep -q 'STOPPING=1' "$T/notify.log" && break; sleep 0.1; done
grep -q 'STOPPING=1' "$T/notify.log" || fail "no STOPPING=1 on SIGTERM"
for _ in $(seq 100); do kill -0 "$SEDGE_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SEDGE_PID" 2>/dev/null && fail "sedge still running 10 s after SIGTERM"
wait "$SEDGE_PID"; rc=$?
[ "$rc" -eq 0 ] || fail "exit status $rc after drain"
ok "STOPPING=1 on SIGTERM, exit 0"

# A socket path nobody listens on: warned about, never fatal.
: >"$T/sedge.log"
NOTIFY_SOCKET=$T/nobody.sock "$SEDGE_BIN" serve --config "$T/sedge.conf" >>"$T/sedge.log" 2>&1 &
SEDGE_PID=$!
PIDS+=("$SEDGE_PID")
wait_log "sedge serving" 10 || fail "sedge did not start with a dead NOTIFY_SOCKET"
wait_log "did not take READY=1" 5 || fail "dead NOTIFY_SOCKET not logged"
kill -0 "$SEDGE_PID" || fail "sedge died with a dead NOTIFY_SOCKET"
kill -TERM "$SEDGE_PID"; wait "$SEDGE_PID"
ok "unreachable NOTIFY_SOCKET: warned, kept serving"

# --- make install ---------------------------------------------------------
R=$T/root
make -s -C "$SEDGE_ROOT" install DESTDIR="$R" BUILD="${SEDGE_BIN%/sedge}" >"$T/install.log" 2>&1 ||
    { cat "$T/install.log"; fail "make install"; }
for f in usr/sbin/sedge:755 lib/systemd/system/sedge.service:644 \
         usr/lib/sysusers.d/sedge.conf:644 etc/sedge/sedge.conf:640 etc/sedge:750 \
         usr/share/doc/sedge/admin.md:644 usr/share/sedge/extension/manifest.json:644; do
    p=${f%%:*} want=${f##*:}
    [ -e "$R/$p" ] || fail "make install did not create /$p"
    got=$(stat -c %a "$R/$p")
    [ "$got" = "$want" ] || fail "/$p has mode $got, want $want"
done
"$R/usr/sbin/sedge" --help >/dev/null 2>&1 || "$R/usr/sbin/sedge" help >/dev/null 2>&1 ||
    fail "installed binary does not run"
echo "# edited by the admin" >>"$R/etc/sedge/sedge.conf"
make -s -C "$SEDGE_ROOT" install DESTDIR="$R" BUILD="${SEDGE_BIN%/sedge}" >>"$T/install.log" 2>&1 ||
    fail "second make install"
grep -q "edited by the admin" "$R/etc/sedge/sedge.conf" || fail "make install replaced sedge.conf"
ok "make install: Debian paths and modes; an edited sedge.conf is kept"

# --- firewall recipe and cluster manifest --------------------------------
if command -v nft >/dev/null; then
    nft -c -f "$SEDGE_ROOT/deploy/nftables/sedge.nft" || fail "nft rejects deploy/nftables/sedge.nft"
    ok "nftables recipe passes nft -c"
else
    echo "note: nft not installed; firewall recipe not checked"
fi
$PY - "$SEDGE_ROOT/deploy/kubernetes/sedge.yaml" <<'PY' || fail "kubernetes manifest"
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
kinds = [d["kind"] for d in docs]
assert kinds == ["ConfigMap", "DaemonSet"], kinds
pod = docs[1]["spec"]["template"]["spec"]
c = pod["containers"][0]
assert pod["hostNetwork"] is True
assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
assert "preStop" in c["lifecycle"]
assert pod["securityContext"]["runAsNonRoot"] is True
PY
ok "kubernetes manifest: DaemonSet, hostNetwork, /readyz readiness, preStop drain, non-root"
