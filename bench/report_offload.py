#!/usr/bin/python3
"""bench/report_offload.py RESULTS - the table of bench/bench_offload.sh.

CPU per relayed packet for coturn, sedge's user-space path and sedge's
kernel fast path (sedge-bpf), and for "direct" (no relay: the generator
talking to its echo peer, the floor under every figure), two ways: the
whole machine's busy CPU (/proc/stat, all CPUs, minus the background
sampled before each run: the issue's measure, exact on an idle machine),
and the benchmark's own processes (server + generator + ksoftirqd: softirq
work is charged to the task it interrupts on this kernel, so this one
holds on a busy machine). "relay share" is a figure minus direct's: what
the relay itself costs. Loss and round-trip times; medians over runs; the
targets of issue 15.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import results  # noqa: E402

rows = results.load(sys.argv[1])
SERVERS = ["direct", "coturn", "sedge", "sedge-bpf"]


def med(cfg, server, phase, key):
    return results.median(rows, cfg, server, phase, key)


def share(cfg, server, phase, key):
    v, d = med(cfg, server, phase, key), med(cfg, "direct", phase, key)
    return None if v is None or d is None else v - d


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3f}"


def ratio(a, b):
    return "-" if a is None or not b else f"{a / b:.2f}x"


FIGS = [("machine us/pkt, net (issue's)", "machine_net_us_per_pkt", False),
        ("  relay share", "machine_net_us_per_pkt", True),
        ("machine us/pkt, raw", "machine_us_per_pkt", False),
        ("procs us/pkt (srv+gen+softirqd)", "procs_us_per_pkt", False),
        ("  relay share", "procs_us_per_pkt", True),
        ("relayed pkts/s", "relayed_per_s", False),
        ("server pkts/CPU-s (own stat)", "pkts_per_cpu_s", False),
        ("loss %", "loss_pct", False),
        ("RTT p50 us", "rtt_p50_us", False),
        ("RTT p99 us", "rtt_p99_us", False)]
cfgs = sorted({k[0] for k in rows if k[0].startswith("udp-")},
              key=lambda c: (int(c.split("-")[1]), int(c.split("-")[2])))
hdr = (f"{'config':<14} {'phase':<6} {'figure':<32} {'direct':>9} {'coturn':>9} {'sedge':>9} "
       f"{'sedge-bpf':>9} {'bpf/c':>6} {'bpf/s':>6}")
print()
print(hdr)
print("-" * len(hdr))
for cfg in cfgs:
    for phase in ("paced", "sat"):
        first = True
        for label, key, rel in FIGS:
            get = share if rel else med
            d, c, s, b = (get(cfg, srv, phase, key) for srv in SERVERS)
            if rel:
                d = None
            print(f"{cfg if first else '':<14} {phase if first else '':<6} {label:<32} {fmt(d):>9} "
                  f"{fmt(c):>9} {fmt(s):>9} {fmt(b):>9} {ratio(b, c):>6} {ratio(b, s):>6}")
            first = False
        print()
bg = [float(kv["machine_cpu_per_s"]) for k, v in rows.items() if k[2] == "idle" for kv in v]
runs = max((len(v) for v in rows.values()), default=0)
print(f"medians of {runs} run(s); background sampled before each run: "
      f"{min(bg or [0]):.3f}-{max(bg or [0]):.3f} busy CPUs (subtracted in 'net')")
if bg and max(bg) > 0.25:
    print("NOISY: other work kept the machine busy during the runs; the per-packet figures "
          "carry that noise (rerun on an idle machine)")

print("\ntargets (issue 15: CPU per packet under paced media; p99; loss):")
ok_all = True
for cfg in cfgs:
    for measure, key in (("machine", "machine_net_us_per_pkt"), ("procs", "procs_us_per_pkt")):
        for what, get in (("total", med), ("relay share", share)):
            c, s, b = (get(cfg, srv, "paced", key) for srv in SERVERS[1:])
            if None in (c, s, b) or b <= 0:
                continue
            for name, ref, limit in (("coturn", c, 5), ("sedge user space", s, 3)):
                good = b * limit <= ref
                ok_all &= good
                print(f"  {cfg:<14} {measure:<7} {what:<11} bpf {b:.3f} us/pkt vs {name} {ref:.3f}: "
                      f"1/{ref / b:.1f} (<= 1/{limit}) {'ok' if good else 'MISSED'}")
    for phase in ("paced", "sat"):
        c99, s99, b99 = (med(cfg, srv, phase, "rtt_p99_us") for srv in SERVERS[1:])
        if None not in (c99, s99, b99):
            good = b99 <= min(c99, s99)  # no worse than either relay in user space
            ok_all &= good
            print(f"  {cfg:<14} {phase} p99 bpf {b99:.0f} us, coturn {c99:.0f}, sedge {s99:.0f}: "
                  f"{'ok' if good else 'MISSED'}")
        sl, bl = med(cfg, "sedge", phase, "loss_pct"), med(cfg, "sedge-bpf", phase, "loss_pct")
        if sl is not None and bl is not None:
            good = not (sl == 0 and bl > 0)
            ok_all &= good
            print(f"  {cfg:<14} {phase} loss bpf {bl:.3f}% user space {sl:.3f}%: {'ok' if good else 'MISSED'}")
print("all targets hold" if ok_all else "some targets missed (see above)")
