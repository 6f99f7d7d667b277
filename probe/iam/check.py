"""`iam check`: does the gateway's execution role hold every permission policy evaluation needs?

The flow: read the gateway (what it is, which engine, which role), derive the exact
pairs the role needs, decide each one (IAM's simulation when we may use it, otherwise
the role's own documents evaluated offline), then say what is missing and what policy
would fix it. The remediation is tried the same way before it is offered (the role's
decisions with the policy added): a policy that a boundary or a Deny would still block
is never offered; the check says what blocks it and what to change instead. Every AWS
failure becomes a line in `errors`: a partial answer with its gaps named is more useful
to an operator at 3 a.m. than a traceback.

JSON fields about the remediation (see `IamCheck.to_dict`):
- `remediation_policy`: the inline policy, only when writing it would help (it is what
  `iam fix --apply` writes); None when nothing is missing or when it is refused.
- `remediation_refusal`: why no inline policy is offered (None when one is, or when
  nothing is missing); `iam fix` refuses with the same words.
- `remediation_blocked`: every required pair an inline Allow cannot fix, with `reason`
  (`explicit_deny`, `boundary`, `unsettled`: a conditional Deny or boundary the check
  cannot settle, `still_denied`: the simulation denies it even with the Allow) and
  `blocked_by`. Lambda pairs listed here are left out of an offered policy.
- `remediation_changes`: what to change instead, one line per blocking statement.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from probe.iam import needs, remedy
from probe.iam.decide import Decider, Method, unknown
from probe.iam.gateway import GatewayFacts, aws_failures, client, describe_error, describe_gateway, make_session
from probe.iam.needs import RequiredPermission
from probe.iam.roles import is_service_linked, read_role_tags, role_name_and_path

if TYPE_CHECKING:
    import boto3

__all__ = [
    "EXIT_CODES",
    "EXIT_LAMBDA_MISSING",
    "IamCheck",
    "Method",
    "Verdict",
    "check_gateway",
    "gateway_notes",
    "policy_mode_notes",
]

Verdict = Literal["ok", "missing_permissions", "unknown"]
MISSING_REASONS = ("implicit_deny", "explicit_deny", "boundary")

EXIT_OK = 0
EXIT_UNREADABLE = 2  # even the gateway could not be read: a usage or access problem
EXIT_MISSING = 3
EXIT_UNKNOWN = 4
# 5 is `iam fix`'s "refused". Policy evaluation is not at fault, but a Lambda target's
# lambda:InvokeFunction is surely denied: tool calls to that target fail.
EXIT_LAMBDA_MISSING = 6
EXIT_CODES: dict[str, int] = {"ok": EXIT_OK, "missing_permissions": EXIT_MISSING, "unknown": EXIT_UNKNOWN}


@dataclass
class IamCheck:
    """The check's findings; `to_dict()` is the JSON contract (and what the text renderer reads)."""

    gateway_id: str
    region: str
    profile: str | None = None
    gateway_arn: str | None = None
    role_arn: str | None = None
    policy_engine_arn: str | None = None
    policy_engine_mode: str | None = None
    method: Method | None = None
    verdict: Verdict = "unknown"
    missing: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    lambda_pairs: list[dict[str, Any]] = field(default_factory=list)
    remediation_policy: dict[str, Any] | None = None
    remediation_refusal: str | None = None
    remediation_blocked: list[dict[str, Any]] = field(default_factory=list)
    remediation_changes: list[str] = field(default_factory=list)
    lambda_to_grant: list[str] = field(default_factory=list)  # the Lambda ARNs an offered policy grants
    context: dict[str, str] = field(default_factory=dict)  # the condition keys assumed for the role's requests
    resource_context: dict[str, dict[str, str]] = field(default_factory=dict)  # per resource (its tags)
    tags: dict[str, dict[str, str] | None] = field(default_factory=dict)  # role/gateway/policy_engine; None: unread
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    gateway: GatewayFacts | None = None

    @property
    def gateway_read(self) -> bool:
        return self.gateway_arn is not None

    @property
    def role_service_linked(self) -> bool:
        return is_service_linked(self.role_arn)

    @property
    def lambda_missing(self) -> list[dict[str, Any]]:
        return [d for d in self.lambda_pairs if d["decision"] in MISSING_REASONS]

    @property
    def lambda_uninvokable(self) -> list[str]:
        """The Lambda targets the role surely cannot invoke (their ARNs)."""
        return [d["resource"] for d in self.lambda_missing]

    @property
    def exit_code(self) -> int:
        """0 ok, 3 missing permissions, 6 a Lambda target cannot be invoked, 4 undecided,
        2 the gateway itself could not be read.

        The verdict stays about policy evaluation; a Lambda target that surely cannot be
        invoked beats "undecided" (it is certain and worth acting on) but not "missing".
        """
        if not self.gateway_read:
            return EXIT_UNREADABLE
        if self.verdict != "missing_permissions" and self.lambda_missing:
            return EXIT_LAMBDA_MISSING
        return EXIT_CODES[self.verdict]

    @property
    def remediation_command(self) -> str | None:
        if self.remediation_policy is None or not self.role_arn:
            return None
        role_name = role_name_and_path(self.role_arn)[0]
        return needs.put_role_policy_command(role_name, self.policy_name, profile=self.profile)

    @property
    def policy_name(self) -> str:
        return needs.policy_name(self.gateway_id)

    @property
    def manual_check(self) -> list[str]:
        return manual_check_commands(
            gateway_id=self.gateway_id,
            region=self.region,
            profile=self.profile,
            gateway_arn=self.gateway_arn,
            role_arn=self.role_arn,
            engine_arn=self.policy_engine_arn,
            lambda_arns=[d["resource"] for d in self.lambda_pairs],
            extra_context={k: v for k, v in self.context.items() if k.startswith("aws:PrincipalTag/")},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "gateway_id": self.gateway_id,
            "region": self.region,
            "gateway_arn": self.gateway_arn,
            "role_arn": self.role_arn,
            "role_service_linked": self.role_service_linked,
            "policy_engine_arn": self.policy_engine_arn,
            "policy_engine_mode": self.policy_engine_mode,
            "method": self.method,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "missing": list(self.missing),
            "decisions": list(self.decisions),
            "lambda": list(self.lambda_pairs),
            "lambda_missing": self.lambda_missing,
            "remediation_policy": self.remediation_policy,
            "remediation_policy_name": self.policy_name if self.remediation_policy else None,
            "remediation_policy_file": needs.POLICY_FILE if self.remediation_policy else None,
            "remediation_command": self.remediation_command,
            "remediation_refusal": self.remediation_refusal,
            "remediation_blocked": list(self.remediation_blocked),
            "remediation_changes": list(self.remediation_changes),
            "assumed_context": dict(self.context),
            "assumed_resource_context": {arn: dict(keys) for arn, keys in self.resource_context.items()},
            "tags": {k: (dict(v) if v is not None else None) for k, v in self.tags.items()},
            "lambda_uninvokable": self.lambda_uninvokable,
            "errors": list(self.errors),
            "notes": list(self.notes),
            "manual_check": self.manual_check,
            "gateway": self.gateway.to_dict() if self.gateway else None,
        }


def check_gateway(
    *, gateway_id: str, region: str, profile: str | None = None, session: boto3.Session | None = None
) -> IamCheck:
    """Run the whole check. Never raises for AWS, credential or endpoint trouble."""
    result = IamCheck(gateway_id=gateway_id, region=region, profile=profile)
    failures = aws_failures()
    try:
        session = session or make_session(profile)
    except failures as exc:
        result.errors.append(describe_error("session", exc))
        return result

    facts = describe_gateway(gateway_id=gateway_id, region=region, session=session, tags=True)
    result.gateway = facts
    result.errors.extend(facts.read_errors)
    result.gateway_id = facts.gateway_id
    result.gateway_arn = facts.gateway_arn
    result.role_arn = facts.role_arn
    result.policy_engine_arn = facts.policy_engine_arn
    result.policy_engine_mode = facts.policy_engine_mode
    result.notes.extend(gateway_notes(facts))
    if facts.gateway_arn is None:
        return result
    if not facts.role_arn:
        result.errors.append("the gateway has no roleArn: there is no execution role to check")
        return result

    required = needs.policy_pairs(facts.gateway_arn, facts.policy_engine_arn)
    functions = needs.lambda_pairs(facts.lambda_target_arns)
    pairs = required + functions
    # The role's calls concern the gateway, so they are made in the gateway's region.
    result.context = needs.request_context(
        role_arn=facts.role_arn, region=needs.arn_region(facts.gateway_arn) or facts.region
    )
    decider: Decider | None = None
    decided: list[Any] = []
    if pairs:
        try:
            decider = Decider(client(session, "iam"), facts.role_arn, result.context, result.errors)
        except failures as exc:
            result.errors.append(describe_error("session", exc))
        if decider is not None:
            _tag_context(result, facts, decider)
            decided = decider.decide(pairs)
            result.method = decider.method
        else:
            decided = [unknown(p, "the IAM client could not be created") for p in pairs]
    _conclude(result, required, functions, decided)
    _plan_remediation(result, decider)
    if result.verdict == "ok" and facts.policy_engine_arn:
        result.notes.append(not_covered_note(facts, result.method))
    return result


def _tag_context(result: IamCheck, facts: GatewayFacts, decider: Decider) -> None:
    """The role's tags (aws:PrincipalTag/*) and the gateway's and engine's (aws:ResourceTag/*) as context.

    A family whose tags were all read is complete: any other key of it is absent. That
    assumes the gateway's role session carries no session tags (AgentCore documents none).
    """
    role_tags = read_role_tags(decider.iam, decider.role_arn, result.errors)
    result.tags = {"role": role_tags, "gateway": facts.gateway_tags, "policy_engine": facts.engine_tags}
    if role_tags is not None:
        result.context.update({f"aws:PrincipalTag/{k}": v for k, v in role_tags.items()})
        decider.complete_families[""] = ("aws:PrincipalTag/*",)
    for arn, tags in ((facts.gateway_arn, facts.gateway_tags), (facts.policy_engine_arn, facts.engine_tags)):
        if arn and tags is not None:
            decider.resource_context[arn] = {f"aws:ResourceTag/{k}": v for k, v in tags.items()}
            decider.complete_families[arn] = ("aws:ResourceTag/*",)
    result.resource_context = {arn: dict(keys) for arn, keys in decider.resource_context.items()}


def _conclude(
    result: IamCheck, required: list[RequiredPermission], functions: list[RequiredPermission], decided: list[Any]
) -> None:
    by_pair = {(d.action, d.resource): d for d in decided}
    for wanted in required + functions:
        d = by_pair.get(wanted.pair) or unknown(wanted, "not decided")
        entry = d.to_dict() | {"kind": wanted.kind, "sid": wanted.sid}
        if wanted.kind == "lambda":
            result.lambda_pairs.append(entry)
            continue
        result.decisions.append(entry)
        if d.decision in MISSING_REASONS:
            result.missing.append(
                {
                    "action": d.action,
                    "resource": d.resource,
                    "reason": d.decision,
                    "statements": entry["statements"],
                    "note": entry["note"],
                }
            )
    result.verdict = verdict_of([d["decision"] for d in result.decisions])


def _plan_remediation(result: IamCheck, decider: Decider | None) -> None:
    """Offer the inline policy only where it would help; otherwise say what blocks it.

    Pairs already refused by an explicit Deny or the boundary cannot be lifted by any
    Allow. The others (implicitly denied or undecided) are decided again with the
    proposed policy added: what a boundary or a conditional Deny would still block is
    refused too. A blocked policy-evaluation pair refuses the whole policy (writing the
    rest would leave the gateway failing); a blocked Lambda pair only drops that grant.
    """
    if result.verdict == "ok" and not result.lambda_missing:
        return
    if result.role_service_linked and result.role_arn:
        result.remediation_refusal = remedy.service_linked_refusal(result.role_arn)
        result.remediation_changes = [remedy.service_linked_change(result.gateway_id)]
        return
    boundary_label = decider.boundary_label if decider else "the role's permissions boundary"
    blocked: list[remedy.Blocked] = []
    for kind, entries in (("policy", result.decisions), ("lambda", result.lambda_pairs)):
        blocked += [b for e in entries if (b := remedy.blocked_now(e, kind, boundary_label))]
    candidates = [
        RequiredPermission(e["action"], e["resource"], e["sid"], e["kind"])
        for e in result.decisions + result.lambda_missing
        if e["decision"] in ("implicit_deny", "unknown")
    ]
    lambda_try = [e["resource"] for e in result.lambda_missing if e["decision"] == "implicit_deny"]
    try:
        proposed = needs.remediation_policy(result.gateway_arn, result.policy_engine_arn, lambda_try)
    except needs.WildcardRefused as exc:
        result.errors.append(f"no remediation policy: {exc}")
        return

    kinds = {c.pair: c.kind for c in candidates}
    prospects = decider.try_policy(candidates, proposed, result.policy_name) if decider and proposed else None
    if prospects is None and candidates and proposed:
        result.notes.append(
            "whether the remediation policy is enough could not be tried (neither the simulation nor the "
            "role's documents are available): a boundary or a Deny could still block it"
        )
    unconfirmed = []
    for p in prospects or []:
        if p.outcome == "unconfirmed":
            unconfirmed.append(f"{p.action} on {p.resource}")
        b = remedy.blocked_prospect(p, kinds[(p.action, p.resource)])
        if b is not None:
            blocked.append(b)
            _mark_also_blocked(result.missing, b)
    if unconfirmed:
        result.notes.append(
            "the remediation policy would allow these by every document that could be read, but not every "
            f"document could be read: {', '.join(unconfirmed)}"
        )

    result.remediation_blocked = [b.to_dict() for b in blocked]
    if any(b.kind == "policy" for b in blocked):
        result.remediation_refusal = remedy.refusal(blocked)
        result.remediation_changes = remedy.changes(blocked)
        return
    dropped = {b.resource for b in blocked if b.kind == "lambda"}
    grant = [arn for arn in lambda_try if arn not in dropped]
    result.remediation_changes = remedy.changes(blocked)
    if result.verdict == "ok" and not grant:  # only Lambda grants were wanted, and none would work
        if blocked:
            result.remediation_refusal = remedy.refusal(blocked)
        return
    result.lambda_to_grant = grant
    result.remediation_policy = needs.remediation_policy(result.gateway_arn, result.policy_engine_arn, grant)


def _mark_also_blocked(missing: list[dict[str, Any]], b: remedy.Blocked) -> None:
    """An implicitly denied pair that the boundary (or a Deny) would block too says so."""
    for m in missing:
        if (m["action"], m["resource"]) == (b.action, b.resource) and m["reason"] != b.reason:
            m["also_blocked_by"] = b.reason
            m["also_blocked_by_what"] = list(b.blocked_by)


def not_covered_note(facts: GatewayFacts, method: Method | None) -> str:
    """Why a run can still fail policy evaluation when the role holds every pair we know of."""
    items = [
        "IAM propagation: a permission added in the last minute or so may not be in effect yet (retry in a minute)",
        "AWS Organizations policies (SCPs, RCPs) are not evaluated offline"
        if method != "simulate"
        else "resource control policies (RCPs) may not be reflected in IAM's simulation",
    ]
    if facts.engine_kms_key_arn:
        items.append(
            f"the policy engine is encrypted with the customer-managed KMS key {facts.engine_kms_key_arn}: the role "
            "may also need KMS permissions (such as kms:Decrypt) on it, which this check does not decide"
        )
    elif facts.engine_status is None:
        items.append(
            "KMS: if the policy engine is encrypted with a customer-managed key, the role may also need KMS "
            "permissions on it (the engine could not be read, so this is not known)"
        )
    if facts.engine_status is None:
        items.append("the policy engine's status could not be read: it must be ACTIVE")
    elif facts.engine_status != "ACTIVE":
        items.append(f"the policy engine's status is {facts.engine_status}, not ACTIVE")
    return (
        "the role holds every permission this check knows of; if policy evaluation still fails, look at what "
        "it does not cover: " + "; ".join(items)
    )


def verdict_of(decisions: Sequence[str]) -> Verdict:
    """Missing wins over unknown: a pair surely denied is worth acting on whatever else is undecided."""
    if any(d in MISSING_REASONS for d in decisions):
        return "missing_permissions"
    if any(d != "allowed" for d in decisions):
        return "unknown"
    return "ok"


def gateway_notes(facts: GatewayFacts) -> list[str]:
    """What an operator should know about the gateway beyond the role's permissions."""
    notes: list[str] = []
    if facts.gateway_arn is None:
        return notes
    if facts.status and facts.status != "READY":
        notes.append(f"the gateway's status is {facts.status}, not READY")
    if not facts.policy_engine_arn:
        notes.append("no policy engine is attached: policy evaluation needs nothing from the role")
    notes.extend(policy_mode_notes(facts))
    if facts.lambda_target_arns or not facts.targets_read:
        notes.append(
            "lambda:InvokeFunction is decided on the role's identity policies only; "
            "a function's resource policy may also grant it"
        )
    if not facts.targets_read:
        notes.append("the gateway's targets could not all be read: Lambda targets may be missing below")
    return notes


def policy_mode_notes(facts: GatewayFacts | dict[str, Any]) -> list[str]:
    """What the engine's mode means for what callers see (also used for an `empty_tools` run)."""
    get = facts.get if isinstance(facts, dict) else lambda k: getattr(facts, k)
    mode, active, engine = get("policy_engine_mode"), get("policies_active"), get("policy_engine_arn")
    if not engine:
        return []
    if mode == "LOG_ONLY":
        return ["the policy engine is in LOG_ONLY mode: decisions are logged, nothing is enforced"]
    if mode == "ENFORCE" and active == 0:
        return ["the policy engine is in ENFORCE mode with no ACTIVE policy: default deny hides every tool"]
    if mode == "ENFORCE" and active is None:
        return [
            "the policy engine is in ENFORCE mode; its policies could not be read, so whether any "
            "permits a request is unknown (with none, default deny hides every tool)"
        ]
    return []


def manual_check_commands(
    *,
    gateway_id: str,
    region: str,
    profile: str | None,
    gateway_arn: str | None,
    role_arn: str | None,
    engine_arn: str | None,
    lambda_arns: Sequence[str] = (),
    extra_context: Mapping[str, str] | None = None,
) -> list[str]:
    """The `aws` commands that answer the same questions by hand, with the exact ARNs we know.

    The simulations carry the same condition keys the probe assumed (`--context-entries`),
    so a by-hand run reproduces the probe's verdict instead of reporting those keys missing.
    """
    tail = ["--profile", profile] if profile else []
    gw = gateway_arn or f"arn:aws:bedrock-agentcore:{region}:<account>:gateway/{gateway_id}"
    role = role_arn or "<roleArn from get-gateway>"
    engine = engine_arn or "<policyEngineConfiguration.arn from get-gateway>"
    role_name = role_name_and_path(role_arn)[0] if role_arn else "<role name>"
    engine_id = engine_arn.rsplit("/", 1)[-1] if engine_arn else "<engine id: the end of policyEngineConfiguration.arn>"
    engine_region = needs.arn_region(engine_arn) or region
    context = [
        "--context-entries",
        context_entries_json(role_arn, needs.arn_region(gateway_arn) or region, extra_context),
    ]
    simulate = ["aws", "iam", "simulate-principal-policy", "--policy-source-arn", role, "--action-names"]
    control = ["aws", "bedrock-agentcore-control"]
    by_engine = ["--policy-engine-id", engine_id, "--region", engine_region]
    cmds = [[*control, "get-gateway", "--gateway-identifier", gateway_id, "--region", region]]
    no_engine = gateway_arn is not None and engine_arn is None  # read, and nothing attached
    if not no_engine:
        cmds += [
            [*control, "get-policy-engine", *by_engine],
            [*control, "list-policies", *by_engine],
            [*simulate, *needs.EVALUATE_ACTIONS, "--resource-arns", gw, engine, *context],
            [*simulate, needs.GET_POLICY_ENGINE, "--resource-arns", engine, *context],
        ]
    if lambda_arns:
        cmds.append([*simulate, needs.INVOKE_FUNCTION, "--resource-arns", *lambda_arns, *context])
    cmds += [
        ["aws", "iam", "get-role", "--role-name", role_name],
        ["aws", "iam", "list-role-policies", "--role-name", role_name],
        ["aws", "iam", "list-attached-role-policies", "--role-name", role_name],
    ]
    return [_join(c + tail) for c in cmds]


def context_entries_json(role_arn: str | None, region: str, extra: Mapping[str, str] | None = None) -> str:
    """`--context-entries` in the CLI's JSON form (role names may hold commas, which break shorthand).

    `extra` adds keys read for the check (the role's tags), so a by-hand run sees them too.
    """
    context: Mapping[str, str] = {**needs.request_context(role_arn=role_arn, region=region), **(extra or {})}
    if not role_arn:
        context = {
            "aws:PrincipalArn": "<roleArn from get-gateway>",
            "aws:PrincipalAccount": "<account of the role>",
            **context,
        }
    entries = [{"ContextKeyName": k, "ContextKeyValues": [v], "ContextKeyType": "string"} for k, v in context.items()]
    return json.dumps(entries, separators=(",", ":"))


_PLACEHOLDER = re.compile(r"^<[^<>]*>$")


def _join(parts: list[str]) -> str:
    """shlex.join, but a bare placeholder like <role name> stays readable (it is meant to be replaced)."""
    return " ".join(p if _PLACEHOLDER.match(p) else shlex.quote(p) for p in parts)
