#!/bin/bash
# Messages at the STUN size limit over TCP and TLS (issue 11, item 1): a
# stream frame may carry 65 552 bytes, so attribute offsets pass 65 535.
# One unauthenticated Binding request with a 65 508-byte comprehension-
# optional attribute and FINGERPRINT (whose value lies at offset 65 536)
# used to crash sedge; so did an Allocate whose 16-byte MESSAGE-
# INTEGRITY-SHA256 lies there (the HMAC ran past the buffer). Each must
# get its proper answer over both stream transports, and sedge must stay
# up and keep serving a normal client.
. "$(dirname "$0")/../lib/sedge.sh"
command -v turnutils_uclient >/dev/null || skip "coturn client tools not installed"
write_config
sedge_cli user add alice --password pw-alice >/dev/null || fail "user add"
sedge_start
peer_start

for tp in tcp tls; do
    port=$PORT; [ $tp = tls ] && port=$TLS_PORT
    $PY - "$tp" "$port" <<'EOF' || fail "$tp: large frames"
import struct, sys
sys.path.insert(0, __import__("os").environ["SEDGE_ROOT"] + "/tests/lib")
import turnc
tp, port = sys.argv[1], int(sys.argv[2])

# 1. Binding, 65 508-byte optional attribute, FINGERPRINT at 65 536.
c = turnc.Client(tp, ("127.0.0.1", port), timeout=5)
m = turnc.Msg(turnc.BINDING).add(0x8030, b"x" * 65508)
data = m.encode(None, True)
assert len(data) == 65540, len(data)
r = c.transact(m)
assert r is not None, "no answer to the 65 540-byte Binding"
assert r.cls == turnc.SUCCESS and r.addr(turnc.XOR_MAPPED_ADDRESS), r
print("%s: 65 540-byte Binding answered: %r" % (tp, r))
# The same connection still works.
r = c.transact(turnc.Msg(turnc.BINDING))
assert r is not None and r.cls == turnc.SUCCESS, r
c.close()

# 2. Allocate with MESSAGE-INTEGRITY-SHA256 (16 bytes) at offset 65 536:
# a nonce first, then a wrong MAC (no password is needed to hit the bug).
c = turnc.Client(tp, ("127.0.0.1", port), timeout=5)
r = c.login("alice", "not-the-password")
assert r is not None and r.code == 401, r
m = turnc.Msg(turnc.ALLOCATE).add(turnc.REQUESTED_TRANSPORT, b"\x11\0\0\0")
c._auth(m)
used = 20 + len(m.body())
fill = 65536 - used - 4 - 4          # value of MI-SHA256 starts at 65 536
m.add(0x8030, b"y" * fill)
m.add(0x001C, b"\0" * 16)            # MESSAGE-INTEGRITY-SHA256
raw = m.encode()
assert len(raw) - 20 <= 0xFFFF, len(raw)
c.send_raw(raw)
r = c.recv_raw(5)
assert r is not None, "no answer to the MI-SHA256 Allocate"
rep = turnc.Reply(r)
assert rep.code == 401, rep
print("%s: %d-byte Allocate with MI-SHA256 at 65 536 answered %d" % (tp, len(raw), rep.code))
EOF
    kill -0 "$SEDGE_PID" 2>/dev/null || fail "$tp: sedge died"
    ok "$tp: messages at the size limit answered, sedge up"
done

uclient -n 20 -l 160 -z 5 -m 1 -u alice -w pw-alice -t -c
uclient_lossless "TCP client after the large frames"
