#!/bin/bash
# The kernel fast path across real interfaces: client, sedge and peer in
# three network namespaces this test creates (and deletes), joined by veth
# pairs, so offloaded datagrams are redirected from one interface to the
# other (bpf_redirect_neigh) instead of delivered on loopback.
#
#   ns C (client)                 ns S (sedge)                      ns P (peer)
#   10.77.1.2 oc0 <== veth ==> oc1 10.77.1.1      10.77.2.1 op1 <== veth ==> op0 10.77.2.2
#                                  listen :$PORT   relay :$RELAY_MIN..
#
# Twice, with the checksum work placed differently:
#   full     no checksum offload anywhere: every datagram carries a full
#            UDP checksum, which the program must update exactly;
#   partial  the senders (oc0, op0) leave the checksum to the device
#            (CHECKSUM_PARTIAL) and sedge's interfaces do not offload it,
#            so the kernel completes it on the way out of ns S: the
#            program must keep the pseudo-header sum and csum_start right.
# Each time: every IPv4 and UDP checksum arriving in ns C and ns P is
# verified, the transcript equals the user-space path's, and the kernel
# carried the channel (all but the datagrams that do not fit the 1500-byte
# MTU once the ChannelData header is added or that arrive fragmented:
# those take the user-space path, which fragments as it always has).
. "$(dirname "$0")/../lib/sedge.sh"
PROBE=("$PY" "$SEDGE_ROOT/tests/tools/offload_probe.py")
[ "$(id -u)" = 0 ] || skip "network namespaces and relay.offload need root"
command -v ethtool >/dev/null || skip "ethtool not installed (Debian ethtool)"
NS_C=sedge-oc-$$ NS_S=sedge-os-$$ NS_P=sedge-op-$$
netns_cleanup() {
    local n
    for n in "$NS_C" "$NS_S" "$NS_P"; do ip netns del "$n" 2>/dev/null; done
}
trap 'cleanup; netns_cleanup' EXIT
ip netns add "$NS_C" && ip netns add "$NS_S" && ip netns add "$NS_P" ||
    skip "cannot create network namespaces"
in_ns() { ip netns exec "$@"; }
ip link add oc0 netns "$NS_C" type veth peer name oc1 netns "$NS_S" &&
    ip link add op0 netns "$NS_P" type veth peer name op1 netns "$NS_S" || fail "veth pairs"
in_ns "$NS_C" ip addr add 10.77.1.2/24 dev oc0 && in_ns "$NS_S" ip addr add 10.77.1.1/24 dev oc1 &&
    in_ns "$NS_S" ip addr add 10.77.2.1/24 dev op1 && in_ns "$NS_P" ip addr add 10.77.2.2/24 dev op0 ||
    fail "addresses"
for x in "$NS_C oc0" "$NS_S oc1" "$NS_S op1" "$NS_P op0" "$NS_C lo" "$NS_S lo" "$NS_P lo"; do
    set -- $x
    in_ns "$1" ip link set "$2" up || fail "link up $2"
done
csum() { # rx/tx offload of the four ends: client-side senders on|off, sedge's ends on|off
    in_ns "$NS_C" ethtool -K oc0 tx "$1" >/dev/null 2>&1 && in_ns "$NS_P" ethtool -K op0 tx "$1" >/dev/null 2>&1 &&
        in_ns "$NS_S" ethtool -K oc1 tx "$2" >/dev/null 2>&1 && in_ns "$NS_S" ethtool -K op1 tx "$2" >/dev/null 2>&1 ||
        fail "ethtool -K tx"
}

conf() { # offload mode
    [ -f "$T/cert.pem" ] || make_cert
    cat >"$T/sedge.conf" <<CONF
realm = "sedge.test";
database = "$T/sedge.db";
log_level = "debug";
listen = ( { transport = "udp"; address = "10.77.1.1"; port = $PORT; } );
relay = { address = "10.77.2.1"; min_port = $RELAY_MIN; max_port = $RELAY_MAX; offload = "$1"; };
peers = { allow = [ "10.77.0.0/16" ]; };
workers = 2;
limits = { drain_timeout = 1; };
CONF
    "$SEDGE_BIN" init --config "$T/sedge.conf" >/dev/null || fail "sedge init"
}
run() { # name offload: sedge in ns S, one transcript; leaves $T/t-NAME.json, sedge-NAME.log
    local name=$1
    conf "$2"
    ip netns exec "$NS_S" "$SEDGE_BIN" serve --config "$T/sedge.conf" >>"$T/sedge.log" 2>&1 &
    SEDGE_PID=$!
    PIDS+=("$SEDGE_PID")
    wait_log "sedge serving" 10 || fail "$name: sedge did not start"
    timeout 60 "${PROBE[@]}" transcript --server "10.77.1.1:$PORT" --user alice --password pw \
        --bind 10.77.1.2 --peer-ip 10.77.2.2 --client-netns "$NS_C" --peer-netns "$NS_P" \
        --check-client-if oc0 --check-peer-if op0 >"$T/t-$name.json" ||
        fail "$name: transcript: $(cat "$T/t-$name.json")"
    wait_log 'allocation end user=alice ' 3 || fail "$name: allocation did not end"
    kill -TERM "$SEDGE_PID"
    for _ in $(seq 50); do kill -0 "$SEDGE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$SEDGE_PID" 2>/dev/null && fail "$name: sedge did not stop"
    wait "$SEDGE_PID" 2>/dev/null
    mv "$T/sedge.log" "$T/sedge-$name.log"
    $PY - "$T/t-$name.json" <<'PY' || fail "$name: checksums: $(json_checksums "$T/t-$name.json")"
import json, sys
d = json.load(open(sys.argv[1]))
for side, c in d["checksums"].items():
    assert c["udp"] >= 20, (side, c)
    assert c["ip_bad"] == 0 and c["udp_bad"] == 0, (side, c)
    print("  %s: %d UDP datagrams, every checksum right (%d without one)" % (side, c["udp"], c["udp_zero"]))
PY
}
json_checksums() { $PY -c 'import json, sys; print(json.load(open(sys.argv[1])).get("checksums"))' "$1"; }
conf bpf
sedge_cli user add alice --password pw >/dev/null || fail "user add"

csum off off
run user-full off
run bpf-full bpf
fwd=$(grep -oE 'user=alice back in user space .*forwarded [0-9]+/[0-9]+' "$T/sedge-bpf-full.log" | grep -oE '[0-9]+/[0-9]+$')
[ -n "$fwd" ] && [ "${fwd%/*}" -ge 15 ] && [ "${fwd#*/}" -ge 15 ] || fail "full: the kernel forwarded ${fwd:-nothing}"
grep -qE 'relay offload: attached to oc1' "$T/sedge-bpf-full.log" && grep -qE 'relay offload: attached to op1' "$T/sedge-bpf-full.log" ||
    fail "not attached to both veths"
ok "full checksums: the kernel redirected $fwd packets between the veths, checksums right"

csum on off
run bpf-partial bpf
fwd=$(grep -oE 'user=alice back in user space .*forwarded [0-9]+/[0-9]+' "$T/sedge-bpf-partial.log" | grep -oE '[0-9]+/[0-9]+$')
[ -n "$fwd" ] && [ "${fwd%/*}" -ge 15 ] || fail "partial: the kernel forwarded ${fwd:-nothing}"
ok "partial checksums completed on the way out: $fwd packets, checksums right"

for n in bpf-full bpf-partial; do
    $PY - "$T/t-user-full.json" "$T/t-$n.json" <<'PY' || fail "$n differs from the user-space path"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
assert a["relayed_src_ok"] and b["relayed_src_ok"]
for k in ("peer", "client", "sent", "back"):
    assert a[k] == b[k], k
PY
done
ok "peer and client received the same bytes as through the user-space path"
