"""The AWS Lambda entry point: `probe.aws_lambda.handler`, run on a schedule by EventBridge Scheduler.

The event names the scenarios (Scheduler passes its target's `Input` JSON as the event):

    {"scenarios": ["ssm:/agentcore-probe/scenario", "s3://bucket/gateways.yaml", "scenarios/monitoring.yaml"],
     "namespace": "AgentCoreProbe", "concurrency": 20,
     "scheduled_time": "<aws.scheduler.scheduled-time>", "execution_id": "<aws.scheduler.execution-id>"}

A scenario is `s3://BUCKET/KEY` (S3 GetObject), `ssm:/NAME` (SSM GetParameter, decrypted,
so a SecureString works), or a path (relative to the working directory, which in Lambda is
the deployment package's root: ship `scenarios/` in the zip). Without `scenarios` in the
event (an EventBridge rule's "Scheduled Event", say), `$AGENTCORE_PROBE_SCENARIOS`
(comma-separated) is used. `${VAR}` in the files is read from the function's environment.

Every probe runs through the scenario runner (run_many plus the control-plane checks); one
EMF line per probe goes to stdout, which Lambda sends to its log group, where CloudWatch
turns it into metrics. Runs are cut a little before the function's own timeout so their
lines are still written; a cut run is counted as `interrupted`, not as an observation. The
return value is a small summary. A scenario that cannot be fetched or loaded raises
`ScenarioSourceError` (one line): the invocation fails, Lambda's Errors metric counts it,
and the success alarm sees no data (treated as breaching).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

ENV_SCENARIOS = "AGENTCORE_PROBE_SCENARIOS"
ENV_NAMESPACE = "AGENTCORE_PROBE_NAMESPACE"
ENV_CONCURRENCY = "AGENTCORE_PROBE_CONCURRENCY"
SAFETY_MARGIN_S = 3.0  # stop this long before Lambda's timeout, so the cut runs still report
MAX_SCENARIO_BYTES = 1_000_000


class ScenarioSourceError(Exception):
    """A scenario the event names could not be fetched or loaded; the message is one line."""


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """Run the event's scenarios once; EMF lines on stdout; a summary dict back."""
    sources = scenario_sources(event)
    namespace = _event_value(event, "namespace") or os.environ.get(ENV_NAMESPACE) or _default_namespace()
    concurrency = _concurrency(_event_value(event, "concurrency") or os.environ.get(ENV_CONCURRENCY) or 20)
    budget = _budget_s(context)
    with tempfile.TemporaryDirectory(prefix="agentcore-probe-") as tmp:
        paths = [fetch_scenario(src, Path(tmp), i) for i, src in enumerate(sources)]
        probes = _load(paths, sources)
        results = asyncio.run(_run(probes, concurrency=concurrency, budget_s=budget))
    return summarise(probes, results, sources=sources, namespace=namespace, event=event, out=sys.stdout)


def scenario_sources(event: Any) -> list[str]:
    """The scenario references: the event's `scenarios` (a list or one string), else the environment's."""
    value = _event_value(event, "scenarios") or _event_value(event, "scenario")
    if value is None:
        value = [s for s in os.environ.get(ENV_SCENARIOS, "").split(",") if s.strip()]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(s, str) and s.strip() for s in value):
        raise ScenarioSourceError(
            'name the scenarios: an event like {"scenarios": ["ssm:/agentcore-probe/scenario"]}, '
            f"or ${ENV_SCENARIOS}"
        )
    return [s.strip() for s in value]


def fetch_scenario(source: str, tmp: Path, index: int) -> str:
    """A local path holding the scenario `source` names (S3 and SSM are copied into `tmp`)."""
    if source.startswith("s3://"):
        bucket, _, key = source[len("s3://"):].partition("/")
        if not bucket or not key:
            raise ScenarioSourceError(f"{source}: expected s3://BUCKET/KEY")
        text = _read_s3(bucket, key, source)
    elif source.startswith("ssm:"):
        name = source[len("ssm:"):]
        if not name:
            raise ScenarioSourceError(f"{source}: expected ssm:/PARAMETER/NAME")
        text = _read_ssm(name, source)
    else:
        path = Path(source)
        if not path.is_file():
            raise ScenarioSourceError(f"{source}: no such scenario file in the package (cwd {os.getcwd()})")
        return str(path)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in source)[-80:]
    local = tmp / f"{index:02d}-{safe}"
    local.write_text(text, encoding="utf-8")
    return str(local)


def _read_s3(bucket: str, key: str, source: str) -> str:
    import boto3

    from probe.iam.gateway import aws_failures, describe_error

    try:
        body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
        data = body.read(MAX_SCENARIO_BYTES + 1)
    except aws_failures() as exc:
        raise ScenarioSourceError(f"{source}: {describe_error('s3:GetObject', exc)}") from None
    if len(data) > MAX_SCENARIO_BYTES:
        raise ScenarioSourceError(f"{source}: larger than {MAX_SCENARIO_BYTES} bytes: not a scenario file")
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioSourceError(f"{source}: not UTF-8 text") from None


def _read_ssm(name: str, source: str) -> str:
    import boto3

    from probe.iam.gateway import aws_failures, describe_error

    try:
        answer = boto3.client("ssm").get_parameter(Name=name, WithDecryption=True)
    except aws_failures() as exc:
        raise ScenarioSourceError(f"{source}: {describe_error('ssm:GetParameter', exc)}") from None
    return str(answer["Parameter"]["Value"])


def _load(paths: Sequence[str], sources: Sequence[str]) -> list[Any]:
    from probe.scenario import ScenarioError, load

    try:
        loaded = load(list(paths), env=dict(os.environ))
    except ScenarioError as exc:
        where = dict(zip(paths, sources, strict=True))  # a problem names the source, not the temporary copy
        first = str(exc)
        if exc.problems:
            p = exc.problems[0]
            first = f"{where.get(p.file, p.file)}:{p.line}: {p.message}" if p.line else str(p)
        more = f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
        raise ScenarioSourceError(" ".join(first.split()) + more) from None
    if not loaded.probes:
        raise ScenarioSourceError(f"{', '.join(sources)}: the scenarios define no probe")
    return list(loaded.probes)


async def _run(probes: Sequence[Any], *, concurrency: int, budget_s: float | None) -> list[Any]:
    from probe.scenario import run

    stop = asyncio.Event()
    timer = asyncio.get_running_loop().call_later(budget_s, stop.set) if budget_s is not None else None
    try:
        return await run(probes, concurrency=concurrency, stop=stop)
    finally:
        if timer is not None:
            timer.cancel()


def summarise(
    probes: Sequence[Any],
    results: Sequence[Any],
    *,
    sources: Sequence[str],
    namespace: str,
    event: Any,
    out: IO[str],
) -> dict[str, Any]:
    """Write one EMF line per observed run to `out` and return the summary."""
    from probe.monitor.emf import write_emf
    from probe.monitor.labels import labels_for, succeeded

    failed: list[dict[str, str]] = []
    interrupted: list[str] = []
    ok = 0
    for probe, result in zip(probes, results, strict=True):
        labels = labels_for(probe)
        if result.interrupted:
            interrupted.append(labels.probe)
            continue
        write_emf(out, labels, result, namespace=namespace)
        if succeeded(result):
            ok += 1
        else:
            failed.append({"probe": labels.probe, "gateway": labels.gateway, "outcome": result.outcome.value})
    summary: dict[str, Any] = {
        "scenarios": list(sources),
        "probes": len(probes),
        "succeeded": ok,
        "failed": failed,
        "interrupted": interrupted,
        "namespace": namespace,
    }
    scheduled = _event_value(event, "scheduled_time")
    if isinstance(scheduled, str):
        summary["scheduled_time"] = scheduled
    return summary


def _event_value(event: Any, key: str) -> Any:
    return event.get(key) if isinstance(event, dict) else None


def _concurrency(value: Any) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if n < 1 or isinstance(value, bool):
        raise ScenarioSourceError(f"concurrency must be a whole number of at least 1, not {value!r}")
    return n


def _default_namespace() -> str:
    from probe.monitor.emf import DEFAULT_NAMESPACE

    return DEFAULT_NAMESPACE


def _budget_s(context: Any) -> float | None:
    """Seconds the runs may take: Lambda's remaining time less a margin (None outside Lambda)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    return max(0.5, remaining() / 1000.0 - SAFETY_MARGIN_S)
