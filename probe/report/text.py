"""The text report: what a person reads after a deploy or during a support case."""

from __future__ import annotations

from probe.outcome import Exchange, Outcome, RunResult, Step
from probe.report.escape import ONE_LINE_LIMIT, terminal_safe
from probe.report.style import Paint

BODY_PREVIEW = 1500
TOOLS_SHOWN = 8
TOOL_NAME_SHOWN = 120  # characters of one tool name on the tools line


def clean(text: object, *, one_line: bool = True, limit: int | None = None) -> str:
    """Server-sent text, made harmless for a terminal: no escape sequences, no forged lines.

    The rule is `probe.report.escape.terminal_safe`; a one-line field is also bounded
    (ONE_LINE_LIMIT unless `limit` says otherwise): the transcript is where a body is read.
    """
    if limit is None and one_line:
        limit = ONE_LINE_LIMIT
    return terminal_safe(text, one_line, limit=limit)


def outcome_style(outcome: Outcome) -> str:
    return "bold+" + ("green" if outcome is Outcome.OK else "yellow" if outcome is Outcome.EMPTY_TOOLS else "red")


def _step_line(step: Step, paint: Paint) -> list[str]:
    status = f"HTTP {step.http_status}" if step.http_status is not None else "no answer"
    tries = f"  ({step.attempts} attempts)" if step.attempts > 1 else ""
    waited = step.duration_ms - step.wire_ms
    wire = f"  ({step.wire_ms:.0f} ms on the wire)" if step.exchanges and waited >= 100 else ""
    outcome = paint(outcome_style(step.outcome), step.outcome.value)
    lines = [f"  {step.method:<14} {status:<10} {step.duration_ms:>8.0f} ms  {outcome}{tries}{wire}"]
    d = step.detail
    if step.outcome is not Outcome.OK:
        if d.message:
            lines.append(f"      said:       {clean(d.message)}")
        if d.reason:
            lines.append(f"      reason:     {clean(d.reason)}")
        if d.policy_id:
            lines.append(f"      policy:     {clean(d.policy_id)}")
        if d.debug:
            lines.append(f"      debug:      {clean(d.debug)}")
        if d.www_authenticate:
            lines.append(f"      challenge:  {clean(d.www_authenticate)}")
        if d.retry_after_s is not None:
            lines.append(f"      retry after {d.retry_after_s:g} s")
        if d.request_id:
            lines.append(f"      request id: {clean(d.request_id)}")
        if step.hint:
            lines.append(f"      {paint('dim', 'hint:')}       {clean(step.hint)}")
    if step.method == "tools/call" and step.outcome is Outcome.OK and step.data.get("result_text"):
        text = " ".join(str(step.data["result_text"]).split())
        lines.append(f"      result:     {clean(text[:200])}")
    return lines


def _exchange_lines(ex: Exchange) -> list[str]:
    lines = [f"  > {ex.http_method} {clean(ex.url)}  [{ex.rpc_method or '-'} id={ex.rpc_id} attempt {ex.attempt}]"]
    lines += [f"  > {clean(k)}: {clean(v)}" for k, v in ex.request_headers.items()]
    lines.append(f"  > {clean(ex.request_body[:BODY_PREVIEW])}")
    if ex.status is None:
        lines.append(f"  < no answer: {ex.error}: {clean(ex.error_message)}  ({ex.duration_ms:.0f} ms)")
        return lines
    lines.append(f"  < HTTP {ex.status}  ({ex.duration_ms:.0f} ms, {ex.body_bytes} bytes"
                 f"{', truncated' if ex.body_truncated else ''})")
    lines += [f"  < {clean(k)}: {clean(v)}" for k, v in ex.headers.items()]
    body = ex.body if len(ex.body) <= BODY_PREVIEW else ex.body[:BODY_PREVIEW] + f"… ({len(ex.body)} chars)"
    lines += [f"  < {clean(line, one_line=False)}" for line in body.splitlines()] or ["  < (empty body)"]
    if ex.error:
        lines.append(f"  < then: {ex.error}: {clean(ex.error_message)}")
    return lines


def render_text(result: RunResult, *, color: bool = False, verbose: bool = False) -> str:
    paint = Paint(color)
    version = f"  (MCP {result.protocol_version})" if result.protocol_version else ""
    title = f"{clean(result.name)}: " if result.name else ""
    out = [f"{paint('bold', 'agentcore-probe')} {title}{clean(result.url)}{version}"]
    for step in result.steps:
        out += _step_line(step, paint)
    if result.tools:
        shown = ", ".join(clean(t, limit=TOOL_NAME_SHOWN) for t in result.tools[:TOOLS_SHOWN])
        if len(result.tools) > TOOLS_SHOWN:
            shown += f", … ({len(result.tools)} in all)"
        partial = " (partial list)" if result.tools_partial else ""
        out.append(f"  tools{partial}: {shown}")
    for note in result.notes:
        out.append(f"  note: {clean(note)}")
    if result.iam is not None:
        from probe.report.iam_text import render_iam_check

        out.append("")
        iam_text = render_iam_check(result.iam, color=False)
        out += ["  " + clean(line, one_line=False) if line else "" for line in iam_text.splitlines()]
    for check in result.checks:
        if check.name == "outcome":
            continue
        mark = paint("green", "ok  ") if check.passed else paint("yellow" if check.level == "warn" else "red",
                                                                  "WARN" if check.level == "warn" else "FAIL")
        out.append(f"  expect {mark} {check.name}: {clean(check.message)}")
    out.append("")
    meaning = f"{paint(outcome_style(result.outcome), result.outcome.value)}"
    if result.interrupted:
        meaning += " (interrupted)"
    met = result.expectation_met
    if met is None or result.outcome is Outcome.PROBE_ERROR:
        out.append(f"RESULT {meaning} (exit {result.exit_code}): {result.outcome.meaning}")
    else:
        out.append(f"RESULT {meaning}: {result.outcome.meaning}")
        word = paint("green", "expectation met") if met else paint("red", "expectation NOT met")
        wanted = ", ".join(o.value for o in result.expect) or "the checks above"
        out.append(f"{word}: expected {wanted}, got {result.outcome.value} (exit {result.exit_code})")
    if verbose:
        out.append("")
        out.append(paint("bold", "transcript (redacted)"))
        for step in result.steps:
            for ex in step.exchanges:
                out += _exchange_lines(ex)
                out.append("")
    return "\n".join(out) + "\n"
