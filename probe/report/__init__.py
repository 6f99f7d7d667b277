"""Reporters render a RunResult; they never decide anything. One module per format."""

from __future__ import annotations

from probe.outcome import RunResult


def render(result: RunResult, *, fmt: str, color: bool, verbose: bool) -> str:
    if fmt == "json":
        from probe.report.json import render_json

        return render_json(result, verbose=verbose)
    from probe.report.text import render_text

    return render_text(result, color=color, verbose=verbose)
