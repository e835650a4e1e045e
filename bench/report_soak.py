#!/usr/bin/env python3
"""bench/report_soak.py - the figures of `make soak` and its verdict.

Reads soakgen's output (sample/summary lines, plus pre/post/log lines from
bench/soak.sh), sedge's /metrics and its sessions (JSON) at the end; prints
one table; exits 1 if the soak failed:
  - media lost that the generator's own drops do not explain (loopback:
    must be 0), a probe answered on a revoked allocation, an allocation
    that could not be set up, refreshed or released, a failed policy change;
  - the server's fds after every allocation ended above the idle count
    before the load + margin, or its fds beyond those of the held
    allocations growing by more than the margin over the run;
  - the server's RSS growing faster than --rss-slope-max KiB/min (least
    squares over the samples after --warmup seconds);
  - sedge not exiting 0 on SIGTERM, session events dropped, session rows
    left open, allocations or offloaded flows left after every client
    released, offload rewrite errors.
"""
import argparse
import json
import re
import sys

ap = argparse.ArgumentParser()
ap.add_argument("samples")
ap.add_argument("metrics")
ap.add_argument("sessions")
ap.add_argument("--warmup", type=float, default=300)
ap.add_argument("--rss-slope-max", type=float, default=32)
ap.add_argument("--fd-margin", type=int, default=4)
ap.add_argument("--ctl-log")
a = ap.parse_args()


def kv(line):
    return {k: v.strip('"') for k, v in re.findall(r'([\w-]+)=("[^"]*"|\S+)', line)}


samples, summary, pre, post, log, stalls = [], {}, {}, {}, {}, {}
for line in open(a.samples):
    tag = line.split(" ", 1)[0]
    d = kv(line)
    if tag == "sample":
        samples.append({k: float(v) for k, v in d.items()})
    elif tag == "summary":
        summary = {k: float(v) for k, v in d.items()}
    elif tag == "pre":
        pre = d
    elif tag == "post":
        post = d
    elif tag == "log":
        log = d
    elif tag == "stalls":
        stalls = d
if not summary or len(samples) < 3:
    print("soak: no summary from soakgen (it did not finish)")
    sys.exit(1)

metrics = {}
try:
    for line in open(a.metrics):
        if line.startswith("#") or not line.strip():
            continue
        name, _, val = line.rpartition(" ")
        metrics[name] = float(val)
except (OSError, ValueError):
    pass
reasons, open_rows = {}, 0
try:
    for s in json.load(open(a.sessions)):
        r = s.get("end_reason")
        if r is None or s.get("ended") in (None, 0):
            open_rows += 1
        reasons[r] = reasons.get(r, 0) + 1
except (OSError, ValueError):
    reasons = None

S = summary
g = lambda k: int(S.get(k, 0))
secs = S["secs"]
# Loss. soakgen counts an incarnation's loss after its drain; what the
# kernel dropped on the generator's own sockets, or the echo peer could
# not send, is the generator's, not the relay's.
gen_drops = g("gen_sock_drops") + g("peer_sock_drops") + g("peer_send_drop")
relay_lost = max(0, g("lost") - gen_drops)
srv_drops = int(samples[-1].get("server_sock_drops", 0))
backlog = int(post.get("backlog_drops", 0))
to_peer_lost = g("tx") - g("peer_rx") - g("peer_sock_drops") - g("probe_leaks")
to_client_lost = g("peer_rx") - g("peer_send_drop") - g("rx") - g("gen_sock_drops")

loaded = [s for s in samples if s["held"] > 0] or samples
warm = [s for s in loaded if s["t"] >= a.warmup]
if len(warm) < 3:
    warm = loaded[len(loaded) // 2:]


def slope(xs, ys):
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0


mins = [s["t"] / 60 for s in warm]
rss_slope = slope(mins, [s["rss_kib"] for s in warm])  # KiB/min
anon_slope = slope(mins, [s.get("anon_kib", 0) for s in warm])
file_slope = slope(mins, [s.get("file_kib", 0) for s in warm])
half = warm[len(warm) // 2:]
half_slope = slope([s["t"] / 60 for s in half], [s["rss_kib"] for s in half]) if len(half) > 2 else 0.0
fds = [int(s["fds"]) for s in loaded]
over = [int(s["fds"] - s["held"]) for s in warm]
over_growth = over[-1] - over[0]
cpu = (samples[-1]["cpu_s"] - samples[0]["cpu_s"]) / max(1e-9, samples[-1]["t"] - samples[0]["t"])
gcpu = (samples[-1]["gen_cpu_s"] - samples[0]["gen_cpu_s"]) / max(1e-9, samples[-1]["t"] - samples[0]["t"])
fds_pre, fds_post = int(pre.get("fds", -1)), int(post.get("fds", -1))
held = [int(s["held"]) for s in loaded]


def m(name):
    return int(sum(v for k, v in metrics.items() if k == name or k.startswith(name + "{")))


rows = [
    ("duration s", f"{secs:.0f}"),
    ("allocations held (min / mean / max)",
     f"{min(held)} / {sum(held) / len(held):.0f} / {max(held)} of {g('allocs')}"),
    ("media rate per allocation", f"{g('pps')} pkt/s x {g('payload')} B, each way"),
    ("packets sent by clients", f"{g('tx'):,}"),
    ("packets received by the peer", f"{g('peer_rx'):,}"),
    ("packets received back by clients", f"{g('rx'):,}"),
    ("lost (sent - received, per allocation)", f"{g('lost'):,}"),
    ("  dropped on the generator's sockets (client / echo peer)",
     f"{g('gen_sock_drops'):,} / {g('peer_sock_drops') + g('peer_send_drop'):,}"),
    ("  not the generator's: client->peer / peer->client", f"{to_peer_lost:,} / {to_client_lost:,}"),
    ("  dropped on sedge's sockets (receive buffer full)", f"{srv_drops:,}"),
    ("UDP receive-buffer drops, machine-wide / loopback backlog drops",
     f"{int(post.get('udp_rcvbuf_errors', -1)):,} / {backlog:,}"),
    ("generator send failures / skipped", f"{g('send_err'):,} / {g('skipped'):,} (never sent)"),
    ("garbled datagrams", f"{g('bad')}"),
    ("generator receive re-arms (its buffer ring ran dry)", f"{g('rearms'):,}"),
    ("allocations created", f"{g('created'):,}"),
    ("allocations ended by churn (Refresh 0)", f"{g('ended_churn'):,}"),
    ("allocations ended by policy (revoked)", f"{g('ended_revoked'):,}"),
    ("setup / refresh / release failures", f"{g('setup_fail')} / {g('refresh_fail')} / {g('release_fail')}"),
    ("policy changes (bw-api, bw-cli, deny-rule)",
     f"{g('ev_bw-api')}, {g('ev_bw-cli')}, {g('ev_deny-rule')}"),
    ("revocations (user-del, user-disable, secret)",
     f"{g('ev_user-del')}, {g('ev_user-disable')}, {g('ev_secret-rotate')}"),
    ("probes on revoked allocations / answered", f"{g('probes')} / {g('probe_leaks')}"),
    ("failed policy commands", f"{g('ctl_fail')}"),
    ("RSS KiB: idle start / warm / end / after",
     f"{pre.get('rss_kib', '?')} / {warm[0]['rss_kib']:.0f} / {loaded[-1]['rss_kib']:.0f} / "
     f"{post.get('rss_kib', '?')}"),
    ("RSS peak (VmHWM) KiB", f"{max(s['hwm_kib'] for s in samples):.0f}"),
    (f"RSS slope after {a.warmup:.0f} s warm-up", f"{rss_slope:+.2f} KiB/min ({len(warm)} samples)"),
    ("  anonymous / file-backed", f"{anon_slope:+.2f} / {file_slope:+.2f} KiB/min"),
    ("  over the last half of those samples", f"{half_slope:+.2f} KiB/min"),
    ("RSS anonymous KiB: warm / end",
     f"{warm[0].get('anon_kib', 0):.0f} / {loaded[-1].get('anon_kib', 0):.0f}"),
    ("fds: idle before / min / max / end / after",
     f"{fds_pre} / {min(fds)} / {max(fds)} / {fds[-1]} / {fds_post}"),
    ("fds beyond held allocations (warm: first / last)", f"{over[0]} / {over[-1]}"),
    ("sedge CPU (one core = 100 %)", f"{100 * cpu:.1f} %"),
    ("generator CPU", f"{100 * gcpu:.1f} %"),
    ("CPU stalls seen by a sleeper: longest / > 100 ms / > 1 s",
     f"{stalls.get('max_ms', '?')} ms / {stalls.get('over_100ms', '?')} / {stalls.get('over_1s', '?')}"),
    ("load average before / after", f"{pre.get('load', '?')} / {post.get('load', '?')}"),
    ("sedge log bytes / errors / warnings",
     f"{log.get('bytes', '?')} / {log.get('errors', '?')} / {log.get('warnings', '?')}"),
]
if metrics:
    rows += [
        ("metrics: dropped (rate_limit, backpressure, no_permission)",
         ", ".join(str(m('sedge_dropped_total{reason="%s"}' % r))
                   for r in ("rate_limit", "backpressure", "no_permission"))),
        ("metrics: relayed packets (of which by the kernel fast path)",
         f"{m('sedge_relayed_packets_total'):,} ({m('sedge_relay_offload_packets_total'):,}; "
         f"offload {'on' if m('sedge_relay_offload_enabled') else 'off'})"),
        ("metrics after the load: allocations live / offloaded flows",
         f"{m('sedge_allocations_live')} / {m('sedge_relay_offload_flows')}"),
        ("metrics: revoked / session events dropped",
         f"{m('sedge_revoked_total')} / {m('sedge_session_events_dropped_total')}"),
    ]
if reasons is not None:
    rows.append(("sessions by end reason", ", ".join(f"{k}: {v}" for k, v in sorted(
        reasons.items(), key=lambda kv_: -kv_[1]))))

w = max(len(r[0]) for r in rows)
print("\nsoak figures")
print("-" * (w + 40))
for k, v in rows:
    print(f"{k:<{w}}  {v}")
print("-" * (w + 40))

fails = []
if relay_lost:
    fails.append(f"{relay_lost} packets lost that the generator's drops do not explain "
                 f"({srv_drops} dropped on sedge's full sockets, {backlog} in the loopback "
                 "backlog machine-wide)")
if g("probe_leaks"):
    fails.append(f"{g('probe_leaks')} probes answered on revoked allocations")
for k in ("setup_fail", "refresh_fail", "release_fail", "ctl_fail", "bad", "not_ended"):
    if g(k):
        fails.append(f"{k} = {g(k)}")
if fds_post > fds_pre + a.fd_margin:
    fails.append(f"fds after the load {fds_post} > idle {fds_pre} + {a.fd_margin}")
if over_growth > a.fd_margin:
    fails.append(f"fds beyond held allocations grew by {over_growth} (> {a.fd_margin})")
if rss_slope > a.rss_slope_max:
    fails.append(f"RSS slope {rss_slope:.2f} KiB/min > {a.rss_slope_max}")
if post.get("exit") != "0":
    fails.append(f"sedge exited {post.get('exit')} on SIGTERM")
if metrics and m("sedge_session_events_dropped_total"):
    fails.append("session events dropped")
if metrics and (m("sedge_allocations_live") or m("sedge_relay_offload_flows")):
    fails.append("allocations or offloaded flows left after every client released")
if metrics and m("sedge_relay_offload_errors_total"):
    fails.append("offload rewrite errors")
if reasons is not None and open_rows:
    fails.append(f"{open_rows} session rows left open after shutdown")
if reasons is not None and reasons.get("revoked", 0) < g("ended_revoked"):
    fails.append(f"sessions revoked {reasons.get('revoked', 0)} < allocations revoked {g('ended_revoked')}")
warn = g("send_err") + g("skipped") + gen_drops
if warn:
    print(f"note: the generator itself dropped or skipped {warn} packets "
          f"({100 * warn / max(1, g('tx')):.4f} %); reported apart from the relay's loss")
if fails:
    for f in fails:
        print("FAIL: " + f)
    sys.exit(1)
print("soak: PASS")
