"""The labels (Prometheus) and dimensions (CloudWatch) of a probe's metrics.

Only bounded values become labels: the probe's and the gateway's names as the scenario gives
them (or, for an unnamed probe, values derived from its URL, which the scenario also fixes),
the outcome from the fixed vocabulary and the step from a fixed set. Never a message, a
request id or anything else the server says: each distinct label value is a new time series.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from probe.outcome import Outcome, RunResult
from probe.spec import Probe

STEPS = ("oauth2/token", "initialize", "tools/list", "tools/call")
OUTCOMES = tuple(o.value for o in Outcome)


@dataclass(frozen=True)
class Labels:
    probe: str
    gateway: str


def labels_for(probe: Probe) -> Labels:
    """Names from the scenario; an unnamed probe is named after its gateway and what it does."""
    target = probe.target
    gateway = target.name or target.gateway_id or urlsplit(target.display_url).netloc or "gateway"
    if probe.name:
        return Labels(probe=probe.name, gateway=gateway)
    action = f"call:{probe.call.tool}" if probe.call else "list"
    return Labels(probe=f"{gateway}/{action}", gateway=gateway)


def succeeded(result: RunResult) -> bool:
    """Success is what the probe expected (a probe that expects policy_denied succeeds when denied);
    without expectations, the outcome ok."""
    met = result.expectation_met
    return bool(met) if met is not None else result.outcome is Outcome.OK


def step_seconds(result: RunResult) -> dict[str, float]:
    """Each known step's wall time in seconds (backoff included); unknown step names are left out."""
    out: dict[str, float] = {}
    for step in result.steps:
        if step.method in STEPS:
            out[step.method] = out.get(step.method, 0.0) + step.duration_ms / 1000.0
    return out
