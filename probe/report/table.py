"""The summary table of a scenario run: probe, outcome, expected, met, duration; one line each."""

from __future__ import annotations

from collections.abc import Sequence

from probe.outcome import RunResult
from probe.report.escape import terminal_safe
from probe.report.style import Paint

NAME_WIDTH = 48


def expected_text(result: RunResult) -> str:
    """What the probe expected, in a few words: the outcomes, and how many further checks."""
    words = ",".join(o.value for o in result.expect) or "-"
    extra = [c for c in result.checks if c.name != "outcome"]
    return words + (f" +{len(extra)} check{'s' if len(extra) > 1 else ''}" if extra else "")


def met_word(result: RunResult) -> str:
    met = result.expectation_met
    if met is None:
        return "-"
    if not met:
        return "NO"
    slow = any(not c.passed and c.level == "warn" for c in result.checks)
    return "yes (slow)" if slow else "yes"


def render_table(results: Sequence[RunResult], *, color: bool = False) -> str:
    paint = Paint(color)
    rows = [(terminal_safe(r.name or r.url, True, limit=NAME_WIDTH), r.outcome.value, expected_text(r), met_word(r),
             f"{r.duration_ms:.0f} ms") for r in results]
    head = ("PROBE", "OUTCOME", "EXPECTED", "MET", "DURATION")
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(4)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head[:4], widths, strict=True)) + "  " + head[4]]
    for row in rows:
        met = row[3]
        style = "green" if met.startswith("yes") and met == "yes" else "yellow" if met.startswith("yes") else (
            "red" if met == "NO" else "dim")
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].ljust(widths[2]),
                 paint(style, met.ljust(widths[3])), row[4]]
        lines.append("  ".join(cells))
    met_count = sum(1 for r in results if r.expectation_met)
    failed = [r for r in results if r.exit_code != 0]
    verdict = paint("green+bold", "passed") if not failed else paint("red+bold", "FAILED")
    lines.append("")
    lines.append(f"{verdict}: {met_count} of {len(results)} expectations met")
    return "\n".join(lines) + "\n"
