"""The JSON report: one object, stable keys, for pipelines, schedulers and support cases."""

from __future__ import annotations

import json
from typing import Any

from probe import __version__
from probe.outcome import RunResult, Step


def step_dict(step: Step) -> dict[str, Any]:
    return {
        "method": step.method,
        "outcome": step.outcome.value,
        "http_status": step.http_status,
        "duration_ms": round(step.duration_ms, 1),
        "message": step.detail.message,
        "request_id": step.detail.request_id,
        "attempts": step.attempts,
        "hint": step.hint,
        "detail": step.detail.to_dict(),
    }


def run_dict(result: RunResult, *, verbose: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "outcome": result.outcome.value,
        "exit_code": result.exit_code,
        "url": result.url,
        "protocol_version": result.protocol_version or None,
        "tools": list(result.tools),
        "steps": [step_dict(s) for s in result.steps],
        "duration_ms": round(result.duration_ms, 1),
        "notes": list(result.notes),
        "iam": result.iam,
        "probe_version": __version__,
    }
    if result.expect is not None:
        data["expect"] = result.expect.value
        data["expectation_met"] = result.outcome is result.expect
    if verbose:
        data["transcript"] = [
            {"step": s.method, **ex.to_dict()} for s in result.steps for ex in s.exchanges
        ]
    return data


def render_json(result: RunResult, *, verbose: bool = False) -> str:
    return json.dumps(run_dict(result, verbose=verbose), indent=2, ensure_ascii=False) + "\n"
