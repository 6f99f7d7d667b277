"""The JSON report: one object, stable keys, for pipelines, schedulers and support cases.

Its shape is `RunResult.to_dict()` (described by `schema.json` beside this file, read back
by `RunResult.from_dict`); several results are one object with `probes[]`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from probe.outcome import SCHEMA_VERSION, RunResult
from probe.report.escape import dumps_safe


def run_dict(result: RunResult, *, verbose: bool = False) -> dict[str, Any]:
    return result.to_dict(verbose=verbose)


def many_dict(results: Sequence[RunResult], *, verbose: bool = False) -> dict[str, Any]:
    from probe import __version__

    probes = [{"name": r.name, "gateway": r.gateway, "outcome": r.outcome.value,
               "expectation_met": r.expectation_met, "result": r.to_dict(verbose=verbose)} for r in results]
    failed = [r for r in results if r.exit_code != 0]
    return {"schema_version": SCHEMA_VERSION, "probe_version": __version__, "passed": not failed,
            "exit_code": 0 if not failed else (2 if all(r.exit_code == 2 for r in failed) else 1),
            "probes": probes}


def dumps(data: Any) -> str:
    return dumps_safe(data, indent=2) + "\n"


def render_json(result: RunResult, *, verbose: bool = False) -> str:
    return dumps(run_dict(result, verbose=verbose))
