"""`agentcore-probe run -f FILE... [--only NAME] [--concurrency N] [--format text|json] [--junit PATH] [--lab]`.

The scenario files become probes (`probe.scenario.load`), run concurrently with a bound,
and are reported as a table (text), one object with `probes[]` (json), a JUnit XML file
(`--junit`) and, when `$GITHUB_STEP_SUMMARY` is set, a Markdown summary appended to it.
Exit 0 only when every expectation is met, 1 when one is not, 2 for a file or usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from probe.outcome import EXIT_INTERRUPTED, Outcome, RunResult
from probe.spec import Probe

_URL_ONLY = (("call", "--call"), ("args", "--args"), ("expect", "--expect"))


def error(message: str) -> int:
    sys.stderr.write(f"agentcore-probe: error: {' '.join(message.split())}\n")
    return 2


def main(ns: argparse.Namespace) -> int:
    files = list(getattr(ns, "files", None) or [])
    if not files:
        return error("give the gateway's URL, or -f FILE for scenario files (see --help)")
    if ns.url is not None or any(f.startswith(("http://", "https://")) for f in files):
        return error("give a URL or -f FILE, not both: a scenario file names its gateways")
    for attr, flag in _URL_ONLY:
        if getattr(ns, attr, None):
            return error(f"{flag} applies to a URL; with -f the scenario file says what to call and expect")
    if ns.concurrency is None:
        ns.concurrency = 20
    if ns.concurrency < 1:
        return error("--concurrency must be at least 1")
    from probe.scenario import ScenarioError, load

    try:
        if ns.lab:
            return _run_lab(ns, files)
        scenario = load(files, os.environ)
    except ScenarioError as exc:
        return _file_error(exc)
    return _run(ns, scenario)


def _file_error(exc: Any) -> int:
    for problem in exc.problems:
        sys.stderr.write(f"agentcore-probe: error: {' '.join(str(problem).split())}\n")
    return 2


def _run_lab(ns: argparse.Namespace, files: list[str]) -> int:
    from probe.scenario import load
    from probe.scenario.lab import LabStartError, scenario_lab

    first = load(files, os.environ, require_env=False)  # the lab: section, before the lab exists
    try:
        with scenario_lab(first.lab, files[0]) as overrides:
            return _run(ns, load(files, os.environ, overrides=overrides))
    except LabStartError as exc:
        return error(f"the lab could not start: {exc}")


def select(probes: Sequence[Probe], only: Sequence[str] | None) -> list[Probe]:
    """`--only NAME`: a probe's name, or the name before its `[version]` (every version of it)."""
    if not only:
        return list(probes)
    wanted = set(only)
    chosen = [p for p in probes if p.label in wanted or p.label.partition("[")[0] in wanted]
    known = {p.label for p in probes} | {p.label.partition("[")[0] for p in probes}
    unknown = sorted(wanted - known)
    if unknown:
        raise ValueError(f"--only {unknown[0]!r}: no such probe (the files define: "
                         f"{', '.join(sorted({p.label.partition('[')[0] for p in probes}))})")
    return chosen


def _run(ns: argparse.Namespace, scenario: Any) -> int:
    from probe.cli.run import run_until_signal
    from probe.scenario import run

    try:
        probes = select(scenario.probes, ns.only)
    except ValueError as exc:
        return error(str(exc))
    results, interrupted = run_until_signal(lambda stop: run(probes, concurrency=ns.concurrency, stop=stop))
    for result in results:
        if result.outcome is Outcome.PROBE_ERROR and result.steps:
            sys.stderr.write(f"agentcore-probe: error: {result.name}: {result.steps[0].detail.message}\n")
    written = write_reports(ns, results, probes, scenario)
    if getattr(ns, "bundle", None):
        from probe.cli.run import write_bundle_for

        written = write_bundle_for(ns, results, probes) and written
    if interrupted:
        return EXIT_INTERRUPTED
    return exit_code(results) if written else 2


def exit_code(results: Sequence[RunResult]) -> int:
    """0 when every expectation is met; 2 when what failed is only the probes' own configuration; else 1."""
    failed = [r for r in results if r.exit_code != 0]
    if not failed:
        return 0
    return 2 if all(r.outcome is Outcome.PROBE_ERROR for r in failed) else 1


def write_reports(ns: argparse.Namespace, results: list[RunResult], probes: list[Probe], scenario: Any) -> bool:
    """Every report asked for; False when the JUnit file cannot be written (said on stderr)."""
    from probe.report import render
    from probe.report.style import use_color

    if ns.format == "json":
        sys.stdout.write(render(results, fmt="json", verbose=ns.verbose))
    else:
        color = use_color(sys.stdout, no_color=ns.no_color)
        from probe.report.table import render_table

        details = [r for r in results if ns.verbose or r.expectation_met is False]
        for r in details:
            sys.stdout.write(render(r, fmt="text", color=color, verbose=ns.verbose) + "\n")
        sys.stdout.write(render_table(results, color=color))
    classnames = {p.label: Path(scenario.where(p)[0]).stem for p in probes}
    if ns.junit:
        from probe.report.junit import render_junit

        try:
            Path(ns.junit).write_text(render_junit(results, classnames=classnames), encoding="utf-8")
        except OSError as exc:
            error(f"--junit {ns.junit}: cannot write: {exc.strerror or exc}")
            return False
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        from probe.report.markdown import render_markdown

        with contextlib.suppress(OSError), open(summary, "a", encoding="utf-8") as f:
            f.write(render_markdown(results))
    return True
