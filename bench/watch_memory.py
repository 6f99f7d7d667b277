"""RSS of the watch loop at cycle 100 and at the last cycle, against the lab at a short interval.

Run by hand: `python bench/watch_memory.py [CYCLES]` (default 5000). Goal: at most 5 MB growth.
The lab runs in this process too (its threads), so its own growth is included: a worst case.
"""

from __future__ import annotations

import asyncio
import io
import resource
import sys
import time

from probe import Probe, Target
from probe.lab.server import Lab
from probe.monitor.metrics import MetricsStore
from probe.monitor.watch import watch


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    cycles = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    marks: dict[int, float] = {}
    with Lab() as lab:
        gw = lab.console.create_gateway("memory")
        probes = [Probe(Target(lab.gateway_url(gw.gateway_id), name="memory"), name=f"p{i}", retries=0,
                        diagnose=False) for i in range(2)]
        store = MetricsStore()
        log = io.StringIO()

        def sink(labels, result) -> None:
            n = store.cycles + 1
            if n in (100, cycles) and labels.probe == "p1":
                marks[n] = rss_mb()
            log.seek(0)
            log.truncate()

        t0 = time.perf_counter()
        stats = asyncio.run(watch(lambda: probes, every=0.005, stop=asyncio.Event(), store=store, log=log,
                                  sinks=[sink], max_cycles=cycles))
        took = time.perf_counter() - t0
    print(f"cycles {stats.cycles} ({stats.cycle_errors} cycle errors) in {took:.1f}s")
    print(f"RSS at cycle 100: {marks.get(100, 0):.1f} MB; at cycle {cycles}: {marks.get(cycles, 0):.1f} MB; "
          f"growth {marks.get(cycles, 0) - marks.get(100, 0):+.1f} MB")


if __name__ == "__main__":
    main()
