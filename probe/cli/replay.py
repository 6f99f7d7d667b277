"""`agentcore-probe replay REPORT.json`: re-judge a saved report offline and print it again.

Every recorded exchange is classified again with today's rules (the classifier is pure,
so this is exactly what the live run would decide now), and each step's verdict is
compared with the saved one; a difference is said, never hidden. Nothing is sent anywhere.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from probe.outcome import Outcome, RunResult
from probe.report.escape import terminal_safe

MAX_REPORT_BYTES = 64 * 1024 * 1024


def load_report(source: str) -> RunResult:
    """A RunResult from a JSON report file, a support bundle (directory or zip) or `-`.

    ValueError with one line when it is not one."""
    if source == "-":
        text = sys.stdin.read(MAX_REPORT_BYTES + 1)
    elif _is_bundle(source):  # a support bundle (directory or zip): its report.json
        from probe.bundle.read import read_texts

        text = read_texts(source)["report.json"]
    else:
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"{source}: no such file")
        if path.stat().st_size > MAX_REPORT_BYTES:
            raise ValueError(f"{source}: larger than {MAX_REPORT_BYTES} bytes")
        text = path.read_text(encoding="utf-8", errors="replace")
    try:
        data: Any = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{source}: not JSON ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("probes"), list) and data["probes"]:
        data = data["probes"][0].get("result", data)
    if not isinstance(data, dict) or "outcome" not in data or "url" not in data:
        raise ValueError(f"{source}: not an agentcore-probe report (no outcome and url)")
    try:
        return RunResult.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError) as exc:
        raise ValueError(f"{source}: not a report this probe can read ({type(exc).__name__}: {exc})") from None


def _is_bundle(source: str) -> bool:
    from probe.bundle.read import is_bundle

    return is_bundle(source)


def rejudge(saved: RunResult) -> tuple[RunResult, list[str]]:
    """The report as today's classifier judges its exchanges, and a line for every verdict that changed."""
    from probe.replay import rejudge_result

    return rejudge_result(saved)


def main(ns: argparse.Namespace) -> int:
    from probe.report import render
    from probe.report.style import use_color

    try:
        saved = load_report(ns.report)
    except (ValueError, OSError) as exc:
        sys.stderr.write(f"agentcore-probe: error: {' '.join(str(exc).split())[:400]}\n")
        return 2
    # A report is input from anywhere (a support case, a colleague): whatever shape it has, the answer is
    # a report or one line, never a traceback. Its text is escaped like any server's text.
    try:
        result, changes = rejudge(saved)
        text = render(result, fmt=ns.format, color=use_color(sys.stdout, no_color=ns.no_color), verbose=ns.verbose)
    except Exception as exc:  # a malformed report, described in one line
        shown = terminal_safe(f"{type(exc).__name__}: {exc}")[:300]
        where = terminal_safe(ns.report)
        sys.stderr.write(f"agentcore-probe: error: {where}: not a report this probe can show ({shown})\n")
        return 2
    if not any(s.exchanges for s in saved.steps) and saved.outcome is not Outcome.PROBE_ERROR:
        sys.stderr.write("agentcore-probe: note: the report has no transcript (write it with -v --format json); "
                         "its saved verdicts are shown as they were\n")
    for line in changes:
        sys.stderr.write(f"agentcore-probe: replay: {terminal_safe(line)}\n")
    sys.stdout.write(text)
    return result.exit_code
