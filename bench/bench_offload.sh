#!/bin/bash
# bench/bench_offload.sh - the kernel fast path (relay.offload, issue 15)
# against sedge's user-space path and coturn's best setting, measured as
# machine-wide CPU per relayed packet.
#
# On loopback the kernel's work for a datagram is charged to whichever
# process sent it, so with the fast path the relay's own CPU time is ~0
# and says nothing; every server is therefore measured by the whole
# machine's busy CPU (/proc/stat, all CPUs) under the same generator
# (bench/loadgen, whose own cost is in every figure alike; "direct", the
# generator without any relay, measures that floor), minus the machine's
# background sampled for a second before each run. Paced media
# (1 000 allocations x 50 packets/s = 100 000 relayed packets/s, 160 and
# 1 200 B) and saturation (256 packets in flight), p50/p99 round trip and
# loss. Same knobs as bench_turn.sh (which this runs); docs/benchmark.md
# has the method and the figures.
#
#   bench/bench_offload.sh                       # 3 runs, about 4 minutes
#   BENCH_RUNS=5 BENCH_SECONDS=5 bench/bench_offload.sh
cd "$(dirname "$0")/.." || exit 1
export BENCH_SERVERS=${BENCH_SERVERS:-"direct coturn sedge sedge-bpf"}
export BENCH_CONFIGS=${BENCH_CONFIGS:-"udp:1000:160 udp:1000:1200"}
export BENCH_LOAD_ONLY=1
export BENCH_MACHINE_IDLE=${BENCH_MACHINE_IDLE:-1}
export BENCH_REPORT=bench/report_offload.py
exec bash bench/bench_turn.sh
