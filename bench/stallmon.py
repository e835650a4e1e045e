#!/usr/bin/env python3
"""bench/stallmon.py SECONDS - how long a runnable process waited for a CPU.

Sleeps 10 ms at a time for at most SECONDS and prints one line at the end:
the longest gap between wake-ups beyond the 10 ms asked for, and how many
gaps passed 100 ms and 1 s. On a machine shared with other work (or a VM
whose host deschedules it) these are the stalls every process of the soak
saw too: the generator, its echo peer and sedge's workers. Stops by itself;
SIGTERM ends it early and still prints.
"""
import signal
import sys
import time

limit = float(sys.argv[1]) if len(sys.argv) > 1 else 3600
worst = over100 = over1000 = 0.0
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
t0 = prev = time.monotonic()
while not stop and prev - t0 < limit:
    time.sleep(0.01)
    now = time.monotonic()
    late = (now - prev - 0.01) * 1000
    worst = max(worst, late)
    over100 += late > 100
    over1000 += late > 1000
    prev = now
print(f"stalls max_ms={worst:.0f} over_100ms={over100:.0f} over_1s={over1000:.0f}", flush=True)
