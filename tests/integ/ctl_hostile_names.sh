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
RAW="$PY $SEDGE_ROOT/tests/lib/stunraw.py"

write_config
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
