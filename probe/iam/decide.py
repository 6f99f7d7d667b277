"""Deciding a role's (action, resource) pairs, as it stands and as it would be with one more policy.

IAM's simulation is the authority, so it is tried first; the role's own documents,
evaluated offline, stand in when the caller may not simulate. The same route is taken
to *try* a remediation before anything is written: the proposed policy is added to the
role's identity policies (the simulation's `PolicyInputList`, or one more document
offline) with the real boundary and Deny statements still in force. That is what
catches a boundary which would block the very pairs the fix grants.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from probe.iam.evaluate import Decision, PolicySource, evaluate, statement_label
from probe.iam.needs import RequiredPermission
from probe.iam.roles import RolePolicies, RoleUnreadable, load_role_policies
from probe.iam.simulate import SimDecision, SimulationUnavailable, simulate_pairs

Method = Literal["simulate", "offline"]
# What adding the policy would leave each pair at. Every value but "allowed" and
# "unconfirmed" means the policy cannot fix the pair on its own.
Outcome = Literal["allowed", "unconfirmed", "explicit_deny", "boundary", "unsettled", "still_denied"]
BLOCKING: tuple[Outcome, ...] = ("explicit_deny", "boundary", "unsettled", "still_denied")


@dataclass(frozen=True)
class Prospect:
    """One pair as it would be decided with the proposed policy added."""

    action: str
    resource: str
    outcome: Outcome
    blocked_by: tuple[str, ...] = ()  # what stops it, as an operator finds it ("inline policy 'x' statement 'S'")
    note: str | None = None


@dataclass
class Decider:
    """Decides pairs for one role, remembering which way worked and what it read.

    `errors` is shared with the caller's report: every AWS failure becomes one line there.
    `context` holds the condition keys every pair shares, `resource_context` those of one
    resource (its `aws:ResourceTag/*`); `complete_families` names key families whose every
    key was read (all the role's tags, all of a resource's tags), so any other key of the
    family is known absent offline ("" for every pair, else the resource's ARN). The
    simulation cannot be told that a key is absent, so it gets the values only.
    """

    iam: Any
    role_arn: str
    context: dict[str, str]
    errors: list[str]
    resource_context: dict[str, dict[str, str]] = field(default_factory=dict)
    complete_families: dict[str, tuple[str, ...]] = field(default_factory=dict)
    method: Method | None = None
    role: RolePolicies | None = None
    _role_failed: bool = field(default=False, repr=False)

    @property
    def boundary_label(self) -> str:
        """The boundary as the report names it (its name once the role's documents were read)."""
        if self.role is not None and self.role.boundary_arn:
            arn = self.role.boundary_arn
            return f"the permissions boundary '{arn.rsplit('/', 1)[-1]}' ({arn})"
        return "the role's permissions boundary"

    def decide(self, pairs: Sequence[RequiredPermission]) -> list[Any]:
        """Simulation first; the offline evaluator when the simulation is not available."""
        try:
            decided = simulate_pairs(
                self.iam, self.role_arn, [p.pair for p in pairs], self.context, resource_context=self.resource_context
            )
            self.method = "simulate"
            return decided
        except SimulationUnavailable as exc:
            self.errors.append(f"{exc} (decided offline from the role's policy documents instead)")
        role = self._load_role()
        if role is None:
            return [unknown(p, "neither the simulation nor the role's policies could be read") for p in pairs]
        self.method = "offline"
        out = []
        for p in pairs:
            decision = evaluate(p.action, p.resource, role.identity, role.boundary, self.offline_context(p.resource))
            out.append(partial_view(decision, role.unread_identity, role.boundary_unread))
        return out

    def try_policy(
        self, pairs: Sequence[RequiredPermission], policy: Mapping[str, Any], name: str
    ) -> list[Prospect] | None:
        """Each pair as it would be with `policy` added as the inline policy `name`; None when
        nothing can say (neither the simulation nor the role's documents are available)."""
        if not pairs:
            return []
        if self.method is None:
            return None
        if self.method == "simulate":
            try:
                decided = simulate_pairs(
                    self.iam,
                    self.role_arn,
                    [p.pair for p in pairs],
                    self.context,
                    extra_policies=[policy],
                    resource_context=self.resource_context,
                )
                return [_from_simulation(d, self.boundary_label) for d in decided]
            except SimulationUnavailable as exc:
                self.errors.append(f"{exc} (while trying the remediation; tried offline instead)")
        role = self._load_role()
        if role is None:
            return None
        proposed = PolicySource(kind="inline", name=name, arn=None, document=policy)
        identity = [s for s in role.identity if not (s.kind == "inline" and s.name == name)] + [proposed]
        return [
            _from_offline(
                evaluate(p.action, p.resource, identity, role.boundary, self.offline_context(p.resource)),
                role,
                self.boundary_label,
            )
            for p in pairs
        ]

    def offline_context(self, resource: str) -> dict[str, Any]:
        """The condition context of one pair for the offline evaluator."""
        ctx: dict[str, Any] = {**self.context, **self.resource_context.get(resource, {})}
        for family in (*self.complete_families.get("", ()), *self.complete_families.get(resource, ())):
            ctx[family] = []
        return ctx

    def _load_role(self) -> RolePolicies | None:
        if self.role is None and not self._role_failed:
            try:
                self.role = load_role_policies(self.iam, self.role_arn)
            except RoleUnreadable as exc:
                self.errors.append(str(exc))
                self._role_failed = True
                return None
            self.errors.extend(self.role.errors)
        return self.role


def partial_view(decision: Decision, unread_identity: list[str], boundary_unread: bool) -> Decision:
    """Downgrade what an unread document could overturn to `unknown`.

    An explicit Deny already seen is final whatever else the role holds; an Allow could
    be overturned by a Deny (or a boundary) we could not read, and an implicit deny by an
    Allow we could not read.
    """
    if decision.decision == "explicit_deny":
        return decision
    if unread_identity:
        return dataclasses.replace(
            decision,
            decision="unknown",
            note=f"{decision.note}; but these policies could not be read: {', '.join(unread_identity)}",
        )
    if boundary_unread and decision.decision == "allowed":
        return dataclasses.replace(
            decision, decision="unknown", note=f"{decision.note}; but the permissions boundary could not be read"
        )
    return decision


def unknown(pair: RequiredPermission, note: str) -> SimDecision:
    return SimDecision(pair.action, pair.resource, "unknown", (), note)


def _from_offline(raw: Decision, role: RolePolicies, boundary_label: str) -> Prospect:
    """Classify the raw decision (before any partial-view downgrade: what we read is what we judge)."""
    if raw.decision == "allowed":
        unread = list(role.unread_identity) + (["the permissions boundary"] if role.boundary_unread else [])
        if unread:
            note = f"allowed by what could be read, but these could not be read: {', '.join(unread)}"
            return Prospect(raw.action, raw.resource, "unconfirmed", (), note)
    return _prospect(raw, boundary_label, still_denied=((), raw.note))


def _from_simulation(d: SimDecision, boundary_label: str) -> Prospect:
    labels = tuple(statement_label(s.to_dict()) for s in d.statements)
    note = "IAM's simulation denies it even with the policy added (an AWS Organizations policy may deny it)"
    return _prospect(d, boundary_label, still_denied=(labels, note))


def _prospect(d: Decision, boundary_label: str, *, still_denied: tuple[tuple[str, ...], str | None]) -> Prospect:
    """One decision (from either evaluator) in the vocabulary of what a fix could change."""
    labels = tuple(statement_label(s.to_dict()) for s in d.statements)
    if d.decision == "allowed":
        return Prospect(d.action, d.resource, "allowed")
    if d.decision == "explicit_deny":
        return Prospect(d.action, d.resource, "explicit_deny", labels, d.note)
    if d.decision == "boundary":
        return Prospect(d.action, d.resource, "boundary", (boundary_label,), d.note)
    if d.decision == "unknown":
        return Prospect(d.action, d.resource, "unsettled", labels, d.note)
    return Prospect(d.action, d.resource, "still_denied", *still_denied)
