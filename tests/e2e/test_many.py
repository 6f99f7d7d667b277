"""`run_many` over many probes at once: bounded concurrency, results in order, connections reused.

The wall time is measured in bench/many.py, side by side with a bare httpx2 script; here the
results are asserted.
"""

from __future__ import annotations

import asyncio

from probe import Outcome, Probe, Target, run_many
from probe.spec import Call
from tests.support.latency_server import LatencyServer


def test_two_hundred_probes_against_a_slow_server() -> None:
    with LatencyServer(latency_s=0.1) as url:
        server_url = url
        probes = [Probe(Target(url), Call("Bench___echo") if i % 2 else None, name=f"p{i}", retries=0)
                  for i in range(200)]
        results = asyncio.run(run_many(probes, concurrency=200))
    assert [r.name for r in results] == [f"p{i}" for i in range(200)]
    assert all(r.outcome is Outcome.OK for r in results), {r.outcome for r in results}
    calls = [r for r in results if r.steps[-1].method == "tools/call"]
    assert len(calls) == 100 and all(r.steps[-1].data["result_text"] == "echo" for r in calls)
    # 3 requests for a list-only probe (initialize, initialized, tools/list), 4 with a call.
    assert sum(len(s.exchanges) for r in results for s in r.steps) == 100 * 3 + 100 * 4
    assert all(r.url == server_url for r in results)


def test_concurrency_is_bounded() -> None:
    server = LatencyServer(latency_s=0.05)
    with server as url:
        probes = [Probe(Target(url), name=f"p{i}", retries=0) for i in range(6)]

        async def go() -> list[float]:
            results = await run_many(probes, concurrency=2)
            return [r.started_at for r in results]

        starts = sorted(asyncio.run(go()))
    # Two at a time: the third probe starts only after one of the first two finished (3 requests x 50 ms).
    assert starts[2] - starts[0] >= 0.14
    assert server.requests == 18
