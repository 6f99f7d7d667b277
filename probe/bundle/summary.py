"""SUMMARY.md: what failed, why, and what to do, in words ready to paste into a support case.

Pure: it reads the bundle's own records (the results, the IAM check, the control-plane
facts, the telemetry) and writes Markdown; nothing here calls anything. Server text is
quoted in code spans with backticks neutralised, so a hostile message cannot restyle the
case it is pasted into.
"""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime
from typing import Any

from probe.outcome import Outcome, RunResult
from probe.report.escape import terminal_safe


def code(text: Any) -> str:
    """`text` as one Markdown code span: one line, no backtick can close it early, no control character
    (`cat SUMMARY.md` must not run a server's escape sequence)."""
    s = terminal_safe(" ".join(str(text).split())).replace("`", "'")
    return f"`{s[:600]}`"


def when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if epoch else "unknown"


def fix_command(gateway_id: str, region: str) -> str:
    return f"agentcore-probe iam fix --gateway-id {gateway_id} --region {region} --apply"


def render_summary(entries: list[dict[str, Any]], environment: dict[str, Any],
                   unavailable: list[dict[str, str]]) -> str:
    """The whole SUMMARY.md. `entries`: one per probe (result, command, iam, control, telemetry)."""
    failed = [e for e in entries if e["result"].exit_code != 0]
    lines = ["# agentcore-probe support bundle", ""]
    lines.append(f"- Probe: agentcore-probe {environment.get('probe_version')} on {environment.get('platform')}")
    lines.append(f"- Captured: {when(environment.get('created_at') or 0)}")
    lines.append(f"- Probes: {len(entries)}, failed: {len(failed)}")
    lines.append("")
    if len(entries) > 1:
        lines += ["| probe | gateway | outcome | exit |", "|---|---|---|---|"]
        for e in entries:
            r: RunResult = e["result"]
            lines.append(f"| {code(r.name or r.url)} | {code(r.gateway or '-')} | {r.outcome.value} | {r.exit_code} |")
        lines.append("")
    for e in failed or entries[:1]:
        lines += _probe_section(e, titled=len(entries) > 1)
    if unavailable:
        lines += ["## Not captured", "", "What the bundle could not read (the rest is complete):", ""]
        lines += [f"- {u.get('what')}: {code(u.get('why'))}" for u in unavailable]
        lines.append("")
    lines += ["## In this bundle", "",
              "`report.json` (the full report with every HTTP exchange, secrets redacted; "
              "`agentcore-probe replay` reads it or the whole bundle), `outcome.json`, `control_plane.json`, "
              "`iam.json`, `telemetry.json`, `ids.json` (AWS request ids and trace ids), `timeline.json`, "
              "`environment.json`, `unavailable.json`. HTML view: `agentcore-probe report BUNDLE --html OUT.html`.",
              ""]
    return "\n".join(lines)


def _probe_section(e: dict[str, Any], *, titled: bool) -> list[str]:
    r: RunResult = e["result"]
    step = r.failing_step
    out: list[str] = []
    head = f"## {r.name}: " if titled and r.name else "## "
    out += [f"{head}Outcome: {r.outcome.value} (exit {r.exit_code})", ""]
    out.append(f"- URL: {code(r.url)}")
    if e.get("gateway_id"):
        out.append(f"- Gateway: {code(e['gateway_id'])} in {code(e.get('region'))}")
    out.append(f"- Started: {when(r.started_at)}, took {r.duration_ms:.0f} ms")
    if e.get("command"):
        out.append(f"- Reproduce: {code('agentcore-probe ' + shlex.join(e['command']))}")
    out.append("")
    out += ["### What failed", ""]
    if step is None:
        out += [f"Nothing failed: {r.outcome.meaning}." if r.outcome is Outcome.OK else r.outcome.meaning, ""]
    else:
        status = f"HTTP {step.http_status}" if step.http_status else "no HTTP answer"
        out.append(f"The `{step.method}` step failed ({status}, {step.attempts or 1} attempt(s)): "
                   f"{r.outcome.meaning}.")
        d = step.detail
        if d.message:
            out.append(f"The gateway said: {code(d.message)}")
        out.append("")
        out.append(f"- Decided by the classifier rule {code(d.rule or 'unknown')}")
        for label, value in (("AWS request id", d.request_id), ("Trace id", d.trace_id),
                             ("Policy", d.policy_id), ("Reason", d.reason), ("JSON-RPC error code", d.rpc_error_code)):
            if value is not None:
                out.append(f"- {label}: {code(value)}")
        out.append("")
    out += _why(e)
    out += _todo(e)
    return out


def _why(e: dict[str, Any]) -> list[str]:
    r: RunResult = e["result"]
    iam = e.get("iam")
    out: list[str] = []
    missing = (iam or {}).get("missing") or []
    if iam or r.notes or e.get("spans"):
        out += ["### Why", ""]
    if iam:
        role = iam.get("role_arn") or "the gateway's role"
        if missing:
            out.append(f"The gateway's execution role {code(role)} lacks {len(missing)} permission(s) that policy "
                       f"evaluation needs (IAM check by {iam.get('method') or 'unknown method'}):")
            out += ["", "| action | resource | why |", "|---|---|---|"]
            for m in missing:
                why = m.get("reason") or ""
                if m.get("statements"):
                    why += " by " + ", ".join(_statement(s) for s in m["statements"])
                out.append(f"| {code(m.get('action'))} | {code(m.get('resource'))} | {why} |")
            out.append("")
        else:
            out += [f"IAM check of {code(role)}: {iam.get('verdict')}.", ""]
        for err in iam.get("errors") or []:
            out.append(f"- IAM check could not read: {code(err)}")
        if iam.get("errors"):
            out.append("")
    for note in r.notes:
        out.append(f"- {note}")
    if r.notes:
        out.append("")
    for span in e.get("spans") or []:
        if span.get("of_interest"):
            status = f"HTTP {span['http_status']}" if span.get("http_status") else (span.get("status") or "?")
            out.append(f"- Gateway span {code(span.get('name'))}: {status}")
    if e.get("spans"):
        out.append("")
    return out


def _statement(s: Any) -> str:
    if isinstance(s, dict):
        return code(s.get("label") or s.get("sid") or s.get("source") or json.dumps(s)[:120])
    return code(s)


def _todo(e: dict[str, Any]) -> list[str]:
    r: RunResult = e["result"]
    step = r.failing_step
    iam = e.get("iam") or {}
    out = ["### What to do", ""]
    if step is not None and step.hint:
        out += [step.hint, ""]
    if iam.get("missing"):
        gid, region = iam.get("gateway_id") or e.get("gateway_id"), iam.get("region") or e.get("region")
        out += ["Grant the missing permissions with the probe (it checks again after writing):", "",
                "```", fix_command(str(gid), str(region)), "```", ""]
        if iam.get("remediation_command") and iam.get("remediation_policy"):
            file = iam.get("remediation_policy_file") or "agentcore-probe-policy.json"
            out += [f"or with the AWS CLI: save this policy as `{file}`", "", "```json",
                    json.dumps(iam["remediation_policy"], indent=2), "```", "", "then run", "", "```",
                    str(iam["remediation_command"]), "```", ""]
        elif iam.get("remediation_refusal"):
            out += [f"An inline policy cannot fix it: {iam['remediation_refusal']}", ""]
            out += [f"- {c}" for c in iam.get("remediation_changes") or []]
            out.append("")
    if e.get("command") and r.exit_code != 0:
        out += ["Then probe again:", "", "```", "agentcore-probe " + shlex.join(e["command"]), "```", ""]
    if len(out) == 2:
        out += ["Nothing to do.", ""]
    return out
