#!/bin/bash
# turnutils_uclient (coturn's client) through sedge over UDP, TCP and TLS,
# with long-term users and TURN REST secrets, channels and Send/Data,
# EVEN-PORT reservations; the echo peer is turnutils_peer. Every run must
# be lossless and every allocation must be logged with its byte counts.
. "$(dirname "$0")/../lib/sedge.sh"
command -v turnutils_uclient >/dev/null || skip "coturn client tools not installed"

write_config
sedge_cli user add alice --password 'correct horse' >/dev/null || fail "user add"
sedge_cli secret add 'rest-secret-0123' >/dev/null || fail "secret add"
sedge_start
peer_start

C="-n 40 -l 160 -z 5 -m 3"
uclient $C -u alice -w 'correct horse' -c;              uclient_lossless "udp long-term channels"
uclient $C -u alice -w 'correct horse' -c -s;           uclient_lossless "udp long-term send/data indications"
uclient $C -u alice -w 'correct horse';                 uclient_lossless "udp EVEN-PORT + RESERVATION-TOKEN"
uclient $C -u alice -w 'correct horse' -c -t;           uclient_lossless "tcp long-term"
uclient $C -u alice -w 'correct horse' -c -t -S -p "$TLS_PORT"; uclient_lossless "tls long-term"
uclient $C -u bob -W 'rest-secret-0123' -c;             uclient_lossless "udp REST credential"
uclient $C -u bob -W 'rest-secret-0123' -c -t -S -p "$TLS_PORT"; uclient_lossless "tls REST credential"
uclient -n 40 -l 1200 -z 5 -m 2 -u alice -w 'correct horse' -c; uclient_lossless "udp 1200-byte payloads"
uclient -n 40 -l 160 -z 5 -m 2 -y -g -u alice -w 'correct horse' -c; uclient_lossless "client to client through two allocations, DONT-FRAGMENT"

# IPv6 relayed addresses (REQUESTED-ADDRESS-FAMILY) toward an IPv6 peer.
turnutils_peer -L ::1 -p "$PEER_PORT" >"$T/peer6.log" 2>&1 &
PIDS+=("$!")
sleep 0.3
timeout 60 turnutils_uclient -p "$PORT" -x -e ::1 -r "$PEER_PORT" $C -u alice -w 'correct horse' -c \
    127.0.0.1 >"$T/uclient.log" 2>&1
uclient_lossless "udp client, IPv6 relayed address and peer"
wait_log 'allocation start user=alice client=udp:127.0.0.1:[0-9]+ relay=\[::1\]:[0-9]+' 2 ||
    fail "no IPv6 relayed address logged"

# The log tells who relayed what: user, client, relay, peers, bytes each way.
wait_log 'allocation end user=alice client=tls:127.0.0.1:[0-9]+ relay=127.0.0.2:[0-9]+ peers=127.0.0.1 reason=' 5 ||
    fail "no allocation end line for a TLS client"
line=$(grep -E 'allocation end user=alice client=udp:.* peers=127.0.0.1 ' "$T/sedge.log" | head -1)
[[ "$line" =~ from_client=([0-9]+)/([0-9]+)\ to_client=([0-9]+)/([0-9]+) ]] || fail "no byte counts: $line"
[ "${BASH_REMATCH[1]}" = 6400 ] && [ "${BASH_REMATCH[2]}" = 40 ] || fail "from_client counts: $line"
[ "${BASH_REMATCH[3]}" = 6400 ] && [ "${BASH_REMATCH[4]}" = 40 ] || fail "to_client counts: $line"
ok "allocation log carries user, addresses and exact byte/packet counts"
grep -q 'user=[0-9]*:bob ' "$T/sedge.log" || fail "REST user not logged"
ok "REST allocations logged with their expiry:user name"
