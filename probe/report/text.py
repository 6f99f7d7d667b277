"""The text report: what a person reads after a deploy or during a support case."""

from __future__ import annotations

import re

from probe.outcome import Exchange, Outcome, RunResult, Step

GREEN, RED, YELLOW, DIM, BOLD, RESET = "\033[32m", "\033[31m", "\033[33m", "\033[2m", "\033[1m", "\033[0m"
BODY_PREVIEW = 1500


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: object, *, one_line: bool = True) -> str:
    """Server-sent text, made harmless for a terminal: no escape sequences, no forged lines."""
    s = str(text)
    if one_line:
        s = s.replace("\r\n", "\n").replace("\n", " ⏎ ").replace("\t", " ")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", s)


class _Style:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if self.color else text

    def outcome(self, outcome: Outcome) -> str:
        code = GREEN if outcome is Outcome.OK else YELLOW if outcome is Outcome.EMPTY_TOOLS else RED
        return self(BOLD + code, outcome.value)


def _step_line(step: Step, st: _Style) -> list[str]:
    status = f"HTTP {step.http_status}" if step.http_status is not None else "no answer"
    tries = f"  ({step.attempts} attempts)" if step.attempts > 1 else ""
    lines = [f"  {step.method:<14} {status:<10} {step.duration_ms:>8.0f} ms  {st.outcome(step.outcome)}{tries}"]
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
            lines.append(f"      {st(DIM, 'hint:')}       {clean(step.hint)}")
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
    st = _Style(color)
    version = f"  (MCP {result.protocol_version})" if result.protocol_version else ""
    out = [f"{st(BOLD, 'agentcore-probe')} {clean(result.url)}{version}"]
    for step in result.steps:
        out += _step_line(step, st)
    if result.tools:
        shown = ", ".join(result.tools[:8]) + (f", … ({len(result.tools)} in all)" if len(result.tools) > 8 else "")
        out.append(f"  tools: {clean(shown)}")
    for note in result.notes:
        out.append(f"  note: {clean(note)}")
    if result.iam is not None:
        from probe.report.iam_text import render_iam_check

        out.append("")
        iam_text = render_iam_check(result.iam, color=False)
        out += ["  " + clean(line, one_line=False) if line else "" for line in iam_text.splitlines()]
    out.append("")
    verdict = f"{st.outcome(result.outcome)} (exit {result.outcome.exit_code}): {result.outcome.meaning}"
    if result.expect is not None:
        met = result.outcome is result.expect
        word = st(GREEN, "expectation met") if met else st(RED, "expectation NOT met")
        verdict += f"\n{word}: expected {result.expect.value}, got {result.outcome.value} (exit {result.exit_code})"
    out.append(f"RESULT {verdict}")
    if verbose:
        out.append("")
        out.append(st(BOLD, "transcript (redacted)"))
        for step in result.steps:
            for ex in step.exchanges:
                out += _exchange_lines(ex)
                out.append("")
    return "\n".join(out) + "\n"
