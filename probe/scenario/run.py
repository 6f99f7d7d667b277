"""Run a scenario's probes: the engine's `run_many`, then the checks only the control plane can answer.

`policy_engine: {mode: ...}` is not something the MCP exchange shows, so after the run the
gateway is read (GetGateway, in a thread: boto3 blocks) for each probe that asks, and the
pure `probe.expect.engine_mode_check` adds its Check. Each gateway is read once per run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from probe.outcome import Outcome, RunResult
from probe.spec import Probe


async def run(probes: Sequence[Probe], *, concurrency: int = 20, stop: asyncio.Event | None = None,
              context: Any = None) -> list[RunResult]:
    """Results in the order of `probes`, every expectation judged (control-plane ones included)."""
    from probe.engine import run_many

    results = await run_many(probes, concurrency=concurrency, stop=stop, context=context)
    await add_engine_checks(probes, results)
    return results


async def add_engine_checks(probes: Sequence[Probe], results: Sequence[RunResult]) -> None:
    wanted = [(p, r) for p, r in zip(probes, results, strict=True)
              if p.expect.policy_engine_mode and r.outcome is not Outcome.PROBE_ERROR]
    if not wanted:
        return
    from probe.expect import engine_mode_check

    reads: dict[tuple[str, str, str | None], asyncio.Future[Any]] = {}
    for p, _ in wanted:
        t = p.target
        key = (t.gateway_id or "", t.region or "", t.profile)
        if key not in reads:
            reads[key] = asyncio.ensure_future(asyncio.to_thread(_read_mode, *key))
    for p, r in wanted:
        t = p.target
        mode, errors = await reads[(t.gateway_id or "", t.region or "", t.profile)]
        r.checks.append(engine_mode_check(p.expect.policy_engine_mode or "", mode, errors))


def _read_mode(gateway_id: str, region: str, profile: str | None) -> tuple[str | None, list[str]]:
    if not gateway_id or not region:
        return None, ["the gateway's id and region are not known"]
    from probe.iam.gateway import describe_gateway

    facts = describe_gateway(gateway_id=gateway_id, region=region, profile=profile)
    return facts.policy_engine_mode, facts.read_errors[:1] if facts.gateway_arn is None else []
