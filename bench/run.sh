#!/bin/bash
# bench/run.sh - run every benchmark (bench/bench_*.sh) and print its table.
# Benchmarks are not tests: they print figures and exit 0 unless they broke.
set -u
cd "$(dirname "$0")/.."
rc=0
for b in bench/bench_*.sh; do
    [ -f "$b" ] || continue
    echo "=== $b"
    bash "$b" || rc=1
done
exit $rc
