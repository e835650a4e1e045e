#!/bin/bash
# log_format = "json": every line sedge writes is one JSON object a SIEM
# can ingest (time, level, msg), including the access line per allocation
# end, with hostile client bytes still escaped inside msg; SIGHUP switches
# the format back to text; a bad value is refused with its line.
. "$(dirname "$0")/../lib/sedge.sh"
command -v turnutils_uclient >/dev/null || skip "coturn client tools not installed"

write_config 'log_format = "json";' 'limits = { drain_timeout = 1; };'
sedge_cli user add alice --password pw-alice >/dev/null || fail "user add"
sedge_start
peer_start
uclient -u alice -w pw-alice -n 5 -m 1 -c -y || true
# A USERNAME with a CR/LF and a quote: must stay inside one msg.
$PY - "$SEDGE_ROOT/tests/lib" "$PORT" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import turnc
c = turnc.Client("udp", ("127.0.0.1", int(sys.argv[2])))
c.allocate(b'ev"il\r\n{"level":"error"}', "x")
PY
wait_log '"msg":"allocation end' 10 || fail "no allocation end line in JSON"
$PY - "$T/sedge.log" <<'PY' || fail "a log line is not one JSON object"
import json, sys
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    o = json.loads(line)
    assert set(o) == {"time", "level", "msg"}, o
    assert o["level"] in ("error", "warn", "info", "debug"), o
    assert o["time"].endswith("Z") and len(o["time"]) == 24, o
    n += 1
assert n >= 5, n
print(f"{n} lines, each one JSON object")
PY
grep -q 'ev\\"il\\\\x0d\\\\x0a' "$T/sedge.log" || fail "hostile USERNAME not escaped inside msg"
ok "log_format json: every line parses, hostile bytes escaped inside msg"

sed -i 's/^log_format = "json";/log_format = "text";/' "$T/sedge.conf"
kill -HUP "$SEDGE_PID"
wait_log '^[0-9T:.-]+Z (info|warn) ' 5 || fail "SIGHUP did not switch back to text"
ok "SIGHUP switches to text"

sed -i 's/^log_format = "text";/log_format = "xml";/' "$T/sedge.conf"
out=$("$SEDGE_BIN" check-config --config "$T/sedge.conf" 2>&1) && fail "log_format xml accepted"
echo "$out" | grep -q "log_format: must be text or json" || fail "unclear message: $out"
ok "bad log_format refused: $out"
