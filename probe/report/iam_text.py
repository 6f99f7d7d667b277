"""The IAM check and fix, as an operator reads them in a terminal or a run report.

Renders the `to_dict()` form only (so a saved JSON renders the same as a live check) and
decides nothing: every verdict and reason was settled by probe.iam. No boto3 here.
"""

from __future__ import annotations

import json
from typing import Any

from probe.iam.evaluate import statement_label
from probe.report.style import Paint

_VERDICT = {
    "ok": ("OK: the role has every permission policy evaluation needs", "green"),
    "missing_permissions": ("MISSING PERMISSIONS", "red"),
    "unknown": ("UNKNOWN: some permissions could not be decided", "yellow"),
}
_METHOD = {
    "simulate": "IAM policy simulation (iam:SimulatePrincipalPolicy)",
    "offline": "offline evaluation of the role's policy documents",
}
_MARK = {"allowed": ("ok", "green"), "unknown": ("?", "yellow")}
_INDENT = "    "


class _Paint(Paint):
    """The one palette (probe.report.style), called text first as this module reads best."""

    def __call__(self, text: str, style: str) -> str:  # type: ignore[override]
        return super().__call__(style, text)


def render_iam_check(check: dict[str, Any], *, color: bool = False) -> str:
    """The whole check: facts, verdict, each missing pair with its reason, the fix, the manual way."""
    paint = _Paint(color)
    lines = _header(check, paint)
    lines += _pairs(check, paint)
    lines += _lambda(check, paint)
    lines += _bullets("Notes", check.get("notes"))
    lines += _bullets("Could not read or decide", check.get("errors"))
    if check.get("remediation_policy"):
        lines += _remediation(check)
    elif check.get("remediation_refusal"):
        lines += ["", paint("No inline policy can fix this:", "bold"), _INDENT + str(check["remediation_refusal"])]
    lines += _changes(check.get("remediation_changes"))
    if check.get("verdict") != "ok" or check.get("errors") or check.get("remediation_blocked"):
        lines += ["", "Check by hand:"] + [_INDENT + c for c in check.get("manual_check") or []]
    return "\n".join(lines) + "\n"


def render_iam_fix(fix: dict[str, Any], *, color: bool = False) -> str:
    """`iam fix`: the check as found, what was (or would be) written, and the check afterwards."""
    paint = _Paint(color)
    before = dict(fix.get("before") or {})
    # The fix's own policy, refusal and changes are shown below, once.
    before.update(remediation_policy=None, remediation_refusal=None, remediation_changes=[])
    out = render_iam_check(before, color=color).rstrip("\n").split("\n")
    out += ["", paint("Fix: " + _fix_headline(fix), "bold")]
    if fix.get("refusal"):
        out.append(_INDENT + str(fix["refusal"]))
    if fix.get("policy") and fix.get("action") in ("printed", "applied", "unchanged"):
        out += [f"Inline policy {fix.get('policy_name')} on {fix.get('role_arn')}:"]
        out += [_INDENT + line for line in json.dumps(fix["policy"], indent=2).split("\n")]
        out += [f"The command that applies it (save the policy above as {fix.get('policy_file')}):"]
        out.append(_INDENT + str(fix.get("command")))
    out += _not_granted(fix.get("not_granted"))
    out += _changes(fix.get("changes"))
    out += _bullets("Errors", fix.get("errors"))
    after = fix.get("after")
    if after:
        verdict, style = _VERDICT.get(after.get("verdict"), (str(after.get("verdict")), "yellow"))
        out += ["", "Checked again: " + paint(verdict, style)]
        for m in after.get("missing") or []:
            out.append(f"{_INDENT}x  {m['action']} on {m['resource']}: {_reason(m)}")
        out += [_INDENT + "- " + e for e in after.get("errors") or []]
    return "\n".join(out) + "\n"


def _fix_headline(fix: dict[str, Any]) -> str:
    action = fix.get("action")
    name, role = fix.get("policy_name"), fix.get("role_arn")
    return {
        "nothing_to_do": "nothing to do: the role already has every permission needed",
        "printed": "nothing was changed (dry run); run with --apply to write this policy",
        "applied": f"wrote inline policy {name} to {role}",
        "unchanged": f"inline policy {name} already holds exactly this document; nothing was written",
        "refused": "refused: nothing was written",
        "failed": "failed: nothing was written",
    }.get(str(action), str(action))


def _header(check: dict[str, Any], paint: _Paint) -> list[str]:
    gw = check.get("gateway") or {}
    title = check.get("gateway_arn") or f"{check.get('gateway_id')} ({check.get('region')})"
    lines = [paint(f"IAM check of gateway {title}", "bold")]
    rows: list[tuple[str, str]] = [("execution role", _or_unknown(check.get("role_arn")))]
    if check.get("role_service_linked"):
        rows[-1] = ("execution role", f"{check.get('role_arn')} (service-linked)")
    engine = check.get("policy_engine_arn")
    if engine:
        rows.append(("policy engine", f"{engine} ({_engine_facts(check, gw)})"))
    elif check.get("gateway_arn"):
        rows.append(("policy engine", "none attached"))
    if check.get("gateway_arn"):
        facts = [
            f"status {_or_unknown(gw.get('status'))}",
            f"authorizer {_or_unknown(gw.get('authorizer_type'))}",
            f"exceptionLevel {gw.get('exception_level') or 'unset'}",
        ]
        rows.append(("gateway", "; ".join(facts)))
    rows.append(("decided by", _METHOD.get(str(check.get("method")), "nothing: no way to decide was available")))
    lines += [f"  {k:<15} {v}" for k, v in rows]
    decisions = check.get("decisions") or []
    verdict, style = _VERDICT.get(str(check.get("verdict")), (str(check.get("verdict")), "yellow"))
    if not check.get("gateway_arn"):
        verdict, style = "UNKNOWN: the gateway could not be read", "yellow"
    count = ""
    if check.get("verdict") == "missing_permissions":
        count = f" ({len(check.get('missing') or [])} of {len(decisions)} required permissions)"
    uninvokable = check.get("lambda_uninvokable") or []
    if uninvokable and check.get("gateway_arn"):
        # The verdict is about policy evaluation; the summary must still say that tool calls will fail.
        n = len(uninvokable)
        count += (
            f"; but {n} Lambda target{'' if n == 1 else 's'} cannot be invoked "
            "(lambda:InvokeFunction is denied: tool calls to "
            f"{'it' if n == 1 else 'them'} fail)"
        )
        style = "red" if check.get("verdict") != "unknown" else style
    lines += ["", "verdict: " + paint(verdict + count, style)]
    return lines


def _engine_facts(check: dict[str, Any], gw: dict[str, Any]) -> str:
    parts = [
        f"mode {_or_unknown(check.get('policy_engine_mode'))}",
        f"engine status {_or_unknown(gw.get('engine_status'))}",
    ]
    total = gw.get("policies_total")
    if total is None:
        parts.append("policies unreadable")
    else:
        parts.append(f"{total} policies, {gw.get('policies_active')} ACTIVE")
    return "; ".join(parts)


def _pairs(check: dict[str, Any], paint: _Paint) -> list[str]:
    lines: list[str] = []
    missing = check.get("missing") or []
    if missing:
        lines += ["", "Missing permissions:"]
        for m in missing:
            lines.append(f"  {paint('x', 'red')}  {m['action']} on {m['resource']}")
            lines.append(f"{_INDENT}   {_reason(m)}")
    rest = [d for d in check.get("decisions") or [] if d.get("decision") not in _MISSING]
    if rest:
        lines += ["", "Other required permissions:"]
        for d in rest:
            mark, style = _MARK.get(d.get("decision"), ("?", "yellow"))
            lines.append(f"  {paint(f'{mark:<2}', style)} {d['action']} on {d['resource']}")
            detail = _why(d)
            if detail:
                lines.append(f"{_INDENT}   {detail}")
    return lines


_MISSING = ("implicit_deny", "explicit_deny", "boundary")


def _lambda(check: dict[str, Any], paint: _Paint) -> list[str]:
    pairs = check.get("lambda") or []
    if not pairs:
        return []
    lines = ["", "Lambda targets (lambda:InvokeFunction, needed for tool calls, not for policy evaluation):"]
    for d in pairs:
        decision = d.get("decision")
        if decision in _MISSING:
            lines.append(f"  {paint('x', 'red')}  {d['resource']}")
            lines.append(f"{_INDENT}   {_reason({**d, 'reason': decision})}")
        else:
            mark, style = _MARK.get(decision, ("?", "yellow"))
            lines.append(f"  {paint(f'{mark:<2}', style)} {d['resource']}")
            if decision != "allowed" and d.get("note"):
                lines.append(f"{_INDENT}   {d['note']}")
    return lines


def _reason(m: dict[str, Any]) -> str:
    reason = m.get("reason") or m.get("decision")
    statements = m.get("statements") or []
    labels = ", ".join(_label(s) for s in statements)
    if reason == "implicit_deny":
        text = "implicit deny: no statement in the role's policies allows it"
        also = m.get("also_blocked_by")
        by = ", ".join(m.get("also_blocked_by_what") or [])
        if also == "boundary":
            return f"{text}; {by or 'the permissions boundary'} does not allow it either"
        if also == "unsettled":
            return f"{text}; a conditional Deny or boundary the check cannot settle may also block it ({by})"
        if also:
            return f"{text}; even with an Allow it stays denied ({m.get('note') or also})"
        return text
    if reason == "explicit_deny":
        return f"explicit deny by {labels}" if labels else f"explicit deny ({m.get('note') or 'a Deny statement'})"
    if reason == "boundary":
        text = "outside the permissions boundary"
        return f"{text} (allowed by {labels}, but the boundary does not allow it)" if labels else text
    return str(m.get("note") or reason)


def _why(d: dict[str, Any]) -> str | None:
    if d.get("decision") == "allowed":
        statements = [s for s in d.get("statements") or [] if s.get("source_kind") != "boundary"]
        return "allowed by " + ", ".join(_label(s) for s in statements) if statements else None
    return d.get("note")


def _label(s: dict[str, Any]) -> str:
    return statement_label(s)


def _remediation(check: dict[str, Any]) -> list[str]:
    name, role = check.get("remediation_policy_name"), check.get("role_arn")
    lines = ["", f"Remediation: add the inline policy {name} to {role}."]
    lines.append(f"Save this as {check.get('remediation_policy_file')}:")
    lines += [_INDENT + line for line in json.dumps(check["remediation_policy"], indent=2).split("\n")]
    if check.get("remediation_command"):
        lines += ["then apply it:", _INDENT + str(check["remediation_command"])]
    lines.append(
        f"(or: agentcore-probe iam fix --gateway-id {check.get('gateway_id')} --region {check.get('region')} --apply)"
    )
    return lines + _not_granted([b for b in check.get("remediation_blocked") or [] if b.get("kind") == "lambda"])


def _not_granted(blocked: Any) -> list[str]:
    if not blocked:
        return []
    lines = ["", "Not granted (an inline Allow cannot help; the rest of the fix stands):"]
    for b in blocked:
        by = "; ".join(b.get("blocked_by") or []) or b.get("note") or b.get("reason")
        lines.append(f"  - {b['action']} on {b['resource']}: {_BLOCKED.get(b.get('reason'), b.get('reason'))} ({by})")
    return lines


_BLOCKED = {
    "explicit_deny": "blocked by an explicit Deny",
    "boundary": "outside the permissions boundary",
    "unsettled": "a condition the check cannot settle could block it",
    "still_denied": "denied even with the Allow",
}


def _changes(items: Any) -> list[str]:
    return _bullets("What to change instead", items)


def _bullets(title: str, items: Any) -> list[str]:
    if not items:
        return []
    return ["", f"{title}:"] + [f"  - {item}" for item in items]


def _or_unknown(value: Any) -> str:
    return "unknown" if value in (None, "") else str(value)
