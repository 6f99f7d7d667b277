"""Control-plane reads: what the gateway is, which engine it uses, what its targets call.

Every read is best effort. An operator debugging a broken gateway often holds only part
of the permissions, so a refused or unimplemented call becomes one line in
`read_errors` (naming the API call and the error code) and the rest goes on.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3

_ACCESS_KEY = re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b")
_MAX_TARGETS = 200  # a bound, not a limit anyone should meet: one GetGatewayTarget each
_MAX_ERROR_CHARS = 240


def describe_error(operation: str, exc: BaseException) -> str:
    """One line naming the call and the error code, safe to print and save.

    HTML error pages (an emulator's 500) are reduced to their status, and anything that
    looks like an access key id is masked: the line may end up in a shared report.
    """
    code, message = _error_code_and_message(exc)
    message = _ACCESS_KEY.sub("<access-key-id>", " ".join(message.split()))
    if len(message) > _MAX_ERROR_CHARS:
        message = message[: _MAX_ERROR_CHARS - 1] + "…"
    return f"{operation}: {code}" + (f": {message}" if message else "")


def _error_code_and_message(exc: BaseException) -> tuple[str, str]:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        err = response.get("Error") or {}
        code = str(err.get("Code") or "Unknown")
        message = str(err.get("Message") or "")
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        if message.lstrip().startswith("<"):
            message = f"HTTP {status or code} with a non-AWS (HTML) body"
        if code.isdigit():
            code = f"HTTP{code}"
        return code, message
    name = type(exc).__name__
    if name == "ResponseParserError":
        return name, "unparseable response (not an AWS answer, e.g. an HTML error page)"
    if isinstance(exc, NotImplementedError):
        return "NotImplemented", str(exc)
    return name, str(exc)


def error_code(exc: BaseException) -> str:
    """The bare error code (`AccessDenied`, `HTTP500`, `NoCredentialsError`, ...)."""
    return _error_code_and_message(exc)[0]


def aws_failures() -> tuple[type[BaseException], ...]:
    """Exceptions an AWS call may raise that mean "could not", never "bug in the probe".

    NotImplementedError is here because moto's in-process mock raises it for operations
    it does not implement (policy engines, simulation).
    """
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError  # not a BotoCoreError: an HTML page instead of XML

    return (ClientError, BotoCoreError, ResponseParserError, NotImplementedError)


def make_session(profile: str | None) -> boto3.Session:
    import boto3

    return boto3.Session(profile_name=profile) if profile else boto3.Session()


def client(session: boto3.Session, service: str, region: str | None = None) -> Any:
    """A client with short timeouts and one retry: a diagnostic must answer quickly.

    Endpoints come from the standard configuration (AWS_ENDPOINT_URL_* and friends),
    which is how the emulated lab points us at itself.
    """
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=5, read_timeout=15)
    if region:
        return session.client(service, region_name=region, config=config)
    return session.client(service, config=config)


@dataclass
class GatewayFacts:
    """What the control plane told us about one gateway; None where it could not be read."""

    gateway_id: str
    region: str
    gateway_arn: str | None = None
    gateway_name: str | None = None
    role_arn: str | None = None
    status: str | None = None
    authorizer_type: str | None = None
    exception_level: str | None = None
    policy_engine_arn: str | None = None
    policy_engine_mode: str | None = None
    engine_status: str | None = None
    engine_kms_key_arn: str | None = None  # a customer-managed key encrypting the engine (None: AWS-owned or unread)
    policies_total: int | None = None
    policies_active: int | None = None
    policy_statuses: dict[str, int] | None = None
    lambda_target_arns: list[str] = field(default_factory=list)
    targets_read: bool = False  # False: lambda_target_arns may be incomplete
    gateway_tags: dict[str, str] | None = None  # None: not read (or not asked for)
    engine_tags: dict[str, str] | None = None
    read_errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_gateway(
    *,
    gateway_id: str,
    region: str,
    profile: str | None = None,
    session: boto3.Session | None = None,
    tags: bool = False,
) -> GatewayFacts:
    """Read the gateway, its policy engine and policies, and its Lambda targets.

    With `tags`, also the gateway's and the engine's tags (what `aws:ResourceTag/*` holds
    when the role's requests concern them): the IAM check uses them as condition context.
    Never raises for AWS, credential or endpoint trouble: each failure is one line in
    `read_errors`, and later reads still run when they do not depend on the failed one.
    """
    facts = GatewayFacts(gateway_id=gateway_id, region=region)
    failures = aws_failures()
    try:
        session = session or make_session(profile)
        control = client(session, "bedrock-agentcore-control", region)
    except failures as exc:
        facts.read_errors.append(describe_error("session", exc))
        return facts

    try:
        gw = control.get_gateway(gatewayIdentifier=gateway_id)
    except failures as exc:
        facts.read_errors.append(describe_error("GetGateway", exc))
        return facts
    _fill_gateway(facts, gw)
    if tags and facts.gateway_arn:
        facts.gateway_tags = read_tags(control, facts.gateway_arn, "gateway", facts.read_errors, failures)

    if facts.policy_engine_arn:
        _read_engine(facts, session, failures, tags=tags)
    _read_lambda_targets(facts, control, failures)
    return facts


def _fill_gateway(facts: GatewayFacts, gw: dict[str, Any]) -> None:
    facts.gateway_arn = gw.get("gatewayArn")
    facts.gateway_id = gw.get("gatewayId") or facts.gateway_id
    facts.gateway_name = gw.get("name")
    facts.role_arn = gw.get("roleArn")
    facts.status = gw.get("status")
    facts.authorizer_type = gw.get("authorizerType")
    facts.exception_level = gw.get("exceptionLevel")
    pec = gw.get("policyEngineConfiguration") or {}
    facts.policy_engine_arn = pec.get("arn")
    facts.policy_engine_mode = pec.get("mode")


def read_tags(
    control: Any, arn: str, what: str, errors: list[str], failures: tuple[type[BaseException], ...]
) -> dict[str, str] | None:
    """A resource's tags (best effort): a refused read is one line, and the tags stay unknown."""
    try:
        answer = control.list_tags_for_resource(resourceArn=arn)
    except failures as exc:
        errors.append(
            f"{describe_error(f'ListTagsForResource({what})', exc)} "
            f"(conditions on aws:ResourceTag/* of the {what} stay undecided)"
        )
        return None
    found = answer.get("tags") if isinstance(answer, dict) else None
    return {str(k): str(v) for k, v in (found or {}).items()}


def _read_engine(
    facts: GatewayFacts, session: boto3.Session, failures: tuple[type[BaseException], ...], *, tags: bool = False
) -> None:
    arn = facts.policy_engine_arn or ""
    engine_id = arn.rsplit("/", 1)[-1]
    parts = arn.split(":")
    engine_region = parts[3] if len(parts) > 3 and parts[3] else facts.region
    try:
        control = client(session, "bedrock-agentcore-control", engine_region)
    except failures as exc:
        facts.read_errors.append(describe_error("session", exc))
        return
    try:
        engine = control.get_policy_engine(policyEngineId=engine_id)
        facts.engine_status = engine.get("status")
        facts.engine_kms_key_arn = engine.get("encryptionKeyArn")
    except failures as exc:
        facts.read_errors.append(describe_error("GetPolicyEngine", exc))
    if tags:
        facts.engine_tags = read_tags(control, arn, "policy engine", facts.read_errors, failures)
    try:
        statuses: dict[str, int] = {}
        for page in control.get_paginator("list_policies").paginate(policyEngineId=engine_id):
            for policy in page.get("policies") or []:
                status = str(policy.get("status") or "UNKNOWN")
                statuses[status] = statuses.get(status, 0) + 1
    except failures as exc:
        facts.read_errors.append(describe_error("ListPolicies", exc))
        return
    facts.policy_statuses = statuses
    facts.policies_total = sum(statuses.values())
    facts.policies_active = statuses.get("ACTIVE", 0)


def _read_lambda_targets(facts: GatewayFacts, control: Any, failures: tuple[type[BaseException], ...]) -> None:
    """Lambda ARNs of the gateway's targets; the list call does not carry them, so one get each."""
    try:
        target_ids: list[str] = []
        for page in control.get_paginator("list_gateway_targets").paginate(gatewayIdentifier=facts.gateway_id):
            target_ids.extend(t["targetId"] for t in page.get("items") or [] if t.get("targetId"))
    except failures as exc:
        facts.read_errors.append(describe_error("ListGatewayTargets", exc))
        return
    complete = True
    for target_id in target_ids[:_MAX_TARGETS]:
        try:
            target = control.get_gateway_target(gatewayIdentifier=facts.gateway_id, targetId=target_id)
        except failures as exc:
            facts.read_errors.append(describe_error(f"GetGatewayTarget({target_id})", exc))
            complete = False
            continue
        config = (target.get("targetConfiguration") or {}).get("mcp") or {}
        arn = (config.get("lambda") or {}).get("lambdaArn")
        if arn and arn not in facts.lambda_target_arns:
            facts.lambda_target_arns.append(arn)
    if len(target_ids) > _MAX_TARGETS:
        facts.read_errors.append(f"GetGatewayTarget: only the first {_MAX_TARGETS} of {len(target_ids)} targets read")
        complete = False
    facts.targets_read = complete
