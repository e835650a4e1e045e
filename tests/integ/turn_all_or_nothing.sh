#!/bin/bash
# CreatePermission and ChannelBind are all or nothing (issue 11, item 7;
# RFC 8656 §9.2 and §11.2): a request that is refused installs nothing.
# With limits.max_permissions = 2 and limits.max_channels = 1:
#   A  CreatePermission(P3, P4, P5) -> 508, and none of the three exists:
#      CreatePermission(P5) then succeeds, and P3 cannot send to the client;
#   B  ChannelBind(0x4000 -> P5) needing a third permission -> 508, and the
#      channel was not bound: ChannelBind(0x4000 -> P3) then succeeds;
#   C  ChannelBind(0x4001 -> P4) past the channel limit -> 508 without
#      leaving a permission for P4 behind;
#   D  duplicates in one CreatePermission count once.
. "$(dirname "$0")/../lib/sedge.sh"
write_config 'limits = { max_permissions = 2; max_channels = 1; };'
sedge_cli user add alice --password pw-alice >/dev/null || fail "user add"
sedge_start

$PY - "$PORT" <<'EOF' || fail "partial success"
import os, socket, sys
sys.path.insert(0, os.environ["SEDGE_ROOT"] + "/tests/lib")
import turnc
port = int(sys.argv[1])
P3, P4, P5, P6 = "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"

def new_alloc():
    c = turnc.Client("udp", ("127.0.0.1", port), bind="127.0.0.1")
    r = c.allocate("alice", "pw-alice")
    assert r is not None and r.cls == turnc.SUCCESS, r
    return c, turnc.relay_of(r)

def peer_reaches(c, relay, ip):
    """Does a datagram from ip reach the client through the relay?"""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 0))
    s.sendto(b"probe-from-" + ip.encode(), relay)
    got = c.recv_raw(0.5)
    s.close()
    return got is not None and b"probe-from-" + ip.encode() in got

def code(r):
    assert r is not None, "no answer"
    return r.code if r.cls == turnc.ERROR else 0

# A
c, relay = new_alloc()
assert code(c.create_permission([P3, P4, P5])) == 508, "3 permissions over a limit of 2 accepted"
assert not peer_reaches(c, relay, P3), "A: P3 was installed by a refused CreatePermission"
assert code(c.create_permission([P5])) == 0, "A: a refused CreatePermission left permissions behind"
assert code(c.create_permission([P6])) == 0
assert peer_reaches(c, relay, P5) and peer_reaches(c, relay, P6)
print("A: refused CreatePermission installed nothing")

# B
c, relay = new_alloc()
assert code(c.create_permission([P3, P4])) == 0
assert code(c.channel_bind(0x4000, P5, 5000)) == 508, "B: third permission through ChannelBind accepted"
r = c.channel_bind(0x4000, P3, 5000)
assert code(r) == 0, "B: the refused ChannelBind left channel 0x4000 bound: %r" % r
print("B: refused ChannelBind bound no channel")

# C
c, relay = new_alloc()
assert code(c.channel_bind(0x4000, P3, 5000)) == 0
assert code(c.channel_bind(0x4001, P4, 5000)) == 508, "C: second channel over a limit of 1 accepted"
assert not peer_reaches(c, relay, P4), "C: the refused ChannelBind installed a permission"
assert code(c.create_permission([P5])) == 0, "C: permission slot taken by a refused ChannelBind"
print("C: refused ChannelBind installed no permission")

# D
c, relay = new_alloc()
assert code(c.create_permission([P3, P3, P4, P4])) == 0, "D: duplicates counted twice"
print("D: duplicate peers count once")
EOF
kill -0 "$SEDGE_PID" || fail "sedge died"
ok "CreatePermission and ChannelBind are all or nothing"
