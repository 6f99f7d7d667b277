"""JUnit XML: one test case per probe, for CI systems that show test results (GitHub, GitLab, Jenkins).

A probe whose expectation is not met is a `<failure>` (message: expected vs outcome; the
body: the text report, the evidence); a probe that could not run as configured
(probe_error) is an `<error>`. Written with the standard library's ElementTree, which
escapes whatever the gateway sent; control characters XML 1.0 cannot carry are dropped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

from probe.outcome import Outcome, RunResult

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _x(text: object) -> str:
    return _XML_INVALID.sub("", str(text))


def failure_message(result: RunResult) -> str:
    """`expected policy_denied, got ok` plus the failed checks, one line."""
    wanted = ", ".join(o.value for o in result.expect) or "no outcome in particular"
    parts = [f"expected {wanted}, got {result.outcome.value}"]
    parts += [f"{c.name}: {c.message}" for c in result.checks if not c.passed and c.name != "outcome"]
    return "; ".join(parts)


def render_junit(results: Sequence[RunResult], *, suite: str = "agentcore-probe",
                 classnames: Mapping[str, str] | None = None) -> str:
    from probe.report.text import render_text

    failures = sum(1 for r in results if r.expectation_met is False and r.outcome is not Outcome.PROBE_ERROR)
    errors = sum(1 for r in results if r.outcome is Outcome.PROBE_ERROR)
    total_s = sum(r.duration_ms for r in results) / 1000
    root = ET.Element("testsuites", name=suite, tests=str(len(results)), failures=str(failures),
                      errors=str(errors), time=f"{total_s:.3f}")
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(results)), failures=str(failures),
                       errors=str(errors), skipped="0", time=f"{total_s:.3f}")
    for r in results:
        name = _x(r.name or r.url)
        classname = _x((classnames or {}).get(r.name or "", "") or r.gateway or suite)
        case = ET.SubElement(ts, "testcase", name=name, classname=classname, time=f"{r.duration_ms / 1000:.3f}")
        body = _x(render_text(r, color=False))
        if r.outcome is Outcome.PROBE_ERROR:
            message = r.steps[0].detail.message if r.steps else "the probe could not run"
            el = ET.SubElement(case, "error", message=_x(message), type="probe_error")
            el.text = body
        elif r.expectation_met is False:
            el = ET.SubElement(case, "failure", message=_x(failure_message(r)), type=r.outcome.value)
            el.text = body
        else:
            warned = [c for c in r.checks if not c.passed and c.level == "warn"]
            out = ET.SubElement(case, "system-out")
            out.text = "".join(f"WARN {_x(c.name)}: {_x(c.message)}\n" for c in warned) + body
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
