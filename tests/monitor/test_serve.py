"""`serve`'s HTTP endpoints over real loopback HTTP, parsed with prometheus_client's own parser."""

from __future__ import annotations

import asyncio
import io

import httpx2
from prometheus_client.parser import text_string_to_metric_families

from probe import Probe, Target
from probe.engine import Context
from probe.monitor.metrics import MetricsStore
from probe.monitor.serve import MetricsServer
from probe.monitor.watch import watch
from probe.spec import Call
from tests.support.latency_server import LatencyServer


def test_endpoints() -> None:
    with LatencyServer(latency_s=0.0) as url:
        probes = [Probe(Target(url, name="bench"), name="listing", retries=0),
                  Probe(Target(url, name="bench"), Call("Bench___echo"), name="calling", retries=0),
                  Probe(Target(url, name="bench"), Call("Bench___nope"), name="missing", retries=0, diagnose=False)]

        async def main() -> dict[str, httpx2.Response]:
            store = MetricsStore()
            async with Context() as ctx:
                server = MetricsServer(store, lambda: probes, ctx)
                host, port = await server.start("127.0.0.1", 0)
                assert host == "127.0.0.1"
                await watch(lambda: probes, every=0, stop=asyncio.Event(), store=store, context=ctx, max_cycles=2,
                            log=io.StringIO())
                base = f"http://127.0.0.1:{port}"
                out = {}
                async with httpx2.AsyncClient() as client:
                    for path in ("/metrics", "/probe?probe=calling", "/probe?probe=missing", "/probe?probe=nobody",
                                 "/probe", "/-/healthy", "/nowhere"):
                        out[path] = await client.get(base + path)
                    out["POST"] = await client.post(base + "/metrics")
                await server.close()
                return out

        got = asyncio.run(main())

    metrics = got["/metrics"]
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain; version=")
    fams = {f.name: f for f in text_string_to_metric_families(metrics.text)}
    success = {s.labels["probe"]: s.value for s in fams["agentcore_probe_success"].samples}
    assert success == {"listing": 1.0, "calling": 1.0, "missing": 0.0}
    hot = {s.labels["probe"]: s.labels["outcome"] for s in fams["agentcore_probe_outcome"].samples if s.value == 1}
    assert hot == {"listing": "ok", "calling": "ok", "missing": "tool_missing"}
    cycles = [s.value for s in fams["agentcore_probe_cycles"].samples if s.name.endswith("_total")]
    assert cycles == [2.0]

    one = got["/probe?probe=calling"]
    assert one.status_code == 200
    fams = {f.name: f for f in text_string_to_metric_families(one.text)}
    assert {s.labels["probe"] for f in fams.values() for s in f.samples} == {"calling"}
    assert [s.value for s in fams["agentcore_probe_success"].samples] == [1.0]
    assert "agentcore_probe_runs" not in fams  # on-demand answers carry no history
    steps = {s.labels["step"] for s in fams["agentcore_probe_step_duration_seconds"].samples}
    assert steps == {"initialize", "tools/list", "tools/call"}

    missing = {f.name: f for f in text_string_to_metric_families(got["/probe?probe=missing"].text)}
    assert [s.value for s in missing["agentcore_probe_success"].samples] == [0.0]

    for path in ("/probe?probe=nobody", "/probe"):
        bad = got[path]
        assert bad.status_code == 400 and bad.text.count("\n") == 1
    assert "known probes: calling, listing, missing" in got["/probe?probe=nobody"].text
    assert "nobody" not in got["/probe?probe=nobody"].text
    assert (got["/-/healthy"].status_code, got["/-/healthy"].text) == (200, "OK\n")
    assert got["/nowhere"].status_code == 404 and got["POST"].status_code == 405


def test_oversized_request_is_refused_in_one_line() -> None:
    async def main() -> bytes:
        async with Context() as ctx:
            server = MetricsServer(MetricsStore(), lambda: [], ctx)
            _, port = await server.start("127.0.0.1", 0)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n")
            await writer.drain()
            data = await asyncio.wait_for(reader.read(), 10)
            writer.close()
            await server.close()
            return data

    data = asyncio.run(main())
    assert data.startswith(b"HTTP/1.1 431 ") and data.endswith(b"request head too large\n")
