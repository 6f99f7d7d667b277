"""`agentcore-probe serve -f SCENARIO... --port P`: a Prometheus target (see probe.monitor.serve).

The watch loop (`--every`, 0 to disable) feeds `/metrics`; `/probe?probe=NAME` runs one probe on
demand. Binds 127.0.0.1 unless `--listen` says otherwise. Exit 0 on SIGINT/SIGTERM, 2 for a
usage error (including a port that is taken).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from probe.cli.watch import error, load_probes
from probe.spec import Probe


def main(ns: argparse.Namespace) -> int:
    from probe.monitor.watch import parse_duration, parse_jitter

    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return error("serve needs prometheus-client: pip install 'agentcore-probe[monitor]'")
    try:
        every = parse_duration(ns.every, what="--every")
        jitter = parse_jitter(ns.jitter, every) if ns.jitter and every else 0.0
        probes = load_probes(ns.scenario)
    except ValueError as exc:
        return error(str(exc))
    return run_serve(probes, host=ns.listen, port=ns.port, every=every, jitter=jitter, concurrency=ns.concurrency)


def run_serve(probes: Sequence[Probe], *, host: str, port: int, every: float, jitter: float = 0.0,
              concurrency: int = 20) -> int:
    from probe.cli.run import run_until_signal
    from probe.engine import Context
    from probe.monitor.metrics import MetricsStore
    from probe.monitor.serve import MetricsServer
    from probe.monitor.watch import watch

    fixed = list(probes)
    failed: list[str] = []

    async def work(stop: asyncio.Event) -> None:
        store = MetricsStore()
        async with Context(concurrency=concurrency) as ctx:
            server = MetricsServer(store, lambda: fixed, ctx)
            try:
                bound_host, bound_port = await server.start(host, port)
            except OSError as exc:
                failed.append(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
                return
            sys.stderr.write(f"agentcore-probe: serving http://{bound_host}:{bound_port}/metrics "
                             f"({len(fixed)} probe(s)); stop with Ctrl-C\n")
            sys.stderr.flush()
            try:
                if every > 0:
                    await watch(lambda: fixed, every=every, jitter=jitter, stop=stop, store=store,
                                concurrency=concurrency, context=ctx)
                else:
                    await stop.wait()
            finally:
                await server.close()

    run_until_signal(work)
    if failed:
        return error(failed[0])
    return 0
