#!/bin/bash
# Hostile bytes in names, sent by a raw STUN client over real sockets:
#
#   stunraw.py (127.0.0.1) --UDP/TCP--> sedge 127.0.0.1:$PORT
#     Allocate, USERNAME = "alice\0..." with MESSAGE-INTEGRITY under
#     alice's key: must be refused (401), never matched to "alice" and
#     never read past the stored name (the ASan build aborts on that).
#
# The same client sends CR, LF, ESC and invalid UTF-8 in USERNAME and
# SOFTWARE; the log must keep one line per event with those bytes escaped.
. "$(dirname "$0")/../lib/sedge.sh"
export LC_ALL=C # the log may hold bytes that are not UTF-8 (before escaping)
RAW="$PY $SEDGE_ROOT/tests/lib/stunraw.py"

API_PORT=$((BASE + 3))
write_config "api = { address = \"127.0.0.1\"; port = $API_PORT; turn_host = \"127.0.0.1\"; };"
sedge_cli user add alice --password pw >/dev/null || fail "user add"
sedge_start

alloc() { # USERNAME-HEX [--tcp]
    $RAW allocate 127.0.0.1 "$PORT" --username-hex "$1" --key-user alice --password pw \
        --realm sedge.test "${@:2}" 2>&1
}

out=$(alloc "616c696365")
[ "$out" = success ] || fail "a plain USERNAME alice did not allocate: $out"
ok "raw client allocates as alice (MESSAGE-INTEGRITY computed right)"

for hex in 616c69636500 616c6963650067617262616765 616c696365000000000000000000000000; do
    for tp in "" --tcp; do
        out=$(alloc "$hex" $tp)
        [[ "$out" == "error 401"* ]] || fail "USERNAME $hex ${tp:-udp}: $out (expected 401)"
    done
    ok "USERNAME $hex over udp and tcp -> 401"
done
kill -0 "$SEDGE_PID" 2>/dev/null || fail "sedge died"
out=$(alloc "616c696365")
[ "$out" = success ] || fail "alice after the hostile names: $out"
ok "sedge still serves alice"

# --- log injection: CR, LF, ESC, C1 and invalid UTF-8 from the network
sleep 1.2 # a new second: "auth failed" lines are rate-limited per second
forged=$(printf 'mallory\r\n2026-01-01T00:00:00.000Z info allocation start user=admin\033[2J\377\302\233' |
    od -An -tx1 | tr -d ' \n')
for tp in "" --tcp; do
    out=$($RAW allocate 127.0.0.1 "$PORT" --username-hex "$forged" --key-user mallory --password x \
        --realm sedge.test --software-hex "$(printf 'evil\r\n\033]0;title\007' | od -An -tx1 | tr -d ' \n')" $tp)
    [[ "$out" == "error 401"* ]] || fail "forged USERNAME ${tp:-udp}: $out"
done
# An HTTP request line and header with ESC and a bare CR (logged at debug).
$PY - "$API_PORT" <<'PY' || fail "raw HTTPS request"
import socket, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5))
s.sendall(b"GET /v1/\x1b[31mred\xff HTTP/1.1\r\nHost: x\r\nOrigin: https://a\x1b[2J\r\n\r\n")
print(s.recv(4096).split(b"\r\n")[0].decode())
PY
wait_log 'api: GET /v1/.*-> 404' 5 || fail "no log line for the raw HTTP request"
wait_log 'auth failed: user=mallory' 5 || fail "no auth failure logged"
grep -Fq 'user=mallory\x0d\x0a2026-01-01T00:00:00.000Z info allocation start user=admin\x1b[2J\xff\xc2\x9b from' \
    "$T/sedge.log" || { grep -a 'auth failed' "$T/sedge.log" | cat -v; fail "USERNAME not escaped in the log"; }
grep -Fq 'api: GET /v1/\x1b[31mred\xff -> 404' "$T/sedge.log" || {
    grep -a 'api: GET' "$T/sedge.log" | cat -v; fail "HTTP path not escaped in the log"; }
bad=$(grep -cavE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z (error|warn|info|debug) ' "$T/sedge.log")
[ "$bad" = 0 ] || { grep -navE '^[0-9]{4}-' "$T/sedge.log" | cat -v | head; fail "$bad forged or broken log lines"; }
[ "$(grep -ac $'\033' "$T/sedge.log")" = 0 ] && [ "$(grep -ac $'\r' "$T/sedge.log")" = 0 ] ||
    fail "raw ESC or CR bytes in the log"
iconv -f UTF-8 -t UTF-8 "$T/sedge.log" >/dev/null 2>&1 || fail "the log is not valid UTF-8"
ok "hostile USERNAME, path and header bytes are escaped: every log line is sedge's, valid UTF-8, no ESC/CR"
