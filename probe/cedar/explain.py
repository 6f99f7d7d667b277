"""Which Cedar policy decided a request, computed offline from the engine's policies.

Given what the probe can read (the engine's policies, the gateway ARN, the tool's input
schema) and know (its own principal, the arguments it sent), this rebuilds the request
the gateway builds and asks cedarpy, then says which policies decided it:

- `forbid`: the determining forbid policies, with their text;
- `default_deny`: no permit matched; for each permit on that action, which part of it
  did not hold (principal, resource, a `when`/`unless` condition) or failed to evaluate;
- `permit`: the policies would permit the request: a gateway denial is then not theirs
  (the second form of the IAM fault, or a gateway that disagrees with its policies);
- for `tools/list`: `listable` when some permit could apply with the input unknown
  (Cedar partial evaluation), else `hidden`;
- `cannot_tell`: a policy cannot be read, or the principal is not known well enough:
  said explicitly, never guessed.

Each part of a permit is judged by evaluating that part alone with cedarpy (the other
scope parts unconstrained, no other condition), so the verdict is Cedar's, not a second
evaluator's.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from probe.cedar import require_cedarpy
from probe.cedar.model import (
    OAUTH_USER,
    EnginePolicy,
    Principal,
    authorize_call,
    enforced_statements,
    entities,
    parse_statement,
    partial_permits,
    request,
    typed_input,
)

Kind = Literal["forbid", "default_deny", "permit", "listable", "hidden", "cannot_tell"]
KINDS: tuple[str, ...] = ("forbid", "default_deny", "permit", "listable", "hidden", "cannot_tell")
_TAG_USE = re.compile(r"principal\s*\.\s*(getTag|hasTag)\s*\(")


@dataclass(frozen=True)
class PolicyVerdict:
    """One policy's part in the decision: what it is, and for a permit that missed, why."""

    policy_id: str
    name: str
    effect: str  # permit | forbid
    statement: str
    failed: tuple[str, ...] = ()  # parts that did not hold: principal, action, resource, when, unless (#n if several)
    errors: tuple[str, ...] = ()  # cedarpy's evaluation errors for this policy

    def to_dict(self) -> dict[str, Any]:
        return {"policy_id": self.policy_id, "name": self.name, "effect": self.effect, "statement": self.statement,
                "failed": list(self.failed), "errors": list(self.errors)}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> PolicyVerdict:
        return cls(str(doc["policy_id"]), str(doc.get("name") or doc["policy_id"]), str(doc.get("effect", "")),
                   str(doc.get("statement", "")), tuple(doc.get("failed") or ()), tuple(doc.get("errors") or ()))

    @property
    def label(self) -> str:
        return self.name if self.name == self.policy_id else f"{self.name} ({self.policy_id})"


@dataclass(frozen=True)
class Explanation:
    """What the policies say about one request (`tools/call`) or one tool (`tools/list`)."""

    kind: Kind
    tool: str
    gateway_arn: str
    summary: str
    policies: tuple[PolicyVerdict, ...] = ()
    not_enforced: tuple[str, ...] = ()  # labels of policies the engine does not decide with, and why
    principal: Mapping[str, Any] | None = None
    request: Mapping[str, Any] | None = None  # the Cedar request as built, for a support case
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "tool": self.tool, "gateway_arn": self.gateway_arn, "summary": self.summary,
                "policies": [p.to_dict() for p in self.policies], "not_enforced": list(self.not_enforced),
                "principal": dict(self.principal) if self.principal is not None else None,
                "request": dict(self.request) if self.request is not None else None, "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Explanation:
        kind = str(doc.get("kind"))
        if kind not in KINDS:
            raise ValueError(f"not an explanation kind: {kind!r}")
        return cls(kind, str(doc.get("tool", "")), str(doc.get("gateway_arn", "")),  # type: ignore[arg-type]
                   str(doc.get("summary", "")), tuple(PolicyVerdict.from_dict(p) for p in doc.get("policies") or ()),
                   tuple(doc.get("not_enforced") or ()), doc.get("principal"), doc.get("request"),
                   tuple(doc.get("notes") or ()))

    def lines(self) -> list[str]:
        """The explanation as text lines: the summary, then one line per policy."""
        out = [self.summary]
        for p in self.policies:
            detail = f"did not hold: {', '.join(p.failed)}" if p.failed else ""
            if p.errors:
                detail += ("; " if detail else "") + f"error: {'; '.join(p.errors)}"
            out.append(f"  {p.effect} {p.label}" + (f": {detail}" if detail else ""))
        out += [f"  not enforced: {n}" for n in self.not_enforced]
        out += [f"  note: {n}" for n in self.notes]
        return out


# --- the two questions -----------------------------------------------------------------------------


def explain_call(
    policies: Sequence[EnginePolicy],
    gateway_arn: str,
    tool: str,
    principal: Principal | None,
    arguments: Mapping[str, Any] | None,
    input_schema: Mapping[str, Any] | None = None,
) -> Explanation:
    """Why the engine permits or denies this `tools/call` (AuthorizeAction)."""
    return _for_principal(policies, gateway_arn, tool, principal,
                          lambda who: _explain_call(policies, gateway_arn, tool, who, arguments, input_schema))


def _for_principal(policies: Sequence[EnginePolicy], gateway_arn: str, tool: str, principal: Principal | None,
                   explain: Callable[[Principal], Explanation]) -> Explanation:
    """Explain for the caller, a stand-in caller when no enforced policy reads who it is, or say it cannot tell."""
    principal, stand_in = _stand_in(policies, principal)
    blocked = _cannot_tell(policies, gateway_arn, tool, principal)
    if blocked is not None:
        return blocked
    assert principal is not None
    explained = explain(principal)
    return _noted(explained, stand_in) if stand_in else explained


def _explain_call(
    policies: Sequence[EnginePolicy],
    gateway_arn: str,
    tool: str,
    principal: Principal,
    arguments: Mapping[str, Any] | None,
    input_schema: Mapping[str, Any] | None,
) -> Explanation:
    enforced = [p for p in policies if p.enforced]
    by_id = {p.policy_id: p for p in enforced}
    context_input = typed_input(arguments, input_schema)
    req = request(principal, tool, gateway_arn, context_input)
    common = {"tool": tool, "gateway_arn": gateway_arn, "principal": principal.to_dict(), "request": req,
              "not_enforced": _not_enforced(policies)}
    decision = authorize_call(enforced_statements(enforced), principal, tool, gateway_arn, arguments, input_schema)
    decided = tuple(_verdict(by_id[i]) for i in decision.determining_policy_ids if i in by_id)
    if decision.allowed:
        return Explanation("permit", summary=f"the policies permit this call: {_labels(decided)}; a denial from the "
                           "gateway is not theirs", policies=decided, **common)
    if decided:
        return Explanation("forbid", summary=f"forbidden by {_labels(decided)}", policies=decided, **common)
    misses = tuple(_miss(p, principal, tool, gateway_arn, context_input) for p in enforced
                   if _effect(p) == "permit")
    on_action = tuple(m for m in misses if "action" not in m.failed)
    if not on_action:
        return Explanation("default_deny", summary="denied by default: no permit names this tool for this gateway",
                           **common)
    return Explanation("default_deny", summary=f"denied by default: {len(on_action)} permit(s) on this tool did not "
                       "match", policies=on_action, **common)


def explain_listing(
    policies: Sequence[EnginePolicy], gateway_arn: str, tool: str, principal: Principal | None
) -> Explanation:
    """Whether `tools/list` should show this tool: could some permit apply with the input unknown?"""
    return _for_principal(policies, gateway_arn, tool, principal,
                          lambda who: _explain_listing(policies, gateway_arn, tool, who))


def _explain_listing(
    policies: Sequence[EnginePolicy], gateway_arn: str, tool: str, principal: Principal
) -> Explanation:
    enforced = [p for p in policies if p.enforced]
    common = {"tool": tool, "gateway_arn": gateway_arn, "principal": principal.to_dict(),
              "not_enforced": _not_enforced(policies)}
    statements = enforced_statements(enforced)
    if partial_permits(statements, principal, tool, gateway_arn) is not False:
        open_permits = tuple(_verdict(p) for p in enforced if _effect(p) == "permit"
                             and partial_permits({p.policy_id: p.statement}, principal, tool, gateway_arn) is not False)
        return Explanation("listable", summary=f"some permit could apply to this tool: {_labels(open_permits)}",
                           policies=open_permits, **common)
    scope_misses = []
    for p in enforced:
        if _effect(p) != "permit":
            continue
        miss = _miss(p, principal, tool, gateway_arn, None)
        if "action" not in miss.failed:
            scope_misses.append(miss)
    if not scope_misses:
        summary = "no permit names this tool for this gateway"
    elif all(m.failed for m in scope_misses):
        summary = "no permit on this tool matches this caller and gateway"
    else:
        summary = "a forbid that needs no input hides this tool"
    return Explanation("hidden", summary=summary, policies=tuple(scope_misses), **common)


# --- helpers ------------------------------------------------------------------------------------------

ANY_CALLER = "any caller"
_PRINCIPAL_VAR = '{"Var": "principal"}'


def principal_free(policies: Sequence[EnginePolicy]) -> bool:
    """True when no enforced policy constrains or reads the principal: the caller cannot change the answer."""
    for p in policies:
        if not p.enforced:
            continue
        try:
            bodies = parse_statement(p.statement)
        except ValueError:
            return False
        for est in bodies:
            if (est.get("principal") or {}).get("op") != "All":
                return False
            if _PRINCIPAL_VAR in json.dumps(est.get("conditions") or []):
                return False
    return True


def _stand_in(policies: Sequence[EnginePolicy], principal: Principal | None) -> tuple[Principal | None, str | None]:
    """An unknown principal is no obstacle when no policy looks at it: evaluate for a stand-in, and say so."""
    if principal is not None or not principal_free(policies):
        return principal, None
    return Principal(OAUTH_USER, ANY_CALLER), ("the caller's principal is not known, but no enforced policy reads it: "
                                               "the answer holds for any caller")


def _noted(explanation: Explanation, note: str) -> Explanation:
    return dataclasses.replace(explanation, notes=(*explanation.notes, note))



def _cannot_tell(
    policies: Sequence[EnginePolicy], gateway_arn: str, tool: str, principal: Principal | None
) -> Explanation | None:
    """The explicit "cannot tell" answer, or None when the policies and principal are known enough."""
    unreadable = []
    for p in policies:
        if not p.enforced:
            continue
        if not p.statement.strip():
            unreadable.append(f"{p.label}: no statement")
            continue
        try:
            parse_statement(p.statement)
        except ValueError as exc:
            unreadable.append(f"{p.label}: {' '.join(str(exc).split())}")
    reason = None
    if unreadable:
        reason = f"cannot tell: {len(unreadable)} polic{'y' if len(unreadable) == 1 else 'ies'} cannot be read"
    elif principal is None:
        reason = "cannot tell: the caller's principal is not known"
    elif principal.entity_type == OAUTH_USER and not principal.tags and any(
            _TAG_USE.search(p.statement) for p in policies if p.enforced):
        reason = "cannot tell: a policy reads the token's claims (principal tags), and they are not known"
    if reason is None:
        return None
    return Explanation("cannot_tell", tool, gateway_arn, reason, notes=tuple(unreadable),
                       principal=principal.to_dict() if principal else None, not_enforced=_not_enforced(policies))


def _not_enforced(policies: Sequence[EnginePolicy]) -> tuple[str, ...]:
    out = []
    for p in policies:
        if p.enforced:
            continue
        why = f"status {p.status}" if p.enforcement_mode != "LOG_ONLY" else "enforcementMode LOG_ONLY"
        out.append(f"{p.label}: {why}")
    return tuple(out)


def _effect(policy: EnginePolicy) -> str:
    try:
        return str(parse_statement(policy.statement)[0].get("effect", ""))
    except ValueError:
        return ""


def _verdict(policy: EnginePolicy, failed: Sequence[str] = (), errors: Sequence[str] = ()) -> PolicyVerdict:
    return PolicyVerdict(policy.policy_id, policy.name, _effect(policy), policy.statement, tuple(failed),
                         tuple(errors))


def _labels(verdicts: Sequence[PolicyVerdict]) -> str:
    return ", ".join(v.label for v in verdicts) or "(none)"


def _miss(
    policy: EnginePolicy,
    principal: Principal,
    tool: str,
    gateway_arn: str,
    context_input: Mapping[str, Any] | None,
) -> PolicyVerdict:
    """Which parts of a permit did not hold for this request, each part judged alone by cedarpy.

    With `context_input` None (listing) only the scope is judged: conditions need the input.
    """
    cedarpy = require_cedarpy()
    failed: list[str] = []
    errors: list[str] = []
    for est in parse_statement(policy.statement):
        parts: list[tuple[str, dict[str, Any]]] = [
            (scope, {"effect": "permit", "principal": {"op": "All"}, "action": {"op": "All"},
                     "resource": {"op": "All"}, "conditions": [], scope: est[scope]})
            for scope in ("principal", "action", "resource")
        ]
        conditions = est.get("conditions") or []
        if context_input is not None:
            for n, cond in enumerate(conditions):
                label = str(cond.get("kind")) + (f"#{n + 1}" if len(conditions) > 1 else "")
                parts.append((label, {"effect": "permit", "principal": {"op": "All"}, "action": {"op": "All"},
                                      "resource": {"op": "All"}, "conditions": [cond]}))
        req = request(principal, tool, gateway_arn, context_input or {})
        ents = entities(principal, gateway_arn, tool)
        for label, body in parts:
            doc = {"staticPolicies": {"part": body}, "templates": {}, "templateLinks": []}
            result = cedarpy.is_authorized(req, cedarpy.PolicySet.from_json_str(json.dumps(doc)), ents)
            if not result.allowed:
                failed.append(label)
                errors += [_clean_error(e) for e in result.diagnostics.errors]
    return _verdict(policy, tuple(dict.fromkeys(failed)), tuple(dict.fromkeys(errors)))


def _clean_error(text: str) -> str:
    """cedarpy's "error while evaluating policy `part`: ..." without the internal policy id."""
    text = " ".join(str(text).split())
    return text.split("`: ", 1)[1] if text.startswith("error while evaluating policy `") and "`: " in text else text
