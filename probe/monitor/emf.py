"""CloudWatch Embedded Metric Format: one JSON line per probe run, on stdout.

CloudWatch Logs (a Lambda's log group, or any log group a container's stdout reaches)
extracts the metrics from these lines with no agent. The structure (`_aws`,
`CloudWatchMetrics`, the 100-metrics-per-line limit, validation of names and dimensions) is
the maintained `aws-embedded-metrics` library's: we fill its `MetricsContext` and serialize
it with its `LogSerializer`. Its `MetricsLogger` is not used: its environment detection
probes the EC2 metadata service or a CloudWatch agent socket, and its flush is async;
a CLI that writes to stdout needs neither (see the README's monitoring section for the
measured costs).

Metrics, with the dimensions gateway and probe (both from the scenario):
`Success` (0/1), `Duration` (ms), `<Step>Duration` (ms) per step that ran, and
`Outcome_<outcome>` (1 for the run's outcome, 0 for every other one of the vocabulary), so
every outcome can be summed and alarmed on. The outcome is also a property (not a dimension).
"""

from __future__ import annotations

from typing import IO, Any

from probe.monitor.labels import OUTCOMES, Labels, step_seconds, succeeded
from probe.outcome import RunResult

DEFAULT_NAMESPACE = "AgentCoreProbe"
STEP_METRICS = {"oauth2/token": "TokenDuration", "initialize": "InitializeDuration",
                "tools/list": "ToolsListDuration", "tools/call": "ToolsCallDuration"}
METRIC_NAMES = ("Success", "Duration", *STEP_METRICS.values(), *(f"Outcome_{o}" for o in OUTCOMES))


def emf_lines(labels: Labels, result: RunResult, *, namespace: str = DEFAULT_NAMESPACE) -> list[str]:
    """The EMF log line(s) for one run (one, unless the library must split)."""
    from datetime import UTC, datetime

    from aws_embedded_metrics.logger.metrics_context import MetricsContext
    from aws_embedded_metrics.serializers.log_serializer import LogSerializer

    ctx = MetricsContext(namespace=namespace)
    ctx.set_dimensions([{"gateway": labels.gateway, "probe": labels.probe}])
    ended = datetime.fromtimestamp(result.started_at + result.duration_ms / 1000.0, tz=UTC)
    ctx.set_timestamp(ended)
    ctx.put_metric("Success", 1.0 if succeeded(result) else 0.0, "None")
    ctx.put_metric("Duration", float(result.duration_ms), "Milliseconds")
    for step, seconds in step_seconds(result).items():
        ctx.put_metric(STEP_METRICS[step], round(seconds * 1000.0, 1), "Milliseconds")
    for value in OUTCOMES:
        ctx.put_metric(f"Outcome_{value}", 1.0 if value == result.outcome.value else 0.0, "Count")
    props: dict[str, Any] = {"outcome": result.outcome.value, "interrupted": result.interrupted}
    if result.expectation_met is not None:
        props["expectation_met"] = result.expectation_met
    for key, value in props.items():
        ctx.set_property(key, value)
    return LogSerializer.serialize(ctx)


def write_emf(stream: IO[str], labels: Labels, result: RunResult, *, namespace: str = DEFAULT_NAMESPACE) -> None:
    """Write the run's EMF lines and flush, so a line is never split across writers."""
    stream.write("".join(line + "\n" for line in emf_lines(labels, result, namespace=namespace)))
    stream.flush()
