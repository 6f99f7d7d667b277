"""200 probes at once against a loopback server with 100 ms of latency per request.

Usage:  python bench/run_many.py [--probes 200] [--latency 0.1] [--rounds 3]

Side by side, in one run, alternating:
  - a bare httpx2.AsyncClient script making exactly the same requests (initialize,
    notifications/initialized, tools/list, tools/call) for the same 200 sessions, all at once:
    the floor of this project's own stack;
  - `run_many` over 200 `Probe`s (list and call), concurrency 200.
Prints the wall times, their ratio (goal: at most 1.5x), the sequential sum (what running the
probes one after another would take), and the peak RSS of this process. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx2  # noqa: E402

from probe import Probe, Target, run_many  # noqa: E402
from probe.spec import Call  # noqa: E402
from tests.support.latency_server import LatencyServer  # noqa: E402

H = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


async def bare(url: str, n: int) -> None:
    async with httpx2.AsyncClient(timeout=30, limits=httpx2.Limits(max_connections=n)) as c:
        async def session() -> None:
            r = await c.post(url, content=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "b", "version": "1"}}}),
                headers=H)
            s = {**H, "mcp-session-id": r.headers.get("mcp-session-id", ""), "mcp-protocol-version": "2025-11-25"}
            await c.post(url, content=json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}), headers=s)
            (await c.post(url, content=json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
                          headers=s)).json()
            out = (await c.post(url, content=json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
                "name": "Bench___echo", "arguments": {}}}), headers=s)).json()
            assert out["result"]["isError"] is False

        await asyncio.gather(*(session() for _ in range(n)))


async def probes(url: str, n: int) -> None:
    results = await run_many([Probe(Target(url), Call("Bench___echo"), retries=0, timeout=30) for _ in range(n)],
                             concurrency=n)
    bad = [r.outcome.value for r in results if r.outcome.value != "ok"]
    assert not bad, bad[:5]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probes", type=int, default=200)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    times: dict[str, list[float]] = {"bare httpx2.AsyncClient": [], "run_many": []}
    with LatencyServer(latency_s=args.latency) as url:
        for _ in range(args.rounds):
            for name, work in (("bare httpx2.AsyncClient", bare), ("run_many", probes)):
                t0 = time.perf_counter()
                asyncio.run(work(url, args.probes))
                times[name].append(time.perf_counter() - t0)
    sequential = args.probes * 4 * args.latency
    med = {k: statistics.median(v) for k, v in times.items()}
    for name, ts in times.items():
        print(f"{name:<26} median {med[name]:6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in ts)})")
    print(f"sequential sum             {sequential:6.2f} s  ({args.probes} probes x 4 requests x {args.latency:g} s)")
    print(f"ratio run_many / bare: {med['run_many'] / med['bare httpx2.AsyncClient']:.2f}  (goal <= 1.5)")
    print(f"ratio run_many / sequential: {med['run_many'] / sequential:.3f}")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (goal <= 200)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
