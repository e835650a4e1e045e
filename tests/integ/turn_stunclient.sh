#!/bin/bash
# turnutils_stunclient: a plain Binding request answered with the client's
# own address in XOR-MAPPED-ADDRESS, over UDP.
. "$(dirname "$0")/../lib/sedge.sh"
command -v turnutils_stunclient >/dev/null || skip "coturn client tools not installed"
write_config
sedge_start
out=$(timeout 10 turnutils_stunclient -p "$PORT" 127.0.0.1 2>&1) || { echo "$out"; fail "stunclient"; }
echo "$out" | grep -qE 'UDP reflexive addr: 127\.0\.0\.1:[0-9]+' || { echo "$out"; fail "no reflexive address"; }
ok "binding answered: $(echo "$out" | grep -oE 'UDP reflexive addr: [0-9.:]+')"
