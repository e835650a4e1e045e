#!/bin/bash
# Drain (issue 14): SIGTERM during a call.
#   A: drain = { timeout = 6; idle = 2; alternate = "127.0.0.9:3478"; }.
#      A call relays ChannelData to a peer and back every 20 ms; an idle
#      allocation sits beside it. After SIGTERM: /readyz answers 503 while
#      /healthz still answers (the control loop runs), a new Allocate gets
#      300 with ALTERNATE-SERVER 127.0.0.9:3478, the idle allocation's
#      session row ends "drained (idle)" within a few seconds, the call
#      keeps flowing without loss until drain.timeout, then sedge exits 0
#      with every session row closed.
#   B: no alternate: an Allocate during the drain gets 508; a second
#      SIGTERM stops at once, exit 0.
#   C: no calls: SIGTERM -> exit 0 within a second.
. "$(dirname "$0")/../lib/sedge.sh"

API_PORT=$((BASE + 3))
API="https://127.0.0.1:$API_PORT"
start_case() { # extra config lines...
    write_config "api = { address = \"127.0.0.1\"; port = $API_PORT; turn_host = \"127.0.0.1\"; };" "$@"
    sedge_cli user add alice --password pw >/dev/null 2>&1 || true
    : >"$T/sedge.log"
    sedge_start
}
# exit_wait SECONDS: wait for sedge to exit; sets CODE (its exit code, or
# "timeout"). Not in a subshell: only this shell can wait for its child.
exit_wait() {
    local i
    CODE=timeout
    for ((i = 0; i < $1 * 20; i++)); do
        if ! kill -0 "$SEDGE_PID" 2>/dev/null; then
            wait "$SEDGE_PID"
            CODE=$?
            return
        fi
        sleep 0.05
    done
}
readyz() { curl -sk -o /dev/null -w '%{http_code}' --max-time 3 "$API/readyz"; }
healthz() { curl -sk -o /dev/null -w '%{http_code}' --max-time 3 "$API/healthz"; }

cat >"$T/call.py" <<'PY'
# call.py LIB PORT PEER_PORT SECONDS STATUSFILE: a call (ChannelData to a
# UDP peer in this process, echoed back) plus an idle allocation; runs
# SECONDS, then prints sent/echoed per phase (before/after the file
# $STATUSFILE.term appears) and the longest gap between echoes.
import os, socket, struct, sys, threading, time
sys.path.insert(0, sys.argv[1])
import turnc
port, peer_port, secs, status = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
srv = ("127.0.0.1", port)
peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
peer.bind(("127.0.0.1", peer_port))
peer.settimeout(0.2)
def echo():
    while True:
        try:
            d, a = peer.recvfrom(2048)
        except socket.timeout:
            continue
        except OSError:
            return
        peer.sendto(d, a)
threading.Thread(target=echo, daemon=True).start()
idle = turnc.Client("udp", srv, bind="127.0.0.1")
r = idle.allocate("alice", "pw")
assert r is not None and r.cls == turnc.SUCCESS, r
c = turnc.Client("udp", srv, bind="127.0.0.1")
r = c.allocate("alice", "pw")
assert r is not None and r.cls == turnc.SUCCESS, r
r = c.channel_bind(0x4000, "127.0.0.1", peer_port)
assert r is not None and r.cls == turnc.SUCCESS, r
open(status + ".up", "w").close()
stats = {"before": [0, 0], "after": [0, 0]}
phase_of, echoed = {}, set()
gap, last = 0.0, time.monotonic()
end = time.monotonic() + secs
seq = 0
# Until SECONDS pass or no echo came for 1 s (sedge has gone).
while time.monotonic() < end and time.monotonic() - last < 1.0:
    phase = "after" if os.path.exists(status + ".term") else "before"
    seq += 1
    phase_of[seq] = phase
    c.channel_data(0x4000, struct.pack("!I", seq) + b"m" * 156)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 0.02:
        raw = c.recv_raw(0.02)
        if raw and raw[0] >= 0x40 and len(raw) >= 8:
            n = struct.unpack("!I", raw[4:8])[0]
            echoed.add(n)
            now = time.monotonic()
            gap, last = max(gap, now - last), now
        elif raw is None:
            break
top = max(echoed) if echoed else 0
for n in range(1, top + 1):  # what was sent while sedge still relayed
    stats[phase_of[n]][0] += 1
    stats[phase_of[n]][1] += n in echoed
print("before sent=%d echoed=%d after sent=%d echoed=%d gap=%.2f" %
      (*stats["before"], *stats["after"], gap))
PY

# ---------- A ----------
start_case 'drain = { timeout = 6; idle = 2; alternate = "127.0.0.9:3478"; };'
[ "$(readyz)" = 200 ] || fail "A: /readyz before the drain"
$PY "$T/call.py" "$SEDGE_ROOT/tests/lib" "$PORT" "$PEER_PORT" 9 "$T/st" >"$T/call.out" 2>&1 &
CALL=$!
for _ in $(seq 50); do [ -f "$T/st.up" ] && break; sleep 0.1; done
[ -f "$T/st.up" ] || { cat "$T/call.out"; fail "A: the call did not come up"; }
sleep 1
live=$(sedge_cli sessions --live --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$live" = 2 ] || fail "A: $live live sessions before the drain, expected 2"
T0=$(date +%s.%N)
kill -TERM "$SEDGE_PID"
touch "$T/st.term"
sleep 0.3
[ "$(readyz)" = 503 ] || fail "A: /readyz is not 503 while draining"
[ "$(healthz)" = 200 ] || fail "A: /healthz does not answer while draining (control loop stopped?)"
ok "A: draining: /readyz 503, /healthz 200"
out=$($PY - "$SEDGE_ROOT/tests/lib" "$PORT" <<'PY'
import sys, struct
sys.path.insert(0, sys.argv[1])
import turnc
c = turnc.Client("udp", ("127.0.0.1", int(sys.argv[2])), bind="127.0.0.1")
r = c.allocate("alice", "pw")
alt = r.attr(0x8023) if r is not None else None
if alt:
    fam, port = alt[1], struct.unpack("!H", alt[2:4])[0]
    alt = "%s:%d" % (".".join(str(b) for b in alt[4:8]), port)
print("code=%s alternate=%s integrity=%s" % (r.code if r else None, alt,
      r.attr(0x0008) is not None if r else None))
PY
)
[ "$out" = "code=300 alternate=127.0.0.9:3478 integrity=True" ] ||
    fail "A: Allocate while draining: $out (expected 300 with ALTERNATE-SERVER, authenticated)"
ok "A: new Allocate: $out"
wait_log 'reason=drained \(idle\)|drained \(idle\)' 5 || fail "A: the idle allocation was not ended"
ok "A: the idle allocation ended at once ($(grep -c 'drained (idle)' "$T/sedge.log") log line)"
exit_wait 10; code=$CODE
T1=$(date +%s.%N)
wait "$CALL" 2>/dev/null
cat "$T/call.out"
[ "$code" = 0 ] || fail "A: exit code $code, expected 0"
took=$($PY -c "print(round($T1 - $T0, 1))")
$PY -c "import sys; sys.exit(0 if 5.0 <= $took <= 8.5 else 1)" ||
    fail "A: exited after ${took}s, expected about drain.timeout (6 s)"
read -r bs be as ae gap < <(sed -nE 's/before sent=([0-9]+) echoed=([0-9]+) after sent=([0-9]+) echoed=([0-9]+) gap=([0-9.]+)/\1 \2 \3 \4 \5/p' "$T/call.out")
[ -n "${as:-}" ] || fail "A: no call figures"
# The call flowed through the drain: ~6 s at up to 50 packets/s, none
# lost up to the last echo (what was in flight at the exit is not counted).
[ "$ae" -ge 200 ] || fail "A: only $ae echoes during the drain"
[ "$ae" = "$as" ] && [ "$be" = "$bs" ] || fail "A: packets lost: before $be/$bs, during the drain $ae/$as"
ok "A: the call kept flowing: $ae of $as echoed during the drain (${took}s, exit 0)"
open=$(sedge_cli sessions --json | $PY -c 'import json,sys; s=json.load(sys.stdin); print(sum(1 for x in s if not x["ended"]), sorted(set(x["end_reason"] for x in s)))')
[[ "$open" == "0 "* ]] || fail "A: session rows left open: $open"
ok "A: every session row closed: $open"

# ---------- B ----------
PIDS=()
start_case 'drain = { timeout = 30; };'
$PY "$T/call.py" "$SEDGE_ROOT/tests/lib" "$PORT" "$PEER_PORT" 4 "$T/sb" >"$T/callb.out" 2>&1 &
CALLB=$!
for _ in $(seq 50); do [ -f "$T/sb.up" ] && break; sleep 0.1; done
[ -f "$T/sb.up" ] || { cat "$T/callb.out"; fail "B: the call did not come up"; }
kill -TERM "$SEDGE_PID"
sleep 0.3
out=$($PY - "$SEDGE_ROOT/tests/lib" "$PORT" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import turnc
c = turnc.Client("udp", ("127.0.0.1", int(sys.argv[2])), bind="127.0.0.1")
r = c.allocate("alice", "pw")
print("code=%s alternate=%s" % (r.code if r else None, r.attr(0x8023) is not None if r else None))
PY
)
[ "$out" = "code=508 alternate=False" ] || fail "B: Allocate while draining without drain.alternate: $out"
ok "B: $out"
kill -0 "$SEDGE_PID" 2>/dev/null || fail "B: sedge did not wait for the live call"
kill -TERM "$SEDGE_PID"
exit_wait 2; code=$CODE
[ "$code" = 0 ] || fail "B: a second SIGTERM: exit $code (expected 0 within 2 s)"
ok "B: a second SIGTERM stopped it at once, exit 0"
wait "$CALLB" 2>/dev/null

# ---------- C ----------
PIDS=()
start_case
T0=$(date +%s.%N)
kill -TERM "$SEDGE_PID"
exit_wait 3; code=$CODE
T1=$(date +%s.%N)
took=$($PY -c "print(round($T1 - $T0, 2))")
[ "$code" = 0 ] || fail "C: exit $code"
$PY -c "import sys; sys.exit(0 if $took <= 1.0 else 1)" || fail "C: with no calls exit took ${took}s (> 1 s)"
ok "C: no calls: exit 0 after ${took}s"
