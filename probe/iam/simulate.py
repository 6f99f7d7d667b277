"""Deciding pairs with `iam:SimulatePrincipalPolicy`: IAM's own evaluator, when we may use it.

The simulation is the authority (it knows every policy type, condition operator and
service quirk), so it is tried first. Anything that stops it (no permission, an
endpoint that does not implement it, a broken answer) raises SimulationUnavailable and
the caller falls back to the offline evaluator.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from probe.iam.evaluate import Decision
from probe.iam.gateway import aws_failures, describe_error

_SOURCE_KINDS = {"role": "inline", "aws-managed": "managed", "user-managed": "managed"}
_DECISIONS = {"allowed": "allowed", "explicitDeny": "explicit_deny", "implicitDeny": "implicit_deny"}
_EFFECTS = {"allowed": "Allow", "explicit_deny": "Deny"}


class SimulationUnavailable(Exception):
    """The simulation could not be used; the message says why (one line, no secrets)."""


@dataclass(frozen=True)
class MatchedStatement:
    """A statement IAM says decided the pair; IAM gives its place, not its text."""

    source_kind: str  # inline | managed | boundary | IAM's own type name
    source_name: str
    source_type: str  # IAM's SourcePolicyType, verbatim
    effect: str | None
    start: tuple[int, int] | None
    end: tuple[int, int] | None

    def to_dict(self) -> dict[str, Any]:
        position = None
        if self.start and self.end:
            position = f"line {self.start[0]} col {self.start[1]} to line {self.end[0]} col {self.end[1]}"
        return {
            "source_kind": self.source_kind,
            "source_name": self.source_name,
            "source_arn": self.source_name if self.source_name.startswith("arn:") else None,
            "index": None,
            "sid": None,
            "effect": self.effect,
            "statement": None,
            "position": position,
        }


# The simulation answers in the offline evaluator's vocabulary, so it returns the same type.
SimDecision = Decision


def simulate_pairs(
    iam: Any,
    role_arn: str,
    pairs: Sequence[tuple[str, str]],
    context: Mapping[str, str] | None = None,
    *,
    extra_policies: Sequence[Mapping[str, Any]] = (),
    resource_context: Mapping[str, Mapping[str, str]] | None = None,
) -> list[SimDecision]:
    """Decide every pair, in the order given. Raises SimulationUnavailable, nothing else.

    Pairs are batched by action set, so one call covers every resource that needs the
    same actions (typically two calls for a gateway, one more for its Lambda targets).
    `extra_policies` are identity policies the simulation adds to the role's own
    (`PolicyInputList`): how a remediation is tried before anything is written, with the
    role's real boundary and Deny statements still in force. `resource_context` adds keys
    of one resource (its tags): resources with different keys are simulated apart, since
    a call's context entries apply to every resource in it.
    """
    per_resource = resource_context or {}
    decided: dict[tuple[str, str], SimDecision] = {}
    extra = [json.dumps(p) for p in extra_policies]
    for actions, resources in _batches(pairs, per_resource):
        merged = {**(context or {}), **per_resource.get(resources[0], {})}
        entries = [
            {"ContextKeyName": k, "ContextKeyValues": [v], "ContextKeyType": "string"} for k, v in merged.items()
        ]
        for result in _call(iam, role_arn, actions, resources, entries, extra):
            for decision in _decisions(result, resources):
                decided.setdefault((decision.action, decision.resource), decision)
    out = []
    for action, resource in pairs:
        found = decided.get((action, resource))
        if found is None:
            found = SimDecision(action, resource, "unknown", (), note="the simulation returned no result for this pair")
        out.append(found)
    return out


def _batches(
    pairs: Sequence[tuple[str, str]], per_resource: Mapping[str, Mapping[str, str]]
) -> list[tuple[list[str], list[str]]]:
    by_resource: dict[str, list[str]] = {}
    for action, resource in pairs:
        by_resource.setdefault(resource, [])
        if action not in by_resource[resource]:
            by_resource[resource].append(action)
    by_actions: dict[tuple[Any, ...], list[str]] = {}
    for resource, actions in by_resource.items():
        own = tuple(sorted((per_resource.get(resource) or {}).items()))
        by_actions.setdefault((tuple(sorted(actions)), own), []).append(resource)
    return [(list(key[0]), resources) for key, resources in by_actions.items()]


def _call(
    iam: Any,
    role_arn: str,
    actions: list[str],
    resources: list[str],
    entries: list[dict[str, Any]],
    extra: list[str],
) -> list[Any]:
    failures = aws_failures()
    kwargs: dict[str, Any] = {"PolicySourceArn": role_arn, "ActionNames": actions, "ResourceArns": resources}
    if extra:
        kwargs["PolicyInputList"] = extra
    if entries:
        kwargs["ContextEntries"] = entries
    results: list[Any] = []
    for _ in range(100):  # a bound on pages, not an expected count
        try:
            answer = iam.simulate_principal_policy(**kwargs)
        except failures as exc:
            raise SimulationUnavailable(describe_error("iam:SimulatePrincipalPolicy", exc)) from exc
        if not isinstance(answer, dict) or not isinstance(answer.get("EvaluationResults"), list):
            raise SimulationUnavailable("iam:SimulatePrincipalPolicy: unparseable answer (no EvaluationResults)")
        results.extend(answer["EvaluationResults"])
        if not answer.get("IsTruncated"):
            return results
        if not answer.get("Marker"):
            raise SimulationUnavailable("iam:SimulatePrincipalPolicy: truncated answer without a Marker")
        kwargs["Marker"] = answer["Marker"]
    raise SimulationUnavailable("iam:SimulatePrincipalPolicy: too many pages")


def _decisions(result: Any, resources: list[str]) -> list[SimDecision]:
    """One EvaluationResult -> decisions per resource (per-resource results when IAM gives them)."""
    try:
        action = result["EvalActionName"]
        specific = result.get("ResourceSpecificResults") or []
        if specific:
            return [
                _decision(action, r["EvalResourceName"], r.get("EvalResourceDecision"), r, result) for r in specific
            ]
        resource = result.get("EvalResourceName") or "*"
        if resource not in resources and len(resources) == 1:
            resource = resources[0]  # IAM may answer "*" for a single-resource call
        return [_decision(action, resource, result.get("EvalDecision"), result, result)]
    except (KeyError, TypeError, AttributeError) as exc:
        raise SimulationUnavailable(f"iam:SimulatePrincipalPolicy: unparseable result ({exc!r})") from exc


def _decision(action: str, resource: str, raw: Any, part: Mapping[str, Any], whole: Mapping[str, Any]) -> SimDecision:
    missing = list(part.get("MissingContextValues") or whole.get("MissingContextValues") or [])
    boundary = part.get("PermissionsBoundaryDecisionDetail") or whole.get("PermissionsBoundaryDecisionDetail") or {}
    decision = _DECISIONS.get(str(raw))
    note = None
    if decision is None:
        decision, note = "unknown", f"unrecognised simulation decision {raw!r}"
    elif decision == "implicit_deny" and boundary.get("AllowedByPermissionsBoundary") is False:
        decision, note = "boundary", "the permissions boundary does not allow it"
    if missing:
        note = f"undecided: the simulation lacks context values {', '.join(sorted(missing))} (simulated: {decision})"
        decision = "unknown"
    effect = _EFFECTS.get(decision)
    statements = tuple(_statement(s, effect) for s in part.get("MatchedStatements") or [])
    return SimDecision(action, resource, decision, statements, note)


def _statement(raw: Mapping[str, Any], effect: str | None) -> MatchedStatement:
    source_type = str(raw.get("SourcePolicyType") or "none")
    start, end = raw.get("StartPosition"), raw.get("EndPosition")
    return MatchedStatement(
        source_kind=_SOURCE_KINDS.get(source_type, source_type),
        source_name=str(raw.get("SourcePolicyId") or ""),
        source_type=source_type,
        effect=effect,
        start=(int(start["Line"]), int(start["Column"])) if start else None,
        end=(int(end["Line"]), int(end["Column"])) if end else None,
    )
