"""When an inline Allow cannot repair the role: which pairs, what blocks them, what to change instead.

The check and `iam fix` must agree: a remediation the check prints is one `iam fix
--apply` would write, and a pair the fix would refuse is never offered as fixable. Both
read the refusal from here. Pure: decisions in, words out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from probe.iam.decide import BLOCKING, Prospect
from probe.iam.evaluate import statement_label


@dataclass(frozen=True)
class Blocked:
    """One required pair the inline policy cannot make allowed, and why."""

    action: str
    resource: str
    kind: str  # policy | lambda
    reason: str  # explicit_deny | boundary | unsettled | still_denied
    blocked_by: tuple[str, ...] = ()
    note: str | None = None

    @property
    def pair_text(self) -> str:
        return f"{self.action} on {self.resource}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "resource": self.resource,
            "kind": self.kind,
            "reason": self.reason,
            "blocked_by": list(self.blocked_by),
            "note": self.note,
        }


def blocked_now(entry: Mapping[str, Any], kind: str, boundary_label: str) -> Blocked | None:
    """A pair already denied in a way no Allow can lift (an explicit Deny, or the boundary)."""
    decision = entry.get("decision")
    if decision == "explicit_deny":
        labels = tuple(statement_label(s) for s in entry.get("statements") or [])
        return Blocked(entry["action"], entry["resource"], kind, "explicit_deny", labels, entry.get("note"))
    if decision == "boundary":
        return Blocked(entry["action"], entry["resource"], kind, "boundary", (boundary_label,), entry.get("note"))
    return None


def blocked_prospect(p: Prospect, kind: str) -> Blocked | None:
    """A pair that would stay denied with the remediation added."""
    if p.outcome not in BLOCKING:
        return None
    return Blocked(p.action, p.resource, kind, p.outcome, p.blocked_by, p.note)


def service_linked_refusal(role_arn: str) -> str:
    return (
        f"{role_arn} is a service-linked role (path /aws-service-role/): its policies belong "
        "to the AWS service and cannot be changed; give the gateway a role you manage"
    )


def service_linked_change(gateway_id: str) -> str:
    return (
        "give the gateway an execution role you manage: in the console, edit the gateway from the "
        "Gateway side and choose that role (attaching the policy engine from the Gateway side also "
        "grants the role what policy evaluation needs); or `aws bedrock-agentcore-control update-gateway "
        f"--gateway-identifier {gateway_id} --role-arn <your role>` with the gateway's name and authorizer "
        "as get-gateway shows them"
    )


def refusal(blocked: Sequence[Blocked]) -> str:
    """Why an inline Allow cannot repair these pairs: each blocker once, with the pairs it blocks."""
    parts = []
    for (reason, by), pairs in _grouped(blocked).items():
        where = "; ".join(by)
        if reason == "explicit_deny":
            lead = f"blocked by an explicit Deny in {where}" if where else "blocked by an explicit Deny"
        elif reason == "boundary":
            lead = f"outside {where or 'the permissions boundary'}"
        elif reason == "unsettled":
            lead = (
                f"possibly blocked by {where}, whose condition the check cannot settle"
                if where
                else "possibly blocked by a condition the check cannot settle"
            )
        else:
            lead = "denied even with the Allow added"
        parts.append(f"{lead}: {', '.join(pairs)}")
    reasons = {b.reason for b in blocked}
    why = []
    if reasons & {"explicit_deny", "boundary"}:
        why.append("an explicit Deny always wins, and a permissions boundary caps what identity policies grant")
    if "unsettled" in reasons:
        why.append("a Deny or boundary condition that cannot be settled offline might still block them")
    if "still_denied" in reasons:
        why.append("IAM's own simulation still denies them with the Allow added")
    n = len(blocked)
    return (
        f"an inline Allow cannot fix {n} required permission{'s' if n != 1 else ''} ({'; '.join(why)}): "
        + "; ".join(parts)
        + ". Change what blocks them first."
    )


def _grouped(blocked: Sequence[Blocked]) -> dict[tuple[str, tuple[str, ...]], list[str]]:
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for b in blocked:
        groups.setdefault((b.reason, b.blocked_by), []).append(b.pair_text)
    return groups


def changes(blocked: Sequence[Blocked]) -> list[str]:
    """What to change instead, one line per blocking statement or boundary (pairs grouped)."""
    out = []
    for (reason, by), pairs in _grouped(blocked).items():
        what = ", ".join(pairs)
        where = "; ".join(by)
        if reason == "explicit_deny":
            target = f"the Deny in {where}" if where else "the Deny statement"
            out.append(f"remove or narrow {target} so that it no longer matches: {what}")
        elif reason == "boundary":
            out.append(f"widen {where or 'the permissions boundary'} to allow {what} (or remove it from the role)")
        elif reason == "unsettled":
            target = f" of {where}" if where else ""
            out.append(
                f"settle the condition{target}: run the `aws iam simulate-principal-policy` commands under "
                "'Check by hand' with the context the gateway's requests carry, or narrow the statement so "
                f"it cannot match: {what}"
            )
        else:
            out.append(
                f"find what denies {what} outside the role's identity policies (an AWS Organizations SCP or RCP, "
                "as the simulation's OrganizationsDecisionDetail shows)"
            )
    return out
