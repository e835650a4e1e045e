#!/usr/bin/python3
"""bench/report.py RESULTS - the table of bench/bench_turn.sh.

RESULTS holds one line per measurement: "key=value ..." with server, cfg,
run and phase (written by bench_turn.sh from loadgen's output). Every
figure is the median over runs. Ratios are sedge/coturn (for latency,
RSS and loss: lower is better, so the ratio should be <= 1) and
sedge/plain forwarder.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import results  # noqa: E402

rows = results.load(sys.argv[1])


def med(cfg, server, phase, key):
    return results.median(rows, cfg, server, phase, key)


def fmt(v, unit=""):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}{unit}"
    if abs(v) >= 10:
        return f"{v:.0f}{unit}"
    return f"{v:.2f}{unit}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}x"


def n_runs(cfg, server, phase):
    return len(rows.get((cfg, server, phase), []))


METRICS = [
    # label, phase, key
    ("pkts/CPU-s saturating (primary)", "sat", "pkts_per_cpu_s"),
    ("relayed pkts/s saturating", "sat", "relayed_per_s"),
    ("loss % saturating", "sat", "loss_pct"),
    ("garbled datagrams saturating", "sat", "bad"),
    ("RTT p50 us saturating", "sat", "rtt_p50_us"),
    ("RTT p99 us saturating", "sat", "rtt_p99_us"),
    ("pkts/CPU-s paced", "paced", "pkts_per_cpu_s"),
    ("loss % paced", "paced", "loss_pct"),
    ("RTT p50 us paced", "paced", "rtt_p50_us"),
    ("RTT p99 us paced", "paced", "rtt_p99_us"),
    ("allocations/s (auth incl.)", "alloc", "allocs_per_s"),
    ("allocations failed", "alloc", "failed"),
    ("peak RSS KiB", "sat", "hwm_kib"),
    ("RSS per allocation B", "mem", "per_alloc_bytes"),
]

cfgs = sorted({k[0] for k in rows},
              key=lambda c: (c.split("-")[0] != "udp", c.split("-")[0],
                             int(c.split("-")[1]), int(c.split("-")[2])))
hdr = f"{'config':<18} {'figure':<33} {'sedge':>10} {'coturn':>10} {'s/c':>7} {'plain':>10} {'s/plain':>8}"
print()
print(hdr)
print("-" * len(hdr))
for cfg in cfgs:
    first = True
    for label, phase, key in METRICS:
        s, c, p = (med(cfg, srv, phase, key) for srv in ("sedge", "coturn", "plain"))
        if s is None and c is None:
            continue
        if cfg.startswith("uclient") or (cfg.endswith("-10000-160") and phase in ("sat",)):
            continue
        print(f"{cfg if first else '':<18} {label:<33} {fmt(s):>10} {fmt(c):>10} {ratio(s, c):>7} "
              f"{fmt(p):>10} {ratio(s, p) if p is not None else '-':>8}")
        first = False
    if cfg.startswith("uclient"):
        for label, key in (("pkts/CPU-s (turnutils_uclient)", "pkts_per_cpu_s"),
                           ("loss %", "loss_pct"), ("RTT avg ms", "rtt_avg_ms")):
            s, c = med(cfg, "sedge", "uclient", key), med(cfg, "coturn", "uclient", key)
            print(f"{cfg if first else '':<18} {label:<33} {fmt(s):>10} {fmt(c):>10} {ratio(s, c):>7}")
            first = False
    print()
runs = max((len(v) for v in rows.values()), default=0)
print(f"medians of {runs} run(s); s/c = sedge/coturn, s/plain = sedge/plain forwarder")

# Targets of issue #7.
print("\ntargets:")
ok_all = True
for cfg in cfgs:
    t, n, length = cfg.split("-")
    if t != "udp" or n not in ("100", "1000"):
        continue
    s, c, p = (med(cfg, srv, "sat", "pkts_per_cpu_s") for srv in ("sedge", "coturn", "plain"))
    if None in (s, c):
        continue
    r = s / c
    rp = s / p if p else None
    good = r >= 2.5 and (rp is None or rp >= 0.8)
    ok_all &= good
    print(f"  {cfg:<16} pkts/CPU-s {r:.2f}x coturn (>= 2.5), "
          f"{(rp or 0) * 100:.0f}% of plain (>= 80%): {'ok' if good else 'MISSED'}")
    sl, pl = med(cfg, "sedge", "paced", "loss_pct"), med(cfg, "plain", "paced", "loss_pct")
    if sl is not None and pl is not None:
        good = not (pl == 0 and sl > 0)
        ok_all &= good
        print(f"  {cfg:<16} paced loss sedge {sl:.3f}% plain {pl:.3f}%: {'ok' if good else 'MISSED'}")
    s99, c99 = med(cfg, "sedge", "paced", "rtt_p99_us"), med(cfg, "coturn", "paced", "rtt_p99_us")
    if s99 is not None and c99 is not None:
        good = s99 <= c99
        ok_all &= good
        print(f"  {cfg:<16} paced p99 sedge {s99:.0f} us coturn {c99:.0f} us: {'ok' if good else 'MISSED'}")
big = [c for c in cfgs if c.endswith("-10000-160")]
for cfg in big:
    sb, cb = med(cfg, "sedge", "mem", "per_alloc_bytes"), med(cfg, "coturn", "mem", "per_alloc_bytes")
    sf = med(cfg, "sedge", "alloc", "failed")
    sa, ca = med(cfg, "sedge", "alloc", "allocs_per_s"), med(cfg, "coturn", "alloc", "allocs_per_s")
    if sb is not None:
        good = sb <= 1024 and sf == 0
        ok_all &= good
        print(f"  {cfg:<16} RSS/allocation sedge {sb:.0f} B (<= 1024), failed {sf:.0f}: {'ok' if good else 'MISSED'}")
    if sa is not None and ca is not None:
        good = sa >= ca
        ok_all &= good
        print(f"  {cfg:<16} allocations/s sedge {sa:.0f} coturn {ca:.0f}: {'ok' if good else 'MISSED'}")
print("all targets hold" if ok_all else "some targets missed (see above)")
