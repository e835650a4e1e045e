#!/bin/bash
# EVEN-PORT reservations count against the user and the source address
# (issue 11, item 3). A reservation holds a bound port and an fd for 30 s
# (RFC 8656 §7.2); Allocate(EVEN-PORT R=1) + Refresh(0) in a loop used to
# pile them up outside every quota until the port range and the fd table
# were gone. With max_allocations_per_user = 10, max_allocations_per_ip = 16:
#   1. alice's churn stops at 9 live reservations (486: the next Allocate
#      would hold two more, itself and its reservation), and sedge's fd
#      count stays bounded;
#   2. three more users from one address stop at 15 in all, while a client
#      from another address still allocates;
#   3. a reservation is redeemed by its RESERVATION-TOKEN within quota;
#   4. after 30 s the reservations expire and the quota is back.
. "$(dirname "$0")/../lib/sedge.sh"
write_config 'limits = { max_allocations_per_user = 10; max_allocations_per_ip = 16; };'
for u in alice bob carol dave erin; do
    sedge_cli user add $u --password "pw-$u" >/dev/null || fail "user add $u"
done
sedge_start
fds() { ls /proc/"$SEDGE_PID"/fd | wc -l; }
fd0=$(fds)

$PY - "$PORT" <<'EOF' || fail "reservation churn"
import os, struct, sys
sys.path.insert(0, os.environ["SEDGE_ROOT"] + "/tests/lib")
import turnc
port = int(sys.argv[1])

def churn(user, src, n):
    """Allocate(EVEN-PORT R) + Refresh(0), n times; returns (ok, first error)."""
    ok = 0
    for i in range(n):
        c = turnc.Client("udp", ("127.0.0.1", port), bind=src)
        r = c.allocate(user, "pw-" + user, extra=[(turnc.EVEN_PORT, b"\x80")])
        if r is None or r.cls != turnc.SUCCESS:
            c.close()
            return ok, r
        assert r.attr(turnc.RESERVATION_TOKEN), "no RESERVATION-TOKEN"
        assert c.refresh(0).cls == turnc.SUCCESS
        c.close()
        ok += 1
    return ok, None

ok, err = churn("alice", "127.0.0.5", 30)
print("alice: %d reservations, then %r" % (ok, err))
assert ok == 9 and err is not None and err.code == 486, "per-user quota ignores reservations"

total = 0
for u in ("bob", "carol", "dave"):
    ok, err = churn(u, "127.0.0.6", 10)
    total += ok
    if err is not None:
        assert err.code == 486, err
print("bob, carol, dave from one address: %d reservations" % total)
assert total == 15, "per-address quota ignores reservations (%d)" % total

c = turnc.Client("udp", ("127.0.0.1", port), bind="127.0.0.7")
r = c.allocate("erin", "pw-erin", extra=[(turnc.EVEN_PORT, b"\x80")])
assert r is not None and r.cls == turnc.SUCCESS, "another address refused: %r" % r
token, (ip, p) = r.attr(turnc.RESERVATION_TOKEN), turnc.relay_of(r)
# 3. Redeem the token (erin holds 1 allocation + 1 reservation of 10).
d = turnc.Client("udp", ("127.0.0.1", port), bind="127.0.0.7")
r2 = d.allocate("erin", "pw-erin", extra=[(turnc.RESERVATION_TOKEN, token)])
assert r2 is not None and r2.cls == turnc.SUCCESS, r2
assert turnc.relay_of(r2) == (ip, p + 1), "reserved port not given: %r" % (turnc.relay_of(r2),)
print("token redeemed: port %d then %d" % (p, p + 1))
EOF
fd1=$(fds)
echo "sedge fds: $fd0 before, $fd1 after the churn"
[ "$fd1" -lt $((fd0 + 40)) ] || fail "fd count grew from $fd0 to $fd1"
ok "reservations counted against user and address; fds $fd0 -> $fd1"

# 4. 30 s later the reservations are gone and so is their quota.
sleep 31
$PY - "$PORT" <<'EOF' || fail "quota not returned after the reservations expired"
import os, sys
sys.path.insert(0, os.environ["SEDGE_ROOT"] + "/tests/lib")
import turnc
c = turnc.Client("udp", ("127.0.0.1", int(sys.argv[1])), bind="127.0.0.5")
r = c.allocate("alice", "pw-alice", extra=[(turnc.EVEN_PORT, b"\x80")])
assert r is not None and r.cls == turnc.SUCCESS, r
print("alice allocates again after expiry")
EOF
[ "$(fds)" -le "$fd1" ] || fail "fds not released by expiry ($(fds) > $fd1)"
ok "expired reservations give back their quota and fds"
