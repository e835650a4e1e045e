#!/bin/bash
# tests/run.sh - run sedge's test suites and print one summary line.
#
#   tests/run.sh [--only unit|fuzz|integ] [PATTERN]
#
# Suites:
#   unit   build/tests/test_*          table-driven unit tests (RFC vectors)
#   fuzz   build/fuzz/fuzz_*           libFuzzer, FUZZ_SECONDS each (default 15), with
#                                      -max_len from tests/fuzz/NAME.options and the
#                                      corpus plus large seeds (tests/fuzz/seeds.py)
#   integ  tests/integ/*.sh, *.py      the real binary with real clients
#
# Each case runs under a timeout with its output in build/test-logs/; a
# failing case prints the tail of its log. Exit status 77 means skipped.
# Environment: SEDGE_BUILD (default build), FUZZ_SECONDS, TEST_TIMEOUT.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BUILD=${SEDGE_BUILD:-build}
export SEDGE_ROOT="$ROOT"
export SEDGE_BIN="$ROOT/$BUILD/sedge"
export SEDGE_TOOLS="$ROOT/$BUILD/tools"
FUZZ_SECONDS=${FUZZ_SECONDS:-15}
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
LOGDIR="$ROOT/$BUILD/test-logs"
mkdir -p "$LOGDIR"

only=""
pattern=""
while [ $# -gt 0 ]; do
    case "$1" in
    --only) only=$2; shift 2 ;;
    *) pattern=$1; shift ;;
    esac
done

passed=0 failed=0 skipped=0
failed_names=()

run_case() { # suite name cmd...
    local suite=$1 name=$2; shift 2
    [ -n "$pattern" ] && [[ "$name" != *$pattern* ]] && return
    local log="$LOGDIR/$suite-$name.log" t0=$SECONDS rc
    timeout --kill-after=10 "$TEST_TIMEOUT" "$@" >"$log" 2>&1 </dev/null
    rc=$?
    local dt=$((SECONDS - t0))
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1)); echo "ok   $suite/$name (${dt}s)"
    elif [ $rc -eq 77 ]; then
        skipped=$((skipped + 1)); echo "skip $suite/$name: $(tail -n 1 "$log")"
    else
        failed=$((failed + 1)); failed_names+=("$suite/$name")
        echo "FAIL $suite/$name (exit $rc, ${dt}s); last lines of $log:"
        tail -n 40 "$log" | sed 's/^/    | /'
    fi
}

if [ -z "$only" ] || [ "$only" = unit ]; then
    for t in "$BUILD"/tests/test_*; do
        [ -x "$t" ] || continue
        run_case unit "$(basename "$t")" "$t"
    done
fi

if [ -z "$only" ] || [ "$only" = fuzz ]; then
    for f in build/fuzz/fuzz_*; do
        [ -x "$f" ] || continue
        n=$(basename "$f"); n=${n#fuzz_}
        work=$(mktemp -d)
        [ -d "tests/fuzz/corpus/$n" ] && cp -r "tests/fuzz/corpus/$n/." "$work/"
        dict=()
        [ -f "tests/fuzz/$n.dict" ] && dict=(-dict="tests/fuzz/$n.dict")
        # Every target declares the largest input its parser really sees
        # (libFuzzer's default is 4 KiB) and gets seeds of that size.
        max_len=$(sed -n 's/^max_len *= *\([0-9]*\)$/\1/p' "tests/fuzz/$n.options" 2>/dev/null)
        if [ -z "$max_len" ]; then
            run_case fuzz "$n" sh -c "echo 'tests/fuzz/$n.options: no max_len'; exit 1"
            rm -rf "$work"
            continue
        fi
        /usr/bin/python3 tests/fuzz/seeds.py "$n" "$work" ||
            { run_case fuzz "$n" sh -c "echo 'tests/fuzz/seeds.py $n failed'; exit 1"; rm -rf "$work"; continue; }
        mkdir -p "$BUILD/fuzz-artifacts"
        # libFuzzer's own exit code for a crash is 77, our "skipped": make it 1.
        run_case fuzz "$n" "$f" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=10 \
            -max_len="$max_len" -error_exitcode=1 -timeout_exitcode=1 \
            -print_final_stats=1 -artifact_prefix="$BUILD/fuzz-artifacts/$n-" "${dict[@]}" "$work"
        rm -rf "$work"
    done
fi

if [ -z "$only" ] || [ "$only" = integ ]; then
    for t in tests/integ/*.sh tests/integ/*.py; do
        [ -f "$t" ] || continue
        case "$t" in *.py) cmd=(/usr/bin/python3 "$t") ;; *) cmd=(bash "$t") ;; esac
        run_case integ "$(basename "${t%.*}")" "${cmd[@]}"
    done
fi

echo
[ ${#failed_names[@]} -gt 0 ] && echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ] && [ $((passed + skipped)) -gt 0 ]
