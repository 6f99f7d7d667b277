"""The control-plane reads an explanation needs: the gateway, its engine's policies, its tools, the caller.

`policy explain`, `policy lint` and the diagnosis of `run` all need the same facts:
GetGateway (the ARN the policies name, the authorizer, the engine and its mode),
ListPolicies + GetPolicy (each policy's Cedar text, status and enforcementMode),
ListGatewayTargets + GetGatewayTarget (each tool's input schema, which types
`context.input`), and for a SigV4 caller STS GetCallerIdentity. As for `iam check`,
every read is best effort: a refused call is one line in `errors` (naming the API call
and the error code) and the facts it would have given stay None, so a caller can say
"cannot tell" instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from probe.cedar.model import EnginePolicy, Principal
from probe.iam.gateway import aws_failures, client, describe_error, make_session

if TYPE_CHECKING:
    from probe.cedar.schema import Tool

_MAX_TARGETS = 200
_MAX_POLICIES = 1000  # AgentCore's documented limit per engine


@dataclass
class PolicyFacts:
    """What could be read about one gateway's policies; None where a read failed (see `errors`)."""

    gateway_id: str
    region: str
    gateway_arn: str | None = None
    authorizer_type: str | None = None
    engine_arn: str | None = None
    engine_mode: str | None = None
    policies: list[EnginePolicy] | None = None
    tools: list[Tool] | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def schemas(self) -> dict[str, Any]:
        """Tool name -> input schema (empty when the targets could not be read)."""
        return {t.name: dict(t.input_schema) for t in self.tools or []}


def read_policy_facts(
    gateway_id: str, region: str, profile: str | None = None, *, session: Any = None, tools: bool = True,
    engine_only: bool = False,
) -> PolicyFacts:
    """Read the gateway, its engine's policies and (with `tools`) its tools; never raises for AWS trouble.

    `engine_only`: stop after GetGateway when no policy engine is attached (the diagnosis has nothing to
    explain then, and a run's diagnosis should not list targets for nothing).
    """
    facts = PolicyFacts(gateway_id, region)
    failures = aws_failures()
    try:
        session = session or make_session(profile)
        control = client(session, "bedrock-agentcore-control", region)
    except failures as exc:
        facts.errors.append(describe_error("session", exc))
        return facts
    try:
        gw = control.get_gateway(gatewayIdentifier=gateway_id)
    except failures as exc:
        facts.errors.append(describe_error("GetGateway", exc))
        return facts
    facts.gateway_arn = gw.get("gatewayArn")
    facts.authorizer_type = gw.get("authorizerType")
    engine = gw.get("policyEngineConfiguration") or {}
    facts.engine_arn = engine.get("arn")
    facts.engine_mode = engine.get("mode")
    if facts.engine_arn:
        facts.policies = _read_policies(session, facts, failures)
    elif engine_only:
        return facts
    if tools:
        facts.tools = _read_tools(control, facts, failures)
    return facts


def _read_policies(
    session: Any, facts: PolicyFacts, failures: tuple[type[BaseException], ...]
) -> list[EnginePolicy] | None:
    arn = facts.engine_arn or ""
    engine_id = arn.rsplit("/", 1)[-1]
    parts = arn.split(":")
    engine_region = parts[3] if len(parts) > 3 and parts[3] else facts.region
    try:
        control = client(session, "bedrock-agentcore-control", engine_region)
        listed: list[dict[str, Any]] = []
        for page in control.get_paginator("list_policies").paginate(policyEngineId=engine_id):
            listed += [p for p in page.get("policies") or [] if p.get("policyId")]
            if len(listed) >= _MAX_POLICIES:
                break
    except failures as exc:
        facts.errors.append(describe_error("ListPolicies", exc))
        return None
    out: list[EnginePolicy] = []
    for item in listed:
        try:
            doc = control.get_policy(policyEngineId=engine_id, policyId=item["policyId"])
        except failures as exc:
            facts.errors.append(describe_error(f"GetPolicy({item['policyId']})", exc))
            return None  # one unknown policy could decide anything: the set is not known
        out.append(EnginePolicy.from_api(doc))
    return out


def _read_tools(control: Any, facts: PolicyFacts, failures: tuple[type[BaseException], ...]) -> list[Tool] | None:
    from probe.cedar.lint import tools_of

    try:
        ids: list[str] = []
        for page in control.get_paginator("list_gateway_targets").paginate(gatewayIdentifier=facts.gateway_id):
            ids += [t["targetId"] for t in page.get("items") or [] if t.get("targetId")]
    except failures as exc:
        facts.errors.append(describe_error("ListGatewayTargets", exc))
        return None
    out: list[Tool] = []
    for target_id in ids[:_MAX_TARGETS]:
        try:
            doc = control.get_gateway_target(gatewayIdentifier=facts.gateway_id, targetId=target_id)
        except failures as exc:
            facts.errors.append(describe_error(f"GetGatewayTarget({target_id})", exc))
            continue
        out += tools_of(doc)
    return out


def caller_principal(region: str | None, profile: str | None = None, *, session: Any = None) -> tuple[
        Principal | None, str | None]:
    """The probe's own IAM identity (STS GetCallerIdentity) as an IamEntity, or (None, the error line)."""
    failures = aws_failures()
    try:
        session = session or make_session(profile)
        sts = client(session, "sts", region)
        arn = sts.get_caller_identity().get("Arn")
    except failures as exc:
        return None, describe_error("GetCallerIdentity", exc)
    if not arn:
        return None, "GetCallerIdentity: no Arn in the answer"
    return Principal.iam_entity(str(arn)), None
