"""The text report: what a person reads after a deploy or during a support case."""

from __future__ import annotations

from probe.outcome import Exchange, Outcome, RunResult, Step

GREEN, RED, YELLOW, DIM, BOLD, RESET = "\033[32m", "\033[31m", "\033[33m", "\033[2m", "\033[1m", "\033[0m"
BODY_PREVIEW = 1500


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
            lines.append(f"      said:       {d.message}")
        if d.reason:
            lines.append(f"      reason:     {d.reason}")
        if d.policy_id:
            lines.append(f"      policy:     {d.policy_id}")
        if d.debug:
            lines.append(f"      debug:      {d.debug}")
        if d.www_authenticate:
            lines.append(f"      challenge:  {d.www_authenticate}")
        if d.retry_after_s is not None:
            lines.append(f"      retry after {d.retry_after_s:g} s")
        if d.request_id:
            lines.append(f"      request id: {d.request_id}")
        if step.hint:
            lines.append(f"      {st(DIM, 'hint:')}       {step.hint}")
    if step.method == "tools/call" and step.outcome is Outcome.OK and step.data.get("result_text"):
        text = " ".join(str(step.data["result_text"]).split())
        lines.append(f"      result:     {text[:200]}")
    return lines


def _exchange_lines(ex: Exchange) -> list[str]:
    lines = [f"  > {ex.http_method} {ex.url}  [{ex.rpc_method or '-'} id={ex.rpc_id} attempt {ex.attempt}]"]
    lines += [f"  > {k}: {v}" for k, v in ex.request_headers.items()]
    lines.append(f"  > {ex.request_body[:BODY_PREVIEW]}")
    if ex.status is None:
        lines.append(f"  < no answer: {ex.error}: {ex.error_message}  ({ex.duration_ms:.0f} ms)")
        return lines
    lines.append(f"  < HTTP {ex.status}  ({ex.duration_ms:.0f} ms, {ex.body_bytes} bytes"
                 f"{', truncated' if ex.body_truncated else ''})")
    lines += [f"  < {k}: {v}" for k, v in ex.headers.items()]
    body = ex.body if len(ex.body) <= BODY_PREVIEW else ex.body[:BODY_PREVIEW] + f"… ({len(ex.body)} chars)"
    lines += [f"  < {line}" for line in body.splitlines()] or ["  < (empty body)"]
    if ex.error:
        lines.append(f"  < then: {ex.error}: {ex.error_message}")
    return lines


def render_text(result: RunResult, *, color: bool = False, verbose: bool = False) -> str:
    st = _Style(color)
    version = f"  (MCP {result.protocol_version})" if result.protocol_version else ""
    out = [f"{st(BOLD, 'agentcore-probe')} {result.url}{version}"]
    for step in result.steps:
        out += _step_line(step, st)
    if result.tools:
        shown = ", ".join(result.tools[:8]) + (f", … ({len(result.tools)} in all)" if len(result.tools) > 8 else "")
        out.append(f"  tools: {shown}")
    for note in result.notes:
        out.append(f"  note: {note}")
    if result.iam is not None:
        from probe.report.iam_text import render_iam_check

        out.append("")
        out.append(st(BOLD, "IAM check of the gateway's execution role"))
        out += ["  " + line if line else "" for line in render_iam_check(result.iam, color=color).splitlines()]
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
