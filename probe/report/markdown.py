"""The Markdown summary of a scenario run, for `$GITHUB_STEP_SUMMARY` (a job's summary page).

A table (probe, outcome, expected, met, duration) and, for each expectation not met, the
failed checks and the gateway's own words. Cells are escaped: a gateway's text cannot
break the table or inject markup (pipes, backticks, HTML, newlines).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from probe.outcome import RunResult
from probe.report.escape import terminal_safe
from probe.report.junit import failure_message
from probe.report.table import expected_text, met_word

CELL_LIMIT = 300


_MARKDOWN = re.compile(r"([\\`*\[\]|<>])")  # enough to neutralise links, images, emphasis, code and HTML


def cell(text: object) -> str:
    """Server text in a Markdown table cell: no control characters, and no link, image or emphasis syntax."""
    value = terminal_safe(" ".join(str(text).split()))[:CELL_LIMIT]
    return html.escape(_MARKDOWN.sub(r"\\\1", value), quote=False)


def render_markdown(results: Sequence[RunResult], *, title: str = "agentcore-probe scenario") -> str:
    failed = [r for r in results if r.exit_code != 0]
    met = sum(1 for r in results if r.expectation_met)
    verdict = "passed" if not failed else "FAILED"
    lines = [f"### {cell(title)}: {verdict}", "", f"{met} of {len(results)} expectations met.", "",
             "| Probe | Outcome | Expected | Met | Duration |", "|---|---|---|---|---|"]
    for r in results:
        mark = {"yes": "✅ yes", "NO": "❌ no"}.get(met_word(r), f"⚠️ {met_word(r)}")
        lines.append(f"| {cell(r.name or r.url)} | `{cell(r.outcome.value)}` | {cell(expected_text(r))} | {mark} "
                     f"| {r.duration_ms:.0f} ms |")
    for r in failed:
        lines += ["", f"**{cell(r.name or r.url)}**: {cell(failure_message(r))}"]
        step = next((s for s in r.steps if s.outcome.value != "ok"), None)
        if step is not None and step.detail.message:
            lines.append(f"- gateway said: {cell(step.detail.message)}")
        if step is not None and step.hint:
            lines.append(f"- hint: {cell(step.hint)}")
    return "\n".join(lines) + "\n\n"
