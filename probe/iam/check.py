"""`iam check`: does the gateway's execution role hold every permission policy evaluation needs?

The flow: read the gateway (what it is, which engine, which role), derive the exact
pairs the role needs, decide each one (IAM's simulation when we may use it, otherwise
the role's own documents evaluated offline), then say what is missing and what policy
would fix it. Every AWS failure becomes a line in `errors`: a partial answer with its
gaps named is more useful to an operator at 3 a.m. than a traceback.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from probe.iam import needs
from probe.iam.evaluate import Decision, evaluate
from probe.iam.gateway import GatewayFacts, aws_failures, client, describe_error, describe_gateway, make_session
from probe.iam.needs import RequiredPermission
from probe.iam.roles import RoleUnreadable, is_service_linked, load_role_policies, role_name_and_path
from probe.iam.simulate import SimDecision, SimulationUnavailable, simulate_pairs

if TYPE_CHECKING:
    import boto3

Verdict = Literal["ok", "missing_permissions", "unknown"]
Method = Literal["simulate", "offline"]
MISSING_REASONS = ("implicit_deny", "explicit_deny", "boundary")

EXIT_OK = 0
EXIT_UNREADABLE = 2  # even the gateway could not be read: a usage or access problem
EXIT_MISSING = 3
EXIT_UNKNOWN = 4
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
    def exit_code(self) -> int:
        """0 ok, 3 missing permissions, 4 undecided, 2 the gateway itself could not be read."""
        if not self.gateway_read:
            return EXIT_UNREADABLE
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

    facts = describe_gateway(gateway_id=gateway_id, region=region, session=session)
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
    decided: list[Any] = []
    if pairs:
        try:
            iam = client(session, "iam")
        except failures as exc:
            result.errors.append(describe_error("session", exc))
            iam = None
        context = needs.request_context(role_arn=facts.role_arn, region=facts.region)
        if iam is not None:
            decided = _decide(iam, facts.role_arn, pairs, context, result)
        else:
            decided = [_unknown(p, "the IAM client could not be created") for p in pairs]
    _conclude(result, required, functions, decided)
    return result


def _decide(
    iam: Any, role_arn: str, pairs: Sequence[RequiredPermission], context: dict[str, str], result: IamCheck
) -> list[Any]:
    """Simulation first; the offline evaluator when the simulation is not available."""
    try:
        decided = simulate_pairs(iam, role_arn, [p.pair for p in pairs], context)
        result.method = "simulate"
        return decided
    except SimulationUnavailable as exc:
        result.errors.append(f"{exc} (decided offline from the role's policy documents instead)")
    result.method = "offline"
    try:
        role = load_role_policies(iam, role_arn)
    except RoleUnreadable as exc:
        result.errors.append(str(exc))
        result.method = None
        return [_unknown(p, "neither the simulation nor the role's policies could be read") for p in pairs]
    result.errors.extend(role.errors)
    out = []
    for p in pairs:
        decision = evaluate(p.action, p.resource, role.identity, role.boundary, context)
        out.append(_partial_view(decision, role.unread_identity, role.boundary_unread))
    return out


def _partial_view(decision: Decision, unread_identity: list[str], boundary_unread: bool) -> Decision:
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


def _unknown(pair: RequiredPermission, note: str) -> SimDecision:
    return SimDecision(pair.action, pair.resource, "unknown", (), note)


def _conclude(
    result: IamCheck, required: list[RequiredPermission], functions: list[RequiredPermission], decided: list[Any]
) -> None:
    by_pair = {(d.action, d.resource): d for d in decided}
    for wanted in required + functions:
        d = by_pair.get(wanted.pair) or _unknown(wanted, "not decided")
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
    if result.verdict != "ok" or result.lambda_missing:
        try:
            result.remediation_policy = needs.remediation_policy(
                result.gateway_arn, result.policy_engine_arn, [d["resource"] for d in result.lambda_missing]
            )
        except needs.WildcardRefused as exc:
            result.errors.append(f"no remediation policy: {exc}")


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
) -> list[str]:
    """The `aws` commands that answer the same questions by hand, with the exact ARNs we know."""
    tail = ["--profile", profile] if profile else []
    gw = gateway_arn or f"arn:aws:bedrock-agentcore:{region}:<account>:gateway/{gateway_id}"
    role = role_arn or "<roleArn from get-gateway>"
    engine = engine_arn or "<policyEngineConfiguration.arn from get-gateway>"
    role_name = role_name_and_path(role_arn)[0] if role_arn else "<role name>"
    engine_id = engine_arn.rsplit("/", 1)[-1] if engine_arn else "<engine id: the end of policyEngineConfiguration.arn>"
    cmds = [["aws", "bedrock-agentcore-control", "get-gateway", "--gateway-identifier", gateway_id, "--region", region]]
    no_engine = gateway_arn is not None and engine_arn is None  # read, and nothing attached
    if not no_engine:
        cmds += [
            [
                "aws",
                "bedrock-agentcore-control",
                "get-policy-engine",
                "--policy-engine-id",
                engine_id,
                "--region",
                region,
            ],
            [
                "aws",
                "bedrock-agentcore-control",
                "list-policies",
                "--policy-engine-id",
                engine_id,
                "--region",
                region,
            ],
            [
                "aws",
                "iam",
                "simulate-principal-policy",
                "--policy-source-arn",
                role,
                "--action-names",
                *needs.EVALUATE_ACTIONS,
                "--resource-arns",
                gw,
                engine,
            ],
            [
                "aws",
                "iam",
                "simulate-principal-policy",
                "--policy-source-arn",
                role,
                "--action-names",
                needs.GET_POLICY_ENGINE,
                "--resource-arns",
                engine,
            ],
        ]
    if lambda_arns:
        cmds.append(
            [
                "aws",
                "iam",
                "simulate-principal-policy",
                "--policy-source-arn",
                role,
                "--action-names",
                needs.INVOKE_FUNCTION,
                "--resource-arns",
                *lambda_arns,
            ]
        )
    cmds += [
        ["aws", "iam", "get-role", "--role-name", role_name],
        ["aws", "iam", "list-role-policies", "--role-name", role_name],
        ["aws", "iam", "list-attached-role-policies", "--role-name", role_name],
    ]
    return [_join(c + tail) for c in cmds]


def _join(parts: list[str]) -> str:
    """shlex.join, but placeholders like <role name> stay readable (they are meant to be replaced)."""
    return " ".join(p if "<" in p else shlex.quote(p) for p in parts)
