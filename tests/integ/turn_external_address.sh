#!/bin/bash
# relay.external_address / external_address6 (issue 14): behind a 1:1 NAT
# XOR-RELAYED-ADDRESS must name the public address (with the port the
# relay socket really has) while the socket stays bound to the private
# relay address, and media still flows through it. Bad values are refused
# by check-config with the setting's name.
. "$(dirname "$0")/../lib/sedge.sh"

write_config
sed -i 's|^relay = { address = "127.0.0.2"; address6 = "::1";|relay = { address = "127.0.0.2"; address6 = "::1"; external_address = "203.0.113.7"; external_address6 = "2001:db8::7";|' "$T/sedge.conf"
grep -q 'external_address6 = "2001:db8::7"' "$T/sedge.conf" || fail "config edit"
sedge_cli user add alice --password pw >/dev/null || fail "user add"
sedge_start

out=$($PY - "$SEDGE_ROOT/tests/lib" "$PORT" "$PEER_PORT" <<'PY'
import socket, struct, sys
sys.path.insert(0, sys.argv[1])
import turnc
port, peer_port = int(sys.argv[2]), int(sys.argv[3])
res = []
for fam, fam_code in (("v4", 1), ("v6", 2)):
    c = turnc.Client("udp", ("127.0.0.1", port), bind="127.0.0.1")
    r = c.allocate("alice", "pw", extra=[(turnc.REQUESTED_ADDRESS_FAMILY, bytes([fam_code, 0, 0, 0]))])
    if r is None or r.cls != turnc.SUCCESS:
        print("%s allocate failed: %r" % (fam, r)); sys.exit(1)
    ip, rport = turnc.relay_of(r)
    res.append("%s=%s:%d" % (fam, ip, rport))
    if fam == "v4":
        # Media through the private socket (the NAT would map 203.0.113.7
        # to it): peer -> relay -> client as a Data indication.
        r = c.create_permission(["127.0.0.1"])
        assert r is not None and r.cls == turnc.SUCCESS, r
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", peer_port))
        peer.sendto(b"through-the-nat", ("127.0.0.2", rport))
        got = c.recv_raw(2.0)
        ok = got is not None and b"through-the-nat" in got
        res.append("media=%s" % ("ok" if ok else got))
        res.append("bound=%s" % (rport,))
print(" ".join(res))
PY
) || fail "client: $out"
echo "$out"
v4=$(echo "$out" | grep -oE 'v4=[^ ]+' | cut -d= -f2)
v6=$(echo "$out" | grep -oE 'v6=[^ ]+' | cut -d= -f2)
p4=${v4##*:}
[[ "$v4" == 203.0.113.7:* ]] || fail "XOR-RELAYED-ADDRESS (IPv4) is $v4, expected 203.0.113.7:port"
[[ "$v6" == 2001:db8::7:* ]] || fail "XOR-RELAYED-ADDRESS (IPv6) is $v6, expected [2001:db8::7]:port"
[ "$p4" -ge "$RELAY_MIN" ] && [ "$p4" -le "$RELAY_MAX" ] || fail "advertised port $p4 not in the relay range"
ss -Huan "sport = :$p4" | grep -q '127.0.0.2' || fail "no socket bound to 127.0.0.2:$p4"
echo "$out" | grep -q 'media=ok' || fail "media through the private socket: $out"
ok "advertised $v4 and $v6; socket bound on 127.0.0.2:$p4; media flows"
grep -q "relay=127.0.0.2:$p4" "$T/sedge.log" || fail "the log does not name the bound address"
ok "logs and sessions keep the address the socket is bound to"

bad() { # label, sed expression, expected text
    cp "$T/sedge.conf" "$T/bad.conf"
    sed -i "$2" "$T/bad.conf"
    local out
    out=$("$SEDGE_BIN" check-config --config "$T/bad.conf" 2>&1) && fail "$1: accepted"
    echo "$out" | grep -q -- "$3" || fail "$1: no \"$3\" in: $out"
    ok "$1 refused: $(echo "$out" | grep -o -- "$3.*" | head -1)"
}
bad "not an address" 's|external_address = "203.0.113.7"|external_address = "nat.example"|' \
    'relay.external_address: "nat.example" is not an IP address'
bad "IPv4 as external_address6" 's|external_address6 = "2001:db8::7"|external_address6 = "192.0.2.1"|' \
    'relay.external_address6: "192.0.2.1" is not an IPv6 address'
bad "no relay address of its family" 's|address6 = "::1"; ||' \
    'has no relay address of its family'
bad "a wildcard" 's|external_address = "203.0.113.7"|external_address = "0.0.0.0"|' \
    'must be a real address'
