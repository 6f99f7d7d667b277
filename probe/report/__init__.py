"""Reporters render results; they never decide anything. One module per format, one entry point.

`render(results, fmt)` takes one RunResult or several: a new format is one new module
here and one line in `FORMATS`.
"""

from __future__ import annotations

from collections.abc import Sequence

from probe.outcome import RunResult

FORMATS = ("text", "json", "junit", "markdown")


def render(results: RunResult | Sequence[RunResult], *, fmt: str = "text", color: bool = False,
           verbose: bool = False) -> str:
    single = isinstance(results, RunResult)
    if fmt == "json":
        from probe.report.json import dumps, many_dict, run_dict

        return dumps(run_dict(results, verbose=verbose) if single else many_dict(results, verbose=verbose))
    if fmt == "text":
        from probe.report.text import render_text

        if single:
            return render_text(results, color=color, verbose=verbose)
        return "\n".join(render_text(r, color=color, verbose=verbose) for r in results)
    many = [results] if single else list(results)
    if fmt == "junit":
        from probe.report.junit import render_junit

        return render_junit(many)
    if fmt == "markdown":
        from probe.report.markdown import render_markdown

        return render_markdown(many)
    raise ValueError(f"unknown report format {fmt!r} (one of {', '.join(FORMATS)})")
