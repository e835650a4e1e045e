#!/bin/bash
# Relayed transport addresses are not predictable (issue 11, item 8; RFC
# 8656 §7.2 and RFC 6056): 40 allocations in a row, each deleted before
# the next, must get ports spread over the range in no visible order.
# A sequential or fixed-stride allocator gives the same step between
# consecutive ports every time; random ports almost never repeat a step.
. "$(dirname "$0")/../lib/sedge.sh"
write_config
sedge_cli user add alice --password pw-alice >/dev/null || fail "user add"
sedge_start

$PY - "$PORT" "$RELAY_MIN" "$RELAY_MAX" <<'EOF' || fail "relay ports are predictable"
import collections, os, sys
sys.path.insert(0, os.environ["SEDGE_ROOT"] + "/tests/lib")
import turnc
port, lo, hi = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = hi - lo + 1
ports = []
for i in range(40):
    c = turnc.Client("udp", ("127.0.0.1", port), bind="127.0.0.1")
    r = c.allocate("alice", "pw-alice")
    assert r is not None and r.cls == turnc.SUCCESS, r
    ports.append(turnc.relay_of(r)[1])
    assert c.refresh(0).cls == turnc.SUCCESS
    c.close()
print("ports in allocation order:", ports)
assert all(lo <= p <= hi for p in ports), "port outside the range"
steps = [(b - a) % rng for a, b in zip(ports, ports[1:])]
step, count = collections.Counter(steps).most_common(1)[0]
print("most common step %d, %d of %d times" % (step, count, len(steps)))
# Random ports in a 200-port range: the most common of 39 steps repeats
# about 2-3 times; 8 is far beyond chance (p < 1e-6) and far below what
# any sequence with a pattern gives (39).
assert count < 8, "consecutive ports follow a fixed step"
spread = max(ports) - min(ports)
assert spread > rng // 2, "ports bunched in %d of %d" % (spread, rng)
increasing = sum(1 for a, b in zip(ports, ports[1:]) if b > a)
assert 6 <= increasing <= 33, "ports mostly ascending or descending (%d of 39 up)" % increasing
EOF
ok "40 relay ports in a row show no order"
