"""RSS of the watch loop at cycle 100 and at the last cycle, against the lab at a short interval.

Run by hand: `python bench/watch_memory.py [--cycles 5000] [--lab-in-process]`. Goal: at most 5 MB growth.

The lab runs in a child process by default, so the figure is the probe's own memory (what a
`watch` process costs an operator). `--lab-in-process` puts the lab's threads in this process
too: the lab's server side keeps every MCP session the probe opens, so that figure grows with
the number of sessions, and says nothing about the probe.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from probe import Probe, Target  # noqa: E402
from probe.monitor.metrics import MetricsStore  # noqa: E402
from probe.monitor.watch import watch  # noqa: E402

LAB_CHILD = """
import sys
from probe.lab.server import Lab
with Lab() as lab:
    gw = lab.console.create_gateway("memory")
    print(lab.gateway_url(gw.gateway_id), flush=True)
    sys.stdin.read()  # until the parent closes it
"""


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run(url: str, cycles: int) -> tuple[dict[int, float], float, object]:
    probes = [Probe(Target(url, name="memory"), name=f"p{i}", retries=0, diagnose=False) for i in range(2)]
    store = MetricsStore()
    log = io.StringIO()
    marks: dict[int, float] = {}

    def sink(labels, result) -> None:
        n = store.cycles + 1
        if n in (100, 1000, cycles) and labels.probe == "p1":
            marks[n] = rss_mb()
        log.seek(0)
        log.truncate()

    t0 = time.perf_counter()
    stats = asyncio.run(watch(lambda: probes, every=0.005, stop=asyncio.Event(), store=store, log=log,
                              sinks=[sink], max_cycles=cycles))
    return marks, time.perf_counter() - t0, stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=5000)
    ap.add_argument("--lab-in-process", action="store_true")
    args = ap.parse_args()
    if args.lab_in_process:
        from probe.lab.server import Lab

        with Lab() as lab:
            gw = lab.console.create_gateway("memory")
            marks, took, stats = run(lab.gateway_url(gw.gateway_id), args.cycles)
    else:
        child = subprocess.Popen([sys.executable, "-c", LAB_CHILD], cwd=REPO, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        try:
            url = child.stdout.readline().strip()  # type: ignore[union-attr]
            marks, took, stats = run(url, args.cycles)
        finally:
            child.stdin.close()  # type: ignore[union-attr]
            child.wait(30)
    where = "lab in this process" if args.lab_in_process else "lab in a child process"
    print(f"cycles {stats.cycles} ({stats.cycle_errors} cycle errors) in {took:.1f}s, {where}")
    shown = "; ".join(f"cycle {n}: {mb:.1f} MB" for n, mb in sorted(marks.items()))
    print(f"RSS of the watch process: {shown}")
    print(f"growth from cycle 100 to {args.cycles}: {marks.get(args.cycles, 0) - marks.get(100, 0):+.1f} MB "
          "(goal: at most 5 MB)")


if __name__ == "__main__":
    main()
