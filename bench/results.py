"""bench/results.py - the result lines of the benchmarks, for the report scripts.

A results file holds one "key=value ..." line per measurement with at
least server, cfg, run and phase (bench_turn.sh writes them from
loadgen's output). load() groups them by (cfg, server, phase); median()
is the median of one figure over the runs of a group (None if absent).
"""
import statistics
from collections import defaultdict


def load(path):
    rows = defaultdict(list)  # (cfg, server, phase) -> [dict]
    for line in open(path):
        kv = dict(f.split("=", 1) for f in line.split() if "=" in f)
        if "cfg" in kv and "phase" in kv:
            rows[(kv["cfg"], kv["server"], kv["phase"])].append(kv)
    return rows


def median(rows, cfg, server, phase, key):
    vals = []
    for kv in rows.get((cfg, server, phase), []):
        try:
            vals.append(float(kv[key]))
        except (KeyError, ValueError):
            pass
    return statistics.median(vals) if vals else None
